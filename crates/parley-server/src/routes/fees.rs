//! WhatsApp fees (issue 19): the rate card in force, for owners and managers. Cards are
//! instance-wide (`parley fees rates import`); a sample card says so (`sample: true`).

use axum::Json;
use axum::extract::State;
use parley_core::fees::card::Rate;
use parley_core::fees::{Currency, PricingModel};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(rates))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RatesParams {
    /// The billing currency (default `USD`).
    currency: Option<String>,
    /// `PMP` (per message, the default) or `CBP` (per conversation).
    model: Option<String>,
    /// The card in force at this time (RFC 3339; default now).
    at: Option<String>,
}

/// A line of a card; `rate` in the card's currency as decimal text.
#[derive(Serialize, ToSchema)]
pub struct RateLine {
    market: String,
    category: String,
    tier_from: Option<u64>,
    tier_to: Option<u64>,
    rate: String,
    rate_micros: i64,
}

impl From<Rate> for RateLine {
    fn from(r: Rate) -> Self {
        RateLine {
            market: r.market,
            category: r.category.as_str().to_owned(),
            tier_from: r.tier_from,
            tier_to: r.tier_to,
            rate: r.rate.to_decimal(),
            rate_micros: r.rate.0,
        }
    }
}

/// The card in force.
#[derive(Serialize, ToSchema)]
pub struct RateCardView {
    id: i64,
    currency: String,
    model: String,
    effective_from: String,
    /// Figures for trying Parley out, not Meta's prices.
    sample: bool,
    source: String,
    lines: Vec<RateLine>,
}

/// The rate card in force (owners and managers).
#[utoipa::path(get, path = "/fees/rates", tag = "fees", params(RatesParams),
    responses((status = 200, body = RateCardView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rates(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<RatesParams>,
) -> ApiResult<Json<RateCardView>> {
    auth.require_admin()?;
    let currency = Currency::parse(params.currency.as_deref().unwrap_or("USD"))
        .map_err(|e| ApiError::bad_request(e).with_field("currency"))?;
    let model = match params.model.as_deref() {
        None => PricingModel::PerMessage,
        Some(m) => PricingModel::parse(m)
            .ok_or_else(|| ApiError::bad_request("the model is PMP or CBP").with_field("model"))?,
    };
    let at = match params.at.as_deref() {
        None => state.clock.now(),
        Some(t) => parley_core::Timestamp::parse_rfc3339(t)
            .ok_or_else(|| ApiError::bad_request("not an RFC 3339 time").with_field("at"))?,
    };
    let Some((info, card)) = state.store.rate_card_in_force(&currency, model, at).await? else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_rate_card",
            format!("no {} {} rate card is in force then", currency.as_str(), model.as_str()),
        ));
    };
    Ok(Json(RateCardView {
        id: info.id,
        currency: info.currency.as_str().to_owned(),
        model: info.model.as_str().to_owned(),
        effective_from: info.effective_from.to_rfc3339(),
        sample: info.sample,
        source: info.source,
        lines: card.rates.into_iter().map(RateLine::from).collect(),
    }))
}

//! Card top-ups of fee accounts (owners; managers read) and Stripe's webhook (`payments.rs`
//! holds the logic). A top-up begun here is only `pending`: the money arrives when Stripe's
//! signed webhook says it was paid.

use axum::Json;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use parley_core::account::Role;
use parley_core::fees::Micros;
use parley_providers::stripe::signature;
use parley_store::TopUp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::state::AppState;

/// Stripe's events are small; anything larger is not one.
const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, begin))
}

pub fn webhook_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stripe_webhook)).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// A top-up with its amount as decimal text.
#[derive(Serialize, ToSchema)]
pub struct TopUpView {
    id: i64,
    /// `checkout` (an owner at Stripe's page) or `auto` (auto-recharge).
    source: String,
    amount: String,
    currency: String,
    /// `requested`, `pending`, `succeeded` or `failed`.
    state: String,
    /// Where to pay (a pending Checkout).
    checkout_url: Option<String>,
    error: Option<String>,
    by: Option<i64>,
    /// The ledger entry that credited it.
    entry_id: Option<i64>,
    created_at: String,
    updated_at: String,
}

impl From<TopUp> for TopUpView {
    fn from(t: TopUp) -> Self {
        let pending = t.state == parley_store::TopUpState::Pending;
        TopUpView {
            id: t.id,
            source: t.source.as_str().to_owned(),
            amount: t.amount.to_decimal(),
            currency: t.currency.as_str().to_owned(),
            state: t.state.as_str().to_owned(),
            checkout_url: t.checkout_url.filter(|_| pending),
            error: t.error,
            by: t.by.map(|u| u.get()),
            entry_id: t.entry_id,
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// At most 200 (default 50).
    limit: Option<u32>,
}

/// An account's card top-ups and auto-recharges, newest first (owners and managers).
#[utoipa::path(get, path = "/fees/accounts/{id}/top-ups", tag = "fees", params(("id" = i64, Path), ListParams),
    responses((status = 200, body = Vec<TopUpView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<TopUpView>>> {
    auth.require_admin()?;
    let limit = crate::extract::list_limit(params.limit, 50, 200)?;
    let listed = state.store.top_ups(auth.workspace_id, id, limit).await?;
    Ok(Json(listed.into_iter().map(TopUpView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpInput {
    /// Decimal text in the account's currency (`"50.00"`), within the server's bounds.
    amount: String,
}

/// Begin a card top-up (owners): answers the Stripe Checkout page to send the payer to. The
/// balance moves only when Stripe's signed webhook confirms the payment.
#[utoipa::path(post, path = "/fees/accounts/{id}/top-ups", tag = "fees", params(("id" = i64, Path)),
    request_body = TopUpInput,
    responses((status = 201, body = TopUpView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`payments_not_configured`"),
        (status = 422, body = ErrorBody, description = "`invalid_amount`"),
        (status = 502, body = ErrorBody, description = "`payment_provider_failed`")),
    security(("bearer" = [])))]
async fn begin(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<TopUpInput>,
) -> ApiResult<(StatusCode, Json<TopUpView>)> {
    if auth.role != Role::Owner {
        return Err(ApiError::forbidden("only owners handle money"));
    }
    let amount = Micros::parse(&input.amount).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", format!("{e} (write it as text: \"50.00\")"))
            .with_field("amount")
    })?;
    let top_up = crate::payments::begin_checkout(&state, auth.workspace_id, id, amount, auth.user_id).await?;
    Ok((StatusCode::CREATED, Json(top_up.into())))
}

/// Stripe's webhook endpoint: events signed in `Stripe-Signature` with the endpoint's secret.
/// A forged, altered or older-than-five-minutes signature is a 400 and nothing is stored; an
/// event already taken is acknowledged and changes nothing.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    request_body(content = String, description = "Stripe's event JSON", content_type = "application/json"),
    responses((status = 200, description = "taken (`outcome` says what it did)"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "card payments are not set up"),
        (status = 413, body = ErrorBody)))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let body = super::webhooks::webhook_body(body)?;
    let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    let outcome = crate::payments::take_webhook(&state, &body, header).await?;
    Ok(Json(serde_json::json!({"received": true, "outcome": outcome.as_str()})))
}

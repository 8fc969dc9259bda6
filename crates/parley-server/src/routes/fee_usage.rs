//! WhatsApp fees (issue 19): an account's usage history — its charges per day, ISO week or
//! month, by category, market, pricing type or number — as JSON or as a CSV file. Days are UTC
//! days (as the ledger's volume tiers count months); at most 400 days at once.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use parley_core::Timestamp;
use parley_core::contacts_csv::neutralize_cell;
use parley_core::fees::Micros;
use parley_store::{UsageKey, UsageRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, PathId};
use crate::state::AppState;

const MAX_DAYS: i64 = 400;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// First day (`2026-10-01`, UTC); default 30 days before `to`.
    from: Option<String>,
    /// Last day, included; default today.
    to: Option<String>,
    /// `day` (default), `week` or `month`.
    by: Option<String>,
    /// `category` (default), `market`, `pricing_type` or `channel`.
    group: Option<String>,
    /// `json` (default) or `csv` (a file to download).
    format: Option<String>,
}

/// One period's charges of one key.
#[derive(Serialize, ToSchema, Debug, PartialEq)]
pub struct UsageLine {
    /// `2026-10-15`, `2026-W42` or `2026-10`.
    period: String,
    /// The category, market, pricing type or number id (`null`: not known).
    key: Option<String>,
    messages: i64,
    /// Charged, in the account's currency, as decimal text.
    amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// The first and the last day (included).
    from: String,
    to: String,
    currency: String,
    lines: Vec<UsageLine>,
    messages: i64,
    amount: String,
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::bad_request(message.to_owned()).with_field(field)
}

fn day(text: &str, field: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| bad(field, "a day like 2026-10-01"))
}

/// The period a UTC day (days since 1970-01-01) falls in.
fn period(day: i64, by: &str) -> String {
    let date = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(day.max(0) as u64);
    match by {
        "week" => {
            let w = date.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        "month" => format!("{}-{:02}", date.year(), date.month()),
        _ => date.format("%Y-%m-%d").to_string(),
    }
}

/// Folds days into periods, keeping the keys apart; oldest first.
fn fold(rows: Vec<UsageRow>, by: &str) -> Vec<UsageLine> {
    let mut periods: BTreeMap<(String, Option<String>), (i64, i64)> = BTreeMap::new();
    for r in rows {
        let slot = periods.entry((period(r.day, by), r.key)).or_default();
        slot.0 += r.messages;
        slot.1 += r.amount.0;
    }
    periods
        .into_iter()
        .map(|((period, key), (messages, amount))| UsageLine {
            period,
            key,
            messages,
            amount: Micros(amount).to_decimal(),
        })
        .collect()
}

/// An account's charges over time (owners and managers), as JSON or CSV.
#[utoipa::path(get, path = "/fees/accounts/{id}/usage", tag = "fees", params(("id" = i64, Path), UsageParams),
    responses((status = 200, body = Usage, description = "or a CSV file with `format=csv`"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn usage(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> ApiResult<Response> {
    auth.require_admin()?;
    let today = state.clock.now().to_datetime().date_naive();
    let to = params.to.as_deref().map(|t| day(t, "to")).transpose()?.unwrap_or(today);
    let from = params.from.as_deref().map(|f| day(f, "from")).transpose()?.unwrap_or(to - chrono::Days::new(29));
    if from > to || (to - from).num_days() >= MAX_DAYS {
        return Err(bad("from", "from is on or before to, at most 400 days apart"));
    }
    let by = params.by.as_deref().unwrap_or("day");
    if !matches!(by, "day" | "week" | "month") {
        return Err(bad("by", "day, week or month"));
    }
    let key = match params.group.as_deref().unwrap_or("category") {
        "category" => UsageKey::Category,
        "market" => UsageKey::Market,
        "pricing_type" => UsageKey::PricingType,
        "channel" => UsageKey::Channel,
        _ => return Err(bad("group", "category, market, pricing_type or channel")),
    };
    let csv = match params.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        _ => return Err(bad("format", "json or csv")),
    };
    let account = state.store.fee_account(auth.workspace_id, id).await?;
    let start = |d: NaiveDate| Timestamp::from_datetime(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let rows = state
        .store
        .fee_usage(auth.workspace_id, id, start(from), start(to + chrono::Days::new(1)), key, state.clock.now())
        .await?;
    let (messages, amount) = (rows.iter().map(|r| r.messages).sum(), rows.iter().map(|r| r.amount.0).sum::<i64>());
    let lines = fold(rows, by);
    let currency = account.currency.as_str().to_owned();
    if csv {
        let mut out = csv::Writer::from_writer(Vec::new());
        let write = |out: &mut csv::Writer<Vec<u8>>, fields: [&str; 5]| {
            out.write_record(fields.map(|f| neutralize_cell(f).into_owned())).map_err(|_| ApiError::internal())
        };
        write(&mut out, ["period", "key", "messages", "amount", "currency"])?;
        for l in &lines {
            let messages = l.messages.to_string();
            write(&mut out, [&l.period, l.key.as_deref().unwrap_or(""), &messages, &l.amount, &currency])?;
        }
        let body = out.into_inner().map_err(|_| ApiError::internal())?;
        let name = format!("attachment; filename=\"fees-{id}-{from}-{to}.csv\"");
        let headers =
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)];
        return Ok((StatusCode::OK, headers, body).into_response());
    }
    let (from, to) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    Ok(axum::Json(Usage { from, to, currency, lines, messages, amount: Micros(amount).to_decimal() }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_fold_into_weeks_and_months_per_key() {
        // 2026-10-15 is day 20_741; 2026-10-19 starts ISO week 43.
        let d = NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
        let n = (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days();
        assert_eq!(period(n, "day"), "2026-10-15");
        assert_eq!(period(n, "week"), "2026-W42");
        assert_eq!(period(n + 4, "week"), "2026-W43");
        assert_eq!(period(n + 17, "month"), "2026-11");
        let row = |day, key: &str, amount| UsageRow { day, key: Some(key.into()), messages: 1, amount: Micros(amount) };
        let folded = fold(vec![row(n, "utility", 10), row(n + 1, "utility", 5), row(n, "marketing", 7)], "month");
        assert_eq!(folded.len(), 2);
        assert_eq!(
            (folded[1].key.as_deref(), folded[1].messages, folded[1].amount.as_str()),
            (Some("utility"), 2, "0.000015")
        );
    }
}

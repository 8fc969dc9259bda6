//! WhatsApp fees (issue 19): an account's monthly statement — the balance at the start and the
//! end of a UTC month, what came in and went out per kind of entry, and the month's charges per
//! category and market — as JSON or as a CSV file (a month not over yet says so: `complete`);
//! and its daily reconciliations with the provider (`reconcile.rs`), listed or run now.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use parley_core::Timestamp;
use parley_core::contacts_csv::neutralize_cell;
use parley_core::fees::Micros;
use parley_core::fees::ledger::EntryKind;
use parley_store::{UsageKey, UsageRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(statement)).routes(routes!(reconciliations, reconcile_now))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatementParams {
    /// `json` (default) or `csv` (a file to download).
    format: Option<String>,
}

/// Entries of one kind in the month.
#[derive(Serialize, ToSchema, Default)]
pub struct KindTotal {
    count: i64,
    /// The change to the balance, as decimal text.
    amount: String,
}

/// One category's or market's charges in the month.
#[derive(Serialize, ToSchema)]
pub struct ChargeLine {
    key: Option<String>,
    messages: i64,
    amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct Statement {
    account_id: i64,
    waba_id: String,
    currency: String,
    /// `2026-10`.
    month: String,
    /// Whether the month is over (otherwise: so far).
    complete: bool,
    opening_balance: String,
    closing_balance: String,
    top_ups: KindTotal,
    charges: KindTotal,
    refunds: KindTotal,
    adjustments: KindTotal,
    by_category: Vec<ChargeLine>,
    by_market: Vec<ChargeLine>,
}

fn lines(rows: Vec<UsageRow>) -> Vec<ChargeLine> {
    let mut keyed: std::collections::BTreeMap<Option<String>, (i64, i64)> = Default::default();
    for r in rows {
        let slot = keyed.entry(r.key).or_default();
        slot.0 += r.messages;
        slot.1 += r.amount.0;
    }
    keyed
        .into_iter()
        .map(|(key, (messages, amount))| ChargeLine { key, messages, amount: Micros(amount).to_decimal() })
        .collect()
}

/// An account's statement for a month (owners and managers), as JSON or CSV.
#[utoipa::path(get, path = "/fees/accounts/{id}/statements/{month}", tag = "fees",
    params(("id" = i64, Path), ("month" = String, Path, description = "`2026-10`"), StatementParams),
    responses((status = 200, body = Statement, description = "or a CSV file with `format=csv`"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn statement(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((path_id, month)): ApiPath<(crate::extract::PathId, String)>,
    ApiQuery(params): ApiQuery<StatementParams>,
) -> ApiResult<Response> {
    auth.require_admin()?;
    let first = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("a month like 2026-10").with_field("month"))?;
    let csv = match params.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        _ => return Err(ApiError::bad_request("json or csv").with_field("format")),
    };
    let next = first + chrono::Months::new(1);
    let at = |d: NaiveDate| Timestamp::from_datetime(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let (from, to) = (at(first), at(next));
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let account = state.store.fee_account(ws, path_id.0).await?;
    let totals = state.store.ledger_totals(ws, account.id, from, to).await?;
    let total = |kind: EntryKind| {
        totals
            .kinds
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, count, sum)| KindTotal { count: *count, amount: sum.to_decimal() })
            .unwrap_or_else(|| KindTotal { count: 0, amount: Micros::ZERO.to_decimal() })
    };
    let by_category = lines(state.store.fee_usage(ws, account.id, from, to, UsageKey::Category, now).await?);
    let by_market = lines(state.store.fee_usage(ws, account.id, from, to, UsageKey::Market, now).await?);
    let month = format!("{}-{:02}", first.year(), first.month());
    let statement = Statement {
        account_id: account.id,
        waba_id: account.waba_id.clone(),
        currency: account.currency.as_str().to_owned(),
        month: month.clone(),
        complete: state.clock.now() >= to,
        opening_balance: totals.opening.to_decimal(),
        closing_balance: totals.closing.to_decimal(),
        top_ups: total(EntryKind::TopUp),
        charges: total(EntryKind::Charge),
        refunds: total(EntryKind::Refund),
        adjustments: total(EntryKind::Adjustment),
        by_category,
        by_market,
    };
    if !csv {
        return Ok(axum::Json(statement).into_response());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |fields: [&str; 4]| {
        out.write_record(fields.map(|f| neutralize_cell(f).into_owned())).map_err(|_| ApiError::internal())
    };
    let s = &statement;
    write(["section", "key", "count", "amount"])?;
    write(["opening_balance", &s.currency, "", &s.opening_balance])?;
    for (name, t) in
        [("top_ups", &s.top_ups), ("charges", &s.charges), ("refunds", &s.refunds), ("adjustments", &s.adjustments)]
    {
        write([name, &s.currency, &t.count.to_string(), &t.amount])?;
    }
    for (section, lines) in [("category", &s.by_category), ("market", &s.by_market)] {
        for l in lines {
            write([section, l.key.as_deref().unwrap_or(""), &l.messages.to_string(), &l.amount])?;
        }
    }
    write(["closing_balance", &s.currency, "", &s.closing_balance])?;
    let body = out.into_inner().map_err(|_| ApiError::internal())?;
    let name = format!("attachment; filename=\"fees-statement-{}-{month}.csv\"", account.id);
    let headers = [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)];
    Ok((StatusCode::OK, headers, body).into_response())
}

/// One day's comparison of the ledger with the provider.
#[derive(Serialize, ToSchema)]
pub struct ReconciliationView {
    /// `2026-10-15` (UTC).
    day: String,
    /// `matched`, `differences` or `failed`.
    outcome: String,
    /// Per category and pricing type: `ledger` and `provider` messages and cost (before markup).
    #[schema(value_type = Vec<Object>)]
    differences: serde_json::Value,
    error: Option<String>,
    ran_at: String,
}

impl From<parley_store::Reconciliation> for ReconciliationView {
    fn from(r: parley_store::Reconciliation) -> Self {
        let date = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(r.day.max(0) as u64);
        ReconciliationView {
            day: date.format("%Y-%m-%d").to_string(),
            outcome: r.outcome,
            differences: r.differences,
            error: r.error,
            ran_at: r.ran_at.to_rfc3339(),
        }
    }
}

/// An account's daily reconciliations with the provider, newest first (owners and managers).
#[utoipa::path(get, path = "/fees/accounts/{id}/reconciliations", tag = "fees", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ReconciliationView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reconciliations(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(crate::extract::PathId(id)): ApiPath<crate::extract::PathId>,
) -> ApiResult<axum::Json<Vec<ReconciliationView>>> {
    auth.require_admin()?;
    let listed = state.store.reconciliations(auth.workspace_id, id, 60).await?;
    Ok(axum::Json(listed.into_iter().map(ReconciliationView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileInput {
    /// A past UTC day, `2026-10-15`.
    day: String,
}

/// Reconcile a past day now (owners): the comparison replaces that day's.
#[utoipa::path(post, path = "/fees/accounts/{id}/reconciliations", tag = "fees", params(("id" = i64, Path)),
    request_body = ReconcileInput,
    responses((status = 200, body = ReconciliationView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reconcile_now(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(crate::extract::PathId(id)): ApiPath<crate::extract::PathId>,
    crate::extract::ApiJson(input): crate::extract::ApiJson<ReconcileInput>,
) -> ApiResult<axum::Json<ReconciliationView>> {
    if auth.role != parley_core::account::Role::Owner {
        return Err(ApiError::forbidden("only owners handle money"));
    }
    let date = NaiveDate::parse_from_str(input.day.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("a day like 2026-10-15").with_field("day"))?;
    let day = (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days();
    if day >= state.clock.now().as_secs().div_euclid(86_400) {
        return Err(ApiError::bad_request("a day that is over").with_field("day"));
    }
    let account = state.store.fee_account(auth.workspace_id, id).await?;
    let done = crate::reconcile::reconcile(&state, &account, day).await?;
    Ok(axum::Json(done.into()))
}

//! WhatsApp fees (issue 19): an account per WhatsApp Business Account and its ledger. Owners
//! open accounts, change their terms and record money by hand (a bank transfer, a refund, a
//! correction with its reason); managers read. Amounts travel as decimal text in the account's
//! currency (`"12.50"`), never as JSON numbers: no float touches money.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::account::Role;
use parley_core::fees::ledger::EntryKind;
use parley_core::fees::watch::AutoRecharge;
use parley_core::fees::{Currency, Micros};
use parley_store::{FeeAccount, FeeAccountPatch, LedgerEntry, NewEntry, NewFeeAccount};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, open))
        .routes(routes!(update))
        .routes(routes!(entries, record))
        .routes(routes!(settings, set_settings))
}

fn require_owner(auth: &Auth) -> ApiResult<()> {
    if auth.role == Role::Owner { Ok(()) } else { Err(ApiError::forbidden("only owners handle money")) }
}

fn amount(text: &str, field: &str) -> ApiResult<Micros> {
    Micros::parse(text).map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", format!("{e} (write it as text: \"12.50\")"))
            .with_field(field)
    })
}

/// An account with its money as decimal text.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    id: i64,
    waba_id: String,
    currency: String,
    postpaid: bool,
    credit_limit: String,
    balance: String,
    held: String,
    /// What new sends may still take: balance − holds (+ the credit limit when postpaid).
    available: String,
    /// Below this available balance, once per crossing: an in-app alert, a mail and the
    /// `balance.low` webhook event.
    alert_threshold: Option<String>,
    /// Who the alert mails go to (none: the workspace's owners).
    alert_emails: Vec<String>,
    auto_recharge: Option<AutoRechargeTerms>,
    /// Whether a card is saved (by a card top-up) for auto-recharge.
    card_saved: bool,
    updated_at: String,
}

/// Auto-recharge: below `threshold`, charge the saved card `amount`, at most `monthly_cap` a
/// month (decimal text).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRechargeTerms {
    threshold: String,
    amount: String,
    monthly_cap: String,
}

impl From<FeeAccount> for AccountView {
    fn from(a: FeeAccount) -> Self {
        AccountView {
            id: a.id,
            waba_id: a.waba_id,
            currency: a.currency.as_str().to_owned(),
            postpaid: a.money.postpaid,
            credit_limit: a.money.credit_limit.to_decimal(),
            balance: a.money.balance.to_decimal(),
            held: a.money.held.to_decimal(),
            available: a.money.available().to_decimal(),
            alert_threshold: a.alerts.threshold.map(Micros::to_decimal),
            alert_emails: a.alerts.emails,
            auto_recharge: a.auto_recharge.map(|r| AutoRechargeTerms {
                threshold: r.threshold.to_decimal(),
                amount: r.amount.to_decimal(),
                monthly_cap: r.monthly_cap.to_decimal(),
            }),
            card_saved: a.payment_method.is_some(),
            updated_at: a.updated_at.to_rfc3339(),
        }
    }
}

/// The workspace's fee accounts (owners and managers).
#[utoipa::path(get, path = "/fees/accounts", tag = "fees",
    responses((status = 200, body = Vec<AccountView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<AccountView>>> {
    auth.require_admin()?;
    let accounts = state.store.fee_accounts(auth.workspace_id).await?;
    Ok(Json(accounts.into_iter().map(AccountView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenInput {
    waba_id: String,
    /// Default `USD`.
    currency: Option<String>,
    #[serde(default)]
    postpaid: bool,
    /// Postpaid only: how far below zero sends may go (`"500.00"`).
    credit_limit: Option<String>,
}

/// Open an account for one of the workspace's WABAs (owners): fees are accounted for there from
/// now on — prepaid by default, so its sends need a balance.
#[utoipa::path(post, path = "/fees/accounts", tag = "fees", request_body = OpenInput,
    responses((status = 201, body = AccountView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`unknown_waba`, `invalid_amount`, `invalid_currency`")),
    security(("bearer" = [])))]
async fn open(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<OpenInput>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    require_owner(&auth)?;
    let currency = Currency::parse(input.currency.as_deref().unwrap_or("USD"))
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_currency", e).with_field("currency"))?;
    let credit_limit = input.credit_limit.as_deref().map(|c| amount(c, "credit_limit")).transpose()?;
    let new = NewFeeAccount {
        waba_id: input.waba_id.trim().to_owned(),
        currency,
        postpaid: input.postpaid,
        credit_limit: credit_limit.unwrap_or(Micros::ZERO),
    };
    let opened = state.store.open_fee_account(auth.workspace_id, new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(opened.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    postpaid: Option<bool>,
    credit_limit: Option<String>,
    /// `null`: no low-balance alert.
    #[serde(default, deserialize_with = "parley_core::serde_util::double_option")]
    #[schema(value_type = Option<String>)]
    alert_threshold: Option<Option<String>>,
    /// At most 10 addresses; empty: the workspace's owners.
    alert_emails: Option<Vec<String>>,
    /// `null`: auto-recharge off.
    #[serde(default, deserialize_with = "parley_core::serde_util::double_option")]
    #[schema(value_type = Option<AutoRechargeTerms>)]
    auto_recharge: Option<Option<AutoRechargeTerms>>,
}

fn alert_emails(given: Vec<String>) -> ApiResult<Vec<String>> {
    if given.len() > 10 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_emails", "at most 10 addresses")
            .with_field("alert_emails"));
    }
    given
        .iter()
        .map(|e| {
            parley_core::email::Email::parse(e).map(|e| e.as_str().to_owned()).map_err(|why| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email", format!("{e:?}: {why}"))
                    .with_field("alert_emails")
            })
        })
        .collect()
}

/// Change an account's terms (owners): postpaid and its credit limit, the low-balance alert,
/// auto-recharge (`invalid_auto_recharge` when its amount is not positive or its monthly cap is
/// less than one recharge). New thresholds are watched at once: already below is a crossing.
#[utoipa::path(patch, path = "/fees/accounts/{id}", tag = "fees", params(("id" = i64, Path)), request_body = AccountPatch,
    responses((status = 200, body = AccountView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<AccountPatch>,
) -> ApiResult<Json<AccountView>> {
    require_owner(&auth)?;
    let credit_limit = input.credit_limit.as_deref().map(|c| amount(c, "credit_limit")).transpose()?;
    let alert_threshold = match input.alert_threshold {
        Some(Some(t)) => Some(Some(amount(&t, "alert_threshold")?)),
        Some(None) => Some(None),
        None => None,
    };
    let auto_recharge = match input.auto_recharge {
        Some(Some(t)) => Some(Some(AutoRecharge {
            threshold: amount(&t.threshold, "auto_recharge.threshold")?,
            amount: amount(&t.amount, "auto_recharge.amount")?,
            monthly_cap: amount(&t.monthly_cap, "auto_recharge.monthly_cap")?,
        })),
        Some(None) => Some(None),
        None => None,
    };
    let alert_emails = input.alert_emails.map(alert_emails).transpose()?;
    let patch =
        FeeAccountPatch { postpaid: input.postpaid, credit_limit, alert_threshold, alert_emails, auto_recharge };
    let updated = state.store.update_fee_account(auth.workspace_id, id, patch, state.clock.now()).await?;
    // New terms may have raised an alert or asked a recharge: the fees worker and the webhook
    // followers look now.
    state.events_appended.send_modify(|n| *n = n.wrapping_add(1));
    Ok(Json(updated.into()))
}

/// An entry with its amounts as decimal text.
#[derive(Serialize, ToSchema)]
pub struct EntryView {
    id: i64,
    kind: String,
    /// The change to the balance.
    amount: String,
    /// The change to the amount held.
    held_change: String,
    balance_after: String,
    held_after: String,
    reference: Option<String>,
    message_id: Option<i64>,
    /// A hold's or charge's market line and category.
    market: Option<String>,
    category: Option<String>,
    #[schema(value_type = Object)]
    pricing: Option<serde_json::Value>,
    by: Option<i64>,
    reason: Option<String>,
    at: String,
}

impl From<LedgerEntry> for EntryView {
    fn from(e: LedgerEntry) -> Self {
        EntryView {
            id: e.id,
            kind: e.kind.as_str().to_owned(),
            amount: e.amount.to_decimal(),
            held_change: e.held_change.to_decimal(),
            balance_after: e.balance_after.to_decimal(),
            held_after: e.held_after.to_decimal(),
            reference: e.reference,
            message_id: e.message_id,
            market: e.market,
            category: e.category,
            pricing: e.pricing,
            by: e.by.map(|u| u.get()),
            reason: e.reason,
            at: e.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesParams {
    /// Entries older than this entry id (the next page).
    before: Option<i64>,
    /// At most 500 (default 100).
    limit: Option<u32>,
}

/// An account's ledger, newest first (owners and managers).
#[utoipa::path(get, path = "/fees/accounts/{id}/entries", tag = "fees", params(("id" = i64, Path), EntriesParams),
    responses((status = 200, body = Vec<EntryView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn entries(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<EntriesParams>,
) -> ApiResult<Json<Vec<EntryView>>> {
    auth.require_admin()?;
    let limit = crate::extract::list_limit(params.limit, 100, 500)?;
    let listed = state.store.ledger_entries(auth.workspace_id, id, params.before, limit).await?;
    Ok(Json(listed.into_iter().map(EntryView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    /// `top_up` (a bank transfer received), `refund` or `adjustment`.
    kind: String,
    /// Decimal text; an adjustment carries its sign (`"-2.50"`).
    amount: String,
    /// The transfer's reference: the same reference twice is refused (`409`).
    reference: Option<String>,
    /// Required for refunds and adjustments.
    reason: Option<String>,
}

/// Record money by hand (owners): a bank transfer received, a refund, a correction.
#[utoipa::path(post, path = "/fees/accounts/{id}/entries", tag = "fees", params(("id" = i64, Path)),
    request_body = EntryInput,
    responses((status = 201, body = EntryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the reference was recorded before"),
        (status = 422, body = ErrorBody, description = "`invalid_kind`, `invalid_amount`, `reason_required`")),
    security(("bearer" = [])))]
async fn record(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<EntryInput>,
) -> ApiResult<(StatusCode, Json<EntryView>)> {
    require_owner(&auth)?;
    let Some(kind) = EntryKind::parse(&input.kind).filter(|k| k.by_hand()) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_kind",
            "by hand: top_up, refund or adjustment",
        )
        .with_field("kind"));
    };
    let reason = input.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.is_none() && kind != EntryKind::TopUp {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "reason_required", "say why").with_field("reason"));
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "reason_too_long", "at most 500 characters")
            .with_field("reason"));
    }
    let reference = input.reference.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reference.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "reference_too_long", "at most 200 characters")
            .with_field("reference"));
    }
    let new = NewEntry {
        kind,
        amount: amount(&input.amount, "amount")?,
        // Kept apart from the references Parley writes itself (`hold:…`, `stripe:…`).
        reference: reference.map(|r| format!("manual:{r}")),
        message_id: None,
        market: None,
        category: None,
        pricing_type: None,
        pricing: None,
        by: Some(auth.user_id),
        reason,
    };
    let written = state.store.record_entry(auth.workspace_id, id, new, state.clock.now()).await?;
    state.events_appended.send_modify(|n| *n = n.wrapping_add(1));
    Ok((StatusCode::CREATED, Json(written.into())))
}

/// The workspace's fee settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeSettings {
    /// A reseller's markup on Meta's prices, in percent as decimal text (`"15"`, `"7.5"`; at
    /// most two decimals, at most 1000).
    markup_percent: String,
}

/// The workspace's fee settings, and what the server offers.
#[derive(Serialize, ToSchema)]
pub struct FeeSettingsView {
    markup_percent: String,
    /// Whether card top-ups (Stripe) are set up on this server.
    card_payments: bool,
}

/// The workspace's fee settings (owners and managers).
#[utoipa::path(get, path = "/fees/settings", tag = "fees",
    responses((status = 200, body = FeeSettingsView), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn settings(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<FeeSettingsView>> {
    auth.require_admin()?;
    let bp = state.store.fee_markup(auth.workspace_id).await?;
    let percent = Micros(i64::from(bp) * 10_000).to_decimal();
    let percent = percent.trim_end_matches('0').trim_end_matches('.').to_owned();
    Ok(Json(FeeSettingsView { markup_percent: percent, card_payments: state.payments.is_some() }))
}

/// Change the fee settings (owners).
#[utoipa::path(put, path = "/fees/settings", tag = "fees", request_body = FeeSettings,
    responses((status = 200, body = FeeSettingsView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<FeeSettings>,
) -> ApiResult<Json<FeeSettingsView>> {
    require_owner(&auth)?;
    let invalid = || {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_markup", "a percentage from 0 to 1000, two decimals")
            .with_field("markup_percent")
    };
    let micros = Micros::parse(&input.markup_percent).map_err(|_| invalid())?;
    if micros.0 < 0 || micros.0 % 10_000 != 0 || micros.0 > 1_000_000_000 {
        return Err(invalid());
    }
    let bp = u32::try_from(micros.0 / 10_000).map_err(|_| invalid())?;
    state.store.set_fee_markup(auth.workspace_id, bp).await?;
    settings(State(state), auth).await
}

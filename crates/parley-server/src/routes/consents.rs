//! Consent and the contact flags WhatsApp's rules read: opt-ins (`/contacts/{ref}/opt-ins`),
//! acknowledging a changed number, blocking.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::Timestamp;
use parley_core::contact::Contact;
use parley_core::ids::ChannelId;
use parley_store::{ContactFlags, NewOptIn, OptIn};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId, PathRef};
use crate::routes::contacts::contact_ref;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_opt_in, list_opt_ins))
        .routes(routes!(revoke_opt_in))
        .routes(routes!(acknowledge_identity))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(flags))
}

/// The contact's flags: blocked, and whether its number changed hands (sends wait for an
/// agent's acknowledgement).
#[utoipa::path(get, path = "/contacts/{ref}/flags", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn flags(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<ContactFlags>> {
    Ok(Json(state.store.contact_flags(auth.workspace_id, &contact_ref(&auth, &raw)?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptInInput {
    /// Where consent was given: `web form`, `checkout`, `in store`, …
    source: String,
    /// Proof: a form id, a screenshot URL, the wording shown.
    evidence: Option<String>,
    /// When consent was given (RFC 3339); now by default.
    opted_in_at: Option<String>,
    /// Only this channel; every channel of the workspace by default.
    channel_id: Option<i64>,
}

/// Record that the contact agreed to receive messages (required before templates, unless they
/// wrote first or the workspace turned the check off).
#[utoipa::path(post, path = "/contacts/{ref}/opt-ins", tag = "contacts", request_body = OptInInput,
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn record_opt_in(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
    ApiJson(input): ApiJson<OptInInput>,
) -> ApiResult<(StatusCode, Json<OptIn>)> {
    let by = contact_ref(&auth, &raw)?;
    let source = input.source.trim();
    if source.is_empty() || source.chars().count() > 200 {
        return Err(ApiError::bad_request("the source has 1 to 200 characters").with_field("source"));
    }
    if input.evidence.as_ref().is_some_and(|e| e.chars().count() > 2000) {
        return Err(ApiError::bad_request("evidence is at most 2000 characters").with_field("evidence"));
    }
    let now = state.clock.now();
    let opted_in_at = match input.opted_in_at.as_deref() {
        None => now,
        Some(t) => Timestamp::parse_rfc3339(t).filter(|t| *t <= now).ok_or_else(|| {
            ApiError::bad_request("an RFC 3339 date-time, not in the future").with_field("opted_in_at")
        })?,
    };
    let opt_in = NewOptIn {
        channel_id: input.channel_id.map(ChannelId),
        source: source.to_owned(),
        evidence: input.evidence,
        opted_in_at,
        recorded_by: Some(auth.user_id),
    };
    Ok((StatusCode::CREATED, Json(state.store.record_opt_in(auth.workspace_id, &by, opt_in, now).await?)))
}

/// The contact's opt-ins, revoked ones included.
#[utoipa::path(get, path = "/contacts/{ref}/opt-ins", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_opt_ins(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<Vec<OptIn>>> {
    let by = contact_ref(&auth, &raw)?;
    Ok(Json(state.store.opt_ins(auth.workspace_id, &by).await?))
}

/// Revoke an opt-in.
#[utoipa::path(delete, path = "/contacts/{ref}/opt-ins/{id}", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`"), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_opt_in(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((raw, id)): ApiPath<(PathRef, PathId)>,
) -> ApiResult<StatusCode> {
    let by = contact_ref(&auth, &raw)?;
    state.store.revoke_opt_in(auth.workspace_id, &by, id.0, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agent saw that the contact's WhatsApp number was re-registered: sends are allowed again.
#[utoipa::path(post, path = "/contacts/{ref}/acknowledge-identity", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn acknowledge_identity(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    Ok(Json(state.store.acknowledge_identity(auth.workspace_id, &by, auth.user_id, state.clock.now()).await?))
}

/// Block a contact: nothing is sent to them until unblocked.
#[utoipa::path(post, path = "/contacts/{ref}/block", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn block(State(state): State<AppState>, auth: Auth, ApiPath(raw): ApiPath<PathRef>) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    Ok(Json(state.store.set_blocked(auth.workspace_id, &by, true, state.clock.now()).await?))
}

/// Unblock a contact.
#[utoipa::path(post, path = "/contacts/{ref}/unblock", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn unblock(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<Contact>> {
    let by = contact_ref(&auth, &raw)?;
    Ok(Json(state.store.set_blocked(auth.workspace_id, &by, false, state.clock.now()).await?))
}

//! Duplicate contacts: merge suggestions (listed, dismissed, recomputed), merging two contacts,
//! a contact's merge history, and re-cleaning stored phones and emails. Merging, recomputing and
//! re-cleaning are for owners and managers (they delete or rewrite contacts); every member can
//! read and dismiss suggestions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::contact::{ContactPatch, ContactPatchInput, ContactRef};
use parley_core::ids::ContactId;
use parley_store::{MergeRecord, MergeRequest, MergeSuggestion, Merged, NormalizeReport};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId, PathRef, list_limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_suggestions))
        .routes(routes!(dismiss_suggestion))
        .routes(routes!(dedupe))
        .routes(routes!(merge))
        .routes(routes!(history))
        .routes(routes!(normalize))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// 1 to 200; 50 by default.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only the suggestions involving this contact (by id).
    contact: Option<i64>,
}

#[derive(Serialize)]
pub struct SuggestionPage {
    items: Vec<MergeSuggestion>,
    next_cursor: Option<String>,
}

/// Open merge suggestions, oldest first: pairs of contacts with the same phone, email or
/// WhatsApp id, or two forms of one WhatsApp number, with the reason; `contact` keeps one
/// contact's.
#[utoipa::path(get, path = "/contacts/merge-suggestions", tag = "contacts", params(SuggestionParams),
    responses((status = 200, body = Object, description = "{items: [{id, contact_a, contact_b, reason, matched, created_at}], next_cursor}"), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_suggestions(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<SuggestionParams>,
) -> ApiResult<Json<SuggestionPage>> {
    let after = match params.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| ApiError::bad_request("bad cursor").with_field("cursor"))?,
    };
    let limit = list_limit(params.limit, 50, 200)?;
    let contact = params.contact.map(ContactId);
    let page = state.store.merge_suggestions(auth.workspace_id, contact, after, limit).await?;
    Ok(Json(SuggestionPage { items: page.items, next_cursor: page.next_cursor }))
}

/// Dismiss a suggestion: the pair is not suggested again.
#[utoipa::path(post, path = "/contacts/merge-suggestions/{id}/dismiss", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn dismiss_suggestion(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    state.store.dismiss_suggestion(auth.workspace_id, id, Some(auth.user_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Recompute suggestions over every contact (they are otherwise kept up to date as contacts
/// change). Answers how many pairs are new.
#[utoipa::path(post, path = "/contacts/dedupe", tag = "contacts",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn dedupe(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let added = state.store.dedupe_all(auth.workspace_id, state.clock.now()).await?;
    Ok(Json(json!({"new_suggestions": added})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The contact that stays: id, `phone:<number>` or `email:<address>`.
    primary: String,
    /// The contact that goes into it; its id keeps resolving to the primary.
    secondary: String,
    /// Values to set on the merged contact (the primary's win otherwise).
    #[serde(default)]
    overrides: Option<ContactPatchInput>,
}

/// Merge two contacts: identities, conversations and messages, notes, tags, custom fields and
/// opt-ins of the secondary move to the primary in one transaction; the merge is recorded in the
/// contact's history.
#[utoipa::path(post, path = "/contacts/merge", tag = "contacts", request_body = MergeInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`same_contact`, `too_many_fields`, invalid overrides")),
    security(("bearer" = [])))]
async fn merge(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<MergeInput>,
) -> ApiResult<Json<Merged>> {
    auth.require_admin()?;
    let primary =
        ContactRef::parse(&input.primary, auth.region).map_err(|e| ApiError::from(e).with_field("primary"))?;
    let secondary =
        ContactRef::parse(&input.secondary, auth.region).map_err(|e| ApiError::from(e).with_field("secondary"))?;
    let overrides = ContactPatch::from_input(input.overrides.unwrap_or_default(), auth.region)?;
    let request = MergeRequest { primary, secondary, overrides, by: Some(auth.user_id) };
    Ok(Json(state.store.merge_contacts(auth.workspace_id, request, state.clock.now()).await?))
}

/// A contact's merge history, newest first: who merged which contact into it, when, the merged
/// contact as it was, and what moved.
#[utoipa::path(get, path = "/contacts/{ref}/history", tag = "contacts",
    params(("ref" = String, Path, description = "contact id, `phone:<number>` or `email:<address>`")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn history(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(raw): ApiPath<PathRef>,
) -> ApiResult<Json<Vec<MergeRecord>>> {
    let by = crate::routes::contacts::contact_ref(&auth, &raw)?;
    Ok(Json(state.store.contact_history(auth.workspace_id, &by).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NormalizeParams {
    /// `true`: report what would change, change nothing.
    dry_run: Option<bool>,
}

/// Re-clean stored phones and emails (data from older imports or raw SQL): formatting removed,
/// `+` added, emails lowercased; values that cannot be made valid are kept aside as
/// `invalid_phone` / `invalid_email`, never deleted. Answers every change.
#[utoipa::path(post, path = "/contacts/normalize", tag = "contacts", params(NormalizeParams),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn normalize(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<NormalizeParams>,
) -> ApiResult<Json<NormalizeReport>> {
    auth.require_admin()?;
    let report = state
        .store
        .normalize_contacts(auth.workspace_id, auth.region, params.dry_run.unwrap_or(false), state.clock.now())
        .await?;
    Ok(Json(report))
}

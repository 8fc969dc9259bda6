//! Working a conversation: moving it between open, pending, snoozed and closed, and assigning it
//! (`/conversations/{id}/status`, `/conversations/{id}/assign`). Every change is an event that
//! names who made it. Closing keeps the assignee; a customer's message reopens it. New
//! conversations can be assigned automatically (`/workspace/assignment`) among available agents
//! (`/me/availability`); closing notes (`/workspace/closing-notes`) and auto-close after hours
//! without a reply (`/workspace/auto-close`) are the workspace's settings.

use axum::Json;
use axum::extract::State;
use parley_core::Timestamp;
use parley_core::conversation::{
    ClosingNote, ClosingNotes, Conversation, ConversationStatus, check_closing_categories,
};
use parley_core::ids::{ConversationId, UserId};
use parley_store::{AssignmentSettings, AutoAssign};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions::{self, conversations::StatusChange};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_status))
        .routes(routes!(assign))
        .routes(routes!(get_availability, set_availability))
        .routes(routes!(get_settings, set_settings))
        .routes(routes!(get_closing_notes, set_closing_notes))
        .routes(routes!(get_auto_close, set_auto_close))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// `open`, `pending`, `snoozed` or `closed`.
    status: String,
    /// When a snoozed conversation opens again (RFC 3339, in the future); required to snooze.
    until: Option<String>,
    /// Closing notes (only with `closed`): a category from the workspace's list and a summary,
    /// required or not as `/workspace/closing-notes` says.
    category: Option<String>,
    summary: Option<String>,
}

/// Move a conversation to another status (any role). A snoozed one opens again at `until`, or
/// when the customer writes.
#[utoipa::path(post, path = "/conversations/{id}/status", tag = "conversations", params(("id" = i64, Path)),
    request_body = StatusInput,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_status(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<StatusInput>,
) -> ApiResult<Json<Conversation>> {
    let note = ClosingNote { category: input.category, summary: input.summary };
    let change = match (ConversationStatus::parse(&input.status), input.until) {
        (Some(ConversationStatus::Closed), None) => StatusChange::Close(note),
        (Some(ConversationStatus::Snoozed), until) if note == ClosingNote::default() => {
            let until = until
                .as_deref()
                .and_then(Timestamp::parse_rfc3339)
                .ok_or_else(|| ApiError::bad_request("until must be a future time (RFC 3339)").with_field("until"))?;
            StatusChange::Snooze { until }
        }
        (Some(_), _) if note != ClosingNote::default() => {
            return Err(ApiError::bad_request("a closing note only goes with closed").with_field("category"));
        }
        (Some(_), Some(_)) => return Err(ApiError::bad_request("until only goes with snoozed").with_field("until")),
        (Some(status), None) => StatusChange::Set(status),
        (None, _) => {
            return Err(ApiError::bad_request("status is open, pending, snoozed or closed").with_field("status"));
        }
    };
    Ok(Json(actions::conversations::set_status(&state, &auth.actor(), ConversationId(id), change).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignInput {
    /// The user to assign; `null` unassigns.
    user_id: Option<i64>,
}

/// Assign a conversation, or unassign it. Owners and managers assign anyone; an agent takes a
/// conversation for themself or lets go of their own.
#[utoipa::path(post, path = "/conversations/{id}/assign", tag = "conversations", params(("id" = i64, Path)),
    request_body = AssignInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn assign(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<AssignInput>,
) -> ApiResult<Json<Conversation>> {
    let assignee = input.user_id.map(UserId);
    Ok(Json(actions::conversations::assign(&state, &auth.actor(), ConversationId(id), assignee).await?))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityInput {
    /// Off: no conversation is assigned to you automatically.
    available: bool,
}

/// Whether conversations may be assigned to you automatically.
#[utoipa::path(get, path = "/me/availability", tag = "accounts",
    responses((status = 200, body = AvailabilityInput)), security(("bearer" = [])))]
async fn get_availability(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<AvailabilityInput>> {
    Ok(Json(AvailabilityInput { available: state.store.availability(auth.workspace_id, auth.user_id).await? }))
}

/// Turn your availability for automatic assignment on or off.
#[utoipa::path(put, path = "/me/availability", tag = "accounts", request_body = AvailabilityInput,
    responses((status = 200, body = AvailabilityInput), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn set_availability(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<AvailabilityInput>,
) -> ApiResult<Json<AvailabilityInput>> {
    let now = state.clock.now();
    state.store.set_availability(auth.workspace_id, auth.user_id, input.available, now).await?;
    Ok(Json(input))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentInput {
    /// `off`, `round_robin` (in turn) or `least_open` (fewest conversations not closed).
    mode: String,
    /// Agents with this many conversations not closed get no more automatically; `null`: no cap.
    max_open: Option<i64>,
}

fn settings_view(s: AssignmentSettings) -> Value {
    json!({"mode": s.mode.as_str(), "max_open": s.max_open})
}

/// How new conversations are assigned.
#[utoipa::path(get, path = "/workspace/assignment", tag = "accounts",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn get_settings(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    Ok(Json(settings_view(state.store.assignment_settings(auth.workspace_id).await?)))
}

/// Change how new conversations are assigned (owners and managers).
#[utoipa::path(put, path = "/workspace/assignment", tag = "accounts", request_body = AssignmentInput,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_settings(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<AssignmentInput>,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let mode = AutoAssign::parse(&input.mode)
        .ok_or_else(|| ApiError::bad_request("mode is off, round_robin or least_open").with_field("mode"))?;
    if input.max_open.is_some_and(|m| !(1..=10_000).contains(&m)) {
        return Err(ApiError::bad_request("max_open is between 1 and 10000").with_field("max_open"));
    }
    let settings = AssignmentSettings { mode, max_open: input.max_open };
    let saved = state.store.set_assignment_settings(auth.workspace_id, settings, state.clock.now()).await?;
    Ok(Json(settings_view(saved)))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoCloseInput {
    /// Close a conversation whose last message is an agent's once the contact has not replied
    /// for this many hours (1 to 720); `null`: never (the default).
    after_hours: Option<i64>,
}

/// When conversations an agent answered close by themselves.
#[utoipa::path(get, path = "/workspace/auto-close", tag = "accounts",
    responses((status = 200, body = AutoCloseInput)), security(("bearer" = [])))]
async fn get_auto_close(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<AutoCloseInput>> {
    Ok(Json(AutoCloseInput { after_hours: state.store.auto_close_hours(auth.workspace_id).await? }))
}

/// Set auto-close (owners and managers).
#[utoipa::path(put, path = "/workspace/auto-close", tag = "accounts", request_body = AutoCloseInput,
    responses((status = 200, body = AutoCloseInput), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_auto_close(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<AutoCloseInput>,
) -> ApiResult<Json<AutoCloseInput>> {
    auth.require_admin()?;
    if input.after_hours.is_some_and(|h| !(1..=720).contains(&h)) {
        return Err(ApiError::bad_request("after_hours is between 1 and 720, or null").with_field("after_hours"));
    }
    state.store.set_auto_close_hours(auth.workspace_id, input.after_hours).await?;
    Ok(Json(input))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosingNotesInput {
    /// `off` (default), `optional`, `category` (a category is required) or `both` (category and
    /// summary required).
    mode: String,
    /// The categories agents pick from (at most 50, each 1 to 64 characters).
    #[serde(default)]
    categories: Vec<String>,
}

/// Whether closing a conversation asks for a note, and the categories offered.
#[utoipa::path(get, path = "/workspace/closing-notes", tag = "accounts",
    responses((status = 200, body = ClosingNotesInput)), security(("bearer" = [])))]
async fn get_closing_notes(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<ClosingNotesInput>> {
    let (mode, categories) = state.store.closing_settings(auth.workspace_id).await?;
    Ok(Json(ClosingNotesInput { mode: mode.as_str().to_owned(), categories }))
}

/// Set closing notes' mode and categories (owners and managers).
#[utoipa::path(put, path = "/workspace/closing-notes", tag = "accounts", request_body = ClosingNotesInput,
    responses((status = 200, body = ClosingNotesInput), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_closing_notes(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<ClosingNotesInput>,
) -> ApiResult<Json<ClosingNotesInput>> {
    auth.require_admin()?;
    let mode = ClosingNotes::parse(&input.mode)
        .ok_or_else(|| ApiError::bad_request("mode is off, optional, category or both").with_field("mode"))?;
    let categories = check_closing_categories(&input.categories)?;
    if matches!(mode, ClosingNotes::Category | ClosingNotes::Both) && categories.is_empty() {
        return Err(ApiError::bad_request("a required category needs categories to pick from").with_field("categories"));
    }
    state.store.set_closing_settings(auth.workspace_id, mode, &categories, state.clock.now()).await?;
    Ok(Json(ClosingNotesInput { mode: mode.as_str().to_owned(), categories }))
}

//! Working a conversation: moving it between open, pending and closed, and assigning it
//! (`/conversations/{id}/status`, `/conversations/{id}/assign`). Every change is an event that
//! names who made it. Closing keeps the assignee; a customer's message reopens it.

use axum::Json;
use axum::extract::{Path, State};
use parley_core::Timestamp;
use parley_core::conversation::{Conversation, ConversationStatus};
use parley_core::ids::{ConversationId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_status)).routes(routes!(assign))
}

fn conversation_id(raw: &str) -> ApiResult<ConversationId> {
    raw.parse::<i64>().map(ConversationId).map_err(|_| ApiError::not_found())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// `open`, `pending`, `snoozed` or `closed`.
    status: String,
    /// When a snoozed conversation opens again (RFC 3339, in the future); required to snooze.
    until: Option<String>,
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
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> ApiResult<Json<Conversation>> {
    let id = conversation_id(&raw)?;
    let now = state.clock.now();
    let status = match ConversationStatus::parse(&input.status) {
        Some(ConversationStatus::Snoozed) => {
            let until =
                input.until.as_deref().and_then(Timestamp::parse_rfc3339).filter(|t| *t > now).ok_or_else(|| {
                    ApiError::bad_request("until must be a future time (RFC 3339)").with_field("until")
                })?;
            let by = Some(auth.user_id);
            return Ok(Json(state.store.snooze_conversation(auth.workspace_id, id, until, by, now).await?));
        }
        Some(s) if input.until.is_none() => s,
        Some(_) => return Err(ApiError::bad_request("until only goes with snoozed").with_field("until")),
        None => return Err(ApiError::bad_request("status is open, pending, snoozed or closed").with_field("status")),
    };
    Ok(Json(state.store.set_conversation_status(auth.workspace_id, id, status, Some(auth.user_id), now).await?))
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
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<AssignInput>,
) -> ApiResult<Json<Conversation>> {
    let id = conversation_id(&raw)?;
    let assignee = input.user_id.map(UserId);
    if !auth.role.can_administer() {
        let current = state.store.conversation(auth.workspace_id, id).await?;
        let own = match assignee {
            Some(user) => user == auth.user_id && current.assignee_id.is_none_or(|a| a == auth.user_id),
            None => current.assignee_id.is_none_or(|a| a == auth.user_id),
        };
        if !own {
            return Err(ApiError::forbidden(
                "agents take unassigned conversations for themselves and let go of their own; owners and managers assign others",
            ));
        }
    }
    let now = state.clock.now();
    Ok(Json(state.store.assign_conversation(auth.workspace_id, id, assignee, Some(auth.user_id), now).await?))
}

//! Working a conversation: moving it between open, pending and closed, and assigning it
//! (`/conversations/{id}/status`, `/conversations/{id}/assign`). Every change is an event that
//! names who made it. Closing keeps the assignee; a customer's message reopens it.

use axum::Json;
use axum::extract::{Path, State};
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
    /// `open`, `pending` or `closed`.
    status: String,
}

/// Move a conversation to another status (any role). Snoozing comes with its wake-up time in a
/// later version.
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
    let status = match ConversationStatus::parse(&input.status) {
        Some(s @ (ConversationStatus::Open | ConversationStatus::Pending | ConversationStatus::Closed)) => s,
        _ => return Err(ApiError::bad_request("status is open, pending or closed").with_field("status")),
    };
    let now = state.clock.now();
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

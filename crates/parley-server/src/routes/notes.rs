//! `/api/v1/conversations/{id}/notes`: internal notes agents leave for each other on a
//! conversation (never sent to the customer); `@Name` mentions a teammate, who is notified when
//! they can see the conversation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::ids::ConversationId;
use parley_store::ConversationNote;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions;
use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_note, list_notes))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1 to 4,096 characters; `@Name` mentions a teammate.
    body: String,
}

/// Leave an internal note on a conversation; mentioned teammates who can see it are notified.
#[utoipa::path(post, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = i64, Path)),
    request_body = NoteInput,
    responses((status = 201, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_note(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<(StatusCode, Json<ConversationNote>)> {
    let note = actions::conversations::add_note(&state, &auth.actor(), ConversationId(id), &input.body).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// A conversation's internal notes, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_notes(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<ConversationNote>>> {
    Ok(Json(state.store.conversation_notes(auth.workspace_id, ConversationId(id), auth.viewer()).await?))
}

//! `/api/v1/conversations/{id}/tags`: tags on a conversation, for whoever sees it (the list
//! filters on them with `?tag=`, and on the contact's tags with `?contact_tag=`); `/api/v1/tags`:
//! the names in use of both kinds, for suggestions.

use axum::Json;
use axum::extract::State;
use parley_core::contact::{check_tag, check_tags};
use parley_core::ids::ConversationId;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_tags, list_tags)).routes(routes!(remove_tag)).routes(routes!(tag_names))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsInput {
    /// Lowercased; 1 to 64 characters each.
    tags: Vec<String>,
}

/// Tag names in use, to suggest while tagging and filtering: `contact` (contact tags) and
/// `conversation` (tags of the conversations you see), up to 500 of each, in order.
#[utoipa::path(get, path = "/tags", tag = "conversations", responses((status = 200, body = Object)),
    security(("bearer" = [])))]
async fn tag_names(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<parley_store::TagNames>> {
    Ok(Json(state.store.tag_names(auth.workspace_id, auth.viewer()).await?))
}

/// A conversation's tags.
#[utoipa::path(get, path = "/conversations/{id}/tags", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tags(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(state.store.conversation_tags(auth.workspace_id, ConversationId(id), auth.viewer()).await?))
}

/// Tag a conversation; answers all its tags.
#[utoipa::path(post, path = "/conversations/{id}/tags", tag = "conversations", params(("id" = i64, Path)),
    request_body = TagsInput,
    responses((status = 200, body = Vec<String>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_tags(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<TagsInput>,
) -> ApiResult<Json<Vec<String>>> {
    let id = ConversationId(id);
    if input.tags.len() > 50 {
        return Err(ApiError::bad_request("at most 50 tags at once").with_field("tags"));
    }
    let tags = check_tags(input.tags)?;
    Ok(Json(actions::conversations::add_tags(&state, &auth.actor(), id, &tags).await?))
}

/// Remove a tag from a conversation; answers the tags left.
#[utoipa::path(delete, path = "/conversations/{id}/tags/{tag}", tag = "conversations",
    params(("id" = i64, Path), ("tag" = String, Path)),
    responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, tag)): ApiPath<(PathId, String)>,
) -> ApiResult<Json<Vec<String>>> {
    let id = ConversationId(id.0);
    let tag = check_tag(&tag)?;
    Ok(Json(actions::conversations::remove_tag(&state, &auth.actor(), id, &tag).await?))
}

//! `/api/v1/teams`: named groups of users (everyone reads them; owners and managers make and
//! change them), and `/conversations/{id}/team`: the team queue a conversation is in. An agent
//! may hand a conversation they hold to a team; owners and managers move any.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::account::check_name;
use parley_core::conversation::{Conversation, may_set_team};
use parley_core::ids::{ConversationId, TeamId, UserId};
use parley_store::{StoreError, Team};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(rename_team, delete_team))
        .routes(routes!(set_members))
        .routes(routes!(set_conversation_team))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    /// 1 to 200 characters, unique in the workspace.
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersInput {
    user_ids: Vec<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationTeamInput {
    /// The team whose queue the conversation goes to; `null` takes it out of any.
    team_id: Option<i64>,
}

fn name_taken(e: StoreError, name: &str) -> ApiError {
    match e {
        StoreError::Conflict { .. } => {
            ApiError::new(StatusCode::CONFLICT, "team_exists", format!("there is already a team named {name}"))
                .with_field("name")
        }
        other => other.into(),
    }
}

/// The workspace's teams, by name, with their members.
#[utoipa::path(get, path = "/teams", tag = "accounts", responses((status = 200, body = Vec<Object>)),
    security(("bearer" = [])))]
async fn list_teams(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(state.store.teams(auth.workspace_id).await?))
}

/// Create a team (owners and managers).
#[utoipa::path(post, path = "/teams", tag = "accounts", request_body = TeamInput,
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`team_exists`")),
    security(("bearer" = [])))]
async fn create_team(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<TeamInput>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    auth.require_admin()?;
    let name = check_name("name", &input.name)?;
    let team =
        state.store.create_team(auth.workspace_id, &name, state.clock.now()).await.map_err(|e| name_taken(e, &name))?;
    Ok((StatusCode::CREATED, Json(team)))
}

/// Rename a team (owners and managers).
#[utoipa::path(patch, path = "/teams/{id}", tag = "accounts", params(("id" = i64, Path)), request_body = TeamInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rename_team(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<TeamInput>,
) -> ApiResult<Json<Team>> {
    auth.require_admin()?;
    let id = TeamId(id);
    let name = check_name("name", &input.name)?;
    Ok(Json(state.store.rename_team(auth.workspace_id, id, &name).await.map_err(|e| name_taken(e, &name))?))
}

/// Delete a team (owners and managers); its conversations are left in no team.
#[utoipa::path(delete, path = "/teams/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_team(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id = TeamId(id);
    state.store.delete_team(auth.workspace_id, id, Some(auth.user_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a team's members (owners and managers).
#[utoipa::path(put, path = "/teams/{id}/members", tag = "accounts", params(("id" = i64, Path)),
    request_body = MembersInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`unknown_user`")),
    security(("bearer" = [])))]
async fn set_members(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<MembersInput>,
) -> ApiResult<Json<Team>> {
    auth.require_admin()?;
    let id = TeamId(id);
    let mut users: Vec<UserId> = input.user_ids.into_iter().map(UserId).collect();
    users.sort();
    users.dedup();
    Ok(Json(state.store.set_team_members(auth.workspace_id, id, &users).await?))
}

/// Put a conversation in a team's queue, or take it out of any. Owners and managers move any
/// conversation; an agent hands over one they hold.
#[utoipa::path(post, path = "/conversations/{id}/team", tag = "conversations", params(("id" = i64, Path)),
    request_body = ConversationTeamInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`unknown_team`")),
    security(("bearer" = [])))]
async fn set_conversation_team(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<ConversationTeamInput>,
) -> ApiResult<Json<Conversation>> {
    let id = ConversationId(id);
    // Not found for an agent who may not see its channel.
    let current = state.store.conversation(auth.workspace_id, id, auth.viewer()).await?;
    if !may_set_team(auth.role, auth.user_id, current.assignee_id) {
        return Err(ApiError::forbidden(
            "agents hand over the conversations they hold; owners and managers move any conversation",
        ));
    }
    let team = input.team_id.map(TeamId);
    let now = state.clock.now();
    Ok(Json(state.store.set_conversation_team(auth.workspace_id, id, team, Some(auth.user_id), now).await?))
}

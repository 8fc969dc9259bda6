//! `/api/v1/canned-responses`: replies saved under a `/shortcut` for the composer. Everyone
//! reads them; owners and managers write them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::canned::{check_body, check_shortcut};
use parley_store::CannedResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, delete))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CannedParams {
    /// Only shortcuts starting with this (what the agent typed after `/`).
    q: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedInput {
    /// 1 to 32 of a-z, 0-9, `-`, `_` (a leading `/` is dropped).
    shortcut: String,
    body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedPatch {
    shortcut: Option<String>,
    body: Option<String>,
}

/// The workspace's canned responses, by shortcut.
#[utoipa::path(get, path = "/canned-responses", tag = "conversations", params(CannedParams),
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<CannedParams>,
) -> ApiResult<Json<Vec<CannedResponse>>> {
    let prefix = params.q.as_deref().map(|q| q.trim().trim_start_matches('/').to_lowercase()).filter(|q| !q.is_empty());
    Ok(Json(state.store.canned_responses(auth.workspace_id, prefix.as_deref()).await?))
}

/// Save a canned response (owners and managers).
#[utoipa::path(post, path = "/canned-responses", tag = "conversations", request_body = CannedInput,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_shortcut`, `invalid_body`")),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<CannedInput>,
) -> ApiResult<(StatusCode, Json<CannedResponse>)> {
    auth.require_admin()?;
    let shortcut = check_shortcut(&input.shortcut)?;
    let body = check_body(&input.body)?;
    let now = state.clock.now();
    let saved =
        state.store.create_canned_response(auth.workspace_id, &shortcut, &body, Some(auth.user_id), now).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Change a canned response (owners and managers).
#[utoipa::path(patch, path = "/canned-responses/{id}", tag = "conversations", params(("id" = i64, Path)),
    request_body = CannedPatch,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<CannedPatch>,
) -> ApiResult<Json<CannedResponse>> {
    auth.require_admin()?;
    let shortcut = input.shortcut.as_deref().map(check_shortcut).transpose()?;
    let body = input.body.as_deref().map(check_body).transpose()?;
    let now = state.clock.now();
    let ws = auth.workspace_id;
    Ok(Json(state.store.update_canned_response(ws, id, shortcut.as_deref(), body.as_deref(), now).await?))
}

/// Delete a canned response (owners and managers).
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    state.store.delete_canned_response(auth.workspace_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/notifications`: what owners and managers are told about — number health changes,
//! template reviews, pauses and quality — and what one user is told (a teammate mentioned them
//! in a note), newest first, with what each has read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_store::Notification;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, PathId, list_limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_notifications)).routes(routes!(mark_read))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only notifications older than this id (the last one of the previous page).
    before: Option<i64>,
    /// 1 to 200; 50 by default.
    limit: Option<u32>,
}

/// Newest first: your mentions, and for owners and managers the team's notices (number health,
/// template reviews).
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(NotificationQuery),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_notifications(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    let limit = list_limit(q.limit, 50, 200)?;
    Ok(Json(
        state.store.notifications(auth.workspace_id, auth.user_id, auth.role.can_administer(), q.before, limit).await?,
    ))
}

/// Mark a notification read for the caller.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    state
        .store
        .mark_notification_read(auth.workspace_id, auth.user_id, auth.role.can_administer(), id, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

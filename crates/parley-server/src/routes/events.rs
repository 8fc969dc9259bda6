//! `/api/v1/events`: the workspace's event log, oldest first, read with a cursor.

use axum::Json;
use axum::extract::State;
use parley_core::ids::EventId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Return events after this id (0 or absent: from the start).
    after: Option<i64>,
    /// 1 to 1000; 100 by default.
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    id: i64,
    /// `contact.created`, `contact.updated`, `contact.deleted`, `contact.note_added`, …
    kind: String,
    subject_id: Option<i64>,
    payload: serde_json::Value,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    items: Vec<EventView>,
    /// Pass as `after` to continue; equals the request's `after` when nothing new.
    last_id: i64,
}

/// Read the event log.
#[utoipa::path(get, path = "/events", tag = "events", params(EventParams),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Json<EventPage>> {
    let after = params.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request("after must not be negative").with_field("after"));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit is between 1 and 1000").with_field("limit"));
    }
    let events = state.store.events(auth.workspace_id, EventId(after), limit).await?;
    let last_id = events.last().map_or(after, |e| e.id.get());
    let items = events
        .into_iter()
        .map(|e| EventView {
            id: e.id.get(),
            kind: e.kind,
            subject_id: e.subject_id,
            payload: e.payload,
            created_at: e.created_at.to_rfc3339(),
        })
        .collect();
    Ok(Json(EventPage { items, last_id }))
}

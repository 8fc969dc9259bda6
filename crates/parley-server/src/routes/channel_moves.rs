//! Moving a number to another provider (issue 20; the Pipedrive seed's "migrate my number", a
//! BSP change): `POST /channels/{id}/move` (owners), now or at a planned cut-over; the plan
//! read and cancelled at `GET`/`DELETE /channels/{id}/move`; the number's connections on one
//! timeline, `GET /channels/{id}/connections`. What a move does is `actions::channel_moves`.
//!
//! Decisions, also in docs/providers.md: without `cutover_at` the cut-over is the moment of
//! the call; with a later one the move waits in `planned_moves` and the timer makes it then,
//! while the new connection's webhook already takes the new provider's posts. The channel
//! keeps its id, so its contacts, conversations, history, health history and the templates of
//! an unchanged account stay with it; sends from the cut-over on (queued ones included) go
//! through the new provider; the old connection keeps routing its provider's late statuses
//! and messages into the same threads for 30 days; what could not move is reported.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::ChannelId;
use parley_store::{ChannelMove, PlannedMove, Viewer};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connections::{ConnectionInput, new_webhook_key};
use crate::actions::channel_moves::{ConnectionView, MoveReport, make_move};
use crate::actions::live_channel;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::state::AppState;

/// The furthest ahead a move can be planned.
const MAX_PLAN_AHEAD_SECS: i64 = 366 * 24 * 3600;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(move_channel, planned_move, cancel_move)).routes(routes!(connections))
}

/// `POST /channels/{id}/move?cutover_at=…&resubmit_templates=false`.
#[derive(Deserialize, IntoParams)]
pub struct MoveOptions {
    /// Re-create the old account's approved templates the new one lacks, where the new
    /// provider manages templates (Meta, 360dialog). Default true.
    resubmit_templates: Option<bool>,
    /// When sends switch to the new provider (RFC 3339). Default, or a time already past: now.
    cutover_at: Option<String>,
}

fn only_owners(auth: &Auth) -> ApiResult<()> {
    if auth.role != Role::Owner {
        return Err(ApiError::forbidden("only owners may move a number to another provider"));
    }
    Ok(())
}

/// Move the number to another provider (owners), now (200, what could not move) or at
/// `cutover_at` (202, the plan; planning again replaces it). Its conversations, contacts and
/// history stay; the old provider's late webhooks are still taken for 30 days after the
/// cut-over; a planned connection's webhook takes the new provider's posts from the plan on.
#[utoipa::path(post, path = "/channels/{id}/move", tag = "channels", params(("id" = i64, Path), MoveOptions),
    request_body = ConnectionInput,
    responses((status = 200, body = MoveReport), (status = 202, body = ConnectionView, description = "planned"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`identifier_taken`: the new number is connected already"),
        (status = 422, body = ErrorBody, description = "`url_not_allowed`, `nothing_to_move` (the same provider and \
            ids), or `invalid_cutover`")),
    security(("bearer" = [])))]
async fn move_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(options): ApiQuery<MoveOptions>,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> ApiResult<Response> {
    only_owners(&auth)?;
    let current = live_channel(&state, &auth.actor(), ChannelId(id)).await?;
    let now = state.clock.now();
    let cutover_at = match options.cutover_at.as_deref() {
        None => None,
        Some(text) => {
            let at = Timestamp::parse_rfc3339(text).ok_or_else(|| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_cutover", "cutover_at is an RFC 3339 time")
            })?;
            if at.as_secs() - now.as_secs() > MAX_PLAN_AHEAD_SECS {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_cutover",
                    "a move is planned at most a year ahead",
                ));
            }
            (at > now).then_some(at)
        }
    };
    let to = input.check(&state)?;
    if to.provider == current.provider && to.phone_number_id == current.phone_number_id && to.waba_id == current.waba_id
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_move",
            "the number is connected through this provider with these ids already: change its credentials with PATCH",
        ));
    }
    let target = ChannelMove {
        provider: to.provider,
        phone_number_id: to.phone_number_id,
        waba_id: to.waba_id,
        graph_base_url: to.graph_base_url,
        sealed_secrets: state.seal_secrets(&to.secrets),
        webhook_key: new_webhook_key(),
    };
    let resubmit = options.resubmit_templates.unwrap_or(true);
    let Some(cutover_at) = cutover_at else {
        let report = make_move(&state, &current, target, None, resubmit, Some(auth.user_id)).await?;
        return Ok(Json(report).into_response());
    };
    let plan = state
        .store
        .plan_move(auth.workspace_id, current.id, target, cutover_at, resubmit, Some(auth.user_id), now)
        .await?;
    state.webhook_channels.clear();
    Ok((StatusCode::ACCEPTED, Json(ConnectionView::planned(&plan))).into_response())
}

/// The number's planned move (owners), if it has one: the new connection, its cut-over, its
/// webhook path (taking the new provider's posts already), and why it failed if it did.
#[utoipa::path(get, path = "/channels/{id}/move", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = ConnectionView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no move planned")),
    security(("bearer" = [])))]
async fn planned_move(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<ConnectionView>> {
    only_owners(&auth)?;
    let plan: Option<PlannedMove> = state.store.planned_move(auth.workspace_id, ChannelId(id)).await?;
    Ok(Json(ConnectionView::planned(&plan.ok_or_else(ApiError::not_found)?)))
}

/// Cancel the number's planned move (owners): it stays where it is; the planned webhook stops
/// taking posts.
#[utoipa::path(delete, path = "/channels/{id}/move", tag = "channels", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_move(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    only_owners(&auth)?;
    state.store.cancel_planned_move(auth.workspace_id, ChannelId(id)).await?;
    state.webhook_channels.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// The number's connections, oldest first (owners and managers): each provider's time and
/// traffic, on one timeline, each past one with the report of the move that ended it; a
/// planned move last.
#[utoipa::path(get, path = "/channels/{id}/connections", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ConnectionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn connections(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    auth.require_admin()?;
    let channel = state.store.channel(auth.workspace_id, ChannelId(id), Viewer::All).await?;
    let past = state.store.past_connections(auth.workspace_id, channel.id).await?;
    let since = past.last().map_or(channel.created_at, |p| p.active_until);
    let traffic = state.store.channel_traffic_since(auth.workspace_id, channel.id, since).await?;
    let mut out: Vec<ConnectionView> = past.iter().map(ConnectionView::past).collect();
    out.push(ConnectionView::current(&channel, since, traffic));
    if let Some(plan) = state.store.planned_move(auth.workspace_id, channel.id).await? {
        out.push(ConnectionView::planned(&plan));
    }
    Ok(Json(out))
}

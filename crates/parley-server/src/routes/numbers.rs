//! A number's health (`/channels/{id}/health`: quality, status, limit tier and today's use of
//! it, throughput, display name) and its WhatsApp business profile (`/channels/{id}/profile`,
//! read and changed through the provider, Meta's limits checked first).

use axum::Json;
use axum::extract::State;
use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::health::MessagingTier;
use parley_core::ids::ChannelId;
use parley_core::profile::ProfilePatch;
use parley_store::{HealthFieldChange, HealthRecord, LimitUsage};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions::{self, live_channel};
use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(refresh_health))
        .routes(routes!(get_profile, update_profile))
}

/// The messaging limit and how much of it the rolling 24 hours used.
#[derive(Serialize, ToSchema)]
pub struct LimitView {
    /// Meta's tier name: `TIER_250`, `TIER_2K`, …, `TIER_UNLIMITED`.
    tier: String,
    /// Unique business-initiated recipients per rolling 24 h; `null`: unlimited.
    limit: Option<i64>,
    /// Recipients counted in the last 24 hours (templates outside the service window).
    used: u64,
    remaining: Option<u64>,
    /// When the first counted recipient stops counting (a slot frees up).
    #[schema(value_type = Option<String>)]
    next_release_at: Option<Timestamp>,
    /// When no recipient counts any more: the limit is whole again.
    #[schema(value_type = Option<String>)]
    resets_at: Option<Timestamp>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    channel_id: i64,
    display_phone_number: String,
    /// `green`, `yellow`, `red` or `unknown`; `null` until reported.
    #[schema(value_type = Option<String>)]
    quality_rating: Option<parley_core::health::QualityRating>,
    /// `connected`, `flagged`, `restricted`, `banned`, …
    status: Option<String>,
    name_status: Option<String>,
    verified_name: Option<String>,
    /// `standard` (80 messages/s) or `high` (up to 1,000).
    throughput_level: Option<String>,
    messaging_limit: LimitView,
    /// When the number's fields were last read from the provider.
    #[schema(value_type = Option<String>)]
    checked_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    updated_at: Option<Timestamp>,
    /// What a refresh changed (empty on reads).
    #[schema(value_type = Vec<Object>)]
    changes: Vec<HealthFieldChange>,
}

fn view(channel: &Channel, record: HealthRecord, usage: LimitUsage, changes: Vec<HealthFieldChange>) -> HealthView {
    let limit = record.messaging_limit;
    HealthView {
        channel_id: channel.id.get(),
        display_phone_number: channel.display_phone_number.clone(),
        quality_rating: record.health.quality_rating,
        status: record.health.status,
        name_status: record.health.name_status,
        verified_name: record.health.verified_name,
        throughput_level: record.health.throughput_level,
        messaging_limit: LimitView {
            tier: MessagingTier::from_limit(limit).name(),
            limit,
            used: usage.recipients,
            remaining: limit.map(|l| (l.max(0) as u64).saturating_sub(usage.recipients)),
            next_release_at: usage.next_release_at,
            resets_at: usage.clear_at,
        },
        checked_at: record.checked_at,
        updated_at: record.updated_at,
        changes,
    }
}

async fn health_view(state: &AppState, channel: &Channel, changes: Vec<HealthFieldChange>) -> ApiResult<HealthView> {
    let ws = channel.workspace_id;
    let record = state.store.channel_health(ws, channel.id).await?;
    let usage = state.store.limit_usage(ws, &channel.waba_id, state.clock.now()).await?;
    Ok(view(channel, record, usage, changes))
}

/// The number's health as last reported, with today's use of the messaging limit.
#[utoipa::path(get, path = "/channels/{id}/health", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = HealthView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_health(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<HealthView>> {
    let channel = live_channel(&state, &auth.actor(), ChannelId(id)).await?;
    Ok(Json(health_view(&state, &channel, Vec::new()).await?))
}

/// Read the number's fields from the provider now (owners and managers).
#[utoipa::path(post, path = "/channels/{id}/health/refresh", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = HealthView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn refresh_health(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<HealthView>> {
    let actor = auth.actor();
    actor.require_admin()?;
    let channel = live_channel(&state, &actor, ChannelId(id)).await?;
    let changes = actions::channels::refresh_health(&state, &actor, &channel).await?;
    Ok(Json(health_view(&state, &channel, changes).await?))
}

/// The WhatsApp business profile, as the provider has it.
#[utoipa::path(get, path = "/channels/{id}/profile", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_profile(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Value>> {
    let channel = live_channel(&state, &auth.actor(), ChannelId(id)).await?;
    let profile = state.graph_client(&channel)?.business_profile(&channel.phone_number_id).await?;
    Ok(Json(profile))
}

/// Change the business profile (owners and managers): about (1–139 characters), address (≤ 256),
/// description (≤ 512), email (≤ 128), websites (≤ 2 http(s) URLs of ≤ 256), vertical, photo.
#[utoipa::path(patch, path = "/channels/{id}/profile", tag = "channels", params(("id" = i64, Path)),
    request_body = Object,
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_profile(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let channel = live_channel(&state, &auth.actor(), ChannelId(id)).await?;
    let body = patch.validate()?;
    let client = state.graph_client(&channel)?;
    client.update_business_profile(&channel.phone_number_id, &body).await?;
    Ok(Json(client.business_profile(&channel.phone_number_id).await?))
}

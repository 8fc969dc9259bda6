//! A number's health (`/channels/{id}/health`: quality, status, limit tier and today's use of
//! it, throughput, display name) and its WhatsApp business profile (`/channels/{id}/profile`,
//! read and changed through the provider, Meta's limits checked first), and the webhook
//! registration of providers that take it by API (`/channels/{id}/webhook/register`: 360dialog).

use axum::Json;
use axum::extract::State;
use parley_core::Timestamp;
use parley_core::channel::{Channel, Provider};
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
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(refresh_health))
        .routes(routes!(get_profile, update_profile))
        .routes(routes!(register_webhook))
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

/// Where the provider will post: the channel's webhook URL.
#[derive(Serialize, ToSchema)]
pub struct WebhookRegistration {
    url: String,
}

/// Set the number's webhook at the provider (owners and managers): for 360dialog, Parley's
/// webhook URL with the channel's secret header token, so its posts are believed; for
/// MessageBird, the URL for the channel's messages and statuses (signed with the account's
/// signing key). Meta's webhook is set in the app's dashboard and Twilio's in its console
/// (`not_supported_by_provider`).
#[utoipa::path(post, path = "/channels/{id}/webhook/register", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = WebhookRegistration), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`not_supported_by_provider`, or `public_url_required`: the server \
            does not know its public address"),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn register_webhook(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<WebhookRegistration>> {
    let actor = auth.actor();
    actor.require_admin()?;
    let channel = live_channel(&state, &actor, ChannelId(id)).await?;
    Ok(Json(WebhookRegistration { url: register_at_provider(&state, &channel).await? }))
}

/// Sets the channel's webhook at its provider (360dialog, MessageBird); the URL it was given.
pub(crate) async fn register_at_provider(state: &AppState, channel: &Channel) -> ApiResult<String> {
    if !matches!(channel.provider, Provider::Dialog360 | Provider::MessageBird) {
        return Err(crate::state::not_supported_by_provider(channel));
    }
    if state.public_url.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "public_url_required",
            "set the server's public_url (the address the provider can reach) first",
        ));
    }
    let url = format!("{}{}", state.public_url.trim_end_matches('/'), channel.webhook_path());
    let secrets = state.channel_secrets(channel)?;
    if channel.provider == Provider::MessageBird {
        let client = state
            .messagebird_client(channel, &secrets)
            .map_err(|refused| ApiError::url_not_allowed(&refused, "graph_base_url"))?;
        client.register_webhook(&channel.phone_number_id, &url).await?;
    } else {
        state.cloud_client(channel)?.register_webhook(&url, &secrets.verify_token).await?;
    }
    Ok(url)
}

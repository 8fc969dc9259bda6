//! `/api/v1/webhook-subscriptions`: outgoing webhooks (owners and managers). A subscription
//! names a URL (through the outbound-URL guard) and the event kinds it wants from the catalog
//! (`…/kinds`); its signing secret is shown once, at creation or rotation. The delivery log, a
//! test ping and replays (one event or a time range) are here too; `workers/outgoing.rs`
//! delivers, `parley_core::outgoing` documents the envelope and the signature.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::Timestamp;
use parley_core::ids::{EventId, UserId, WorkspaceId};
use parley_core::outgoing::{KINDS, VERSION, check_kinds};
use parley_providers::guard::{Targets, check_url};
use parley_store::{Delivery, NewSubscription, Replay, Subscription, SubscriptionPatch};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog))
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries))
        .routes(routes!(ping))
        .routes(routes!(replay))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// Where events are posted: `https` to a public host (or a host on the server's allow-list).
    url: String,
    /// The event kinds wanted (see `GET /webhook-subscriptions/kinds`). With `meta`, among
    /// `message.received`, `message.sent` and `message.status` (all three when left out).
    #[serde(default)]
    kinds: Option<Vec<String>>,
    /// `parley` (the default: Parley's signed envelope) or `meta`: Meta's webhooks as a Cloud
    /// API app expects them, signed `X-Hub-Signature-256` with the app's secret.
    format: Option<String>,
    /// `meta` only: the app's verify token; Parley performs Meta's `hub.challenge` handshake
    /// with it before anything is stored.
    verify_token: Option<String>,
    /// `meta` only: the app's secret, which signs every forwarded webhook.
    app_secret: Option<String>,
}

/// What a `meta` subscription may forward: messages and their statuses.
const META_KINDS: [&str; 3] = ["message.received", "message.sent", "message.status"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionChange {
    url: Option<String>,
    kinds: Option<Vec<String>>,
    /// `false` pauses it; `true` resumes it where it stopped (nothing is lost while paused).
    active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedSubscription {
    #[schema(value_type = Object)]
    subscription: Subscription,
    /// The signing secret, shown this once: keep it to verify `Parley-Signature` (none for a
    /// `meta` subscription, signed with the app's own secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// A receiver's URL (in `field`) through the outbound-URL guard, at most 2,048 characters.
pub(crate) fn checked_url(state: &AppState, raw: &str, field: &str) -> ApiResult<String> {
    let url = check_url(raw, Targets::AnyPublic, &state.outbound.allow)
        .map_err(|refused| ApiError::url_not_allowed(&refused, field))?;
    if url.as_str().len() > 2048 {
        return Err(ApiError::bad_request("the URL is longer than 2,048 characters").with_field(field));
    }
    Ok(url.to_string())
}

/// Stores a subscription in Parley's format (URL and kinds already checked) with a fresh
/// signing secret, and wakes the delivery worker; answers the secret, to be shown once.
pub(crate) async fn subscribe(
    state: &AppState,
    ws: WorkspaceId,
    url: &str,
    kinds: &[String],
    created_by: UserId,
) -> ApiResult<(Subscription, String)> {
    let secret = new_secret();
    let sealed = state.secrets.seal(secret.as_bytes());
    let new = NewSubscription { url, format: "parley", kinds, sealed_secret: &sealed, created_by };
    let subscription = state.store.create_subscription(ws, new, state.clock.now()).await?;
    state.outgoing_wakeup.notify_one();
    Ok((subscription, secret))
}

fn checked_kinds(kinds: &[String], format: &str) -> ApiResult<Vec<String>> {
    let invalid =
        |why: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kinds", why).with_field("kinds");
    let kinds = check_kinds(kinds).map_err(invalid)?;
    if format == "meta"
        && let Some(other) = kinds.iter().find(|k| !META_KINDS.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "{other} has no Meta webhook: a meta subscription forwards messages and statuses"
        )));
    }
    Ok(kinds)
}

fn short_secret(value: Option<&str>, field: &str) -> ApiResult<String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() && v.len() <= 256 => Ok(v.to_owned()),
        _ => Err(ApiError::bad_request(format!("{field} is required with format meta (1 to 256 characters)"))
            .with_field(field)),
    }
}

/// Meta's handshake against the app's callback URL: `GET url?hub.mode=subscribe&
/// hub.verify_token=…&hub.challenge=…` must answer 200 with the challenge.
async fn meta_handshake(state: &AppState, url: &str, verify_token: &str) -> ApiResult<()> {
    let challenge = format!("{}", rand::random::<u32>());
    let failed = |why: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "verification_failed", format!("the callback URL {why}"))
            .with_field("url")
    };
    let mut target = reqwest::Url::parse(url).map_err(|_| failed("is not a valid URL".into()))?;
    target
        .query_pairs_mut()
        .append_pair("hub.mode", "subscribe")
        .append_pair("hub.verify_token", verify_token)
        .append_pair("hub.challenge", &challenge);
    let answer = state
        .webhook_http
        .get(target)
        .send()
        .await
        .map_err(|e| failed(format!("cannot be reached: {}", e.without_url())))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if !status.is_success() || body.trim() != challenge {
        return Err(failed(format!("answered {status} without the challenge: check the verify token")));
    }
    Ok(())
}

/// The event catalog: every kind a subscription may ask for, and the envelope's version.
#[utoipa::path(get, path = "/webhook-subscriptions/kinds", tag = "webhooks",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn catalog(auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let kinds: Vec<Value> = KINDS.iter().map(|(kind, about)| json!({"kind": kind, "description": about})).collect();
    Ok(Json(json!({"version": VERSION, "kinds": kinds})))
}

/// The workspace's subscriptions (owners and managers).
#[utoipa::path(get, path = "/webhook-subscriptions", tag = "webhooks",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Subscription>>> {
    auth.require_admin()?;
    Ok(Json(state.store.subscriptions(auth.workspace_id).await?))
}

/// Subscribe a URL to event kinds. It receives what happens from now on, as far as its creator
/// may see. The answer holds the signing secret, shown this once.
#[utoipa::path(post, path = "/webhook-subscriptions", tag = "webhooks", request_body = SubscriptionInput,
    responses((status = 201, body = CreatedSubscription), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`url_not_allowed`, `invalid_kinds`")),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> ApiResult<(StatusCode, Json<CreatedSubscription>)> {
    auth.require_admin()?;
    let url = checked_url(&state, &input.url, "url")?;
    let created = match input.format.as_deref().unwrap_or("parley") {
        "parley" => {
            let kinds = checked_kinds(input.kinds.as_deref().unwrap_or_default(), "parley")?;
            if input.verify_token.is_some() || input.app_secret.is_some() {
                return Err(ApiError::bad_request("verify_token and app_secret only go with format meta"));
            }
            let (subscription, secret) = subscribe(&state, auth.workspace_id, &url, &kinds, auth.user_id).await?;
            CreatedSubscription { subscription, secret: Some(secret) }
        }
        "meta" => {
            let all = META_KINDS.map(str::to_owned).to_vec();
            let kinds = checked_kinds(input.kinds.as_deref().unwrap_or(&all), "meta")?;
            let verify_token = short_secret(input.verify_token.as_deref(), "verify_token")?;
            let app_secret = short_secret(input.app_secret.as_deref(), "app_secret")?;
            meta_handshake(&state, &url, &verify_token).await?;
            // Signed with the app's own secret, which the app already has: nothing to show.
            let sealed = state.secrets.seal(app_secret.as_bytes());
            let new = NewSubscription {
                url: &url,
                format: "meta",
                kinds: &kinds,
                sealed_secret: &sealed,
                created_by: auth.user_id,
            };
            let subscription = state.store.create_subscription(auth.workspace_id, new, state.clock.now()).await?;
            state.outgoing_wakeup.notify_one();
            CreatedSubscription { subscription, secret: None }
        }
        _ => return Err(ApiError::bad_request("format is parley or meta").with_field("format")),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// One subscription, with where it stands (cursor, failures, next attempt).
#[utoipa::path(get, path = "/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Subscription>> {
    auth.require_admin()?;
    Ok(Json(state.store.subscription(auth.workspace_id, id).await?))
}

/// Change the URL or kinds, pause or resume.
#[utoipa::path(patch, path = "/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = i64, Path)),
    request_body = SubscriptionChange,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<SubscriptionChange>,
) -> ApiResult<Json<Subscription>> {
    auth.require_admin()?;
    let current = state.store.subscription(auth.workspace_id, id).await?;
    if current.format == "meta" && input.url.is_some() {
        return Err(ApiError::bad_request("a meta subscription's URL is verified once: make a new subscription")
            .with_field("url"));
    }
    let patch = SubscriptionPatch {
        url: input.url.as_deref().map(|u| checked_url(&state, u, "url")).transpose()?,
        kinds: input.kinds.as_deref().map(|k| checked_kinds(k, &current.format)).transpose()?,
        active: input.active,
        sealed_secret: None,
    };
    let saved = state.store.update_subscription(auth.workspace_id, id, patch, state.clock.now()).await?;
    state.outgoing_wakeup.notify_one();
    Ok(Json(saved))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(delete, path = "/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    state.store.delete_subscription(auth.workspace_id, id).await?;
    state.outgoing_wakeup.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret; the new one is in the answer, shown this once. Deliveries after
/// this are signed with it.
#[utoipa::path(post, path = "/webhook-subscriptions/{id}/secret", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = CreatedSubscription), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<CreatedSubscription>> {
    auth.require_admin()?;
    if state.store.subscription(auth.workspace_id, id).await?.format == "meta" {
        return Err(ApiError::bad_request("a meta subscription signs with the app's secret: make a new subscription"));
    }
    let secret = new_secret();
    let patch = SubscriptionPatch { sealed_secret: Some(state.secrets.seal(secret.as_bytes())), ..Default::default() };
    let subscription = state.store.update_subscription(auth.workspace_id, id, patch, state.clock.now()).await?;
    state.outgoing_wakeup.notify_one();
    Ok(Json(CreatedSubscription { subscription, secret: Some(secret) }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Older than this delivery id (paging).
    before: Option<i64>,
    /// 1 to 500 (default 50).
    limit: Option<u32>,
}

/// The delivery log, newest first: each attempt's status code, latency, error and the start of
/// the answer. Kept 14 days.
#[utoipa::path(get, path = "/webhook-subscriptions/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), DeliveryParams),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn deliveries(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> ApiResult<Json<Vec<Delivery>>> {
    auth.require_admin()?;
    let limit = crate::extract::list_limit(params.limit, 50, 500)?;
    state.store.subscription(auth.workspace_id, id).await?;
    Ok(Json(state.store.deliveries(auth.workspace_id, id, params.before, limit).await?))
}

/// Send a signed `ping` now and answer how it went (it is logged too).
#[utoipa::path(post, path = "/webhook-subscriptions/{id}/ping", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn ping(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Delivery>> {
    auth.require_admin()?;
    let sub = state.store.subscription(auth.workspace_id, id).await?;
    Ok(Json(crate::workers::outgoing::ping(&state, &sub).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// One event, by its id (`evt_123` or `123`).
    event_id: Option<Value>,
    /// Or every event written in this time range (RFC 3339, both given).
    from: Option<String>,
    to: Option<String>,
}

fn event_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.strip_prefix("evt_").unwrap_or(s).parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// Send events again: one, or all of a time range that the subscription wants and its creator
/// may see. Each goes once, beside the normal flow; the log marks them `replay`.
#[utoipa::path(post, path = "/webhook-subscriptions/{id}/replay", tag = "webhooks", params(("id" = i64, Path)),
    request_body = ReplayInput,
    responses((status = 202, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such subscription, or no event in the range")),
    security(("bearer" = [])))]
async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<ReplayInput>,
) -> ApiResult<(StatusCode, Json<Replay>)> {
    auth.require_admin()?;
    let ws = auth.workspace_id;
    let (from, to) = match (&input.event_id, &input.from, &input.to) {
        (Some(v), None, None) => {
            let id =
                event_id(v).ok_or_else(|| ApiError::bad_request("event_id is an event id").with_field("event_id"))?;
            (EventId(id), EventId(id))
        }
        (None, Some(from), Some(to)) => {
            let time = |raw: &str, field: &str| {
                Timestamp::parse_rfc3339(raw)
                    .ok_or_else(|| ApiError::bad_request(format!("{field} must be an RFC 3339 time")).with_field(field))
            };
            let (from, to) = (time(from, "from")?, time(to, "to")?);
            if to < from {
                return Err(ApiError::bad_request("to comes before from").with_field("to"));
            }
            state.store.event_ids_between(ws, from, to).await?.ok_or_else(ApiError::not_found)?
        }
        _ => return Err(ApiError::bad_request("send either event_id, or from and to")),
    };
    let replay = state.store.request_replay(ws, id, from, to, state.clock.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(replay)))
}

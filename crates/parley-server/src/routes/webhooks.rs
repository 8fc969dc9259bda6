//! `/webhooks/meta/{key}`: where Meta delivers a channel's webhooks. The key in the path picks
//! the channel; the signature (`X-Hub-Signature-256`, HMAC of the raw body with the channel's app
//! secret) is checked before anything is read. Every change of the batch is then parsed, routed
//! to its channel by `metadata.phone_number_id` and applied in one transaction, and the answer is
//! 200 only after that commit, so a crash before it makes Meta retry. Under a burst (see
//! `journal.rs`) the webhook is instead checked (`webhook::check`), appended to the inbound
//! journal and answered after that commit; it is applied a moment later in a transaction that
//! takes the journal's row: applied once, whatever crashes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_core::channel::{Channel, ChannelId, ChannelSecrets, Provider};
use parley_core::message::InboundEvent;
use parley_providers::meta::{signature, webhook};
use parley_store::JournalEntry;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::ingest::Batch;
use crate::journal::Pending;
use crate::state::AppState;

/// Meta sends up to 3 MB per POST; a little headroom, then 413.
pub const WEBHOOK_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify, receive)).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// The live channel of a webhook key and its opened secrets (cached for a few seconds).
pub(crate) async fn live_channel(state: &AppState, key: &str) -> ApiResult<(Arc<Channel>, Arc<ChannelSecrets>)> {
    if let Some(hit) = state.webhook_channels.get(key) {
        return Ok(hit);
    }
    // A number moved to another provider: its old provider's late webhooks still come in,
    // checked with the old connection's credentials, into the same channel; a move planned
    // for later takes the new provider's early ones the same way.
    let channel =
        crate::actions::channel_moves::channel_by_connection_key(state, key).await?.ok_or_else(ApiError::not_found)?;
    let secrets = Arc::new(state.channel_secrets(&channel)?);
    let channel = Arc::new(channel);
    state.webhook_channels.put(key, channel.clone(), secrets.clone());
    Ok((channel, secrets))
}

/// The subscription handshake: echoes `hub.challenge` when `hub.verify_token` is the channel's.
#[utoipa::path(get, path = "/webhooks/meta/{key}", tag = "webhooks", params(("key" = String, Path), Handshake),
    responses((status = 200, description = "the challenge, as text"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn verify(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    Query(hub): Query<Handshake>,
) -> ApiResult<Response> {
    let (channel, secrets) = live_channel(&state, &key).await?;
    if channel.provider != Provider::Meta {
        return Err(ApiError::not_found());
    }
    let token_ok =
        hub.verify_token.as_deref().is_some_and(|t| bool::from(t.as_bytes().ct_eq(secrets.verify_token.as_bytes())));
    match (hub.mode.as_deref(), token_ok, hub.challenge) {
        (Some("subscribe"), true, Some(challenge)) => Ok((StatusCode::OK, challenge).into_response()),
        _ => Err(ApiError::forbidden("wrong hub.verify_token or hub.mode")),
    }
}

/// Receive a webhook batch (signed with the channel's app secret).
#[utoipa::path(post, path = "/webhooks/meta/{key}", tag = "webhooks", params(("key" = String, Path)),
    request_body(content = String, description = "Meta's webhook JSON, signed in X-Hub-Signature-256", content_type = "application/json"),
    responses((status = 200, description = "stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let acknowledging = state.journal.acknowledging();
    let body = webhook_body(body)?;
    let (channel, secrets) = live_channel(&state, &key).await?;
    if channel.provider != Provider::Meta {
        // Another provider's key on Meta's path: as unknown as a wrong key.
        return Err(ApiError::not_found());
    }
    let signature_header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    if !signature::verify(&secrets.app_secret, &body, signature_header) {
        return Err(ApiError::unauthorized("missing or invalid X-Hub-Signature-256"));
    }
    if !state.journal.backlog.answer_early() {
        // The ingest keeps up (or the backlog is full): applied now, answered after its commit,
        // which is as durable as a journal row and costs one write less.
        drop(acknowledging);
        let parsed = webhook::parse(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let events = routed_events(&state, &channel, parsed, &body, signature_header).await?;
        let outcome = state.ingest.apply(Batch { events, journal_id: None }).await?;
        return Ok(Json(json!({"journaled": false, "applied": true, "messages_in_commit": outcome.messages})));
    }
    // Refuses exactly what the parser would: a malformed webhook is stored nowhere.
    webhook::check(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the webhook body is not UTF-8"))?;
    let signature_header = signature_header.map(str::to_owned);
    let id = state.journal.append(Arc::from(key.as_str()), Arc::from(text), signature_header.clone()).await?;
    drop(acknowledging);
    // Durable from here on: answered now, applied as soon as acknowledgements leave room.
    let pending = Pending::new(&state.journal.backlog, body.len());
    let journaled = Journaled { id, channel: channel.clone(), body, signature: signature_header };
    tokio::spawn(apply_until_applied(state.clone(), journaled, pending));
    Ok(Json(json!({"journaled": true, "applied": false})))
}

/// A webhook in the inbound journal, to apply.
struct Journaled {
    id: i64,
    channel: Arc<Channel>,
    body: Bytes,
    signature: Option<String>,
}

/// Applies a journaled webhook, retrying (from 100 ms to 30 s apart) until it is applied or the
/// server stops (its row then waits for the next start).
async fn apply_until_applied(state: AppState, webhook: Journaled, pending: Pending) {
    let backlog = state.journal.backlog.clone();
    let _turn = backlog.turn_to_apply(webhook.body.len()).await;
    let mut delay = Duration::from_millis(100);
    let mut closing = state.closing.subscribe();
    loop {
        let Err(error) = apply_journaled(&state, &webhook).await else { break };
        let error = error.message;
        tracing::error!(journal_id = webhook.id, error, "applying a journaled webhook failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = closing.wait_for(|c| *c) => break,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
    drop(pending);
}

/// Applies a webhook the journal holds (at a start, after a crash): through the live channel of
/// its key; one whose key no longer names a channel is taken from the journal with nothing
/// applied (logged).
pub(crate) async fn apply_journal_entry(state: &AppState, entry: JournalEntry) -> ApiResult<()> {
    let channel = match live_channel(state, &entry.webhook_key).await {
        Ok((channel, _)) => channel,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            tracing::warn!(journal_id = entry.id, "a journaled webhook's channel is gone; dropping it");
            state.ingest.apply(Batch { events: Vec::new(), journal_id: Some(entry.id) }).await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let webhook = Journaled { id: entry.id, channel, body: Bytes::from(entry.body), signature: entry.signature };
    apply_journaled(state, &webhook).await
}

/// Parses and routes a journaled webhook, then applies it through the ingest, whose transaction
/// takes its journal row.
async fn apply_journaled(state: &AppState, webhook: &Journaled) -> ApiResult<()> {
    let channel = &webhook.channel;
    let events = match webhook::parse(&webhook.body) {
        Ok(parsed) => routed_events(state, channel, parsed, &webhook.body, webhook.signature.as_deref()).await?,
        // `webhook::check` refused what `parse` refuses before the webhook was journaled: this
        // is a change of either since. Noted on the channel rather than lost or retried forever.
        Err(e) => {
            tracing::error!(journal_id = webhook.id, error = %e, "a journaled webhook does not parse");
            let value = json!({"error": e.to_string(), "bytes": webhook.body.len()});
            vec![(channel.clone(), InboundEvent::Other { field: "webhook.unreadable".into(), value })]
        }
    };
    let count = events.len();
    state.ingest.apply(Batch { events, journal_id: Some(webhook.id) }).await?;
    tracing::debug!(channel = channel.id.get(), events = count, "webhook applied");
    Ok(())
}

/// Every event of a webhook, each with the channel it goes to.
async fn routed_events(
    state: &AppState,
    channel: &Arc<Channel>,
    parsed: webhook::Webhook,
    body: &[u8],
    signature_header: Option<&str>,
) -> ApiResult<Vec<(Arc<Channel>, InboundEvent)>> {
    let channels = route(state, channel, &parsed, body, signature_header).await?;
    let accounts = route_accounts(state, channel, &parsed, body, signature_header).await?;
    let mut events = Vec::with_capacity(parsed.event_count());
    for change in parsed.changes {
        // Number changes go to their number; account changes (templates, limits, bans) to one
        // number of that account in each workspace that has it.
        let targets: Vec<Arc<Channel>> = match &change.phone_number_id {
            None => accounts.get(change.waba_id.as_str()).cloned().unwrap_or_default(),
            Some(pnid) => channels.get(pnid.as_str()).cloned().into_iter().collect(),
        };
        if targets.is_empty() {
            // Changes for numbers or accounts we do not know (or another app's) are acknowledged
            // (Meta would retry them for a week) and recorded on the receiving channel: nothing
            // disappears silently, nothing is written into the wrong number.
            let value = json!({"phone_number_id": change.phone_number_id, "waba_id": change.waba_id, "field": change.field,
                "events": change.events.len()});
            events.push((channel.clone(), InboundEvent::Other { field: "webhook.unroutable".into(), value }));
            continue;
        }
        for target in &targets {
            events.extend(change.events.iter().cloned().map(|event| (target.clone(), event)));
        }
    }
    Ok(events)
}

/// A webhook's raw body, or the JSON error for one too large or unreadable.
pub(crate) fn webhook_body(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the webhook body is too large")
        } else {
            ApiError::bad_request(e.body_text())
        }
    })
}

/// For changes about a whole business account (no phone number id): the account's channels by
/// WABA id, one per workspace. The receiving channel's own account needs no lookup; another one
/// counts only where that channel's app secret also verifies the signature.
async fn route_accounts(
    state: &AppState,
    receiving: &Arc<Channel>,
    parsed: &webhook::Webhook,
    body: &[u8],
    signature_header: Option<&str>,
) -> ApiResult<HashMap<String, Vec<Arc<Channel>>>> {
    let wabas: BTreeSet<&str> =
        parsed.changes.iter().filter(|c| c.phone_number_id.is_none()).map(|c| c.waba_id.as_str()).collect();
    let mut out = HashMap::new();
    for waba in wabas {
        // Meta always names the account; a webhook without one concerns the receiving number's.
        if waba.is_empty() || waba == receiving.waba_id {
            out.insert(waba.to_owned(), vec![receiving.clone()]);
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut targets = Vec::new();
        for candidate in state.store.channels_by_waba_id(Provider::Meta, waba).await? {
            if seen.contains(&candidate.workspace_id.get()) {
                continue;
            }
            if signature::verify(&state.channel_secrets(&candidate)?.app_secret, body, signature_header) {
                seen.insert(candidate.workspace_id.get());
                targets.push(Arc::new(candidate));
            }
        }
        out.insert(waba.to_owned(), targets);
    }
    Ok(out)
}

/// The channels a batch's changes go to, by phone number id. Another channel than the receiving
/// one only counts if its own app secret also verifies the signature: a webhook signed for one
/// app can never write into a number of another app (or another workspace).
async fn route(
    state: &AppState,
    receiving: &Arc<Channel>,
    parsed: &webhook::Webhook,
    body: &[u8],
    signature_header: Option<&str>,
) -> ApiResult<HashMap<String, Arc<Channel>>> {
    let ids: BTreeSet<String> = parsed.changes.iter().filter_map(|c| c.phone_number_id.clone()).collect();
    let mut out = HashMap::new();
    let others: Vec<String> = ids.into_iter().filter(|id| *id != receiving.phone_number_id).collect();
    out.insert(receiving.phone_number_id.clone(), receiving.clone());
    if others.is_empty() {
        return Ok(out);
    }
    let mut checked: HashMap<ChannelId, bool> = HashMap::new();
    for candidate in state.store.channels_by_phone_number_ids(Provider::Meta, &others).await? {
        let same_app = match checked.get(&candidate.id) {
            Some(ok) => *ok,
            None => {
                let ok = signature::verify(&state.channel_secrets(&candidate)?.app_secret, body, signature_header);
                checked.insert(candidate.id, ok);
                ok
            }
        };
        if same_app {
            out.insert(candidate.phone_number_id.clone(), Arc::new(candidate));
        }
    }
    Ok(out)
}

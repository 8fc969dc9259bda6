//! `/webhooks/messagebird/{key}`: where MessageBird posts a channel's messages and their
//! statuses (`message.created`, `message.updated`; Parley sets the webhook there with `POST
//! /channels/{id}/webhook/register`). The key picks the channel; the signature is checked on the
//! raw body before anything is parsed, against the URL MessageBird signed (the server's
//! `public_url` followed by the path and query as received): `MessageBird-Signature-JWT` with
//! the account's signing key, its `jti` never taken twice; or, from Bird and older accounts,
//! `MessageBird-Signature` with its timestamp. The events are applied like Meta's; the
//! channel's contact metadata, carried by each message's sender, fills the contact's empty
//! fields in the same transaction (`sql/inbound/messages.rs`).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::HeaderMap;
use parley_core::Timestamp;
use parley_core::channel::{ChannelSecrets, Provider};
use parley_core::message::InboundEvent;
use parley_providers::messagebird::signature::{self, HmacScheme};
use parley_providers::messagebird::webhook;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::webhooks::{WEBHOOK_BODY_LIMIT, live_channel, webhook_body};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::ingest::Batch;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive)).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// Signature token ids (`jti`) taken, until their token expires: a replayed post is refused.
/// Kept in memory: on several servers each refuses what it saw, and a replay that reaches
/// another changes nothing anyway (messages are stored once, statuses only move forward).
#[derive(Default)]
pub struct SeenTokens(Mutex<HashMap<String, i64>>);

/// Past this many remembered tokens, the expired ones are dropped.
const SEEN_TOKENS_PRUNE_AT: usize = 10_000;

impl SeenTokens {
    /// True the first time `jti` is seen (and remembers it until `exp`).
    pub fn first_time(&self, jti: &str, exp: i64, now: Timestamp) -> bool {
        let mut seen = self.0.lock().expect("seen tokens");
        if seen.len() >= SEEN_TOKENS_PRUNE_AT {
            seen.retain(|_, until| *until >= now.as_secs());
        }
        if seen.get(jti).is_some_and(|until| *until >= now.as_secs()) {
            return false;
        }
        seen.insert(jti.to_owned(), exp);
        true
    }

    /// Forgets `jti`: its post was not stored, so MessageBird's retry of it is welcome.
    fn forget(&self, jti: &str) {
        self.0.lock().expect("seen tokens").remove(jti);
    }
}

/// The contact metadata already applied per (channel, customer): a post whose metadata is the
/// same as the last one applied skips the contact's read (most posts of a conversation carry
/// the same). Forgotten all at once past `METADATA_SEEN_MAX` entries; a miss only costs a read.
#[derive(Default)]
pub struct MetadataSeen(Mutex<HashMap<(i64, String), u64>>);

const METADATA_SEEN_MAX: usize = 100_000;

impl MetadataSeen {
    /// True when these fields were applied last for this customer (nothing to do).
    fn same(&self, key: &(i64, String), hash: u64) -> bool {
        self.0.lock().expect("metadata seen").get(key) == Some(&hash)
    }

    fn applied(&self, key: (i64, String), hash: u64) {
        let mut seen = self.0.lock().expect("metadata seen");
        if seen.len() >= METADATA_SEEN_MAX {
            seen.clear();
        }
        seen.insert(key, hash);
    }
}

/// Receive a MessageBird webhook (JSON, signed with the account's signing key).
#[utoipa::path(post, path = "/webhooks/messagebird/{key}", tag = "webhooks", params(("key" = String, Path)),
    request_body(content = String, description = "MessageBird's webhook JSON, signed in MessageBird-Signature-JWT",
        content_type = "application/json"),
    responses((status = 200, description = "stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = webhook_body(body)?;
    let (channel, secrets) = live_channel(&state, &key).await?;
    if channel.provider != Provider::MessageBird {
        // Another provider's key on MessageBird's path: as unknown as a wrong key.
        return Err(ApiError::not_found());
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", state.public_url.trim_end_matches('/'));
    let taken_jti = check_signature(&state, &secrets, &url, &body, &headers)?;
    let now = state.clock.now();
    let events = match webhook::channel_id(&body) {
        // Signed by the account but for another of its channels (a URL shared by several):
        // acknowledged and recorded here, never written into this number's conversations.
        Some(other) if other != channel.phone_number_id => {
            let value = json!({"channel_id": other, "provider": "messagebird"});
            vec![InboundEvent::Other { field: "webhook.unroutable".into(), value }]
        }
        _ => webhook::parse(&body, now).map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    // The contact metadata fills the contact's empty fields in ingest's own transaction; a
    // post repeating what was applied last for this customer carries none (no contact read).
    let mut events = events;
    let mut applied = Vec::new();
    for event in &mut events {
        if let InboundEvent::Message(m) = event
            && let Some(wa_id) = &m.from.wa_id
            && !m.from.contact_fields.is_empty()
        {
            let key = (channel.id.get(), wa_id.to_string());
            let hash = fields_hash(&m.from.contact_fields);
            if state.messagebird_metadata.same(&key, hash) {
                m.from.contact_fields.clear();
            } else {
                applied.push((key, hash));
            }
        }
    }
    let count = events.len();
    let outcome = match state
        .ingest
        .apply(Batch { events: events.into_iter().map(|e| (channel.clone(), e)).collect(), journal_id: None })
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(jti) = taken_jti {
                state.seen_webhook_tokens.forget(&jti);
            }
            return Err(e.into());
        }
    };
    for (key, hash) in applied {
        state.messagebird_metadata.applied(key, hash);
    }
    tracing::debug!(channel = channel.id.get(), events = count, "messagebird webhook stored");
    Ok(Json(json!({"stored": count, "messages_in_commit": outcome.messages})))
}

/// The JWT when MessageBird sent one (its `jti` taken once, and answered so that a post not
/// stored can give it back), else the HMAC signature of Bird's or the older scheme.
fn check_signature(
    state: &AppState,
    secrets: &ChannelSecrets,
    url: &str,
    body: &[u8],
    headers: &HeaderMap,
) -> ApiResult<Option<String>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = state.clock.now();
    let refused = |why: signature::Refused| ApiError::unauthorized(&format!("MessageBird signature: {why}"));
    if let Some(token) = header(signature::JWT_HEADER) {
        let claims = signature::verify(&secrets.app_secret, url, body, Some(token), now).map_err(refused)?;
        // MessageBird names every request with a `jti`: a token without one could be replayed
        // within its life unnoticed, so it is refused.
        let Some(jti) = claims.jti.as_deref() else {
            return Err(ApiError::unauthorized("MessageBird signature: the token has no jti"));
        };
        if !state.seen_webhook_tokens.first_time(jti, claims.exp, now) {
            return Err(ApiError::unauthorized("MessageBird signature: this token was used already (a replay)"));
        }
        return Ok(Some(jti.to_owned()));
    }
    let (signed, timestamp) = (header(signature::HMAC_HEADER), header(signature::TIMESTAMP_HEADER));
    let bird = signature::verify_hmac(&secrets.app_secret, HmacScheme::Bird, url, body, signed, timestamp, now);
    match bird {
        Ok(()) => Ok(None),
        Err(signature::Refused::Mismatch) => {
            signature::verify_hmac(&secrets.app_secret, HmacScheme::Legacy, url, body, signed, timestamp, now)
                .map(|()| None)
                .map_err(refused)
        }
        Err(why) => Err(refused(why)),
    }
}

/// A fingerprint of a customer's metadata, to know a post repeats the last one applied.
fn fields_hash(fields: &[(String, Value)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (k, v) in fields {
        (k, v.to_string()).hash(&mut hasher);
    }
    hasher.finish()
}

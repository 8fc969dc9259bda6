//! MessageBird's WhatsApp channel, as far as Parley uses it, so tests and the demo need no
//! MessageBird account: the Conversations API's `POST /send` (`AccessKey` auth, MessageBird's
//! JSON errors, faults on demand), `POST /webhooks` (where a channel's posts go), statuses
//! (`sent`, then `delivered`) posted to each message's `reportUrl`, received files behind the
//! key, the Integrations API's template list, and customers writing through a channel —
//! `message.created` posts with the channel's contact metadata, signed with
//! `MessageBird-Signature-JWT` (a fresh token, with its own `jti`, on every attempt).
//!
//! - `POST /messagebird/send`, `POST /messagebird/webhooks`, `GET /messagebird/media/{id}`
//! - `GET /messagebird/integrations/v2/platforms/whatsapp/templates`
//! - [`Sandbox::add_messagebird_channel`](crate::Sandbox::add_messagebird_channel),
//!   [`Sandbox::messagebird_say`](crate::Sandbox::messagebird_say),
//!   [`Sandbox::messagebird_fail_next`](crate::Sandbox::messagebird_fail_next),
//!   [`Sandbox::messagebird_sent`](crate::Sandbox::messagebird_sent): the test's side

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::Inner;
use crate::customer::Customer;
use crate::emitter::{Delivery, Signing};

/// A WhatsApp channel on a MessageBird account.
#[derive(Clone, Debug)]
pub struct MessageBirdChannel {
    /// The channel's id (32 hex digits).
    pub channel_id: String,
    pub access_key: String,
    /// The key webhooks are signed with.
    pub signing_key: String,
    /// The channel's WhatsApp number, digits.
    pub number: String,
    pub waba_id: String,
    /// The account's template namespace.
    pub namespace: String,
}

/// A message sent through the sandbox's MessageBird: its id and the body it came with.
#[derive(Clone, Debug)]
pub struct MessageBirdSent {
    /// When the send arrived.
    pub at: std::time::Instant,
    pub id: String,
    pub body: Value,
}

#[derive(Default)]
pub(crate) struct FakeMessageBird {
    channels: Vec<MessageBirdChannel>,
    /// Channel id → where its posts go (`POST /webhooks`).
    hooks: HashMap<String, String>,
    sent: Vec<MessageBirdSent>,
    /// (HTTP status, error code) the next sends answer with, in order.
    faults: VecDeque<(u16, i64)>,
    /// Templates as the Integrations API lists them.
    templates: Vec<Value>,
}

pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route("/messagebird/send", post(send))
        .route("/messagebird/webhooks", post(set_webhook))
        .route("/messagebird/media/{id}", get(media))
        .route("/messagebird/integrations/v2/platforms/whatsapp/templates", get(templates))
}

fn error(status: StatusCode, code: i64, description: &str, parameter: Option<&str>) -> Response {
    (status, Json(json!({"errors": [{"code": code, "description": description, "parameter": parameter}]})))
        .into_response()
}

impl Inner {
    /// The channels of the account whose access key the request carries.
    fn messagebird_account(&self, headers: &HeaderMap) -> Option<Vec<MessageBirdChannel>> {
        let key = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("AccessKey ")?.trim().to_owned();
        let fake = self.messagebird.lock().expect("messagebird");
        let channels: Vec<MessageBirdChannel> = fake.channels.iter().filter(|c| c.access_key == key).cloned().collect();
        (!channels.is_empty()).then_some(channels)
    }

    fn messagebird_id(&self) -> String {
        format!(
            "{:032x}",
            u128::from(self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) << 64
                | u128::from(rand::random::<u64>())
        )
    }

    /// Queues a signed post of `body` to `url`.
    fn messagebird_post(&self, url: &str, signing_key: &str, body: &Value, item: &str) {
        let delivery = Delivery {
            url: url.to_owned(),
            signing: Signing::MessageBird {
                signing_key: signing_key.to_owned(),
                issued_at: self.clock.now().as_secs(),
            },
            body: body.to_string().into_bytes(),
            item_ids: vec![item.to_owned()],
            forge: false,
        };
        self.emitter.enqueue(vec![delivery], Duration::ZERO);
    }
}

async fn send(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(account) = inner.messagebird_account(&headers) else {
        return error(StatusCode::UNAUTHORIZED, 2, "Request not allowed (incorrect access_key)", None);
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, 21, "Bad request (the body is not JSON)", None);
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(channel) = account.iter().find(|c| c.channel_id == text("from")).cloned() else {
        return error(StatusCode::BAD_REQUEST, 21, "Channel not found", Some("from"));
    };
    let to = text("to");
    if !to.strip_prefix('+').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 21, "Invalid recipient", Some("to"));
    }
    let kind = text("type");
    if !["text", "image", "audio", "video", "file", "location", "hsm"].contains(&kind.as_str()) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 21, "Unsupported message type", Some("type"));
    }
    let mut fake = inner.messagebird.lock().expect("messagebird");
    if kind == "hsm" {
        let hsm = body.pointer("/content/hsm");
        let field = |k: &str| hsm.and_then(|h| h.get(k)).and_then(Value::as_str).unwrap_or_default().to_owned();
        let known = fake.templates.iter().any(|t| {
            t["name"] == field("templateName").as_str()
                && t["namespace"] == field("namespace").as_str()
                && t["status"] == "APPROVED"
        });
        if !known {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                21,
                "No approved template with this name and namespace",
                Some("content.hsm"),
            );
        }
    }
    if let Some((status, code)) = fake.faults.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return error(status, code, "The sandbox's MessageBird refused this message, as asked", None);
    }
    let id = inner.messagebird_id();
    fake.sent.push(MessageBirdSent { at: std::time::Instant::now(), id: id.clone(), body: body.clone() });
    let report_url = body
        .get("reportUrl")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| fake.hooks.get(&channel.channel_id).cloned());
    drop(fake);
    if let Some(url) = report_url {
        let now = inner.clock.now().to_rfc3339();
        for status in ["sent", "delivered"] {
            let update = json!({"type": "message.updated", "message": {"id": id, "channelId": channel.channel_id,
                "platform": "whatsapp", "from": channel.channel_id, "to": to, "direction": "sent", "status": status,
                "type": kind, "content": body.get("content"), "createdDatetime": now, "updatedDatetime": now}});
            inner.messagebird_post(&url, &channel.signing_key, &update, &format!("{id}:{status}"));
        }
    }
    (StatusCode::ACCEPTED, Json(json!({"id": id, "status": "accepted", "fallback": null}))).into_response()
}

/// `POST /webhooks {channelId, events, url}`.
async fn set_webhook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(account) = inner.messagebird_account(&headers) else {
        return error(StatusCode::UNAUTHORIZED, 2, "Request not allowed (incorrect access_key)", None);
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let channel_id = body.get("channelId").and_then(Value::as_str).unwrap_or_default();
    let Some(url) = body.get("url").and_then(Value::as_str).filter(|u| u.starts_with("http")) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 21, "url is required", Some("url"));
    };
    if !account.iter().any(|c| c.channel_id == channel_id) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 21, "Channel not found", Some("channelId"));
    }
    inner.messagebird.lock().expect("messagebird").hooks.insert(channel_id.to_owned(), url.to_owned());
    let id = inner.messagebird_id();
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "channelId": channel_id, "url": url, "events": body.get("events"),
        "status": "enabled"})),
    )
        .into_response()
}

async fn media(State(inner): State<Arc<Inner>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if inner.messagebird_account(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, 2, "Request not allowed (incorrect access_key)", None);
    }
    match inner.media.lock().expect("media").get(&id).cloned() {
        Some(file) => ([(header::CONTENT_TYPE, file.mime_type)], file.bytes).into_response(),
        None => error(StatusCode::NOT_FOUND, 20, "Media not found", None),
    }
}

async fn templates(
    State(inner): State<Arc<Inner>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(account) = inner.messagebird_account(&headers) else {
        return error(StatusCode::UNAUTHORIZED, 2, "Request not allowed (incorrect access_key)", None);
    };
    let number = |name: &str, default: usize| params.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (limit, offset) = (number("limit", 10), number("offset", 0));
    let fake = inner.messagebird.lock().expect("messagebird");
    let page: Vec<Value> = fake
        .templates
        .iter()
        .filter(|t| account.iter().any(|c| t["wabaId"] == c.waba_id.as_str()))
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Json(Value::Array(page)).into_response()
}

impl crate::Sandbox {
    /// A MessageBird WhatsApp channel: sends from it are accepted with its access key.
    pub fn add_messagebird_channel(&self, channel: MessageBirdChannel) {
        let mut fake = self.inner.messagebird.lock().expect("messagebird");
        fake.channels.retain(|c| c.channel_id != channel.channel_id);
        fake.channels.push(channel);
    }

    /// MessageBird's API base for a MessageBird channel's base URL.
    pub fn messagebird_api_base(&self) -> String {
        format!("{}/messagebird", self.inner.base_url)
    }

    /// Sets where the channel's posts go, as `POST /webhooks` does (for the demo, which connects
    /// its numbers without going through the API).
    pub fn set_messagebird_webhook(&self, channel_id: &str, url: &str) {
        self.inner.messagebird.lock().expect("messagebird").hooks.insert(channel_id.to_owned(), url.to_owned());
    }

    /// Where the channel's posts go, once set with `POST /webhooks`.
    pub fn messagebird_webhook(&self, channel_id: &str) -> Option<String> {
        self.inner.messagebird.lock().expect("messagebird").hooks.get(channel_id).cloned()
    }

    /// `customer` writes `text` through the channel: a signed `message.created` post with the
    /// contact's metadata (`attributes`), retried until answered 2xx. Answers the message id.
    pub fn messagebird_say(&self, channel_id: &str, customer: &Customer, text: &str, attributes: Value) -> String {
        self.messagebird_inbound(channel_id, customer, "text", json!({"text": text}), attributes)
    }

    /// `customer` sends a file (with `caption`) through the channel; its `url` points at the
    /// sandbox, behind the access key.
    pub fn messagebird_say_media(
        &self,
        channel_id: &str,
        customer: &Customer,
        bytes: Vec<u8>,
        mime: &str,
        caption: &str,
    ) -> String {
        let media = self.inner.add_media(bytes, mime);
        let url = format!("{}/messagebird/media/{media}", self.inner.base_url);
        self.messagebird_inbound(
            channel_id,
            customer,
            "image",
            json!({"image": {"url": url, "caption": caption}}),
            json!({}),
        )
    }

    fn messagebird_inbound(
        &self,
        channel_id: &str,
        customer: &Customer,
        kind: &str,
        content: Value,
        attributes: Value,
    ) -> String {
        let fake = self.inner.messagebird.lock().expect("messagebird");
        let channel = fake
            .channels
            .iter()
            .find(|c| c.channel_id == channel_id)
            .cloned()
            .expect("a MessageBird channel added first");
        let url = fake.hooks.get(channel_id).cloned().expect("the channel's webhook set first");
        drop(fake);
        let wa_id = customer.wa_id.clone().expect("a customer with a WhatsApp number");
        let id = self.inner.messagebird_id();
        let now = self.inner.clock.now().to_rfc3339();
        let msisdn: i64 = wa_id.parse().unwrap_or_default();
        let name = customer.name.clone().unwrap_or_default();
        let first = name.split_whitespace().next().unwrap_or_default().to_owned();
        let hook = json!({"type": "message.created",
            "contact": {"id": format!("c{wa_id}"), "href": "", "msisdn": msisdn, "displayName": name, "firstName": first,
                "lastName": "", "customDetails": {}, "attributes": attributes, "createdDatetime": now},
            "conversation": {"id": format!("conv{wa_id}"), "contactId": format!("c{wa_id}"), "status": "active"},
            "message": {"id": id, "conversationId": format!("conv{wa_id}"), "platform": "whatsapp", "to": format!("+{}", channel.number),
                "from": format!("+{wa_id}"), "channelId": channel.channel_id, "type": kind, "content": content,
                "direction": "received", "status": "received", "createdDatetime": now, "updatedDatetime": now}});
        self.inner.messagebird_post(&url, &channel.signing_key, &hook, &id);
        id
    }

    /// The next sends are refused with these (HTTP status, error code), in order.
    pub fn messagebird_fail_next(&self, faults: &[(u16, i64)]) {
        self.inner.messagebird.lock().expect("messagebird").faults.extend(faults.iter().copied());
    }

    /// A WhatsApp template of the channel's account as MessageBird lists it (`APPROVED`,
    /// `PENDING`, `REJECTED`, …), in the account's namespace.
    pub fn add_messagebird_template(&self, channel_id: &str, name: &str, language: &str, body: &str, status: &str) {
        let mut fake = self.inner.messagebird.lock().expect("messagebird");
        let channel = fake
            .channels
            .iter()
            .find(|c| c.channel_id == channel_id)
            .cloned()
            .expect("a MessageBird channel added first");
        fake.templates.push(json!({"name": name, "language": language, "category": "UTILITY", "status": status,
            "namespace": channel.namespace, "wabaId": channel.waba_id, "components": [{"type": "BODY", "text": body}]}));
    }

    /// What was sent through the sandbox's MessageBird, oldest first.
    pub fn messagebird_sent(&self) -> Vec<MessageBirdSent> {
        self.inner.messagebird.lock().expect("messagebird").sent.clone()
    }
}

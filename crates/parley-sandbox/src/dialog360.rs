//! 360dialog's proxy of the Cloud API, as far as Parley uses it, so tests and the demo need no
//! 360dialog account. A number "behind 360dialog" is an ordinary sandbox number (its sends,
//! statuses, customers, templates and faults are the Graph API's) reached with its
//! `D360-API-KEY` under `/360dialog`, with the number id left out of the paths:
//!
//! - `POST /360dialog/messages`, `POST /360dialog/media`, `GET /360dialog/{media id}`
//! - `GET /360dialog/whatsapp_business/attachments/?mid=…`: a file, through 360dialog's host
//!   (the media info answers a Meta-like `…/whatsapp_business/attachments/?mid=…` URL on the
//!   sandbox's own host; the client must move it to 360dialog's)
//! - `GET|POST /360dialog/v1/configs/templates`, `DELETE /360dialog/v1/configs/templates/{name}`
//! - `POST /360dialog/v1/configs/webhook {url, headers}`: where the number's webhooks go, with
//!   those headers. Until it is called they go nowhere, as at 360dialog.
//!
//! [`Sandbox::add_360dialog_number`](crate::Sandbox::add_360dialog_number) registers a number;
//! [`Sandbox::dialog360_webhook`](crate::Sandbox::dialog360_webhook) tells where it posts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use crate::emitter::Signing;
use crate::{Inner, Number, Sandbox};

/// Where a number's webhooks go, as `/v1/configs/webhook` set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog360Webhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Default)]
pub(crate) struct FakeDialog360 {
    /// API key → phone number id.
    keys: HashMap<String, String>,
    /// Phone number id → its webhook (`None`: registered with 360dialog, no webhook set yet).
    hooks: HashMap<String, Option<Dialog360Webhook>>,
    /// The partner's secret, when 360dialog signs webhooks for it.
    partner_secret: Option<String>,
}

pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route("/360dialog/messages", post(send))
        .route("/360dialog/media", post(upload))
        .route("/360dialog/whatsapp_business/attachments/", get(attachment))
        .route("/360dialog/v1/configs/templates", get(list_templates).post(create_template))
        .route("/360dialog/v1/configs/templates/{name}", delete(delete_template))
        .route("/360dialog/v1/configs/webhook", post(set_webhook).get(get_webhook))
        .route("/360dialog/{media_id}", get(media_info))
}

/// 360dialog's own refusal of a key (not a Graph error).
fn invalid_key() -> Response {
    let body = json!({"meta": {"success": false, "http_code": 401, "developer_message": "Invalid api key",
        "360dialog_trace_id": "SANDBOX"}});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

impl Inner {
    /// The number whose API key the request carries.
    fn dialog360_number(&self, headers: &HeaderMap) -> Option<Number> {
        let key = headers.get(parley_providers::dialog360::API_KEY_HEADER)?.to_str().ok()?;
        let pnid = self.dialog360.lock().expect("360dialog").keys.get(key).cloned()?;
        self.numbers.lock().expect("numbers").get(&pnid).cloned()
    }

    /// Where and how a post for this number goes: `None` for a number not behind 360dialog;
    /// `Some(None)` for one whose webhook is not set (nothing is posted).
    pub(crate) fn dialog360_hook(&self, phone_number_id: &str) -> Option<Option<(String, Signing)>> {
        let fake = self.dialog360.lock().expect("360dialog");
        let hook = fake.hooks.get(phone_number_id)?;
        Some(hook.as_ref().map(|h| {
            let signing =
                Signing::Dialog360 { headers: h.headers.clone(), partner_secret: fake.partner_secret.clone() };
            (h.url.clone(), signing)
        }))
    }
}

async fn send(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(number) = inner.dialog360_number(&headers) else { return invalid_key() };
    crate::graph::send_from(&inner, &number.phone_number_id, &body).await
}

async fn upload(State(inner): State<Arc<Inner>>, headers: HeaderMap, form: axum::extract::Multipart) -> Response {
    if inner.dialog360_number(&headers).is_none() {
        return invalid_key();
    }
    crate::graph::upload_from(&inner, form).await
}

async fn media_info(State(inner): State<Arc<Inner>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if inner.dialog360_number(&headers).is_none() {
        return invalid_key();
    }
    // Meta's lookaside URL, on the sandbox's host (never Meta's: nothing leaves the machine).
    crate::graph::media_info_of(&inner, id, |token| {
        format!("{}/whatsapp_business/attachments/?mid={token}&ext=0&hash=SANDBOX", inner.base_url)
    })
}

async fn attachment(
    State(inner): State<Arc<Inner>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if inner.dialog360_number(&headers).is_none() {
        return invalid_key();
    }
    match params.get("mid") {
        Some(token) => crate::graph::download_of(&inner, token),
        None => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `GET /v1/configs/templates?limit=…&offset=…`: the account's templates, Meta's objects.
async fn list_templates(
    State(inner): State<Arc<Inner>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(number) = inner.dialog360_number(&headers) else { return invalid_key() };
    let number_param = |name: &str, default: usize| params.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (limit, offset) = (number_param("limit", 1000), number_param("offset", 0));
    let all: Vec<Value> = inner.templates.lock().expect("templates").of(&number.waba_id).map(|t| t.json()).collect();
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    Json(json!({"count": page.len(), "filters": {}, "limit": limit, "offset": offset, "sort": ["id"],
        "total": total, "waba_templates": page}))
    .into_response()
}

/// `POST /v1/configs/templates`: Meta's body and answer; the review runs as for Meta's API.
async fn create_template(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(number) = inner.dialog360_number(&headers) else { return invalid_key() };
    crate::template_api::create_in(&inner, &number.waba_id, &body)
}

/// `DELETE /v1/configs/templates/{name}`: every language of the name.
async fn delete_template(State(inner): State<Arc<Inner>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(number) = inner.dialog360_number(&headers) else { return invalid_key() };
    let now = inner.clock.now().as_secs();
    let deleted = inner.templates.lock().expect("templates").delete(&number.waba_id, &name, None, now);
    match deleted {
        Ok(items) => {
            inner.emit(items);
            Json(json!({"meta": {"success": true, "http_code": 200}})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/configs/webhook {url, headers}`.
async fn set_webhook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(number) = inner.dialog360_number(&headers) else { return invalid_key() };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return StatusCode::BAD_REQUEST.into_response() };
    let Some(url) = body.get("url").and_then(Value::as_str).filter(|u| u.starts_with("http")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let hook_headers: Vec<(String, String)> = body
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let hook = Dialog360Webhook { url: url.to_owned(), headers: hook_headers };
    inner.dialog360.lock().expect("360dialog").hooks.insert(number.phone_number_id, Some(hook));
    Json(json!({"url": url})).into_response()
}

async fn get_webhook(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let Some(number) = inner.dialog360_number(&headers) else { return invalid_key() };
    let fake = inner.dialog360.lock().expect("360dialog");
    match fake.hooks.get(&number.phone_number_id).cloned().flatten() {
        Some(hook) => Json(json!({"url": hook.url})).into_response(),
        None => Json(json!({})).into_response(),
    }
}

impl Sandbox {
    /// Registers a number behind 360dialog, reached with `api_key`. Its `webhook_url` and
    /// `app_secret` are not used: its webhooks go where `/v1/configs/webhook` says.
    pub fn add_360dialog_number(&self, number: Number, api_key: &str) {
        let pnid = number.phone_number_id.clone();
        self.inner.add_number(number);
        let mut fake = self.inner.dialog360.lock().expect("360dialog");
        fake.keys.insert(api_key.to_owned(), pnid.clone());
        fake.hooks.entry(pnid).or_insert(None);
    }

    /// Where 360dialog posts this number's webhooks, once set.
    pub fn dialog360_webhook(&self, phone_number_id: &str) -> Option<Dialog360Webhook> {
        self.inner.dialog360.lock().expect("360dialog").hooks.get(phone_number_id).cloned().flatten()
    }

    /// Makes 360dialog sign every webhook with this partner secret (`x-360dialog-signature`).
    pub fn set_360dialog_partner_secret(&self, secret: Option<&str>) {
        self.inner.dialog360.lock().expect("360dialog").partner_secret = secret.map(str::to_owned);
    }

    /// The base URL of the sandbox's 360dialog (a 360dialog channel's `graph_base_url`).
    pub fn dialog360_api_base(&self) -> String {
        format!("http://{}/360dialog", self.addr)
    }
}

//! HTTP: the Graph API router (sends, media, templates, the number node, the business profile)
//! and the part of the control API that tests, the demo and people (`parley sandbox`) use to
//! register numbers and make customers write; the rest of it is in `control.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Batching, Customer, Inner, Item, Number, Say};

/// Media URLs expire like Meta's: after five minutes.
const URL_TTL_SECS: i64 = 300;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/media-download/{token}", get(download))
        .route("/sandbox/numbers", post(add_number))
        .route("/sandbox/say", post(say))
        .route("/sandbox/media", post(upload))
        .route("/sandbox/stats", get(stats))
        .merge(crate::control::routes())
        .merge(crate::dialogflow::routes())
        .merge(crate::stripe::routes())
        .merge(crate::twilio::routes())
        .merge(crate::dialog360::routes())
        .merge(crate::messagebird::routes())
        .route("/{version}/{id}", get(get_object).post(crate::template_api::edit))
        .route("/{version}/{id}/messages", post(send))
        .route("/{version}/{id}/media", post(upload_media))
        .route("/{version}/{id}/uploads", post(crate::resumable::open))
        .route(
            "/{version}/{id}/message_templates",
            get(crate::template_api::list).post(crate::template_api::create).delete(crate::template_api::delete),
        )
        .route("/{version}/{id}/unpause", post(crate::template_api::unpause))
        .route("/{version}/{id}/pricing_analytics", get(crate::analytics::pricing_analytics))
        .route(
            "/{version}/{id}/whatsapp_business_profile",
            get(crate::profile::get_profile).post(crate::profile::set_profile),
        )
        .with_state(inner)
}

/// A Graph API error (spec §4.3): `{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}`.
#[derive(Debug)]
pub(crate) struct GraphError {
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: String,
}

impl GraphError {
    /// A 400 with this code.
    pub(crate) fn bad(code: i64, message: impl Into<String>) -> Self {
        GraphError { status: StatusCode::BAD_REQUEST, code, subcode: None, message: message.into() }
    }

    /// Meta's catch-all for bad parameters: 400, code 100.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        GraphError::bad(100, message)
    }

    pub(crate) fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    pub(crate) fn unauthorized() -> Self {
        GraphError { status: StatusCode::UNAUTHORIZED, ..GraphError::bad(190, "Invalid OAuth access token") }
    }

    /// What Meta answers for an id it does not know.
    pub(crate) fn no_object() -> Self {
        GraphError::invalid("Unsupported request. Object does not exist or cannot be loaded")
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut error = json!({"message": format!("(#{}) {}", self.code, self.message), "type": "OAuthException",
            "code": self.code, "fbtrace_id": "SANDBOX"});
        if let Some(sub) = self.subcode {
            error["error_subcode"] = json!(sub);
        }
        (self.status, Json(json!({"error": error}))).into_response()
    }
}

/// A Graph API error body (spec §4.3).
fn graph_error(status: StatusCode, code: i64, title: &str) -> Response {
    GraphError { status, code, subcode: None, message: title.to_owned() }.into_response()
}

/// Keeps `id` and the asked `fields` (`?fields=a,b`) of a Graph object; all of it without.
pub(crate) fn select_fields(object: Value, params: &HashMap<String, String>) -> Value {
    let Some(fields) = params.get("fields") else { return object };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
    match object {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(k, _)| k == "id" || wanted.contains(&k.as_str())).collect())
        }
        other => other,
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// The number whose token this is, if it is `phone_number_id`'s.
pub(crate) fn number_token_ok(inner: &Inner, headers: &HeaderMap, phone_number_id: &str) -> bool {
    let Some(token) = bearer(headers) else { return false };
    inner.numbers.lock().expect("numbers").get(phone_number_id).is_some_and(|n| n.access_token == token)
}

/// `POST /<version>/<phone number id>/messages`.
async fn send(
    State(inner): State<Arc<Inner>>,
    Path((_version, pnid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !number_token_ok(&inner, &headers, &pnid) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    send_from(&inner, &pnid, &body).await
}

/// A send (or a read receipt) from the number, answered as Meta answers it, after the number's
/// latency (the caller checked who asks).
pub(crate) async fn send_from(inner: &Arc<Inner>, pnid: &str, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter: the body is not JSON");
    };
    let answer = inner.handle_send(pnid, &body);
    let latency = inner.send_latency(pnid);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match answer {
        crate::business::Answer::Reply(status, json, retry_after) => {
            let mut resp =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), Json(json)).into_response();
            if let Some(secs) = retry_after
                && let Ok(v) = secs.to_string().parse()
            {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        crate::business::Answer::Hang => {
            // Never answer: the client times out (and does not know whether it was sent).
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

/// `POST /<version>/<phone number id>/media`: a multipart upload; answers the media id.
async fn upload_media(
    State(inner): State<Arc<Inner>>,
    Path((_version, pnid)): Path<(String, String)>,
    headers: HeaderMap,
    form: axum::extract::Multipart,
) -> Response {
    if !number_token_ok(&inner, &headers, &pnid) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    upload_from(&inner, form).await
}

/// A multipart upload's file, kept; answers its media id (the caller checked who asks).
pub(crate) async fn upload_from(inner: &Inner, mut form: axum::extract::Multipart) -> Response {
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("file") {
            let mime = field.content_type().unwrap_or("application/octet-stream").to_owned();
            let Ok(bytes) = field.bytes().await else { break };
            let id = inner.add_media(bytes.to_vec(), &mime);
            return Json(json!({"id": id})).into_response();
        }
    }
    graph_error(StatusCode::BAD_REQUEST, 131008, "Required parameter is missing: file")
}

pub(crate) fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let Some(token) = bearer(headers) else { return false };
    inner.numbers.lock().expect("numbers").values().any(|n| n.access_token == token)
}

/// `GET /<version>/<id>`: Meta serves every object under one path, so this looks at what `id`
/// is — a template, a registered phone number, else a media file.
async fn get_object(
    State(inner): State<Arc<Inner>>,
    Path((_version, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = crate::template_api::get_template(&inner, &id, &headers, &params) {
        return answer;
    }
    if inner.numbers.lock().expect("numbers").contains_key(&id) {
        if !number_token_ok(&inner, &headers, &id) {
            return GraphError::unauthorized().into_response();
        }
        return match inner.number_node(&id) {
            Some(node) => Json(select_fields(node, &params)).into_response(),
            None => GraphError::no_object().into_response(),
        };
    }
    media_info(&inner, id, &headers)
}

/// A media file's info, with a fresh download URL.
fn media_info(inner: &Inner, id: String, headers: &HeaderMap) -> Response {
    if !authorized(inner, headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    media_info_of(inner, id, |token| format!("{}/media-download/{token}", inner.base_url))
}

/// A media file's info with a fresh download URL, `url(token)` (the caller checked who asks).
pub(crate) fn media_info_of(inner: &Inner, id: String, url: impl Fn(&str) -> String) -> Response {
    let Some(media) = inner.media.lock().expect("media").get(&id).cloned() else {
        return graph_error(StatusCode::NOT_FOUND, 100, "Unsupported get request. Object does not exist");
    };
    let token = format!("{:032x}", rand::random::<u128>());
    let expires = inner.clock.now().as_secs() + URL_TTL_SECS;
    inner.urls.lock().expect("urls").insert(token.clone(), (id.clone(), expires));
    Json(json!({
        "messaging_product": "whatsapp",
        "url": url(&token),
        "mime_type": media.mime_type,
        "sha256": base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&media.bytes)),
        "file_size": media.bytes.len().to_string(),
        "id": id,
    }))
    .into_response()
}

/// `GET <media url>`: the bytes, while the URL has not expired.
async fn download(State(inner): State<Arc<Inner>>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    if !authorized(&inner, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    download_of(&inner, &token)
}

/// The bytes behind a download token, while it has not expired (the caller checked who asks).
pub(crate) fn download_of(inner: &Inner, token: &str) -> Response {
    let Some((id, expires)) = inner.urls.lock().expect("urls").get(token).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if inner.clock.now().as_secs() > expires {
        return StatusCode::NOT_FOUND.into_response();
    }
    {
        let mut failures = inner.media_failures.lock().expect("failures");
        if let Some(left) = failures.get_mut(&id).filter(|n| **n > 0) {
            *left -= 1;
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let Some(media) = inner.media.lock().expect("media").get(&id).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response()
}

async fn add_number(State(inner): State<Arc<Inner>>, Json(number): Json<Number>) -> StatusCode {
    inner.add_number(number);
    StatusCode::CREATED
}

#[derive(Deserialize)]
struct CustomerInput {
    wa_id: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct SayInput {
    phone_number_id: String,
    customer: CustomerInput,
    /// A message object without `id`, `from` and `timestamp`: `{"type": "text", "text": {"body": "hi"}}`.
    message: Value,
    #[serde(default)]
    duplicate: bool,
}

/// `POST /sandbox/say`: the customer sends `message` now.
async fn say(State(inner): State<Arc<Inner>>, Json(input): Json<SayInput>) -> Response {
    let Some(kind) = input.message.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "message.type is required"}))).into_response();
    };
    if !inner.numbers.lock().expect("numbers").contains_key(&input.phone_number_id) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "unknown phone_number_id"}))).into_response();
    }
    let customer = Customer {
        wa_id: input.customer.wa_id,
        bsuid: input.customer.user_id,
        name: input.customer.name,
        username: input.customer.username,
    };
    let say = Say {
        body: input.message.get(&kind).cloned().unwrap_or(Value::Null),
        context: input.message.get("context").cloned(),
        referral: input.message.get("referral").cloned(),
        errors: input.message.get("errors").cloned(),
        kind,
    };
    let id = inner.message_id();
    let item = Item::Message {
        phone_number_id: input.phone_number_id,
        message: say.message_json(&customer, &id, inner.clock.now().as_secs()),
        customer,
    };
    let batching = Batching { duplicate: input.duplicate, ..Batching::default() };
    let mut deliveries = inner.build(&[item], 1, false);
    if batching.duplicate {
        deliveries = deliveries.into_iter().flat_map(|d| [d.clone(), d]).collect();
    }
    inner.emitter.enqueue(deliveries, batching.delay);
    (StatusCode::ACCEPTED, Json(json!({"id": id}))).into_response()
}

/// `POST /sandbox/media`: stores the body as a file customers can send.
async fn upload(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let id = inner.add_media(body.to_vec(), &mime);
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn stats(State(inner): State<Arc<Inner>>) -> Json<Value> {
    let s = inner.emitter.stats();
    Json(json!({"posts": s.posts, "acked": s.acked, "refused": s.refused, "errors": s.errors, "given_up": s.given_up,
        "pending": inner.emitter.pending()}))
}

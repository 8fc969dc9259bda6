//! The Cloud-API-compatible endpoint: apps written against Meta's Graph API (pywa,
//! whatsapp-api-js, heyoo, plain curl) send through Parley by changing their base URL to
//! `{parley}/graph` and their token to a Parley API token. Sends go through the same actions as
//! `POST /api/v1/messages` (WhatsApp's rules, the outbox, the inbox); answers and refusals are
//! in Meta's shapes (see [`meta_error`] for how Parley's codes map to Meta's). Webhooks come back
//! in Meta's shape through a `meta` webhook subscription (`workers/outgoing.rs`).
//!
//! - `POST /graph/{version}/{phone_number_id}/messages`: a send, `status: read` (with an
//!   optional typing indicator). The answer's message id (`wamid.parley.<id>`) is the id the
//!   forwarded statuses carry.
//! - `POST /graph/{version}/{phone_number_id}/media` (multipart `file`, `type`) and
//!   `GET /graph/{version}/{media_id}` (an upload, or a customer's file once fetched), whose
//!   `url` downloads the file with the same token.
//! - `GET /graph/{version}/{waba_id}/message_templates`.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parley_core::channel::Channel;
use parley_core::contact::{ContactInput, ContactRef, NewContact};
use parley_core::conversation::MediaState;
use parley_core::ids::MessageId;
use parley_core::outbound::SendInput;
use parley_providers::meta::forward::{compat_message_id, parse_compat_media_id, parse_compat_message_id};
use parley_store::{SendOutcome, StoreError, Upload};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::actions::messages::{NewMedia, Send, refusal_error};
use crate::actions::{self, live_channel};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::routes::messages::UPLOAD_LIMIT;
use crate::state::AppState;
use crate::workers::media::media_path;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/graph/{version}/{node}/messages", post(messages))
        .route("/graph/{version}/{node}/media", post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .route("/graph/{version}/{node}/message_templates", get(templates))
        .route("/graph/{version}/{node}", get(media_info))
        .route("/graph/media-files/{media_id}", get(download))
}

/// An error in Meta's shape: `{"error": {"message", "type", "code", "error_subcode",
/// "error_data": {"messaging_product", "details"}, "fbtrace_id"}}`. `details` keeps Parley's
/// own code and words.
#[derive(Debug)]
pub struct GraphError {
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: String,
    details: String,
}

/// Meta's code (and subcode) and HTTP status for a Parley error code. Parley-only rules map to
/// the nearest code of Meta's a client already handles.
pub fn meta_error(parley_code: &str) -> (i64, Option<i64>, StatusCode) {
    let bad = StatusCode::BAD_REQUEST;
    match parley_code {
        "window_closed" => (131047, None, bad),
        "template_not_approved" => (132001, None, StatusCode::NOT_FOUND),
        "template_paused" => (132015, None, bad),
        "template_params_mismatch" => (132000, None, bad),
        "marketing_opt_out" => (131050, None, bad),
        "us_marketing_blocked" => (130497, None, StatusCode::FORBIDDEN),
        "limit_reached" | "upload_rate_limited" | "upload_quota_exceeded" => (130429, None, bad),
        "channel_disabled" => (131031, None, StatusCode::FORBIDDEN),
        "no_opt_in" => (131005, None, StatusCode::FORBIDDEN),
        "blocked_contact" | "identity_changed" | "no_phone" => (131026, None, bad),
        "unauthorized" => (190, None, StatusCode::UNAUTHORIZED),
        "forbidden" | "csrf_failed" => (10, None, StatusCode::FORBIDDEN),
        "not_found" => (100, Some(33), bad),
        "payload_too_large" => (131053, None, StatusCode::PAYLOAD_TOO_LARGE),
        "provider_error" | "provider_unavailable" => (131016, None, StatusCode::SERVICE_UNAVAILABLE),
        "internal" => (131000, None, StatusCode::INTERNAL_SERVER_ERROR),
        // invalid_request, invalid_message, invalid_phone, url_not_allowed, …
        _ => (100, None, bad),
    }
}

impl From<ApiError> for GraphError {
    fn from(e: ApiError) -> GraphError {
        let (code, subcode, status) = meta_error(e.code);
        let message = match code {
            131047 => "Re-engagement message",
            132001 => "Template name does not exist in the translation",
            132000 => "Number of parameters does not match the expected number of params",
            190 => "Invalid OAuth access token",
            100 if subcode == Some(33) => "Unsupported post request. Object does not exist or is not visible",
            100 => "Invalid parameter",
            131000 => "Something went wrong",
            _ => "Message failed to send",
        };
        let field = e.field.map(|f| format!(" ({f})")).unwrap_or_default();
        GraphError {
            status,
            code,
            subcode,
            message: message.into(),
            details: format!("{}{field} [parley: {}]", e.message, e.code),
        }
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> GraphError {
        ApiError::from(e).into()
    }
}

impl GraphError {
    fn invalid(details: impl Into<String>) -> GraphError {
        ApiError::bad_request(details).into()
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut error = json!({"message": format!("(#{}) {}", self.code, self.message), "type": "OAuthException",
            "code": self.code, "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": format!("parley-{:012x}", rand::random::<u64>() >> 16)});
        if let Some(sub) = self.subcode {
            error["error_subcode"] = json!(sub);
        }
        (self.status, Json(json!({"error": error}))).into_response()
    }
}

type GraphResult<T> = Result<T, GraphError>;

fn check_version(version: &str) -> GraphResult<()> {
    let ok =
        version.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if ok { Ok(()) } else { Err(GraphError::invalid(format!("unknown API version {version:?}: use v21.0 or later"))) }
}

/// The connected number with this phone number id that the caller may see.
async fn number(state: &AppState, auth: &Auth, phone_number_id: &str) -> GraphResult<Channel> {
    let found = state.store.channels(auth.workspace_id, auth.viewer()).await?;
    let channel = found.into_iter().find(|c| c.phone_number_id == phone_number_id).ok_or_else(ApiError::not_found)?;
    Ok(live_channel(state, &auth.actor(), channel.id).await?)
}

/// Who a send is for: `to` (a phone number; `to` wins when both are given, as at Meta) or
/// `recipient` (a BSUID, 2026). A number Parley does not know yet becomes a contact, as Meta
/// takes any WhatsApp number; a BSUID must be one Parley has seen. Answers the contact, what
/// the client gave, and the WhatsApp id to answer with.
async fn recipient(
    state: &AppState,
    auth: &Auth,
    body: &Value,
) -> GraphResult<(parley_core::ids::ContactId, String, Option<String>)> {
    let ws = auth.workspace_id;
    if let Some(raw) = body.get("to").and_then(Value::as_str) {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(ApiError::bad_request("to is a phone number with its country code").with_field("to").into());
        }
        if let Some(id) = state.store.contact_id_by_identity(ws, "wa_id", &digits).await? {
            return Ok((id, raw.to_owned(), Some(digits)));
        }
        let phone =
            ContactRef::parse(&format!("phone:+{digits}"), None).map_err(|e| ApiError::from(e).with_field("to"))?;
        let id = match state.store.contact(ws, &phone).await {
            Ok(c) => c.id,
            Err(StoreError::NotFound) => {
                let new = ContactInput { phone: Some(format!("+{digits}")), ..Default::default() };
                let contact = NewContact::from_input(new, None).map_err(|e| ApiError::from(e).with_field("to"))?;
                match state.store.create_contact(ws, contact, state.clock.now()).await {
                    Ok(c) => c.id,
                    // Made by a concurrent send meanwhile.
                    Err(StoreError::Conflict { .. }) => state.store.contact(ws, &phone).await?.id,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        return Ok((id, raw.to_owned(), Some(digits)));
    }
    let Some(bsuid) = body.get("recipient").and_then(Value::as_str) else {
        return Err(ApiError::bad_request("to (a phone number) or recipient (a BSUID) is required")
            .with_field("to")
            .into());
    };
    let id = state.store.contact_id_by_identity(ws, "bsuid", bsuid).await?.ok_or_else(|| {
        ApiError::bad_request("recipient is not a BSUID this workspace has seen").with_field("recipient")
    })?;
    Ok((id, bsuid.to_owned(), None))
}

/// The provider id of a message a client names: Meta's, or Parley's compatible one.
async fn provider_id(state: &AppState, auth: &Auth, id: &str) -> GraphResult<String> {
    match parse_compat_message_id(id) {
        Some(n) => Ok(state
            .store
            .message(auth.workspace_id, MessageId(n), auth.viewer())
            .await?
            .provider_message_id
            .ok_or_else(|| {
            ApiError::bad_request("that message has not left yet").with_field("context.message_id")
        })?),
        None => Ok(id.to_owned()),
    }
}

async fn messages(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((version, node)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> GraphResult<Json<Value>> {
    let auth = auth?;
    check_version(&version)?;
    let Json(body) = body.map_err(|e| GraphError::invalid(e.body_text()))?;
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err(GraphError::invalid("messaging_product must be \"whatsapp\""));
    }
    let channel = number(&state, &auth, &node).await?;
    if body.get("status").and_then(Value::as_str) == Some("read") {
        let id = body
            .get("message_id")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::invalid("message_id is required"))?;
        let found = state.store.message_id_by_provider_id(auth.workspace_id, channel.id, id).await?;
        let id = found.ok_or_else(|| ApiError::bad_request("message_id is not a message of this number"))?;
        let typing = body.pointer("/typing_indicator/type").and_then(Value::as_str) == Some("text");
        actions::messages::mark_read(&state, &auth.actor(), MessageId(id), typing).await?;
        return Ok(Json(json!({"success": true})));
    }
    let (to, input_id, wa_id) = recipient(&state, &auth, &body).await?;
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text");
    let mut input = json!({"channel_id": channel.id, "to": to.get().to_string(), "type": kind, kind: body.get(kind)});
    if let Some(reply_to) = body.pointer("/context/message_id").and_then(Value::as_str) {
        input["context"] = json!({"message_id": provider_id(&state, &auth, reply_to).await?});
    }
    let input: SendInput = serde_json::from_value(input).map_err(|e| GraphError::invalid(e.to_string()))?;
    let messages = input.messages().map_err(ApiError::from)?;
    let to = ContactRef::Id(to);
    let send = Send { channel: channel.id, to: &to, messages: &messages, idempotency_key: None, dry_run: false };
    let id = match actions::messages::send(&state, &auth.actor(), send).await? {
        SendOutcome::Queued(ms) | SendOutcome::Replayed(ms) => {
            ms.first().map(|m| m.id.get()).ok_or_else(ApiError::internal)?
        }
        SendOutcome::Refused { index, refusal } => return Err(refusal_error(&refusal, index).into()),
        SendOutcome::Allowed(_) => return Err(ApiError::internal().into()),
    };
    let mut sent = json!({"id": compat_message_id(id)});
    if kind == "template" {
        sent["message_status"] = json!("accepted");
    }
    // As Meta answers: the WhatsApp id for a send by phone, the BSUID for a send by BSUID.
    let mut contact = json!({"input": input_id});
    match wa_id {
        Some(w) => contact["wa_id"] = json!(w),
        None => contact["user_id"] = json!(input_id),
    }
    Ok(Json(json!({"messaging_product": "whatsapp", "contacts": [contact], "messages": [sent]})))
}

async fn upload(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((version, node)): Path<(String, String)>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> GraphResult<Json<Value>> {
    let auth = auth?;
    check_version(&version)?;
    let mut multipart = multipart.map_err(|e| GraphError::invalid(e.body_text()))?;
    let channel = number(&state, &auth, &node).await?;
    let (mut file, mut declared, mut filename, mut file_type) = (None, None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(|e| GraphError::invalid(e.body_text()))? {
        match field.name() {
            Some("file") => {
                filename = field.file_name().map(str::to_owned);
                file_type = field.content_type().map(str::to_owned);
                file = Some(field.bytes().await.map_err(|e| GraphError::invalid(e.body_text()))?);
            }
            Some("type") => declared = Some(field.text().await.map_err(|e| GraphError::invalid(e.body_text()))?),
            _ => {}
        }
    }
    let file = file.ok_or_else(|| GraphError::invalid("the file field is required"))?;
    let mime = declared.or(file_type).unwrap_or_default();
    let media = NewMedia { channel: channel.id, body: &file, mime: &mime, filename };
    let stored = actions::messages::upload_media(&state, &auth.actor(), media).await?;
    Ok(Json(json!({"id": stored.provider_media_id})))
}

/// A file the compatible endpoint serves; `id` names it in the attachment's fallback name.
struct GraphFile {
    id: i64,
    provider_media_id: String,
    sha256: String,
    mime_type: String,
    size: i64,
    filename: Option<String>,
}

/// A file by the media id a Cloud API client holds: an upload's, a customer's file fetched
/// from Meta (its Meta id), or the compatible id of a file another provider delivered
/// (`parley-media-<message id>`, in forwarded Twilio and MessageBird messages).
async fn file_by_media_id(state: &AppState, auth: &Auth, media_id: &str) -> Result<GraphFile, ApiError> {
    let Some(message) = parse_compat_media_id(media_id) else {
        let upload: Upload = state.store.upload_by_provider_id(auth.workspace_id, auth.viewer(), media_id).await?;
        return Ok(GraphFile {
            id: upload.id,
            provider_media_id: upload.provider_media_id,
            sha256: upload.sha256,
            mime_type: upload.mime_type,
            size: upload.size,
            filename: upload.filename,
        });
    };
    let message = MessageId(message);
    let file = state.store.media_file(auth.workspace_id, message, auth.viewer()).await?;
    let sha256 = file.sha256.filter(|_| file.state == MediaState::Available).ok_or(StoreError::NotFound)?;
    let filename = match state.store.message(auth.workspace_id, message, auth.viewer()).await?.content.media() {
        Some(media) => media.filename.clone(),
        None => None,
    };
    Ok(GraphFile {
        id: message.get(),
        provider_media_id: media_id.to_owned(),
        sha256,
        mime_type: file.mime_type.unwrap_or_else(|| "application/octet-stream".into()),
        size: file.size.unwrap_or(0),
        filename,
    })
}

async fn media_info(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((version, node)): Path<(String, String)>,
    headers: HeaderMap,
) -> GraphResult<Json<Value>> {
    let auth = auth?;
    check_version(&version)?;
    let upload = file_by_media_id(&state, &auth, &node).await?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    let sha = hex::decode(&upload.sha256).ok().map(|b| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    });
    Ok(Json(json!({"messaging_product": "whatsapp", "id": upload.provider_media_id, "mime_type": upload.mime_type,
        "sha256": sha, "file_size": upload.size,
        "url": format!("{scheme}://{host}/graph/media-files/{}", upload.provider_media_id)})))
}

async fn download(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path(media_id): Path<String>,
) -> GraphResult<Response> {
    let auth = auth?;
    let upload = file_by_media_id(&state, &auth, &media_id).await?;
    let served =
        ServeFile::new(media_path(&state.media_dir, &upload.sha256)).oneshot(Request::new(Body::empty())).await;
    let mut response = match served {
        Ok(r) if r.status().is_success() => r.map(Body::new),
        _ => return Err(ApiError::internal().into()),
    };
    let headers = crate::media_response::media_headers(Some(&upload.mime_type), || {
        crate::media_response::safe_filename(upload.filename.as_deref(), upload.id, Some(&upload.mime_type))
    });
    response.headers_mut().extend(headers);
    Ok(response)
}

async fn templates(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    Path((version, node)): Path<(String, String)>,
) -> GraphResult<Json<Value>> {
    let auth = auth?;
    check_version(&version)?;
    let channels = state.store.channels(auth.workspace_id, auth.viewer()).await?;
    if !channels.iter().any(|c| c.waba_id == node) {
        return Err(ApiError::not_found().into());
    }
    let data: Vec<Value> = state
        .store
        .templates(auth.workspace_id, &node)
        .await?
        .into_iter()
        .map(|t| {
            json!({"id": t.provider_template_id.unwrap_or_else(|| t.id.to_string()), "name": t.name,
                "language": t.language, "status": t.status.to_uppercase(), "category": t.category.to_uppercase(),
                "parameter_format": t.parameter_format.to_uppercase(), "components": t.components})
        })
        .collect();
    Ok(Json(json!({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parley_codes_map_to_the_codes_meta_clients_handle() {
        assert_eq!(meta_error("window_closed").0, 131047);
        assert_eq!(meta_error("template_not_approved"), (132001, None, StatusCode::NOT_FOUND));
        assert_eq!(meta_error("not_found"), (100, Some(33), StatusCode::BAD_REQUEST));
        assert_eq!(meta_error("unauthorized").2, StatusCode::UNAUTHORIZED);
        assert_eq!(meta_error("invalid_message").0, 100);
        let e: GraphError = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "window_closed", "closed").into();
        assert_eq!((e.code, e.status), (131047, StatusCode::BAD_REQUEST));
        assert!(e.details.contains("[parley: window_closed]"));
    }

    #[test]
    fn versions_look_like_graph_versions() {
        assert!(check_version("v21.0").is_ok());
        assert!(check_version("v24").is_ok());
        assert!(check_version("21.0").is_err());
        assert!(check_version("v").is_err());
        assert!(check_version("vx").is_err());
    }
}

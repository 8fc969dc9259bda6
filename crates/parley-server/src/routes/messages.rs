//! `/api/v1/messages`: sending (judged by WhatsApp's rules before anything is queued), dry runs,
//! retries of failed or unknown messages, read receipts; `/api/v1/media`: uploading files to send.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use parley_core::contact::ContactRef;
use parley_core::conversation::Message;
use parley_core::ids::{ChannelId, MessageId};
use parley_core::outbound::SendInput;
use parley_core::rules::Allowed;
use parley_store::SendOutcome;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions::{self, messages::NewMedia, messages::Send};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::routes::conversations::MessageView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message))
        .routes(routes!(get_message))
        .routes(routes!(retry_message))
        .routes(routes!(mark_read))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload_media))
                .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SendParams {
    /// Only say whether the send would be allowed, and how it would be priced.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SendAnswer {
    /// The stored messages (`status: queued`), in order.
    messages: Vec<MessageView>,
    /// True when the idempotency key was seen before: these are the messages queued then.
    replayed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunAnswer {
    allowed: bool,
    /// Why not (`window_closed`, `limit_reached`, …) and which message.
    #[schema(value_type = Option<Object>)]
    refusal: Option<Value>,
    /// Per message: `category`, `pricing_type`, `business_initiated`, `opens_free_entry_point`.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Allowed>,
}

/// Send messages: text, media (by uploaded id or link), location, contacts, interactive,
/// reaction or template, plus `attachments` sent as further messages in order.
#[utoipa::path(post, path = "/messages", tag = "messages", params(SendParams), request_body = SendInput,
    responses(
        (status = 202, body = SendAnswer, description = "queued"),
        (status = 200, description = "a dry run (`DryRunAnswer`), or a replay of an idempotency key (`SendAnswer`)"),
        (status = 400, body = ErrorBody, description = "malformed (`invalid_request`)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the idempotency key was used for a different request (`idempotency_key_reused`)"),
        (status = 422, body = ErrorBody, description = "a WhatsApp rule refuses it (`window_closed`, `no_opt_in`, `limit_reached`, …) or a field breaks a limit (`invalid_message`)"),
    ),
    security(("bearer" = [])))]
async fn send_message(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<SendParams>,
    ApiJson(input): ApiJson<SendInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let messages = input.messages()?;
    let to = ContactRef::parse(&input.to, auth.region).map_err(|e| ApiError::from(e).with_field("to"))?;
    let send = Send {
        channel: ChannelId(input.channel_id),
        to: &to,
        messages: &messages,
        idempotency_key: input.idempotency_key.as_deref(),
        dry_run: params.dry_run,
    };
    let outcome = actions::messages::send(&state, &auth.actor(), send).await?;
    let views = |ms: Vec<Message>| ms.into_iter().map(MessageView::from).collect::<Vec<_>>();
    Ok(match outcome {
        SendOutcome::Queued(ms) => {
            (StatusCode::ACCEPTED, Json(json!(SendAnswer { messages: views(ms), replayed: false })))
        }
        SendOutcome::Replayed(ms) => (StatusCode::OK, Json(json!(SendAnswer { messages: views(ms), replayed: true }))),
        SendOutcome::Allowed(allowed) => {
            (StatusCode::OK, Json(json!(DryRunAnswer { allowed: true, refusal: None, messages: allowed })))
        }
        SendOutcome::Refused { index, refusal } if params.dry_run => {
            let refusal = json!({"code": refusal.code(), "message": refusal.message(), "index": index});
            (StatusCode::OK, Json(json!(DryRunAnswer { allowed: false, refusal: Some(refusal), messages: vec![] })))
        }
        SendOutcome::Refused { index, refusal } => return Err(actions::messages::refusal_error(&refusal, index)),
    })
}

/// Get a message with its delivery status.
#[utoipa::path(get, path = "/messages/{id}", tag = "messages", params(("id" = i64, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_message(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(state.store.message(auth.workspace_id, MessageId(id), auth.viewer()).await?.into()))
}

/// Send a failed message again, or one whose outcome is unknown (after a crash). The rules are
/// checked again first: the window may have closed since.
#[utoipa::path(post, path = "/messages/{id}/retry", tag = "messages", params(("id" = i64, Path)),
    responses((status = 202, body = MessageView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn retry_message(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let requeued = actions::messages::retry(&state, &auth.actor(), MessageId(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(requeued.into())))
}

/// Mark an inbound message (and the earlier ones) read: the customer sees blue ticks.
#[utoipa::path(post, path = "/messages/{id}/read", tag = "messages", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    actions::messages::mark_read(&state, &auth.actor(), MessageId(id), false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The channel (number) the file will be sent from.
    channel_id: i64,
    filename: Option<String>,
}

/// Largest file accepted for sending (WhatsApp's documents go up to 100 MB).
pub const UPLOAD_LIMIT: usize = 100 * 1024 * 1024;

/// Upload a file to send: the body is the file, `Content-Type` its type. Answers the media
/// `id` to use in a send (`"image": {"id": "…"}`).
#[utoipa::path(post, path = "/media", tag = "messages", params(UploadParams),
    request_body(content = String, description = "the file", content_type = "application/octet-stream"),
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "the user's upload quota: `upload_rate_limited` (files per minute), \
            `upload_quota_exceeded` (megabytes per hour)"),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn upload_media(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Refused before a byte is stored: past `UPLOAD_LIMIT` axum stops reading the body.
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the file is larger than 100 MB")
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = NewMedia { channel: ChannelId(params.channel_id), body: &body, mime, filename: params.filename };
    let stored = actions::messages::upload_media(&state, &auth.actor(), media).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": stored.provider_media_id, "mime_type": stored.mime_type, "size": stored.size, "sha256": stored.sha256}),
        ),
    ))
}

//! `/api/v1/messages`: sending (judged by WhatsApp's rules before anything is queued), dry runs,
//! retries of failed or unknown messages, read receipts; `/api/v1/media`: uploading files to send.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use parley_core::contact::{Contact, ContactRef};
use parley_core::conversation::{Direction, Message};
use parley_core::ids::{ChannelId, MessageId};
use parley_core::message::Content;
use parley_core::outbound::{OutboundMessage, SendInput};
use parley_core::rules::{Allowed, Refusal, judge};
use parley_core::template::{fill_contact_params, uses_contact_params};
use parley_store::{Personalize, SendOutcome, SendRequest, Upload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The refusal as the API shows it.
fn refusal_error(r: &parley_core::rules::Refusal, index: usize) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.message()).with_field(format!("messages[{index}]"))
}

/// Judges and queues a send (or only judges it when `dry_run`).
pub(crate) async fn submit(
    state: &AppState,
    auth: &Auth,
    channel: ChannelId,
    to: &ContactRef,
    messages: &[OutboundMessage],
    idempotency_key: Option<&str>,
    dry_run: bool,
) -> ApiResult<SendOutcome> {
    let now = state.clock.now();
    let uses_contact = |m: &OutboundMessage| matches!(&m.content, Content::Template { components, .. } if uses_contact_params(components));
    let request = SendRequest {
        ws: auth.workspace_id,
        viewer: auth.viewer(),
        channel,
        to,
        messages,
        idempotency_key,
        author: Some(auth.user_id),
        dry_run,
        personalize: messages.iter().any(uses_contact).then_some(&fill_contact_fields as &Personalize),
    };
    let outcome = state.store.queue_send(request, &|facts, m| judge(facts, m, now), now).await?;
    if matches!(outcome, SendOutcome::Queued(_)) {
        state.dispatch_wakeup.notify_one();
    }
    Ok(outcome)
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
    let outcome = submit(
        &state,
        &auth,
        ChannelId(input.channel_id),
        &to,
        &messages,
        input.idempotency_key.as_deref(),
        params.dry_run,
    )
    .await?;
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
        SendOutcome::Refused { index, refusal } => return Err(refusal_error(&refusal, index)),
    })
}

/// Template parameters written `{{contact.first_name}}` (or `{{contact.fields.plan|fallback}}`)
/// take the recipient's value, as the send's own transaction reads the contact, before the send
/// is judged and stored.
fn fill_contact_fields(contact: &Contact, messages: &mut [OutboundMessage]) -> Result<(), (usize, Refusal)> {
    for (index, m) in messages.iter_mut().enumerate() {
        if let Content::Template { components, .. } = &mut m.content {
            fill_contact_params(components, contact)
                .map_err(|detail| (index, Refusal::TemplateParamsMismatch { detail }))?;
        }
    }
    Ok(())
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
    let id = MessageId(id);
    let message = state.store.message(auth.workspace_id, id, auth.viewer()).await?;
    if message.direction != Direction::Out {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_retryable",
            "only messages Parley sent can be retried",
        ));
    }
    let conversation = state.store.conversation(auth.workspace_id, message.conversation_id, auth.viewer()).await?;
    let again =
        OutboundMessage { content: message.content.clone(), reply_to: message.context.and_then(|c| c.reply_to) };
    let to = ContactRef::Id(conversation.contact_id);
    if let SendOutcome::Refused { refusal, .. } =
        submit(&state, &auth, message.channel_id, &to, std::slice::from_ref(&again), None, true).await?
    {
        return Err(refusal_error(&refusal, 0));
    }
    let requeued = state.store.requeue_message(auth.workspace_id, id, state.clock.now()).await?;
    state.dispatch_wakeup.notify_one();
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
    let id = MessageId(id);
    let message = state.store.message(auth.workspace_id, id, auth.viewer()).await?;
    let Some(provider_id) = message.provider_message_id.filter(|_| message.direction == Direction::In) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
            "only inbound messages can be marked read",
        ));
    };
    let channel = state.store.channel(auth.workspace_id, message.channel_id, auth.viewer()).await?;
    let client = state.graph_client(&channel)?;
    client.mark_read(&channel.phone_number_id, &provider_id).await.map_err(|e| provider_error(&e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

fn provider_error(detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", format!("the provider refused: {detail}"))
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
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    const ALLOWED: &[&str] = &[
        "image/jpeg",
        "image/png",
        "image/webp",
        "audio/aac",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "video/mp4",
        "video/3gpp",
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ];
    let base = mime.split(';').next().unwrap_or_default().trim();
    if !ALLOWED.contains(&base) {
        return Err(ApiError::bad_request(format!("WhatsApp does not take {mime:?} files")).with_field("content-type"));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the file is empty"));
    }
    let channel = state.store.channel(auth.workspace_id, ChannelId(params.channel_id), auth.viewer()).await?;
    let client = state.graph_client(&channel)?;
    state.upload_limiter.start_file(auth.user_id)?;
    state.upload_limiter.take_bytes(auth.user_id, body.len() as u64)?;
    let sha = hex::encode(Sha256::digest(&body));
    let filename = params.filename.clone().unwrap_or_else(|| "file".into());
    // The provider first: a file it refuses is never written to the data dir.
    let provider_media_id = client
        .upload_media(&channel.phone_number_id, body.to_vec(), &mime, &filename)
        .await
        .map_err(|e| provider_error(&e.to_string()))?;
    crate::workers::media::store_file(&state.media_dir, &sha, &body).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store an upload");
        ApiError::internal()
    })?;
    let upload = Upload {
        id: 0,
        channel_id: channel.id,
        provider_media_id,
        sha256: sha,
        mime_type: mime,
        size: body.len() as i64,
        filename: params.filename,
    };
    let stored = state.store.record_upload(auth.workspace_id, upload, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": stored.provider_media_id, "mime_type": stored.mime_type, "size": stored.size, "sha256": stored.sha256}),
        ),
    ))
}

//! Sending and what follows a send: every send is judged by WhatsApp's rules inside the
//! transaction that queues it (`Store::queue_send`), so no caller can skip a rule; a retry is
//! judged again; marking read and uploading media go to the number's provider.

use axum::http::StatusCode;
use parley_core::contact::{Contact, ContactRef};
use parley_core::conversation::{Direction, Message};
use parley_core::ids::{ChannelId, MessageId};
use parley_core::message::{Content, PARLEY_UPLOAD_PREFIX};
use parley_core::outbound::OutboundMessage;
use parley_core::rules::{Refusal, judge};
use parley_core::template::{fill_contact_params, uses_contact_params};
use parley_store::{Personalize, SendOutcome, SendRequest, Upload};
use sha2::{Digest, Sha256};

use super::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What to send, to whom, from which number.
pub struct Send<'a> {
    pub channel: ChannelId,
    pub to: &'a ContactRef,
    pub messages: &'a [OutboundMessage],
    pub idempotency_key: Option<&'a str>,
    /// Only judge it (and say how it would be priced).
    pub dry_run: bool,
}

/// Judges and queues a send (or only judges it when `dry_run`). A refusal is an outcome, not
/// an error: the caller decides how to show it.
pub async fn send(state: &AppState, actor: &Actor, send: Send<'_>) -> ApiResult<SendOutcome> {
    let now = state.clock.now();
    let uses_contact = |m: &OutboundMessage| matches!(&m.content, Content::Template { components, .. } if uses_contact_params(components));
    let request = SendRequest {
        ws: actor.workspace_id,
        viewer: actor.viewer(),
        channel: send.channel,
        to: send.to,
        messages: send.messages,
        idempotency_key: send.idempotency_key,
        author: actor.user_id(),
        dry_run: send.dry_run,
        personalize: send.messages.iter().any(uses_contact).then_some(&fill_contact_fields as &Personalize),
    };
    let outcome = state.store.queue_send(request, &|facts, m| judge(facts, m, now), now).await?;
    if matches!(outcome, SendOutcome::Queued(_)) {
        state.dispatch_wakeup.notify_one();
    }
    Ok(outcome)
}

/// A refusal as the API shows it.
pub fn refusal_error(r: &Refusal, index: usize) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.message()).with_field(format!("messages[{index}]"))
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

/// Sends a failed message again, or one whose outcome is unknown, after judging it again: the
/// window may have closed since.
pub async fn retry(state: &AppState, actor: &Actor, id: MessageId) -> ApiResult<Message> {
    let ws = actor.workspace_id;
    let message = state.store.message(ws, id, actor.viewer()).await?;
    if message.direction != Direction::Out {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_retryable",
            "only messages Parley sent can be retried",
        ));
    }
    let conversation = state.store.conversation(ws, message.conversation_id, actor.viewer()).await?;
    let again =
        OutboundMessage { content: message.content.clone(), reply_to: message.context.and_then(|c| c.reply_to) };
    let to = ContactRef::Id(conversation.contact_id);
    let check = Send {
        channel: message.channel_id,
        to: &to,
        messages: std::slice::from_ref(&again),
        idempotency_key: None,
        dry_run: true,
    };
    if let SendOutcome::Refused { refusal, .. } = send(state, actor, check).await? {
        return Err(refusal_error(&refusal, 0));
    }
    let requeued = state.store.requeue_message(ws, id, state.clock.now()).await?;
    state.dispatch_wakeup.notify_one();
    Ok(requeued)
}

/// Marks an inbound message (and the earlier ones) read at the provider: blue ticks; with
/// `typing`, WhatsApp's typing indicator too.
pub async fn mark_read(state: &AppState, actor: &Actor, id: MessageId, typing: bool) -> ApiResult<()> {
    let message = state.store.message(actor.workspace_id, id, actor.viewer()).await?;
    let Some(provider_id) = message.provider_message_id.filter(|_| message.direction == Direction::In) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
            "only inbound messages can be marked read",
        ));
    };
    let channel = state.store.channel(actor.workspace_id, message.channel_id, actor.viewer()).await?;
    let client = state.cloud_client(&channel)?;
    client
        .mark_read(&channel.phone_number_id, &provider_id, typing)
        .await
        .map_err(|e| provider_error(&e.to_string()))?;
    Ok(())
}

pub fn provider_error(detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", format!("the provider refused: {detail}"))
}

/// The file types WhatsApp takes for sending.
const SENDABLE_TYPES: &[&str] = &[
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

/// A file to upload for sending from a number.
pub struct NewMedia<'a> {
    pub channel: ChannelId,
    pub body: &'a [u8],
    pub mime: &'a str,
    pub filename: Option<String>,
}

/// Uploads a file to the number's provider (within the actor's upload quota), then keeps a copy
/// in the data dir and records it. Answers the record with the provider's media id.
pub async fn upload_media(state: &AppState, actor: &Actor, media: NewMedia<'_>) -> ApiResult<Upload> {
    let mime = media.mime;
    let base = mime.split(';').next().unwrap_or_default().trim();
    if !SENDABLE_TYPES.contains(&base) {
        return Err(ApiError::bad_request(format!("WhatsApp does not take {mime:?} files")).with_field("content-type"));
    }
    if media.body.is_empty() {
        return Err(ApiError::bad_request("the file is empty"));
    }
    let channel = state.store.channel(actor.workspace_id, media.channel, actor.viewer()).await?;
    // Twilio and MessageBird take files by link: Parley keeps the file and signs a link to it
    // when the message goes out (`routes/public_media.rs`), which needs its public address.
    let client = if channel.provider.cloud_api() {
        Some(state.cloud_client(&channel)?)
    } else if state.public_url.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "public_url_required",
            "this number's provider fetches files from Parley: set the server's public_url first",
        ));
    } else {
        None
    };
    if let Some(user) = actor.user_id() {
        state.upload_limiter.start_file(user)?;
        state.upload_limiter.take_bytes(user, media.body.len() as u64)?;
    }
    let sha = hex::encode(Sha256::digest(media.body));
    let filename = media.filename.clone().unwrap_or_else(|| "file".into());
    // The provider first: a file it refuses is never written to the data dir.
    let provider_media_id = match client {
        Some(client) => client
            .upload_media(&channel.phone_number_id, media.body.to_vec(), mime, &filename)
            .await
            .map_err(|e| provider_error(&e.to_string()))?,
        None => format!("{PARLEY_UPLOAD_PREFIX}{}", hex::encode(rand::random::<[u8; 16]>())),
    };
    crate::workers::media::store_file(&state.media_dir, &sha, media.body).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store an upload");
        ApiError::internal()
    })?;
    let upload = Upload {
        id: 0,
        channel_id: channel.id,
        provider_media_id,
        sha256: sha,
        mime_type: mime.to_owned(),
        size: media.body.len() as i64,
        filename: media.filename,
    };
    Ok(state.store.record_upload(actor.workspace_id, upload, state.clock.now()).await?)
}

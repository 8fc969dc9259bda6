//! MessageBird's Conversations API webhooks (spec `bsp-and-peers.md` §4.1) read into core
//! events, after `signature.rs` accepted them: `{type, contact, conversation, message}`.
//! Decisions:
//! - `message.created` and `message.updated` of a *received* message are the customer's
//!   message (an update is its late copy: stored once by its id); of a *sent* one, its status
//!   (`sent`, `delivered`, `read`; `failed`, `rejected` and `unsupported` as failed).
//!   Earlier statuses (`pending`, `accepted`, `pending_media`, `transmitted`) are no event.
//! - `conversation.created` and `conversation.updated` are MessageBird's own bookkeeping (one
//!   active conversation per contact): no event; Parley keeps its own conversations.
//! - A media message's `url` is its fetch reference (`Media.id`), fetched later with the
//!   channel's access key. The contact's id, names and attributes stay in the raw JSON.

use parley_core::Timestamp;
use parley_core::message::{
    Content, DeliveryStatus, InboundEvent, InboundMessage, Media, ProviderError, Sender, StatusUpdate,
};
use parley_core::whatsapp::WaId;
use serde_json::{Value, json};

/// Why a post cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a MessageBird webhook: {0}")]
pub struct Malformed(pub String);

/// The events of one post received at `received_at`.
pub fn parse(body: &[u8], received_at: Timestamp) -> Result<Vec<InboundEvent>, Malformed> {
    let hook: Value = serde_json::from_slice(body).map_err(|e| Malformed(format!("not JSON: {e}")))?;
    let kind = hook.get("type").and_then(Value::as_str).ok_or_else(|| Malformed("no type".into()))?;
    match kind {
        "message.created" | "message.updated" => {}
        "conversation.created" | "conversation.updated" => return Ok(Vec::new()),
        other => return Ok(vec![InboundEvent::Other { field: format!("messagebird.{other}"), value: hook.clone() }]),
    }
    let message = hook.get("message").filter(|m| m.is_object()).ok_or_else(|| Malformed("no message".into()))?;
    let text = |key: &str| message.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let id = text("id").ok_or_else(|| Malformed("a message without an id".into()))?;
    let at = |key: &str| text(key).and_then(Timestamp::parse_rfc3339);
    match text("direction") {
        Some("received") => {
            let sent_at = at("createdDatetime").unwrap_or(received_at);
            Ok(vec![InboundEvent::Message(Box::new(inbound(&hook, message, id, sent_at)?))])
        }
        Some("sent") => Ok(status(message, id, at("updatedDatetime").unwrap_or(received_at)).into_iter().collect()),
        other => Err(Malformed(format!("a message whose direction is {other:?}"))),
    }
}

fn status(message: &Value, id: &str, at: Timestamp) -> Option<InboundEvent> {
    let theirs = message.get("status").and_then(Value::as_str).unwrap_or("");
    let status = match theirs {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" | "rejected" | "unsupported" => DeliveryStatus::Failed,
        _ => return None,
    };
    let error = message.get("error");
    let errors = match (status, error) {
        (DeliveryStatus::Failed, Some(e)) => vec![ProviderError {
            code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
            title: e.get("description").and_then(Value::as_str).unwrap_or(theirs).to_owned(),
            details: None,
        }],
        (DeliveryStatus::Failed, None) => vec![ProviderError { code: 0, title: theirs.to_owned(), details: None }],
        _ => Vec::new(),
    };
    Some(InboundEvent::Status(StatusUpdate {
        provider_message_id: id.to_owned(),
        status,
        at,
        recipient: message.get("to").and_then(Value::as_str).map(|to| to.trim_start_matches('+').to_owned()),
        errors,
        // MessageBird says nothing of Meta's pricing: charges stay the card's estimate.
        pricing: None,
        raw: message.clone(),
    }))
}

fn inbound(hook: &Value, message: &Value, id: &str, sent_at: Timestamp) -> Result<InboundMessage, Malformed> {
    let contact = hook.get("contact");
    // `from` is the customer's number; the contact's msisdn is a number in JSON.
    let number = message
        .get("from")
        .and_then(Value::as_str)
        .map(|f| f.trim_start_matches('+').to_owned())
        .or_else(|| contact.and_then(|c| c.get("msisdn")).map(|m| m.to_string().trim_matches('"').to_owned()));
    let wa_id = number
        .as_deref()
        .and_then(|n| WaId::parse(n).ok())
        .ok_or_else(|| Malformed(format!("a sender that is not a WhatsApp number: {number:?}")))?;
    let profile_name =
        contact.and_then(|c| c.get("displayName")).and_then(Value::as_str).filter(|n| !n.is_empty()).map(str::to_owned);
    Ok(InboundMessage {
        provider_message_id: id.to_owned(),
        from: Sender { wa_id: Some(wa_id), bsuid: None, profile_name, username: None, contact_fields: fields_of(hook) },
        sent_at,
        content: content(message)?,
        context: None,
        referral: None,
        errors: Vec::new(),
        raw: json!({"message": message, "contact": contact}),
    })
}

fn content(message: &Value) -> Result<Content, Malformed> {
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
    let body = message.get("content").cloned().unwrap_or(Value::Null);
    let media = |key: &str| {
        let m = body.get(key);
        Media {
            id: m.and_then(|m| m.get("url")).and_then(Value::as_str).map(str::to_owned),
            caption: m.and_then(|m| m.get("caption")).and_then(Value::as_str).map(str::to_owned),
            ..Media::default()
        }
    };
    Ok(match kind {
        "text" => {
            Content::Text { body: body.get("text").and_then(Value::as_str).unwrap_or("").to_owned(), preview_url: None }
        }
        "image" => Content::Image(media("image")),
        "audio" => Content::Audio(media("audio")),
        "video" => Content::Video(media("video")),
        "file" => Content::Document(media("file")),
        "location" => {
            let location = body.get("location");
            let coordinate = |key: &str| {
                location
                    .and_then(|l| l.get(key))
                    .and_then(Value::as_f64)
                    .ok_or_else(|| Malformed(format!("a location without its {key}")))
            };
            Content::Location {
                latitude: coordinate("latitude")?,
                longitude: coordinate("longitude")?,
                name: None,
                address: None,
                url: None,
            }
        }
        other => Content::Unknown { provider_type: if other.is_empty() { "empty".into() } else { other.to_owned() } },
    })
}

/// The message's channel (`message.channelId`), to check a post is for the receiving channel.
pub fn channel_id(body: &[u8]) -> Option<String> {
    let hook: Value = serde_json::from_slice(body).ok()?;
    hook.pointer("/message/channelId").and_then(Value::as_str).map(str::to_owned)
}

/// What MessageBird's channel knows of a customer who wrote (respond.io's seed: display name,
/// phone number, the contact's id on the channel, and the channel's contact attributes), as
/// Parley's contact fields: `messagebird_contact_id`, `first_name`, `last_name`, `avatar_url`,
/// and each of `customDetails` and `attributes` under its name in snake_case. The display name
/// is the contact's name already (the message's sender). Values that are not a string, a number
/// or a boolean, and names that cannot be made a field name, are left out.
/// Each received message's sender carries them (`Sender::contact_fields`).
fn fields_of(hook: &Value) -> Vec<(String, Value)> {
    if hook.pointer("/message/direction").and_then(Value::as_str) != Some("received") {
        return Vec::new();
    }
    let Some(contact) = hook.get("contact").filter(|c| c.is_object()) else { return Vec::new() };
    let mut out = Vec::new();
    let mut put = |name: &str, value: &Value| {
        let key = field_name(name);
        let kept = match value {
            Value::String(s) if !s.trim().is_empty() => Some(Value::String(s.trim().chars().take(500).collect())),
            Value::Number(_) | Value::Bool(_) => Some(value.clone()),
            _ => None,
        };
        if let (Some(key), Some(value)) = (key, kept)
            && !out.iter().any(|(k, _): &(String, Value)| *k == key)
        {
            out.push((key, value));
        }
    };
    for (theirs, ours) in [
        ("id", "messagebird_contact_id"),
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("avatar", "avatar_url"),
        ("avatarUrl", "avatar_url"),
    ] {
        if let Some(v) = contact.get(theirs) {
            put(ours, v);
        }
    }
    for group in ["customDetails", "attributes"] {
        for (name, value) in contact.get(group).and_then(Value::as_object).into_iter().flatten() {
            put(name, value);
        }
    }
    // A contact holds at most 100 fields: the channel's metadata takes a fifth of them at most.
    out.truncate(MAX_CONTACT_FIELDS);
    out
}

/// The most fields one post's contact metadata may fill.
const MAX_CONTACT_FIELDS: usize = 20;

/// `firstName`, `Loyalty Tier`, `custom1` → `first_name`, `loyalty_tier`, `custom1`; `None`
/// when nothing usable is left or it does not start with a letter.
fn field_name(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    (out.starts_with(|c: char| c.is_ascii_lowercase()) && out.len() <= 64).then_some(out)
}

#[cfg(test)]
mod tests;

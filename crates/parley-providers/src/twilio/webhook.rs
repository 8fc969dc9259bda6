//! Twilio's WhatsApp webhooks (spec `bsp-and-peers.md` §3.1, §3.2) parsed into core events,
//! after `signature.rs` accepted them. One form post is one inbound message or one status
//! callback. Twilio gives no time for either: the arrival time is used. Decisions:
//! - A status callback is a post with `MessageStatus` other than `received`/`receiving`.
//!   `sent`, `delivered`, `read` map to ours; `failed`, `undelivered` and `canceled` to failed,
//!   with `ErrorCode`/`ErrorMessage`; earlier ones (`queued`, `sending`, `accepted`,
//!   `scheduled`, …) are no event (Parley records its own queueing).
//! - A message's media is its first `MediaUrl0` (WhatsApp carries one per message); the URL is
//!   the media's fetch reference (`Media.id`), fetched later with the account's credentials.
//! - The sender is `From` (`whatsapp:+E164`, or `whatsapp:<BSUID>` for users behind a
//!   username) and `WaId`; `ProfileName` and `ProfileUsername` come with it.
//! - Every parameter that arrived is kept as the raw JSON (Twilio adds fields without notice).

use parley_core::Timestamp;
use parley_core::message::{
    Content, Context, DeliveryStatus, InboundEvent, InboundMessage, Media, ProviderError, Sender, StatusUpdate,
};
use parley_core::whatsapp::{Bsuid, WaId};
use serde_json::{Map, Value, json};

/// Why a post cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a Twilio WhatsApp webhook: {0}")]
pub struct Malformed(pub String);

/// The form's parameters, first value per name, with the whole form as raw JSON.
struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Every parameter; a name sent more than once keeps its values as an array.
    fn raw(&self) -> Value {
        let mut raw = Map::new();
        for (k, v) in &self.pairs {
            match raw.get_mut(k) {
                None => {
                    raw.insert(k.clone(), Value::String(v.clone()));
                }
                Some(Value::Array(values)) => values.push(Value::String(v.clone())),
                Some(first) => *first = Value::Array(vec![first.take(), Value::String(v.clone())]),
            }
        }
        Value::Object(raw)
    }
}

/// Whom a post is for: the account and the business's own number (`To` of an inbound message,
/// `From` of a status), digits. A webhook URL may be set on several senders (a Messaging
/// Service): a post for another number is not this channel's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressee {
    pub account_sid: Option<String>,
    pub number: Option<String>,
}

/// Reads whom a post is for (before parsing it whole).
pub fn addressee(body: &[u8]) -> Addressee {
    let form = Form { pairs: form_urlencoded::parse(body).into_owned().collect() };
    let is_status = form
        .get("MessageStatus")
        .or_else(|| form.get("SmsStatus"))
        .is_some_and(|s| !matches!(s, "received" | "receiving"));
    let ours = if is_status { form.get("From") } else { form.get("To") };
    Addressee {
        account_sid: form.get("AccountSid").map(str::to_owned),
        number: ours.map(|n| address(n).trim_start_matches('+').to_owned()),
    }
}

/// The events of one form post received at `received_at`.
pub fn parse(body: &[u8], received_at: Timestamp) -> Result<Vec<InboundEvent>, Malformed> {
    let form = Form { pairs: form_urlencoded::parse(body).into_owned().collect() };
    let sid = form.get("MessageSid").or_else(|| form.get("SmsSid")).ok_or_else(|| Malformed("no MessageSid".into()))?;
    match form.get("MessageStatus").or_else(|| form.get("SmsStatus")) {
        Some(status) if !matches!(status, "received" | "receiving") => {
            Ok(status_event(&form, sid, status, received_at))
        }
        _ => Ok(vec![InboundEvent::Message(Box::new(message(&form, sid, received_at)?))]),
    }
}

/// `whatsapp:+33612345678` → `+33612345678`.
fn address(value: &str) -> &str {
    value.strip_prefix("whatsapp:").unwrap_or(value)
}

fn status_event(form: &Form, sid: &str, status: &str, at: Timestamp) -> Vec<InboundEvent> {
    let status = match status {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" | "undelivered" | "canceled" => DeliveryStatus::Failed,
        _ => return Vec::new(),
    };
    let errors = form
        .get("ErrorCode")
        .and_then(|code| code.parse::<i64>().ok())
        .map(|code| ProviderError {
            code,
            title: form.get("ErrorMessage").map_or_else(|| format!("Twilio error {code}"), str::to_owned),
            details: form.get("ChannelStatusMessage").map(str::to_owned),
        })
        .into_iter()
        .collect();
    vec![InboundEvent::Status(StatusUpdate {
        provider_message_id: sid.to_owned(),
        status,
        at,
        recipient: form.get("To").map(|to| address(to).trim_start_matches('+').to_owned()),
        errors,
        // Twilio's callbacks say nothing of Meta's pricing: charges stay the card's estimate.
        pricing: None,
        raw: form.raw(),
    })]
}

fn sender(form: &Form) -> Result<Sender, Malformed> {
    let from = address(form.get("From").ok_or_else(|| Malformed("no From".into()))?);
    let wa_id = match from.strip_prefix('+') {
        Some(digits) => WaId::parse(digits).ok(),
        None => None,
    }
    .or_else(|| form.get("WaId").and_then(|w| WaId::parse(w).ok()));
    let bsuid = (!from.starts_with('+'))
        .then(|| Bsuid::parse(from).ok())
        .flatten()
        .or_else(|| form.get("ExternalUserId").and_then(|u| Bsuid::parse(u).ok()));
    if wa_id.is_none() && bsuid.is_none() {
        return Err(Malformed(format!("From {from:?} is neither a WhatsApp number nor a user id")));
    }
    Ok(Sender {
        wa_id,
        bsuid,
        profile_name: form.get("ProfileName").map(str::to_owned),
        username: form.get("ProfileUsername").map(str::to_owned),
        contact_fields: Vec::new(),
    })
}

fn message(form: &Form, sid: &str, at: Timestamp) -> Result<InboundMessage, Malformed> {
    // Chatwoot learnt that bodies can carry NUL bytes; no text column wants them.
    let body = form.get("Body").map(|b| b.replace('\0', "")).filter(|b| !b.is_empty());
    let media_count = form.get("NumMedia").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    let content = if media_count > 0 && form.get("MediaUrl0").is_some() {
        let mime = form.get("MediaContentType0").map(str::to_owned);
        let media = Media {
            id: form.get("MediaUrl0").map(str::to_owned),
            mime_type: mime.clone(),
            caption: body.clone(),
            ..Media::default()
        };
        match mime.as_deref().unwrap_or("").split('/').next().unwrap_or("") {
            "image" if mime.as_deref() == Some("image/webp") => Content::Sticker(media),
            "image" => Content::Image(media),
            "audio" => Content::Audio(Media { voice: mime.as_deref() == Some("audio/ogg"), ..media }),
            "video" => Content::Video(media),
            _ => Content::Document(media),
        }
    } else if let (Some(lat), Some(lon)) = (form.get("Latitude"), form.get("Longitude")) {
        let parse = |v: &str| v.parse::<f64>().map_err(|_| Malformed(format!("a location's coordinate {v:?}")));
        Content::Location {
            latitude: parse(lat)?,
            longitude: parse(lon)?,
            name: form.get("Label").map(str::to_owned),
            address: form.get("Address").map(str::to_owned),
            url: None,
        }
    } else if let Some(text) = form.get("ButtonText") {
        Content::Button { text: text.to_owned(), payload: form.get("ButtonPayload").map(str::to_owned) }
    } else if let Some(body) = body {
        Content::Text { body, preview_url: None }
    } else {
        Content::Unknown { provider_type: form.get("MessageType").unwrap_or("empty").to_owned() }
    };
    let context = Context {
        reply_to: form.get("OriginalRepliedMessageSid").map(str::to_owned),
        forwarded: form.flag("Forwarded"),
        frequently_forwarded: form.flag("FrequentlyForwarded"),
        referred_product: None,
    };
    let referral = referral(form);
    Ok(InboundMessage {
        provider_message_id: sid.to_owned(),
        from: sender(form)?,
        sent_at: at,
        content,
        context: (context != Context::default()).then_some(context),
        referral,
        errors: Vec::new(),
        raw: form.raw(),
    })
}

/// A click-to-WhatsApp ad's referral, in the Cloud API's shape (what the rules read).
fn referral(form: &Form) -> Option<Value> {
    let fields = [
        ("source_id", "ReferralSourceId"),
        ("source_type", "ReferralSourceType"),
        ("source_url", "ReferralSourceUrl"),
        ("headline", "ReferralHeadline"),
        ("body", "ReferralBody"),
        ("media_type", "ReferralMediaContentType"),
        ("image_url", "ReferralMediaUrl"),
        ("ctwa_clid", "ReferralCtwaClid"),
    ];
    let mut referral = Map::new();
    for (ours, theirs) in fields {
        if let Some(value) = form.get(theirs) {
            referral.insert(ours.to_owned(), json!(value));
        }
    }
    (!referral.is_empty()).then_some(Value::Object(referral))
}

#[cfg(test)]
mod tests;

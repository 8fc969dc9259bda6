//! Parsing a Cloud API webhook (spec/meta-cloud-api.md §2–§5) into core events, grouped by the
//! phone number they concern. Every entry, change, message and status is read, not only the
//! first. The parser is tolerant item by item: an unknown type or field is kept; an item it
//! cannot read at all (no id, say) becomes an `Other` event with its raw JSON instead of failing
//! the batch. Only a body that is not a webhook at all is an error.

use parley_core::Timestamp;
use parley_core::health::health_change;
use parley_core::message::{
    Content, Context, DeliveryStatus, InboundEvent, InboundMessage, Media, ProviderError, Sender, StatusUpdate,
};
use parley_core::template_review::template_update;
use parley_core::whatsapp::{Bsuid, WaId};
use serde_json::{Map, Value};

mod check;
pub use check::check;

/// A parsed webhook: one item per `changes[]` element, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub changes: Vec<Change>,
}

/// One `changes[]` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `entry[].id`: the WhatsApp Business Account.
    pub waba_id: String,
    pub field: String,
    /// `value.metadata.phone_number_id` when the change names a number.
    pub phone_number_id: Option<String>,
    pub events: Vec<InboundEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("not a WhatsApp Business Account webhook: {0}")]
    NotAWebhook(&'static str),
}

/// The longest `field` name accepted; Meta's are under 40 characters.
const MAX_FIELD_LEN: usize = 64;

/// Whether `field` is a webhook field name as Meta writes them (`messages`,
/// `message_template_status_update`, …): a lowercase letter, then lowercase letters, digits and
/// underscores. The field becomes part of an event kind (`whatsapp.<field>`) that travels as an
/// SSE event name, where a line break would end the line; unknown but well-formed fields are kept.
pub fn is_field_name(field: &str) -> bool {
    let mut bytes = field.bytes();
    field.len() <= MAX_FIELD_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Webhook {
    /// Every event of the webhook, flattened.
    pub fn event_count(&self) -> usize {
        self.changes.iter().map(|c| c.events.len()).sum()
    }
}

pub fn parse(body: &[u8]) -> Result<Webhook, WebhookError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    let root = root.as_object().ok_or(WebhookError::NotAWebhook("the body is not a JSON object"))?;
    match root.get("object").and_then(Value::as_str) {
        Some("whatsapp_business_account") => {}
        _ => return Err(WebhookError::NotAWebhook("`object` is not `whatsapp_business_account`")),
    }
    let entries =
        root.get("entry").and_then(Value::as_array).ok_or(WebhookError::NotAWebhook("`entry` is not an array"))?;
    let mut changes = Vec::new();
    for entry in entries {
        let waba_id = entry.get("id").map(id_string).unwrap_or_default();
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            // A field that is not a field name is not something Meta sends: refuse the whole
            // webhook rather than store a kind no reader expects.
            if change.get("field").and_then(Value::as_str).is_some_and(|f| !is_field_name(f)) {
                return Err(WebhookError::NotAWebhook("a change's `field` is not a field name"));
            }
            changes.push(parse_change(&waba_id, change));
        }
    }
    Ok(Webhook { changes })
}

fn parse_change(waba_id: &str, change: &Value) -> Change {
    let field = change.get("field").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    let value = change.get("value").cloned().unwrap_or(Value::Null);
    let phone_number_id = value.pointer("/metadata/phone_number_id").map(id_string);
    let events = match (field.as_str(), value.as_object()) {
        ("messages", Some(v)) => parse_messages_value(v),
        ("user_preferences", Some(v)) => parse_user_preferences(v),
        _ => {
            if let Some(update) = template_update(&field, &value) {
                vec![InboundEvent::Template(update)]
            } else {
                let health: Vec<InboundEvent> = health_change(&field, &value)
                    .into_iter()
                    .map(|(scope, change)| InboundEvent::Health {
                        field: field.clone(),
                        scope,
                        change,
                        raw: value.clone(),
                    })
                    .collect();
                if health.is_empty() { vec![InboundEvent::Other { field: field.clone(), value }] } else { health }
            }
        }
    };
    Change { waba_id: waba_id.to_owned(), field, phone_number_id, events }
}

/// Ids are strings in Meta's payloads, but be lenient with numbers.
fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Unix seconds, sent as a string (`"1750000000"`) or a number.
fn timestamp(v: &Value) -> Option<Timestamp> {
    let secs = match v.get("timestamp")? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    (0..=253_402_300_799).contains(&secs).then(|| Timestamp::from_secs(secs))
}

fn parse_messages_value(value: &Map<String, Value>) -> Vec<InboundEvent> {
    let mut events = Vec::new();
    let contacts: &[Value] = value.get("contacts").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    for message in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
        events.push(match parse_message(message, contacts) {
            Some(m) => InboundEvent::Message(Box::new(m)),
            None => InboundEvent::Other { field: "messages.unreadable".into(), value: message.clone() },
        });
    }
    for status in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
        events.push(match parse_status(status) {
            Some(s) => InboundEvent::Status(s),
            None => InboundEvent::Other { field: "statuses.unreadable".into(), value: status.clone() },
        });
    }
    if let Some(errors) = value.get("errors").filter(|e| e.as_array().is_some_and(|a| !a.is_empty())) {
        events.push(InboundEvent::Other { field: "messages.errors".into(), value: errors.clone() });
    }
    events
}

fn parse_errors(v: &Value) -> Vec<ProviderError> {
    v.get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| ProviderError {
            code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
            title: str_field(e, "title").or_else(|| str_field(e, "message")).unwrap_or_default(),
            details: e.pointer("/error_data/details").and_then(Value::as_str).map(str::to_owned),
        })
        .collect()
}

fn parse_message(m: &Value, contacts: &[Value]) -> Option<InboundMessage> {
    let provider_message_id = str_field(m, "id").filter(|id| !id.is_empty())?;
    let sent_at = timestamp(m)?;
    let wa_id = m.get("from").and_then(Value::as_str).and_then(|s| WaId::parse(s).ok());
    let bsuid = m.get("from_user_id").and_then(Value::as_str).and_then(|s| Bsuid::parse(s).ok());
    if wa_id.is_none() && bsuid.is_none() {
        return None;
    }
    // The sender's profile: the contact with the same wa_id or BSUID, else the only one.
    let profile = contacts
        .iter()
        .find(|c| {
            wa_id.as_ref().is_some_and(|w| c.get("wa_id").and_then(Value::as_str) == Some(w.as_str()))
                || bsuid.as_ref().is_some_and(|b| c.get("user_id").and_then(Value::as_str) == Some(b.as_str()))
        })
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    // The BSUID is on the message (`from_user_id`) or, in some payloads, only on the contact.
    let bsuid = bsuid
        .or_else(|| profile.and_then(|p| p.get("user_id")).and_then(Value::as_str).and_then(|s| Bsuid::parse(s).ok()));
    let from = Sender {
        wa_id,
        bsuid,
        profile_name: profile.and_then(|p| p.pointer("/profile/name")).and_then(Value::as_str).map(str::to_owned),
        username: profile.and_then(|p| p.pointer("/profile/username")).and_then(Value::as_str).map(str::to_owned),
        contact_fields: Vec::new(),
    };
    let context = m.get("context").map(|c| Context {
        reply_to: str_field(c, "id"),
        forwarded: c.get("forwarded").and_then(Value::as_bool).unwrap_or(false),
        frequently_forwarded: c.get("frequently_forwarded").and_then(Value::as_bool).unwrap_or(false),
        referred_product: c.get("referred_product").cloned(),
    });
    let raw = match profile {
        Some(p) => serde_json::json!({"message": m, "contact": p}),
        None => serde_json::json!({"message": m}),
    };
    Some(InboundMessage {
        provider_message_id,
        from,
        sent_at,
        content: parse_content(m),
        context,
        referral: m.get("referral").cloned(),
        errors: parse_errors(m),
        raw,
    })
}

fn media(v: Option<&Value>) -> Media {
    let Some(v) = v else { return Media::default() };
    Media {
        id: v.get("id").map(id_string),
        link: str_field(v, "link"),
        mime_type: str_field(v, "mime_type"),
        sha256: str_field(v, "sha256"),
        caption: str_field(v, "caption"),
        filename: str_field(v, "filename"),
        voice: v.get("voice").and_then(Value::as_bool).unwrap_or(false),
        animated: v.get("animated").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The content of a message object (also used for the message inside an `edit`).
fn parse_content(m: &Value) -> Content {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let body = m.get(kind);
    match kind {
        "text" => {
            Content::Text { body: body.and_then(|b| str_field(b, "body")).unwrap_or_default(), preview_url: None }
        }
        "image" => Content::Image(media(body)),
        "audio" => Content::Audio(media(body)),
        "video" => Content::Video(media(body)),
        "document" => Content::Document(media(body)),
        "sticker" => Content::Sticker(media(body)),
        "location" => {
            match (number(body.and_then(|b| b.get("latitude"))), number(body.and_then(|b| b.get("longitude")))) {
                (Some(latitude), Some(longitude)) => Content::Location {
                    latitude,
                    longitude,
                    name: body.and_then(|b| str_field(b, "name")),
                    address: body.and_then(|b| str_field(b, "address")),
                    url: body.and_then(|b| str_field(b, "url")),
                },
                _ => Content::Unknown { provider_type: "location".into() },
            }
        }
        "contacts" => Content::Contacts { contacts: body.and_then(Value::as_array).cloned().unwrap_or_default() },
        "interactive" => parse_interactive(body),
        "button" => Content::Button {
            text: body.and_then(|b| str_field(b, "text")).unwrap_or_default(),
            payload: body.and_then(|b| str_field(b, "payload")),
        },
        "reaction" => Content::Reaction {
            message_id: body.and_then(|b| str_field(b, "message_id")).unwrap_or_default(),
            emoji: body.and_then(|b| str_field(b, "emoji")).filter(|e| !e.is_empty()),
        },
        "order" => Content::Order {
            catalog_id: body.and_then(|b| str_field(b, "catalog_id")),
            text: body.and_then(|b| str_field(b, "text")),
            items: body.and_then(|b| b.get("product_items")).and_then(Value::as_array).cloned().unwrap_or_default(),
        },
        "system" => Content::System {
            kind: body.and_then(|b| str_field(b, "type")).unwrap_or_else(|| "unknown".into()),
            body: body.and_then(|b| str_field(b, "body")),
            new_wa_id: body.and_then(|b| str_field(b, "wa_id").or_else(|| str_field(b, "new_wa_id"))),
            new_user_id: body.and_then(|b| str_field(b, "user_id")),
        },
        "edit" => match body.and_then(|b| str_field(b, "original_message_id")) {
            Some(original_message_id) => Content::Edit {
                original_message_id,
                message: Box::new(
                    body.and_then(|b| b.get("message")).map_or(Content::Unsupported { kind: None }, parse_content),
                ),
            },
            None => Content::Unknown { provider_type: "edit".into() },
        },
        "revoke" => match body.and_then(|b| str_field(b, "original_message_id")) {
            Some(original_message_id) => Content::Revoke { original_message_id },
            None => Content::Unknown { provider_type: "revoke".into() },
        },
        "unsupported" | "unknown" => Content::Unsupported { kind: body.and_then(|b| str_field(b, "type")) },
        "request_welcome" => Content::RequestWelcome,
        other => Content::Unknown { provider_type: other.chars().take(64).collect() },
    }
}

fn parse_interactive(body: Option<&Value>) -> Content {
    let Some(body) = body else { return Content::Unsupported { kind: Some("interactive".into()) } };
    let kind = str_field(body, "type").unwrap_or_else(|| "unknown".into());
    let reply = body.get(&kind);
    let response = reply.and_then(|r| r.get("response_json")).map(|r| match r {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| r.clone()),
        other => other.clone(),
    });
    let response =
        response.or_else(|| (kind == "call_permission_reply").then(|| reply.cloned().unwrap_or(Value::Null)));
    Content::Interactive {
        id: reply.and_then(|r| str_field(r, "id")),
        title: reply.and_then(|r| str_field(r, "title").or_else(|| str_field(r, "body"))),
        description: reply.and_then(|r| str_field(r, "description")),
        response,
        kind,
    }
}

fn parse_status(s: &Value) -> Option<StatusUpdate> {
    let provider_message_id = str_field(s, "id").filter(|id| !id.is_empty())?;
    let status = DeliveryStatus::parse(s.get("status").and_then(Value::as_str)?)?;
    if !matches!(
        status,
        DeliveryStatus::Sent
            | DeliveryStatus::Delivered
            | DeliveryStatus::Read
            | DeliveryStatus::Played
            | DeliveryStatus::Failed
    ) {
        return None;
    }
    Some(StatusUpdate {
        provider_message_id,
        status,
        at: timestamp(s)?,
        recipient: str_field(s, "recipient_id").or_else(|| str_field(s, "recipient_user_id")),
        errors: parse_errors(s),
        pricing: pricing_of(s),
        raw: s.clone(),
    })
}

/// The status's `pricing`, with the conversation it was charged in when Meta names one (the
/// per-conversation model's `conversation.id` and `origin.type`) as `pricing.conversation`.
fn pricing_of(s: &Value) -> Option<Value> {
    let mut pricing = s.get("pricing").cloned()?;
    if let (Some(fields), Some(conversation)) = (pricing.as_object_mut(), s.get("conversation")) {
        let id = conversation.get("id").and_then(Value::as_str);
        let origin = conversation.get("origin").and_then(|o| o.get("type")).and_then(Value::as_str);
        if let Some(id) = id {
            fields.insert("conversation".into(), serde_json::json!({"id": id, "origin": origin}));
        }
    }
    Some(pricing)
}

fn parse_user_preferences(value: &Map<String, Value>) -> Vec<InboundEvent> {
    value
        .get("user_preferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| match (str_field(p, "category"), str_field(p, "value"), timestamp(p)) {
            (Some(category), Some(value), Some(at)) => InboundEvent::UserPreference {
                wa_id: p.get("wa_id").and_then(Value::as_str).and_then(|s| WaId::parse(s).ok()),
                bsuid: p.get("user_id").and_then(Value::as_str).and_then(|s| Bsuid::parse(s).ok()),
                category,
                value,
                at,
                raw: p.clone(),
            },
            _ => InboundEvent::Other { field: "user_preferences.unreadable".into(), value: p.clone() },
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! Messages as Parley models them, whatever the provider: a typed [`Content`] per message type,
//! the inbound events a provider's webhook turns into ([`InboundEvent`]), and the delivery
//! status lattice that keeps statuses moving only forward ([`DeliveryStatus::advance`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::Timestamp;
use crate::whatsapp::{Bsuid, WaId};

/// The typed payload of a message. Unknown and unsupported types are kept, never dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preview_url: Option<bool>,
    },
    Image(Media),
    Audio(Media),
    Video(Media),
    Document(Media),
    Sticker(Media),
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Shared contact cards, vCard-like objects as the provider sent them.
    Contacts {
        contacts: Vec<Value>,
    },
    /// A reply to an interactive message: `button_reply`, `list_reply`, `nfm_reply` (flows), …
    Interactive {
        kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Flow replies: the `response_json` string parsed when it is JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<Value>,
    },
    /// A tap on a template's quick-reply button.
    Button {
        text: String,
        payload: Option<String>,
    },
    /// `emoji: None` removes the sender's reaction.
    Reaction {
        message_id: String,
        emoji: Option<String>,
    },
    Order {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        catalog_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        items: Vec<Value>,
    },
    /// A system notice: `user_changed_number`, `user_changed_user_id`, …
    System {
        kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_wa_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_user_id: Option<String>,
    },
    /// The user edited an earlier message: its new content.
    Edit {
        original_message_id: String,
        message: Box<Content>,
    },
    /// The user deleted an earlier message for everyone.
    Revoke {
        original_message_id: String,
    },
    /// WhatsApp could not show this message (polls, view-once, …); `kind` says what it was.
    Unsupported {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    },
    /// The user opened the chat for the first time.
    RequestWelcome,
    /// A template message (outbound).
    Template {
        name: String,
        language: String,
        components: Vec<Value>,
    },
    /// An interactive message the business sends (buttons, list, call-to-action URL), in the
    /// Cloud API's shape.
    InteractiveMessage {
        interactive: Value,
    },
    /// A type this version does not know; the raw JSON keeps everything.
    Unknown {
        provider_type: String,
    },
}

/// The media id Parley gives a file uploaded for a provider that takes files by link only
/// (Twilio, MessageBird): Parley itself serves it, under a signed link made when the message
/// goes out.
pub const PARLEY_UPLOAD_PREFIX: &str = "parley-upload-";

/// A media attachment as the provider describes it; the file itself is fetched later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// The provider's media id (downloadable for a limited time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The provider's checksum of the file (base64 SHA-256 for Meta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Audio: a recorded voice note. Sticker: animated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub voice: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub animated: bool,
}

impl Media {
    /// The id of a file Parley keeps and serves by link (see [`PARLEY_UPLOAD_PREFIX`]).
    pub fn parley_upload(&self) -> Option<&str> {
        self.id.as_deref().filter(|id| id.starts_with(PARLEY_UPLOAD_PREFIX))
    }
}

impl Content {
    /// The `type` name stored and shown in the API.
    pub fn type_name(&self) -> &str {
        match self {
            Content::Text { .. } => "text",
            Content::Image(_) => "image",
            Content::Audio(_) => "audio",
            Content::Video(_) => "video",
            Content::Document(_) => "document",
            Content::Sticker(_) => "sticker",
            Content::Location { .. } => "location",
            Content::Contacts { .. } => "contacts",
            Content::Interactive { .. } => "interactive",
            Content::Button { .. } => "button",
            Content::Reaction { .. } => "reaction",
            Content::Order { .. } => "order",
            Content::System { .. } => "system",
            Content::Edit { .. } => "edit",
            Content::Revoke { .. } => "revoke",
            Content::Unsupported { .. } => "unsupported",
            Content::RequestWelcome => "request_welcome",
            Content::Template { .. } => "template",
            Content::InteractiveMessage { .. } => "interactive",
            Content::Unknown { provider_type } => provider_type,
        }
    }

    /// The human-readable text of the message, for the thread preview and search.
    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text { body, .. } => Some(body),
            Content::Image(m) | Content::Video(m) | Content::Document(m) => {
                m.caption.as_deref().or(m.filename.as_deref())
            }
            Content::Location { name, address, .. } => name.as_deref().or(address.as_deref()),
            Content::Interactive { title, .. } => title.as_deref(),
            Content::Button { text, .. } => Some(text),
            Content::Reaction { emoji, .. } => emoji.as_deref(),
            Content::Order { text, .. } => text.as_deref(),
            Content::System { body, .. } => body.as_deref(),
            Content::Edit { message, .. } => message.text(),
            Content::InteractiveMessage { interactive } => interactive.pointer("/body/text").and_then(Value::as_str),
            Content::Template { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The text a search finds this message by: its own text, not that of an edit or a
    /// reaction (an edit's new text is searched on the message it changes).
    pub fn search_text(&self) -> Option<&str> {
        match self {
            Content::Edit { .. } | Content::Reaction { .. } => None,
            other => other.text(),
        }
    }

    /// The attachment, for types that carry one.
    pub fn media(&self) -> Option<&Media> {
        match self {
            Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) | Content::Sticker(m) => {
                Some(m)
            }
            _ => None,
        }
    }
}

/// Who wrote: at least one of `wa_id` and `bsuid` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sender {
    pub wa_id: Option<WaId>,
    pub bsuid: Option<Bsuid>,
    pub profile_name: Option<String>,
    pub username: Option<String>,
    /// What the provider's channel keeps on the sender besides the profile name (MessageBird's
    /// contact metadata: its contact id, names, avatar, custom attributes), as custom field
    /// values: they fill the contact's empty fields, never one the team set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contact_fields: Vec<(String, Value)>,
}

impl Sender {
    /// A sender known by their WhatsApp id only.
    pub fn of(wa_id: WaId) -> Sender {
        Sender { wa_id: Some(wa_id), bsuid: None, profile_name: None, username: None, contact_fields: Vec::new() }
    }
}

/// Reply/forward context of an inbound message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The provider id of the message replied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frequently_forwarded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_product: Option<Value>,
}

/// An error a provider attached to a message, a status or a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    pub code: i64,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// A message a customer sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InboundMessage {
    pub provider_message_id: String,
    pub from: Sender,
    /// The provider's time for the message (not our arrival time).
    pub sent_at: Timestamp,
    pub content: Content,
    pub context: Option<Context>,
    /// Click-to-WhatsApp ad referral: opens a free entry point when the business replies.
    pub referral: Option<Value>,
    pub errors: Vec<ProviderError>,
    /// The provider's JSON for this message (and its sender), kept for audit.
    pub raw: Value,
}

/// A status the provider reports for a message we sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusUpdate {
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    pub at: Timestamp,
    pub recipient: Option<String>,
    pub errors: Vec<ProviderError>,
    /// Billing information (`billable`, `pricing_model`, `type`, `category`) when present.
    pub pricing: Option<Value>,
    pub raw: Value,
}

/// Everything a provider webhook can tell us about one channel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum InboundEvent {
    Message(Box<InboundMessage>),
    Status(StatusUpdate),
    /// A marketing opt-out (`stop`) or opt-in (`resume`) from the user.
    UserPreference {
        wa_id: Option<WaId>,
        bsuid: Option<Bsuid>,
        category: String,
        value: String,
        at: Timestamp,
        raw: Value,
    },
    /// A template's review status, quality or category changed.
    Template(crate::template_review::TemplateUpdate),
    /// A number's (or the whole account's) health changed: quality, status, limit tier…
    Health {
        field: String,
        scope: crate::health::HealthScope,
        change: crate::health::HealthChange,
        raw: Value,
    },
    /// Anything else the provider sent (account alerts, errors…): kept as an event.
    Other {
        field: String,
        value: Value,
    },
}

/// Where an outbound message is. Statuses only move forward: see [`DeliveryStatus::advance`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Inbound messages: we received it.
    Received,
    Queued,
    Sending,
    /// The dispatcher crashed between sending and recording the answer: never resent by itself.
    Unknown,
    Sent,
    Failed,
    Delivered,
    Read,
    /// A voice message was played.
    Played,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Received => "received",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Unknown => "unknown",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Played => "played",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "received" => DeliveryStatus::Received,
            "queued" => DeliveryStatus::Queued,
            "sending" => DeliveryStatus::Sending,
            "unknown" => DeliveryStatus::Unknown,
            "sent" => DeliveryStatus::Sent,
            "failed" => DeliveryStatus::Failed,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "played" => DeliveryStatus::Played,
            _ => return None,
        })
    }

    /// Position in the lattice. `failed` outranks `sent` (the provider gave up) but not
    /// `delivered`: evidence that the message reached the phone wins over a failure report.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Received => 0,
            DeliveryStatus::Queued => 1,
            DeliveryStatus::Sending => 2,
            DeliveryStatus::Unknown => 3,
            DeliveryStatus::Sent => 4,
            DeliveryStatus::Failed => 5,
            DeliveryStatus::Delivered => 6,
            DeliveryStatus::Read => 7,
            DeliveryStatus::Played => 8,
        }
    }

    /// Whether the message's fate is known: it reached the phone (delivered, read, played) or
    /// the provider gave up (failed). A held fee is settled then.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Failed | DeliveryStatus::Delivered | DeliveryStatus::Read | DeliveryStatus::Played
        )
    }

    /// The status after `incoming` is reported on a message at `self`: `Some(incoming)` when it
    /// moves the message forward, `None` when it is old news (a late `sent` after `read`, a
    /// duplicate).
    pub fn advance(self, incoming: DeliveryStatus) -> Option<DeliveryStatus> {
        (incoming.rank() > self.rank()).then_some(incoming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert_eq!(Sent.advance(Delivered), Some(Delivered));
        assert_eq!(Sent.advance(Read), Some(Read), "read before delivered is fine");
        assert_eq!(Read.advance(Delivered), None, "a late delivered never downgrades");
        assert_eq!(Read.advance(Sent), None, "a late sent never downgrades");
        assert_eq!(Delivered.advance(Delivered), None, "duplicates are no-ops");
        assert_eq!(Sent.advance(Failed), Some(Failed));
        assert_eq!(Delivered.advance(Failed), None, "delivery evidence wins over failure");
        assert_eq!(Failed.advance(Read), Some(Read));
        assert_eq!(Read.advance(Played), Some(Played));
        assert_eq!(Queued.advance(Sent), Some(Sent));
        assert_eq!(Unknown.advance(Sent), Some(Sent));
    }

    #[test]
    fn names_round_trip() {
        for s in [Received, Queued, Sending, Unknown, Sent, Failed, Delivered, Read, Played] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("deleted"), None);
    }

    #[test]
    fn content_text_and_type() {
        let c = Content::Image(Media { caption: Some("look".into()), ..Media::default() });
        assert_eq!((c.type_name(), c.text()), ("image", Some("look")));
        let edit = Content::Edit {
            original_message_id: "w".into(),
            message: Box::new(Content::Text { body: "new".into(), preview_url: None }),
        };
        assert_eq!(edit.text(), Some("new"));
        assert_eq!(edit.search_text(), None, "searched on the message it edits");
        let reaction = Content::Reaction { message_id: "w".into(), emoji: Some("👍".into()) };
        assert_eq!(reaction.search_text(), None);
        assert_eq!(c.search_text(), Some("look"));
        assert_eq!(Content::Unknown { provider_type: "poll".into() }.type_name(), "poll");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["type"], "image");
        assert_eq!(serde_json::from_value::<Content>(json).unwrap(), c);
    }
}

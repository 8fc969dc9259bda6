//! Conversations (one contact × one channel) and the messages stored in them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ChannelId, ContactId, ConversationId, MessageId, UserId, WorkspaceId};
use crate::message::{Content, Context, DeliveryStatus, ProviderError};
use crate::time::Timestamp;

/// The customer service window: free-form messages are allowed this long after the customer's
/// last message (spec/meta-cloud-api.md §9.1).
pub const SERVICE_WINDOW_SECS: i64 = 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Pending,
    Snoozed,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Pending => "pending",
            ConversationStatus::Snoozed => "snoozed",
            ConversationStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => ConversationStatus::Open,
            "pending" => ConversationStatus::Pending,
            "snoozed" => ConversationStatus::Snoozed,
            "closed" => ConversationStatus::Closed,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conversation {
    pub id: ConversationId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    pub assignee_id: Option<UserId>,
    pub last_message_at: Timestamp,
    /// The customer's last message (provider time); the 24 h window runs from here.
    pub last_inbound_at: Option<Timestamp>,
    pub last_referral_at: Option<Timestamp>,
    /// When the current 72 h free entry point opened.
    pub entry_point_opened_at: Option<Timestamp>,
    /// A snoozed conversation opens again at this time (or when the customer writes).
    pub snoozed_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Conversation {
    /// When the customer service window closes, if it is open at all.
    pub fn window_closes_at(&self) -> Option<Timestamp> {
        self.last_inbound_at.map(|t| t.plus_secs(SERVICE_WINDOW_SECS))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Whether an inbound attachment has been fetched into Parley's storage yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    Pending,
    Available,
    Failed,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Available => "available",
            MediaState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => MediaState::Pending,
            "available" => MediaState::Available,
            "failed" => MediaState::Failed,
            _ => return None,
        })
    }
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub direction: Direction,
    pub provider_message_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub content: Content,
    pub context: Option<Context>,
    pub referral: Option<Value>,
    pub status: DeliveryStatus,
    pub status_at: Option<Timestamp>,
    pub error: Option<ProviderError>,
    pub pricing: Option<Value>,
    /// Provider time for inbound messages; the thread is ordered by it.
    pub sent_at: Timestamp,
    /// When Parley stored it.
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Whether the attachment is in Parley's storage yet (the API shows it with its URL).
    #[serde(skip)]
    pub media: Option<MediaState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_24_hours_from_the_last_inbound() {
        let c = Conversation {
            id: ConversationId(1),
            workspace_id: WorkspaceId(1),
            channel_id: ChannelId(1),
            contact_id: ContactId(1),
            status: ConversationStatus::Open,
            assignee_id: None,
            last_message_at: Timestamp::from_secs(100),
            last_inbound_at: Some(Timestamp::from_secs(100)),
            last_referral_at: None,
            entry_point_opened_at: None,
            snoozed_until: None,
            created_at: Timestamp::from_secs(100),
            updated_at: Timestamp::from_secs(100),
        };
        assert_eq!(c.window_closes_at(), Some(Timestamp::from_secs(100 + 86_400)));
        assert_eq!(ConversationStatus::parse("snoozed"), Some(ConversationStatus::Snoozed));
        assert_eq!(ConversationStatus::parse("archived"), None);
    }
}

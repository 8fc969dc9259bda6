//! Conversations (one contact × one channel) and the messages stored in them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ChannelId, ContactId, ConversationId, MessageId, TeamId, UserId, WorkspaceId};
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
    /// The team whose queue the conversation is in, if any.
    pub team_id: Option<TeamId>,
    pub last_message_at: Timestamp,
    /// The customer's last message (provider time); the 24 h window runs from here.
    pub last_inbound_at: Option<Timestamp>,
    pub last_referral_at: Option<Timestamp>,
    /// When the current 72 h free entry point opened.
    pub entry_point_opened_at: Option<Timestamp>,
    /// A snoozed conversation opens again at this time (or when the customer writes).
    pub snoozed_until: Option<Timestamp>,
    /// The last closing note: a category from the workspace's list and a summary.
    pub closing_category: Option<String>,
    pub closing_summary: Option<String>,
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
    /// Who sent it from Parley (an outbound message an agent wrote); `None` for the customer's
    /// messages and for sends by the API without a user.
    pub author_id: Option<crate::ids::UserId>,
    /// Provider time for inbound messages; the thread is ordered by it.
    pub sent_at: Timestamp,
    /// When Parley stored it.
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    /// What an edited message said before its latest edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Content>,
    pub revoked_at: Option<Timestamp>,
    /// Whether the attachment is in Parley's storage yet (the API shows it with its URL).
    #[serde(skip)]
    pub media: Option<MediaState>,
}

/// Who may (re)assign a conversation: owners and managers anyone to anyone; an agent takes a
/// conversation nobody (or they) holds, or lets go of their own — never someone else's, except
/// a bot's: a person takes a bot's conversation for themself at any time, and a bot (which acts
/// as an agent) passes its own conversation to anyone (a hand-over).
pub fn may_assign(
    role: crate::account::Role,
    me: UserId,
    current: Option<UserId>,
    held_by_bot: bool,
    to: Option<UserId>,
) -> bool {
    if role.can_administer() {
        return true;
    }
    let free_or_mine = current.is_none_or(|a| a == me);
    let allowed = match to {
        Some(user) => user == me && free_or_mine,
        None => free_or_mine,
    };
    allowed || (held_by_bot && (to == Some(me) || current == Some(me)))
}

/// Who may put a conversation in a team's queue (or take it out): owners and managers any
/// conversation; an agent only one they hold, to hand it over to another team.
pub fn may_set_team(role: crate::account::Role, me: UserId, assignee: Option<UserId>) -> bool {
    role.can_administer() || assignee == Some(me)
}

/// Whether closing a conversation asks for a note (a category from the workspace's list and a
/// summary): not at all, optionally, the category, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosingNotes {
    Off,
    Optional,
    Category,
    Both,
}

impl ClosingNotes {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosingNotes::Off => "off",
            ClosingNotes::Optional => "optional",
            ClosingNotes::Category => "category",
            ClosingNotes::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => ClosingNotes::Off,
            "optional" => ClosingNotes::Optional,
            "category" => ClosingNotes::Category,
            "both" => ClosingNotes::Both,
            _ => return None,
        })
    }
}

pub const MAX_CLOSING_SUMMARY_CHARS: usize = 2000;
pub const MAX_CLOSING_CATEGORIES: usize = 50;
pub const MAX_CLOSING_CATEGORY_CHARS: usize = 64;

/// What an agent wrote when closing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosingNote {
    pub category: Option<String>,
    pub summary: Option<String>,
}

/// Checks a closing note against the workspace's mode and categories; answers it trimmed (empty
/// parts dropped).
pub fn check_closing_note(
    mode: ClosingNotes,
    categories: &[String],
    note: &ClosingNote,
) -> Result<ClosingNote, crate::Invalid> {
    let clean = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let note = ClosingNote { category: clean(&note.category), summary: clean(&note.summary) };
    let invalid =
        |field: &str, message: &str| crate::Invalid::new("invalid_closing_note", Some(field.to_owned()), message);
    if mode == ClosingNotes::Off && (note.category.is_some() || note.summary.is_some()) {
        return Err(invalid("category", "closing notes are off in this workspace"));
    }
    if let Some(c) = &note.category
        && !categories.iter().any(|k| k == c)
    {
        return Err(invalid("category", "not one of the workspace's closing categories"));
    }
    if note.summary.as_ref().is_some_and(|s| s.chars().count() > MAX_CLOSING_SUMMARY_CHARS) {
        return Err(invalid("summary", "at most 2,000 characters"));
    }
    if matches!(mode, ClosingNotes::Category | ClosingNotes::Both) && note.category.is_none() {
        return Err(invalid("category", "this workspace asks for a category when closing"));
    }
    if mode == ClosingNotes::Both && note.summary.is_none() {
        return Err(invalid("summary", "this workspace asks for a summary when closing"));
    }
    Ok(note)
}

/// Checks a workspace's list of closing categories: at most 50, each 1 to 64 characters, no repeats.
pub fn check_closing_categories(categories: &[String]) -> Result<Vec<String>, crate::Invalid> {
    let bad = |m: &str| crate::Invalid::request("categories", m);
    if categories.len() > MAX_CLOSING_CATEGORIES {
        return Err(bad("at most 50 categories"));
    }
    let mut out: Vec<String> = Vec::new();
    for c in categories {
        let c = c.trim();
        if c.is_empty() || c.chars().count() > MAX_CLOSING_CATEGORY_CHARS {
            return Err(bad("each category has 1 to 64 characters"));
        }
        if out.iter().any(|k| k == c) {
            return Err(bad("a category appears twice"));
        }
        out.push(c.to_owned());
    }
    Ok(out)
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
            team_id: None,
            last_message_at: Timestamp::from_secs(100),
            last_inbound_at: Some(Timestamp::from_secs(100)),
            last_referral_at: None,
            entry_point_opened_at: None,
            snoozed_until: None,
            closing_category: None,
            closing_summary: None,
            created_at: Timestamp::from_secs(100),
            updated_at: Timestamp::from_secs(100),
        };
        assert_eq!(c.window_closes_at(), Some(Timestamp::from_secs(100 + 86_400)));
        assert_eq!(ConversationStatus::parse("snoozed"), Some(ConversationStatus::Snoozed));
        assert_eq!(ConversationStatus::parse("archived"), None);
    }

    #[test]
    fn who_may_assign() {
        use crate::account::Role;
        let (me, other) = (crate::ids::UserId(1), crate::ids::UserId(2));
        assert!(may_assign(Role::Manager, me, Some(other), false, Some(crate::ids::UserId(3))));
        assert!(may_assign(Role::Agent, me, None, false, Some(me)), "take a free one");
        assert!(may_assign(Role::Agent, me, Some(me), false, None), "let go of one's own");
        assert!(!may_assign(Role::Agent, me, Some(other), false, Some(me)), "never take someone else's");
        assert!(!may_assign(Role::Agent, me, Some(other), false, None), "nor release it");
        assert!(!may_assign(Role::Agent, me, None, false, Some(other)), "nor give one away");
        let bot = crate::ids::UserId(9);
        assert!(may_assign(Role::Agent, me, Some(bot), true, Some(me)), "a person takes over from a bot");
        assert!(!may_assign(Role::Agent, me, Some(bot), true, Some(other)), "but gives it to no one else");
        assert!(!may_assign(Role::Agent, me, Some(other), false, Some(me)), "a person's is theirs");
        assert!(may_assign(Role::Agent, bot, Some(bot), true, Some(other)), "a bot hands its own over");
        assert!(!may_assign(Role::Agent, bot, Some(other), false, Some(bot)), "a bot takes nobody's");
    }

    #[test]
    fn who_may_set_a_team() {
        use crate::account::Role;
        let (me, other) = (crate::ids::UserId(1), crate::ids::UserId(2));
        assert!(may_set_team(Role::Owner, me, None));
        assert!(may_set_team(Role::Manager, me, Some(other)));
        assert!(may_set_team(Role::Agent, me, Some(me)), "hand one's own conversation to a team");
        assert!(!may_set_team(Role::Agent, me, None), "not a conversation nobody holds");
        assert!(!may_set_team(Role::Agent, me, Some(other)), "nor someone else's");
    }

    #[test]
    fn closing_notes_follow_the_mode() {
        let cats = vec!["sale".to_owned(), "support".to_owned()];
        let note =
            |c: Option<&str>, s: Option<&str>| ClosingNote { category: c.map(Into::into), summary: s.map(Into::into) };
        let field = |r: Result<ClosingNote, crate::Invalid>| r.unwrap_err().field.unwrap();
        assert_eq!(check_closing_note(ClosingNotes::Off, &cats, &note(None, Some("  "))), Ok(ClosingNote::default()));
        assert_eq!(field(check_closing_note(ClosingNotes::Off, &cats, &note(Some("sale"), None))), "category");
        assert!(check_closing_note(ClosingNotes::Optional, &cats, &note(None, None)).is_ok());
        assert_eq!(field(check_closing_note(ClosingNotes::Optional, &cats, &note(Some("other"), None))), "category");
        assert_eq!(field(check_closing_note(ClosingNotes::Category, &cats, &note(None, Some("done")))), "category");
        assert!(check_closing_note(ClosingNotes::Category, &cats, &note(Some("sale"), None)).is_ok());
        assert_eq!(field(check_closing_note(ClosingNotes::Both, &cats, &note(Some("sale"), None))), "summary");
        let long = "x".repeat(2001);
        assert_eq!(field(check_closing_note(ClosingNotes::Both, &cats, &note(Some("sale"), Some(&long)))), "summary");
        let ok = check_closing_note(ClosingNotes::Both, &cats, &note(Some(" sale "), Some(" paid "))).unwrap();
        assert_eq!((ok.category.as_deref(), ok.summary.as_deref()), (Some("sale"), Some("paid")));
        assert_eq!(check_closing_categories(&[" a ".into(), "b".into()]).unwrap(), ["a", "b"]);
        assert!(check_closing_categories(&["a".into(), "a ".into()]).is_err());
        assert!(check_closing_categories(&["".into()]).is_err());
        assert_eq!(ClosingNotes::parse("both"), Some(ClosingNotes::Both));
    }
}

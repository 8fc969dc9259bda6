//! What starts a workflow run: a trigger as written, and the happenings the runner reads from
//! the event log, matched here.

use serde::{Deserialize, Serialize};

use super::Problem;
use crate::bots::asks_for_person;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A conversation began or opened again; `by` narrows it to who opened it.
    ConversationOpened {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<OpenedBy>,
    },
    /// A conversation was closed.
    ConversationClosed,
    /// A customer's message; with `keywords`, one of them as whole words (any case); with
    /// `first_only`, only the message that opened the conversation.
    MessageReceived {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keywords: Vec<String>,
        #[serde(default)]
        first_only: bool,
    },
    TagAdded {
        tag: String,
    },
    TagRemoved {
        tag: String,
    },
    AssignmentChanged,
    ContactCreated,
    /// Only run by hand, on a conversation (`POST /workflows/{id}/runs`).
    Manual,
}

/// Who opened a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenedBy {
    /// The customer wrote.
    Contact,
    /// A person (reopened it).
    Person,
}

/// Something that happened, as the runner reads it from the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    ConversationOpened { by: OpenedBy },
    ConversationClosed,
    MessageReceived { text: Option<String>, first: bool },
    TagAdded { tag: String },
    TagRemoved { tag: String },
    AssignmentChanged,
    ContactCreated,
}

impl Trigger {
    /// Whether runs it starts have a conversation (a new contact has none yet).
    pub fn has_conversation(&self) -> bool {
        !matches!(self, Trigger::ContactCreated)
    }

    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        let bad = |tag: &str| tag.trim().is_empty() || tag.chars().count() > 64;
        match self {
            Trigger::TagAdded { tag } | Trigger::TagRemoved { tag } if bad(tag) => {
                problems.push(Problem::whole("the trigger's tag is 1 to 64 characters"));
            }
            Trigger::MessageReceived { keywords, .. }
                if keywords.len() > 100 || keywords.iter().any(|k| k.trim().is_empty() || k.chars().count() > 64) =>
            {
                problems.push(Problem::whole("up to 100 trigger keywords of 1 to 64 characters"));
            }
            _ => {}
        }
    }

    /// Whether this trigger starts a run on `h`.
    pub fn fires_on(&self, h: &Happening) -> bool {
        let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
        match (self, h) {
            (Trigger::ConversationOpened { by }, Happening::ConversationOpened { by: who }) => {
                by.is_none_or(|b| b == *who)
            }
            (Trigger::ConversationClosed, Happening::ConversationClosed) => true,
            (Trigger::MessageReceived { keywords, first_only }, Happening::MessageReceived { text, first }) => {
                (!first_only || *first)
                    && (keywords.is_empty() || text.as_deref().and_then(|t| asks_for_person(t, keywords)).is_some())
            }
            (Trigger::TagAdded { tag }, Happening::TagAdded { tag: t }) => same(tag, t),
            (Trigger::TagRemoved { tag }, Happening::TagRemoved { tag: t }) => same(tag, t),
            (Trigger::AssignmentChanged, Happening::AssignmentChanged) => true,
            (Trigger::ContactCreated, Happening::ContactCreated) => true,
            _ => false,
        }
    }
}

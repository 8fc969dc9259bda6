//! What starts a workflow run: a trigger as written, and the happenings the runner reads from
//! the event log, matched here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Problem, field_name_problem};
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
        /// A regular expression the text must match (any case), besides the keywords.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
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
    /// A contact's custom field changed (`field`: that one only; any when left out).
    ContactFieldUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
    /// A customer wrote from a click-to-WhatsApp ad (`source_id`: that ad only).
    AdReferral {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_id: Option<String>,
    },
    /// Run by an agent from the inbox, on the conversation they are in.
    Shortcut,
    /// An open conversation went quiet: the customer has not answered the business (`who:
    /// contact`) or the team has not answered the customer (`who: team`) for `hours`.
    Inactivity {
        who: Silent,
        hours: i64,
    },
    /// On a schedule (`cron`: five fields, in `timezone`), a run for each contact carrying all
    /// of `tags` (every contact when none), on the contact's latest conversation.
    Schedule {
        cron: String,
        timezone: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// A call to the workflow's own URL (`POST /hooks/workflows/{id}/{token}`) with a JSON
    /// body: `phone` (a JSON pointer into it) names the contact, made when new; `name` and
    /// `fields` (field key → pointer) fill it; the run acts on its conversation on `channel_id`
    /// (opened by the run's first message when it has none).
    IncomingWebhook {
        channel_id: i64,
        phone: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        fields: BTreeMap<String, String>,
    },
    /// Only run by hand, on a conversation (`POST /workflows/{id}/runs`).
    Manual,
}

/// Whose silence an inactivity trigger waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Silent {
    /// The business wrote last and the customer has not answered.
    Contact,
    /// The customer wrote last and no one has answered.
    Team,
}

/// The longest inactivity a trigger waits for: 30 days.
pub const MAX_INACTIVITY_HOURS: i64 = 30 * 24;

/// Who opened a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenedBy {
    /// The customer wrote.
    Contact,
    /// A person (reopened it).
    Person,
    /// A workflow (its `reopen` step).
    Workflow,
}

/// Something that happened, as the runner reads it from the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    ConversationOpened {
        by: OpenedBy,
    },
    ConversationClosed,
    MessageReceived {
        text: Option<String>,
        first: bool,
    },
    TagAdded {
        tag: String,
    },
    TagRemoved {
        tag: String,
    },
    AssignmentChanged,
    ContactCreated,
    /// Custom fields whose value changed.
    ContactFieldsUpdated {
        fields: Vec<String>,
    },
    /// A customer's message from an ad (its `source_id`, when the referral has one).
    AdReferral {
        source_id: Option<String>,
    },
    /// A conversation quiet for `hours` (the inactivity scan).
    Inactivity {
        who: Silent,
        hours: i64,
    },
    /// A schedule fired for a contact of its segment (the schedule scan).
    Scheduled,
    /// The workflow's URL was called.
    Hooked,
}

/// A trigger's pattern, any case, of bounded size (a pattern from a user never costs more than
/// that to build or run).
pub fn regex_of(pattern: &str) -> Result<regex::Regex, Box<Problem>> {
    if pattern.is_empty() || pattern.len() > 500 {
        return Err(Box::new(Problem::whole("pattern_length", "a pattern is 1 to 500 characters").with("max", 500)));
    }
    regex::RegexBuilder::new(pattern).case_insensitive(true).size_limit(1 << 20).build().map_err(|e| {
        Box::new(
            Problem::whole("pattern_syntax", format!("the pattern does not read: {e}")).with("detail", e.to_string()),
        )
    })
}

impl Trigger {
    /// Whether runs it starts have a conversation: a new contact has none yet (a changed
    /// field runs on the contact's latest conversation, and a step that needs one fails
    /// visibly when it has none).
    pub fn has_conversation(&self) -> bool {
        !matches!(self, Trigger::ContactCreated)
    }

    /// Whether an agent may run it from the inbox.
    pub fn is_shortcut(&self) -> bool {
        matches!(self, Trigger::Shortcut)
    }

    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        let bad = |tag: &str| tag.trim().is_empty() || tag.chars().count() > 64;
        match self {
            Trigger::TagAdded { tag } | Trigger::TagRemoved { tag } if bad(tag) => {
                problems.push(Problem::whole("trigger_tag", "the trigger's tag is 1 to 64 characters").with("max", 64));
            }
            Trigger::MessageReceived { keywords, pattern, .. } => {
                if keywords.len() > 100 || keywords.iter().any(|k| k.trim().is_empty() || k.chars().count() > 64) {
                    let message = "up to 100 trigger keywords of 1 to 64 characters";
                    problems.push(Problem::whole("trigger_keywords", message).with("count", 100).with("max", 64));
                }
                if let Some(p) = pattern
                    && let Err(problem) = regex_of(p)
                {
                    problems.push(*problem);
                }
            }
            Trigger::ContactFieldUpdated { field: Some(field) } => {
                problems.extend(field_name_problem(field));
            }
            Trigger::AdReferral { source_id: Some(id) } if id.trim().is_empty() || id.len() > 128 => {
                let message = "the ad's source id is 1 to 128 characters";
                problems.push(Problem::whole("ad_source_id", message).with("max", 128));
            }
            Trigger::Inactivity { hours, .. } if !(1..=MAX_INACTIVITY_HOURS).contains(hours) => {
                problems.push(Problem::whole("inactivity_hours", "inactivity is 1 hour to 30 days"));
            }
            Trigger::IncomingWebhook { phone, name, fields, .. } => {
                let pointers = std::iter::once(phone).chain(name).chain(fields.values());
                if pointers.clone().any(|p| !p.starts_with('/')) {
                    let message = "the webhook's values are JSON pointers like /customer/phone";
                    problems.push(Problem::whole("webhook_pointers", message));
                }
                if fields.len() > 50 {
                    problems.push(
                        Problem::whole("webhook_fields_count", "a webhook fills at most 50 fields").with("max", 50),
                    );
                }
                problems.extend(fields.keys().filter_map(|key| field_name_problem(key)));
            }
            Trigger::Schedule { cron, timezone, tags } => {
                if let Err(problem) = super::hours::cron(cron) {
                    problems.push(*problem);
                }
                if let Err(problem) = super::hours::timezone(timezone) {
                    problems.push(*problem);
                }
                if tags.len() > 20 || tags.iter().any(|t| bad(t)) {
                    let message = "up to 20 segment tags of 1 to 64 characters";
                    problems.push(Problem::whole("segment_tags", message).with("count", 20).with("max", 64));
                }
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
            (
                Trigger::MessageReceived { keywords, pattern, first_only },
                Happening::MessageReceived { text, first },
            ) => {
                let matches = |p: &String| text.as_deref().is_some_and(|t| regex_of(p).is_ok_and(|r| r.is_match(t)));
                (!first_only || *first)
                    && (keywords.is_empty() || text.as_deref().and_then(|t| asks_for_person(t, keywords)).is_some())
                    && pattern.as_ref().is_none_or(matches)
            }
            (Trigger::TagAdded { tag }, Happening::TagAdded { tag: t }) => same(tag, t),
            (Trigger::TagRemoved { tag }, Happening::TagRemoved { tag: t }) => same(tag, t),
            (Trigger::AssignmentChanged, Happening::AssignmentChanged) => true,
            (Trigger::ContactCreated, Happening::ContactCreated) => true,
            (Trigger::ContactFieldUpdated { field }, Happening::ContactFieldsUpdated { fields }) => {
                field.as_ref().map_or(!fields.is_empty(), |f| fields.contains(f))
            }
            (Trigger::AdReferral { source_id: wanted }, Happening::AdReferral { source_id }) => {
                wanted.is_none() || wanted == source_id
            }
            (Trigger::Inactivity { who, hours }, Happening::Inactivity { who: w, hours: h }) => who == w && hours == h,
            (Trigger::Schedule { .. }, Happening::Scheduled) => true,
            (Trigger::IncomingWebhook { .. }, Happening::Hooked) => true,
            _ => false,
        }
    }
}

//! Workflows to start from: installed in one click, then edited like any. The first is the
//! seeds' own: respond.io replaced its "unassign when a conversation closes" setting with the
//! "Unassign After Conversation Closes" workflow template (release notes of April 2023).

use serde_json::{Value, json};

/// A template of the gallery.
pub struct Template {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub definition: fn() -> Value,
}

pub const GALLERY: &[Template] = &[
    Template {
        key: "unassign-after-close",
        name: "Unassign After Conversation Closes",
        description: "When a conversation is closed, its assignee lets go of it, so the next message from the \
                      customer goes to whoever is available.",
        definition: || json!({"trigger": {"kind": "conversation_closed"}, "steps": [{"id": "unassign", "kind": "unassign"}]}),
    },
    Template {
        key: "welcome",
        name: "Welcome message",
        description: "Greets a customer who opens a conversation, says when the team answers and how to reach a \
                      person.",
        definition: || {
            json!({
                "trigger": {"kind": "conversation_opened", "by": "contact"},
                "steps": [{"id": "welcome", "kind": "send_message",
                    "text": "Hello! Thanks for writing. A teammate answers within the hour, 9:00 to 18:00. \
                             You can also reach us at support@example.com."}]
            })
        },
    },
    Template {
        key: "route-by-keyword",
        name: "Route by keyword",
        description: "Tags a conversation whose first message asks about prices, and leaves a note for the sales \
                      team.",
        definition: || {
            json!({
                "trigger": {"kind": "message_received", "keywords": ["price", "prix", "giá"], "first_only": true},
                "steps": [
                    {"id": "tag", "kind": "add_tags", "tags": ["sales"], "next": "note"},
                    {"id": "note", "kind": "add_note", "text": "The customer asked about prices."}
                ]
            })
        },
    },
    Template {
        key: "away-outside-hours",
        name: "Away message outside hours",
        description: "Answers a customer who writes outside the opening hours (Monday to Friday, 9:00 to 18:00; \
                      set your own timezone and hours) with when the team is back.",
        definition: || {
            json!({
                "trigger": {"kind": "message_received", "first_only": true},
                "steps": [
                    {"id": "hours", "kind": "business_hours", "closed": "away",
                     "hours": {"timezone": "Europe/Paris", "days": {
                        "mon": ["09:00-18:00"], "tue": ["09:00-18:00"], "wed": ["09:00-18:00"],
                        "thu": ["09:00-18:00"], "fri": ["09:00-18:00"]}}},
                    {"id": "away", "kind": "send_message",
                     "text": "Thanks for your message! We are closed now and answer from 9:00, Monday to Friday. \
                              Urgent? Write to support@example.com."}
                ]
            })
        },
    },
    Template {
        key: "csat-after-close",
        name: "CSAT after close",
        description: "When a person closes a conversation (not automatic closes), asks the customer how it went: \
                      buttons inside the 24-hour window, the utility template csat_survey outside it. A poor rating \
                      is tagged and noted for a follow-up.",
        definition: || {
            json!({
                "trigger": {"kind": "conversation_closed"},
                "conditions": [{"subject": "trigger.by", "op": "exists"}],
                "steps": [
                    {"id": "csat", "kind": "csat", "text": "How did we do? Reply here any time, or write to support@example.com.",
                     "template": {"name": "csat_survey", "language": "en"}, "next": "check"},
                    {"id": "check", "kind": "branch", "rules": [
                        {"when": [{"subject": "answers.csat", "op": "equals", "value": "Poor"}], "next": "unhappy"}]},
                    {"id": "unhappy", "kind": "add_tags", "tags": ["unhappy"], "next": "note"},
                    {"id": "note", "kind": "add_note", "text": "{{contact.name|The customer}} rated us Poor: please follow up."}
                ]
            })
        },
    },
    Template {
        key: "re-engage-23h",
        name: "Re-engage after 23 hours of silence",
        description: "When the customer has not answered for 23 hours, writes once more while the 24-hour window \
                      is still open.",
        definition: || {
            json!({
                "trigger": {"kind": "inactivity", "who": "contact", "hours": 23},
                "steps": [{"id": "nudge", "kind": "send_message",
                    "text": "Hi {{contact.first_name|there}}, is there anything else we can help with? Reply here, \
                             or write to support@example.com."}]
            })
        },
    },
    Template {
        key: "collect-email-consent",
        name: "Collect email and consent",
        description: "Asks a new customer for an email address (checked, asked again once) and whether they agree \
                      to receive news; both are kept in contact fields.",
        definition: || {
            json!({
                "trigger": {"kind": "conversation_opened", "by": "contact"},
                "conditions": [{"subject": "contact.fields.email_address", "op": "not_exists"}],
                "steps": [
                    {"id": "email", "kind": "ask_question", "expect": "email", "save_to": "email_address",
                     "text": "Welcome! What is your email address? (A teammate also reads this chat.)",
                     "retries": 1, "retry_text": "That does not look like an email address. Could you check it?",
                     "timeout_seconds": 86400, "next": "consent"},
                    {"id": "consent", "kind": "ask_question", "expect": "choice", "options": ["Yes", "No"],
                     "save_to": "marketing_consent", "timeout_seconds": 86400,
                     "text": "May we send you news and offers here? You can say stop at any time. Questions: support@example.com"}
                ]
            })
        },
    },
    Template {
        key: "tag-from-ad",
        name: "Tag from a click-to-WhatsApp ad",
        description: "Tags a conversation that began from an ad, keeps the ad's id on the contact and notes its \
                      headline for the team.",
        definition: || {
            json!({
                "trigger": {"kind": "ad_referral"},
                "steps": [
                    {"id": "tag", "kind": "add_tags", "tags": ["from-ad"], "next": "source"},
                    {"id": "source", "kind": "set_field", "field": "ad_source", "value": "{{trigger.referral.source_id}}", "next": "note"},
                    {"id": "note", "kind": "add_note", "text": "Came from the ad \"{{trigger.referral.headline|(no headline)}}\"."}
                ]
            })
        },
    },
];

pub fn template(key: &str) -> Option<&'static Template> {
    GALLERY.iter().find(|t| t.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{parse, paths::paths_without_a_person, validate};

    #[test]
    fn every_template_is_valid_and_offers_a_person_where_it_replies() {
        for t in GALLERY {
            let d = parse(&(t.definition)()).unwrap_or_else(|p| panic!("{}: {p:?}", t.key));
            assert!(validate(&d).is_empty(), "{}: {:?}", t.key, validate(&d));
            assert!(paths_without_a_person(&d, &|_| false).is_empty(), "{}", t.key);
        }
        assert!(template("unassign-after-close").is_some() && template("nope").is_none());
    }
}

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

//! The outgoing webhook catalog as OpenAPI 3.1 `webhooks`: one entry per event kind, each
//! describing the signed envelope and the fields of its `data` (utoipa has no `webhooks` field:
//! `lib.rs` adds this object to the generated document).

use parley_core::outgoing::{KINDS, VERSION};
use serde_json::{Map, Value, json};

/// The fields of `data` per kind, as the event log writes them.
fn data_fields(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "message.received" => &[
            ("message_id", "integer"),
            ("conversation_id", "integer"),
            ("contact_id", "integer"),
            ("provider_message_id", "string"),
            ("type", "string"),
            ("text", "string"),
            ("sent_at", "string"),
            ("referral", "object"),
        ],
        "message.sent" => &[("message_id", "integer"), ("status", "string"), ("at", "string")],
        "message.status" => &[("message_id", "integer"), ("status", "string"), ("at", "string"), ("error", "object")],
        "conversation.opened" => {
            &[("conversation_id", "integer"), ("contact_id", "integer"), ("channel_id", "integer")]
        }
        "conversation.assigned" | "conversation.unassigned" => {
            &[("conversation_id", "integer"), ("from", "integer"), ("to", "integer"), ("by", "integer")]
        }
        "conversation.closed" => {
            &[("conversation_id", "integer"), ("by", "integer"), ("closing_note", "object"), ("reason", "string")]
        }
        "conversation.reopened" => {
            &[("conversation_id", "integer"), ("previous_status", "string"), ("by", "integer"), ("reason", "string")]
        }
        "contact.created" => &[
            ("id", "integer"),
            ("name", "string"),
            ("phone", "string"),
            ("email", "string"),
            ("fields", "object"),
            ("tags", "array"),
        ],
        "contact.updated" => &[
            ("id", "integer"),
            ("name", "string"),
            ("phone", "string"),
            ("email", "string"),
            ("fields", "object"),
            ("tags", "array"),
            ("changed", "array"),
        ],
        "contact.merged" => &[("contact", "object"), ("merge", "object")],
        "contact.deleted" => &[("id", "integer")],
        "note.created" => &[("conversation_id", "integer"), ("note", "object"), ("body", "string")],
        "template.status" | "template.quality" | "template.category" => &[
            ("template_id", "integer"),
            ("waba_id", "string"),
            ("name", "string"),
            ("language", "string"),
            ("change", "object"),
            ("before", "object"),
            ("after", "object"),
        ],
        "channel.health" => &[("channel_id", "integer"), ("changes", "array"), ("source", "string")],
        "balance.low" => &[
            ("alert_id", "integer"),
            ("account_id", "integer"),
            ("waba_id", "string"),
            ("currency", "string"),
            ("available", "string"),
            ("threshold", "string"),
        ],
        _ => &[],
    }
}

/// The `webhooks` object of the OpenAPI document.
pub fn openapi_webhooks() -> Value {
    let mut hooks = Map::new();
    for (kind, about) in KINDS {
        let fields: Map<String, Value> =
            data_fields(kind).iter().map(|(name, ty)| ((*name).to_owned(), json!({"type": [ty, "null"]}))).collect();
        let envelope = json!({
            "type": "object",
            "required": ["id", "kind", "version", "occurred_at", "workspace_id", "data"],
            "properties": {
                "id": {"type": "string", "description": "`evt_<event id>`: deduplicate on it"},
                "kind": {"const": kind},
                "version": {"const": VERSION},
                "occurred_at": {"type": "string", "format": "date-time"},
                "workspace_id": {"type": "integer"},
                "data": {"type": "object", "properties": fields},
            },
        });
        hooks.insert(
            (*kind).to_owned(),
            json!({"post": {
                "summary": about,
                "description": "Posted to each subscription that asked for this kind. See docs/webhooks.md.",
                "tags": ["webhooks"],
                "parameters": [
                    {"name": "Parley-Signature", "in": "header", "required": true, "schema": {"type": "string"},
                     "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with the secret>`"},
                    {"name": "Parley-Event-Id", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "Parley-Event-Kind", "in": "header", "required": true, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": envelope}}},
                "responses": {"2XX": {"description": "taken; any other answer is retried"}},
            }}),
        );
    }
    Value::Object(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_the_catalog_is_described_with_its_fields() {
        let hooks = openapi_webhooks();
        for (kind, _) in KINDS {
            assert!(!data_fields(kind).is_empty(), "{kind} has no documented fields");
            let schema = &hooks[kind]["post"]["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(schema["properties"]["kind"]["const"], *kind);
        }
    }
}

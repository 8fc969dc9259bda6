//! MessageBird's WhatsApp templates (the Integrations API's `GET
//! /v2/platforms/whatsapp/templates`), read into Parley's templates. Each carries its
//! account's `namespace`, which an HSM send must name: Parley keeps it as the template's
//! provider id. Templates are made and submitted in MessageBird's Template Manager, as the
//! respond.io seed describes; Parley lists them.

use parley_core::template_review::ListedTemplate;
use serde_json::{Value, json};

/// WhatsApp's verdict as Parley (and Meta) write it.
fn status(theirs: &str) -> String {
    match theirs.to_ascii_uppercase().as_str() {
        "APPROVED" => "APPROVED",
        "REJECTED" => "REJECTED",
        "PAUSED" => "PAUSED",
        "DISABLED" => "DISABLED",
        "DELETED" | "PENDING_DELETION" => "DELETED",
        // NEW, PENDING, IN_APPEAL: not sendable yet.
        _ => "PENDING",
    }
    .to_owned()
}

/// One listed template; `None` without a name, a language or a namespace (it could not be sent).
pub fn listed_template(item: &Value) -> Option<ListedTemplate> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let namespace = text("namespace")?.to_owned();
    Some(ListedTemplate {
        name: text("name")?.to_owned(),
        language: text("language")?.to_owned(),
        category: text("category").unwrap_or("UTILITY").to_ascii_uppercase(),
        status: status(text("status").unwrap_or("PENDING")),
        components: item.get("components").filter(|c| c.is_array()).cloned().unwrap_or_else(|| json!([])),
        provider_template_id: Some(namespace),
        quality: None,
        rejected_reason: text("rejectedReason").or_else(|| text("rejectionReason")).map(str::to_owned),
        parameter_format: Some("positional".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_their_namespace_and_verdict() {
        let item = json!({"name": "order_update", "language": "de", "category": "UTILITY", "status": "APPROVED",
            "namespace": "ns_1234", "wabaId": "WABA-MB",
            "components": [{"type": "BODY", "text": "Hallo {{1}}"}]});
        let t = listed_template(&item).unwrap();
        assert_eq!((t.name.as_str(), t.status.as_str()), ("order_update", "APPROVED"));
        assert_eq!(t.provider_template_id.as_deref(), Some("ns_1234"));
        assert_eq!(t.components, json!([{"type": "BODY", "text": "Hallo {{1}}"}]));
        for (theirs, ours) in [("NEW", "PENDING"), ("PENDING_DELETION", "DELETED"), ("rejected", "REJECTED")] {
            let mut i = item.clone();
            i["status"] = json!(theirs);
            assert_eq!(listed_template(&i).unwrap().status, ours, "{theirs}");
        }
        let mut no_namespace = item.clone();
        no_namespace.as_object_mut().unwrap().remove("namespace");
        assert!(listed_template(&no_namespace).is_none(), "it could not be sent");
    }
}

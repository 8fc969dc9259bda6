//! Webhooks in Meta's shape, for apps written against the Cloud API that receive them from
//! Parley instead (the Cloud-API-compatible endpoint): an inbound message goes out as Meta sent
//! it (Parley keeps the provider's JSON of each message), a status as Meta writes one, both in
//! Meta's envelope and signed with the app's secret (`X-Hub-Signature-256`).

use serde_json::{Value, json};

use super::signature;

/// The id a Cloud API client sees for a message Parley sent (the answer of the compatible
/// endpoint, and the statuses forwarded later): known before the provider has given its own.
pub fn compat_message_id(message_id: i64) -> String {
    format!("wamid.parley.{message_id}")
}

/// The Parley message id in a compatible id, if it is one.
pub fn parse_compat_message_id(id: &str) -> Option<i64> {
    id.strip_prefix("wamid.parley.")?.parse().ok().filter(|id: &i64| *id > 0)
}

/// The number a forwarded change is about (`value.metadata`, `entry[].id`).
#[derive(Clone, Debug)]
pub struct NumberMeta<'a> {
    pub waba_id: &'a str,
    pub phone_number_id: &'a str,
    pub display_phone_number: &'a str,
}

/// A `messages` change holding `value` (its `messaging_product` and `metadata` are added).
pub fn envelope(number: &NumberMeta<'_>, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": number.display_phone_number,
        "phone_number_id": number.phone_number_id});
    json!({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id,
        "changes": [{"value": value, "field": "messages"}]}]})
}

/// An inbound message from its stored provider JSON (`{"message": …, "contact": …}`).
pub fn inbound(number: &NumberMeta<'_>, raw: &Value) -> Option<Value> {
    let message = raw.get("message")?.clone();
    let mut value = json!({"messages": [message]});
    if let Some(contact) = raw.get("contact") {
        value["contacts"] = json!([contact]);
    }
    Some(envelope(number, value))
}

/// Whether Meta's status webhooks carry this status (Parley's own steps, such as `queued` or
/// `unknown`, are not forwarded).
pub fn is_meta_status(status: &str) -> bool {
    matches!(status, "sent" | "delivered" | "read" | "failed")
}

/// A failed status's error as Meta writes it, from what Parley kept of the provider's (131000,
/// "something went wrong", when the provider gave no code).
pub fn error(code: Option<i64>, title: Option<&str>) -> Value {
    let title = title.unwrap_or("Message failed to send");
    json!({"code": code.unwrap_or(131000), "title": title, "message": title})
}

/// A status of a message the business sent.
pub struct StatusReport<'a> {
    pub id: &'a str,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: &'a str,
    pub timestamp: i64,
    pub recipient_id: Option<&'a str>,
    /// The recipient's BSUID (2026), when known.
    pub recipient_user_id: Option<&'a str>,
    /// The provider's error (`{"code", "title", …}`), on failures.
    pub error: Option<&'a Value>,
    /// The pricing the provider reported (`{"billable", "pricing_model", "category", "type"}`).
    pub pricing: Option<&'a Value>,
}

pub fn status(number: &NumberMeta<'_>, report: &StatusReport<'_>) -> Value {
    let mut s = json!({"id": report.id, "status": report.status, "timestamp": report.timestamp.to_string()});
    if let Some(r) = report.recipient_id {
        s["recipient_id"] = json!(r);
    }
    if let Some(u) = report.recipient_user_id {
        s["recipient_user_id"] = json!(u);
    }
    if let Some(e) = report.error.filter(|e| !e.is_null()) {
        s["errors"] = json!([e]);
    }
    if let Some(p) = report.pricing.filter(|p| !p.is_null()) {
        s["pricing"] = p.clone();
    }
    let mut value = json!({"statuses": [s]});
    // 2026 status webhooks name the recipient in `contacts` too, as messages name the sender.
    if report.recipient_id.is_some() || report.recipient_user_id.is_some() {
        let mut contact = json!({});
        if let Some(r) = report.recipient_id {
            contact["wa_id"] = json!(r);
        }
        if let Some(u) = report.recipient_user_id {
            contact["user_id"] = json!(u);
        }
        value["contacts"] = json!([contact]);
    }
    envelope(number, value)
}

/// `X-Hub-Signature-256` for a body, with the app's secret.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    signature::sign(app_secret, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::webhook::parse;
    use parley_core::message::{Content, InboundEvent};

    const NUMBER: NumberMeta<'static> =
        NumberMeta { waba_id: "WABA-1", phone_number_id: "PN-1", display_phone_number: "15550001111" };

    #[test]
    fn only_metas_statuses_go_out_and_errors_have_a_code() {
        assert!(is_meta_status("read") && !is_meta_status("queued") && !is_meta_status("unknown"));
        assert_eq!(error(None, None)["code"], 131000);
        assert_eq!(error(Some(131047), Some("Re-engagement message"))["message"], "Re-engagement message");
    }

    #[test]
    fn compatible_ids_round_trip() {
        assert_eq!(parse_compat_message_id(&compat_message_id(42)), Some(42));
        assert_eq!(parse_compat_message_id("wamid.HBgL"), None);
        assert_eq!(parse_compat_message_id("wamid.parley.-1"), None);
    }

    #[test]
    fn a_forwarded_message_reads_back_as_what_arrived() {
        let raw = json!({"message": {"from": "33612345678", "id": "wamid.A", "timestamp": "1750000000", "type": "text",
            "text": {"body": "hello"}}, "contact": {"profile": {"name": "Ana"}, "wa_id": "33612345678"}});
        let body = inbound(&NUMBER, &raw).unwrap();
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.changes[0].phone_number_id.as_deref(), Some("PN-1"));
        assert_eq!(parsed.changes[0].waba_id, "WABA-1");
        let InboundEvent::Message(m) = &parsed.changes[0].events[0] else { panic!("{parsed:?}") };
        assert_eq!(m.provider_message_id, "wamid.A");
        assert_eq!(m.content, Content::Text { body: "hello".into(), preview_url: None });
        assert_eq!(m.from.profile_name.as_deref(), Some("Ana"));
        assert!(inbound(&NUMBER, &json!({})).is_none());
    }

    #[test]
    fn a_forwarded_status_reads_back_with_its_error_and_pricing() {
        let error = json!({"code": 131047, "title": "Re-engagement message"});
        let pricing = json!({"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"});
        let report = StatusReport {
            id: "wamid.parley.7",
            status: "failed",
            timestamp: 1_750_000_100,
            recipient_id: Some("33612345678"),
            recipient_user_id: Some("FR.4823956102934"),
            error: Some(&error),
            pricing: Some(&pricing),
        };
        let body = status(&NUMBER, &report);
        let value = &body["entry"][0]["changes"][0]["value"];
        assert_eq!(value["statuses"][0]["errors"][0]["code"], 131047);
        assert_eq!(value["contacts"][0], json!({"wa_id": "33612345678", "user_id": "FR.4823956102934"}));
        let parsed = parse(body.to_string().as_bytes()).unwrap();
        let InboundEvent::Status(s) = &parsed.changes[0].events[0] else { panic!("{parsed:?}") };
        assert_eq!(s.provider_message_id, "wamid.parley.7");
        assert_eq!(s.recipient.as_deref(), Some("33612345678"));
    }
}

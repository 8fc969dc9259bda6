//! Twilio's Content templates (spec `bsp-and-peers.md` §3.5): listed with their WhatsApp
//! approval from `GET https://content.twilio.com/v1/ContentAndApprovals`, read into Parley's
//! templates. Twilio keeps the template's text in `types` (`twilio/text`, `twilio/media`,
//! `twilio/quick-reply`, … each with a `body` holding `{{1}}` placeholders) and WhatsApp's
//! verdict in `approval_requests` (`status`, `category`, `rejection_reason`). A template is
//! sent by its Content SID (`HX…`); Parley does not create Twilio templates (their approval is
//! asked in Twilio's console), it lists them, as Twilio's and Pipedrive's seed describes.

use parley_core::template_review::ListedTemplate;
use serde_json::{Value, json};

/// The WhatsApp approval status as Parley (and Meta) write it.
fn status(approval: Option<&Value>) -> String {
    let theirs = approval.and_then(|a| a.get("status")).and_then(Value::as_str).unwrap_or("unsubmitted");
    match theirs.to_ascii_lowercase().as_str() {
        "approved" => "APPROVED",
        "rejected" => "REJECTED",
        "paused" => "PAUSED",
        "disabled" => "DISABLED",
        // received, pending, unsubmitted: not sendable yet.
        _ => "PENDING",
    }
    .to_owned()
}

/// One item of `ContentAndApprovals`; `None` without a SID or a name.
pub fn listed_content(item: &Value) -> Option<ListedTemplate> {
    let sid = item.get("sid")?.as_str()?.to_owned();
    let name = item.get("friendly_name")?.as_str().filter(|n| !n.is_empty())?.to_owned();
    let approval = item.get("approval_requests").filter(|a| a.is_object());
    // The first type with a body gives the text WhatsApp shows (and the placeholders to fill).
    let body = item
        .get("types")
        .and_then(Value::as_object)
        .and_then(|types| types.values().find_map(|t| t.get("body").and_then(Value::as_str)))
        .unwrap_or("");
    let category = approval
        .and_then(|a| a.get("category"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or("UTILITY")
        .to_ascii_uppercase();
    Some(ListedTemplate {
        name,
        language: item.get("language").and_then(Value::as_str).unwrap_or("en").to_owned(),
        category,
        status: status(approval),
        components: json!([body_component(body, item.get("variables"))]),
        provider_template_id: Some(sid),
        quality: None,
        rejected_reason: approval
            .and_then(|a| a.get("rejection_reason"))
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        parameter_format: Some("positional".into()),
    })
}

/// The body as Meta writes it, with the content's sample `variables` (`{"1": "Ana", …}`, which
/// Twilio asks for before approval) as its `example`, so the template can be created again at
/// a provider that reviews examples (a number moved away from Twilio).
fn body_component(body: &str, variables: Option<&Value>) -> Value {
    let mut samples: Vec<(u32, String)> = variables
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            Some((k.parse().ok()?, value))
        })
        .collect();
    samples.sort();
    if samples.is_empty() {
        return json!({"type": "BODY", "text": body});
    }
    let values: Vec<String> = samples.into_iter().map(|(_, v)| v).collect();
    json!({"type": "BODY", "text": body, "example": {"body_text": [values]}})
}

/// The Content API's base for a channel's API base: `content.twilio.com` for Twilio's own API,
/// `<base>/content` for another allowed host (the sandbox plays both under one address).
pub fn content_base(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base == super::DEFAULT_API_BASE_URL {
        "https://content.twilio.com".to_owned()
    } else {
        format!("{base}/content")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_become_templates_with_their_whatsapp_verdict() {
        let item = json!({
            "sid": "HX0123456789abcdef0123456789abcdef", "friendly_name": "order_update", "language": "pt_BR",
            "variables": {"1": "Ana", "2": "A-42"},
            "types": {"twilio/text": {"body": "Olá {{1}}, seu pedido {{2}} saiu para entrega."}},
            "approval_requests": {"name": "order_update", "category": "UTILITY", "status": "approved", "rejection_reason": ""}
        });
        let t = listed_content(&item).unwrap();
        assert_eq!(
            (t.name.as_str(), t.language.as_str(), t.category.as_str(), t.status.as_str()),
            ("order_update", "pt_BR", "UTILITY", "APPROVED")
        );
        assert_eq!(t.provider_template_id.as_deref(), Some("HX0123456789abcdef0123456789abcdef"));
        let body = "Olá {{1}}, seu pedido {{2}} saiu para entrega.";
        assert_eq!(t.components, json!([{"type": "BODY", "text": body, "example": {"body_text": [["Ana", "A-42"]]}}]));
        let mut without_samples = item.clone();
        without_samples.as_object_mut().unwrap().remove("variables");
        assert_eq!(listed_content(&without_samples).unwrap().components, json!([{"type": "BODY", "text": body}]));
        let mut unordered = item.clone();
        unordered["variables"] = json!({"10": "j", "2": "b", "1": "a", "x": "not a position"});
        let components = listed_content(&unordered).unwrap().components;
        assert_eq!(components[0]["example"]["body_text"], json!([["a", "b", "j"]]), "by position, not as text");
        assert_eq!(t.rejected_reason, None);

        let mut rejected = item.clone();
        rejected["approval_requests"] =
            json!({"category": "marketing", "status": "rejected", "rejection_reason": "Promotional"});
        let t = listed_content(&rejected).unwrap();
        assert_eq!(
            (t.status.as_str(), t.category.as_str(), t.rejected_reason.as_deref()),
            ("REJECTED", "MARKETING", Some("Promotional"))
        );
        for (theirs, ours) in
            [("pending", "PENDING"), ("received", "PENDING"), ("paused", "PAUSED"), ("disabled", "DISABLED")]
        {
            let mut other = item.clone();
            other["approval_requests"]["status"] = json!(theirs);
            assert_eq!(listed_content(&other).unwrap().status, ours, "{theirs}");
        }
        let mut never_asked = item.clone();
        never_asked.as_object_mut().unwrap().remove("approval_requests");
        assert_eq!(listed_content(&never_asked).unwrap().status, "PENDING", "not submitted: not sendable");
        assert!(listed_content(&json!({"friendly_name": "x"})).is_none(), "no SID");
        assert!(listed_content(&json!({"sid": "HX1"})).is_none(), "no name");
    }

    #[test]
    fn the_content_api_lives_beside_the_rest_api() {
        assert_eq!(content_base("https://api.twilio.com"), "https://content.twilio.com");
        assert_eq!(content_base("http://127.0.0.1:9000/twilio/"), "http://127.0.0.1:9000/twilio/content");
    }
}

//! Sending through the Cloud API: the request body of a message (spec §6.2–§6.10), and how the
//! provider's errors are classified for the dispatcher (spec §4.2): worth retrying later, final,
//! or unknown (the request may have been accepted: never retried automatically).

use std::time::Duration;

use parley_core::message::Content;
use serde_json::{Value, json};

/// Why a send did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Throughput, pair rate, overload, a 5xx or a connection that never reached the provider:
    /// try again later (after `after` when the provider said so).
    #[error("temporary: {title} ({code:?})")]
    Retry { code: Option<i64>, title: String, after: Option<Duration> },
    /// The provider refused this message for good.
    #[error("refused: {title} ({code})")]
    Permanent { code: i64, title: String, details: Option<String> },
    /// No answer (a timeout after the request left): it may have been sent.
    #[error("unknown outcome: {0}")]
    Ambiguous(String),
}

/// Error codes worth retrying (spec §4.2): overload, throughput, pair rate, maintenance.
const RETRYABLE: &[i64] = &[1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004, 2_494_100];

/// Classifies a Graph API error answer.
pub fn classify(http_status: u16, body: &Value, retry_after: Option<Duration>) -> SendError {
    let err = body.get("error");
    let code = err.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let title = err
        .and_then(|e| e.get("error_user_title").or_else(|| e.get("message")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {http_status}"));
    let details = err
        .and_then(|e| e.pointer("/error_data/details").or_else(|| e.get("error_user_msg")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match code {
        Some(c) if RETRYABLE.contains(&c) => SendError::Retry { code: Some(c), title, after: retry_after },
        Some(c) => SendError::Permanent { code: c, title, details },
        None if http_status == 429 || http_status >= 500 => SendError::Retry { code: None, title, after: retry_after },
        None => SendError::Permanent { code: i64::from(http_status), title, details },
    }
}

/// The Cloud API body that sends `content` to `to` (a WhatsApp id or E.164 number).
pub fn message_body(to: &str, content: &Content, reply_to: Option<&str>) -> Value {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
    let (kind, object) = match content {
        Content::Text { body, preview_url } => {
            let mut t = json!({"body": body});
            if let Some(p) = preview_url {
                t["preview_url"] = json!(p);
            }
            ("text", t)
        }
        Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) | Content::Sticker(m) => {
            let mut o = json!({});
            if let Some(id) = &m.id {
                o["id"] = json!(id);
            }
            if let Some(link) = &m.link {
                o["link"] = json!(link);
            }
            if let Some(c) = &m.caption {
                o["caption"] = json!(c);
            }
            if let Some(f) = &m.filename {
                o["filename"] = json!(f);
            }
            if m.voice {
                o["voice"] = json!(true);
            }
            (content.type_name(), o)
        }
        Content::Location { latitude, longitude, name, address, .. } => {
            ("location", json!({"latitude": latitude, "longitude": longitude, "name": name, "address": address}))
        }
        Content::Contacts { contacts } => ("contacts", json!(contacts)),
        Content::InteractiveMessage { interactive } => ("interactive", interactive.clone()),
        Content::Reaction { message_id, emoji } => {
            ("reaction", json!({"message_id": message_id, "emoji": emoji.clone().unwrap_or_default()}))
        }
        Content::Template { name, language, components } => (
            "template",
            json!({"name": name, "language": {"code": language, "policy": "deterministic"}, "components": components}),
        ),
        // Inbound-only types are never sent; a text stands in so nothing panics.
        other => ("text", json!({"body": other.text().unwrap_or_default()})),
    };
    body["type"] = json!(kind);
    body[kind] = object;
    if let (Some(id), false) = (reply_to, matches!(content, Content::Reaction { .. })) {
        body["context"] = json!({"message_id": id});
    }
    body
}

#[cfg(test)]
mod tests {
    use parley_core::message::Media;

    use super::*;

    #[test]
    fn bodies_follow_the_cloud_api() {
        let text =
            message_body("33612345678", &Content::Text { body: "hi".into(), preview_url: Some(true) }, Some("wamid.Q"));
        assert_eq!(
            text,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "33612345678", "type": "text",
                "text": {"body": "hi", "preview_url": true}, "context": {"message_id": "wamid.Q"}})
        );
        let doc = message_body(
            "1",
            &Content::Document(Media {
                link: Some("https://x.test/a.pdf".into()),
                filename: Some("a.pdf".into()),
                ..Media::default()
            }),
            None,
        );
        assert_eq!(doc["document"], json!({"link": "https://x.test/a.pdf", "filename": "a.pdf"}));
        let reaction =
            message_body("1", &Content::Reaction { message_id: "wamid.A".into(), emoji: None }, Some("wamid.A"));
        assert_eq!(reaction["reaction"], json!({"message_id": "wamid.A", "emoji": ""}));
        assert!(reaction.get("context").is_none(), "reactions carry no reply context");
        let t = message_body(
            "1",
            &Content::Template { name: "hello".into(), language: "en".into(), components: vec![] },
            None,
        );
        assert_eq!(t["template"]["language"], json!({"code": "en", "policy": "deterministic"}));
    }

    #[test]
    fn errors_are_classified_by_code() {
        let err = |code: i64| json!({"error": {"message": "(#x) t", "type": "OAuthException", "code": code, "error_data": {"details": "d"}}});
        assert!(matches!(classify(400, &err(130429), None), SendError::Retry { code: Some(130429), .. }));
        assert!(matches!(
            classify(429, &err(131056), Some(Duration::from_secs(4))),
            SendError::Retry { after: Some(_), .. }
        ));
        assert!(matches!(classify(400, &err(131047), None), SendError::Permanent { code: 131047, .. }));
        assert!(matches!(classify(401, &err(190), None), SendError::Permanent { code: 190, .. }));
        assert!(matches!(classify(503, &json!("down"), None), SendError::Retry { code: None, .. }));
        assert!(matches!(classify(404, &json!({}), None), SendError::Permanent { code: 404, .. }));
        if let SendError::Permanent { details, .. } = classify(400, &err(132000), None) {
            assert_eq!(details.as_deref(), Some("d"));
        }
    }
}

//! Sends through MessageBird's Conversations API (spec `bsp-and-peers.md` §4.1): `POST /send`
//! with `{to, from: <channel id>, type, content, reportUrl}`, and what its answer means.
//! Templates are HSMs: `{namespace, templateName, language, params}`, the namespace being the
//! WhatsApp account's (synced with the templates). Media goes by URL; what MessageBird's
//! WhatsApp channel cannot send is refused before any call.

use std::time::Duration;

use parley_core::message::Content;
use serde_json::{Value, json};

use crate::meta::send::SendError;

/// Why a message cannot go through MessageBird as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("MessageBird cannot send this: {0}")]
pub struct Unsupported(pub &'static str);

/// What Parley knows of the send beside the content.
#[derive(Clone, Copy, Debug)]
pub struct Addressing<'a> {
    /// The channel's MessageBird channel id.
    pub channel_id: &'a str,
    /// The customer, digits.
    pub to: &'a str,
    /// The template's namespace, for templates.
    pub namespace: Option<&'a str>,
    /// Where MessageBird posts this message's statuses.
    pub report_url: Option<&'a str>,
}

/// The body of `POST /send`.
pub fn message_body(at: Addressing<'_>, content: &Content) -> Result<Value, Unsupported> {
    let media = |m: &parley_core::message::Media| -> Result<Value, Unsupported> {
        let url = m.link.as_ref().ok_or(Unsupported("media must be a link MessageBird can fetch"))?;
        let mut out = json!({"url": url});
        if let Some(caption) = &m.caption {
            out["caption"] = json!(caption);
        }
        Ok(out)
    };
    let (kind, body) = match content {
        Content::Text { body, .. } => ("text", json!({"text": body})),
        Content::Image(m) => ("image", json!({"image": media(m)?})),
        Content::Audio(m) => ("audio", json!({"audio": media(m)?})),
        Content::Video(m) => ("video", json!({"video": media(m)?})),
        Content::Document(m) => ("file", json!({"file": media(m)?})),
        Content::Location { latitude, longitude, .. } => {
            ("location", json!({"location": {"latitude": latitude, "longitude": longitude}}))
        }
        Content::Template { name, language, components } => {
            let namespace = at.namespace.ok_or(Unsupported("the template has no namespace (sync templates first)"))?;
            let hsm = json!({"namespace": namespace, "templateName": name,
                "language": {"policy": "deterministic", "code": language}, "params": params(components)});
            ("hsm", json!({"hsm": hsm}))
        }
        Content::Reaction { .. } => return Err(Unsupported("reactions")),
        Content::Contacts { .. } => return Err(Unsupported("contact cards")),
        Content::InteractiveMessage { .. } => return Err(Unsupported("interactive messages")),
        _ => return Err(Unsupported("this type of message")),
    };
    let mut out = json!({"to": format!("+{}", at.to.trim_start_matches('+')), "from": at.channel_id, "type": kind,
        "content": body});
    if let Some(url) = at.report_url {
        out["reportUrl"] = json!(url);
    }
    Ok(out)
}

/// A Cloud-API template's parameters as HSM `params`, in order: the body's, then the
/// header's and buttons' (`{"default": "Ana"}`).
fn params(components: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for kind in ["body", "header", "button"] {
        for component in components
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() == Some(kind))
        {
            for parameter in component.get("parameters").and_then(Value::as_array).into_iter().flatten() {
                let text = parameter.get("text").or_else(|| parameter.get("payload")).and_then(Value::as_str);
                out.push(json!({"default": text.unwrap_or_default()}));
            }
        }
    }
    out
}

/// What a non-2xx answer means (`{"errors": [{"code", "description", "parameter"}]}`). A 429
/// was not processed and is safe to retry (Bird's rate-limit docs); a 502 or 504 is a gateway's,
/// so the outcome is unknown.
pub fn classify(http_status: u16, body: &Value, retry_after: Option<Duration>) -> SendError {
    let first = body.pointer("/errors/0");
    let code = first.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let title = first
        .and_then(|e| e.get("description"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP {http_status}"), str::to_owned);
    let details = first.and_then(|e| e.get("parameter")).and_then(Value::as_str).map(str::to_owned);
    match http_status {
        502 | 504 => SendError::Ambiguous(format!(
            "MessageBird's gateway answered {http_status}: the message may have been sent"
        )),
        429 | 500.. => SendError::Retry { code, title, after: retry_after },
        _ => SendError::Permanent { code: code.unwrap_or(i64::from(http_status)), title, details },
    }
}

/// The message id of an accepted send (`{"id", "status": "accepted"}`).
pub fn sent_id(body: &Value) -> Option<String> {
    body.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use parley_core::message::Media;

    use super::*;

    const AT: Addressing<'static> = Addressing {
        channel_id: "619747f69cf940a98fb443140ce9aed2",
        to: "4915112345678",
        namespace: None,
        report_url: None,
    };

    #[test]
    fn text_media_and_locations_go_from_the_channel() {
        let at = Addressing { report_url: Some("https://p.example/webhooks/messagebird/k"), ..AT };
        let body = message_body(at, &Content::Text { body: "Hallo".into(), preview_url: None }).unwrap();
        assert_eq!(
            body,
            json!({"to": "+4915112345678", "from": "619747f69cf940a98fb443140ce9aed2", "type": "text",
                "content": {"text": "Hallo"}, "reportUrl": "https://p.example/webhooks/messagebird/k"})
        );
        let photo =
            Media { link: Some("https://p.example/m/1".into()), caption: Some("Paket".into()), ..Media::default() };
        let body = message_body(AT, &Content::Document(photo)).unwrap();
        assert_eq!(
            (body["type"].as_str(), &body["content"]),
            (Some("file"), &json!({"file": {"url": "https://p.example/m/1", "caption": "Paket"}}))
        );
        let place = Content::Location { latitude: 52.5, longitude: 13.4, name: None, address: None, url: None };
        assert_eq!(
            message_body(AT, &place).unwrap()["content"],
            json!({"location": {"latitude": 52.5, "longitude": 13.4}})
        );
        let uploaded = Media { id: Some("123".into()), ..Media::default() };
        assert!(message_body(AT, &Content::Image(uploaded)).is_err(), "a media id means nothing to MessageBird");
        assert!(message_body(AT, &Content::Reaction { message_id: "x".into(), emoji: Some("👍".into()) }).is_err());
    }

    #[test]
    fn templates_are_hsms_with_the_accounts_namespace() {
        let template = Content::Template {
            name: "order_update".into(),
            language: "de".into(),
            components: vec![
                json!({"type": "body", "parameters": [{"type": "text", "text": "Lena"}, {"type": "text", "text": "A-42"}]}),
            ],
        };
        assert!(message_body(AT, &template).is_err(), "no namespace yet");
        let body = message_body(Addressing { namespace: Some("ns_1234"), ..AT }, &template).unwrap();
        assert_eq!(body["type"], "hsm");
        assert_eq!(
            body["content"]["hsm"],
            json!({"namespace": "ns_1234", "templateName": "order_update", "language": {"policy": "deterministic", "code": "de"},
                "params": [{"default": "Lena"}, {"default": "A-42"}]})
        );
    }

    #[test]
    fn answers_are_classed() {
        let refused = json!({"errors": [{"code": 21, "description": "Bad request", "parameter": "to"}]});
        assert!(matches!(classify(422, &refused, None), SendError::Permanent { code: 21, .. }));
        assert!(matches!(classify(401, &json!({}), None), SendError::Permanent { code: 401, .. }));
        assert!(matches!(
            classify(429, &json!({}), Some(Duration::from_secs(2))),
            SendError::Retry { after: Some(_), .. }
        ));
        assert!(matches!(classify(503, &json!({}), None), SendError::Retry { .. }));
        assert!(matches!(classify(504, &json!({}), None), SendError::Ambiguous(_)));
        assert_eq!(sent_id(&json!({"id": "m-1", "status": "accepted"})).as_deref(), Some("m-1"));
        assert_eq!(sent_id(&json!({"status": "accepted"})), None);
    }
}

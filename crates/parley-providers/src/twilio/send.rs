//! Sends through Twilio's Messages API (spec `bsp-and-peers.md` §3.5, §3.6): the form a message
//! becomes, and what Twilio's answer means. Twilio takes media by URL only (Parley serves the
//! file at a link Twilio can fetch), and templates as a Content SID (`HX…`) with their variables
//! as a JSON string; what WhatsApp-on-Twilio cannot send is refused before any call.

use std::time::Duration;

use parley_core::message::Content;
use serde_json::{Map, Value, json};

use crate::meta::send::SendError;

/// Why a message cannot go through Twilio as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Twilio cannot send this: {0}")]
pub struct Unsupported(pub &'static str);

/// What Parley knows of the send beside the content.
#[derive(Clone, Copy, Debug)]
pub struct Addressing<'a> {
    /// The channel's WhatsApp sender, digits (E.164 without `+`).
    pub from: &'a str,
    /// The customer, digits.
    pub to: &'a str,
    /// The template's Content SID, for templates.
    pub content_sid: Option<&'a str>,
    /// Where Twilio posts this message's statuses.
    pub status_callback: Option<&'a str>,
}

/// The form for `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
pub fn message_form(at: Addressing<'_>, content: &Content) -> Result<Vec<(String, String)>, Unsupported> {
    let mut form = vec![
        ("From".to_owned(), format!("whatsapp:+{}", at.from.trim_start_matches('+'))),
        ("To".to_owned(), format!("whatsapp:+{}", at.to.trim_start_matches('+'))),
    ];
    match content {
        Content::Text { body, .. } => form.push(("Body".into(), body.clone())),
        Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) | Content::Sticker(m) => {
            let link = m.link.as_ref().ok_or(Unsupported("media must be a link Twilio can fetch"))?;
            form.push(("MediaUrl".into(), link.clone()));
            if let Some(caption) = &m.caption {
                form.push(("Body".into(), caption.clone()));
            }
        }
        Content::Template { components, .. } => {
            let sid =
                at.content_sid.ok_or(Unsupported("the template has no Twilio Content SID (sync templates first)"))?;
            form.push(("ContentSid".into(), sid.to_owned()));
            let variables = content_variables(components);
            if !variables.is_empty() {
                form.push(("ContentVariables".into(), Value::Object(variables).to_string()));
            }
        }
        Content::Location { .. } => return Err(Unsupported("locations")),
        Content::Reaction { .. } => return Err(Unsupported("reactions")),
        Content::Contacts { .. } => return Err(Unsupported("contact cards")),
        Content::InteractiveMessage { .. } => return Err(Unsupported("interactive messages (use a Content template)")),
        _ => return Err(Unsupported("this type of message")),
    }
    if let Some(url) = at.status_callback {
        form.push(("StatusCallback".into(), url.to_owned()));
    }
    Ok(form)
}

/// A Cloud-API template's parameters as Twilio's numbered variables: the body's in order
/// (`{"1": "Ana", "2": "3pm"}`), then the header's and buttons' after them.
fn content_variables(components: &[Value]) -> Map<String, Value> {
    let mut variables = Map::new();
    let order = ["body", "header", "button"];
    for kind in order {
        for component in components
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() == Some(kind))
        {
            for parameter in component.get("parameters").and_then(Value::as_array).into_iter().flatten() {
                let value = parameter
                    .get("text")
                    .or_else(|| parameter.get("payload"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_default();
                variables.insert((variables.len() + 1).to_string(), json!(value));
            }
        }
    }
    variables
}

/// Codes that say "later": the channel's or account's rate, a generic channel error, the daily
/// limit (spec §3.6).
const RETRYABLE: &[i64] = &[63012, 63017, 63018, 63023, 63038];

/// What a non-2xx answer of the Messages API means (`{"code", "message", "status"}`). A 502 or
/// 504 is a gateway's: the request may have reached Twilio, so its outcome is unknown.
pub fn classify(http_status: u16, body: &Value, retry_after: Option<Duration>) -> SendError {
    let code = body.get("code").and_then(Value::as_i64);
    let title =
        body.get("message").and_then(Value::as_str).map_or_else(|| format!("HTTP {http_status}"), str::to_owned);
    let details = body.get("more_info").and_then(Value::as_str).map(str::to_owned);
    match code {
        Some(c) if RETRYABLE.contains(&c) => SendError::Retry { code: Some(c), title, after: retry_after },
        // A gateway that timed out or broke may have passed the request on: it may be sent.
        _ if http_status == 502 || http_status == 504 => {
            SendError::Ambiguous(format!("Twilio's gateway answered {http_status}: the message may have been sent"))
        }
        _ if http_status == 429 || http_status >= 500 => SendError::Retry { code, title, after: retry_after },
        Some(c) => SendError::Permanent { code: c, title, details },
        None => SendError::Permanent { code: i64::from(http_status), title, details },
    }
}

/// The message's SID in a 201 answer.
pub fn sent_sid(body: &Value) -> Option<String> {
    body.get("sid").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use parley_core::message::Media;

    use super::*;

    const AT: Addressing<'static> =
        Addressing { from: "14155238886", to: "5511987650000", content_sid: None, status_callback: None };

    fn get<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    #[test]
    fn text_and_media_by_link_with_the_status_callback() {
        let callback = Addressing { status_callback: Some("https://p.example/webhooks/twilio/k"), ..AT };
        let form = message_form(callback, &Content::Text { body: "Olá!".into(), preview_url: None }).unwrap();
        assert_eq!(get(&form, "From"), ["whatsapp:+14155238886"]);
        assert_eq!(get(&form, "To"), ["whatsapp:+5511987650000"]);
        assert_eq!(get(&form, "Body"), ["Olá!"]);
        assert_eq!(get(&form, "StatusCallback"), ["https://p.example/webhooks/twilio/k"]);

        let photo = Media {
            link: Some("https://p.example/m/1".into()),
            caption: Some("the parcel".into()),
            ..Media::default()
        };
        let form = message_form(AT, &Content::Image(photo)).unwrap();
        assert_eq!((get(&form, "MediaUrl"), get(&form, "Body")), (vec!["https://p.example/m/1"], vec!["the parcel"]));
        let uploaded = Media { id: Some("123".into()), ..Media::default() };
        assert!(message_form(AT, &Content::Document(uploaded)).is_err(), "a provider media id means nothing to Twilio");
    }

    #[test]
    fn templates_go_as_a_content_sid_with_numbered_variables() {
        let template = Content::Template {
            name: "order_update".into(),
            language: "en".into(),
            components: vec![
                json!({"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-42"}]}),
            ],
        };
        assert!(message_form(AT, &template).is_err(), "no Content SID yet");
        let form = message_form(Addressing { content_sid: Some("HX123"), ..AT }, &template).unwrap();
        assert_eq!(get(&form, "ContentSid"), ["HX123"]);
        let variables: Value = serde_json::from_str(get(&form, "ContentVariables")[0]).unwrap();
        assert_eq!(variables, json!({"1": "Ana", "2": "A-42"}));
        assert!(get(&form, "Body").is_empty(), "a template sends no Body");
    }

    #[test]
    fn what_whatsapp_on_twilio_cannot_send_is_refused() {
        let location = Content::Location { latitude: 1.0, longitude: 2.0, name: None, address: None, url: None };
        let reaction = Content::Reaction { message_id: "SM1".into(), emoji: Some("👍".into()) };
        for content in [location, reaction, Content::InteractiveMessage { interactive: json!({}) }] {
            assert!(message_form(AT, &content).is_err(), "{content:?}");
        }
    }

    #[test]
    fn answers_are_classed_retry_or_permanent() {
        let retry = classify(400, &json!({"code": 63018, "message": "Rate limit exceeded"}), None);
        assert!(matches!(retry, SendError::Retry { code: Some(63018), .. }), "{retry:?}");
        let busy = classify(429, &json!({"code": 20429, "message": "Too Many Requests"}), Some(Duration::from_secs(2)));
        assert!(matches!(busy, SendError::Retry { after: Some(_), .. }), "{busy:?}");
        assert!(matches!(classify(503, &json!({}), None), SendError::Retry { code: None, .. }));
        assert!(matches!(classify(504, &json!({}), None), SendError::Ambiguous(_)), "never resent by itself");
        assert!(matches!(classify(502, &json!({}), None), SendError::Ambiguous(_)));
        let window = classify(
            400,
            &json!({"code": 63016, "message": "Outside the window", "more_info": "https://www.twilio.com/docs/errors/63016"}),
            None,
        );
        assert_eq!(
            window,
            SendError::Permanent {
                code: 63016,
                title: "Outside the window".into(),
                details: Some("https://www.twilio.com/docs/errors/63016".into())
            }
        );
        assert!(matches!(
            classify(401, &json!({"code": 20003, "message": "Authenticate"}), None),
            SendError::Permanent { code: 20003, .. }
        ));
        assert!(matches!(classify(400, &Value::Null, None), SendError::Permanent { code: 400, .. }));
        assert_eq!(sent_sid(&json!({"sid": "SM9", "status": "queued"})).as_deref(), Some("SM9"));
        assert_eq!(sent_sid(&json!({})), None);
    }
}

//! Webhooks in Meta's shape, for apps written against the Cloud API that receive them from
//! Parley instead (the Cloud-API-compatible endpoint): an inbound message goes out as Meta sent
//! it (Parley keeps the provider's JSON of each message), a status as Meta writes one, both in
//! Meta's envelope and signed with the app's secret (`X-Hub-Signature-256`).

use parley_core::message::Content;
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

/// Whether a stored provider JSON (`{"message": …}`) is a Cloud API message (Meta's,
/// 360dialog's): its content sits under the key its `type` names. MessageBird's also has a
/// `message`, with its content under `content`; Twilio's is a form.
pub fn is_meta_message(raw: &Value) -> bool {
    let Some(message) = raw.get("message") else { return false };
    match message.get("type").and_then(Value::as_str) {
        // Types that carry nothing under their name.
        Some("unsupported" | "request_welcome" | "unknown") => message.get("from").is_some(),
        Some(kind) => message.get(kind).is_some(),
        None => false,
    }
}

/// The sender's WhatsApp profile name in another provider's stored JSON: Twilio's
/// `ProfileName`, MessageBird's `contact.displayName`.
pub fn profile_name_in(raw: &Value) -> Option<&str> {
    raw.get("ProfileName")
        .or_else(|| raw.pointer("/contact/displayName"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// The compatible endpoint's media id for the file of message `message_id`, for files that came
/// through a provider without Meta's media ids (Twilio, MessageBird hand out URLs):
/// `GET /graph/{version}/parley-media-<id>` answers it as Meta answers a media id.
pub fn compat_media_id(message_id: i64) -> String {
    format!("parley-media-{message_id}")
}

/// The Parley message id in a compatible media id, if it is one.
pub fn parse_compat_media_id(id: &str) -> Option<i64> {
    id.strip_prefix("parley-media-")?.parse().ok().filter(|id: &i64| *id > 0)
}

/// What a message received through another provider is, for [`inbound_from_content`].
pub struct Received<'a> {
    /// Parley's id of the message (its file's compatible media id is made from it).
    pub message_id: i64,
    pub provider_message_id: &'a str,
    pub from: Option<&'a str>,
    /// The sender's BSUID (2026), when known.
    pub from_user_id: Option<&'a str>,
    pub profile_name: Option<&'a str>,
    /// Unix seconds.
    pub timestamp: i64,
    pub content: &'a Content,
}

/// A message another provider delivered (Twilio, MessageBird: their JSON is not Meta's), in
/// Meta's webhook shape, written from Parley's typed content. Its file, if any, is named by
/// its compatible media id. `None` for content Meta's messages do not carry (Parley's own
/// outbound kinds).
pub fn inbound_from_content(number: &NumberMeta<'_>, m: &Received<'_>) -> Option<Value> {
    let (kind, body) = match m.content {
        Content::Text { body, .. } => ("text", json!({"body": body})),
        Content::Image(media)
        | Content::Audio(media)
        | Content::Video(media)
        | Content::Document(media)
        | Content::Sticker(media) => {
            let mut file = json!({"id": compat_media_id(m.message_id)});
            for (key, value) in [
                ("mime_type", &media.mime_type),
                ("sha256", &media.sha256),
                ("caption", &media.caption),
                ("filename", &media.filename),
            ] {
                if let Some(v) = value {
                    file[key] = json!(v);
                }
            }
            if media.voice {
                file["voice"] = json!(true);
            }
            (m.content.type_name(), file)
        }
        Content::Location { latitude, longitude, name, address, url } => (
            "location",
            json!({"latitude": latitude, "longitude": longitude, "name": name, "address": address, "url": url}),
        ),
        Content::Contacts { contacts } => ("contacts", json!(contacts)),
        Content::Button { text, payload } => ("button", json!({"text": text, "payload": payload})),
        Content::Reaction { message_id, emoji } => ("reaction", json!({"message_id": message_id, "emoji": emoji})),
        Content::Interactive { kind, id, title, description, .. } => {
            let reply = json!({"id": id, "title": title, "description": description});
            ("interactive", json!({"type": kind, kind.as_str(): reply}))
        }
        _ => return None,
    };
    let strip_nulls = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, x| !x.is_null());
        }
        v
    };
    let mut message = json!({"id": m.provider_message_id, "timestamp": m.timestamp.to_string(), "type": kind});
    message[kind] = if kind == "contacts" { body } else { strip_nulls(body) };
    let mut contact = json!({});
    if let Some(from) = m.from {
        message["from"] = json!(from);
        contact["wa_id"] = json!(from);
    }
    if let Some(user_id) = m.from_user_id {
        message["from_user_id"] = json!(user_id);
        contact["user_id"] = json!(user_id);
    }
    if let Some(name) = m.profile_name {
        contact["profile"] = json!({"name": name});
    }
    Some(envelope(number, json!({"messages": [message], "contacts": [contact]})))
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
    fn another_providers_message_reads_back_in_metas_shape() {
        assert_eq!(parse_compat_media_id(&compat_media_id(7)), Some(7));
        assert_eq!(parse_compat_media_id("parley-media-x"), None);
        assert_eq!(parse_compat_media_id("1234"), None);
        let photo = Content::Image(parley_core::message::Media {
            id: Some("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into()),
            mime_type: Some("image/jpeg".into()),
            caption: Some("a caixa".into()),
            ..Default::default()
        });
        let text = Content::Text { body: "olá".into(), preview_url: None };
        let place = Content::Location {
            latitude: -23.5,
            longitude: -46.6,
            name: Some("Loja".into()),
            address: None,
            url: None,
        };
        for (content, expected) in [
            (&text, text.clone()),
            (
                &photo,
                Content::Image(parley_core::message::Media {
                    id: Some("parley-media-9".into()),
                    mime_type: Some("image/jpeg".into()),
                    caption: Some("a caixa".into()),
                    ..Default::default()
                }),
            ),
            (&place, place.clone()),
        ] {
            let received = Received {
                message_id: 9,
                provider_message_id: "SM123",
                from: Some("5511987650000"),
                from_user_id: None,
                profile_name: Some("Ana"),
                timestamp: 1_750_000_000,
                content,
            };
            let body = inbound_from_content(&NUMBER, &received).unwrap();
            let parsed = parse(body.to_string().as_bytes()).unwrap();
            let events = &parsed.changes[0].events;
            let Some(InboundEvent::Message(m)) = events.first() else { panic!("a message: {events:?}") };
            assert_eq!(m.content, expected, "{body}");
            assert_eq!(m.provider_message_id, "SM123");
            assert_eq!(m.from.wa_id.as_ref().map(|w| w.as_str()), Some("5511987650000"));
            assert_eq!(m.from.profile_name.as_deref(), Some("Ana"));
        }
        let template = Content::Template { name: "t".into(), language: "en".into(), components: vec![] };
        let received = Received {
            message_id: 1,
            provider_message_id: "x",
            from: None,
            from_user_id: None,
            profile_name: None,
            timestamp: 0,
            content: &template,
        };
        assert!(inbound_from_content(&NUMBER, &received).is_none(), "not a customer's message");
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
        assert!(is_meta_message(&raw));
        let messagebird = json!({"message": {"id": "mb1", "type": "text", "content": {"text": "hello"}}});
        assert!(!is_meta_message(&messagebird) && !is_meta_message(&json!({"MessageSid": "SM1", "Body": "hi"})));
        assert_eq!(profile_name_in(&json!({"MessageSid": "SM1", "ProfileName": "Ana"})), Some("Ana"));
        assert_eq!(profile_name_in(&json!({"contact": {"displayName": "Bia"}})), Some("Bia"));
        assert_eq!(profile_name_in(&json!({"contact": {"displayName": ""}})), None);
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

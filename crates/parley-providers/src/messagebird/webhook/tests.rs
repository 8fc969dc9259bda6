//! MessageBird's posts, in the shapes of its Conversations API (spec §4.1), read into events.

use super::*;

const AT: Timestamp = Timestamp::from_secs(1_800_000_000);

fn hook(kind: &str, message: Value) -> Vec<u8> {
    json!({
        "type": kind,
        "contact": {"id": "c0ffee", "msisdn": 84912345678_i64, "displayName": "Bảo Trần", "attributes": {"tier": "gold"}},
        "conversation": {"id": "conv1", "status": "active"},
        "message": message,
    })
    .to_string()
    .into_bytes()
}

fn received(content_type: &str, content: Value) -> Value {
    json!({"id": "m1", "conversationId": "conv1", "platform": "whatsapp", "from": "+84912345678", "to": "+3197010260000",
        "channelId": "ch1", "direction": "received", "status": "received", "type": content_type, "content": content,
        "createdDatetime": "2027-01-15T08:00:00Z"})
}

fn one_message(body: &[u8]) -> InboundMessage {
    match parse(body, AT).unwrap().as_slice() {
        [InboundEvent::Message(m)] => (**m).clone(),
        other => panic!("one message expected: {other:?}"),
    }
}

#[test]
fn a_text_with_its_sender_time_and_contact_kept() {
    let m = one_message(&hook("message.created", received("text", json!({"text": "Xin chào"}))));
    assert_eq!((m.provider_message_id.as_str(), m.content.text()), ("m1", Some("Xin chào")));
    assert_eq!(m.from.wa_id.as_ref().map(|w| w.to_string()).as_deref(), Some("84912345678"));
    assert_eq!(m.from.profile_name.as_deref(), Some("Bảo Trần"));
    assert_eq!(m.sent_at, Timestamp::parse_rfc3339("2027-01-15T08:00:00Z").unwrap(), "MessageBird's time");
    assert_eq!(m.raw["contact"]["attributes"]["tier"], "gold", "the contact's metadata is kept");
    // The same message updated later is the same message (stored once by its id).
    let again = one_message(&hook("message.updated", received("text", json!({"text": "Xin chào"}))));
    assert_eq!(again.provider_message_id, "m1");
}

#[test]
fn media_and_locations() {
    for (kind, key) in [("image", "image"), ("audio", "audio"), ("video", "video"), ("file", "file")] {
        let content = json!({key: {"url": "https://media.messagebird.com/v1/media/abc", "caption": "here"}});
        let m = one_message(&hook("message.created", received(kind, content)));
        let media = match &m.content {
            Content::Image(x) | Content::Audio(x) | Content::Video(x) | Content::Document(x) => x,
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(media.id.as_deref(), Some("https://media.messagebird.com/v1/media/abc"), "{kind}");
        assert_eq!(m.content.type_name(), if kind == "file" { "document" } else { kind });
    }
    let m = one_message(&hook(
        "message.created",
        received("location", json!({"location": {"latitude": 10.77, "longitude": 106.7}})),
    ));
    assert!(
        matches!(m.content, Content::Location { latitude, longitude, .. } if latitude == 10.77 && longitude == 106.7)
    );
    let bad = hook("message.created", received("location", json!({"location": {"latitude": "north"}})));
    assert!(parse(&bad, AT).is_err());
    let m = one_message(&hook("message.created", received("carousel", json!({}))));
    assert_eq!(m.content, Content::Unknown { provider_type: "carousel".into() });
}

#[test]
fn statuses_of_sent_messages_and_early_ones_are_no_event() {
    let sent = |status: &str, extra: Value| {
        let mut message = json!({"id": "out1", "direction": "sent", "status": status, "to": "+84912345678", "type": "text",
            "updatedDatetime": "2027-01-15T08:01:00Z"});
        if let (Some(m), Some(e)) = (message.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        parse(&hook("message.updated", message), AT).unwrap()
    };
    for (theirs, ours) in [
        ("sent", DeliveryStatus::Sent),
        ("delivered", DeliveryStatus::Delivered),
        ("read", DeliveryStatus::Read),
        ("failed", DeliveryStatus::Failed),
        ("rejected", DeliveryStatus::Failed),
        ("unsupported", DeliveryStatus::Failed),
    ] {
        let events = sent(theirs, json!({}));
        let [InboundEvent::Status(s)] = events.as_slice() else { panic!("{theirs}: {events:?}") };
        assert_eq!(
            (s.status, s.provider_message_id.as_str(), s.recipient.as_deref()),
            (ours, "out1", Some("84912345678"))
        );
        assert_eq!(s.at, Timestamp::parse_rfc3339("2027-01-15T08:01:00Z").unwrap());
        assert_eq!(s.errors.is_empty(), ours != DeliveryStatus::Failed, "{theirs}");
    }
    for early in ["pending", "accepted", "pending_media", "transmitted"] {
        assert!(sent(early, json!({})).is_empty(), "{early}");
    }
    let failed = sent("failed", json!({"error": {"code": 470, "description": "Outside the window"}}));
    let [InboundEvent::Status(s)] = failed.as_slice() else { panic!() };
    assert_eq!(s.errors, vec![ProviderError { code: 470, title: "Outside the window".into(), details: None }]);
}

#[test]
fn conversation_bookkeeping_is_no_event_and_garbage_is_malformed() {
    let conversation = json!({"type": "conversation.updated", "conversation": {"id": "conv1", "status": "archived"}});
    assert!(parse(conversation.to_string().as_bytes(), AT).unwrap().is_empty());
    let other = json!({"type": "contact.updated", "contact": {"id": "c"}});
    assert!(matches!(parse(other.to_string().as_bytes(), AT).unwrap().as_slice(), [InboundEvent::Other { .. }]));
    assert!(parse(b"", AT).is_err());
    assert!(parse(b"{}", AT).is_err(), "no type");
    assert!(parse(br#"{"type":"message.created"}"#, AT).is_err(), "no message");
    assert!(parse(&hook("message.created", json!({"direction": "received"})), AT).is_err(), "no id");
    let nobody = json!({"id": "m", "direction": "received", "from": "someone", "type": "text"});
    let no_contact = json!({"type": "message.created", "message": nobody}).to_string();
    assert!(parse(no_contact.as_bytes(), AT).is_err(), "a sender that is no number");
    assert!(parse(&hook("message.created", json!({"id": "m", "direction": "sideways"})), AT).is_err());
}

#[test]
fn the_channels_contact_metadata_becomes_contact_fields() {
    let body = json!({"type": "message.created",
        "contact": {"id": "c0ffee", "msisdn": 84912345678_i64, "displayName": "Bảo Trần", "firstName": "Bảo", "lastName": "Trần",
            "avatar": "https://media.example/avatar.png", "customDetails": {"custom1": "VIP", "custom2": null},
            "attributes": {"Loyalty Tier": "gold", "orders": 12, "opted in": true, "nested": {"no": 1}, "": "x", "42": "y"}},
        "message": received("text", json!({"text": "Xin chào"}))})
    .to_string()
    .into_bytes();
    let fields = fields_of(&serde_json::from_slice(&body).unwrap());
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("messagebird_contact_id"), Some(json!("c0ffee")));
    assert_eq!((get("first_name"), get("last_name")), (Some(json!("Bảo")), Some(json!("Trần"))));
    assert_eq!(get("avatar_url"), Some(json!("https://media.example/avatar.png")));
    assert_eq!(get("custom1"), Some(json!("VIP")));
    assert_eq!(
        (get("loyalty_tier"), get("orders"), get("opted_in")),
        (Some(json!("gold")), Some(json!(12)), Some(json!(true)))
    );
    assert_eq!((get("custom2"), get("nested")), (None, None), "no value, or not a plain one");
    assert!(fields.iter().all(|(k, _)| k.starts_with(|c: char| c.is_ascii_lowercase())), "{fields:?}");
    assert_eq!(channel_id(&body).as_deref(), Some("ch1"));
    // A status (a sent message) says nothing of the customer.
    let sent = json!({"type": "message.updated", "contact": {"id": "c0ffee"},
        "message": {"id": "m9", "direction": "sent", "status": "delivered"}})
    .to_string()
    .into_bytes();
    assert!(fields_of(&serde_json::from_slice(&sent).unwrap()).is_empty());
}

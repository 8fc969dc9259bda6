use parley_core::health::HealthScope;
use parley_core::template::TemplateStatus;
use parley_core::template_review::TemplateChange;
use serde_json::{Value, json};

use super::*;

fn webhook(value: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]})
        .to_string()
        .into_bytes()
}

fn messages(msgs: Vec<Value>) -> Vec<u8> {
    webhook(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN1"},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511999990000", "user_id": "BR.4823956102934"}],
        "messages": msgs,
    }))
}

fn one(msg: Value) -> InboundMessage {
    let parsed = parse(&messages(vec![msg])).unwrap();
    match &parsed.changes[0].events[0] {
        InboundEvent::Message(m) => (**m).clone(),
        other => panic!("not a message: {other:?}"),
    }
}

fn msg(kind: &str, body: Value) -> Value {
    json!({"from": "5511999990000", "id": format!("wamid.{kind}"), "timestamp": "1750000000", "type": kind, kind: body})
}

#[test]
fn text_with_sender_and_routing() {
    let parsed = parse(&messages(vec![msg("text", json!({"body": "Does it come in blue?"}))])).unwrap();
    let change = &parsed.changes[0];
    assert_eq!(
        (change.waba_id.as_str(), change.phone_number_id.as_deref(), change.field.as_str()),
        ("WABA1", Some("PN1"), "messages")
    );
    let InboundEvent::Message(m) = &change.events[0] else { panic!() };
    assert_eq!(m.provider_message_id, "wamid.text");
    assert_eq!(m.sent_at, Timestamp::from_secs(1_750_000_000));
    assert_eq!(m.from.wa_id.as_ref().unwrap().as_str(), "5511999990000");
    assert_eq!(m.from.bsuid.as_ref().unwrap().as_str(), "BR.4823956102934");
    assert_eq!(m.from.profile_name.as_deref(), Some("Ana"));
    assert_eq!(m.content, Content::Text { body: "Does it come in blue?".into(), preview_url: None });
    assert_eq!(m.raw["message"]["id"], "wamid.text");
    assert_eq!(m.raw["contact"]["profile"]["name"], "Ana");
}

#[test]
fn media_types() {
    let audio = one(msg(
        "audio",
        json!({"id": "1100", "mime_type": "audio/ogg; codecs=opus", "sha256": "abc=", "voice": true, "url": "https://lookaside/x"}),
    ));
    let Content::Audio(m) = &audio.content else { panic!() };
    assert_eq!(
        (m.id.as_deref(), m.voice, m.mime_type.as_deref()),
        (Some("1100"), true, Some("audio/ogg; codecs=opus"))
    );
    let doc = one(msg(
        "document",
        json!({"id": "1101", "filename": "invoice.pdf", "caption": "here", "mime_type": "application/pdf"}),
    ));
    assert_eq!(doc.content.type_name(), "document");
    assert_eq!(doc.content.text(), Some("here"));
    let sticker = one(msg("sticker", json!({"id": "1102", "animated": true, "mime_type": "image/webp"})));
    assert!(matches!(sticker.content, Content::Sticker(Media { animated: true, .. })));
    for kind in ["image", "video"] {
        let m = one(msg(kind, json!({"id": "1", "caption": "c"})));
        assert_eq!(m.content.type_name(), kind);
        assert_eq!(m.content.media().unwrap().id.as_deref(), Some("1"));
    }
}

#[test]
fn location_contacts_order() {
    let loc = one(msg("location", json!({"latitude": 48.85, "longitude": 2.35, "name": "Café", "address": "1 rue"})));
    assert_eq!(
        loc.content,
        Content::Location {
            latitude: 48.85,
            longitude: 2.35,
            name: Some("Café".into()),
            address: Some("1 rue".into()),
            url: None
        }
    );
    let shared = one(msg(
        "contacts",
        json!([{"name": {"formatted_name": "Bob"}, "phones": [{"phone": "+1 555", "wa_id": "1555"}]}]),
    ));
    let Content::Contacts { contacts } = &shared.content else { panic!() };
    assert_eq!(contacts[0]["name"]["formatted_name"], "Bob");
    let order = one(msg(
        "order",
        json!({"catalog_id": "C1", "text": "pls", "product_items": [{"product_retailer_id": "SKU", "quantity": 2, "item_price": 7.99, "currency": "EUR"}]}),
    ));
    let Content::Order { items, .. } = &order.content else { panic!() };
    assert_eq!(items[0]["item_price"], 7.99);
}

#[test]
fn interactive_replies_and_template_buttons() {
    let b = one(msg("interactive", json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}})));
    assert_eq!(
        b.content,
        Content::Interactive {
            kind: "button_reply".into(),
            id: Some("yes".into()),
            title: Some("Yes".into()),
            description: None,
            response: None
        }
    );
    let l = one(msg(
        "interactive",
        json!({"type": "list_reply", "list_reply": {"id": "r1", "title": "Row", "description": "d"}}),
    ));
    assert!(matches!(&l.content, Content::Interactive { kind, description: Some(_), .. } if kind == "list_reply"));
    let flow = one(msg(
        "interactive",
        json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"flow_token\":\"T\",\"size\":\"M\"}"}}),
    ));
    let Content::Interactive { response: Some(r), .. } = &flow.content else { panic!() };
    assert_eq!(r["size"], "M");
    let button = one(msg("button", json!({"payload": "TRACK:1", "text": "Track"})));
    assert_eq!(button.content, Content::Button { text: "Track".into(), payload: Some("TRACK:1".into()) });
    // An interactive message without its object is kept as unsupported.
    let bare =
        one(json!({"from": "5511999990000", "id": "wamid.bare", "timestamp": "1750000000", "type": "interactive"}));
    assert_eq!(bare.content.type_name(), "unsupported");
}

#[test]
fn reactions_edits_revokes_context_referral() {
    let add = one(msg("reaction", json!({"message_id": "wamid.OUT", "emoji": "👍"})));
    assert_eq!(add.content, Content::Reaction { message_id: "wamid.OUT".into(), emoji: Some("👍".into()) });
    let remove = one(msg("reaction", json!({"message_id": "wamid.OUT"})));
    assert_eq!(remove.content, Content::Reaction { message_id: "wamid.OUT".into(), emoji: None });
    let empty = one(msg("reaction", json!({"message_id": "wamid.OUT", "emoji": ""})));
    assert_eq!(empty.content, remove.content);

    let edit = one(msg(
        "edit",
        json!({"original_message_id": "wamid.A", "message": {"type": "text", "text": {"body": "fixed"}}}),
    ));
    let Content::Edit { original_message_id, message } = &edit.content else { panic!() };
    assert_eq!((original_message_id.as_str(), message.text()), ("wamid.A", Some("fixed")));
    let revoke = one(msg("revoke", json!({"original_message_id": "wamid.A"})));
    assert_eq!(revoke.content, Content::Revoke { original_message_id: "wamid.A".into() });

    let mut reply = msg("text", json!({"body": "yes"}));
    reply["context"] = json!({"from": "15550001111", "id": "wamid.Q"});
    assert_eq!(one(reply).context.unwrap().reply_to.as_deref(), Some("wamid.Q"));
    let mut fwd = msg("text", json!({"body": "fwd"}));
    fwd["context"] = json!({"frequently_forwarded": true});
    assert!(one(fwd).context.unwrap().frequently_forwarded);
    let mut ad = msg("text", json!({"body": "hi from ad"}));
    ad["referral"] =
        json!({"source_url": "https://fb.me/x", "source_type": "ad", "source_id": "123", "ctwa_clid": "C"});
    assert_eq!(one(ad).referral.unwrap()["source_type"], "ad");
}

#[test]
fn system_unsupported_unknown() {
    let sys = one(json!({"from": "5511999990000", "id": "wamid.sys", "timestamp": "1750000000", "type": "system",
        "system": {"body": "User A changed from 5511999990000 to 5511988880000", "wa_id": "5511988880000", "type": "user_changed_number"}}));
    assert!(
        matches!(&sys.content, Content::System { kind, new_wa_id: Some(w), .. } if kind == "user_changed_number" && w == "5511988880000")
    );
    let unsupported = one(
        json!({"from": "5511999990000", "id": "wamid.u", "timestamp": "1750000000", "type": "unsupported",
        "unsupported": {"type": "poll_creation"},
        "errors": [{"code": 131051, "title": "Message type unknown", "error_data": {"details": "Message type is currently not supported."}}]}),
    );
    assert_eq!(unsupported.content, Content::Unsupported { kind: Some("poll_creation".into()) });
    assert_eq!(unsupported.errors[0].code, 131051);
    assert_eq!(unsupported.errors[0].details.as_deref(), Some("Message type is currently not supported."));
    let future = one(msg("hologram", json!({"x": 1})));
    assert_eq!(future.content, Content::Unknown { provider_type: "hologram".into() });
    let welcome =
        one(json!({"from": "5511999990000", "id": "wamid.w", "timestamp": 1750000000, "type": "request_welcome"}));
    assert_eq!(welcome.content, Content::RequestWelcome);
}

#[test]
fn username_users_without_wa_id() {
    let body = webhook(json!({
        "metadata": {"phone_number_id": "PN1"},
        "contacts": [{"profile": {"name": "Zed", "username": "zed.k"}, "user_id": "US.134912"}],
        "messages": [{"from_user_id": "US.134912", "id": "wamid.z", "timestamp": "1750000000", "type": "text", "text": {"body": "hi"}}],
    }));
    let parsed = parse(&body).unwrap();
    let InboundEvent::Message(m) = &parsed.changes[0].events[0] else { panic!() };
    assert_eq!((m.from.wa_id.as_ref(), m.from.bsuid.as_ref().map(Bsuid::as_str)), (None, Some("US.134912")));
    assert_eq!(m.from.username.as_deref(), Some("zed.k"));
}

#[test]
fn statuses() {
    let body = webhook(json!({
        "metadata": {"phone_number_id": "PN1"},
        "statuses": [
            {"id": "wamid.OUT1", "status": "sent", "timestamp": "1751000000", "recipient_id": "5511999990000",
             "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"}},
            {"id": "wamid.OUT3", "status": "failed", "timestamp": "1751000090", "recipient_id": "5511999990000",
             "errors": [{"code": 131047, "title": "Re-engagement message"}]},
            {"id": "wamid.OUT4", "status": "warning", "timestamp": "1751000090"},
        ],
    }));
    let events = parse(&body).unwrap().changes.remove(0).events;
    let InboundEvent::Status(sent) = &events[0] else { panic!() };
    assert_eq!(
        (sent.status, sent.pricing.as_ref().unwrap()["category"].as_str()),
        (DeliveryStatus::Sent, Some("marketing"))
    );
    let InboundEvent::Status(failed) = &events[1] else { panic!() };
    assert_eq!((failed.status, failed.errors[0].code), (DeliveryStatus::Failed, 131047));
    assert!(matches!(&events[2], InboundEvent::Other { field, .. } if field == "statuses.unreadable"));
}

#[test]
fn every_entry_and_change_is_read() {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "W1", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "PN1"}, "messages": [msg("text", json!({"body": "a"})), msg("image", json!({"id": "9"}))]}},
            {"field": "messages", "value": {"metadata": {"phone_number_id": "PN2"}, "statuses": [{"id": "wamid.o", "status": "read", "timestamp": "1"}]}},
        ]},
        {"id": "W2", "time": 1750000000, "changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1, "message_template_name": "x"}},
            {"field": "user_preferences", "value": {"metadata": {"phone_number_id": "PN3"}, "user_preferences": [{"wa_id": "5511999990000", "detail": "d", "category": "marketing_messages", "value": "stop", "timestamp": 1750000000}]}},
        ]},
    ]});
    let parsed = parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.changes.len(), 4);
    assert_eq!(parsed.event_count(), 5);
    assert_eq!(parsed.changes[1].phone_number_id.as_deref(), Some("PN2"));
    assert!(
        matches!(&parsed.changes[2].events[0], InboundEvent::Other { field, .. } if field == "message_template_status_update")
    );
    assert!(matches!(&parsed.changes[3].events[0], InboundEvent::UserPreference { value, .. } if value == "stop"));
}

#[test]
fn unreadable_items_are_kept_not_fatal() {
    let parsed =
        parse(&messages(vec![json!({"type": "text", "text": {"body": "no id"}}), msg("text", json!({"body": "ok"}))]))
            .unwrap();
    let events = &parsed.changes[0].events;
    assert!(matches!(&events[0], InboundEvent::Other { field, .. } if field == "messages.unreadable"));
    assert!(matches!(&events[1], InboundEvent::Message(_)));
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(matches!(parse(b"{not json"), Err(WebhookError::NotJson(_))));
    assert!(matches!(parse(b"[]"), Err(WebhookError::NotAWebhook(_))));
    assert!(matches!(parse(br#"{"object":"page","entry":[]}"#), Err(WebhookError::NotAWebhook(_))));
    assert!(matches!(parse(br#"{"object":"whatsapp_business_account"}"#), Err(WebhookError::NotAWebhook(_))));
    assert_eq!(parse(br#"{"object":"whatsapp_business_account","entry":[]}"#).unwrap().changes.len(), 0);
}

#[test]
fn field_names_are_checked_before_they_become_event_kinds() {
    for good in ["messages", "account_update", "message_template_status_update", "phone_number_quality_update", "x1"] {
        assert!(is_field_name(good), "{good}");
    }
    let too_long = "a".repeat(65);
    for bad in
        ["", "Messages", "1messages", "messages\nevent: x", "messages\r", "a.b", "a b", "é", "a-b", too_long.as_str()]
    {
        assert!(!is_field_name(bad), "{bad:?}");
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": bad, "value": {}}]}]});
        assert!(matches!(parse(body.to_string().as_bytes()), Err(WebhookError::NotAWebhook(_))), "{bad:?}");
    }
    // A well-formed field nobody knows is kept, as before.
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "brand_new_field", "value": {}}]}]});
    assert_eq!(parse(body.to_string().as_bytes()).unwrap().changes[0].field, "brand_new_field");
}

mod fuzz {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::parse;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            prop_oneof![
                Just("messages".to_owned()),
                Just("text".to_owned()),
                Just("image".to_owned()),
                Just("edit".to_owned()),
                Just("interactive".to_owned()),
                Just("status".to_owned()),
                Just("read".to_owned()),
                Just("1750000000".to_owned()),
                "\\PC{0,12}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("id".to_owned()),
                        Just("from".to_owned()),
                        Just("timestamp".to_owned()),
                        Just("messages".to_owned()),
                        Just("statuses".to_owned()),
                        Just("contacts".to_owned()),
                        Just("value".to_owned()),
                        Just("field".to_owned()),
                        Just("changes".to_owned()),
                        Just("text".to_owned()),
                        Just("message".to_owned()),
                        Just("edit".to_owned()),
                        Just("interactive".to_owned()),
                        Just("errors".to_owned()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Arbitrary JSON inside a valid envelope never panics the parser.
        #[test]
        fn arbitrary_values_never_panic(value in arb_json(), field in prop_oneof![Just("messages"), Just("user_preferences"), Just("other")]) {
            let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": field, "value": value.clone()}]}, value]});
            let _ = parse(body.to_string().as_bytes());
        }

        /// Arbitrary bytes never panic it either.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }
    }
}

#[test]
fn template_and_health_changes_become_typed_events() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "W1", "time": 1750000000, "changes": [
        {"field": "message_template_status_update", "value": {"event": "PAUSED", "message_template_id": 1689556908129835_i64,
            "message_template_name": "order_update", "message_template_language": "en", "reason": "NONE",
            "other_info": {"title": "FIRST_PAUSE", "description": "paused for 3 hours"}}},
        {"field": "message_template_quality_update", "value": {"previous_quality_score": "GREEN", "new_quality_score": "RED",
            "message_template_id": 1689556908129835_i64, "message_template_name": "order_update", "message_template_language": "en"}},
        {"field": "phone_number_quality_update", "value": {"display_phone_number": "15550001111", "event": "UPGRADE",
            "old_limit": "TIER_250", "current_limit": "TIER_2K"}},
        {"field": "business_capability_update", "value": {"max_daily_conversations_per_business": -1}},
        {"field": "account_alerts", "value": {"entity_type": "BUSINESS", "entity_id": "1", "alert_info": {}}},
    ]}]});
    let parsed = parse(body.to_string().as_bytes()).unwrap();
    let events: Vec<&InboundEvent> = parsed.changes.iter().flat_map(|c| &c.events).collect();
    assert_eq!(events.len(), 5);
    match events[0] {
        InboundEvent::Template(u) => {
            assert_eq!((u.name.as_str(), u.language.as_str()), ("order_update", "en"));
            assert_eq!(u.provider_template_id.as_deref(), Some("1689556908129835"));
            assert!(matches!(
                &u.change,
                TemplateChange::Status { status: TemplateStatus::Paused, detail: Some(d), .. } if d == "FIRST_PAUSE"
            ));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(events[1], InboundEvent::Template(u) if matches!(u.change, TemplateChange::Quality { .. })));
    match events[2] {
        InboundEvent::Health { scope, change, .. } => {
            assert_eq!(scope, &HealthScope::Number("15550001111".into()));
            assert_eq!(change.messaging_limit, Some(Some(2000)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(events[3], InboundEvent::Health { scope: HealthScope::Account, change, .. }
        if change.messaging_limit == Some(None)));
    assert!(matches!(events[4], InboundEvent::Other { field, .. } if field == "account_alerts"));
}

#[test]
fn a_per_conversation_status_keeps_its_conversation_in_its_pricing() {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
    "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "P"},
    "statuses": [
        {"id": "wamid.C1", "status": "delivered", "timestamp": "1686000000", "recipient_id": "5511",
         "conversation": {"id": "CONV-1", "origin": {"type": "marketing"}},
         "pricing": {"billable": true, "pricing_model": "CBP", "category": "marketing"}},
        {"id": "wamid.C2", "status": "delivered", "timestamp": "1686000000", "recipient_id": "5511",
         "conversation": {"id": 7}, "pricing": "odd"}
    ]}}]}]});
    let parsed = parse(body.to_string().as_bytes()).unwrap();
    let statuses: Vec<_> = parsed.changes[0]
        .events
        .iter()
        .filter_map(|e| match e {
            InboundEvent::Status(s) => Some(s.pricing.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses[0].as_ref().unwrap()["conversation"],
        json!({"id": "CONV-1", "origin": "marketing"}),
        "kept with the pricing"
    );
    assert_eq!(statuses[1], Some(json!("odd")), "an odd pricing is kept as it came, and nothing panics");
}

//! Twilio's posts, written as Twilio sends them (field names from spec §3.1–3.2), read into
//! Parley's events.

use super::*;

const AT: Timestamp = Timestamp::from_secs(1_800_000_000);

fn post(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

fn inbound(extra: &[(&str, &str)]) -> InboundMessage {
    let mut pairs = vec![
        ("MessageSid", "SM11111111111111111111111111111111"),
        ("AccountSid", "AC22222222222222222222222222222222"),
        ("From", "whatsapp:+5511987650000"),
        ("To", "whatsapp:+14155238886"),
        ("WaId", "5511987650000"),
        ("ProfileName", "Ana Lima"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ];
    pairs.extend_from_slice(extra);
    match parse(&post(&pairs), AT).unwrap().as_slice() {
        [InboundEvent::Message(m)] => (**m).clone(),
        other => panic!("one message expected: {other:?}"),
    }
}

#[test]
fn a_text_message_with_its_sender_and_every_field_kept() {
    let m = inbound(&[("Body", "Olá\0, tudo bem?"), ("NumMedia", "0"), ("MessageType", "text"), ("NewField", "x")]);
    assert_eq!(m.provider_message_id, "SM11111111111111111111111111111111");
    assert_eq!(m.content, Content::Text { body: "Olá, tudo bem?".into(), preview_url: None }, "NUL stripped");
    assert_eq!(m.from.wa_id.as_ref().map(|w| w.to_string()), Some("5511987650000".into()));
    assert_eq!((m.from.bsuid.as_ref(), m.from.profile_name.as_deref()), (None, Some("Ana Lima")));
    assert_eq!(m.sent_at, AT, "Twilio gives no time: the arrival's");
    assert_eq!((m.context.as_ref(), m.referral.as_ref()), (None, None));
    assert_eq!(m.raw["NewField"], "x", "fields Twilio adds are kept");
}

#[test]
fn media_of_each_kind_is_referenced_by_its_url() {
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC2/Messages/MM1/Media/ME1";
    for (mime, kind) in [
        ("image/jpeg", "image"),
        ("image/webp", "sticker"),
        ("audio/ogg", "voice"),
        ("audio/mpeg", "audio"),
        ("video/mp4", "video"),
        ("application/pdf", "document"),
    ] {
        let m = inbound(&[("NumMedia", "1"), ("MediaUrl0", url), ("MediaContentType0", mime), ("Body", "see")]);
        let media = match (&m.content, kind) {
            (Content::Image(media), "image")
            | (Content::Sticker(media), "sticker")
            | (Content::Video(media), "video")
            | (Content::Document(media), "document") => media,
            (Content::Audio(media), "voice" | "audio") => {
                assert_eq!(media.voice, kind == "voice", "{mime}");
                media
            }
            other => panic!("{mime}: {other:?}"),
        };
        assert_eq!(
            (media.id.as_deref(), media.mime_type.as_deref(), media.caption.as_deref()),
            (Some(url), Some(mime), Some("see"))
        );
    }
}

#[test]
fn locations_buttons_replies_forwards_and_ad_referrals() {
    let m = inbound(&[("Latitude", "-23.55"), ("Longitude", "-46.63"), ("Label", "Loja"), ("Address", "Av. Paulista")]);
    assert_eq!(
        m.content,
        Content::Location {
            latitude: -23.55,
            longitude: -46.63,
            name: Some("Loja".into()),
            address: Some("Av. Paulista".into()),
            url: None
        }
    );
    let bad =
        post(&[("MessageSid", "SM1"), ("From", "whatsapp:+5511987650000"), ("Latitude", "north"), ("Longitude", "1")]);
    assert!(parse(&bad, AT).is_err(), "a location that is not one");

    let m = inbound(&[("MessageType", "button"), ("ButtonText", "Yes, confirm"), ("ButtonPayload", "confirm-42")]);
    assert_eq!(m.content, Content::Button { text: "Yes, confirm".into(), payload: Some("confirm-42".into()) });

    let m = inbound(&[("Body", "this one"), ("OriginalRepliedMessageSid", "SM0000"), ("Forwarded", "true")]);
    let context = m.context.unwrap();
    assert_eq!(
        (context.reply_to.as_deref(), context.forwarded, context.frequently_forwarded),
        (Some("SM0000"), true, false)
    );

    let m = inbound(&[
        ("Body", "hi from the ad"),
        ("ReferralSourceId", "120"),
        ("ReferralSourceType", "ad"),
        ("ReferralCtwaClid", "ARAkL"),
    ]);
    assert_eq!(m.referral, Some(json!({"source_id": "120", "source_type": "ad", "ctwa_clid": "ARAkL"})));
}

#[test]
fn a_user_behind_a_username_is_known_by_their_user_id() {
    let pairs = [
        ("MessageSid", "SM3"),
        ("From", "whatsapp:US.13491208655302741918"),
        ("ExternalUserId", "US.13491208655302741918"),
        ("ProfileUsername", "ana.lima"),
        ("Body", "hello"),
    ];
    let events = parse(&post(&pairs), AT).unwrap();
    let InboundEvent::Message(m) = &events[0] else { panic!("{events:?}") };
    assert_eq!(m.from.wa_id, None);
    assert_eq!(m.from.bsuid.as_ref().map(|b| b.as_str()), Some("US.13491208655302741918"));
    assert_eq!(m.from.username.as_deref(), Some("ana.lima"));
}

#[test]
fn statuses_map_to_ours_with_their_error_and_early_ones_are_no_event() {
    let callback = |status: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("MessageSid", "SM9"),
            ("MessageStatus", status),
            ("To", "whatsapp:+5511987650000"),
            ("From", "whatsapp:+14155238886"),
            ("ChannelPrefix", "whatsapp"),
        ];
        pairs.extend_from_slice(extra);
        parse(&post(&pairs), AT).unwrap()
    };
    for (theirs, ours) in [
        ("sent", DeliveryStatus::Sent),
        ("delivered", DeliveryStatus::Delivered),
        ("read", DeliveryStatus::Read),
        ("failed", DeliveryStatus::Failed),
        ("undelivered", DeliveryStatus::Failed),
        ("canceled", DeliveryStatus::Failed),
    ] {
        let events = callback(theirs, &[]);
        let [InboundEvent::Status(s)] = events.as_slice() else { panic!("{theirs}: {events:?}") };
        assert_eq!(
            (s.status, s.provider_message_id.as_str(), s.recipient.as_deref()),
            (ours, "SM9", Some("5511987650000"))
        );
        assert_eq!((s.at, s.pricing.as_ref()), (AT, None));
    }
    for early in ["queued", "sending", "accepted", "scheduled", "partially_delivered"] {
        assert!(callback(early, &[]).is_empty(), "{early}");
    }
    let events = callback("undelivered", &[("ErrorCode", "63016"), ("ErrorMessage", "Outside the window")]);
    let [InboundEvent::Status(s)] = events.as_slice() else { panic!() };
    assert_eq!(s.errors, vec![ProviderError { code: 63016, title: "Outside the window".into(), details: None }]);
}

#[test]
fn what_is_not_a_twilio_whatsapp_post_is_malformed() {
    assert!(parse(b"", AT).is_err());
    assert!(parse(b"Body=hi&From=whatsapp%3A%2B5511987650000", AT).is_err(), "no MessageSid");
    assert!(parse(b"MessageSid=SM1&Body=hi", AT).is_err(), "no From");
    assert!(parse(b"MessageSid=SM1&Body=hi&From=whatsapp%3Anobody", AT).is_err(), "a sender that is no one");
    assert!(parse(&[0xff, 0xfe, b'=', 0x00], AT).is_err(), "bytes that are not a form");
}

#[test]
fn the_addressee_is_the_business_side_of_either_kind_of_post() {
    let inbound = post(&[
        ("MessageSid", "SM1"),
        ("AccountSid", "AC1"),
        ("From", "whatsapp:+5511987650000"),
        ("To", "whatsapp:+14155238886"),
        ("SmsStatus", "received"),
    ]);
    assert_eq!(addressee(&inbound), Addressee { account_sid: Some("AC1".into()), number: Some("14155238886".into()) });
    let status = post(&[
        ("MessageSid", "SM2"),
        ("MessageStatus", "delivered"),
        ("From", "whatsapp:+14155238886"),
        ("To", "whatsapp:+5511987650000"),
    ]);
    assert_eq!(addressee(&status), Addressee { account_sid: None, number: Some("14155238886".into()) });
}

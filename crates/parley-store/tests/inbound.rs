//! The inbound contract on both engines: contacts resolved by WhatsApp identity and phone,
//! conversations opened and reopened, messages stored once in provider-time order, statuses only
//! moving forward, edits and revokes in any order, media jobs, atomic batches.

use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::{Channel, ChannelId};
use parley_core::contact::{ContactInput, ContactRef, NewContact};
use parley_core::conversation::{ConversationStatus, Direction, MediaState};
use parley_core::ids::{ContactId, EventId, WorkspaceId};
use parley_core::message::{
    Content, DeliveryStatus, InboundEvent, InboundMessage, Media, ProviderError, Sender, StatusUpdate,
};
use parley_core::whatsapp::{Bsuid, WaId};
use parley_core::{E164, Email};
use parley_store::testing::TestDatabase;
use parley_store::{ConversationQuery, MessageQuery, NewUser, RoutedEvent, Store, StoreError, Viewer};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_750_000_000);

async fn setup(store: &dyn Store, name: &str) -> (WorkspaceId, Channel) {
    let (ws, _, channel) = parley_store::testing::workspace_with_channel(store, name, NOW).await;
    (ws, channel)
}

fn from(wa: &str) -> Sender {
    Sender {
        wa_id: Some(WaId::parse(wa).unwrap()),
        bsuid: None,
        profile_name: Some("Ana".into()),
        username: None,
        contact_fields: Vec::new(),
    }
}

fn message(id: &str, sender: Sender, secs: i64, content: Content) -> InboundEvent {
    InboundEvent::Message(Box::new(InboundMessage {
        provider_message_id: id.into(),
        from: sender,
        sent_at: Timestamp::from_secs(secs),
        content,
        context: None,
        referral: None,
        errors: vec![],
        raw: json!({"id": id}),
    }))
}

fn text(id: &str, wa: &str, secs: i64, body: &str) -> InboundEvent {
    message(id, from(wa), secs, Content::Text { body: body.into(), preview_url: None })
}

fn status(id: &str, s: DeliveryStatus, secs: i64) -> InboundEvent {
    InboundEvent::Status(StatusUpdate {
        provider_message_id: id.into(),
        status: s,
        at: Timestamp::from_secs(secs),
        recipient: None,
        errors: if s == DeliveryStatus::Failed {
            vec![ProviderError { code: 131026, title: "Message undeliverable".into(), details: None }]
        } else {
            vec![]
        },
        pricing: (s == DeliveryStatus::Sent).then(|| json!({"category": "service", "type": "free_customer_service"})),
        raw: json!({}),
    })
}

async fn apply(store: &dyn Store, channel: &Channel, events: &[InboundEvent]) -> parley_store::InboundOutcome {
    let routed: Vec<RoutedEvent> = events.iter().map(|event| RoutedEvent { channel, event }).collect();
    store.apply_inbound(&routed, NOW).await.unwrap()
}

async fn thread(store: &dyn Store, ws: WorkspaceId) -> Vec<parley_core::conversation::Message> {
    let convs = store.conversations(ws, &ConversationQuery { limit: 10, ..Default::default() }).await.unwrap().items;
    assert_eq!(convs.len(), 1, "one conversation");
    store
        .messages(ws, convs[0].id, &MessageQuery { limit: 200, cursor: None, viewer: Viewer::All })
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn first_message_creates_contact_conversation_and_message() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let out = apply(store, &channel, &[text("wamid.1", "33612345678", 1_750_000_000, "bonjour")]).await;
        assert_eq!((out.messages, out.duplicates), (1, 0));
        let contact = store.contact(ws, &ContactRef::Phone(E164::parse("+33612345678").unwrap())).await.unwrap();
        assert_eq!(contact.name.as_deref(), Some("Ana"), "{}", db.engine());
        let convs = store
            .conversations(ws, &ConversationQuery { contact: Some(contact.id), limit: 10, ..Default::default() })
            .await
            .unwrap();
        let conv = &convs.items[0];
        assert_eq!(
            (conv.status, conv.channel_id, conv.last_inbound_at),
            (ConversationStatus::Open, channel.id, Some(Timestamp::from_secs(1_750_000_000)))
        );
        let msgs = thread(store, ws).await;
        assert_eq!(
            (msgs[0].direction, msgs[0].kind.as_str(), msgs[0].text.as_deref()),
            (Direction::In, "text", Some("bonjour"))
        );
        assert_eq!(
            (msgs[0].status, msgs[0].provider_message_id.as_deref()),
            (DeliveryStatus::Received, Some("wamid.1"))
        );
        let kinds: Vec<String> =
            store.events(ws, Viewer::All, EventId(0), None, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
        for k in ["contact.created", "conversation.opened", "message.received"] {
            assert!(kinds.iter().any(|x| x == k), "{}: no {k} in {kinds:?}", db.engine());
        }
    }
}

#[tokio::test]
async fn duplicates_are_no_ops_even_after_closing() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        apply(store, &channel, &[text("wamid.1", "33612345678", 1_750_000_000, "hi")]).await;
        let conv = store
            .conversations(ws, &ConversationQuery { limit: 10, ..Default::default() })
            .await
            .unwrap()
            .items
            .remove(0);
        store.set_conversation_status(ws, conv.id, ConversationStatus::Closed, None, NOW).await.unwrap();
        let events_before = store.events(ws, Viewer::All, EventId(0), None, 1000).await.unwrap().len();
        let out = apply(
            store,
            &channel,
            &[text("wamid.1", "33612345678", 1_750_000_000, "hi"), text("wamid.1", "33612345678", 1_750_000_000, "hi")],
        )
        .await;
        assert_eq!((out.messages, out.duplicates), (0, 2), "{}", db.engine());
        assert_eq!(
            store.conversation(ws, conv.id, Viewer::All).await.unwrap().status,
            ConversationStatus::Closed,
            "a redelivery must not reopen"
        );
        assert_eq!(
            store.events(ws, Viewer::All, EventId(0), None, 1000).await.unwrap().len(),
            events_before,
            "a redelivery appends nothing"
        );
        // A new message does reopen.
        apply(store, &channel, &[text("wamid.2", "33612345678", 1_750_000_100, "again")]).await;
        assert_eq!(store.conversation(ws, conv.id, Viewer::All).await.unwrap().status, ConversationStatus::Open);
        assert_eq!(thread(store, ws).await.len(), 2);
    }
}

#[tokio::test]
async fn thread_is_ordered_by_provider_time() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        apply(
            store,
            &channel,
            &[text("wamid.c", "33612345678", 300, "third"), text("wamid.a", "33612345678", 100, "first")],
        )
        .await;
        apply(store, &channel, &[text("wamid.b", "33612345678", 200, "second")]).await;
        let texts: Vec<_> = thread(store, ws).await.into_iter().map(|m| m.text.unwrap()).collect();
        assert_eq!(texts, ["first", "second", "third"], "{}", db.engine());
        let conv = store
            .conversations(ws, &ConversationQuery { limit: 1, ..Default::default() })
            .await
            .unwrap()
            .items
            .remove(0);
        assert_eq!(
            conv.last_inbound_at,
            Some(Timestamp::from_secs(300)),
            "a late older message does not move the window back"
        );
        // Paging through the thread.
        let first =
            store.messages(ws, conv.id, &MessageQuery { limit: 2, cursor: None, viewer: Viewer::All }).await.unwrap();
        let cursor = parley_store::SortKey::parse(first.next_cursor.as_deref().unwrap()).unwrap();
        let rest = store
            .messages(ws, conv.id, &MessageQuery { limit: 2, cursor: Some(cursor), viewer: Viewer::All })
            .await
            .unwrap();
        assert_eq!((first.items.len(), rest.items.len(), rest.next_cursor), (2, 1, None));
    }
}

#[tokio::test]
async fn senders_match_existing_contacts_through_quirks() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let mk = |phone: &str, name: &str| {
            NewContact::from_input(
                serde_json::from_value::<ContactInput>(json!({"phone": phone, "name": name})).unwrap(),
                None,
            )
            .unwrap()
        };
        let fr = store.create_contact(ws, mk("+33 6 12 34 56 78", "Élodie"), NOW).await.unwrap();
        let br = store.create_contact(ws, mk("+55 11 99123-4567", "João"), NOW).await.unwrap();
        let mx = store.create_contact(ws, mk("+52 55 1234 5678", "Lupe"), NOW).await.unwrap();
        apply(
            store,
            &channel,
            &[
                text("w1", "33612345678", 100, "fr"),
                text("w2", "551191234567", 100, "br old id without the ninth digit"),
                text("w3", "5215512345678", 100, "mx id with the 1"),
            ],
        )
        .await;
        for (c, name) in [(fr.id, "Élodie"), (br.id, "João"), (mx.id, "Lupe")] {
            let convs = store
                .conversations(ws, &ConversationQuery { contact: Some(c), limit: 5, ..Default::default() })
                .await
                .unwrap();
            assert_eq!(convs.items.len(), 1, "{}: {name} got no conversation", db.engine());
            assert_eq!(
                store.contact(ws, &ContactRef::Id(c)).await.unwrap().name.as_deref(),
                Some(name),
                "a typed name wins over the profile"
            );
        }
        assert_eq!(
            store
                .contacts(ws, &parley_store::ContactQuery { limit: 50, ..Default::default() })
                .await
                .unwrap()
                .items
                .len(),
            3,
            "no duplicate contacts"
        );
    }
}

#[tokio::test]
async fn bsuid_only_users_and_later_reveal() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let hidden = Sender {
            wa_id: None,
            bsuid: Some(Bsuid::parse("US.1349").unwrap()),
            profile_name: None,
            username: Some("zed.k".into()),
            contact_fields: Vec::new(),
        };
        apply(store, &channel, &[message("w1", hidden, 100, Content::Text { body: "hi".into(), preview_url: None })])
            .await;
        let all =
            store.contacts(ws, &parley_store::ContactQuery { limit: 50, ..Default::default() }).await.unwrap().items;
        assert_eq!(
            (all.len(), all[0].phone.as_ref(), all[0].name.as_deref()),
            (1, None, Some("zed.k")),
            "{}",
            db.engine()
        );
        // The same user later with both ids: same contact.
        let both = Sender {
            wa_id: Some(WaId::parse("14155550123").unwrap()),
            bsuid: Some(Bsuid::parse("US.1349").unwrap()),
            profile_name: None,
            username: None,
            contact_fields: Vec::new(),
        };
        apply(store, &channel, &[message("w2", both, 200, Content::Text { body: "again".into(), preview_url: None })])
            .await;
        assert_eq!(
            store
                .contacts(ws, &parley_store::ContactQuery { limit: 50, ..Default::default() })
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        // And now by wa_id alone.
        apply(store, &channel, &[text("w3", "14155550123", 300, "third")]).await;
        assert_eq!(thread(store, ws).await.len(), 3);
    }
}

#[tokio::test]
async fn statuses_move_forward_only_and_can_come_first() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        apply(store, &channel, &[text("in.1", "33612345678", 100, "hi")]).await;
        let contact = store.contact(ws, &ContactRef::Phone(E164::parse("+33612345678").unwrap())).await.unwrap();
        // `read` arrives before we even recorded the message: kept and applied later.
        apply(store, &channel, &[status("out.1", DeliveryStatus::Read, 130)]).await;
        let sent = store
            .record_outbound(
                &channel,
                contact.id,
                &Content::Text { body: "hello".into(), preview_url: None },
                "out.1",
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(sent.status, DeliveryStatus::Read, "{}: early read applied", db.engine());
        let out = apply(
            store,
            &channel,
            &[
                status("out.1", DeliveryStatus::Sent, 110),
                status("out.1", DeliveryStatus::Delivered, 120),
                status("out.1", DeliveryStatus::Sent, 110),
            ],
        )
        .await;
        assert_eq!((out.statuses, out.duplicates), (2, 1));
        let msg = thread(store, ws).await.into_iter().find(|m| m.id == sent.id).unwrap();
        assert_eq!(msg.status, DeliveryStatus::Read, "late sent/delivered never downgrade");
        assert_eq!(msg.pricing.unwrap()["category"], "service", "pricing recorded from the sent status");

        let second = store
            .record_outbound(&channel, contact.id, &Content::Text { body: "2".into(), preview_url: None }, "out.2", NOW)
            .await
            .unwrap();
        apply(store, &channel, &[status("out.2", DeliveryStatus::Failed, 140)]).await;
        let msg = thread(store, ws).await.into_iter().find(|m| m.id == second.id).unwrap();
        assert_eq!((msg.status, msg.error.as_ref().map(|e| e.code)), (DeliveryStatus::Failed, Some(131026)));
        assert_eq!(msg.error.unwrap().title, "Message undeliverable");
    }
}

#[tokio::test]
async fn edits_and_revokes_in_either_order() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let edit = |id: &str, target: &str, secs, body: &str| {
            message(
                id,
                from("33612345678"),
                secs,
                Content::Edit {
                    original_message_id: target.into(),
                    message: Box::new(Content::Text { body: body.into(), preview_url: None }),
                },
            )
        };
        apply(store, &channel, &[text("w.a", "33612345678", 100, "helo"), edit("w.e1", "w.a", 110, "hello")]).await;
        // The edit of w.b arrives before w.b itself.
        apply(store, &channel, &[edit("w.e2", "w.b", 210, "fixed later")]).await;
        apply(store, &channel, &[text("w.b", "33612345678", 200, "oops")]).await;
        apply(
            store,
            &channel,
            &[message("w.r", from("33612345678"), 220, Content::Revoke { original_message_id: "w.a".into() })],
        )
        .await;
        let msgs = thread(store, ws).await;
        let a = msgs.iter().find(|m| m.provider_message_id.as_deref() == Some("w.a")).unwrap();
        let b = msgs.iter().find(|m| m.provider_message_id.as_deref() == Some("w.b")).unwrap();
        assert_eq!(
            (a.text.as_deref(), a.edited_at.is_some(), a.revoked_at.is_some()),
            (Some("hello"), true, true),
            "{}",
            db.engine()
        );
        assert_eq!((b.text.as_deref(), b.edited_at), (Some("fixed later"), Some(Timestamp::from_secs(210))));
        // Each keeps what it said before its edit, whichever arrived first.
        let before =
            |m: &parley_core::conversation::Message| m.previous.as_ref().and_then(|c| c.text()).map(str::to_owned);
        assert_eq!((before(a).as_deref(), before(b).as_deref()), (Some("helo"), Some("oops")), "{}", db.engine());
    }
}

#[tokio::test]
async fn changed_number_marks_the_contact() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let sys = Content::System {
            kind: "user_changed_number".into(),
            body: Some("changed".into()),
            new_wa_id: Some("33698765432".into()),
            new_user_id: None,
        };
        apply(store, &channel, &[text("w1", "33612345678", 100, "hi"), message("w2", from("33612345678"), 200, sys)])
            .await;
        let kinds: Vec<String> =
            store.events(ws, Viewer::All, EventId(0), None, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"contact.identity_changed".to_owned()), "{}", db.engine());
        // The new id now finds the same contact.
        apply(store, &channel, &[text("w3", "33698765432", 300, "from my new number")]).await;
        assert_eq!(thread(store, ws).await.len(), 3);
        assert_eq!(
            store
                .contacts(ws, &parley_store::ContactQuery { limit: 50, ..Default::default() })
                .await
                .unwrap()
                .items
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn media_jobs_lease_retry_and_complete() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let image = Content::Image(Media {
            id: Some("MEDIA1".into()),
            mime_type: Some("image/jpeg".into()),
            ..Media::default()
        });
        apply(store, &channel, &[message("w.img", from("33612345678"), 100, image)]).await;
        let msg = thread(store, ws).await.remove(0);
        assert_eq!(msg.media, Some(MediaState::Pending));
        let jobs = store.claim_media(NOW, NOW.plus_secs(60), 10).await.unwrap();
        assert_eq!(jobs.len(), 1, "{}", db.engine());
        assert_eq!((jobs[0].provider_media_id.as_str(), jobs[0].attempts), ("MEDIA1", 1));
        assert!(
            store.claim_media(NOW.plus_secs(1), NOW.plus_secs(61), 10).await.unwrap().is_empty(),
            "leased jobs are not claimed twice"
        );
        store.media_failed(jobs[0].id, "timeout", Some(NOW.plus_secs(30)), NOW).await.unwrap();
        assert!(
            store.claim_media(NOW.plus_secs(10), NOW.plus_secs(70), 10).await.unwrap().is_empty(),
            "not before its retry time"
        );
        let again = store.claim_media(NOW.plus_secs(31), NOW.plus_secs(91), 10).await.unwrap();
        assert_eq!(again[0].attempts, 2);
        store.media_downloaded(again[0].id, "abc123", 42, Some("image/jpeg"), NOW).await.unwrap();
        let file = store.media_file(ws, msg.id, Viewer::All).await.unwrap();
        assert_eq!((file.state, file.sha256.as_deref(), file.size), (MediaState::Available, Some("abc123"), Some(42)));
        let (other, _) = setup(store, "other").await;
        assert!(matches!(store.media_file(other, msg.id, Viewer::All).await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let ghost = Channel { id: ChannelId(999_999), ..channel.clone() };
        let good = text("w1", "33612345678", 100, "kept?");
        let bad = text("w2", "33612345679", 100, "no such channel");
        let routed = [RoutedEvent { channel: &channel, event: &good }, RoutedEvent { channel: &ghost, event: &bad }];
        assert!(store.apply_inbound(&routed, NOW).await.is_err(), "{}", db.engine());
        assert!(
            store
                .conversations(ws, &ConversationQuery { limit: 10, ..Default::default() })
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            store
                .contacts(ws, &parley_store::ContactQuery { limit: 10, ..Default::default() })
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            store
                .events(ws, Viewer::All, EventId(0), None, 100)
                .await
                .unwrap()
                .iter()
                .all(|e| e.kind == "channel.created")
        );
    }
}

#[tokio::test]
async fn other_workspaces_see_nothing() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let (other, _) = setup(store, "other").await;
        apply(store, &channel, &[text("w1", "33612345678", 100, "hi")]).await;
        let conv = store
            .conversations(ws, &ConversationQuery { limit: 10, ..Default::default() })
            .await
            .unwrap()
            .items
            .remove(0);
        // Isolation answers "no such thing", not any error: a failure elsewhere must not pass.
        assert!(matches!(store.conversation(other, conv.id, Viewer::All).await, Err(StoreError::NotFound)));
        assert!(matches!(
            store.messages(other, conv.id, &MessageQuery { limit: 10, cursor: None, viewer: Viewer::All }).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            store
                .conversations(other, &ConversationQuery { limit: 10, ..Default::default() })
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            matches!(store.channel(other, channel.id, Viewer::All).await, Err(StoreError::NotFound)),
            "{}",
            db.engine()
        );
        let _ = ContactId(0);
    }
}

#[tokio::test]
async fn concurrent_status_reports_never_downgrade() {
    for db in TestDatabase::all().await {
        let store = db.store.clone();
        let (ws, channel) = setup(&*store, "acme").await;
        apply(&*store, &channel, &[text("in.1", "33612345678", 100, "hi")]).await;
        let contact = store.contact(ws, &ContactRef::Phone(E164::parse("+33612345678").unwrap())).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..10 {
            let id = format!("out.{i}");
            store
                .record_outbound(&channel, contact.id, &Content::Text { body: "x".into(), preview_url: None }, &id, NOW)
                .await
                .unwrap();
            ids.push(id);
        }
        // Every message gets read, delivered and sent, from parallel webhooks in every order.
        let mut tasks = Vec::new();
        for id in &ids {
            for s in [DeliveryStatus::Read, DeliveryStatus::Delivered, DeliveryStatus::Sent] {
                let (store, channel, id) = (store.clone(), channel.clone(), id.clone());
                tasks.push(tokio::spawn(async move {
                    let event = status(&id, s, 200);
                    store.apply_inbound(&[RoutedEvent { channel: &channel, event: &event }], NOW).await
                }));
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let msgs = thread(&*store, ws).await;
        for m in msgs.iter().filter(|m| m.direction == Direction::Out) {
            assert_eq!(m.status, DeliveryStatus::Read, "{}: {:?}", db.engine(), m.provider_message_id);
        }
    }
}

#[tokio::test]
async fn one_batch_with_repeats_and_two_ids_of_one_new_customer() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        // Brazil: the old id (without the ninth digit) and the new one are the same person.
        let out = apply(
            store,
            &channel,
            &[
                text("w1", "551191234567", 100, "old id"),
                text("w2", "5511991234567", 110, "new id"),
                text("w1", "551191234567", 100, "old id again"),
            ],
        )
        .await;
        assert_eq!((out.messages, out.duplicates), (2, 1), "{}", db.engine());
        let all =
            store.contacts(ws, &parley_store::ContactQuery { limit: 10, ..Default::default() }).await.unwrap().items;
        assert_eq!(all.len(), 1, "{}: one contact for both ids", db.engine());
        assert_eq!(all[0].phone.as_ref().unwrap().as_str(), "+5511991234567");
        assert_eq!(thread(store, ws).await.len(), 2);
    }
}

/// Eight webhooks applied at once, batch `b` with a text (ids `{prefix}.{b}.{wa}`, sent at
/// 100 + b s) from every customer, in an order of its own: on PostgreSQL they run in parallel
/// transactions that all want the same rows.
async fn eight_batches_at_once(
    store: &std::sync::Arc<dyn Store>,
    channel: &Channel,
    customers: &[String],
    prefix: &str,
) -> Vec<Result<parley_store::InboundOutcome, StoreError>> {
    let mut tasks = Vec::new();
    for batch in 0..8_usize {
        let (store, channel, prefix) = (store.clone(), channel.clone(), prefix.to_owned());
        let mut order = customers.to_vec();
        order.rotate_left(batch * 3 % customers.len());
        if batch % 2 == 1 {
            order.reverse();
        }
        tasks.push(tokio::spawn(async move {
            let events: Vec<InboundEvent> = order
                .iter()
                .map(|wa| text(&format!("{prefix}.{batch}.{wa}"), wa, 100 + batch as i64, "hello"))
                .collect();
            let routed: Vec<RoutedEvent> =
                events.iter().map(|event| RoutedEvent { channel: &channel, event }).collect();
            store.apply_inbound(&routed, NOW).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    outcomes
}

#[tokio::test]
async fn concurrent_batches_from_the_same_new_customers_make_each_contact_and_conversation_once() {
    for db in TestDatabase::all().await {
        let store = db.store.clone();
        let (ws, channel) = setup(&*store, "acme").await;
        // Eight webhooks at once, each with a message from every one of 20 customers nobody knew,
        // in an order of its own: on PostgreSQL they run in parallel transactions that all want
        // to create the same contacts and conversations and move the same clocks.
        let customers: Vec<String> = (0..20).map(|i| format!("336123400{i:02}")).collect();
        let mut stored = 0;
        for out in eight_batches_at_once(&store, &channel, &customers, "m").await {
            let out = out.unwrap();
            assert_eq!(out.duplicates, 0, "{}", db.engine());
            stored += out.messages;
        }
        assert_eq!(stored, 160, "{}", db.engine());
        let contacts =
            store.contacts(ws, &parley_store::ContactQuery { limit: 100, ..Default::default() }).await.unwrap().items;
        assert_eq!(contacts.len(), 20, "{}: one contact per customer", db.engine());
        let conversations =
            store.conversations(ws, &ConversationQuery { limit: 100, ..Default::default() }).await.unwrap().items;
        assert_eq!(conversations.len(), 20, "{}: one conversation per customer", db.engine());
        // A batch that lost the race to make a sender undid what it wrote, its events with it.
        let kinds: Vec<String> =
            store.events(ws, Viewer::All, EventId(0), None, 1000).await.unwrap().into_iter().map(|e| e.kind).collect();
        let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
        assert_eq!(count("contact.created"), 20, "{}", db.engine());
        assert_eq!(count("conversation.opened"), 20, "{}", db.engine());
        assert_eq!(count("message.received"), 160, "{}", db.engine());
        for c in &conversations {
            // Every batch's message is there, and the clock went to the newest whatever the order.
            assert_eq!(c.last_message_at, Timestamp::from_secs(107), "{}", db.engine());
            let messages = store
                .messages(ws, c.id, &MessageQuery { limit: 100, cursor: None, viewer: Viewer::All })
                .await
                .unwrap()
                .items;
            assert_eq!(messages.len(), 8, "{}", db.engine());
        }
    }
}

#[tokio::test]
async fn concurrent_batches_from_known_customers_on_a_new_number_open_each_conversation_once() {
    for db in TestDatabase::all().await {
        let store = db.store.clone();
        let (ws, first) = setup(&*store, "acme").await;
        let second = parley_store::NewChannel {
            provider: parley_core::channel::Provider::Meta,
            name: "Second".into(),
            phone_number_id: "PN-acme-2".into(),
            waba_id: "WABA".into(),
            display_phone_number: "15550002222".into(),
            graph_base_url: "http://127.0.0.1:1".into(),
            sealed_secrets: "sealed".into(),
            webhook_key: "key-acme-2".into(),
            visibility: parley_core::channel::Visibility::Shared,
            throughput: 80,
        };
        let second = store.create_channel(ws, second, NOW).await.unwrap();
        // Twenty customers known by their WhatsApp ids (they wrote to the first number), then
        // eight webhooks at once to the second number, each from all of them in an order of its
        // own: no sender is new, every conversation is, and each must be opened once.
        let customers: Vec<String> = (0..20).map(|i| format!("336123500{i:02}")).collect();
        let known: Vec<InboundEvent> = customers.iter().map(|wa| text(&format!("k.{wa}"), wa, 50, "hi")).collect();
        let routed: Vec<RoutedEvent> = known.iter().map(|event| RoutedEvent { channel: &first, event }).collect();
        store.apply_inbound(&routed, NOW).await.unwrap();
        for out in eight_batches_at_once(&store, &second, &customers, "n").await {
            assert_eq!(out.unwrap().messages, 20, "{}", db.engine());
        }
        let on_second = ConversationQuery { channel: Some(second.id), limit: 100, ..Default::default() };
        let conversations = store.conversations(ws, &on_second).await.unwrap().items;
        assert_eq!(conversations.len(), 20, "{}: one conversation per customer on the new number", db.engine());
        for c in &conversations {
            assert_eq!(c.last_message_at, Timestamp::from_secs(107), "{}", db.engine());
        }
        let kinds: Vec<String> =
            store.events(ws, Viewer::All, EventId(0), None, 1000).await.unwrap().into_iter().map(|e| e.kind).collect();
        let opened = kinds.iter().filter(|k| *k == "conversation.opened").count();
        assert_eq!(opened, 40, "{}: 20 on each number", db.engine());
    }
}

#[tokio::test]
async fn concurrent_batches_share_new_conversations_fairly_among_agents() {
    for db in TestDatabase::all().await {
        let store = db.store.clone();
        let (ws, channel) = setup(&*store, "acme").await;
        let mut agents = Vec::new();
        for name in ["a", "b"] {
            let agent = NewUser {
                email: Email::parse(&format!("{name}@acme.example")).unwrap(),
                name: name.into(),
                role: Role::Agent,
                password_hash: None,
            };
            agents.push(store.create_user(ws, agent, NOW).await.unwrap().id);
        }
        let settings = parley_store::AssignmentSettings { mode: parley_store::AutoAssign::LeastOpen, max_open: None };
        store.set_assignment_settings(ws, settings, NOW).await.unwrap();
        // Four webhooks at once, five new customers each: every assignment must see the loads the
        // ones before it left, or each batch would start with the same agent.
        let mut tasks = Vec::new();
        for batch in 0..4 {
            let (store, channel) = (store.clone(), channel.clone());
            tasks.push(tokio::spawn(async move {
                let events: Vec<InboundEvent> = (0..5)
                    .map(|i| text(&format!("m.{batch}.{i}"), &format!("3361234{batch}{i:03}"), 100, "hi"))
                    .collect();
                let routed: Vec<RoutedEvent> =
                    events.iter().map(|event| RoutedEvent { channel: &channel, event }).collect();
                store.apply_inbound(&routed, NOW).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let conversations =
            store.conversations(ws, &ConversationQuery { limit: 100, ..Default::default() }).await.unwrap().items;
        let load = |agent| conversations.iter().filter(|c| c.assignee_id == Some(agent)).count();
        assert_eq!((load(agents[0]), load(agents[1])), (10, 10), "{}", db.engine());
    }
}

/// The texts of a contact's one conversation (asserting it has exactly one).
async fn only_thread_of(store: &dyn Store, ws: WorkspaceId, contact: ContactId) -> Vec<String> {
    let convs = store
        .conversations(ws, &ConversationQuery { contact: Some(contact), limit: 10, ..Default::default() })
        .await
        .unwrap()
        .items;
    assert_eq!(convs.len(), 1, "one conversation for contact {contact:?}");
    let page = MessageQuery { limit: 10, cursor: None, viewer: Viewer::All };
    store.messages(ws, convs[0].id, &page).await.unwrap().items.into_iter().filter_map(|m| m.text).collect()
}

#[tokio::test]
async fn a_batch_of_first_messages_from_hundreds_of_new_customers() {
    // New senders are created together (one statement per chunk): each still gets one contact
    // and one conversation, whatever the batch repeats, and every message lands in its sender's.
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let known = store
            .create_contact(
                ws,
                NewContact {
                    name: Some("Known".into()),
                    phone: Some(E164::parse("+33600000999").unwrap()),
                    ..Default::default()
                },
                NOW,
            )
            .await
            .unwrap();
        let wa = |k: usize| format!("336{k:08}");
        let mut events: Vec<InboundEvent> = Vec::new();
        for k in 0..150 {
            events.push(text(&format!("a{k}"), &wa(k), 100, "first"));
        }
        // Each again later in the batch, and the known customer.
        for k in 0..150 {
            events.push(text(&format!("b{k}"), &wa(k), 200, "second"));
        }
        events.push(text("known", "33600000999", 150, "hello"));
        // A user known by a BSUID only, then with their number: one contact.
        let hidden = |wa_id: Option<&str>| Sender {
            wa_id: wa_id.map(|w| WaId::parse(w).unwrap()),
            bsuid: Some(Bsuid::parse("US.77").unwrap()),
            profile_name: None,
            username: Some("hid".into()),
            contact_fields: Vec::new(),
        };
        events.push(message("h1", hidden(None), 120, Content::Text { body: "hi".into(), preview_url: None }));
        events.push(message(
            "h2",
            hidden(Some("14155550777")),
            130,
            Content::Text { body: "me".into(), preview_url: None },
        ));
        let out = apply(store, &channel, &events).await;
        assert_eq!((out.messages, out.duplicates), (303, 0), "{}", db.engine());

        let all =
            store.contacts(ws, &parley_store::ContactQuery { limit: 200, ..Default::default() }).await.unwrap().items;
        assert_eq!(all.len(), 152, "{}: 150 new, the BSUID user, the known one", db.engine());
        let convs =
            store.conversations(ws, &ConversationQuery { limit: 200, ..Default::default() }).await.unwrap().items;
        assert_eq!(convs.len(), 152, "{}: a conversation each", db.engine());
        for k in [0, 1, 77, 149] {
            let phone = E164::parse(&format!("+{}", wa(k))).unwrap();
            let contact = store.contact(ws, &ContactRef::Phone(phone)).await.unwrap();
            assert_eq!(contact.name.as_deref(), Some("Ana"));
            let texts = only_thread_of(store, ws, contact.id).await;
            assert_eq!(texts, ["first", "second"], "{}: customer {k}'s thread", db.engine());
        }
        let hid = all.iter().find(|c| c.name.as_deref() == Some("hid")).expect("the BSUID user");
        assert_eq!(hid.phone, None, "{}: created before the number was known", db.engine());
        let known_convs = store
            .conversations(ws, &ConversationQuery { contact: Some(known.id), limit: 10, ..Default::default() })
            .await
            .unwrap()
            .items;
        assert_eq!(known_convs.len(), 1, "{}: the known customer found, not made again", db.engine());
        // One `contact.created` per contact (the known one's from its creation), naming it.
        let (mut created, mut after) = (Vec::new(), EventId(0));
        loop {
            let page = store.events(ws, Viewer::All, after, None, 100).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.id;
            created.extend(page.iter().filter(|e| e.kind == "contact.created").filter_map(|e| e.subject_id));
        }
        let mut ids: Vec<i64> = all.iter().map(|c| c.id.get()).collect();
        let mut got = created.clone();
        ids.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, ids, "{}", db.engine());
    }
}

#[tokio::test]
async fn a_new_contact_is_found_only_by_arrivals_after_the_one_that_made_it() {
    // X's second reading is a known contact's number; Y, later in the batch, is new and its
    // number is X's first reading. X must go to the known contact (as it would alone), not to
    // the contact made for Y after it.
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store, "acme").await;
        let x = WaId::parse("5491123456789").unwrap();
        let candidates = parley_core::whatsapp::phone_candidates(&x);
        assert_eq!(candidates.len(), 2, "Argentina's two readings: {candidates:?}");
        let known = store
            .create_contact(
                ws,
                NewContact { name: Some("Known".into()), phone: Some(candidates[1].clone()), ..Default::default() },
                NOW,
            )
            .await
            .unwrap();
        // Another spelling of X's first reading (Argentina's `15` mobile prefix after the area
        // code), which no quirk maps to the known number.
        let y = WaId::parse("54111523456789").unwrap();
        assert_eq!(
            parley_core::whatsapp::phone_candidates(&y),
            [candidates[0].clone()],
            "Y reads as X's first form only"
        );
        let y = y.as_str();
        let out = apply(store, &channel, &[text("x1", x.as_str(), 100, "from x"), text("y1", y, 110, "from y")]).await;
        assert_eq!(out.messages, 2, "{}", db.engine());
        let texts = only_thread_of(store, ws, known.id).await;
        assert_eq!(texts, ["from x"], "{}: X went to the known contact", db.engine());
    }
}

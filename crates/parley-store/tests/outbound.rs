//! The outbound contract on both engines: judged and queued in one transaction, the outbox in
//! per-conversation order, outcomes recorded, leases expiring to `unknown`, idempotent replays.

use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::{Channel, Provider, Visibility};
use parley_core::contact::{ContactInput, ContactRef, NewContact};
use parley_core::conversation::Direction;
use parley_core::message::{
    Content, DeliveryStatus, InboundEvent, InboundMessage, ProviderError, Sender, StatusUpdate,
};
use parley_core::outbound::OutboundMessage;
use parley_core::rules::{Refusal, judge};
use parley_core::whatsapp::WaId;
use parley_core::{Email, Invalid};
use parley_store::testing::TestDatabase;
use parley_store::{
    ChannelPatch, JobOutcome, ListedTemplate, NewChannel, NewUser, OutboxCounts, RoutedEvent, SendOutcome, SendRequest,
    Store, StoreError, Viewer,
};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

async fn setup(store: &dyn Store) -> (parley_core::ids::WorkspaceId, Channel) {
    let (ws, _, channel) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
    (ws, channel)
}

/// A customer who wrote `ago` seconds before NOW.
async fn customer(store: &dyn Store, channel: &Channel, wa: &str, ago: i64) {
    let event = InboundEvent::Message(Box::new(InboundMessage {
        provider_message_id: format!("in.{wa}"),
        from: Sender::of(WaId::parse(wa).unwrap()),
        sent_at: NOW.plus_secs(-ago),
        content: Content::Text { body: "hi".into(), preview_url: None },
        context: None,
        referral: None,
        errors: vec![],
        raw: json!({}),
    }));
    store.apply_inbound(&[RoutedEvent { channel, event: &event }], NOW).await.unwrap();
}

fn text(body: &str) -> OutboundMessage {
    OutboundMessage { content: Content::Text { body: body.into(), preview_url: None }, reply_to: None }
}

fn template(name: &str) -> OutboundMessage {
    OutboundMessage {
        content: Content::Template { name: name.into(), language: "en".into(), components: vec![] },
        reply_to: None,
    }
}

async fn send(
    store: &dyn Store,
    ws: parley_core::ids::WorkspaceId,
    channel: &Channel,
    to: &str,
    messages: &[OutboundMessage],
    key: Option<&str>,
    dry_run: bool,
) -> Result<SendOutcome, StoreError> {
    let to = ContactRef::parse(to, None).unwrap();
    let req = SendRequest {
        ws,
        viewer: Viewer::All,
        channel: channel.id,
        to: &to,
        messages,
        idempotency_key: key,
        author: None,
        dry_run,
        personalize: None,
    };
    store.queue_send(req, &|facts, m| judge(facts, m, NOW), NOW).await
}

fn queued(outcome: SendOutcome) -> Vec<parley_core::conversation::Message> {
    match outcome {
        SendOutcome::Queued(m) => m,
        other => panic!("not queued: {other:?}"),
    }
}

#[tokio::test]
async fn replies_queue_in_order_and_the_outbox_keeps_it() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 60).await;
        let msgs = queued(
            send(store, ws, &channel, "phone:+33612345678", &[text("one"), text("two")], None, false).await.unwrap(),
        );
        assert_eq!(
            msgs.iter().map(|m| (m.direction, m.status)).collect::<Vec<_>>(),
            [(Direction::Out, DeliveryStatus::Queued); 2]
        );
        assert!(msgs[0].sent_at < msgs[1].sent_at);
        // Only the oldest unfinished job of a conversation is claimable.
        let jobs = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap();
        assert_eq!(jobs.len(), 1, "{}", db.engine());
        assert_eq!((jobs[0].message_id, jobs[0].recipient.as_str(), jobs[0].attempts), (msgs[0].id, "33612345678", 1));
        assert!(
            store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().is_empty(),
            "the second waits for the first"
        );
        store.outbox_sent(jobs[0].id, "wamid.OUT1", NOW).await.unwrap();
        let next = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap();
        assert_eq!(next[0].message_id, msgs[1].id);
        let sent = store.message(ws, msgs[0].id, Viewer::All).await.unwrap();
        assert_eq!((sent.status, sent.provider_message_id.as_deref()), (DeliveryStatus::Sent, Some("wamid.OUT1")));
    }
}

#[tokio::test]
async fn statuses_that_came_first_are_applied_when_the_id_is_recorded() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 60).await;
        let msg = queued(send(store, ws, &channel, "phone:+33612345678", &[text("hi")], None, false).await.unwrap())
            .remove(0);
        let job = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().remove(0);
        let delivered = InboundEvent::Status(StatusUpdate {
            provider_message_id: "wamid.EARLY".into(),
            status: DeliveryStatus::Delivered,
            at: NOW,
            recipient: None,
            errors: vec![],
            pricing: Some(json!({"category": "service"})),
            raw: json!({}),
        });
        store.apply_inbound(&[RoutedEvent { channel: &channel, event: &delivered }], NOW).await.unwrap();
        store.outbox_sent(job.id, "wamid.EARLY", NOW).await.unwrap();
        let m = store.message(ws, msg.id, Viewer::All).await.unwrap();
        assert_eq!(m.status, DeliveryStatus::Delivered, "{}", db.engine());
    }
}

/// A status webhook racing the record of its send's id (Meta reports a failure at once): on
/// PostgreSQL both transactions ran side by side, neither saw the other's row, and the status
/// was lost. Whichever commits second must apply it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_status_racing_its_sends_id_is_never_lost() {
    for db in TestDatabase::all().await {
        let store = db.store.clone();
        let (ws, channel) = setup(&*store).await;
        for i in 0..40 {
            let wa = format!("336123{i:05}");
            customer(&*store, &channel, &wa, 60).await;
            let msg =
                queued(send(&*store, ws, &channel, &format!("phone:+{wa}"), &[text("hi")], None, false).await.unwrap())
                    .remove(0);
            let job = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().remove(0);
            let pid = format!("wamid.RACE{i}");
            let failed = InboundEvent::Status(StatusUpdate {
                provider_message_id: pid.clone(),
                status: DeliveryStatus::Failed,
                at: NOW,
                recipient: None,
                errors: vec![],
                pricing: None,
                raw: json!({}),
            });
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
            let recorder = {
                let (store, start, pid) = (store.clone(), start.clone(), pid.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.outbox_sent(job.id, &pid, NOW).await.unwrap();
                })
            };
            let webhook = {
                let (store, start, channel) = (store.clone(), start.clone(), channel.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.apply_inbound(&[RoutedEvent { channel: &channel, event: &failed }], NOW).await.unwrap();
                })
            };
            recorder.await.unwrap();
            webhook.await.unwrap();
            let m = store.message(ws, msg.id, Viewer::All).await.unwrap();
            assert_eq!(m.status, DeliveryStatus::Failed, "{}: round {i}", db.engine());
        }
    }
}

#[tokio::test]
async fn refusals_store_nothing_and_dry_runs_write_nothing() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 25 * 3600).await;
        let events_before =
            store.events(ws, Viewer::All, parley_core::ids::EventId(0), None, 1000).await.unwrap().len();
        match send(store, ws, &channel, "phone:+33612345678", &[text("late")], None, false).await.unwrap() {
            SendOutcome::Refused { index: 0, refusal: Refusal::WindowClosed { .. } } => {}
            other => panic!("{}: {other:?}", db.engine()),
        }
        match send(store, ws, &channel, "phone:+33612345678", &[template("order_update")], None, true).await.unwrap() {
            SendOutcome::Refused { refusal: Refusal::TemplateNotApproved { status: None, .. }, .. } => {}
            other => panic!("{other:?}"),
        }
        store
            .sync_templates(
                ws,
                "WABA",
                &[ListedTemplate {
                    name: "order_update".into(),
                    language: "en".into(),
                    category: "UTILITY".into(),
                    status: "APPROVED".into(),
                    components: json!([{"type": "BODY", "text": "Your order shipped."}]),
                    provider_template_id: Some("9".into()),
                    quality: None,
                    rejected_reason: None,
                    parameter_format: None,
                }],
                NOW,
            )
            .await
            .unwrap();
        match send(store, ws, &channel, "phone:+33612345678", &[template("order_update")], None, true).await.unwrap() {
            SendOutcome::Allowed(a) => assert!(a[0].business_initiated),
            other => panic!("{other:?}"),
        }
        assert!(
            store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().is_empty(),
            "{}: a dry run queued something",
            db.engine()
        );
        let events_after = store.events(ws, Viewer::All, parley_core::ids::EventId(0), None, 1000).await.unwrap().len();
        assert_eq!(events_after, events_before + 1, "only the template sync appended an event");
    }
}

#[tokio::test]
async fn the_messaging_limit_counts_unique_recipients() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        let channel = store
            .update_channel(ws, channel.id, ChannelPatch { messaging_limit: Some(Some(2)), ..Default::default() }, NOW)
            .await
            .unwrap();
        store
            .sync_templates(
                ws,
                "WABA",
                &[ListedTemplate {
                    name: "promo".into(),
                    language: "en".into(),
                    category: "UTILITY".into(),
                    status: "APPROVED".into(),
                    components: json!([]),
                    provider_template_id: None,
                    quality: None,
                    rejected_reason: None,
                    parameter_format: None,
                }],
                NOW,
            )
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (i, phone) in ["+33612345671", "+33612345672", "+33612345673"].iter().enumerate() {
            let input: ContactInput = serde_json::from_value(json!({"phone": phone})).unwrap();
            store.create_contact(ws, NewContact::from_input(input, None).unwrap(), NOW).await.unwrap();
            store
                .record_opt_in(
                    ws,
                    &ContactRef::parse(&format!("phone:{phone}"), None).unwrap(),
                    parley_store::NewOptIn {
                        channel_id: None,
                        source: "web form".into(),
                        evidence: Some(format!("form #{i}")),
                        opted_in_at: NOW,
                        recorded_by: None,
                    },
                    NOW,
                )
                .await
                .unwrap();
            ids.push(format!("phone:{phone}"));
        }
        queued(send(store, ws, &channel, &ids[0], &[template("promo")], None, false).await.unwrap());
        queued(send(store, ws, &channel, &ids[1], &[template("promo")], None, false).await.unwrap());
        match send(store, ws, &channel, &ids[2], &[template("promo")], None, false).await.unwrap() {
            SendOutcome::Refused { refusal: Refusal::LimitReached { limit: 2 }, .. } => {}
            other => panic!("{}: {other:?}", db.engine()),
        }
        // A recipient already reached today can get another template.
        queued(send(store, ws, &channel, &ids[0], &[template("promo"), template("promo")], None, false).await.unwrap());
    }
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_send() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 60).await;
        let first = queued(
            send(store, ws, &channel, "phone:+33612345678", &[text("a"), text("b")], Some("req-1"), false)
                .await
                .unwrap(),
        );
        match send(store, ws, &channel, "phone:+33612345678", &[text("a"), text("b")], Some("req-1"), false)
            .await
            .unwrap()
        {
            SendOutcome::Replayed(again) => assert_eq!(
                again.iter().map(|m| m.id).collect::<Vec<_>>(),
                first.iter().map(|m| m.id).collect::<Vec<_>>()
            ),
            other => panic!("{}: {other:?}", db.engine()),
        }
        assert_eq!(
            store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().len(),
            1,
            "still one conversation queue"
        );
    }
}

#[tokio::test]
async fn leases_expire_to_unknown_and_agents_requeue() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 60).await;
        let msg = queued(send(store, ws, &channel, "phone:+33612345678", &[text("hi")], None, false).await.unwrap())
            .remove(0);
        // Claimed but never started: an expired lease puts the job back in the queue.
        let job = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().remove(0);
        assert_eq!(
            store.message(ws, msg.id, Viewer::All).await.unwrap().status,
            DeliveryStatus::Queued,
            "claimed is still queued"
        );
        assert_eq!(store.expire_outbox_leases(NOW.plus_secs(61)).await.unwrap(), 0);
        assert!(
            store.outbox_start(&[job.id], NOW.plus_secs(62)).await.unwrap().is_empty(),
            "a job no longer claimed is not sent"
        );
        // Claimed again and started: an expired lease means it may have gone out, so unknown.
        let job = store.claim_outbox(channel.id, NOW.plus_secs(62), NOW.plus_secs(122), 10).await.unwrap().remove(0);
        assert!(
            store.outbox_start(&[job.id], NOW.plus_secs(123)).await.unwrap().is_empty(),
            "an expired lease cannot start"
        );
        assert_eq!(store.outbox_start(&[job.id], NOW.plus_secs(63)).await.unwrap(), [job.id]);
        assert_eq!(store.message(ws, msg.id, Viewer::All).await.unwrap().status, DeliveryStatus::Sending);
        assert!(store.outbox_start(&[job.id], NOW.plus_secs(64)).await.unwrap().is_empty(), "started only once");
        assert_eq!(store.expire_outbox_leases(NOW.plus_secs(90)).await.unwrap(), 0, "lease still running");
        assert_eq!(store.expire_outbox_leases(NOW.plus_secs(123)).await.unwrap(), 1);
        assert_eq!(
            store.message(ws, msg.id, Viewer::All).await.unwrap().status,
            DeliveryStatus::Unknown,
            "{}",
            db.engine()
        );
        assert!(
            store.claim_outbox(channel.id, NOW.plus_secs(124), NOW.plus_secs(180), 10).await.unwrap().is_empty(),
            "unknown is never resent by itself"
        );
        let back = store.requeue_message(ws, msg.id, NOW.plus_secs(130)).await.unwrap();
        assert_eq!(back.status, DeliveryStatus::Queued);
        let job = store.claim_outbox(channel.id, NOW.plus_secs(130), NOW.plus_secs(190), 10).await.unwrap().remove(0);
        assert_eq!(job.attempts, 3);
        store
            .outbox_failed(
                job.id,
                ProviderError { code: 131026, title: "Message undeliverable".into(), details: None },
                NOW,
            )
            .await
            .unwrap();
        let failed = store.message(ws, msg.id, Viewer::All).await.unwrap();
        assert_eq!((failed.status, failed.error.map(|e| e.code)), (DeliveryStatus::Failed, Some(131026)));
        let sent_msg =
            queued(send(store, ws, &channel, "phone:+33612345678", &[text("ok")], None, false).await.unwrap())
                .remove(0);
        let job = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().remove(0);
        store.outbox_sent(job.id, "wamid.S", NOW).await.unwrap();
        let err = store.requeue_message(ws, sent_msg.id, NOW).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(Invalid { code: "not_retryable", .. })), "{err:?}");
    }
}

#[tokio::test]
async fn replies_must_point_into_the_conversation() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 60).await;
        let reply = OutboundMessage {
            content: Content::Text { body: "yes".into(), preview_url: None },
            reply_to: Some("in.33612345678".into()),
        };
        queued(send(store, ws, &channel, "phone:+33612345678", &[reply], None, false).await.unwrap());
        let stray = OutboundMessage {
            content: Content::Reaction { message_id: "wamid.elsewhere".into(), emoji: Some("👍".into()) },
            reply_to: None,
        };
        let err = send(store, ws, &channel, "phone:+33612345678", &[stray], None, false).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid(Invalid { code: "invalid_message", .. })),
            "{}: {err:?}",
            db.engine()
        );
    }
}

#[tokio::test]
async fn outcomes_are_recorded_as_a_group_and_channels_are_claimed_apart() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        let other = store
            .create_channel(
                ws,
                NewChannel {
                    provider: Provider::Meta,
                    name: "Second".into(),
                    phone_number_id: "PN2".into(),
                    waba_id: "WABA".into(),
                    display_phone_number: "15550002222".into(),
                    graph_base_url: "http://127.0.0.1:1".into(),
                    sealed_secrets: "sealed".into(),
                    webhook_key: "key2".into(),
                    visibility: Visibility::Shared,
                    throughput: 80,
                },
                NOW,
            )
            .await
            .unwrap();
        let numbers = ["33612345671", "33612345672", "33612345673", "33612345674", "33612345675"];
        let mut messages = Vec::new();
        for wa in numbers {
            customer(store, &channel, wa, 60).await;
            let to = format!("phone:+{wa}");
            messages.push(queued(send(store, ws, &channel, &to, &[text("hi")], None, false).await.unwrap()).remove(0));
        }
        customer(store, &other, "33612345679", 60).await;
        queued(send(store, ws, &other, "phone:+33612345679", &[text("hi")], None, false).await.unwrap());
        let mut due = store.due_channels(NOW).await.unwrap();
        due.sort();
        assert_eq!(due, [channel.id, other.id], "{}", db.engine());

        let jobs = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap();
        assert_eq!(jobs.len(), 5, "only this channel's jobs");
        assert!(jobs.iter().all(|j| j.channel_id == channel.id));
        assert_eq!(store.due_channels(NOW).await.unwrap(), [other.id]);
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        assert_eq!(store.outbox_start(&ids, NOW).await.unwrap().len(), 5);
        let error = ProviderError { code: 131026, title: "Message undeliverable".into(), details: None };
        let outcomes = [
            JobOutcome::Sent { job: ids[0], provider_message_id: "wamid.A".into() },
            JobOutcome::Sent { job: ids[1], provider_message_id: "wamid.B".into() },
            JobOutcome::Failed { job: ids[2], error },
            JobOutcome::Unknown { job: ids[3], reason: "timeout".into() },
            JobOutcome::Retry { job: ids[4], error: "throttled".into(), at: NOW.plus_secs(30) },
        ];
        store.outbox_record(&outcomes, NOW).await.unwrap();
        let status = |i: usize| {
            let id = messages[i].id;
            async move { store.message(ws, id, Viewer::All).await.unwrap() }
        };
        assert_eq!(status(0).await.provider_message_id.as_deref(), Some("wamid.A"));
        assert_eq!(status(1).await.provider_message_id.as_deref(), Some("wamid.B"));
        assert_eq!(status(1).await.status, DeliveryStatus::Sent);
        assert_eq!(status(2).await.error.map(|e| e.code), Some(131026));
        assert_eq!(status(3).await.status, DeliveryStatus::Unknown);
        assert_eq!(status(4).await.status, DeliveryStatus::Sending, "a retry keeps its status until it leaves");
        let counts = store.outbox_counts(ws, channel.id).await.unwrap();
        assert_eq!(counts, OutboxCounts { queued: 1, in_flight: 0, failed: 1, unknown: 1 });
        // The retry is due later, not now.
        assert!(store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().is_empty());
        let again = store.claim_outbox(channel.id, NOW.plus_secs(30), NOW.plus_secs(90), 10).await.unwrap();
        assert_eq!((again.len(), again[0].id, again[0].attempts), (1, ids[4], 2));
        // Recording a sent outcome twice changes nothing more, and events say each move once.
        let events = store.events(ws, Viewer::All, parley_core::ids::EventId(0), None, 1000).await.unwrap();
        let sent_events = events.iter().filter(|e| e.kind == "message.status" && e.payload["status"] == "sent").count();
        store.outbox_record(&outcomes[..1], NOW).await.unwrap();
        let events = store.events(ws, Viewer::All, parley_core::ids::EventId(0), None, 1000).await.unwrap();
        assert_eq!(
            events.iter().filter(|e| e.kind == "message.status" && e.payload["status"] == "sent").count(),
            sent_events
        );
        assert_eq!(sent_events, 2);
    }
}

#[tokio::test]
async fn idempotency_keys_are_their_senders_and_name_one_request() {
    for db in TestDatabase::all().await {
        let (store, e) = (&*db.store, db.engine());
        let (ws, channel) = setup(store).await;
        customer(store, &channel, "33612345678", 60).await;
        let new_user = |email: &str| NewUser {
            email: Email::parse(email).unwrap(),
            name: "U".into(),
            role: Role::Owner,
            password_hash: None,
        };
        let ana = store.create_user(ws, new_user("ana@acme.example"), NOW).await.unwrap().id;
        let bao = store.create_user(ws, new_user("bao@acme.example"), NOW).await.unwrap().id;
        let to = ContactRef::parse("phone:+33612345678", None).unwrap();
        let by = |author, messages| SendRequest {
            ws,
            viewer: Viewer::All,
            channel: channel.id,
            to: &to,
            messages,
            idempotency_key: Some("order-42"),
            author: Some(author),
            dry_run: false,
            personalize: None,
        };
        let decide = |facts: &_, m: &_| judge(facts, m, NOW);
        let (one, other) = ([text("one")], [text("other")]);
        let first = queued(store.queue_send(by(ana, &one), &decide, NOW).await.unwrap());
        match store.queue_send(by(ana, &one), &decide, NOW).await.unwrap() {
            SendOutcome::Replayed(again) => assert_eq!(again[0].id, first[0].id, "{e}"),
            other => panic!("{e}: {other:?}"),
        }
        assert!(
            matches!(store.queue_send(by(ana, &other), &decide, NOW).await, Err(StoreError::IdempotencyKeyReused)),
            "{e}: another request under Ana's key"
        );
        // Bao's `order-42` is his own key: a send of its own, not a replay of Ana's.
        let his = queued(store.queue_send(by(bao, &one), &decide, NOW).await.unwrap());
        assert_ne!(his[0].id, first[0].id, "{e}");
    }
}

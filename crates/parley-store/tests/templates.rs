//! Templates and number health on both engines: versions submitted and decided, webhooks that
//! overtake the provider's answer, syncs that find edits and deletions, health reports moving
//! the messaging limit, notifications.

use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::{Channel, Provider, Visibility};
use parley_core::health::{HealthChange, HealthScope, QualityRating};
use parley_core::ids::WorkspaceId;
use parley_core::message::InboundEvent;
use parley_core::template::TemplateStatus;
use parley_core::template_review::{TemplateChange, TemplateUpdate};
use parley_core::{Email, health};
use parley_store::testing::TestDatabase;
use parley_store::{
    ListedTemplate, NewChannel, NewUser, RoutedEvent, Store, StoreError, SubmissionResult, TemplateSubmission, Viewer,
};
use serde_json::{Value, json};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

async fn setup(store: &dyn Store) -> (WorkspaceId, parley_core::ids::UserId, Channel) {
    parley_store::testing::workspace_with_channel(store, "acme", NOW).await
}

fn body(text: &str) -> Value {
    json!([{"type": "BODY", "text": text}])
}

fn submission(text: &str) -> TemplateSubmission {
    TemplateSubmission {
        waba_id: "WABA".into(),
        name: "order_update".into(),
        language: "en".into(),
        category: "utility".into(),
        parameter_format: "positional".into(),
        components: body(text),
        submitted_by: None,
    }
}

fn accepted(status: &str) -> SubmissionResult {
    SubmissionResult::Accepted { provider_template_id: Some("777".into()), status: status.into(), category: None }
}

async fn webhook(store: &dyn Store, channel: &Channel, change: TemplateChange) {
    let event = InboundEvent::Template(TemplateUpdate {
        provider_template_id: Some("777".into()),
        name: "order_update".into(),
        language: "en".into(),
        change,
    });
    store.apply_inbound(&[RoutedEvent { channel, event: &event }], NOW).await.unwrap();
}

fn status(status: TemplateStatus, detail: Option<&str>) -> TemplateChange {
    TemplateChange::Status { status, reason: None, detail: detail.map(str::to_owned), category: None }
}

#[tokio::test]
async fn versions_are_submitted_decided_and_kept() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, _, channel) = setup(store).await;
        let t = store.create_template(ws, submission("Your order shipped."), NOW).await.unwrap();
        assert_eq!((t.status.as_str(), t.version, t.versions[0].status.as_str()), ("pending", 1, "submitting"));
        assert!(matches!(
            store.create_template(ws, submission("again"), NOW).await,
            Err(StoreError::Conflict { field: "name" })
        ));
        let t = store.finish_template_submission(ws, t.id, 1, accepted("PENDING"), NOW).await.unwrap().unwrap();
        assert_eq!((t.provider_template_id.as_deref(), t.versions[0].status.as_str()), (Some("777"), "pending"));

        webhook(store, &channel, status(TemplateStatus::Approved, None)).await;
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!((t.status.as_str(), t.approved_version), ("approved", Some(1)), "{}", db.engine());
        assert!(t.versions[0].decided_at.is_some());

        // An edit is a new version; the approved one keeps serving sends until a decision.
        let t = store.add_template_version(ws, t.id, submission("Your order {{1}} shipped."), NOW).await.unwrap();
        let t = store.finish_template_submission(ws, t.id, 2, accepted("PENDING"), NOW).await.unwrap().unwrap();
        assert_eq!((t.status.as_str(), t.version), ("pending", 2));
        assert_eq!(t.components, body("Your order shipped."));
        let rejected = TemplateChange::Status {
            status: TemplateStatus::Rejected,
            reason: Some("INVALID_FORMAT".into()),
            detail: Some("Variables are adjacent".into()),
            category: None,
        };
        webhook(store, &channel, rejected).await;
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!(t.status, "rejected");
        assert_eq!(t.rejected_reason.as_deref(), Some("INVALID_FORMAT"));
        assert_eq!(t.status_detail.as_deref(), Some("Variables are adjacent"));
        let statuses: Vec<(i64, &str)> = t.versions.iter().map(|v| (v.version, v.status.as_str())).collect();
        assert_eq!(statuses, [(2, "rejected"), (1, "approved")], "history kept, newest first");
        assert_eq!(t.components, body("Your order shipped."), "sends still know the approved version");

        // A third version approved replaces what sends use.
        store.add_template_version(ws, t.id, submission("Order {{1}} is on its way to you."), NOW).await.unwrap();
        store.finish_template_submission(ws, t.id, 3, accepted("PENDING"), NOW).await.unwrap();
        webhook(store, &channel, status(TemplateStatus::Approved, None)).await;
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!((t.status.as_str(), t.approved_version), ("approved", Some(3)));
        assert_eq!(t.components, body("Order {{1}} is on its way to you."));

        // A refused submission leaves nothing behind.
        let v4 = store.add_template_version(ws, t.id, submission("x y z"), NOW).await.unwrap();
        assert_eq!(v4.version, 4);
        let t = store.finish_template_submission(ws, t.id, 4, SubmissionResult::Failed, NOW).await.unwrap().unwrap();
        assert_eq!((t.version, t.versions.len()), (3, 3));
        let mut other = submission("Hi");
        other.name = "refused".into();
        let r = store.create_template(ws, other, NOW).await.unwrap();
        assert!(store.finish_template_submission(ws, r.id, 1, SubmissionResult::Failed, NOW).await.unwrap().is_none());
        assert!(matches!(store.template(ws, "WABA", "refused", "en").await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn a_review_webhook_may_overtake_the_providers_answer() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, _, channel) = setup(store).await;
        let t = store.create_template(ws, submission("Your order shipped."), NOW).await.unwrap();
        // Found by name and language: the provider id is not stored yet.
        let event = InboundEvent::Template(TemplateUpdate {
            provider_template_id: Some("777".into()),
            name: "order_update".into(),
            language: "en".into(),
            change: status(TemplateStatus::Approved, None),
        });
        store.apply_inbound(&[RoutedEvent { channel: &channel, event: &event }], NOW).await.unwrap();
        let t = store.finish_template_submission(ws, t.id, 1, accepted("PENDING"), NOW).await.unwrap().unwrap();
        assert_eq!(t.status, "approved", "{}: the webhook has the last word", db.engine());
        assert_eq!(t.versions[0].status, "approved");
    }
}

#[tokio::test]
async fn quality_pauses_and_categories_update_at_once_and_notify() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, owner, channel) = setup(store).await;
        let t = store.create_template(ws, submission("Your order shipped."), NOW).await.unwrap();
        store.finish_template_submission(ws, t.id, 1, accepted("APPROVED"), NOW).await.unwrap();
        webhook(store, &channel, TemplateChange::Quality { previous: None, score: QualityRating::Red }).await;
        webhook(store, &channel, status(TemplateStatus::Paused, Some("FIRST_PAUSE"))).await;
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!(
            (t.status.as_str(), t.quality.as_deref(), t.status_detail.as_deref()),
            ("paused", Some("red"), Some("FIRST_PAUSE"))
        );
        webhook(
            store,
            &channel,
            TemplateChange::CategoryNotice {
                category: parley_core::template::TemplateCategory::Marketing,
                current: None,
                at: Some(1_800_086_400),
            },
        )
        .await;
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!((t.category.as_str(), t.next_category.as_deref()), ("utility", Some("marketing")));
        webhook(
            store,
            &channel,
            TemplateChange::Category { category: parley_core::template::TemplateCategory::Marketing, previous: None },
        )
        .await;
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!((t.category.as_str(), t.next_category.as_deref()), ("marketing", None));

        let notes = store.notifications(ws, owner, true, None, 50).await.unwrap();
        assert_eq!(notes.len(), 4, "{}: {notes:?}", db.engine());
        assert!(notes[2].message.contains("paused (FIRST_PAUSE)"), "{}", notes[2].message);
        assert!(notes.iter().all(|n| !n.read));
        store.mark_notification_read(ws, owner, true, notes[0].id, NOW).await.unwrap();
        store.mark_notification_read(ws, owner, true, notes[0].id, NOW).await.unwrap();
        assert!(store.notifications(ws, owner, true, None, 50).await.unwrap()[0].read);
        assert!(matches!(store.mark_notification_read(ws, owner, true, 999_999, NOW).await, Err(StoreError::NotFound)));

        // Unknown templates change nothing (the next sync brings them).
        let event = InboundEvent::Template(TemplateUpdate {
            provider_template_id: None,
            name: "never_seen".into(),
            language: "en".into(),
            change: status(TemplateStatus::Approved, None),
        });
        store.apply_inbound(&[RoutedEvent { channel: &channel, event: &event }], NOW).await.unwrap();
        assert_eq!(store.templates(ws, "WABA").await.unwrap().len(), 1);
    }
}

fn listed(name: &str, status: &str, text: &str) -> ListedTemplate {
    ListedTemplate {
        name: name.into(),
        language: "en".into(),
        category: "UTILITY".into(),
        status: status.into(),
        components: json!([{"type": "body", "text": text}]),
        provider_template_id: Some(format!("id-{name}")),
        quality: Some("green".into()),
        rejected_reason: None,
        parameter_format: None,
    }
}

#[tokio::test]
async fn syncs_bring_decisions_edits_and_deletions() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, _, _) = setup(store).await;
        let t = store.create_template(ws, submission("Your order shipped."), NOW).await.unwrap();
        store.finish_template_submission(ws, t.id, 1, accepted("PENDING"), NOW).await.unwrap();
        // The approval webhook was lost; the sync brings it (same content, other spelling).
        let report = store
            .sync_templates(
                ws,
                "WABA",
                &[listed("order_update", "APPROVED", "Your order shipped."), listed("welcome", "APPROVED", "Hello")],
                NOW,
            )
            .await
            .unwrap();
        assert_eq!((report.synced, report.created, report.changed, report.removed), (2, 1, 1, 0), "{}", db.engine());
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!((t.status.as_str(), t.version, t.versions[0].status.as_str()), ("approved", 1, "approved"));
        assert_eq!(t.quality.as_deref(), Some("green"));

        // Edited in WhatsApp Manager, and `welcome` deleted there.
        let report = store
            .sync_templates(ws, "WABA", &[listed("order_update", "APPROVED", "Your parcel shipped.")], NOW)
            .await
            .unwrap();
        assert_eq!((report.changed, report.removed), (1, 1));
        let t = store.template(ws, "WABA", "order_update", "en").await.unwrap();
        assert_eq!((t.version, t.versions[0].source.as_str(), t.approved_version), (2, "provider", Some(2)));
        assert_eq!(store.template(ws, "WABA", "welcome", "en").await.unwrap().status, "deleted");
        assert_eq!(store.delete_templates(ws, "WABA", "order_update", NOW).await.unwrap(), 1);
        assert!(matches!(store.template(ws, "WABA", "order_update", "en").await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn health_reports_move_the_limit_and_notify() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, owner, channel) = setup(store).await;
        assert_eq!(store.channel_health(ws, channel.id).await.unwrap().messaging_limit, Some(250));
        let (scope, change) =
            health::health_change("business_capability_update", &json!({"max_daily_conversations_per_business": 2000}))
                .remove(0);
        let event = InboundEvent::Health { field: "business_capability_update".into(), scope, change, raw: json!({}) };
        store.apply_inbound(&[RoutedEvent { channel: &channel, event: &event }], NOW).await.unwrap();
        assert_eq!(
            store.channel(ws, channel.id, Viewer::All).await.unwrap().messaging_limit,
            Some(2000),
            "{}",
            db.engine()
        );

        // Another number's report changes nothing here.
        let other = InboundEvent::Health {
            field: "phone_number_quality_update".into(),
            scope: HealthScope::Number("15559999999".into()),
            change: HealthChange { status: Some("flagged".into()), ..Default::default() },
            raw: json!({}),
        };
        store.apply_inbound(&[RoutedEvent { channel: &channel, event: &other }], NOW).await.unwrap();
        assert_eq!(store.channel_health(ws, channel.id).await.unwrap().health.status, None);

        let checked = HealthChange {
            quality_rating: Some(QualityRating::Yellow),
            status: Some("connected".into()),
            messaging_limit: Some(Some(2000)),
            ..Default::default()
        };
        let changed = store.apply_health(ws, channel.id, &checked, true, NOW).await.unwrap();
        let fields: Vec<&str> = changed.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["quality_rating", "status"], "the limit was already 2000");
        assert!(store.apply_health(ws, channel.id, &checked, true, NOW).await.unwrap().is_empty());
        let h = store.channel_health(ws, channel.id).await.unwrap();
        assert_eq!((h.health.quality_rating, h.checked_at), (Some(QualityRating::Yellow), Some(NOW)));

        let notes = store.notifications(ws, owner, true, None, 10).await.unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[1].message.contains("TIER_250 → TIER_2K"), "{}", notes[1].message);
        let usage = store.limit_usage(ws, "WABA", NOW).await.unwrap();
        assert_eq!((usage.recipients, usage.next_release_at), (0, None));
    }
}

#[tokio::test]
async fn an_accounts_template_and_health_events_are_read_by_those_who_see_one_of_its_channels() {
    for db in TestDatabase::all().await {
        let (store, e) = (&*db.store, db.engine());
        let (ws, _, shared) = setup(store).await;
        let private = store
            .create_channel(
                ws,
                NewChannel {
                    provider: Provider::Meta,
                    name: "Private".into(),
                    phone_number_id: "PN-2".into(),
                    waba_id: "WABA-2".into(),
                    display_phone_number: "15550002222".into(),
                    graph_base_url: "http://127.0.0.1:1".into(),
                    sealed_secrets: "sealed".into(),
                    webhook_key: "key-2".into(),
                    visibility: Visibility::Private,
                    throughput: 80,
                },
                NOW,
            )
            .await
            .unwrap();
        let agent = NewUser {
            email: Email::parse("agent@acme.example").unwrap(),
            name: "A".into(),
            role: Role::Agent,
            password_hash: None,
        };
        let agent = store.create_user(ws, agent, NOW).await.unwrap().id;
        let after = store.last_event_id(ws).await.unwrap();
        store.sync_templates(ws, "WABA", &[listed("hello", "APPROVED", "Hello there")], NOW).await.unwrap();
        store.sync_templates(ws, "WABA-2", &[listed("secret", "APPROVED", "Private offer")], NOW).await.unwrap();
        let quality = HealthChange { quality_rating: Some(QualityRating::Yellow), ..Default::default() };
        store.apply_health(ws, private.id, &quality, true, NOW).await.unwrap();
        store.apply_health(ws, shared.id, &quality, true, NOW).await.unwrap();
        let read = |viewer| async move {
            let events = store.events(ws, viewer, after, None, 100).await.unwrap();
            events.into_iter().map(|e| (e.kind, e.payload)).collect::<Vec<_>>()
        };

        // The agent sees the shared number's account and health; nothing of the private one's.
        let seen = read(Viewer::Agent(agent)).await;
        assert!(!seen.is_empty(), "{e}");
        assert!(!format!("{seen:?}").contains("WABA-2") && !format!("{seen:?}").contains("secret"), "{e}: {seen:?}");
        let health: Vec<&Value> = seen.iter().filter(|(k, _)| k == "channel.health_changed").map(|(_, p)| p).collect();
        assert_eq!(health.iter().map(|p| p["channel_id"].as_i64()).collect::<Vec<_>>(), [Some(shared.id.get())], "{e}");
        // A member of the private number sees all of it, as the owners do.
        store.set_channel_members(ws, private.id, &[agent], NOW).await.unwrap();
        let all = read(Viewer::All).await;
        assert!(format!("{all:?}").contains("WABA-2"), "{e}");
        assert_eq!(read(Viewer::Agent(agent)).await.len(), all.len(), "{e}");
    }
}

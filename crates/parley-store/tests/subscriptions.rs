//! Outgoing webhook subscriptions on both engines: the cursor starts at the newest event and
//! only moves forward after a delivery (or a give-up), failures are counted and clocked, a pause
//! notifies owners and managers, a resume restarts the failure clock, leases keep a subscription
//! on one server, replays and the delivery log are per workspace.

use parley_core::Timestamp;
use parley_core::ids::EventId;
use parley_store::testing::TestDatabase;
use parley_store::{Attempt, CursorMove, NewSubscription, StoreError, SubscriptionPatch, Viewer};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn attempt(event: i64, status: Option<u16>) -> Attempt {
    Attempt {
        event_id: Some(event),
        kind: "message.received".into(),
        status_code: status,
        error: status.is_none().then(|| "connection refused".into()),
        latency_ms: 3,
        response_excerpt: Some("ok".into()),
    }
}

#[tokio::test]
async fn a_subscription_moves_through_failures_pause_resume_and_delivery() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let (ws, owner, _channel) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let newest = store.last_event_id(ws).await.unwrap().get();
        assert!(newest > 0, "the fixture wrote events");
        let kinds = vec!["message.received".to_owned()];
        let new = NewSubscription {
            url: "https://example.com/hook",
            format: "parley",
            kinds: &kinds,
            sealed_secret: "v1:x",
            created_by: owner,
        };
        let sub = store.create_subscription(ws, new, NOW).await.unwrap();
        assert_eq!(sub.cursor_event_id, newest, "{:?}: starts after what already happened", db.url);
        assert!(sub.active && sub.creator_active);
        assert_eq!(sub.viewer(), Viewer::All);
        assert_eq!(store.active_subscriptions().await.unwrap().len(), 1);

        // A failure: counted, clocked, the cursor stays.
        let e = newest + 1;
        let retry_at = NOW.plus_secs(10);
        let sub = store.record_attempt(&sub, attempt(e, Some(500)), CursorMove::RetryAt(retry_at), NOW).await.unwrap();
        assert_eq!((sub.cursor_event_id, sub.attempts), (newest, 1));
        assert_eq!(
            (sub.next_attempt_at, sub.failing_since, sub.event_failing_since),
            (Some(retry_at), Some(NOW), Some(NOW))
        );
        // Skipping is refused while an event waits for its retry.
        store.skip_to(sub.id, EventId(e + 5), NOW).await.unwrap();
        assert_eq!(store.subscription(ws, sub.id).await.unwrap().cursor_event_id, newest);

        // A day of failures: paused, owners told.
        let later = NOW.plus_secs(86_400);
        let sub = store.record_attempt(&sub, attempt(e, None), CursorMove::Pause, later).await.unwrap();
        assert!(!sub.active);
        assert_eq!(sub.paused_reason.as_deref(), Some("failing"));
        assert!(store.active_subscriptions().await.unwrap().is_empty());
        let told = store.notifications(ws, owner, true, None, 10).await.unwrap();
        assert!(told.iter().any(|n| n.kind == "webhook.paused"), "{:?}: {told:?}", db.url);

        // Resumed: the pause clock restarts, the event keeps its own.
        let patch = SubscriptionPatch { active: Some(true), ..Default::default() };
        let sub = store.update_subscription(ws, sub.id, patch, later).await.unwrap();
        assert!(sub.active && sub.paused_reason.is_none());
        assert_eq!((sub.failing_since, sub.event_failing_since, sub.attempts), (None, Some(NOW), 2));

        // Delivered: the cursor moves to the event, failures are forgotten.
        let sub = store.record_attempt(&sub, attempt(e, Some(204)), CursorMove::Delivered, later).await.unwrap();
        assert_eq!((sub.cursor_event_id, sub.attempts, sub.event_failing_since), (e, 0, None));
        // A stale decision about an earlier event never moves the cursor back.
        let sub = store.record_attempt(&sub, attempt(e - 1, Some(200)), CursorMove::Delivered, later).await.unwrap();
        assert_eq!(sub.cursor_event_id, e);
        store.skip_to(sub.id, EventId(e + 3), later).await.unwrap();
        assert_eq!(store.subscription(ws, sub.id).await.unwrap().cursor_event_id, e + 3);

        let log = store.deliveries(ws, sub.id, None, 10).await.unwrap();
        let outcomes: Vec<_> = log.iter().map(|d| (d.outcome.as_str(), d.attempt, d.status_code)).collect();
        assert_eq!(
            outcomes,
            [("delivered", 1, Some(200)), ("delivered", 3, Some(204)), ("failed", 2, None), ("failed", 1, Some(500))],
            "{:?}",
            db.url
        );

        // Leases: one holder at a time until it expires.
        assert!(store.lease_subscription(sub.id, "a", later.plus_secs(30), later).await.unwrap());
        assert!(!store.lease_subscription(sub.id, "b", later.plus_secs(30), later).await.unwrap());
        assert!(store.lease_subscription(sub.id, "a", later.plus_secs(60), later).await.unwrap());
        assert!(store.lease_subscription(sub.id, "b", later.plus_secs(120), later.plus_secs(61)).await.unwrap());

        // Replays: asked, advanced, gone once past their end.
        let replay = store.request_replay(ws, sub.id, EventId(1), EventId(2), later).await.unwrap();
        assert_eq!(store.replays(sub.id).await.unwrap(), std::slice::from_ref(&replay));
        store.advance_replay(replay.id, EventId(2)).await.unwrap();
        assert_eq!(store.replays(sub.id).await.unwrap()[0].next_event_id, 2);
        store.advance_replay(replay.id, EventId(3)).await.unwrap();
        assert!(store.replays(sub.id).await.unwrap().is_empty());

        // Another workspace sees none of it.
        let (other, ..) = parley_store::testing::workspace_with_channel(store, "other", NOW).await;
        assert!(matches!(store.subscription(other, sub.id).await, Err(StoreError::NotFound)));
        assert!(store.deliveries(other, sub.id, None, 10).await.unwrap().is_empty());
        assert!(matches!(
            store.request_replay(other, sub.id, EventId(1), EventId(2), later).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(store.delete_subscription(other, sub.id).await, Err(StoreError::NotFound)));
        assert!(store.subscriptions(other).await.unwrap().is_empty());

        // Pruning the log, then deleting the subscription.
        assert_eq!(store.prune_deliveries(later).await.unwrap(), 1, "{:?}: the failure at NOW", db.url);
        store.delete_subscription(ws, sub.id).await.unwrap();
        assert!(store.subscriptions(ws).await.unwrap().is_empty());
    }
}

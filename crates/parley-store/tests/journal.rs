//! The inbound journal on both engines: webhooks kept as received until applied (listed by id,
//! and by when they were received), and each journaled webhook applied once — by one
//! transaction, however many try (a retry after a crash, two servers recovering the same rows).

use parley_core::Timestamp;
use parley_core::ids::EventId;
use parley_core::message::InboundEvent;
use parley_store::testing::TestDatabase;
use parley_store::{InboundWebhook, NewJournalEntry, RoutedEvent, Viewer};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_750_000_000);

fn entry<'a>(body: &'a str) -> NewJournalEntry<'a> {
    NewJournalEntry { webhook_key: "key-1", body, signature: Some("sha256=00") }
}

#[tokio::test]
async fn journaled_webhooks_are_kept_in_order_until_applied() {
    for db in TestDatabase::all().await {
        let (store, e) = (&*db.store, db.engine());
        let ids =
            store.journal_append(&[entry("{\"a\":1}"), entry("{\"b\":2}"), entry("{\"c\":3}")], NOW).await.unwrap();
        assert_eq!(ids.len(), 3, "{e}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{e}: ids in order: {ids:?}");
        let pending = store.journal_pending(0, 10).await.unwrap();
        let bodies: Vec<&str> = pending.iter().map(|p| p.body.as_str()).collect();
        assert_eq!(bodies, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"], "{e}");
        assert_eq!((pending[0].webhook_key.as_str(), pending[0].signature.as_deref()), ("key-1", Some("sha256=00")));
        assert_eq!(pending[0].received_at, NOW, "{e}");
        // Paged by id.
        let rest = store.journal_pending(ids[0], 1).await.unwrap();
        assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), [ids[1]], "{e}");
        // By when they were received (the sweep of what a stopped server left).
        let later =
            store.journal_append(&[entry("{\"d\":4}")], Timestamp::from_secs(NOW.as_secs() + 60)).await.unwrap();
        let by_now = store.journal_received_by(NOW, 0, 10).await.unwrap();
        assert_eq!(by_now.iter().map(|p| p.id).collect::<Vec<_>>(), ids, "{e}");
        let by_then = store.journal_received_by(Timestamp::from_secs(NOW.as_secs() + 60), ids[2], 10).await.unwrap();
        assert_eq!(by_then.iter().map(|p| p.id).collect::<Vec<_>>(), later, "{e}");
        assert!(store.journal_received_by(Timestamp::from_secs(NOW.as_secs() - 1), 0, 10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_journaled_webhook_is_applied_once_however_often_it_is_applied() {
    for db in TestDatabase::all().await {
        let (store, e) = (&*db.store, db.engine());
        let (ws, _, channel) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let before = store.last_event_id(ws).await.unwrap();
        let ids = store.journal_append(&[entry("one"), entry("two")], NOW).await.unwrap();
        // Events no unique key would catch twice: only the journal keeps them single.
        let one = InboundEvent::Other { field: "account_update".into(), value: json!({"n": 1}) };
        let two = InboundEvent::Other { field: "account_update".into(), value: json!({"n": 2}) };
        let routed_one = [RoutedEvent { channel: &channel, event: &one }];
        let routed_two = [RoutedEvent { channel: &channel, event: &two }];
        let first = InboundWebhook { journal_id: Some(ids[0]), events: &routed_one };
        let second = InboundWebhook { journal_id: Some(ids[1]), events: &routed_two };

        let out = store.apply_webhooks(&[first], NOW).await.unwrap();
        assert_eq!((out.others, out.already_applied), (1, 0), "{e}");
        // Again (a retry, a recovery after a crash), then together with the second.
        let again = store.apply_webhooks(&[first], NOW).await.unwrap();
        assert_eq!((again.others, again.already_applied), (0, 1), "{e}");
        let both = store.apply_webhooks(&[first, second], NOW).await.unwrap();
        assert_eq!((both.others, both.already_applied), (1, 1), "{e}");

        let events = store.events(ws, Viewer::All, before, None, 50).await.unwrap();
        let values: Vec<_> =
            events.iter().filter(|ev| ev.kind == "whatsapp.account_update").map(|ev| ev.payload["n"].clone()).collect();
        assert_eq!(values, [json!(1), json!(2)], "{e}: each once");
        assert!(store.journal_pending(0, 10).await.unwrap().is_empty(), "{e}: applied rows leave the journal");

        // Two transactions racing for the same row: one applies it.
        let id = store.journal_append(&[entry("three")], NOW).await.unwrap()[0];
        let three = InboundEvent::Other { field: "account_update".into(), value: json!({"n": 3}) };
        let routed_three = [RoutedEvent { channel: &channel, event: &three }];
        let racer = InboundWebhook { journal_id: Some(id), events: &routed_three };
        let racers = [racer];
        let (a, b) = tokio::join!(store.apply_webhooks(&racers, NOW), store.apply_webhooks(&racers, NOW));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.others + b.others, a.already_applied + b.already_applied), (1, 1), "{e}: {a:?} {b:?}");
        let after = store.events(ws, Viewer::All, EventId(0), None, 200).await.unwrap();
        assert_eq!(after.iter().filter(|ev| ev.payload == json!({"n": 3})).count(), 1, "{e}");
        // Webhooks without a journal row are applied as before.
        let out =
            store.apply_webhooks(&[InboundWebhook { journal_id: None, events: &routed_three }], NOW).await.unwrap();
        assert_eq!(out.others, 1, "{e}");
    }
}

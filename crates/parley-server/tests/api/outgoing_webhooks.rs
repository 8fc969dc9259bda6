//! Outgoing webhooks end to end: a local receiver subscribed through the API gets each event
//! kind once, signed; a 500 is retried until a 2xx; a day of failures pauses the subscription
//! (injected clock) and tells the owners; replays, pings, the delivery log, visibility of
//! private channels, and bad input.

use std::time::Duration;

use parley_core::Clock;
use parley_sandbox::{Batching, Customer, Say};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Hit, Receiver, TestApp, Wired, eventually};

const ANA: &str = "33612345678";

/// Checks a hit's `Parley-Signature` with the secret, as a receiver would.
fn signed_with(hit: &Hit, secret: &str) -> bool {
    let header = hit.headers["parley-signature"].to_str().unwrap();
    let t: i64 = header.split(',').find_map(|p| p.strip_prefix("t=")).unwrap().parse().unwrap();
    parley_core::outgoing::signature(secret.as_bytes(), t, &hit.body) == header
}

pub async fn subscribe(app: &TestApp, receiver: &Receiver, kinds: &[&str]) -> (i64, String) {
    let r = app.post("/api/v1/webhook-subscriptions", json!({"url": receiver.url, "kinds": kinds})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {:?}", app.engine(), r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (r.body["subscription"]["id"].as_i64().unwrap(), secret)
}

fn all_kinds() -> Vec<&'static str> {
    parley_core::outgoing::KINDS.iter().map(|(k, _)| *k).collect()
}

async fn customer_writes(wired: &Wired, text: &str) {
    let item = wired.sandbox.message(&wired.number.phone_number_id, &Customer::new(ANA, "Ana"), &Say::text(text));
    wired.sandbox.deliver(vec![item], Batching::default());
    assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
}

#[tokio::test]
async fn each_event_kind_goes_out_once_signed_and_in_order() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let (sub, secret) = subscribe(&app, &receiver, &all_kinds()).await;

        customer_writes(&wired, "hello?").await;
        let conv = app.get("/api/v1/conversations").await.body["items"][0].clone();
        let (conv_id, contact_id) = (conv["id"].as_i64().unwrap(), conv["contact_id"].as_i64().unwrap());
        let channel_id = wired.channel["id"].as_i64().unwrap();
        let sent = app
            .post("/api/v1/messages", json!({"channel_id": channel_id, "to": format!("phone:+{ANA}"), "type": "text", "text": {"body": "hi!"}}))
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{e}: {:?}", sent.body);
        let message_id = sent.body["messages"][0]["id"].as_i64().unwrap();
        assert!(eventually(20, || async { app.message_status(message_id).await == "read" }).await);
        let owner = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
        let c = |path: &str| format!("/api/v1/conversations/{conv_id}/{path}");
        assert_eq!(app.post(&c("assign"), json!({"user_id": owner})).await.status, StatusCode::OK);
        assert_eq!(app.post(&c("assign"), json!({"user_id": null})).await.status, StatusCode::OK);
        assert_eq!(app.post(&c("notes"), json!({"body": "VIP"})).await.status, StatusCode::CREATED);
        let notes = json!({"mode": "optional", "categories": ["sales"]});
        let r = app.call(reqwest::Method::PUT, "/api/v1/workspace/closing-notes", Some(notes)).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        let closed = app.post(&c("status"), json!({"status": "closed", "summary": "answered"})).await;
        assert_eq!(closed.status, StatusCode::OK, "{e}: {:?}", closed.body);
        assert_eq!(app.post(&c("status"), json!({"status": "open"})).await.status, StatusCode::OK);
        let updated = app.patch(&format!("/api/v1/contacts/{contact_id}"), json!({"name": "Ana Lima"})).await;
        assert_eq!(updated.status, StatusCode::OK, "{e}: {:?}", updated.body);
        let created = app.post("/api/v1/contacts", json!({"name": "Bo", "phone": "+33612345670"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        let bo = created.body["id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/contacts/{bo}")).await.status, StatusCode::NO_CONTENT);
        wired.sandbox.set_number_quality(&wired.number.phone_number_id, "RED").unwrap();
        let refreshed = app.post(&format!("/api/v1/channels/{channel_id}/health/refresh"), json!({})).await;
        assert_eq!(refreshed.status, StatusCode::OK, "{e}: {:?}", refreshed.body);

        let expected = [
            "contact.created",
            "conversation.opened",
            "message.received",
            "message.sent",
            "message.status",
            "message.status",
            "conversation.assigned",
            "conversation.unassigned",
            "note.created",
            "conversation.closed",
            "conversation.reopened",
            "contact.updated",
            "contact.created",
            "contact.deleted",
            "channel.health",
        ];
        let arrived = eventually(20, || async { receiver.taken().len() >= expected.len() }).await;
        assert!(arrived, "{e}: {:?}", receiver.taken());
        // Give a duplicate the time to show up, then compare exactly.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let hits = receiver.hits();
        let kinds: Vec<String> = hits.iter().map(Hit::kind).collect();
        let mut sorted_kinds = kinds.clone();
        sorted_kinds.sort();
        let mut sorted_expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        sorted_expected.sort();
        assert_eq!(sorted_kinds, sorted_expected, "{e}: each once: {kinds:?}");
        // In the log's order: ids ascending.
        let ids: Vec<i64> = hits.iter().map(|h| h.json()["id"].as_str().unwrap()[4..].parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{e}: {ids:?}");
        for hit in &hits {
            assert!(signed_with(hit, &secret), "{e}: a valid signature on {}", hit.kind());
            let body = hit.json();
            assert_eq!(hit.headers["parley-event-id"].to_str().unwrap(), body["id"].as_str().unwrap());
            assert_eq!(body["version"], 1);
            assert!(!signed_with(hit, "whsec_wrong"));
        }
        let by_kind = |k: &str| hits.iter().find(|h| h.kind() == k).unwrap().json();
        assert_eq!(by_kind("message.received")["data"]["text"], "hello?", "{e}");
        assert_eq!(by_kind("message.sent")["data"]["message_id"], message_id);
        assert_eq!(by_kind("conversation.closed")["data"]["closing_note"]["summary"], "answered", "{e}");
        assert_eq!(by_kind("channel.health")["data"]["channel_id"], channel_id);

        // The delivery log shows each, delivered, with its status and latency.
        let log = app.get(&format!("/api/v1/webhook-subscriptions/{sub}/deliveries?limit=100")).await;
        assert_eq!(log.status, StatusCode::OK);
        let log = log.body.as_array().unwrap().clone();
        assert_eq!(log.len(), expected.len(), "{e}: {log:?}");
        assert!(
            log.iter()
                .all(|d| d["outcome"] == "delivered" && d["status_code"] == 200 && d["response_excerpt"] == "thanks")
        );
        // The secret is never shown again.
        let shown = app.get(&format!("/api/v1/webhook-subscriptions/{sub}")).await.body;
        assert!(!shown.to_string().contains(&secret[6..]), "{e}: {shown}");
        assert!(shown.get("sealed_secret").is_none());
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_taken_and_then_exactly_once() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let (sub, _) = subscribe(&app, &receiver, &["message.received"]).await;
        receiver.answer(&[500]);
        customer_writes(&wired, "one").await;
        customer_writes(&wired, "two").await;
        assert!(eventually(10, || async { receiver.hits().len() == 1 }).await, "{e}: the first attempt");
        // The retry is due on the injected clock (at most 10 s later): nothing before it.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(receiver.hits().len(), 1, "{e}: no retry before it is due, and 'two' waits behind 'one'");
        let state = app.get(&format!("/api/v1/webhook-subscriptions/{sub}")).await.body;
        assert_eq!(state["attempts"], 1, "{e}: {state}");
        app.clock.advance_secs(11);
        assert!(eventually(10, || async { receiver.taken().len() == 2 }).await, "{e}: {:?}", receiver.hits().len());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let texts: Vec<Value> = receiver.hits().iter().map(|h| h.json()["data"]["text"].clone()).collect();
        assert_eq!(texts, [json!("one"), json!("one"), json!("two")], "{e}: once more, then in order");
        let log = app.get(&format!("/api/v1/webhook-subscriptions/{sub}/deliveries")).await.body;
        let outcomes: Vec<(String, i64)> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["outcome"].as_str().unwrap().to_owned(), d["attempt"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            outcomes,
            [("delivered".into(), 1), ("delivered".into(), 2), ("failed".into(), 1)],
            "{e}: newest first"
        );
    }
}

#[tokio::test]
async fn a_day_of_failures_pauses_the_subscription_and_tells_the_owners() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let (sub, _) = subscribe(&app, &receiver, &["message.received"]).await;
        receiver.answer(&[503; 200]);
        customer_writes(&wired, "anyone?").await;
        assert!(eventually(10, || async { !receiver.hits().is_empty() }).await);
        // Retries follow the clock; a day later the subscription pauses.
        let paused = eventually(30, || async {
            app.clock.advance_secs(1800);
            let s = app.get(&format!("/api/v1/webhook-subscriptions/{sub}")).await.body;
            s["active"] == false
        })
        .await;
        assert!(paused, "{e}: still active after {} attempts", receiver.hits().len());
        let s = app.get(&format!("/api/v1/webhook-subscriptions/{sub}")).await.body;
        assert_eq!(s["paused_reason"], "failing", "{e}: {s}");
        let tries = receiver.hits().len();
        assert!(tries > 5 && tries < 60, "{e}: backed off, {tries} attempts");
        let notices = app.get("/api/v1/notifications").await.body;
        assert!(notices.to_string().contains("webhook.paused"), "{e}: {notices}");

        // Nothing goes out while paused; resuming delivers what waited, nothing lost.
        receiver.clear_script();
        customer_writes(&wired, "still there?").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(receiver.hits().len(), tries, "{e}: paused");
        let resumed = app.patch(&format!("/api/v1/webhook-subscriptions/{sub}"), json!({"active": true})).await;
        assert_eq!(resumed.status, StatusCode::OK);
        let texts = || receiver.taken().len();
        assert!(eventually(10, || async { texts() == 2 }).await, "{e}: {:?}", receiver.taken());
        let taken: Vec<Value> =
            receiver.hits().iter().filter(|h| h.answered == 200).map(|h| h.json()["data"]["text"].clone()).collect();
        assert_eq!(taken, [json!("anyone?"), json!("still there?")], "{e}");
    }
}

#[tokio::test]
async fn replays_pings_and_bad_input() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let (sub, secret) = subscribe(&app, &receiver, &["message.received"]).await;
        customer_writes(&wired, "first").await;
        assert!(eventually(10, || async { receiver.taken().len() == 1 }).await);
        let first = receiver.hits()[0].json();

        // Replay one event, then a time range.
        let r =
            app.post(&format!("/api/v1/webhook-subscriptions/{sub}/replay"), json!({"event_id": first["id"]})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {:?}", r.body);
        assert!(eventually(10, || async { receiver.hits().len() == 2 }).await, "{e}: replayed");
        assert_eq!(receiver.hits()[1].json()["id"], first["id"], "{e}: the same id, for deduplication");
        let range = json!({"from": app.clock.now().plus_secs(-60).to_rfc3339(), "to": app.clock.now().to_rfc3339()});
        let r = app.post(&format!("/api/v1/webhook-subscriptions/{sub}/replay"), range).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {:?}", r.body);
        assert!(eventually(10, || async { receiver.hits().len() == 3 }).await, "{e}: the range");
        // The log is written just after the receiver answers.
        let replays_logged = || async {
            let log = app.get(&format!("/api/v1/webhook-subscriptions/{sub}/deliveries")).await.body;
            log.as_array().unwrap().iter().filter(|d| d["replay"] == true).count()
        };
        assert!(eventually(10, || async { replays_logged().await == 2 }).await, "{e}: {}", replays_logged().await);

        // A ping, signed like the rest.
        let ping = app.post(&format!("/api/v1/webhook-subscriptions/{sub}/ping"), json!({})).await;
        assert_eq!(ping.status, StatusCode::OK, "{e}: {:?}", ping.body);
        assert_eq!(ping.body["status_code"], 200);
        let hit = receiver.hits().last().unwrap().clone();
        assert_eq!(hit.kind(), "ping");
        assert!(signed_with(&hit, &secret));

        // Rotating the secret: the next deliveries are signed with the new one.
        let rotated = app.post(&format!("/api/v1/webhook-subscriptions/{sub}/secret"), json!({})).await;
        let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, secret);
        customer_writes(&wired, "second").await;
        assert!(
            eventually(10, || async { receiver.taken().iter().filter(|k| *k == "message.received").count() == 4 })
                .await
        );
        let last = receiver.hits().last().unwrap().clone();
        assert!(signed_with(&last, &new_secret) && !signed_with(&last, &secret), "{e}");

        // Bad input changes nothing.
        let base = "/api/v1/webhook-subscriptions";
        let bad = [
            (json!({"url": "http://10.0.0.8/hook", "kinds": ["message.received"]}), "url_not_allowed"),
            (json!({"url": "https://user:pw@example.com/", "kinds": ["message.received"]}), "url_not_allowed"),
            (json!({"url": "ftp://example.com/", "kinds": ["message.received"]}), "url_not_allowed"),
            (json!({"url": "https://example.com/", "kinds": []}), "invalid_kinds"),
            (json!({"url": "https://example.com/", "kinds": ["message.nope"]}), "invalid_kinds"),
            (json!({"url": "https://example.com/"}), "invalid_kinds"),
            (json!({"url": "https://example.com/", "kinds": ["message.received"], "format": "xml"}), "invalid_request"),
            (
                json!({"url": "https://example.com/", "format": "meta", "kinds": ["contact.created"], "verify_token": "v", "app_secret": "s"}),
                "invalid_kinds",
            ),
            (json!({"url": "https://example.com/", "format": "meta"}), "invalid_request"),
        ];
        for (body, code) in bad {
            let r = app.post(base, body.clone()).await;
            assert!(r.status.is_client_error(), "{e}: {body} → {:?}", r.body);
            assert_eq!(r.code(), code, "{e}: {body}");
        }
        let r = app.post(&format!("{base}/{sub}/replay"), json!({"event_id": "evt_x"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = app.post(&format!("{base}/{sub}/replay"), json!({"from": "2020-01-01T00:00:00Z"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.get(base).await.body.as_array().unwrap().len(), 1, "{e}: nothing created");

        // Agents may not; another workspace's subscription is not found.
        let agent = app.token_for("agent", "agent@acme.example").await;
        let r = app.call_as(Some(&agent), reqwest::Method::GET, base, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app.call_as(Some(&agent), reqwest::Method::POST, &format!("{base}/{sub}/ping"), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(&format!("{base}/999999")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&format!("{base}/{sub}")).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("{base}/{sub}")).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_dead_receiver_does_not_hold_back_another_subscription() {
    for app in TestApp::all().await {
        let e = app.engine();
        let dead = Receiver::start().await;
        dead.set_delay(Duration::from_secs(30));
        let alive = Receiver::start().await;
        let wired = app.wired().await;
        subscribe(&app, &dead, &["message.received"]).await;
        subscribe(&app, &alive, &["message.received"]).await;
        for i in 0..5 {
            customer_writes(&wired, &format!("m{i}")).await;
        }
        let started = std::time::Instant::now();
        assert!(eventually(10, || async { alive.taken().len() == 5 }).await, "{e}: {:?}", alive.taken());
        assert!(started.elapsed() < Duration::from_secs(5), "{e}: the live receiver waited {:?}", started.elapsed());
        assert!(dead.hits().is_empty(), "{e}: the dead one never answered");
    }
}

#[tokio::test]
async fn a_subscription_sends_only_what_its_creator_may_see() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let channel_id = wired.channel["id"].as_i64().unwrap();
        let manager = app.token_for("manager", "manager@acme.example").await;
        let manager_id = app.user_id(&manager).await;
        let body = json!({"url": receiver.url, "kinds": ["message.received", "contact.created"]});
        let r = app.call_as(Some(&manager), reqwest::Method::POST, "/api/v1/webhook-subscriptions", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
        // The number turns private and its creator becomes an agent who is not a member.
        let r = app.patch(&format!("/api/v1/channels/{channel_id}"), json!({"visibility": "private"})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        let r = app.patch(&format!("/api/v1/users/{manager_id}"), json!({"role": "agent"})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        customer_writes(&wired, "a secret").await;
        // The contact is the workspace's (everyone sees contacts); the message is the number's.
        assert!(
            eventually(10, || async { receiver.taken() == ["contact.created"] }).await,
            "{e}: {:?}",
            receiver.taken()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(receiver.taken(), ["contact.created"], "{e}: nothing from the private number");
        assert!(!receiver.hits().iter().any(|h| String::from_utf8_lossy(&h.body).contains("a secret")));
    }
}

//! The live event stream (`/events/stream`): what happens arrives without polling the API, a
//! reconnect with `Last-Event-ID` resumes right after the last event seen, and a server that
//! shuts down ends its streams instead of waiting for them.

use std::time::Duration;

use parley_sandbox::{Customer, Say};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

/// One server-sent event: its id, kind and data.
#[derive(Debug)]
struct Sent {
    id: i64,
    kind: String,
    data: Value,
}

/// Reads the stream until `want` events came (or 10 s passed).
async fn read_events(resp: &mut reqwest::Response, want: usize) -> Vec<Sent> {
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < want {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            _ => break,
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, None, None);
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            if let (Some(id), Some(kind), Some(data)) = (id, kind, data) {
                out.push(Sent { id, kind, data });
            }
        }
    }
    out
}

async fn open(app: &TestApp, last_event_id: Option<i64>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&app.token);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    resp
}

#[tokio::test]
async fn events_arrive_live_and_a_reconnect_resumes_without_gaps() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        // Opened now: earlier events (the channel's creation) are not replayed.
        let mut live = open(&app, None).await;
        wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana"), Say::text("hello"));
        let first = read_events(&mut live, 3).await;
        let kinds: Vec<&str> = first.iter().map(|s| s.kind.as_str()).collect();
        assert!(kinds.contains(&"message.received"), "{e}: {kinds:?}");
        assert!(!kinds.contains(&"channel.created"), "{e}: {kinds:?}");
        let received = first.iter().find(|s| s.kind == "message.received").unwrap();
        assert_eq!(received.data["kind"], "message.received");
        assert_eq!(received.data["id"], received.id);
        let ids: Vec<i64> = first.iter().map(|s| s.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{e}: in order: {ids:?}");
        drop(live);

        // Missed while disconnected: delivered on reconnect, after the last one seen, once.
        let seen = *ids.last().unwrap();
        wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana"), Say::text("are you there?"));
        wired.sandbox.say(&pnid, &Customer::new("33687654321", "Bao"), Say::text("xin chào"));
        assert!(wired.sandbox.wait_idle(Duration::from_secs(10)).await);
        let log = app.get(&format!("/api/v1/events?after={seen}&limit=1000")).await.body;
        let expected: Vec<i64> = log["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
        assert!(expected.len() >= 2, "{e}: {log}");
        let mut again = open(&app, Some(seen)).await;
        let resumed: Vec<i64> = read_events(&mut again, expected.len()).await.iter().map(|s| s.id).collect();
        assert_eq!(resumed, expected, "{e}: every event after {seen}, in order, none twice");

        let bad = app
            .client
            .get(app.url("/api/v1/events/stream"))
            .bearer_auth(&app.token)
            .header("Last-Event-ID", "soon")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let anonymous = app.client.get(app.url("/api/v1/events/stream")).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_shutdown_ends_open_streams() {
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let store = db.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let boot = parley_server::admin::bootstrap(
        &*store,
        "acme",
        "o@acme.example",
        "correct horse battery staple".into(),
        crate::helpers::START,
    )
    .await
    .unwrap();
    let state = parley_server::AppState::new(
        store,
        std::sync::Arc::new(parley_core::SystemClock),
        parley_server::secrets::SecretBox::random(),
        dir.path(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parley_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let mut stream = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/events/stream"))
        .bearer_auth(&boot.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(ended.is_ok(), "the server waited for the open stream");
    assert!(matches!(tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await, Ok(Ok(None) | Err(_))));
}

/// Two servers on one PostgreSQL database (as two processes would be): a customer's message
/// stored by one reaches a stream opened on the other, and so does a change made through it.
#[tokio::test]
async fn a_stream_on_another_server_carries_what_the_first_one_stored() {
    let Some(db) = parley_store::testing::TestDatabase::postgres().await else { return };
    let (url, schema) = (db.url.clone(), db.schema.clone());
    let app = TestApp::spawn(db).await;
    let wired = app.wired().await;
    // The second server: its own connections, ingest and stream, the same database.
    let store = parley_store::open_url(&url, schema.as_deref()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state =
        parley_server::AppState::new(store, app.clock.clone(), parley_server::secrets::SecretBox::random(), dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = listener.local_addr().unwrap();
    tokio::spawn(parley_server::serve(listener, state, std::future::pending()));
    let mut stream =
        app.client.get(format!("http://{other}/api/v1/events/stream")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    // The webhook goes to the first server only.
    wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Ana"), Say::text("hello"));
    let events = read_events(&mut stream, 3).await;
    let received = events.iter().find(|s| s.kind == "message.received").expect("the message, on the other server");
    assert_eq!(received.data["payload"]["text"], "hello", "{:?}", received.data);
    let conversation = received.data["payload"]["conversation_id"].clone();
    app.post(&format!("/api/v1/conversations/{conversation}/status"), serde_json::json!({"status": "pending"})).await;
    let more = read_events(&mut stream, 1).await;
    assert!(more.iter().any(|s| s.kind == "conversation.status_changed"), "{more:?}");
}

/// A signed webhook whose `field` holds a line break (which would end an SSE line and forge an
/// event) is refused and stores nothing; a stream read from the log's start still works.
#[tokio::test]
async fn a_webhook_field_with_a_line_break_is_refused_and_streams_still_work() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let url = app.url(wired.channel["webhook_path"].as_str().unwrap());
        let pnid = &wired.number.phone_number_id;
        let message = serde_json::json!({"from": "33612345678", "id": "wamid.forged-field", "timestamp": "1750000000",
            "type": "text", "text": {"body": "hi"}});
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA-1", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": pnid},
                "messages": [message]}},
            {"field": "account_update\nevent: message.received\ndata: {}", "value": {"event": "x"}},
        ]}]})
        .to_string()
        .into_bytes();
        let signature = parley_providers::meta::signature::sign(&wired.number.app_secret, &body);
        let resp = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header(parley_providers::meta::signature::HEADER, signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{e}");
        assert!(app.all_messages().await.is_empty(), "{e}: a refused webhook stored its message");

        let mut stream = open(&app, Some(0)).await;
        let events = read_events(&mut stream, 1).await;
        let kinds: Vec<&str> = events.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["channel.created"], "{e}");
    }
}

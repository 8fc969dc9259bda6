//! Workflows (issue 18): steps that look at time and call out, and the schedule trigger, on both
//! engines and the injected clock. A run inside its opening hours calls a CRM (variables in the
//! URL and body, values kept from the JSON answer and used in a tag), waits until 09:00 the next
//! day, then calls a CRM that is down: tried again, then its error path. A URL to a private
//! address fails the run before anything is sent. A daily schedule runs for its segment's
//! contacts once per fire.

use std::sync::{Arc, Mutex};

use axum::Json;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};
use crate::workflows::active_workflow;

/// A CRM on loopback: `POST /crm` answers the customer's tier and echoes the name it was sent;
/// `GET /down` answers 503. Answers its base URL and what it was asked.
async fn crm() -> (String, Arc<Mutex<Vec<String>>>) {
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let (a, b) = (asked.clone(), asked.clone());
    let app = axum::Router::new()
        .route(
            "/crm",
            axum::routing::post(move |uri: axum::http::Uri, Json(body): Json<Value>| {
                let a = a.clone();
                async move {
                    a.lock().unwrap().push(format!("POST {uri} {body}"));
                    Json(json!({"customer": {"tier": "gold", "name": body["name"]}}))
                }
            }),
        )
        .route(
            "/down",
            axum::routing::get(move || {
                let b = b.clone();
                async move {
                    b.lock().unwrap().push("GET /down".to_owned());
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, asked)
}

async fn run_until_settled(app: &TestApp, run: &Value, status: &str) -> Value {
    let path = format!("/api/v1/workflow-runs/{}", run["id"]);
    eventually(20, || async { app.get(&path).await.body["status"] == status }).await;
    app.get(&path).await.body
}

#[tokio::test]
async fn opening_hours_a_crm_call_a_wait_until_nine_and_a_crm_that_is_down() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (base, asked) = crm().await;
        // The clock starts on Sunday 2025-06-15 at 15:06 UTC.
        let definition = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "hours", "kind": "business_hours", "open": "crm", "closed": "closed",
             "hours": {"timezone": "UTC", "days": {"sun": ["15:00-16:00"]}}},
            {"id": "crm", "kind": "http_request", "method": "POST", "url": format!("{base}/crm?contact={{{{contact.id}}}}"),
             "headers": {"Authorization": "Bearer crm-key"}, "body": {"name": "{{contact.name}}", "n": 1},
             "save": {"tier": "/customer/tier", "echo": "/customer/name"}, "next": "tag"},
            {"id": "tag", "kind": "add_tags", "tags": ["tier-{{vars.tier}}"], "next": "later"},
            {"id": "later", "kind": "wait_until", "time": "09:00", "timezone": "UTC", "next": "again"},
            {"id": "again", "kind": "http_request", "method": "GET", "url": format!("{base}/down"), "retries": 1, "on_error": "down"},
            {"id": "down", "kind": "add_tags", "tags": ["crm-down"]},
            {"id": "closed", "kind": "add_tags", "tags": ["closed"]}
        ]});
        let workflow = active_workflow(&app, "CRM", definition).await;
        wired.writes("33610000031", "hello").await;
        let id = app.conversation_of("33610000031").await;
        let run = app.post(&format!("/api/v1/workflows/{workflow}/runs"), json!({"conversation_id": id})).await;
        assert_eq!(run.status, StatusCode::CREATED, "{e}: {:?}", run.body);
        let tags = format!("/api/v1/conversations/{id}/tags");
        assert!(eventually(15, || async { app.get(&tags).await.body == json!(["tier-gold"]) }).await, "{e}");
        let contact = app.get(&format!("/api/v1/conversations/{id}")).await.body["contact_id"].clone();
        assert_eq!(
            asked.lock().unwrap().clone(),
            [format!("POST /crm?contact={contact} {{\"name\":\"C\",\"n\":1}}")],
            "{e}"
        );
        let path = format!("/api/v1/workflow-runs/{}", run.body["id"]);
        assert!(eventually(10, || async { app.get(&path).await.body["step"] == "again" }).await, "{e}");
        let waiting = app.get(&path).await.body;
        assert_eq!(waiting["wake_at"], "2025-06-16T09:00:00.000000Z", "{e}: {waiting}");
        assert_eq!(waiting["history"][1]["detail"]["kept"], json!({"tier": "gold", "echo": "C"}), "{e}");
        assert!(!waiting.to_string().contains("crm-key"), "{e}: the history keeps no header");

        // At 09:00 the next day: the CRM is down, tried twice, then the error path.
        app.clock.advance_secs(18 * 3600);
        let done = run_until_settled(&app, &run.body, "done").await;
        assert_eq!(done["status"], "done", "{e}: {done}");
        assert_eq!(app.get(&tags).await.body, json!(["crm-down", "tier-gold"]), "{e}");
        let calls = asked.lock().unwrap().iter().filter(|a| *a == "GET /down").count();
        assert_eq!(calls, 2, "{e}: one retry");
        let failed = &done["history"][4];
        assert_eq!((failed["outcome"].as_str(), failed["detail"]["status"].as_i64()), (Some("failed_call"), Some(503)));

        // Outside the hours: the other way. A private address: refused before anything is sent.
        let closed = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "hours", "kind": "business_hours", "open": "x", "closed": "call",
             "hours": {"timezone": "Asia/Ho_Chi_Minh", "days": {"mon": ["08:00-17:00"]}, "closed_dates": ["2025-06-16"]}},
            {"id": "call", "kind": "http_request", "method": "POST", "url": "http://10.0.0.1/steal"},
            {"id": "x", "kind": "add_tags", "tags": ["open"]}]});
        let closed_id = active_workflow(&app, "Closed", closed).await;
        let run = app.post(&format!("/api/v1/workflows/{closed_id}/runs"), json!({"conversation_id": id})).await;
        let failed = run_until_settled(&app, &run.body, "failed").await;
        assert_eq!(failed["status"], "failed", "{e}: {failed}");
        assert_eq!(failed["history"][0]["detail"]["open"], false, "{e}");
        assert_eq!(failed["history"][1]["detail"]["code"], "url_not_allowed", "{e}: {failed}");
    }
}

#[tokio::test]
async fn a_daily_schedule_runs_once_per_fire_for_its_segment() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.writes("33610000032", "hello").await;
        wired.writes("33610000033", "hello").await;
        let vip = app.conversation_of("33610000032").await;
        let other = app.conversation_of("33610000033").await;
        let contact = app.get(&format!("/api/v1/conversations/{vip}")).await.body["contact_id"].clone();
        let tagged = app.patch(&format!("/api/v1/contacts/{contact}"), json!({"tags": ["VIP"]})).await;
        assert_eq!(tagged.status, StatusCode::OK, "{e}: {:?}", tagged.body);
        let daily = json!({"trigger": {"kind": "schedule", "cron": "0 9 * * *", "timezone": "UTC", "tags": ["vip"]},
            "steps": [{"id": "n", "kind": "add_note", "text": "Daily check for {{contact.name}}"}]});
        let workflow = active_workflow(&app, "Daily", daily).await;
        let runs = format!("/api/v1/workflows/{workflow}/runs");
        let count = || async { app.get(&runs).await.body.as_array().map_or(0, Vec::len) };
        app.timer_passes(2).await;
        assert_eq!(count().await, 0, "{e}: 09:00 has not come yet today");
        // 2025-06-16 09:00:30 UTC.
        app.clock.advance_secs(17 * 3600 + 53 * 60 + 50);
        assert!(eventually(15, || async { count().await == 1 }).await, "{e}: {}", count().await);
        app.timer_passes(3).await;
        assert_eq!(count().await, 1, "{e}: once per fire");
        let notes = format!("/api/v1/conversations/{vip}/notes");
        assert!(
            eventually(10, || async { app.get(&notes).await.body.to_string().contains("Daily check for C") }).await
        );
        let others = app.get(&format!("/api/v1/conversations/{other}/notes")).await.body;
        assert_eq!(others, json!([]), "{e}: not in the segment");
        // The next day, again.
        app.clock.advance_secs(24 * 3600);
        assert!(eventually(15, || async { count().await == 2 }).await, "{e}");

        // A schedule that does not read is refused at publishing.
        let bad = json!({"trigger": {"kind": "schedule", "cron": "every day", "timezone": "Mars/Base"},
            "steps": [{"id": "w", "kind": "wait", "seconds": 5}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Bad", "definition": bad})).await;
        let refused = app.post(&format!("/api/v1/workflows/{}/publish", made.body["id"]), json!({})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let text = refused.body.to_string();
        assert!(text.contains("five fields") && text.contains("not a timezone"), "{e}: {text}");
    }
}

#[tokio::test]
async fn a_dry_run_fills_texts_judges_branches_and_sends_nothing() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.writes("33610000034", "where is my order?").await;
        let id = app.conversation_of("33610000034").await;
        let saved =
            json!({"trigger": {"kind": "manual"}, "steps": [{"id": "n", "kind": "add_note", "text": "saved draft"}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Try", "definition": saved})).await;
        let workflow = made.body["id"].as_i64().unwrap();
        let tried = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "check", "kind": "branch", "rules": [
                {"when": [{"subject": "message.text", "op": "contains", "value": "order"}], "next": "hi"}], "otherwise": "tag"},
            {"id": "hi", "kind": "send_message", "text": "Hi {{contact.first_name|there}}, checking order for {{contact.phone}}", "next": "ask"},
            {"id": "ask", "kind": "ask_question", "text": "Order number?", "timeout_seconds": 3600, "next": "tag"},
            {"id": "tag", "kind": "add_tags", "tags": ["tried"]}]});
        let sent_before = wired.sandbox.sent_count();
        let walked = app
            .post(&format!("/api/v1/workflows/{workflow}/dry-run"), json!({"conversation_id": id, "definition": tried}))
            .await;
        assert_eq!(walked.status, StatusCode::OK, "{e}: {:?}", walked.body);
        let steps: Vec<&str> = walked.body.as_array().unwrap().iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(steps, ["check", "hi", "ask"], "{e}: the branch took the order rule; the question stops the walk");
        assert_eq!(walked.body[1]["text"], "Hi C, checking order for +33610000034", "{e}");
        assert_eq!(walked.body[2]["then"], "waits for the answer", "{e}");
        // The saved draft when none is given.
        let draft = app.post(&format!("/api/v1/workflows/{workflow}/dry-run"), json!({"conversation_id": id})).await;
        assert_eq!(draft.body[0]["text"], "saved draft", "{e}: {:?}", draft.body);
        // Nothing left, nothing changed.
        wired.sandbox.wait_idle(std::time::Duration::from_secs(2)).await;
        assert_eq!(wired.sandbox.sent_count(), sent_before, "{e}");
        assert_eq!(app.get(&format!("/api/v1/conversations/{id}/tags")).await.body, json!([]), "{e}");
        assert!(app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.as_array().unwrap().is_empty(), "{e}");
        // Refusals: an invalid definition, an agent, an unknown conversation.
        let bad = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "w", "kind": "wait", "seconds": 0}]});
        let r = app
            .post(&format!("/api/v1/workflows/{workflow}/dry-run"), json!({"conversation_id": id, "definition": bad}))
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow"), "{e}");
        let r = app.post(&format!("/api/v1/workflows/{workflow}/dry-run"), json!({"conversation_id": 999_999})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}");
        let agent = app.token_for("agent", "agent@acme.example").await;
        let path = format!("/api/v1/workflows/{workflow}/dry-run");
        let r = app.call_as(Some(&agent), reqwest::Method::POST, &path, Some(json!({"conversation_id": id}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
    }
}

#[tokio::test]
async fn a_send_step_sends_a_file_with_its_caption_or_buttons_under_a_header() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.writes("33610000035", "hi").await;
        let id = app.conversation_of("33610000035").await;
        let definition = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "menu", "kind": "send_message", "text": "Our menu, {{contact.first_name|friend}}",
             "media": {"kind": "document", "link": "https://files.example/menu.pdf", "filename": "menu.pdf"}, "next": "ask"},
            {"id": "ask", "kind": "send_message", "text": "Book a table?", "buttons": ["Yes", "No"],
             "media": {"kind": "image", "link": "https://files.example/room.jpg"}}]});
        let workflow = active_workflow(&app, "Menu", definition).await;
        let run = app.post(&format!("/api/v1/workflows/{workflow}/runs"), json!({"conversation_id": id})).await;
        assert_eq!(run.status, StatusCode::CREATED, "{e}: {:?}", run.body);
        let sent = || wired.received("33610000035").into_iter().map(|s| s.body).collect::<Vec<_>>();
        assert!(eventually(15, || async { sent().len() == 2 }).await, "{e}: {:?}", sent());
        let (doc, buttons) = (&sent()[0], &sent()[1]);
        assert_eq!(
            (doc["type"].as_str(), doc["document"]["caption"].as_str()),
            (Some("document"), Some("Our menu, C")),
            "{e}"
        );
        assert_eq!(doc["document"]["filename"], "menu.pdf", "{e}");
        assert_eq!(
            buttons["interactive"]["header"]["image"]["link"], "https://files.example/room.jpg",
            "{e}: {buttons}"
        );
        assert_eq!(buttons["interactive"]["action"]["buttons"][1]["reply"]["title"], "No", "{e}");
        // Four buttons, or audio with a caption: refused at publishing, on the step.
        let bad = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "many", "kind": "send_message", "text": "Pick", "buttons": ["a", "b", "c", "d"]}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Bad", "definition": bad})).await;
        assert_eq!(made.body["problems"][0]["step"], "many", "{e}: {:?}", made.body);
    }
}

/// A run waiting on a slow call holds its own place, not the server's runs: while a CRM takes
/// its time to answer, a run on another conversation goes through all its steps.
#[tokio::test]
async fn a_slow_call_holds_its_run_and_no_other() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let wired = app.wired().await;
    let (called, release) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get({
            let (called, release) = (called.clone(), release.clone());
            move || async move {
                called.notify_one();
                release.notified().await;
                Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await.unwrap() });
    let calls = json!({"trigger": {"kind": "manual"}, "steps": [
        {"id": "call", "kind": "http_request", "method": "GET", "url": format!("{base}/slow"), "retries": 0}]});
    let calls = active_workflow(&app, "Slow CRM", calls).await;
    let quick = json!({"trigger": {"kind": "manual"}, "steps": [
        {"id": "tag", "kind": "add_tags", "tags": ["seen"], "next": "note"},
        {"id": "note", "kind": "add_note", "text": "tagged"}]});
    let quick = active_workflow(&app, "Quick", quick).await;
    wired.writes("33610000041", "hello").await;
    wired.writes("33610000042", "hello").await;
    let (first, second) = (app.conversation_of("33610000041").await, app.conversation_of("33610000042").await);

    let waiting = app.post(&format!("/api/v1/workflows/{calls}/runs"), json!({"conversation_id": first})).await;
    assert_eq!(waiting.status, StatusCode::CREATED, "{:?}", waiting.body);
    tokio::time::timeout(std::time::Duration::from_secs(10), called.notified()).await.expect("the call is made");
    let other = app.post(&format!("/api/v1/workflows/{quick}/runs"), json!({"conversation_id": second})).await;
    let done = run_until_settled(&app, &other.body, "done").await;
    assert_eq!(done["status"], "done", "the other run went on while the call waited: {done}");
    let path = format!("/api/v1/workflow-runs/{}", waiting.body["id"]);
    assert_eq!(app.get(&path).await.body["status"], "running", "the call is still out");

    release.notify_one();
    let answered = run_until_settled(&app, &waiting.body, "done").await;
    assert_eq!(answered["history"][0]["outcome"], "done", "{answered}");
}

//! Workflows (issue 18), first part: the seed's template installed from the gallery unassigns
//! a closed conversation (with an event saying so); a keyword trigger leaves a note, waits an
//! hour on the injected clock and tags; a run keeps its version when a new one is published;
//! a welcome message goes out when a customer opens a conversation; drafts with problems are
//! saved but not published, and the API is the owners' and managers' of the workspace only.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body
}

/// Saves, publishes and switches on a workflow; answers its id.
pub async fn active_workflow(app: &TestApp, name: &str, definition: Value) -> i64 {
    let made = app.post("/api/v1/workflows", json!({"name": name, "definition": definition})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert_eq!(made.body["problems"], json!([]), "{:?}", made.body);
    let id = made.body["id"].as_i64().unwrap();
    let published = app.post(&format!("/api/v1/workflows/{id}/publish"), json!({})).await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    let on = app.patch(&format!("/api/v1/workflows/{id}"), json!({"active": true})).await;
    assert_eq!(on.status, StatusCode::OK, "{:?}", on.body);
    id
}

#[tokio::test]
async fn the_seed_template_unassigns_a_closed_conversation() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let gallery = app.get("/api/v1/workflows/gallery").await.body;
        assert!(gallery.as_array().unwrap().iter().any(|t| t["name"] == "Unassign After Conversation Closes"), "{e}");
        let installed = app.post("/api/v1/workflows/gallery/unassign-after-close", json!({"active": true})).await;
        assert_eq!(installed.status, StatusCode::CREATED, "{e}: {:?}", installed.body);
        assert_eq!((installed.body["version"].as_i64(), installed.body["active"].as_bool()), (Some(1), Some(true)));
        let workflow = installed.body["id"].as_i64().unwrap();

        wired.writes("33610000001", "hello").await;
        let id = app.conversation_of("33610000001").await;
        let me = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/conversations/{id}/assign"), json!({"user_id": me})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        // Assigned and open: nothing happens.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(conversation(&app, id).await["assignee_id"], me, "{e}");

        let closed = app.post(&format!("/api/v1/conversations/{id}/status"), json!({"status": "closed"})).await;
        assert_eq!(closed.status, StatusCode::OK, "{e}: {:?}", closed.body);
        let let_go = eventually(15, || async { conversation(&app, id).await["assignee_id"].is_null() }).await;
        assert!(let_go, "{e}: still assigned");
        assert_eq!(conversation(&app, id).await["status"], "closed", "{e}: still closed");
        let activity = app.get(&format!("/api/v1/conversations/{id}/activity")).await.body;
        let kinds: Vec<&str> = activity.as_array().unwrap().iter().filter_map(|ev| ev["kind"].as_str()).collect();
        assert_eq!(kinds.last(), Some(&"conversation.unassigned"), "{e}: {kinds:?}");

        // The run and its history.
        let runs = app.get(&format!("/api/v1/workflows/{workflow}/runs")).await.body;
        assert_eq!(runs.as_array().unwrap().len(), 1, "{e}: {runs}");
        assert_eq!((runs[0]["status"].as_str(), runs[0]["conversation_id"].as_i64()), (Some("done"), Some(id)));
        let run = app.get(&format!("/api/v1/workflow-runs/{}", runs[0]["id"])).await.body;
        assert_eq!(run["history"][0]["step"], "unassign", "{e}: {run}");
        assert_eq!(run["history"][0]["outcome"], "done");
    }
}

#[tokio::test]
async fn a_keyword_run_notes_waits_an_hour_then_tags_on_its_own_version() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let definition = json!({
            "trigger": {"kind": "message_received", "keywords": ["price"]},
            "conditions": [{"subject": "message.text", "op": "not_contains", "value": "wholesale"}],
            "steps": [
                {"id": "note", "kind": "add_note", "text": "Asked about prices", "next": "wait"},
                {"id": "wait", "kind": "wait", "seconds": 3600, "next": "check"},
                {"id": "check", "kind": "branch", "rules": [
                    {"when": [{"subject": "message.text", "op": "contains", "value": "blue"}], "next": "tag"}]},
                {"id": "tag", "kind": "add_tags", "tags": ["follow-up"]}
            ]
        });
        let workflow = active_workflow(&app, "Prices", definition.clone()).await;
        wired.writes("33610000002", "hello").await;
        wired.writes("33610000002", "What is the PRICE of the blue one?").await;
        let id = app.conversation_of("33610000002").await;
        let noted = eventually(15, || async {
            app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.to_string().contains("Asked about prices")
        })
        .await;
        assert!(noted, "{e}: no note");
        let runs_path = format!("/api/v1/workflows/{workflow}/runs");
        let waiting = eventually(10, || async { app.get(&runs_path).await.body[0]["step"] == "check" }).await;
        let runs = app.get(&runs_path).await.body;
        assert!(waiting, "{e}: {runs}");
        assert_eq!(runs.as_array().unwrap().len(), 1, "{e}: one run, for the keyword only: {runs}");
        assert_eq!(runs[0]["status"], "running", "{e}");

        // A new version meanwhile: the run keeps the one it started on.
        let mut v2 = definition.clone();
        v2["steps"][3]["tags"] = json!(["v2"]);
        let changed = app.patch(&format!("/api/v1/workflows/{workflow}"), json!({"definition": v2})).await;
        assert_eq!(changed.status, StatusCode::OK);
        let published = app.post(&format!("/api/v1/workflows/{workflow}/publish"), json!({})).await;
        assert_eq!(published.body["version"], 2, "{e}");

        app.timer_passes(2).await;
        let tags = format!("/api/v1/conversations/{id}/tags");
        assert_eq!(app.get(&tags).await.body, json!([]), "{e}: the wait holds");
        app.clock.advance_secs(3600);
        let tagged = eventually(15, || async { app.get(&tags).await.body == json!(["follow-up"]) }).await;
        assert!(tagged, "{e}: {}", app.get(&tags).await.body);
        // The tag is on; its step's record follows in a moment.
        let run_path = format!("/api/v1/workflow-runs/{}", runs[0]["id"]);
        assert!(eventually(10, || async { app.get(&run_path).await.body["status"] == "done" }).await, "{e}");
        let run = app.get(&run_path).await.body;
        assert_eq!((run["status"].as_str(), run["version"].as_i64()), (Some("done"), Some(1)), "{e}: {run}");
        let steps: Vec<&str> = run["history"].as_array().unwrap().iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(steps, ["note", "wait", "check", "tag"], "{e}");
        assert_eq!(run["history"][2]["detail"]["next"], "tag", "{e}: the branch read the customer's message");
        // The trigger's conditions read the message that triggered it.
        wired.writes("33610000005", "wholesale price list?").await;
        wired.writes("33610000006", "price?").await;
        let other = app.conversation_of("33610000006").await;
        let started = eventually(15, || async {
            app.get(&runs_path).await.body.as_array().unwrap().iter().any(|r| r["conversation_id"] == other)
        })
        .await;
        assert!(started, "{e}");
        let wholesale = app.conversation_of("33610000005").await;
        let all = app.get(&runs_path).await.body;
        assert!(all.as_array().unwrap().iter().all(|r| r["conversation_id"] != wholesale), "{e}: {all}");
        assert_eq!(run["history"][1]["outcome"], "waiting");
    }
}

#[tokio::test]
async fn a_welcome_message_greets_a_customer_who_opens_a_conversation() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let installed = app.post("/api/v1/workflows/gallery/welcome", json!({"active": true})).await;
        assert_eq!(installed.status, StatusCode::CREATED, "{e}: {:?}", installed.body);
        assert_eq!(installed.body["paths_without_a_person"], json!([]), "{e}: it gives an email address");
        wired.writes("33610000003", "hi").await;
        let greeted = eventually(15, || async {
            wired.sandbox.sent().iter().any(|s| {
                s.to == "33610000003" && s.body["text"]["body"].as_str().is_some_and(|t| t.starts_with("Hello! Thanks"))
            })
        })
        .await;
        assert!(greeted, "{e}: no welcome");
        // Once: a second message in the same conversation opens nothing.
        wired.writes("33610000003", "are you there?").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let welcomes = || wired.sandbox.sent().iter().filter(|s| s.to == "33610000003").count();
        assert_eq!(welcomes(), 1, "{e}");
        // Closed, then the customer writes again: the conversation opens again, and is greeted.
        let id = app.conversation_of("33610000003").await;
        let closed = app.post(&format!("/api/v1/conversations/{id}/status"), json!({"status": "closed"})).await;
        assert_eq!(closed.status, StatusCode::OK, "{e}");
        wired.writes("33610000003", "back again").await;
        assert!(eventually(15, || async { welcomes() == 2 }).await, "{e}: {}", welcomes());
    }
}

#[tokio::test]
async fn drafts_with_problems_are_kept_but_not_published_and_only_admins_see_them() {
    for app in TestApp::all().await {
        let e = app.engine();
        let broken = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "hi", "kind": "send_message", "text": "Hi", "next": "nowhere"}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Broken", "definition": broken})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let id = made.body["id"].as_i64().unwrap();
        assert_eq!(made.body["problems"][0]["step"], "hi", "{e}: {:?}", made.body);
        assert_eq!(made.body["paths_without_a_person"], json!([["hi"]]), "{e}: it replies, no way to a person");
        let r = app.post(&format!("/api/v1/workflows/{id}/publish"), json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow"), "{e}");
        assert_eq!(r.body["error"]["field"], "steps.hi", "{e}: {:?}", r.body);
        let r = app.patch(&format!("/api/v1/workflows/{id}"), json!({"active": true})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_published"), "{e}");
        let typo = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "add_note", "txt": "x"}]});
        let r = app.patch(&format!("/api/v1/workflows/{id}"), json!({"definition": typo})).await;
        assert!(!r.body["problems"].as_array().unwrap().is_empty(), "{e}: {:?}", r.body);
        for bad in
            [json!({"name": " ", "definition": {}}), json!({"name": "x", "definition": []}), json!({"name": "x"})]
        {
            let r = app.post("/api/v1/workflows", bad.clone()).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: {bad}");
        }
        assert_eq!(app.get("/api/v1/workflows").await.body.as_array().unwrap().len(), 1, "{e}: nothing more saved");
        assert_eq!(app.post("/api/v1/workflows/gallery/nope", json!({})).await.status, StatusCode::NOT_FOUND);

        let agent = app.token_for("agent", "agent@acme.example").await;
        let r = app.call_as(Some(&agent), Method::GET, "/api/v1/workflows", None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
        let other = parley_server::admin::bootstrap(
            &*app.db.store,
            "globex",
            "owner@globex.example",
            "another good password".into(),
            crate::helpers::START,
        )
        .await
        .unwrap();
        for (method, path) in [
            (Method::GET, format!("/api/v1/workflows/{id}")),
            (Method::PATCH, format!("/api/v1/workflows/{id}")),
            (Method::POST, format!("/api/v1/workflows/{id}/publish")),
            (Method::GET, format!("/api/v1/workflows/{id}/runs")),
            (Method::DELETE, format!("/api/v1/workflows/{id}")),
        ] {
            let r = app.call_as(Some(&other.token), method.clone(), &path, Some(json!({}))).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{e}: {method} {path}");
        }
        assert_eq!(app.delete(&format!("/api/v1/workflows/{id}")).await.status, StatusCode::NO_CONTENT, "{e}");
    }
}

#[tokio::test]
async fn a_workflow_that_feeds_itself_is_held_back_and_one_runs_by_hand() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        // Closing reopens and closes again: each run's close would start the next run.
        let spin = json!({"trigger": {"kind": "conversation_closed"}, "steps": [
            {"id": "reopen", "kind": "reopen", "next": "close"}, {"id": "close", "kind": "close"}]});
        let workflow = active_workflow(&app, "Spin", spin).await;
        wired.writes("33610000004", "hello").await;
        let id = app.conversation_of("33610000004").await;
        let closed = app.post(&format!("/api/v1/conversations/{id}/status"), json!({"status": "closed"})).await;
        assert_eq!(closed.status, StatusCode::OK, "{e}");
        let runs = format!("/api/v1/workflows/{workflow}/runs");
        let count = || async { app.get(&runs).await.body.as_array().map_or(0, Vec::len) };
        assert!(eventually(30, || async { count().await >= 10 }).await, "{e}: {}", count().await);
        tokio::time::sleep(Duration::from_millis(3000)).await;
        assert_eq!(count().await, 10, "{e}: held back after ten runs in an hour");
        assert!(app.get(&runs).await.body.as_array().unwrap().iter().all(|r| r["status"] == "done"), "{e}");

        // By hand, on a conversation: the published version runs once more.
        let note = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "n", "kind": "add_note", "text": "Checked by hand", "next": "f"},
            {"id": "f", "kind": "set_field", "field": "checked", "value": "yes"}]});
        let made = app.post("/api/v1/workflows", json!({"name": "By hand", "definition": note})).await;
        let by_hand = made.body["id"].as_i64().unwrap();
        let start = format!("/api/v1/workflows/{by_hand}/runs");
        let r = app.post(&start, json!({"conversation_id": id})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_published"), "{e}");
        app.post(&format!("/api/v1/workflows/{by_hand}/publish"), json!({})).await;
        let r = app.post(&start, json!({"conversation_id": 999_999})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}");
        let r = app.post(&start, json!({"conversation_id": id})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
        let noted = eventually(15, || async {
            app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.to_string().contains("Checked by hand")
        })
        .await;
        assert!(noted, "{e}");
        let contact = app.get(&format!("/api/v1/conversations/{id}")).await.body["contact_id"].clone();
        let field = eventually(10, || async {
            app.get(&format!("/api/v1/contacts/{contact}")).await.body["fields"]["checked"] == "yes"
        })
        .await;
        assert!(field, "{e}: {}", app.get(&format!("/api/v1/contacts/{contact}")).await.body);

        // One workflow starts another on the same conversation.
        let ping = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "tag", "kind": "add_tags", "tags": ["pinged"], "next": "pong"},
            {"id": "pong", "kind": "run_workflow", "workflow_id": by_hand}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Ping", "definition": ping})).await;
        let ping_id = made.body["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/workflows/{ping_id}/publish"), json!({})).await;
        let r = app.post(&format!("/api/v1/workflows/{ping_id}/runs"), json!({"conversation_id": id})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
        let by_hand_runs = format!("/api/v1/workflows/{by_hand}/runs");
        let twice =
            eventually(15, || async { app.get(&by_hand_runs).await.body.as_array().map_or(0, Vec::len) == 2 }).await;
        assert!(twice, "{e}: {}", app.get(&by_hand_runs).await.body);
        let ping_run = app.get(&format!("/api/v1/workflow-runs/{}", r.body["id"])).await.body;
        assert_eq!(ping_run["history"][1]["detail"]["workflow_id"], by_hand, "{e}: {ping_run}");
        // A workflow that does not exist fails the run visibly.
        let lost = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "x", "kind": "run_workflow", "workflow_id": 999999}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Lost", "definition": lost})).await;
        let lost_id = made.body["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/workflows/{lost_id}/publish"), json!({})).await;
        let r = app.post(&format!("/api/v1/workflows/{lost_id}/runs"), json!({"conversation_id": id})).await;
        let run_path = format!("/api/v1/workflow-runs/{}", r.body["id"]);
        assert!(eventually(15, || async { app.get(&run_path).await.body["status"] == "failed" }).await, "{e}");
        assert!(app.get(&run_path).await.body["error"].as_str().unwrap().contains("999999"), "{e}");
    }
}

#[tokio::test]
async fn a_number_lists_its_automations_without_a_way_to_a_person() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let channel = wired.channel["id"].as_i64().unwrap();
        let report = format!("/api/v1/channels/{channel}/automations-without-a-person");
        assert_eq!(app.get(&report).await.body, json!([]), "{e}");
        let replies = json!({"trigger": {"kind": "conversation_opened"}, "steps": [
            {"id": "hi", "kind": "send_message", "text": "Hi!"}]});
        let lonely = active_workflow(&app, "Hi only", replies.clone()).await;
        let mut elsewhere = replies.clone();
        elsewhere["conditions"] = json!([{"subject": "conversation.channel_id", "op": "equals", "value": "999999"}]);
        active_workflow(&app, "Another number", elsewhere).await;
        let mut with_phone = replies;
        with_phone["steps"][0]["text"] = json!("Hi! Call us on 0612345678.");
        active_workflow(&app, "Hi and a phone", with_phone).await;
        let made = app.post("/api/v1/bots", json!({"name": "Silent", "handover_keywords": []})).await;
        let bot = made.body["bot"]["id"].as_i64().unwrap();
        app.post("/api/v1/bots", json!({"name": "Polite"})).await;

        let listed = app.get(&report).await.body;
        let who: Vec<(String, i64)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["kind"].as_str().unwrap().to_owned(), u["id"].as_i64().unwrap()))
            .collect();
        assert_eq!(who, vec![("workflow".to_owned(), lonely), ("bot".to_owned(), bot)], "{e}: {listed}");
        assert_eq!(listed[0]["why"], "hi", "{e}");
        let agent = app.token_for("agent", "agent@acme.example").await;
        assert_eq!(app.call_as(Some(&agent), Method::GET, &report, None).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get("/api/v1/channels/999999/automations-without-a-person").await.status, StatusCode::NOT_FOUND);
    }
}

/// Two servers on one PostgreSQL database (as two processes would be), both running the
/// workflow workers: thirty runs are shared between them, and each step is taken once — one note
/// and one tag per conversation, histories without a repeated step.
#[tokio::test]
async fn two_servers_on_postgres_share_the_runs_and_take_each_step_once() {
    let Some(db) = parley_store::testing::TestDatabase::postgres().await else { return };
    let (url, schema) = (db.url.clone(), db.schema.clone());
    let app = TestApp::spawn(db).await;
    let wired = app.wired().await;
    let store = parley_store::open_url(&url, schema.as_deref()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state =
        parley_server::AppState::new(store, app.clock.clone(), parley_server::secrets::SecretBox::random(), dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(parley_server::serve(listener, state, std::future::pending()));

    let definition = json!({"trigger": {"kind": "message_received"}, "steps": [
        {"id": "note", "kind": "add_note", "text": "Seen by a workflow", "next": "wait"},
        {"id": "wait", "kind": "wait", "seconds": 600, "next": "tag"},
        {"id": "tag", "kind": "add_tags", "tags": ["followed-up"]}]});
    let workflow = active_workflow(&app, "Shared", definition).await;
    let phones: Vec<String> = (0..30).map(|i| format!("3361100{i:04}")).collect();
    let items = phones
        .iter()
        .map(|p| {
            wired.sandbox.message(
                &wired.number.phone_number_id,
                &parley_sandbox::Customer::new(p, "C"),
                &parley_sandbox::Say::text("hi"),
            )
        })
        .collect();
    wired.sandbox.deliver(items, parley_sandbox::Batching::default());
    assert!(wired.sandbox.wait_idle(Duration::from_secs(30)).await);
    let runs = format!("/api/v1/workflows/{workflow}/runs");
    let waiting = eventually(30, || async {
        let list = app.get(&runs).await.body;
        list.as_array().is_some_and(|l| l.len() == 30 && l.iter().all(|r| r["step"] == "tag"))
    });
    assert!(waiting.await, "{}", app.get(&runs).await.body);
    app.clock.advance_secs(600);
    let done = eventually(30, || async {
        app.get(&runs).await.body.as_array().is_some_and(|l| l.iter().all(|r| r["status"] == "done"))
    });
    assert!(done.await, "{}", app.get(&runs).await.body);
    for run in app.get(&runs).await.body.as_array().unwrap() {
        let history = app.get(&format!("/api/v1/workflow-runs/{}", run["id"])).await.body;
        let steps: Vec<&str> =
            history["history"].as_array().unwrap().iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(steps, ["note", "wait", "tag"], "{history}");
        let c = run["conversation_id"].as_i64().unwrap();
        let notes = app.get(&format!("/api/v1/conversations/{c}/notes")).await.body;
        assert_eq!(notes.as_array().unwrap().len(), 1, "{notes}");
        assert_eq!(app.get(&format!("/api/v1/conversations/{c}/tags")).await.body, json!(["followed-up"]));
    }
}

/// "Once per contact": a contact who writes again, even on another day, starts no second run;
/// another contact does.
#[tokio::test]
async fn a_once_per_contact_workflow_runs_once_for_each_contact() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let definition = json!({"trigger": {"kind": "message_received"}, "steps": [
            {"id": "note", "kind": "add_note", "text": "First contact"}]});
        let made = app
            .post("/api/v1/workflows", json!({"name": "Once", "definition": definition, "once_per_contact": true}))
            .await;
        let id = made.body["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/workflows/{id}/publish"), json!({})).await;
        app.patch(&format!("/api/v1/workflows/{id}"), json!({"active": true})).await;
        let runs = format!("/api/v1/workflows/{id}/runs");
        let count = || async { app.get(&runs).await.body.as_array().map_or(0, Vec::len) };
        wired.writes("33610000071", "hello").await;
        assert!(eventually(15, || async { count().await == 1 }).await, "{e}");
        assert!(eventually(10, || async { app.get(&runs).await.body[0]["status"] == "done" }).await, "{e}");
        wired.writes("33610000071", "me again").await;
        app.clock.advance_secs(2 * 86_400);
        wired.writes("33610000071", "and again, days later").await;
        app.timer_passes(3).await;
        assert_eq!(count().await, 1, "{e}: once for this contact");
        wired.writes("33610000072", "hello").await;
        assert!(eventually(15, || async { count().await == 2 }).await, "{e}: another contact");
    }
}

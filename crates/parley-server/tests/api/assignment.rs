//! Working conversations through the API on both engines: statuses, assignment and who may
//! assign whom; closing keeps the assignee and a customer's message reopens; every change is an
//! event naming who made it.

use parley_core::Clock;
use parley_sandbox::{Customer, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

/// Ana writes in; the id of the conversation that opens.
async fn first_conversation(app: &TestApp, wired: &crate::helpers::Wired) -> i64 {
    let pnid = &wired.number.phone_number_id;
    wired.sandbox.say(pnid, &Customer::new("33612345678", "Ana"), Say::text("hello"));
    let list = "/api/v1/conversations?limit=10";
    assert!(
        eventually(10, || async { app.get(list).await.body["items"].as_array().is_some_and(|i| i.len() == 1) }).await
    );
    app.get(list).await.body["items"][0]["id"].as_i64().unwrap()
}

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body
}

#[tokio::test]
async fn conversations_are_assigned_closed_and_reopened_with_who_did_it() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        let id = first_conversation(&app, &wired).await;
        let owner = app.user_id(&app.token).await;
        let agent_token = app.token_for("agent", "agent@acme.example").await;
        let agent = app.user_id(&agent_token).await;
        let other_token = app.token_for("agent", "other@acme.example").await;
        let assign = |user: Value| json!({"user_id": user});
        let url = format!("/api/v1/conversations/{id}/assign");

        // Owners and managers assign anyone.
        let r = app.post(&url, assign(json!(agent))).await;
        assert_eq!((r.status, r.body["assignee_id"].as_i64()), (StatusCode::OK, Some(agent)), "{e}: {}", r.body);
        assert_eq!(app.post(&url, assign(json!(999_999))).await.code(), "unknown_user");
        // An agent lets go of their own, takes an unassigned one, never someone else's.
        assert_eq!(post_as(&app, &url, &other_token, assign(json!(null))).await.status, StatusCode::FORBIDDEN, "{e}");
        assert_eq!(post_as(&app, &url, &agent_token, assign(json!(owner))).await.status, StatusCode::FORBIDDEN);
        assert_eq!(post_as(&app, &url, &agent_token, assign(json!(null))).await.body["assignee_id"], Value::Null);
        let other = app.user_id(&other_token).await;
        assert_eq!(post_as(&app, &url, &other_token, assign(json!(other))).await.body["assignee_id"], other);
        assert_eq!(
            post_as(&app, &url, &agent_token, assign(json!(agent))).await.status,
            StatusCode::FORBIDDEN,
            "{e}: taken"
        );

        // Closing keeps the assignee; the customer's next message reopens the conversation.
        let status = format!("/api/v1/conversations/{id}/status");
        assert_eq!(app.post(&status, json!({"status": "snoozed"})).await.status, StatusCode::BAD_REQUEST);
        let closed = app.post(&status, json!({"status": "closed"})).await;
        assert_eq!(
            (closed.body["status"].as_str(), closed.body["assignee_id"].as_i64()),
            (Some("closed"), Some(other))
        );
        wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana"), Say::text("one more thing"));
        assert!(eventually(10, || async { conversation(&app, id).await["status"] == "open" }).await, "{e}: reopened");
        assert_eq!(conversation(&app, id).await["assignee_id"], other, "{e}: still assigned");
        assert_eq!(
            app.post("/api/v1/conversations/999999/status", json!({"status": "open"})).await.status,
            StatusCode::NOT_FOUND
        );

        let events = app.get("/api/v1/events?after=0&limit=1000").await.body;
        let mine: Vec<&Value> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|ev| ev["subject_id"] == id && ev["kind"].as_str().unwrap().starts_with("conversation."))
            .collect();
        let kinds: Vec<&str> = mine.iter().map(|ev| ev["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "conversation.opened",
                "conversation.assigned",
                "conversation.unassigned",
                "conversation.assigned",
                "conversation.status_changed",
                "conversation.reopened"
            ],
            "{e}"
        );
        assert_eq!((mine[1]["payload"]["by"].as_i64(), mine[1]["payload"]["to"].as_i64()), (Some(owner), Some(agent)));
        assert_eq!(mine[4]["payload"]["by"], owner, "{e}: the owner closed it");
    }
}

async fn post_as(app: &TestApp, url: &str, token: &str, body: Value) -> crate::helpers::Reply {
    app.call_as(Some(token), Method::POST, url, Some(body)).await
}

#[tokio::test]
async fn snoozed_conversations_wake_at_their_time_or_when_the_customer_writes() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        let id = first_conversation(&app, &wired).await;
        let status = format!("/api/v1/conversations/{id}/status");
        let in_an_hour = crate::helpers::START.plus_secs(3600).to_rfc3339();
        let past = crate::helpers::START.plus_secs(-1).to_rfc3339();

        assert_eq!(app.post(&status, json!({"status": "snoozed"})).await.body["error"]["field"], "until");
        assert_eq!(
            app.post(&status, json!({"status": "snoozed", "until": past})).await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.post(&status, json!({"status": "closed", "until": in_an_hour})).await.status,
            StatusCode::BAD_REQUEST
        );
        let snoozed = app.post(&status, json!({"status": "snoozed", "until": in_an_hour})).await;
        assert_eq!(snoozed.body["status"], "snoozed", "{e}: {}", snoozed.body);
        assert!(!snoozed.body["snoozed_until"].is_null());
        // Not before its time: two full passes of the timers worker since the snooze (the
        // first may have begun before it) leave it snoozed...
        app.timer_passes(2).await;
        assert_eq!(conversation(&app, id).await["status"], "snoozed", "{e}");
        // ...and at it.
        app.clock.advance_secs(3600);
        assert!(eventually(10, || async { conversation(&app, id).await["status"] == "open" }).await, "{e}: woke up");
        assert_eq!(conversation(&app, id).await["snoozed_until"], Value::Null);

        // Snoozed again, the customer writes first: open at once.
        let later = crate::helpers::START.plus_secs(3 * 3600).to_rfc3339();
        app.post(&status, json!({"status": "snoozed", "until": later})).await;
        wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana"), Say::text("still there?"));
        assert!(eventually(10, || async { conversation(&app, id).await["status"] == "open" }).await, "{e}");
        assert_eq!(conversation(&app, id).await["snoozed_until"], Value::Null);
    }
}

#[tokio::test]
async fn new_conversations_go_to_available_agents_in_turn_or_by_load() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        let a_token = app.token_for("agent", "a@acme.example").await;
        let b_token = app.token_for("agent", "b@acme.example").await;
        let (a, b) = (app.user_id(&a_token).await, app.user_id(&b_token).await);
        let agent_put = app
            .call_as(Some(&a_token), Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "round_robin"})))
            .await;
        assert_eq!(agent_put.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.call(Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "random"}))).await.status,
            StatusCode::BAD_REQUEST
        );
        let set = app
            .call(Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "round_robin", "max_open": null})))
            .await;
        assert_eq!(set.body, json!({"mode": "round_robin", "max_open": null}), "{e}");

        // Three customers, one after the other: A, B, A (the owner is no agent).
        let customers = ["33612340001", "33612340002", "33612340003"];
        for (i, wa) in customers.iter().enumerate() {
            wired.sandbox.say(&pnid, &Customer::new(wa, "C"), Say::text("hi"));
            let list = "/api/v1/conversations?limit=50";
            assert!(
                eventually(10, || async {
                    app.get(list).await.body["items"].as_array().is_some_and(|v| v.len() == i + 1)
                })
                .await
            );
        }
        let assignees = |body: Value| -> Vec<i64> {
            let mut v: Vec<i64> =
                body["items"].as_array().unwrap().iter().filter_map(|c| c["assignee_id"].as_i64()).collect();
            v.sort();
            v
        };
        let mut expected = vec![a, b, a];
        expected.sort();
        assert_eq!(assignees(app.get("/api/v1/conversations?limit=50").await.body), expected, "{e}: in turn");

        // B steps away: the next one goes to A even though it is B's turn.
        let off = app
            .call_as(Some(&b_token), Method::PUT, "/api/v1/me/availability", Some(json!({"available": false})))
            .await;
        assert_eq!(off.body["available"], false);
        wired.sandbox.say(&pnid, &Customer::new("33612340004", "D"), Say::text("hi"));
        assert!(
            eventually(10, || async {
                app.get("/api/v1/conversations?limit=50").await.body["items"].as_array().is_some_and(|v| v.len() == 4)
            })
            .await
        );
        let newest = &app.get("/api/v1/conversations?limit=1").await.body["items"][0];
        assert_eq!(newest["assignee_id"], a, "{e}: only available agents");

        // A cap: A has 3 open, B is away, so the next one waits unassigned.
        app.call(Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "least_open", "max_open": 3}))).await;
        wired.sandbox.say(&pnid, &Customer::new("33612340005", "E"), Say::text("hi"));
        assert!(
            eventually(10, || async {
                app.get("/api/v1/conversations?limit=50").await.body["items"].as_array().is_some_and(|v| v.len() == 5)
            })
            .await
        );
        let newest = &app.get("/api/v1/conversations?limit=1").await.body["items"][0];
        assert_eq!(newest["assignee_id"], Value::Null, "{e}: nobody under the cap");
        // Back: least-open picks B (0 open) over A (3).
        app.call_as(Some(&b_token), Method::PUT, "/api/v1/me/availability", Some(json!({"available": true}))).await;
        wired.sandbox.say(&pnid, &Customer::new("33612340006", "F"), Say::text("hi"));
        assert!(
            eventually(10, || async {
                app.get("/api/v1/conversations?limit=50").await.body["items"].as_array().is_some_and(|v| v.len() == 6)
            })
            .await
        );
        let newest = &app.get("/api/v1/conversations?limit=1").await.body["items"][0];
        assert_eq!(newest["assignee_id"], b, "{e}: the least loaded");
        let me = app.call_as(Some(&b_token), Method::GET, "/api/v1/me/availability", None).await;
        assert_eq!(me.body["available"], true);
    }
}

async fn reopen(app: &TestApp, status_path: &str) {
    let r = app.post(status_path, json!({"status": "open"})).await;
    assert_eq!(r.body["status"], "open", "{}", r.body);
}

#[tokio::test]
async fn closing_notes_follow_the_workspace_mode() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let id = first_conversation(&app, &wired).await;
        let status = format!("/api/v1/conversations/{id}/status");
        let settings = "/api/v1/workspace/closing-notes";
        assert_eq!(app.get(settings).await.body, json!({"mode": "off", "categories": []}), "{e}");
        // Off: no note.
        assert_eq!(
            app.post(&status, json!({"status": "closed", "summary": "paid"})).await.code(),
            "invalid_closing_note"
        );
        let agent = app.token_for("agent", "agent@acme.example").await;
        let put = json!({"mode": "both", "categories": ["sale", "support"]});
        assert_eq!(
            app.call_as(Some(&agent), Method::PUT, settings, Some(put.clone())).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.call(Method::PUT, settings, Some(json!({"mode": "category", "categories": []}))).await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(app.call(Method::PUT, settings, Some(put)).await.body["mode"], "both");
        // Both required, the category from the list.
        let missing = app.post(&status, json!({"status": "closed", "category": "sale"})).await;
        assert_eq!(
            (missing.code(), missing.body["error"]["field"].as_str()),
            ("invalid_closing_note", Some("summary"))
        );
        let unknown = app.post(&status, json!({"status": "closed", "category": "fun", "summary": "x"})).await;
        assert_eq!(unknown.body["error"]["field"], "category", "{e}");
        assert_eq!(conversation(&app, id).await["status"], "open", "{e}: refusals change nothing");
        assert_eq!(
            app.post(&status, json!({"status": "pending", "category": "sale"})).await.status,
            StatusCode::BAD_REQUEST
        );
        let closed =
            app.post(&status, json!({"status": "closed", "category": "sale", "summary": " Paid by card "})).await;
        assert_eq!(
            (
                closed.body["status"].as_str(),
                closed.body["closing_category"].as_str(),
                closed.body["closing_summary"].as_str()
            ),
            (Some("closed"), Some("sale"), Some("Paid by card")),
            "{e}: {}",
            closed.body
        );
        let events = app.get("/api/v1/events?after=0&limit=1000").await.body;
        let last = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|ev| ev["kind"] == "conversation.status_changed")
            .unwrap()
            .clone();
        assert_eq!(last["payload"]["closing_note"], json!({"category": "sale", "summary": "Paid by card"}));

        // A manager sets the mode too. Optional: with or without a note; a note still names a
        // listed category.
        let manager = app.token_for("manager", "manager@acme.example").await;
        let optional = json!({"mode": "optional", "categories": ["sale"]});
        let put = app.call_as(Some(&manager), Method::PUT, settings, Some(optional)).await;
        assert_eq!((put.status, put.body["mode"].as_str()), (StatusCode::OK, Some("optional")), "{e}");
        reopen(&app, &status).await;
        let pending = app.post(&status, json!({"status": "pending"})).await;
        assert_eq!(pending.body["status"], "pending", "{e}: {}", pending.body);
        assert_eq!(conversation(&app, id).await["status"], "pending", "{e}");
        let bare = app.post(&status, json!({"status": "closed"})).await;
        assert_eq!(bare.body["status"], "closed", "{e}: optional notes may be left out: {}", bare.body);
        reopen(&app, &status).await;
        let summary_only = app.post(&status, json!({"status": "closed", "summary": "called back"})).await;
        assert_eq!(
            (summary_only.body["closing_category"].clone(), summary_only.body["closing_summary"].as_str()),
            (Value::Null, Some("called back")),
            "{e}: {}",
            summary_only.body
        );
        reopen(&app, &status).await;
        let unlisted = app.post(&status, json!({"status": "closed", "category": "support"})).await;
        assert_eq!(unlisted.body["error"]["field"], "category", "{e}: support is no longer listed");

        // Category required: the category alone is enough, nothing is not.
        let category = json!({"mode": "category", "categories": ["sale"]});
        assert_eq!(app.call(Method::PUT, settings, Some(category)).await.body["mode"], "category");
        let none = app.post(&status, json!({"status": "closed", "summary": "no category"})).await;
        assert_eq!((none.code(), none.body["error"]["field"].as_str()), ("invalid_closing_note", Some("category")));
        assert_eq!(conversation(&app, id).await["status"], "open", "{e}: refusals change nothing");
        let with = app.post(&status, json!({"status": "closed", "category": "sale"})).await;
        assert_eq!(
            (with.body["status"].as_str(), with.body["closing_category"].as_str()),
            (Some("closed"), Some("sale")),
            "{e}: {}",
            with.body
        );
    }
}

#[tokio::test]
async fn answered_conversations_close_by_themselves_after_the_workspace_hours() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        let ana = first_conversation(&app, &wired).await;
        let store = app.state.store.clone();
        assert_eq!(
            app.get("/api/v1/workspace/auto-close").await.body["after_hours"],
            Value::Null,
            "{e}: off by default"
        );
        let bad = app.call(Method::PUT, "/api/v1/workspace/auto-close", Some(json!({"after_hours": 0}))).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}");
        let agent = app.token_for("agent", "agent@acme.example").await;
        let refused = app
            .call_as(Some(&agent), Method::PUT, "/api/v1/workspace/auto-close", Some(json!({"after_hours": 4})))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");

        // An agent answers Ana; Bao writes and gets no answer.
        let reply = json!({"channel_id": wired.channel["id"], "to": "phone:+33612345678", "type": "text", "text": {"body": "On it!"}});
        assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED, "{e}");
        wired.sandbox.say(&pnid, &Customer::new("84912345678", "Bao"), Say::text("hello?"));
        let list = "/api/v1/conversations?limit=10";
        assert!(eventually(10, || async { app.get(list).await.body["items"].as_array().unwrap().len() == 2 }).await);

        // Off: nothing closes however long the silence.
        app.clock.advance_secs(100 * 3600);
        assert_eq!(store.auto_close_idle(app.clock.now()).await.unwrap(), 0, "{e}");

        // On at 4 h: not a second early; then only the answered one closes, keeping its assignee.
        app.post(&format!("/api/v1/conversations/{ana}/assign"), json!({"user_id": null})).await;
        let set = app.call(Method::PUT, "/api/v1/workspace/auto-close", Some(json!({"after_hours": 4}))).await;
        assert_eq!(set.body["after_hours"], 4, "{e}");
        wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana"), Say::text("any news?"));
        assert!(eventually(10, || async { app.get(list).await.body["items"][0]["id"] == ana }).await);
        let reply = json!({"channel_id": wired.channel["id"], "to": "phone:+33612345678", "type": "text", "text": {"body": "Tomorrow."}});
        assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED, "{e}");
        let owner = app.user_id(&app.token).await;
        app.post(&format!("/api/v1/conversations/{ana}/assign"), json!({"user_id": owner})).await;
        app.clock.advance_secs(4 * 3600 - 1);
        assert_eq!(store.auto_close_idle(app.clock.now()).await.unwrap(), 0, "{e}: 3:59:59 is not 4 h");
        app.clock.advance_secs(1);
        // The server's timer closes it (the clock moved more than a minute since its last look).
        let conv = format!("/api/v1/conversations/{ana}");
        assert!(eventually(10, || async { app.get(&conv).await.body["status"] == "closed" }).await, "{e}");
        assert_eq!(app.get(&conv).await.body["assignee_id"], owner, "{e}: the assignee stays");
        let statuses: Vec<Value> =
            app.get(list).await.body["items"].as_array().unwrap().iter().map(|c| c["status"].clone()).collect();
        assert_eq!(statuses.iter().filter(|s| *s == "open").count(), 1, "{e}: Bao was never answered: {statuses:?}");
        let events = app.get("/api/v1/events?limit=1000").await.body;
        assert!(events.to_string().contains("auto_closed"), "{e}");
    }
}

/// The activity the thread shows: each change to the conversation, oldest first, with who made
/// it — assignment, tags added and removed, closing with its note, reopening — and no notes.
#[tokio::test]
async fn a_conversations_activity_says_who_did_what() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let id = first_conversation(&app, &wired).await;
        let owner = app.user_id(&app.token).await;
        let agent_token = app.token_for("agent", "agent@acme.example").await;
        let agent = app.user_id(&agent_token).await;
        app.post(&format!("/api/v1/conversations/{id}/assign"), json!({"user_id": agent})).await;
        let tags = format!("/api/v1/conversations/{id}/tags");
        post_as(&app, &tags, &agent_token, json!({"tags": ["vip", "refund"]})).await;
        let removed = app.call_as(Some(&agent_token), Method::DELETE, &format!("{tags}/refund"), None).await;
        assert_eq!(removed.status, StatusCode::OK, "{e}: {:?}", removed.body);
        app.post(&format!("/api/v1/conversations/{id}/notes"), json!({"body": "called her"})).await;
        app.call(
            Method::PUT,
            "/api/v1/workspace/closing-notes",
            Some(json!({"mode": "optional", "categories": ["sale"]})),
        )
        .await;
        let closed = post_as(
            &app,
            &format!("/api/v1/conversations/{id}/status"),
            &agent_token,
            json!({"status": "closed", "category": "sale", "summary": "Paid"}),
        )
        .await;
        assert_eq!(closed.status, StatusCode::OK, "{e}: {:?}", closed.body);
        app.post(&format!("/api/v1/conversations/{id}/status"), json!({"status": "open"})).await;

        let activity = app.get(&format!("/api/v1/conversations/{id}/activity")).await;
        assert_eq!(activity.status, StatusCode::OK, "{e}");
        let lines: Vec<(String, Value)> = activity
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|ev| (ev["kind"].as_str().unwrap().to_owned(), ev["payload"]["by"].clone()))
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "conversation.opened",
                "conversation.assigned",
                "conversation.tags_changed",
                "conversation.tags_changed",
                "conversation.status_changed",
                "conversation.status_changed"
            ],
            "{e}: oldest first, notes left out"
        );
        assert_eq!(lines[1].1, json!(owner), "{e}: the owner assigned");
        assert_eq!(lines[2].1, json!(agent), "{e}: the agent tagged");
        let items = activity.body.as_array().unwrap();
        assert_eq!(items[2]["payload"]["added"], json!(["refund", "vip"]), "{e}");
        assert_eq!(items[3]["payload"]["removed"], json!(["refund"]), "{e}");
        assert_eq!(items[4]["payload"]["closing_note"], json!({"category": "sale", "summary": "Paid"}), "{e}");
        assert_eq!(
            (items[4]["payload"]["by"].clone(), items[5]["payload"]["status"].clone()),
            (json!(agent), json!("open"))
        );
        assert_eq!(app.get("/api/v1/conversations/999999/activity").await.status, StatusCode::NOT_FOUND, "{e}");
    }
}

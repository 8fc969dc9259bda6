//! Workflows (issue 18): the remaining triggers and steps, on both engines — a tag added (its
//! run removes it) and removed, an assignment, a conversation reopened by a workflow, a first
//! message matching a pattern; a new contact (its run waits, then sets a field); a jump loop
//! taken exactly its times; the least busy available agent.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};
use crate::workflows::active_workflow;

async fn tags_of(app: &TestApp, conversation: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{conversation}/tags")).await.body
}

async fn runs_of(app: &TestApp, workflow: i64) -> Vec<Value> {
    app.get(&format!("/api/v1/workflows/{workflow}/runs")).await.body.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn tags_assignments_reopenings_and_patterns_start_their_workflows() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let step = |id: &str, kind: &str, extra: Value| {
            let mut s = json!({"id": id, "kind": kind});
            s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            s
        };
        let added = active_workflow(
            &app,
            "VIP added",
            json!({"trigger": {"kind": "tag_added", "tag": "VIP"}, "steps": [
            step("note", "add_note", json!({"text": "A VIP!", "next": "untag"})),
            step("untag", "remove_tags", json!({"tags": ["vip"]}))]}),
        )
        .await;
        let removed = active_workflow(
            &app,
            "VIP removed",
            json!({"trigger": {"kind": "tag_removed", "tag": "vip"}, "steps": [
            step("tag", "add_tags", json!({"tags": ["was-vip"]}))]}),
        )
        .await;
        let assigned = active_workflow(
            &app,
            "Assigned",
            json!({"trigger": {"kind": "assignment_changed"}, "steps": [
            step("f", "set_field", json!({"field": "last_assignee", "value": "{{trigger.to|nobody}}"}))]}),
        )
        .await;
        let reopened = active_workflow(
            &app,
            "Reopened",
            json!({"trigger": {"kind": "conversation_opened", "by": "workflow"},
            "steps": [step("tag", "add_tags", json!({"tags": ["reopened-by-workflow"]}))]}),
        )
        .await;
        let order = active_workflow(
            &app,
            "Orders",
            json!({"trigger": {"kind": "message_received", "first_only": true,
            "pattern": "^order\\s*#?\\d+"}, "steps": [step("tag", "add_tags", json!({"tags": ["order"]}))]}),
        )
        .await;
        let reopen = json!({"trigger": {"kind": "manual"}, "steps": [step("r", "reopen", json!({}))]});
        let made = app.post("/api/v1/workflows", json!({"name": "Reopen", "definition": reopen})).await;
        let reopen_id = made.body["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/workflows/{reopen_id}/publish"), json!({})).await;

        // A first message matching the pattern; a second one starts nothing.
        wired.writes("33610000081", "ORDER #1234 is late").await;
        let id = app.conversation_of("33610000081").await;
        assert!(eventually(15, || async { tags_of(&app, id).await == json!(["order"]) }).await, "{e}");
        wired.writes("33610000081", "order 99 too").await;
        app.timer_passes(3).await;
        assert_eq!(runs_of(&app, order).await.len(), 1, "{e}: not the first message");

        // A tag added: noted and removed by the run, whose removal starts the other.
        let r = app.post(&format!("/api/v1/conversations/{id}/tags"), json!({"tags": ["vip"]})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        let both = eventually(15, || async { tags_of(&app, id).await == json!(["order", "was-vip"]) });
        assert!(both.await, "{e}: {}", tags_of(&app, id).await);
        let notes = app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.to_string();
        assert!(notes.contains("A VIP!"), "{e}: {notes}");
        assert_eq!((runs_of(&app, added).await.len(), runs_of(&app, removed).await.len()), (1, 1), "{e}");

        // An assignment: the field says to whom.
        let me = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/conversations/{id}/assign"), json!({"user_id": me})).await;
        let contact = app.get(&format!("/api/v1/conversations/{id}")).await.body["contact_id"].clone();
        let field =
            || async { app.get(&format!("/api/v1/contacts/{contact}")).await.body["fields"]["last_assignee"].clone() };
        let wanted = me.to_string();
        assert!(
            eventually(15, || async { field().await.as_str() == Some(wanted.as_str()) }).await,
            "{e}: {}",
            field().await
        );
        assert_eq!(runs_of(&app, assigned).await.len(), 1, "{e}");

        // Closed by a person, reopened by a workflow: only the "by workflow" trigger fires.
        app.post(&format!("/api/v1/conversations/{id}/status"), json!({"status": "closed"})).await;
        let r = app.post(&format!("/api/v1/workflows/{reopen_id}/runs"), json!({"conversation_id": id})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}");
        let tagged = eventually(15, || async { tags_of(&app, id).await.to_string().contains("reopened-by-workflow") });
        assert!(tagged.await, "{e}: {}", tags_of(&app, id).await);
        assert_eq!(app.get(&format!("/api/v1/conversations/{id}")).await.body["status"], "open", "{e}");
        assert_eq!(runs_of(&app, reopened).await.len(), 1, "{e}");
        // A bad pattern is refused at publishing.
        let bad = json!({"trigger": {"kind": "message_received", "pattern": "(unclosed"}, "steps": [step("w", "wait", json!({"seconds": 5}))]});
        let made = app.post("/api/v1/workflows", json!({"name": "Bad", "definition": bad})).await;
        assert!(made.body["problems"].to_string().contains("pattern"), "{e}: {:?}", made.body);
    }
}

#[tokio::test]
async fn a_new_contact_a_jump_loop_and_the_least_busy_agent() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        // A new contact: the run waits a minute, then sets a field on the contact.
        active_workflow(
            &app,
            "New contact",
            json!({"trigger": {"kind": "contact_created"}, "steps": [
            {"id": "wait", "kind": "wait", "seconds": 60, "next": "f"},
            {"id": "f", "kind": "set_field", "field": "welcomed", "value": "yes"}]}),
        )
        .await;
        let made = app.post("/api/v1/contacts", json!({"name": "Lan", "phone": "+84912000333"})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let path = format!("/api/v1/contacts/{}", made.body["id"]);
        app.timer_passes(3).await;
        assert!(app.get(&path).await.body["fields"]["welcomed"].is_null(), "{e}: the wait holds");
        app.clock.advance_secs(61);
        assert!(eventually(15, || async { app.get(&path).await.body["fields"]["welcomed"] == "yes" }).await, "{e}");

        // A jump taken exactly twice: three passes, then on.
        let looping = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "n", "kind": "add_note", "text": "pass", "next": "j"},
            {"id": "j", "kind": "jump", "to": "n", "max_times": 2, "next": "end"},
            {"id": "end", "kind": "add_tags", "tags": ["looped"]}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Loop", "definition": looping})).await;
        let loop_id = made.body["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/workflows/{loop_id}/publish"), json!({})).await;
        wired.writes("33610000091", "hi").await;
        let id = app.conversation_of("33610000091").await;
        let run = app.post(&format!("/api/v1/workflows/{loop_id}/runs"), json!({"conversation_id": id})).await;
        let run_path = format!("/api/v1/workflow-runs/{}", run.body["id"]);
        assert!(eventually(15, || async { app.get(&run_path).await.body["status"] == "done" }).await, "{e}");
        let history = app.get(&run_path).await.body;
        let steps: Vec<&str> =
            history["history"].as_array().unwrap().iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(steps, ["n", "j", "n", "j", "n", "j", "end"], "{e}");
        let notes = app.get(&format!("/api/v1/conversations/{id}/notes")).await.body;
        assert_eq!(notes.as_array().unwrap().len(), 3, "{e}");

        // The least busy available agent: A has two open conversations, B none.
        let a_token = app.token_for("agent", "a@acme.example").await;
        let b_token = app.token_for("agent", "b@acme.example").await;
        let (a, b) = (app.user_id(&a_token).await, app.user_id(&b_token).await);
        for phone in ["33610000092", "33610000093"] {
            wired.writes(phone, "hello").await;
            let c = app.conversation_of(phone).await;
            app.post(&format!("/api/v1/conversations/{c}/assign"), json!({"user_id": a})).await;
        }
        let least = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "a", "kind": "assign", "to": {"available": "least_open"}}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Least", "definition": least})).await;
        let least_id = made.body["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/workflows/{least_id}/publish"), json!({})).await;
        let r = app.post(&format!("/api/v1/workflows/{least_id}/runs"), json!({"conversation_id": id})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}");
        let conv = format!("/api/v1/conversations/{id}");
        assert!(eventually(15, || async { app.get(&conv).await.body["assignee_id"] == b }).await, "{e}");
        let agent = app.call_as(Some(&a_token), Method::GET, "/api/v1/workflows", None).await;
        assert_eq!(agent.status, StatusCode::FORBIDDEN, "{e}");
    }
}

//! Workflows (issue 18): the gallery's CSAT after close (buttons inside the window, the utility
//! template outside it, only when a person closes), and an `assign` step that picks available
//! agents in turn, of a team; on both engines.

use parley_core::Clock;
use parley_sandbox::{Batching, Customer, SandboxTemplate, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};
use crate::workflows::active_workflow;

async fn close(app: &TestApp, conversation: i64) {
    let r = app.post(&format!("/api/v1/conversations/{conversation}/status"), json!({"status": "closed"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn field(app: &TestApp, conversation: i64, key: &str) -> Value {
    let contact = app.get(&format!("/api/v1/conversations/{conversation}")).await.body["contact_id"].clone();
    app.get(&format!("/api/v1/contacts/{contact}")).await.body["fields"][key].clone()
}

#[tokio::test]
async fn csat_after_close_asks_inside_and_outside_the_window() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        wired.sandbox.add_template(SandboxTemplate {
            waba_id: wired.number.waba_id.clone(),
            name: "csat_survey".into(),
            language: "en".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "How did we do?"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Great"}, {"type": "QUICK_REPLY", "text": "Poor"}]}]),
        });
        let synced = app.post(&format!("/api/v1/channels/{}/templates/sync", wired.channel["id"]), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}");
        let installed = app.post("/api/v1/workflows/gallery/csat-after-close", json!({"active": true})).await;
        assert_eq!(installed.status, StatusCode::CREATED, "{e}: {:?}", installed.body);
        assert_eq!(installed.body["paths_without_a_person"], json!([]), "{e}: {:?}", installed.body);

        // Inside the window: buttons; a tap on Poor is tagged and noted.
        let ana = "33610000041";
        wired.writes(ana, "thanks, that's all").await;
        let id = app.conversation_of(ana).await;
        close(&app, id).await;
        assert!(eventually(15, || async { wired.received(ana).len() == 1 }).await, "{e}: no survey");
        let survey = wired.received(ana).remove(0);
        assert_eq!(survey.body["interactive"]["type"], "button", "{e}: {}", survey.body);
        let tap = Say::button_reply("option-3", "Poor", &survey.message_id);
        wired
            .sandbox
            .deliver(vec![wired.sandbox.message(&pnid, &Customer::new(ana, "Ana"), &tap)], Batching::default());
        let tags = format!("/api/v1/conversations/{id}/tags");
        assert!(eventually(15, || async { app.get(&tags).await.body == json!(["unhappy"]) }).await, "{e}");
        assert_eq!(field(&app, id, "csat").await, "Poor", "{e}");
        let notes = app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.to_string();
        assert!(
            eventually(10, || async {
                app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.to_string().contains("rated us Poor")
            })
            .await,
            "{e}: {notes}"
        );

        // Outside the window (Bao wrote two days ago): the template; a tap on its button answers.
        let bao = "33610000042";
        let two_days_ago = app.clock.now().as_secs() - 2 * 86_400;
        let old = wired.sandbox.message_at(&pnid, &Customer::new(bao, "Bao"), &Say::text("hi"), two_days_ago);
        wired.sandbox.deliver(vec![old], Batching::default());
        assert!(wired.sandbox.wait_idle(std::time::Duration::from_secs(20)).await);
        let bao_id = app.conversation_of(bao).await;
        close(&app, bao_id).await;
        assert!(eventually(15, || async { wired.received(bao).len() == 1 }).await, "{e}: no template");
        let survey = wired.received(bao).remove(0);
        assert_eq!(survey.body["type"], "template", "{e}: {}", survey.body);
        assert_eq!(survey.body["template"]["name"], "csat_survey", "{e}");
        let tap = Say::template_button("Great", "great", &survey.message_id);
        wired
            .sandbox
            .deliver(vec![wired.sandbox.message(&pnid, &Customer::new(bao, "Bao"), &tap)], Batching::default());
        assert!(eventually(15, || async { field(&app, bao_id, "csat").await == "Great" }).await, "{e}");
        assert_eq!(app.get(&format!("/api/v1/conversations/{bao_id}/tags")).await.body, json!([]), "{e}");
    }
}

#[tokio::test]
async fn an_assign_step_picks_available_agents_of_a_team_in_turn() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let a_token = app.token_for("agent", "a@acme.example").await;
        let b_token = app.token_for("agent", "b@acme.example").await;
        let c_token = app.token_for("agent", "c@acme.example").await;
        let (a, b, c) = (app.user_id(&a_token).await, app.user_id(&b_token).await, app.user_id(&c_token).await);
        let team = app.post("/api/v1/teams", json!({"name": "Sales"})).await;
        assert_eq!(team.status, StatusCode::CREATED, "{e}: {:?}", team.body);
        let team_id = team.body["id"].as_i64().unwrap();
        let members = format!("/api/v1/teams/{team_id}/members");
        let r = app.call(Method::PUT, &members, Some(json!({"user_ids": [a, b]}))).await;
        assert!(r.status.is_success(), "{e}: {:?}", r.body);
        let definition = json!({"trigger": {"kind": "conversation_opened", "by": "contact"}, "steps": [
            {"id": "assign", "kind": "assign", "to": {"available": "round_robin", "team_id": team_id}}]});
        active_workflow(&app, "Sales round-robin", definition).await;
        let mut assignees = Vec::new();
        for phone in ["33610000051", "33610000052", "33610000053"] {
            wired.writes(phone, "hello").await;
            let id = app.conversation_of(phone).await;
            let path = format!("/api/v1/conversations/{id}");
            assert!(eventually(15, || async { !app.get(&path).await.body["assignee_id"].is_null() }).await, "{e}");
            let conversation = app.get(&path).await.body;
            assert_eq!(conversation["team_id"], team_id, "{e}");
            assignees.push(conversation["assignee_id"].as_i64().unwrap());
        }
        assert_eq!(assignees, [a, b, a], "{e}: in turn, only the team's ({c} is not in it)");
        // B goes away: the next goes to A.
        let off =
            app.call_as(Some(&b_token), Method::PUT, "/api/v1/me/availability", Some(json!({"available": false})));
        assert_eq!(off.await.status, StatusCode::OK, "{e}");
        wired.writes("33610000054", "hello").await;
        let id = app.conversation_of("33610000054").await;
        let path = format!("/api/v1/conversations/{id}");
        assert!(eventually(15, || async { app.get(&path).await.body["assignee_id"] == a }).await, "{e}");
    }
}

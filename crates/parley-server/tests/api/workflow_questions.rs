//! Workflows (issue 18): the `ask_question` step and variables, on both engines. A customer
//! taps a button, then gives an invalid email, is asked again (the retry text filled with their
//! name) and answers; the answers fill the thanks message and a contact field. A question
//! times out on the injected clock and takes its timeout path; a person writing while a
//! question waits stops the run; bad settings and variables are refused at publishing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired, eventually};
use crate::workflows::active_workflow;

/// The bodies of what the sandbox's customer `to` received, in order.
fn received(wired: &Wired, to: &str) -> Vec<Value> {
    wired.received(to).into_iter().map(|s| s.body).collect()
}

async fn received_count(wired: &Wired, to: &str, n: usize) -> bool {
    eventually(15, || async { received(wired, to).len() >= n }).await
}

fn text_of(body: &Value) -> String {
    body.pointer("/text/body")
        .or_else(|| body.pointer("/interactive/body/text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn history(app: &TestApp, workflow: i64) -> (Value, Vec<(String, String)>) {
    let runs = app.get(&format!("/api/v1/workflows/{workflow}/runs")).await.body;
    let run = app.get(&format!("/api/v1/workflow-runs/{}", runs[0]["id"])).await.body;
    let steps = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["outcome"].as_str().unwrap().to_owned()))
        .collect();
    (run, steps)
}

#[tokio::test]
async fn answers_are_tapped_checked_asked_again_and_used() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let definition = json!({
            "trigger": {"kind": "message_received", "keywords": ["support"]},
            "steps": [
                {"id": "ask-team", "kind": "ask_question", "text": "Hi {{contact.first_name|there}}, which team?",
                 "expect": "choice", "options": ["Sales", "Support"], "timeout_seconds": 3600, "next": "ask-email"},
                {"id": "ask-email", "kind": "ask_question", "text": "Your email?", "expect": "email",
                 "save_to": "work_email", "timeout_seconds": 3600, "retries": 1,
                 "retry_text": "That is not an email, {{contact.first_name|friend}}. Again?",
                 "on_invalid": "gave-up", "next": "thanks"},
                {"id": "thanks", "kind": "send_message",
                 "text": "Thanks! {{answers.ask-team}} will write to {{answers.ask-email}} ({{contact.fields.plan|no plan}}). Call +33 1 23 45 67 89 any time."},
                {"id": "gave-up", "kind": "add_note", "text": "No email from {{contact.name}}"}
            ]
        });
        let workflow = active_workflow(&app, "Qualify", definition).await;
        let phone = "33610000011";
        wired.writes(phone, "I need support").await;
        assert!(received_count(&wired, phone, 1).await, "{e}: no question");
        let question = &received(&wired, phone)[0];
        assert_eq!(question["type"], "interactive", "{e}: {question}");
        assert_eq!(text_of(question), "Hi C, which team?", "{e}");
        assert_eq!(question["interactive"]["action"]["buttons"][1]["reply"]["title"], "Support", "{e}");

        // The customer taps "Support".
        let asked_id = wired.sandbox.sent().iter().find(|s| s.to == phone).unwrap().message_id.clone();
        let customer = parley_sandbox::Customer::new(phone, "C");
        let tap = parley_sandbox::Say::button_reply("option-2", "Support", &asked_id);
        wired
            .sandbox
            .deliver(vec![wired.sandbox.message(&wired.number.phone_number_id, &customer, &tap)], Default::default());
        assert!(received_count(&wired, phone, 2).await, "{e}: no second question");
        assert_eq!(text_of(&received(&wired, phone)[1]), "Your email?", "{e}");

        // Not an email: asked again, with the retry text.
        wired.writes(phone, "nope").await;
        assert!(received_count(&wired, phone, 3).await, "{e}: not asked again");
        assert_eq!(text_of(&received(&wired, phone)[2]), "That is not an email, C. Again?", "{e}");
        wired.writes(phone, "Lan@Example.COM").await;
        assert!(received_count(&wired, phone, 4).await, "{e}: no thanks");
        assert_eq!(
            text_of(&received(&wired, phone)[3]),
            "Thanks! Support will write to lan@example.com (no plan). Call +33 1 23 45 67 89 any time.",
            "{e}"
        );
        let id = app.conversation_of(phone).await;
        let contact = app.get(&format!("/api/v1/conversations/{id}")).await.body["contact_id"].clone();
        let contact = app.get(&format!("/api/v1/contacts/{contact}")).await.body;
        assert_eq!(contact["fields"]["work_email"], "lan@example.com", "{e}: {contact}");

        let done = eventually(10, || async { history(&app, workflow).await.0["status"] == "done" }).await;
        let (run, steps) = history(&app, workflow).await;
        assert!(done, "{e}: {run}");
        let outcomes: Vec<(&str, &str)> = steps.iter().map(|(s, o)| (s.as_str(), o.as_str())).collect();
        assert_eq!(
            outcomes,
            [
                ("ask-team", "waiting"),
                ("ask-team", "answered"),
                ("ask-email", "waiting"),
                ("ask-email", "asked_again"),
                ("ask-email", "answered"),
                ("thanks", "done")
            ],
            "{e}: {run}"
        );
        assert_eq!(run["history"][4]["detail"]["answer"], "lan@example.com", "{e}");
        assert_eq!(run["history"][3]["detail"]["invalid"], "not an email address", "{e}");
        assert_eq!(received(&wired, phone).len(), 4, "{e}: nothing sent twice");
    }
}

#[tokio::test]
async fn a_question_times_out_and_a_person_writing_stops_it() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let definition = json!({
            "trigger": {"kind": "message_received", "keywords": ["book"]},
            "steps": [
                {"id": "when", "kind": "ask_question", "text": "Which day? Or call +33 1 23 45 67 89.", "expect": "date",
                 "save_to": "booking", "timeout_seconds": 3600, "on_timeout": "late", "next": "ok"},
                {"id": "ok", "kind": "add_note", "text": "Booked {{answers.when}}"},
                {"id": "late", "kind": "add_tags", "tags": ["no-answer"]}
            ]
        });
        let workflow = active_workflow(&app, "Booking", definition).await;

        // Ana never answers: after an hour on the clock, the timeout path.
        let ana = "33610000012";
        wired.writes(ana, "book a table").await;
        assert!(received_count(&wired, ana, 1).await, "{e}");
        let id = app.conversation_of(ana).await;
        let tags = format!("/api/v1/conversations/{id}/tags");
        app.timer_passes(2).await;
        assert_eq!(app.get(&tags).await.body, json!([]), "{e}: still waiting");
        app.clock.advance_secs(3601);
        assert!(eventually(15, || async { app.get(&tags).await.body == json!(["no-answer"]) }).await, "{e}");
        let (run, steps) = history(&app, workflow).await;
        let outcomes: Vec<&str> = steps.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(outcomes, ["waiting", "timed_out", "done"], "{e}: {run}");
        // An answer after the timeout starts nothing and changes nothing.
        wired.writes(ana, "31/12/2026").await;
        app.timer_passes(2).await;
        assert!(app.get(&format!("/api/v1/conversations/{id}/notes")).await.body.as_array().unwrap().is_empty(), "{e}");

        // Bao is answered by a person while the question waits: the run stops there.
        let bao = "33610000013";
        wired.writes(bao, "book please").await;
        assert!(received_count(&wired, bao, 1).await, "{e}");
        let reply = json!({"channel_id": wired.channel["id"], "to": format!("phone:+{bao}"), "type": "text", "text": {"body": "I'll book it for you"}});
        assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED, "{e}");
        wired.writes(bao, "2026-12-31").await;
        let runs = format!("/api/v1/workflows/{workflow}/runs");
        let stopped = eventually(15, || async { app.get(&runs).await.body[0]["status"] == "cancelled" }).await;
        let latest = app.get(&runs).await.body[0].clone();
        assert!(stopped, "{e}: {latest}");
        assert!(latest["error"].as_str().unwrap().contains("person"), "{e}: {latest}");
        let bao_conv = app.conversation_of(bao).await;
        let notes = app.get(&format!("/api/v1/conversations/{bao_conv}/notes")).await.body;
        assert!(notes.as_array().unwrap().is_empty(), "{e}: {notes}");
        let contact = app.get(&format!("/api/v1/conversations/{bao_conv}")).await.body["contact_id"].clone();
        assert!(app.get(&format!("/api/v1/contacts/{contact}")).await.body["fields"]["booking"].is_null(), "{e}");

        // Bad settings and variables are named at publishing.
        let bad = json!({"trigger": {"kind": "manual"}, "steps": [
            {"id": "q", "kind": "ask_question", "text": "Pick {{contact}}", "expect": "choice", "options": [],
             "timeout_seconds": 5, "on_timeout": "nowhere"}]});
        let made = app.post("/api/v1/workflows", json!({"name": "Bad", "definition": bad})).await;
        let bad_id = made.body["id"].as_i64().unwrap();
        let refused = app.post(&format!("/api/v1/workflows/{bad_id}/publish"), json!({})).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow"), "{e}");
        let text = refused.body.to_string();
        for expected in ["names no value", "1 to 10 options", "1 minute to 90 days", "nowhere"] {
            assert!(text.contains(expected), "{e}: {expected} in {text}");
        }
    }
}

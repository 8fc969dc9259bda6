//! Workflows (issue 18): the incoming-webhook trigger, on both engines. A shop posts an order
//! to the workflow's URL: the contact is made from the phone in the JSON, its name and order
//! field filled, and the workflow sends the approved template (no window with a new contact)
//! on the trigger's number, which opens the conversation the run then tags. A repeated
//! `Idempotency-Key` starts nothing; a wrong token, a rotated URL, an inactive workflow all
//! answer the same 404; bad bodies are refused with their codes and change nothing.

use parley_sandbox::SandboxTemplate;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};
use crate::workflows::active_workflow;

async fn call(app: &TestApp, path: &str, body: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().post(app.url(path)).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.body(body.to_owned()).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_shop_order_makes_the_contact_and_sends_the_template_once() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.sandbox.add_template(SandboxTemplate {
            waba_id: wired.number.waba_id.clone(),
            name: "order_update".into(),
            language: "en".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hello {{1}}, your order {{2}} is confirmed."}]),
        });
        let synced = app.post(&format!("/api/v1/channels/{}/templates/sync", wired.channel["id"]), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}");
        let definition = json!({
            "trigger": {"kind": "incoming_webhook", "channel_id": wired.channel["id"], "phone": "/customer/phone",
                        "name": "/customer/name", "fields": {"last_order": "/order/id"}},
            "steps": [
                {"id": "send", "kind": "send_message", "text": "Order {{contact.fields.last_order}} confirmed!",
                 "template": {"name": "order_update", "language": "en",
                              "parameters": ["{{contact.first_name|there}}", "{{trigger.body.order.id}}"]}, "next": "tag"},
                {"id": "tag", "kind": "add_tags", "tags": ["ordered"]}
            ]
        });
        let workflow = active_workflow(&app, "Orders", definition).await;
        let url = app.get(&format!("/api/v1/workflows/{workflow}/webhook")).await;
        assert_eq!(url.status, StatusCode::OK, "{e}: {:?}", url.body);
        let path = url.body["path"].as_str().unwrap().to_owned();
        assert_eq!(app.get(&format!("/api/v1/workflows/{workflow}/webhook")).await.body["path"], path.as_str(), "{e}");

        // Lan agreed at the shop's checkout (templates need an opt-in from a contact who never wrote).
        let made = app.post("/api/v1/contacts", json!({"phone": "+84912000111"})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let opt_in = json!({"source": "checkout", "evidence": "terms box"});
        let r = app.post("/api/v1/contacts/phone:+84912000111/opt-ins", opt_in).await;
        assert!(r.status.is_success(), "{e}: {:?}", r.body);
        let order = r#"{"customer": {"phone": "+84 912 000 111", "name": "Lan Tran"}, "order": {"id": "A-17"}}"#;
        let (status, body) = call(&app, &path, order, Some("order-A-17")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{e}: {body}");
        let run_path = format!("/api/v1/workflow-runs/{}", body["run_id"]);
        let done = eventually(20, || async { app.get(&run_path).await.body["status"] == "done" }).await;
        let run = app.get(&run_path).await.body;
        assert!(done, "{e}: {run}");
        assert_eq!(run["history"][0]["detail"]["sent"], "template", "{e}: no window with a new contact");
        assert_eq!(run["memory"]["trigger"]["body"]["order"]["id"], "A-17", "{e}: the history shows what started it");
        let sent: Vec<Value> = wired.received("84912000111").into_iter().map(|s| s.body).collect();
        assert_eq!(sent.len(), 1, "{e}: {sent:?}");
        let params = &sent[0]["template"]["components"][0]["parameters"];
        assert_eq!((params[0]["text"].as_str(), params[1]["text"].as_str()), (Some("Lan"), Some("A-17")), "{e}");
        let conversation = run["conversation_id"].as_i64().expect("the first message's conversation");
        assert_eq!(
            app.get(&format!("/api/v1/conversations/{conversation}/tags")).await.body,
            json!(["ordered"]),
            "{e}"
        );
        let contact = app.get("/api/v1/contacts/phone:+84912000111").await.body;
        assert_eq!(
            (contact["name"].as_str(), contact["fields"]["last_order"].as_str()),
            (Some("Lan Tran"), Some("A-17"))
        );

        // A new customer is made, and without an opt-in the run fails visibly, sending nothing.
        let stranger = r#"{"customer": {"phone": "+84912000222"}, "order": {"id": "B-1"}}"#;
        let (status, body) = call(&app, &path, stranger, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{e}: {body}");
        let failed_path = format!("/api/v1/workflow-runs/{}", body["run_id"]);
        assert!(eventually(20, || async { app.get(&failed_path).await.body["status"] == "failed" }).await, "{e}");
        let failed = app.get(&failed_path).await.body;
        assert_eq!(failed["history"][0]["detail"]["code"], "no_opt_in", "{e}: {failed}");
        let stranger = app.get("/api/v1/contacts/phone:+84912000222").await.body;
        assert_eq!(stranger["fields"]["last_order"], "B-1", "{e}: {stranger}");
        assert!(wired.sandbox.sent().iter().all(|s| s.to != "84912000222"), "{e}");

        // The same key again: nothing new.
        let (status, body) = call(&app, &path, order, Some("order-A-17")).await;
        assert_eq!((status, body["why"].as_str()), (StatusCode::OK, Some("repeated")), "{e}: {body}");
        // Bad bodies: refused with their codes.
        for (body, code) in [
            ("not json", "invalid_json"),
            ("[1]", "invalid_json"),
            (r#"{"customer": {}}"#, "no_phone"),
            (r#"{"customer": {"phone": "12"}}"#, "invalid_phone"),
        ] {
            let (status, answer) = call(&app, &path, body, None).await;
            assert_eq!(answer["error"]["code"], code, "{e}: {body} → {status} {answer}");
        }
        let big = format!(r#"{{"customer": {{"phone": "+84912000111"}}, "pad": "{}"}}"#, "x".repeat(70_000));
        assert_eq!(call(&app, &path, &big, None).await.0, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
        assert_eq!(app.get(&format!("/api/v1/workflows/{workflow}/runs")).await.body.as_array().unwrap().len(), 2);

        // A wrong token, a rotated URL, an inactive workflow: the same 404.
        let wrong = format!("{}x", path);
        assert_eq!(call(&app, &wrong, order, None).await.0, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(call(&app, "/hooks/workflows/999999/abc", order, None).await.0, StatusCode::NOT_FOUND, "{e}");
        let rotated = app.post(&format!("/api/v1/workflows/{workflow}/webhook/rotate"), json!({})).await;
        let new_path = rotated.body["path"].as_str().unwrap().to_owned();
        assert_ne!(new_path, path, "{e}");
        let (status, answer) = call(&app, &path, order, None).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{e}");
        app.patch(&format!("/api/v1/workflows/{workflow}"), json!({"active": false})).await;
        assert_eq!(call(&app, &new_path, order, None).await.0, StatusCode::NOT_FOUND, "{e}: inactive");
        // The URL is the owners' and managers' only.
        let agent = app.token_for("agent", "agent@acme.example").await;
        let r = app
            .call_as(Some(&agent), reqwest::Method::GET, &format!("/api/v1/workflows/{workflow}/webhook"), None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
    }
}

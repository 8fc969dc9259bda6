//! Templates end to end against the sandbox: validated before submission, reviewed by webhook,
//! versioned on edit, paused and disabled by quality, refused at send time when not sendable,
//! parameters checked and filled from contact fields, deleted by name, synced.

use parley_sandbox::{Decision, ReviewMode, ReviewPolicy, SandboxTemplate};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired, eventually};

const WAIT: u64 = 10;

fn draft(name: &str, text: &str, examples: &[&str]) -> Value {
    json!({"name": name, "language": "en", "category": "utility", "components": [
        {"type": "body", "text": text, "example": {"body_text": [examples]}},
        {"type": "buttons", "buttons": [{"type": "quick_reply", "text": "Talk to us"}]},
    ]})
}

fn send(channel: &Value, to: &str, name: &str, params: &[&str]) -> Value {
    let params: Vec<Value> = params.iter().map(|p| json!({"type": "text", "text": p})).collect();
    json!({"channel_id": channel["id"], "to": to, "type": "template",
        "template": {"name": name, "language": {"code": "en"}, "components": [{"type": "body", "parameters": params}]}})
}

fn path(wired: &Wired, rest: &str) -> String {
    format!("/api/v1/channels/{}{rest}", wired.channel["id"])
}

async fn status_becomes(app: &TestApp, wired: &Wired, name: &str, status: &str) -> Value {
    let url = path(wired, &format!("/templates/{name}/en"));
    let reached = eventually(WAIT, || async { app.get(&url).await.body["status"] == status }).await;
    let body = app.get(&url).await.body;
    assert!(reached, "{}: {name} never became {status}: {body}; webhooks: {:?}", app.engine(), wired.webhook_stats());
    body
}

#[tokio::test]
async fn templates_are_checked_submitted_reviewed_versioned_and_paused() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.sandbox.set_review_policy(ReviewPolicy { mode: ReviewMode::Manual, delay: Default::default() });
        app.patch("/api/v1/workspace", json!({"require_opt_in": false})).await;
        app.post("/api/v1/contacts", json!({"name": "Ana Lima", "phone": "+33612345678"})).await;
        let to = "phone:+33612345678";

        // Broken rules never reach the provider.
        let bad_name =
            app.post(&path(&wired, "/templates"), draft("Order Update", "Hello {{1}} there, welcome.", &["Ana"])).await;
        assert_eq!((bad_name.status, bad_name.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_template"), "{e}");
        assert_eq!(bad_name.body["error"]["field"], "name");
        let adjacent = app
            .post(
                &path(&wired, "/templates"),
                draft("order_update", "Hello {{1}} {{2}} shipped to you today.", &["A", "B"]),
            )
            .await;
        assert_eq!(
            (adjacent.code(), adjacent.body["error"]["field"].as_str()),
            ("invalid_template", Some("components.body"))
        );
        let no_example =
            app.post(&path(&wired, "/templates"), draft("order_update", "Hello {{1}}, your order shipped.", &[])).await;
        assert_eq!(no_example.code(), "invalid_template", "{e}: examples are required");
        let reserved =
            app.post(&path(&wired, "/templates"), draft("sync", "Hello {{1}}, your order shipped.", &["Ana"])).await;
        assert_eq!((reserved.code(), reserved.body["error"]["field"].as_str()), ("invalid_template", Some("name")));
        assert!(wired.sandbox.template("WABA-1", "order_update", "en").is_none(), "{e}: nothing submitted");
        let agent = app.token_for("agent", "agent@acme.example").await;
        let as_agent = app
            .call_as(
                Some(&agent),
                reqwest::Method::POST,
                &path(&wired, "/templates"),
                Some(draft("order_update", "Hello {{1}}, your order {{2}} has shipped.", &["Ana", "4411"])),
            )
            .await;
        assert_eq!(as_agent.status, StatusCode::FORBIDDEN);

        // Submitted: pending until the review's webhook.
        let created = app
            .post(
                &path(&wired, "/templates"),
                draft("order_update", "Hello {{1}}, your order {{2}} has shipped.", &["Ana", "4411"]),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {}", created.body);
        assert_eq!((created.body["status"].as_str(), created.body["version"].as_i64()), (Some("pending"), Some(1)));
        assert_eq!(wired.sandbox.template("WABA-1", "order_update", "en").unwrap().status, "PENDING");
        let again = app
            .post(
                &path(&wired, "/templates"),
                draft("order_update", "Hello {{1}}, your order {{2}} has shipped.", &["Ana", "4411"]),
            )
            .await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "template_exists"));
        let pending = app.post("/api/v1/messages", send(&wired.channel, to, "order_update", &["Ana", "4411"])).await;
        assert_eq!(pending.code(), "template_not_approved", "{e}");

        wired.sandbox.review_template("WABA-1", "order_update", "en", Decision::Approve).unwrap();
        let approved = status_becomes(&app, &wired, "order_update", "approved").await;
        assert_eq!(approved["versions"][0]["status"], "approved");

        // Parameters are checked before anything is queued, and filled from the contact.
        let short = app.post("/api/v1/messages", send(&wired.channel, to, "order_update", &["Ana"])).await;
        assert_eq!(short.code(), "template_params_mismatch", "{e}");
        let image = json!({"channel_id": wired.channel["id"], "to": to, "type": "template", "template": {"name": "order_update",
            "language": {"code": "en"}, "components": [{"type": "body", "parameters": [
                {"type": "image", "image": {"link": "https://x.test/a.png"}}, {"type": "text", "text": "4411"}]}]}});
        assert_eq!(
            app.post("/api/v1/messages", image).await.code(),
            "template_params_mismatch",
            "{e}: types are checked"
        );
        let unknown_field = app
            .post("/api/v1/messages", send(&wired.channel, to, "order_update", &["{{contact.shoe_size}}", "1"]))
            .await;
        assert_eq!(unknown_field.code(), "template_params_mismatch");
        assert_eq!(wired.sandbox.sent_count(), 0, "{e}: refusals queue nothing");
        let filled = app
            .post("/api/v1/messages", send(&wired.channel, to, "order_update", &["{{contact.first_name}}", "4411"]))
            .await;
        assert_eq!(filled.status, StatusCode::ACCEPTED, "{e}: {}", filled.body);
        assert!(eventually(WAIT, || async { wired.sandbox.sent_count() == 1 }).await);
        let sent = &wired.sandbox.sent()[0].body;
        assert_eq!(sent.pointer("/template/components/0/parameters/0/text"), Some(&json!("Ana")), "{e}: {sent}");

        // An edit is a new version, reviewed again; the history stays.
        let edit = json!({"components": [
            {"type": "body", "text": "Hi {{1}}, order {{2}} is on its way to you.", "example": {"body_text": [["Ana", "4411"]]}}]});
        let v2 = app.post(&path(&wired, "/templates/order_update/en/versions"), edit.clone()).await;
        assert_eq!(v2.status, StatusCode::CREATED, "{e}: {}", v2.body);
        assert_eq!((v2.body["version"].as_i64(), v2.body["status"].as_str()), (Some(2), Some("pending")));
        wired.sandbox.review_template("WABA-1", "order_update", "en", Decision::Approve).unwrap();
        let t = status_becomes(&app, &wired, "order_update", "approved").await;
        assert_eq!(t["approved_version"], 2);
        assert_eq!(t["versions"].as_array().unwrap().len(), 2);
        assert_eq!(t["components"][0]["text"], "Hi {{1}}, order {{2}} is on its way to you.");
        let too_soon = app.post(&path(&wired, "/templates/order_update/en/versions"), edit.clone()).await;
        assert_eq!((too_soon.status, too_soon.code()), (StatusCode::CONFLICT, "template_not_editable"), "{e}");

        // Low quality pauses it for 3 h, then 6 h, then disables it for good.
        wired.sandbox.set_template_quality("WABA-1", "order_update", "en", "RED").unwrap();
        let paused = status_becomes(&app, &wired, "order_update", "paused").await;
        assert_eq!((paused["quality"].as_str(), paused["status_detail"].as_str()), (Some("red"), Some("FIRST_PAUSE")));
        let refused = app.post("/api/v1/messages", send(&wired.channel, to, "order_update", &["Ana", "1"])).await;
        assert_eq!(refused.code(), "template_paused", "{e}");
        app.clock.advance_secs(3 * 3600);
        wired.sandbox.tick();
        status_becomes(&app, &wired, "order_update", "approved").await;
        let ok = app.post("/api/v1/messages", send(&wired.channel, to, "order_update", &["Ana", "2"])).await;
        assert_eq!(ok.status, StatusCode::ACCEPTED, "{e}: unpaused");
        wired.sandbox.set_template_quality("WABA-1", "order_update", "en", "RED").unwrap();
        assert_eq!(status_becomes(&app, &wired, "order_update", "paused").await["status_detail"], "SECOND_PAUSE");
        app.clock.advance_secs(6 * 3600);
        wired.sandbox.tick();
        status_becomes(&app, &wired, "order_update", "approved").await;
        wired.sandbox.set_template_quality("WABA-1", "order_update", "en", "RED").unwrap();
        status_becomes(&app, &wired, "order_update", "disabled").await;
        let disabled = app.post("/api/v1/messages", send(&wired.channel, to, "order_update", &["Ana", "3"])).await;
        assert_eq!(disabled.code(), "template_not_approved", "{e}: disabled for good");

        // Owners and managers were told along the way.
        let notes = app.get("/api/v1/notifications").await;
        let messages: Vec<&str> = notes.body.as_array().unwrap().iter().filter_map(|n| n["message"].as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("paused (FIRST_PAUSE)")), "{e}: {messages:?}");
        assert!(messages.iter().any(|m| m.contains("is now disabled")), "{e}: {messages:?}");
        let agent_notes = app.call_as(Some(&agent), reqwest::Method::GET, "/api/v1/notifications", None).await;
        assert_eq!(agent_notes.status, StatusCode::OK, "{e}");
        assert_eq!(agent_notes.body, serde_json::json!([]), "{e}: the team's notices are for owners and managers");
    }
}

#[tokio::test]
async fn rejections_deletion_and_sync() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.sandbox.set_review_policy(ReviewPolicy {
            mode: ReviewMode::Reject { reason: "PROMOTIONAL".into() },
            delay: Default::default(),
        });
        let created = app
            .post(
                &path(&wired, "/templates"),
                draft("spring_sale", "Hello {{1}}, our spring sale starts now.", &["Ana"]),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {}", created.body);
        let rejected = status_becomes(&app, &wired, "spring_sale", "rejected").await;
        assert_eq!(rejected["rejected_reason"], "PROMOTIONAL", "{e}");
        assert_eq!(rejected["versions"][0]["status"], "rejected");
        // A rejected template may be edited and resubmitted at once.
        wired.sandbox.set_review_policy(ReviewPolicy::default());
        let edit = json!({"components": [{"type": "body", "text": "Hello {{1}}, your store opening hours changed.",
            "example": {"body_text": [["Ana"]]}}]});
        let v2 = app.post(&path(&wired, "/templates/spring_sale/en/versions"), edit).await;
        assert_eq!(v2.status, StatusCode::CREATED, "{e}: {}", v2.body);
        status_becomes(&app, &wired, "spring_sale", "approved").await;

        // Made in WhatsApp Manager: a sync brings it in.
        wired.sandbox.add_template(SandboxTemplate {
            waba_id: "WABA-1".into(),
            name: "made_elsewhere".into(),
            language: "en".into(),
            category: "MARKETING".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hello there"}]),
        });
        let report = app.post(&path(&wired, "/templates/sync"), json!({})).await;
        assert_eq!(
            (report.body["created"].as_u64(), report.body["synced"].as_u64()),
            (Some(1), Some(2)),
            "{e}: {}",
            report.body
        );
        assert_eq!(app.get(&path(&wired, "/templates")).await.body.as_array().unwrap().len(), 2);

        // Deleted by name, at the provider and here.
        assert_eq!(app.delete(&path(&wired, "/templates/spring_sale")).await.status, StatusCode::OK);
        assert!(wired.sandbox.template("WABA-1", "spring_sale", "en").is_none(), "{e}");
        let left: Vec<String> = app
            .get(&path(&wired, "/templates"))
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(left, ["made_elsewhere"]);
        assert_eq!(app.delete(&path(&wired, "/templates/spring_sale")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&path(&wired, "/templates/Bad%20Name")).await.code(), "invalid_template");
    }
}

#[tokio::test]
async fn another_accounts_template_news_never_touch_ours() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let created = app
            .post(&path(&wired, "/templates"), draft("order_update", "Hello {{1}}, your order shipped.", &["Ana"]))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {}", created.body);
        status_becomes(&app, &wired, "order_update", "approved").await;
        // Same app, same template name, another business account: signed with our app secret.
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "SOMEONE-ELSES-WABA", "time": 1,
            "changes": [{"field": "message_template_status_update", "value": {"event": "DISABLED",
                "message_template_id": 42, "message_template_name": "order_update", "message_template_language": "en"}},
                {"field": "business_capability_update", "value": {"max_daily_conversations_per_business": 100000}}]}]})
        .to_string();
        let signature = parley_providers::meta::signature::sign(&wired.number.app_secret, body.as_bytes());
        let r = app
            .client
            .post(app.url(wired.channel["webhook_path"].as_str().unwrap()))
            .header(parley_providers::meta::signature::HEADER, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let t = app.get(&path(&wired, "/templates/order_update/en")).await.body;
        assert_eq!(t["status"], "approved", "{e}: {t}");
        assert_eq!(app.get(&path(&wired, "/health")).await.body["messaging_limit"]["limit"], 250, "{e}");
    }
}

//! The event log under channel visibility, on both engines: every event about a number — its
//! messages, their statuses, its templates (through its business account), its health — is
//! hidden from an agent who cannot see the number, and shown to its members and to managers.

use std::collections::BTreeSet;

use parley_sandbox::{Customer, Fault, Number, Sandbox, SandboxTemplate, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

const WAIT: u64 = 15;
const PRIVATE_PNID: &str = "300000000000002";
/// The private number's business account: no visible channel shares it.
const PRIVATE_WABA: &str = "WABA-PRIVATE";
const BAO: &str = "84912345678";

/// Connects a number of its own business account as a private channel.
async fn private_channel(app: &TestApp, sandbox: &Sandbox) -> i64 {
    let created = app
        .post(
            "/api/v1/channels",
            json!({"provider": "meta", "name": "Private number", "phone_number_id": PRIVATE_PNID,
                "waba_id": PRIVATE_WABA, "display_phone_number": "15550002222", "access_token": "token-private",
                "app_secret": "app-secret-private", "verify_token": "verify-me", "graph_base_url": sandbox.graph_base_url()}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    sandbox.add_number(Number {
        phone_number_id: PRIVATE_PNID.into(),
        waba_id: PRIVATE_WABA.into(),
        display_phone_number: "15550002222".into(),
        access_token: "token-private".into(),
        app_secret: "app-secret-private".into(),
        webhook_url: app.url(created.body["webhook_path"].as_str().unwrap()),
    });
    let id = created.body["id"].as_i64().unwrap();
    let r = app.patch(&format!("/api/v1/channels/{id}"), json!({"visibility": "private"})).await;
    assert_eq!(r.body["visibility"], "private", "{:?}", r.body);
    id
}

/// The events after `after` that `token` may read.
async fn events_after(app: &TestApp, token: &str, after: i64) -> Vec<Value> {
    let page = app.call_as(Some(token), Method::GET, &format!("/api/v1/events?after={after}&limit=1000"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    page.body["items"].as_array().unwrap().clone()
}

fn quality_is_yellow(template: &Value) -> bool {
    template["quality"].as_str().is_some_and(|q| q.eq_ignore_ascii_case("yellow"))
}

fn kinds(events: &[Value]) -> BTreeSet<String> {
    events.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn no_event_of_a_private_number_reaches_an_agent_who_cannot_see_it() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let sandbox = &wired.sandbox;
        let channel = private_channel(&app, sandbox).await;
        let outsider = app.token_for("agent", "outsider@acme.example").await;
        let minh =
            app.post("/api/v1/users", json!({"email": "minh@acme.example", "name": "Minh", "role": "agent"})).await;
        let token = app.post("/api/v1/tokens", json!({"name": "t", "user_id": minh.body["id"]})).await;
        let member_token = token.body["secret"].as_str().unwrap().to_owned();
        let manager = app.token_for("manager", "manager@acme.example").await;
        let member = app.user_id(&member_token).await;
        let path = format!("/api/v1/channels/{channel}/members");
        let members = app.call(Method::PUT, &path, Some(json!({"user_ids": [member]}))).await;
        assert_eq!(members.status, StatusCode::OK, "{e}: {:?}", members.body);
        // Bao's first message makes him a contact, which every member of the workspace sees.
        let bao = Customer::new(BAO, "Bao");
        sandbox.say(PRIVATE_PNID, &bao, Say::text("first"));
        let list = format!("/api/v1/conversations?channel={channel}");
        assert!(eventually(WAIT, || async { app.get(&list).await.body["items"][0]["id"].is_i64() }).await, "{e}");
        let checkpoint = app.get("/api/v1/events?limit=1000").await.body["last_id"].as_i64().unwrap();

        // From here on, only the private number does anything.
        // A message in, a reply out with its statuses (sending, sent, delivered, read).
        sandbox.say(PRIVATE_PNID, &bao, Say::text("second"));
        let to = format!("phone:+{BAO}");
        let reply = json!({"channel_id": channel, "to": to, "type": "text", "text": {"body": "hello Bao"}});
        let sent = app.post("/api/v1/messages", reply).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{e}: {:?}", sent.body);
        let reply_id = sent.body["messages"][0]["id"].as_i64().unwrap();
        assert!(app.drive_until(WAIT, || async { app.message_status(reply_id).await == "read" }).await, "{e}");
        // A send the provider refuses for good, then retried by hand and sent.
        sandbox.inject(PRIVATE_PNID, [Fault::Http { status: 400, code: Some(131009), retry_after: None }]);
        let bad = json!({"channel_id": channel, "to": to, "type": "text", "text": {"body": "refused"}});
        let bad = app.post("/api/v1/messages", bad).await.body["messages"][0]["id"].as_i64().unwrap();
        assert!(app.drive_until(WAIT, || async { app.message_status(bad).await == "failed" }).await, "{e}");
        let retried = app.post(&format!("/api/v1/messages/{bad}/retry"), json!({})).await;
        assert_eq!(retried.status, StatusCode::ACCEPTED, "{e}: {:?}", retried.body);
        assert!(app.drive_until(WAIT, || async { app.message_status(bad).await == "read" }).await, "{e}");

        // Templates of its business account: submitted, approved and rated by webhook, synced
        // with one made elsewhere, deleted.
        let templates = format!("/api/v1/channels/{channel}/templates");
        let draft = json!({"name": "private_notice", "language": "en", "category": "utility",
            "components": [{"type": "body", "text": "Your private order is ready."}]});
        assert_eq!(app.post(&templates, draft).await.status, StatusCode::CREATED, "{e}");
        let notice = format!("{templates}/private_notice/en");
        assert!(eventually(WAIT, || async { app.get(&notice).await.body["status"] == "approved" }).await, "{e}");
        sandbox.set_template_quality(PRIVATE_WABA, "private_notice", "en", "YELLOW").unwrap();
        assert!(eventually(WAIT, || async { quality_is_yellow(&app.get(&notice).await.body) }).await, "{e}");
        sandbox.add_template(SandboxTemplate {
            waba_id: PRIVATE_WABA.into(),
            name: "made_elsewhere".into(),
            language: "en".into(),
            category: "MARKETING".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hello there"}]),
        });
        let synced = app.post(&format!("{templates}/sync"), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}: {:?}", synced.body);
        assert_eq!(app.delete(&format!("{templates}/made_elsewhere")).await.status, StatusCode::OK, "{e}");

        // Its health: its account's limit moved by webhook, its quality found by a check.
        let health = format!("/api/v1/channels/{channel}/health");
        let limit = app.get(&health).await.body["messaging_limit"]["limit"].clone();
        sandbox.set_tier_waba(PRIVATE_WABA, "TIER_10K").unwrap();
        let moved =
            eventually(WAIT, || async { app.get(&health).await.body["messaging_limit"]["limit"] != limit }).await;
        assert!(moved, "{e}: {}", app.get(&health).await.body);
        sandbox.set_number_quality(PRIVATE_PNID, "YELLOW").unwrap();
        let checked = app.post(&format!("{health}/refresh"), json!({})).await;
        assert_eq!(checked.body["quality_rating"], "yellow", "{e}: {}", checked.body);

        let owner = events_after(&app, &app.token, checkpoint).await;
        let seen = kinds(&owner);
        for kind in [
            "message.received",
            "message.queued",
            "message.status",
            "template.submitted",
            "template.updated",
            "templates.synced",
            "template.deleted",
            "channel.health_changed",
        ] {
            assert!(seen.contains(kind), "{e}: the owner sees {kind} (saw {seen:?})");
        }
        let hidden = events_after(&app, &outsider, checkpoint).await;
        assert!(hidden.is_empty(), "{e}: an outsider read {:?}", hidden);
        for (who, token) in [("a member", &member_token), ("a manager", &manager)] {
            assert_eq!(ids(&events_after(&app, token, checkpoint).await), ids(&owner), "{e}: {who} sees them all");
        }

        // A member mentioned on the private number is told; once no longer a member, the notice
        // goes with the rest of the number.
        let conversation = app.get(&list).await.body["items"][0]["id"].clone();
        let note =
            app.post(&format!("/api/v1/conversations/{conversation}/notes"), json!({"body": "@minh look"})).await;
        assert_eq!(note.body["mentions"], json!([member]), "{e}: {:?}", note.body);
        let notices = || async {
            let r = app.call_as(Some(&member_token), Method::GET, "/api/v1/notifications", None).await;
            r.body.as_array().map_or(0, Vec::len)
        };
        assert_eq!(notices().await, 1, "{e}");
        app.call(Method::PUT, &path, Some(json!({"user_ids": []}))).await;
        assert_eq!(notices().await, 0, "{e}: a notice about a number the user no longer sees");
    }
}

//! Sending end to end: the API judges, the dispatcher sends to the sandbox, statuses come back.

use std::time::Duration;

use parley_core::Clock;
use parley_sandbox::{Batching, Customer, Fault, Item, NumberPolicy, SandboxTemplate, Say};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired, eventually};

const WAIT: Duration = Duration::from_secs(20);
const ANA: &str = "33612345678";

/// A wired app where Ana wrote `ago` seconds ago.
async fn with_customer(app: &TestApp, ago: i64) -> Wired {
    let wired = app.wired().await;
    let at = app.clock.now().as_secs() - ago;
    let item =
        wired.sandbox.message_at(&wired.number.phone_number_id, &Customer::new(ANA, "Ana"), &Say::text("hello?"), at);
    wired.sandbox.deliver(vec![item], Batching::default());
    assert!(wired.sandbox.wait_idle(WAIT).await);
    wired
}

fn text_to(channel: &Value, to: &str, body: &str) -> Value {
    json!({"channel_id": channel["id"], "to": to, "type": "text", "text": {"body": body}})
}

fn template_to(channel: &Value, to: &str, name: &str, params: usize) -> Value {
    let params: Vec<Value> = (0..params).map(|i| json!({"type": "text", "text": format!("p{i}")})).collect();
    json!({"channel_id": channel["id"], "to": to, "type": "template",
        "template": {"name": name, "language": {"code": "en"}, "components": [{"type": "body", "parameters": params}]}})
}

fn add_template(wired: &Wired, name: &str, category: &str, status: &str) {
    wired.sandbox.add_template(SandboxTemplate {
        waba_id: wired.number.waba_id.clone(),
        name: name.into(),
        language: "en".into(),
        category: category.into(),
        status: status.into(),
        components: json!([{"type": "BODY", "text": "Hello {{1}}, your order {{2}} shipped."}]),
    });
}

async fn sync(app: &TestApp, wired: &Wired) {
    let r = app.post(&format!("/api/v1/channels/{}/templates/sync", wired.channel["id"]), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

fn first_id(r: &crate::helpers::Reply) -> i64 {
    r.body["messages"][0]["id"].as_i64().unwrap_or_else(|| panic!("no message: {:?}", r.body))
}

#[tokio::test]
async fn a_reply_goes_out_and_its_ticks_come_back() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let r = app.post("/api/v1/messages", text_to(&wired.channel, &format!("phone:+{ANA}"), "Yes, in blue!")).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}: {:?}", app.engine(), r.body);
        assert_eq!(r.body["messages"][0]["status"], "queued");
        let id = first_id(&r);
        let read = eventually(20, || async { app.message_status(id).await == "read" }).await;
        assert!(read, "{}: status {}", app.engine(), app.message_status(id).await);
        let sent = wired.sandbox.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, ANA);
        assert_eq!(sent[0].body["text"]["body"], "Yes, in blue!");
        assert_eq!(sent[0].body["biz_opaque_callback_data"], format!("parley:{id}"));
        let m = app.get(&format!("/api/v1/messages/{id}")).await.body;
        assert_eq!(m["pricing"]["category"], "service", "pricing from the status webhooks: {m}");
        assert_eq!(m["provider_message_id"], sent[0].message_id.as_str());
    }
}

#[tokio::test]
async fn every_message_type_goes_out_as_the_cloud_api_expects() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let inbound = app.all_messages().await[0]["provider_message_id"].as_str().unwrap().to_owned();
        let bodies = [
            json!({"type": "text", "text": {"body": "see https://x.test", "preview_url": true}, "context": {"message_id": inbound}}),
            json!({"type": "image", "image": {"link": "https://x.test/p.png", "caption": "the blue one"}}),
            json!({"type": "audio", "audio": {"link": "https://x.test/a.ogg"}}),
            json!({"type": "video", "video": {"link": "https://x.test/v.mp4", "caption": "how to"}}),
            json!({"type": "document", "document": {"link": "https://x.test/i.pdf", "filename": "invoice.pdf"}}),
            json!({"type": "sticker", "sticker": {"link": "https://x.test/s.webp"}}),
            json!({"type": "location", "location": {"latitude": 48.8584, "longitude": 2.2945, "name": "Shop"}}),
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Support", "first_name": "Support"},
                "phones": [{"phone": "+33612345679", "type": "WORK"}]}]}),
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Which size?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "s", "title": "S"}}, {"type": "reply", "reply": {"id": "m", "title": "M"}}]}}}),
            json!({"type": "interactive", "interactive": {"type": "list", "body": {"text": "Menu"}, "action": {"button": "See",
                "sections": [{"title": "Shoes", "rows": [{"id": "r1", "title": "Runners"}]}]}}}),
            json!({"type": "interactive", "interactive": {"type": "cta_url", "body": {"text": "Track it"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://x.test/t"}}}}),
            json!({"type": "reaction", "reaction": {"message_id": inbound, "emoji": "👍"}}),
        ];
        for body in &bodies {
            let mut request = body.clone();
            request["channel_id"] = wired.channel["id"].clone();
            request["to"] = json!(format!("phone:+{ANA}"));
            let r = app.post("/api/v1/messages", request).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}: {body}: {:?}", app.engine(), r.body);
        }
        assert!(eventually(30, || async { wired.sandbox.sent().len() == bodies.len() }).await, "{}", app.engine());
        let sent = wired.sandbox.sent();
        for (body, got) in bodies.iter().zip(&sent) {
            let kind = body["type"].as_str().unwrap();
            assert_eq!(got.body["type"], kind);
            assert_eq!(got.body["messaging_product"], "whatsapp");
            assert_eq!(got.body["to"].as_str().map(|t| t.trim_start_matches('+')), Some(ANA));
            for (key, value) in body[kind].as_object().into_iter().flatten() {
                assert_eq!(&got.body[kind][key], value, "{kind}.{key}");
            }
            if kind == "contacts" {
                assert_eq!(got.body["contacts"], body["contacts"]);
            }
        }
        assert_eq!(sent[0].body["context"]["message_id"], inbound.as_str(), "the reply points at Ana's message");
        // Every one was accepted: none ends failed.
        let outs: Vec<Value> = app.all_messages().await.into_iter().filter(|m| m["direction"] == "out").collect();
        assert_eq!(outs.len(), bodies.len());
        assert!(
            eventually(20, || async {
                let all = app.all_messages().await;
                all.iter()
                    .filter(|m| m["direction"] == "out")
                    .all(|m| ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap()))
            })
            .await
        );
    }
}

#[tokio::test]
async fn the_window_closes_at_exactly_24_hours() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 0).await;
        let body = text_to(&wired.channel, &format!("phone:+{ANA}"), "late reply");
        app.clock.advance_secs(24 * 3600 - 1);
        let r = app.post("/api/v1/messages?dry_run=true", body.clone()).await;
        assert_eq!(r.body["allowed"], true, "23:59:59: {:?}", r.body);
        assert_eq!(r.body["messages"][0]["category"], "service");
        app.clock.advance_secs(1);
        let r = app.post("/api/v1/messages?dry_run=true", body.clone()).await;
        assert_eq!(
            (r.body["allowed"].as_bool(), r.body["refusal"]["code"].as_str()),
            (Some(false), Some("window_closed")),
            "{}",
            app.engine()
        );
        let r = app.post("/api/v1/messages", body).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "window_closed"));
        assert!(r.body["error"]["message"].as_str().unwrap().contains("template"));
        assert!(wired.sandbox.sent().is_empty(), "nothing reached the provider");
    }
}

#[tokio::test]
async fn templates_must_be_synced_approved_and_fed_the_right_parameters() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 3 * 24 * 3600).await;
        let to = format!("phone:+{ANA}");
        let r = app.post("/api/v1/messages", template_to(&wired.channel, &to, "order_update", 2)).await;
        assert_eq!(r.code(), "template_not_approved", "{}: not synced", app.engine());
        add_template(&wired, "order_update", "UTILITY", "PENDING");
        add_template(&wired, "paused_one", "UTILITY", "PAUSED");
        sync(&app, &wired).await;
        assert_eq!(
            app.post("/api/v1/messages", template_to(&wired.channel, &to, "order_update", 2)).await.code(),
            "template_not_approved"
        );
        assert_eq!(
            app.post("/api/v1/messages", template_to(&wired.channel, &to, "paused_one", 2)).await.code(),
            "template_paused"
        );
        add_template(&wired, "order_update", "UTILITY", "APPROVED");
        sync(&app, &wired).await;
        let r = app.post("/api/v1/messages", template_to(&wired.channel, &to, "order_update", 1)).await;
        assert_eq!(r.code(), "template_params_mismatch");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("body takes 2"));
        // An empty parameter would reach the customer as a gap: refused, nothing queued.
        let mut blank = template_to(&wired.channel, &to, "order_update", 2);
        blank["template"]["components"][0]["parameters"][1]["text"] = json!("  ");
        let r = app.post("/api/v1/messages", blank).await;
        assert_eq!(r.code(), "template_params_mismatch", "{:?}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("parameter 2 is empty"), "{:?}", r.body);
        assert!(wired.sandbox.sent().is_empty());
        let r = app.post("/api/v1/messages", template_to(&wired.channel, &to, "order_update", 2)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        let id = first_id(&r);
        assert!(
            eventually(20, || async { app.message_status(id).await == "read" }).await,
            "{}",
            app.message_status(id).await
        );
        let listed = app.get(&format!("/api/v1/channels/{}/templates", wired.channel["id"])).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn opt_in_limits_blocks_and_identity() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        add_template(&wired, "hello", "UTILITY", "APPROVED");
        sync(&app, &wired).await;
        let template = |to: &str| template_to(&wired.channel, to, "hello", 2);
        // A contact who never wrote and never opted in.
        app.post("/api/v1/contacts", json!({"name": "Lea", "phone": "+33 6 98 76 54 32"})).await;
        let lea = "phone:+33698765432";
        assert_eq!(app.post("/api/v1/messages", template(lea)).await.code(), "no_opt_in", "{e}");
        let opt = app
            .post(&format!("/api/v1/contacts/{lea}/opt-ins"), json!({"source": "checkout", "evidence": "order 4411"}))
            .await;
        assert_eq!(opt.status, StatusCode::CREATED, "{:?}", opt.body);
        assert_eq!(app.post("/api/v1/messages", template(lea)).await.status, StatusCode::ACCEPTED);
        // The workspace may turn the check off.
        app.post("/api/v1/contacts", json!({"phone": "+33 6 11 11 11 11"})).await;
        assert_eq!(app.post("/api/v1/messages", template("phone:+33611111111")).await.code(), "no_opt_in");
        app.patch("/api/v1/workspace", json!({"require_opt_in": false})).await;
        // The limit: 1 business-initiated recipient per 24 h; Lea already used it.
        app.patch(&format!("/api/v1/channels/{}", wired.channel["id"]), json!({"messaging_limit": 1})).await;
        assert_eq!(app.post("/api/v1/messages", template("phone:+33611111111")).await.code(), "limit_reached", "{e}");
        assert_eq!(
            app.post("/api/v1/messages", template(lea)).await.status,
            StatusCode::ACCEPTED,
            "Lea again costs nothing more"
        );
        app.patch(&format!("/api/v1/channels/{}", wired.channel["id"]), json!({"messaging_limit": 10000})).await;
        assert_eq!(
            app.post("/api/v1/messages", template("phone:+33611111111")).await.status,
            StatusCode::ACCEPTED,
            "after the upgrade"
        );
        // Blocked contacts get nothing.
        app.post(&format!("/api/v1/contacts/{lea}/block"), json!({})).await;
        assert_eq!(app.post("/api/v1/messages", template(lea)).await.code(), "blocked_contact");
        app.post(&format!("/api/v1/contacts/{lea}/unblock"), json!({})).await;
        assert_eq!(app.post("/api/v1/messages", template(lea)).await.status, StatusCode::ACCEPTED);
        // A changed number blocks sends until acknowledged.
        wired.sandbox.say(
            &wired.number.phone_number_id,
            &Customer::new(ANA, "Ana"),
            Say::changed_number(ANA, "33698765400"),
        );
        assert!(wired.sandbox.wait_idle(WAIT).await);
        let ana = format!("phone:+{ANA}");
        assert_eq!(
            app.post("/api/v1/messages", text_to(&wired.channel, &ana, "hi")).await.code(),
            "identity_changed",
            "{e}"
        );
        let ack = app.post(&format!("/api/v1/contacts/{ana}/acknowledge-identity"), json!({})).await;
        assert_eq!(ack.status, StatusCode::OK);
        assert_eq!(
            app.post("/api/v1/messages", text_to(&wired.channel, &ana, "hi")).await.status,
            StatusCode::ACCEPTED
        );
    }
}

#[tokio::test]
async fn marketing_rules_and_pricing_in_dry_runs() {
    for app in TestApp::all().await {
        let wired = app.wired().await;
        add_template(&wired, "promo", "MARKETING", "APPROVED");
        add_template(&wired, "receipt", "UTILITY", "APPROVED");
        sync(&app, &wired).await;
        app.patch("/api/v1/workspace", json!({"require_opt_in": false})).await;
        // US numbers get no marketing templates.
        app.post("/api/v1/contacts", json!({"phone": "+1 202 555 0173"})).await;
        let us = "phone:+12025550173";
        assert_eq!(
            app.post("/api/v1/messages", template_to(&wired.channel, us, "promo", 2)).await.code(),
            "us_marketing_blocked"
        );
        assert_eq!(
            app.post("/api/v1/messages?dry_run=true", template_to(&wired.channel, us, "receipt", 2)).await.body["allowed"],
            true
        );
        // "Stop promotions" from the user_preferences webhook.
        let stop = Item::Change {
            waba_id: wired.number.waba_id.clone(),
            field: "user_preferences".into(),
            value: json!({
            "metadata": {"phone_number_id": wired.number.phone_number_id},
            "user_preferences": [{"wa_id": ANA, "detail": "d", "category": "marketing_messages", "value": "stop", "timestamp": 1750000000}]}),
        };
        let hello = wired.sandbox.message(
            &wired.number.phone_number_id,
            &Customer::new(ANA, "Ana"),
            &Say::text("hi").from_ad("AD-9"),
        );
        wired.sandbox.deliver(vec![hello, stop], Batching::default());
        assert!(wired.sandbox.wait_idle(WAIT).await);
        let ana = format!("phone:+{ANA}");
        assert_eq!(
            app.post("/api/v1/messages", template_to(&wired.channel, &ana, "promo", 2)).await.code(),
            "marketing_opt_out",
            "{}",
            app.engine()
        );
        // Replying to an ad referral opens a free entry point, and says so.
        let dry =
            app.post("/api/v1/messages?dry_run=true", text_to(&wired.channel, &ana, "Thanks for your interest!")).await;
        assert_eq!(dry.body["messages"][0]["opens_free_entry_point"], true, "{:?}", dry.body);
        assert_eq!(dry.body["messages"][0]["pricing_type"], "free_entry_point");
        assert_eq!(dry.body["messages"][0]["business_initiated"], false);
    }
}

#[tokio::test]
async fn channel_disabled_and_bad_requests() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let ana = format!("phone:+{ANA}");
        for (body, code) in [
            (
                json!({"channel_id": wired.channel["id"], "to": ana, "type": "text", "text": {"body": ""}}),
                "invalid_message",
            ),
            (json!({"channel_id": wired.channel["id"], "to": ana, "type": "text"}), "invalid_message"),
            (
                json!({"channel_id": wired.channel["id"], "to": "nobody", "type": "text", "text": {"body": "x"}}),
                "invalid_request",
            ),
            (
                json!({"channel_id": wired.channel["id"], "to": ana, "type": "text", "text": {"body": "x"}, "urgent": true}),
                "invalid_request",
            ),
            (
                json!({"channel_id": wired.channel["id"], "to": ana, "type": "reaction", "reaction": {"message_id": "wamid.nowhere", "emoji": "👍"}}),
                "invalid_message",
            ),
        ] {
            let r = app.post("/api/v1/messages", body.clone()).await;
            assert_eq!(r.code(), code, "{}: {body}: {:?}", app.engine(), r.body);
        }
        assert_eq!(
            app.post("/api/v1/messages", text_to(&wired.channel, "phone:+84912345678", "x")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.post(
                "/api/v1/messages",
                json!({"channel_id": 99999, "to": ana, "type": "text", "text": {"body": "x"}})
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        app.delete(&format!("/api/v1/channels/{}", wired.channel["id"])).await;
        assert_eq!(app.post("/api/v1/messages", text_to(&wired.channel, &ana, "x")).await.code(), "channel_disabled");
        assert!(wired.sandbox.sent().is_empty());
    }
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_until_one_call_succeeds() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let pnid = wired.number.phone_number_id.clone();
        wired.sandbox.inject(
            &pnid,
            [
                Fault::Http { status: 400, code: Some(130429), retry_after: None },
                Fault::Http { status: 503, code: None, retry_after: None },
                Fault::Http { status: 400, code: Some(131056), retry_after: None },
            ],
        );
        let id = first_id(
            &app.post("/api/v1/messages", text_to(&wired.channel, &format!("phone:+{ANA}"), "eventually")).await,
        );
        let done = app.drive_until(30, || async { app.message_status(id).await == "read" }).await;
        assert!(done, "{}: {}", app.engine(), app.message_status(id).await);
        assert_eq!(wired.sandbox.sent().len(), 1, "exactly one accepted call");
    }
}

#[tokio::test]
async fn permanent_errors_stop_and_timeouts_become_unknown() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let pnid = wired.number.phone_number_id.clone();
        let ana = format!("phone:+{ANA}");
        wired.sandbox.inject(&pnid, [Fault::Http { status: 400, code: Some(131009), retry_after: None }]);
        let id = first_id(&app.post("/api/v1/messages", text_to(&wired.channel, &ana, "bad")).await);
        assert!(app.drive_until(20, || async { app.message_status(id).await == "failed" }).await);
        let m = app.get(&format!("/api/v1/messages/{id}")).await.body;
        assert_eq!(m["error"]["code"], 131009, "{}: {m}", app.engine());
        app.clock.advance_secs(60);
        app.dispatcher_idle().await;
        assert!(wired.sandbox.sent().is_empty(), "no retry after a permanent error");

        // A hung call: the outcome is unknown, never retried by itself; an agent can retry.
        wired.sandbox.inject(&pnid, [Fault::Hang]);
        let id = first_id(&app.post("/api/v1/messages", text_to(&wired.channel, &ana, "hung")).await);
        assert!(
            eventually(20, || async { app.message_status(id).await == "unknown" }).await,
            "{}",
            app.message_status(id).await
        );
        app.clock.advance_secs(600);
        app.dispatcher_idle().await;
        assert_eq!(app.message_status(id).await, "unknown");
        let outbox = app.get(&format!("/api/v1/channels/{}/outbox", wired.channel["id"])).await.body;
        assert_eq!(outbox, json!({"queued": 0, "in_flight": 0, "failed": 1, "unknown": 1}), "{}", app.engine());
        let retried = app.post(&format!("/api/v1/messages/{id}/retry"), json!({})).await;
        assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
        assert!(app.drive_until(20, || async { app.message_status(id).await == "read" }).await);
        assert_eq!(wired.sandbox.sent().len(), 1);
        // Failed messages can be retried too, but not sent ones.
        assert_eq!(app.post(&format!("/api/v1/messages/{id}/retry"), json!({})).await.code(), "not_retryable");
    }
}

/// WhatsApp took the message and then reported it failed (its status webhook): an agent can
/// send it again, once, and it goes out under a new WhatsApp id.
#[tokio::test]
async fn a_message_whatsapp_reported_failed_can_be_retried() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = with_customer(&app, 60).await;
        let pnid = wired.number.phone_number_id.clone();
        wired.sandbox.inject(&pnid, [Fault::FailLater(131026)]);
        let id =
            first_id(&app.post("/api/v1/messages", text_to(&wired.channel, &format!("phone:+{ANA}"), "later")).await);
        assert!(app.drive_until(20, || async { app.message_status(id).await == "failed" }).await, "{e}");
        let first = app.get(&format!("/api/v1/messages/{id}")).await.body;
        assert_eq!(first["error"]["code"], 131026, "{e}: {first}");
        let retried = app.post(&format!("/api/v1/messages/{id}/retry"), json!({})).await;
        assert_eq!(retried.status, StatusCode::ACCEPTED, "{e}: {:?}", retried.body);
        assert!(app.drive_until(20, || async { app.message_status(id).await == "read" }).await, "{e}");
        let again = app.get(&format!("/api/v1/messages/{id}")).await.body;
        assert_ne!(again["provider_message_id"], first["provider_message_id"], "{e}: a new send");
        assert_eq!(again["error"], Value::Null, "{e}");
        assert_eq!(app.post(&format!("/api/v1/messages/{id}/retry"), json!({})).await.code(), "not_retryable", "{e}");
    }
}

#[tokio::test]
async fn a_conversation_keeps_its_order_and_attachments_follow() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let ana = format!("phone:+{ANA}");
        let png = b"\x89PNG not really".to_vec();
        let upload = app
            .client
            .post(app.url(&format!("/api/v1/media?channel_id={}&filename=photo.png", wired.channel["id"])))
            .bearer_auth(&app.token)
            .header("content-type", "image/png")
            .body(png)
            .send()
            .await
            .unwrap();
        assert_eq!(upload.status(), StatusCode::CREATED);
        let media_id = upload.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let first = app
            .post("/api/v1/messages", json!({"channel_id": wired.channel["id"], "to": ana, "type": "text", "text": {"body": "0"},
                "attachments": [{"type": "image", "id": media_id, "caption": "1"}, {"type": "document", "link": "https://x.test/2.pdf", "filename": "2.pdf"}]}))
            .await;
        assert_eq!(first.body["messages"].as_array().unwrap().len(), 3, "{:?}", first.body);
        for i in 3..10 {
            app.post("/api/v1/messages", text_to(&wired.channel, &ana, &i.to_string())).await;
        }
        assert!(
            eventually(30, || async { wired.sandbox.sent().len() == 10 }).await,
            "{}: {}",
            app.engine(),
            wired.sandbox.sent().len()
        );
        let order: Vec<String> = wired
            .sandbox
            .sent()
            .iter()
            .map(|s| {
                s.body["text"]["body"]
                    .as_str()
                    .or(s.body["image"]["caption"].as_str())
                    .or(s.body["document"]["filename"].as_str())
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(order, ["0", "1", "2.pdf", "3", "4", "5", "6", "7", "8", "9"]);
        assert_eq!(wired.sandbox.sent()[1].body["image"]["id"], media_id.as_str());
        // The uploaded image shows in the thread from Parley's copy; a linked document has none.
        let image = &first.body["messages"][1];
        let shown = app.get(&format!("/api/v1/messages/{}", image["id"])).await.body;
        assert_eq!(shown["media"]["state"], "available", "{}: {shown}", app.engine());
        let file = app
            .client
            .get(app.url(shown["media"]["url"].as_str().unwrap()))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"\x89PNG not really");
        let document = app.get(&format!("/api/v1/messages/{}", first.body["messages"][2]["id"])).await.body;
        assert_eq!(document["media"], Value::Null, "{document}");
    }
}

#[tokio::test]
async fn throughput_is_never_exceeded_in_any_second() {
    for app in TestApp::all().await {
        throughput_story(app).await;
    }
}

/// A busy machine only makes sends slower: the bound checked here cannot flake. How close the
/// dispatcher comes to the configured rate is measured by the dispatch benchmark.
async fn throughput_story(app: TestApp) {
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    app.patch(&format!("/api/v1/channels/{}", wired.channel["id"]), json!({"throughput": 20})).await;
    wired.sandbox.set_policy(&pnid, NumberPolicy { throughput: 1000, auto_status: false, ..NumberPolicy::default() });
    let customers: Vec<Customer> = (0..60).map(|i| Customer::new(&format!("336120000{i:02}"), "C")).collect();
    let items = customers.iter().map(|c| wired.sandbox.message(&pnid, c, &Say::text("hi"))).collect();
    wired.sandbox.deliver(items, Batching::default());
    assert!(wired.sandbox.wait_idle(WAIT).await);
    for c in &customers {
        let r = app
            .post(
                "/api/v1/messages",
                text_to(&wired.channel, &format!("phone:+{}", c.wa_id.as_ref().unwrap()), "reply"),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    assert!(eventually(30, || async { wired.sandbox.sent().len() == 60 }).await);
    let times: Vec<_> = wired.sandbox.sent().iter().map(|s| s.at).collect();
    let busiest = times
        .iter()
        .map(|start| {
            times.iter().filter(|t| **t >= *start && t.duration_since(*start) < Duration::from_secs(1)).count()
        })
        .max();
    assert!(busiest.unwrap() <= 20, "{}: {busiest:?} sends in one second at 20/s", app.engine());
}

#[tokio::test]
async fn a_slow_channel_does_not_hold_back_a_fast_one() {
    for app in TestApp::all().await {
        slow_and_fast_story(app).await;
    }
}

async fn slow_and_fast_story(app: TestApp) {
    let wired = app.wired().await;
    let (fast, fast_number) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
    let (slow, slow_pnid) = (&wired.channel, wired.number.phone_number_id.clone());
    let fast_pnid = fast_number.phone_number_id.clone();
    app.patch(&format!("/api/v1/channels/{}", slow["id"]), json!({"throughput": 2})).await;
    app.patch(&format!("/api/v1/channels/{}", fast["id"]), json!({"throughput": 50})).await;
    for pnid in [&slow_pnid, &fast_pnid] {
        wired
            .sandbox
            .set_policy(pnid, NumberPolicy { throughput: 1000, auto_status: false, ..NumberPolicy::default() });
    }
    let customers: Vec<Customer> = (0..40).map(|i| Customer::new(&format!("336130000{i:02}"), "C")).collect();
    let mut items: Vec<Item> =
        customers.iter().map(|c| wired.sandbox.message(&slow_pnid, c, &Say::text("hi"))).collect();
    items.extend(customers.iter().map(|c| wired.sandbox.message(&fast_pnid, c, &Say::text("hi"))));
    wired.sandbox.deliver(items, Batching { per_post: 1, ..Batching::default() });
    assert!(wired.sandbox.wait_idle(WAIT).await);
    // Interleaved: one to the slow channel, one to the fast one.
    for c in &customers {
        let to = format!("phone:+{}", c.wa_id.as_ref().unwrap());
        for channel in [slow, &fast] {
            assert_eq!(app.post("/api/v1/messages", text_to(channel, &to, "reply")).await.status, StatusCode::ACCEPTED);
        }
    }
    let on = |pnid: &str| wired.sandbox.sent().iter().filter(|s| s.phone_number_id == pnid).count();
    assert!(eventually(20, || async { on(&fast_pnid) == 40 }).await, "fast: {}", on(&fast_pnid));
    // 40 at 50/s take under a second; the slow channel (2/s) would need 20 s for all of its
    // 40, and is far from half of them meanwhile (sharing one queue, both would go at its pace).
    assert!(on(&slow_pnid) <= 20, "{}: slow: {}", app.engine(), on(&slow_pnid));
}

#[tokio::test]
async fn mark_read_and_idempotent_sends() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        let inbound = app.all_messages().await[0]["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/messages/{inbound}/read"), json!({})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        let mut body = text_to(&wired.channel, &format!("phone:+{ANA}"), "once");
        body["idempotency_key"] = json!("click-42");
        let first = app.post("/api/v1/messages", body.clone()).await;
        let again = app.post("/api/v1/messages", body).await;
        assert_eq!((first.status, again.status), (StatusCode::ACCEPTED, StatusCode::OK));
        assert_eq!((first_id(&first), again.body["replayed"].as_bool()), (first_id(&again), Some(true)));
        assert!(eventually(20, || async { wired.sandbox.sent().len() == 1 }).await);
        app.dispatcher_idle().await;
        assert_eq!(wired.sandbox.sent().len(), 1, "{}: the retried request sent nothing more", app.engine());
    }
}

#[tokio::test]
async fn replies_inside_the_window_never_count_toward_the_limit() {
    for app in TestApp::all().await {
        let wired = with_customer(&app, 60).await;
        add_template(&wired, "hello", "UTILITY", "APPROVED");
        sync(&app, &wired).await;
        app.patch(&format!("/api/v1/channels/{}", wired.channel["id"]), json!({"messaging_limit": 1})).await;
        app.patch("/api/v1/workspace", json!({"require_opt_in": false})).await;
        let ana = format!("phone:+{ANA}");
        // Ana wrote a minute ago: a reply and even a template to her are inside the window.
        for body in [text_to(&wired.channel, &ana, "reply"), template_to(&wired.channel, &ana, "hello", 2)] {
            let dry = app.post("/api/v1/messages?dry_run=true", body.clone()).await;
            assert_eq!(dry.body["messages"][0]["business_initiated"], false, "{:?}", dry.body);
            assert_eq!(app.post("/api/v1/messages", body).await.status, StatusCode::ACCEPTED);
        }
        // A template to a new contact is business-initiated and takes the only slot…
        app.post("/api/v1/contacts", json!({"phone": "+33 6 22 22 22 22"})).await;
        let dry = app
            .post("/api/v1/messages?dry_run=true", template_to(&wired.channel, "phone:+33622222222", "hello", 2))
            .await;
        assert_eq!(dry.body["messages"][0]["business_initiated"], true);
        assert_eq!(
            app.post("/api/v1/messages", template_to(&wired.channel, "phone:+33622222222", "hello", 2)).await.status,
            StatusCode::ACCEPTED
        );
        // …so the next new contact is refused, while Ana can still be answered.
        app.post("/api/v1/contacts", json!({"phone": "+33 6 33 33 33 33"})).await;
        assert_eq!(
            app.post("/api/v1/messages", template_to(&wired.channel, "phone:+33633333333", "hello", 2)).await.code(),
            "limit_reached",
            "{}",
            app.engine()
        );
        assert_eq!(
            app.post("/api/v1/messages", text_to(&wired.channel, &ana, "still fine")).await.status,
            StatusCode::ACCEPTED
        );
        // 24 hours later the slot is free again (and Ana's window has closed).
        app.clock.advance_secs(24 * 3600 + 1);
        assert_eq!(
            app.post("/api/v1/messages?dry_run=true", template_to(&wired.channel, "phone:+33633333333", "hello", 2))
                .await
                .body["allowed"],
            true
        );
    }
}

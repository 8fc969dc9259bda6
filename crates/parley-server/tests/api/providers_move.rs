//! Moving a number between providers (issue 20), on both engines: a Twilio number moves to
//! Meta in the middle of a conversation. Nothing is lost (Twilio's late status, a late
//! message and a late photo — its file fetched from Twilio — still come in through the old
//! webhook, into the same thread), nothing is sent twice
//! (the reply before the move went through Twilio once, the one after through Meta once), the
//! thread stays one conversation; the report names the template to resubmit at the new account;
//! the number's connections show both providers' traffic on one timeline. Only owners move a
//! number; moving to where it is already is refused.

use parley_providers::twilio::signature::{Algorithm, sign};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-1";
const CUSTOMER: &str = "5511987650000";

/// A form post signed as Twilio signs it, to `path`.
async fn twilio_post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> StatusCode {
    let url = app.url(path);
    let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let signature = sign(TOKEN, Algorithm::Sha1, &url, &form);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    let request = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(body);
    request.send().await.unwrap().status()
}

/// The Twilio number the tests move: connected in Parley and at the sandbox's Twilio; its id
/// and webhook path.
async fn twilio_number(app: &TestApp, sandbox: &parley_sandbox::Sandbox) -> (i64, String) {
    let created = app
        .post(
            "/api/v1/channels",
            json!({"provider": "twilio", "name": "Sales line", "phone_number_id": "14155238886", "waba_id": ACCOUNT,
                "display_phone_number": "+1 415 523 8886", "access_token": TOKEN, "graph_base_url": sandbox.twilio_api_base()}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}: {:?}", app.engine(), created.body);
    let twilio_path = created.body["webhook_path"].as_str().unwrap().to_owned();
    sandbox.add_twilio_number(parley_sandbox::TwilioNumber {
        account_sid: ACCOUNT.into(),
        auth_token: TOKEN.into(),
        number: "14155238886".into(),
        webhook_url: app.url(&twilio_path),
    });
    (created.body["id"].as_i64().unwrap(), twilio_path)
}

/// The same number at Meta, posting to `webhook_url`.
fn meta_number(webhook_url: String) -> parley_sandbox::Number {
    parley_sandbox::Number {
        phone_number_id: "300000000000001".into(),
        waba_id: "WABA-1".into(),
        display_phone_number: "14155238886".into(),
        access_token: "token-300000000000001".into(),
        app_secret: "app-secret-1".into(),
        webhook_url,
    }
}

#[tokio::test]
async fn a_twilio_number_moves_to_meta_in_the_middle_of_a_conversation() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let (channel, twilio_path) = twilio_number(&app, &sandbox).await;
        sandbox.add_twilio_content(
            ACCOUNT,
            "order_update",
            "en",
            "Hello {{1}}, your order shipped.",
            "UTILITY",
            "approved",
        );
        let synced = app.post(&format!("/api/v1/channels/{channel}/templates/sync"), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}");

        // Before the move: the customer writes through Twilio, the agent answers through Twilio.
        let ana = parley_sandbox::Customer::new(CUSTOMER, "Ana Lima");
        sandbox.twilio_say("14155238886", &ana, "Olá! Meu pedido?");
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 1 }).await, "{e}");
        let conversation = app.conversation_of(CUSTOMER).await;
        let to = format!("phone:+{CUSTOMER}");
        let before = app.send_message(channel, &to, json!({"type": "text", "text": {"body": "Já vou ver!"}})).await;
        assert!(app.drive_until(20, || async { app.message_status(before).await == "delivered" }).await, "{e}");
        let twilio_sid = app.get(&format!("/api/v1/messages/{before}")).await.body["provider_message_id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Only owners move a number.
        let meta = json!({"provider": "meta", "phone_number_id": "300000000000001", "waba_id": "WABA-1",
            "access_token": "token-300000000000001", "app_secret": "app-secret-1", "verify_token": "verify-me",
            "graph_base_url": sandbox.graph_base_url()});
        let manager = app.token_for("manager", "m@acme.test").await;
        let path = format!("/api/v1/channels/{channel}/move");
        let r = app.call_as(Some(&manager), reqwest::Method::POST, &path, Some(meta.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: {:?}", r.body);

        // The number at Meta, before the move (its webhook is set once Parley gives the URL).
        sandbox.add_number(meta_number(app.url("/webhooks/meta/not-set-yet")));
        let manual = parley_sandbox::ReviewMode::Manual;
        sandbox.set_review_policy(parley_sandbox::ReviewPolicy { mode: manual, delay: std::time::Duration::ZERO });

        // The move: from now on the number sends through Meta.
        let moved = app.post(&path, meta.clone()).await;
        assert_eq!(moved.status, StatusCode::OK, "{e}: {:?}", moved.body);
        let report = &moved.body;
        assert_eq!(
            (report["from"]["provider"].as_str(), report["to"]["provider"].as_str()),
            (Some("twilio"), Some("meta"))
        );
        assert_eq!(report["from"]["messages_out"], 1, "{e}: {report}");
        let resubmit: Vec<&str> =
            report["templates_to_resubmit"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(resubmit, ["order_update"], "{e}: the Twilio template is not at the Meta account: {report}");
        // Meta manages templates: the move created it there from Twilio's approved version.
        let resubmitted = &report["templates_to_resubmit"][0];
        assert_eq!(
            (resubmitted["outcome"].as_str(), resubmitted["status"].as_str()),
            (Some("submitted"), Some("pending")),
            "{e}: {report}"
        );
        let at_meta = sandbox.template("WABA-1", "order_update", "en").expect("submitted to Meta");
        assert_eq!(at_meta.status, "PENDING", "{e}");
        assert_eq!(at_meta.components[0]["text"], "Hello {{1}}, your order shipped.", "{e}: {:?}", at_meta.components);
        assert_eq!(report["webhook_registered"], false, "{e}");
        let webhook_to_set = report["webhook_to_set"].as_str().unwrap_or_default();
        assert!(webhook_to_set.starts_with(&app.url("/webhooks/meta/")), "{e}: {report}");
        assert_eq!(
            (report["health_not_reported"].as_bool(), report["unknown_outcomes"].as_i64()),
            (Some(false), Some(0))
        );
        let to_do = report["to_do"].to_string();
        assert!(to_do.contains("Meta app's dashboard") && to_do.contains("template"), "{e}: {to_do}");
        assert!(!report.to_string().contains(TOKEN), "{e}: no secret in the report");
        let again = app.post(&format!("{path}?resubmit_templates=false"), meta).await;
        assert_eq!((again.status, again.code()), (StatusCode::UNPROCESSABLE_ENTITY, "nothing_to_move"), "{e}");
        let now = app.get(&format!("/api/v1/channels/{channel}")).await.body;
        assert_eq!(
            (now["provider"].as_str(), now["id"].as_i64()),
            (Some("meta"), Some(channel)),
            "{e}: the same channel"
        );
        let meta_path = now["webhook_path"].as_str().unwrap().to_owned();
        sandbox.add_number(meta_number(app.url(&meta_path)));

        // Meta approves the re-created template: the number sends it through Meta.
        sandbox.review_template("WABA-1", "order_update", "en", parley_sandbox::Decision::Approve).unwrap();
        let approved = || async {
            let list = app.get(&format!("/api/v1/channels/{channel}/templates")).await.body;
            list.as_array().unwrap().iter().any(|t| t["name"] == "order_update" && t["status"] == "approved")
        };
        assert!(crate::helpers::eventually(20, approved).await, "{e}: approved at the new account");

        // Twilio's late word still comes in through the old webhook: the read receipt of the
        // reply, and a message the customer sent just before the cut-over.
        let read = [
            ("MessageSid", twilio_sid.as_str()),
            ("MessageStatus", "read"),
            ("AccountSid", ACCOUNT),
            ("From", "whatsapp:+14155238886"),
            ("To", "whatsapp:+5511987650000"),
        ];
        assert_eq!(twilio_post(&app, &twilio_path, &read).await, StatusCode::OK, "{e}: a late status");
        assert_eq!(app.message_status(before).await, "read", "{e}");
        let late = [
            ("MessageSid", "SM000000000000000000000000000000aa"),
            ("AccountSid", ACCOUNT),
            ("From", "whatsapp:+5511987650000"),
            ("To", "whatsapp:+14155238886"),
            ("WaId", CUSTOMER),
            ("ProfileName", "Ana Lima"),
            ("Body", "Ainda aí?"),
            ("NumMedia", "0"),
        ];
        assert_eq!(twilio_post(&app, &twilio_path, &late).await, StatusCode::OK, "{e}: a late message");
        let forged = reqwest::Client::new()
            .post(app.url(&twilio_path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", "forged")
            .body("MessageSid=SMx&Body=x")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{e}: the old webhook still checks Twilio's signature");
        // A late photo: only Twilio (with the old account's credentials) hands out its file.
        let photo = parley_sandbox::samples::photo_png();
        sandbox.twilio_say_media("14155238886", &ana, photo.clone(), "image/png", "a caixa");
        let with_file = || async { app.all_messages().await.into_iter().find(|m| m["type"] == "image") };
        let file_settled = || async { with_file().await.is_some_and(|m| m["media"]["state"] != "pending") };
        assert!(app.drive_until(20, file_settled).await, "{e}: {:?}", app.all_messages().await);
        let late_photo = with_file().await.unwrap();
        assert_eq!(late_photo["media"]["state"], "available", "{e}: fetched through Twilio: {late_photo}");
        assert_eq!(app.media_bytes(&late_photo).await, photo, "{e}: the same file");

        // After the cut-over: the customer writes through Meta, the reply goes through Meta.
        sandbox.say("300000000000001", &ana, parley_sandbox::Say::text("Oi, agora pelo outro!"));
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 5 }).await, "{e}");
        let after = app.send_message(channel, &to, json!({"type": "text", "text": {"body": "Chegou hoje."}})).await;
        assert!(app.drive_until(20, || async { app.message_status(after).await == "delivered" }).await, "{e}");
        assert_eq!(sandbox.twilio_sent().len(), 1, "{e}: Twilio sent the reply before the move, once");
        assert_eq!(sandbox.sent().len(), 1, "{e}: Meta sent the reply after it, once");

        // One conversation, nothing lost, in the order things happened.
        let list = app.get("/api/v1/conversations?limit=10").await.body;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{e}: one thread: {list}");
        assert_eq!(app.conversation_of(CUSTOMER).await, conversation, "{e}");
        let texts: Vec<String> = app
            .all_messages()
            .await
            .iter()
            .map(|m| m["content"]["body"].as_str().or(m["text"].as_str()).unwrap_or_default().to_owned())
            .collect();
        for text in ["Olá! Meu pedido?", "Já vou ver!", "Ainda aí?", "a caixa", "Oi, agora pelo outro!", "Chegou hoje."]
        {
            assert!(texts.iter().any(|t| t == text), "{e}: {text} in {texts:?}");
        }
        assert_eq!(texts.len(), 6, "{e}: {texts:?}");

        // Both providers on one timeline.
        let timeline = app.get(&format!("/api/v1/channels/{channel}/connections")).await.body;
        let providers: Vec<&str> =
            timeline.as_array().unwrap().iter().map(|c| c["provider"].as_str().unwrap()).collect();
        assert_eq!(providers, ["twilio", "meta"], "{e}: {timeline}");
        assert_eq!((timeline[0]["current"].as_bool(), timeline[1]["current"].as_bool()), (Some(false), Some(true)));
        assert_eq!(timeline[0]["active_until"], report["cutover_at"], "{e}");
        let out: i64 = timeline.as_array().unwrap().iter().map(|c| c["messages_out"].as_i64().unwrap()).sum();
        assert_eq!(out, 2, "{e}: {timeline}");
        assert_eq!(timeline[1]["messages_out"], 1, "{e}: the reply after the move is Meta's: {timeline}");
        let events = app.get("/api/v1/events?limit=1000").await.body["items"].as_array().unwrap().clone();
        let moved_event: Vec<&Value> = events.iter().filter(|ev| ev["kind"] == "channel.moved").collect();
        assert_eq!(moved_event.len(), 1, "{e}");
        assert_eq!(moved_event[0]["payload"]["from"]["provider"], "twilio", "{e}");
    }
}

/// A move planned for later (both engines): the plan waits while the number still sends
/// through Twilio, the new provider's early post already comes in through the planned webhook,
/// the timer makes the move at the cut-over (sends then go through Meta, the report is kept on
/// the old connection); a plan can be cancelled; only owners plan; a bad time is refused.
#[tokio::test]
async fn a_move_planned_for_later_cuts_over_at_its_time() {
    use parley_core::Clock as _;
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let (channel, _) = twilio_number(&app, &sandbox).await;
        sandbox.add_number(meta_number(app.url("/webhooks/meta/not-set-yet")));
        let ana = parley_sandbox::Customer::new(CUSTOMER, "Ana Lima");
        sandbox.twilio_say("14155238886", &ana, "Olá!");
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 1 }).await, "{e}");

        let meta = json!({"provider": "meta", "phone_number_id": "300000000000001", "waba_id": "WABA-1",
            "access_token": "token-300000000000001", "app_secret": "app-secret-1", "verify_token": "verify-me",
            "graph_base_url": sandbox.graph_base_url()});
        let path = format!("/api/v1/channels/{channel}/move");
        let bad = app.post(&format!("{path}?cutover_at=tomorrow"), meta.clone()).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_cutover"), "{e}");
        let cutover = app.clock.now().plus_secs(2 * 3600);
        let planned_at = format!("{path}?cutover_at={}", cutover.to_rfc3339());
        let manager = app.token_for("manager", "m@acme.test").await;
        let r = app.call_as(Some(&manager), reqwest::Method::POST, &planned_at, Some(meta.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: only owners plan");

        // The plan: nothing moves yet; the new connection's webhook is known (and taken) now.
        let plan = app.post(&planned_at, meta.clone()).await;
        assert_eq!(plan.status, StatusCode::ACCEPTED, "{e}: {:?}", plan.body);
        assert_eq!(
            (plan.body["planned"].as_bool(), plan.body["provider"].as_str(), plan.body["active_from"].as_str()),
            (Some(true), Some("meta"), Some(cutover.to_rfc3339().as_str())),
            "{e}: {:?}",
            plan.body
        );
        let planned_path = plan.body["webhook_path"].as_str().unwrap().to_owned();
        assert!(planned_path.starts_with("/webhooks/meta/"), "{e}: {planned_path}");
        assert_eq!(app.get(&path).await.body["webhook_path"], planned_path.as_str(), "{e}");
        let timeline = app.get(&format!("/api/v1/channels/{channel}/connections")).await.body;
        let shown: Vec<(&str, bool)> = timeline
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["provider"].as_str().unwrap(), c["planned"].as_bool().unwrap()))
            .collect();
        assert_eq!(shown, [("twilio", false), ("meta", true)], "{e}: {timeline}");
        sandbox.add_number(meta_number(app.url(&planned_path)));

        // Before the cut-over: sends go through Twilio; Meta's early post comes in.
        let to = format!("phone:+{CUSTOMER}");
        let before = app.send_message(channel, &to, json!({"type": "text", "text": {"body": "Oi!"}})).await;
        assert!(app.drive_until(20, || async { app.message_status(before).await == "delivered" }).await, "{e}");
        assert_eq!((sandbox.twilio_sent().len(), sandbox.sent().len()), (1, 0), "{e}: through Twilio");
        sandbox.say("300000000000001", &ana, parley_sandbox::Say::text("Já pelo Meta"));
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 3 }).await, "{e}");
        assert_eq!(app.get(&format!("/api/v1/channels/{channel}")).await.body["provider"], "twilio", "{e}");

        // The cut-over comes: the timer makes the move.
        app.clock.advance_secs(2 * 3600 + 1);
        let moved = crate::helpers::eventually(20, || async {
            app.get(&format!("/api/v1/channels/{channel}")).await.body["provider"] == "meta"
        })
        .await;
        assert!(moved, "{e}: moved at its time");
        let now = app.get(&format!("/api/v1/channels/{channel}")).await.body;
        assert_eq!(now["webhook_path"], planned_path.as_str(), "{e}: the planned webhook is the number's");
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND, "{e}: no plan left");
        let after = app.send_message(channel, &to, json!({"type": "text", "text": {"body": "Agora pelo Meta."}})).await;
        assert!(app.drive_until(20, || async { app.message_status(after).await == "delivered" }).await, "{e}");
        assert_eq!((sandbox.twilio_sent().len(), sandbox.sent().len()), (1, 1), "{e}: then through Meta, once each");
        let timeline = app.get(&format!("/api/v1/channels/{channel}/connections")).await.body;
        assert_eq!(timeline.as_array().unwrap().len(), 2, "{e}: {timeline}");
        assert_eq!(
            (timeline[0]["provider"].as_str(), timeline[0]["report"]["to"]["provider"].as_str()),
            (Some("twilio"), Some("meta")),
            "{e}: the move's report, kept: {timeline}"
        );
        let list = app.get("/api/v1/conversations?limit=10").await.body;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{e}: one thread: {list}");

        // A plan cancelled: nothing moves, its webhook takes nothing.
        let back = json!({"provider": "twilio", "phone_number_id": "14155238886", "waba_id": ACCOUNT,
            "access_token": TOKEN, "graph_base_url": sandbox.twilio_api_base()});
        let later = app.clock.now().plus_secs(3600).to_rfc3339();
        let plan = app.post(&format!("{path}?cutover_at={later}"), back).await;
        assert_eq!(plan.status, StatusCode::ACCEPTED, "{e}: {:?}", plan.body);
        let cancelled_path = plan.body["webhook_path"].as_str().unwrap().to_owned();
        assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT, "{e}");
        assert_eq!(app.delete(&path).await.status, StatusCode::NOT_FOUND, "{e}: nothing left to cancel");
        let late = [("MessageSid", "SM000000000000000000000000000000bb"), ("Body", "x")];
        assert_eq!(twilio_post(&app, &cancelled_path, &late).await, StatusCode::NOT_FOUND, "{e}");
        app.clock.advance_secs(2 * 3600);
        app.timer_passes(2).await;
        assert_eq!(app.get(&format!("/api/v1/channels/{channel}")).await.body["provider"], "meta", "{e}: stayed");

        // Deleting the number drops its plan (it would never be made).
        let later = app.clock.now().plus_secs(3600).to_rfc3339();
        let again = json!({"provider": "twilio", "phone_number_id": "14155238886", "waba_id": ACCOUNT,
            "access_token": TOKEN, "graph_base_url": sandbox.twilio_api_base()});
        assert_eq!(app.post(&format!("{path}?cutover_at={later}"), again).await.status, StatusCode::ACCEPTED, "{e}");
        assert_eq!(app.delete(&format!("/api/v1/channels/{channel}")).await.status, StatusCode::NO_CONTENT, "{e}");
        let far = app.clock.now().plus_secs(30 * 24 * 3600);
        let due = app.state.store.due_planned_moves(far, 100).await.unwrap();
        assert!(due.is_empty(), "{e}: the plan went with the number, it never comes due");
    }
}

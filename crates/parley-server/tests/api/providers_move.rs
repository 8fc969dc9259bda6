//! Moving a number between providers (issue 20), on both engines: a Twilio number moves to
//! Meta in the middle of a conversation. Nothing is lost (Twilio's late status and a late
//! message still come in through the old webhook, into the same thread), nothing is sent twice
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

#[tokio::test]
async fn a_twilio_number_moves_to_meta_in_the_middle_of_a_conversation() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let created = app
            .post(
                "/api/v1/channels",
                json!({"provider": "twilio", "name": "Sales line", "phone_number_id": "14155238886", "waba_id": ACCOUNT,
                    "display_phone_number": "+1 415 523 8886", "access_token": TOKEN, "graph_base_url": sandbox.twilio_api_base()}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        let channel = created.body["id"].as_i64().unwrap();
        let twilio_path = created.body["webhook_path"].as_str().unwrap().to_owned();
        sandbox.add_twilio_number(parley_sandbox::TwilioNumber {
            account_sid: ACCOUNT.into(),
            auth_token: TOKEN.into(),
            number: "14155238886".into(),
            webhook_url: app.url(&twilio_path),
        });
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
        let again = app.post(&path, meta).await;
        assert_eq!((again.status, again.code()), (StatusCode::UNPROCESSABLE_ENTITY, "nothing_to_move"), "{e}");
        let now = app.get(&format!("/api/v1/channels/{channel}")).await.body;
        assert_eq!(
            (now["provider"].as_str(), now["id"].as_i64()),
            (Some("meta"), Some(channel)),
            "{e}: the same channel"
        );
        let meta_path = now["webhook_path"].as_str().unwrap().to_owned();
        sandbox.add_number(parley_sandbox::Number {
            phone_number_id: "300000000000001".into(),
            waba_id: "WABA-1".into(),
            display_phone_number: "14155238886".into(),
            access_token: "token-300000000000001".into(),
            app_secret: "app-secret-1".into(),
            webhook_url: app.url(&meta_path),
        });

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

        // After the cut-over: the customer writes through Meta, the reply goes through Meta.
        sandbox.say("300000000000001", &ana, parley_sandbox::Say::text("Oi, agora pelo outro!"));
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 4 }).await, "{e}");
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
        for text in ["Olá! Meu pedido?", "Já vou ver!", "Ainda aí?", "Oi, agora pelo outro!", "Chegou hoje."] {
            assert!(texts.iter().any(|t| t == text), "{e}: {text} in {texts:?}");
        }
        assert_eq!(texts.len(), 5, "{e}: {texts:?}");

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

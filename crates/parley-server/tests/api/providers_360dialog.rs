//! A 360dialog number in Parley (issue 20), on both engines, through the sandbox playing
//! 360dialog: connected with its API key (only to 360dialog's host); its webhook registered at
//! 360dialog by Parley with a secret header token; Meta-shaped posts with that token become
//! conversations, media is fetched through 360dialog's host, replies and uploaded files go out
//! with `D360-API-KEY` on paths without the number id, errors are classed like Meta's, templates
//! are created, reviewed (the verdict arrives by webhook), synced and deleted through
//! `/v1/configs/templates`. Posts without the token, with a wrong one, without the partner
//! signature once one is set up, or on another provider's path are refused and store nothing.

use parley_sandbox::{Batching, Customer, Fault, Say};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const KEY: &str = "d360-api-key-1";
const PNID: &str = "360000000000001";
const WABA: &str = "WABA-360";

/// Posts a Meta-format body to the 360dialog path with these headers.
async fn post(app: &TestApp, path: &str, body: &Value, headers: &[(&str, &str)]) -> StatusCode {
    let mut request = reqwest::Client::new().post(app.url(path)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status()
}

fn inbound(pnid: &str, id: &str, text: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "4930000001", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "Lena"}, "wa_id": "4915112345678"}],
        "messages": [{"from": "4915112345678", "id": id, "timestamp": "1750000000", "type": "text", "text": {"body": text}}]}}]}]})
}

#[tokio::test]
async fn a_conversation_through_the_sandboxs_360dialog() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let number = json!({"provider": "360dialog", "name": "360dialog number", "phone_number_id": PNID, "waba_id": WABA,
            "display_phone_number": "+49 30 000001", "access_token": KEY, "graph_base_url": sandbox.dialog360_api_base()});

        // No handshake token (Parley makes its own); the key goes to 360dialog's host only.
        let mut with_token = number.clone();
        with_token["verify_token"] = json!("mine");
        let r = app.post("/api/v1/channels", with_token).await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("verify_token")),
            "{e}"
        );
        let mut to_meta = number.clone();
        to_meta["graph_base_url"] = json!("https://graph.facebook.com/v24.0");
        let r = app.post("/api/v1/channels", to_meta).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed"), "{e}");

        let created = app.post("/api/v1/channels", number).await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        assert_eq!(created.body["provider"], "360dialog", "{e}");
        assert!(!created.body.to_string().contains(KEY), "{e}: no secret shown");
        let channel = created.body["id"].as_i64().unwrap();
        let path = created.body["webhook_path"].as_str().unwrap().to_owned();
        assert!(path.starts_with("/webhooks/360dialog/"), "{e}: {path}");
        sandbox.add_360dialog_number(
            parley_sandbox::Number {
                phone_number_id: PNID.into(),
                waba_id: WABA.into(),
                display_phone_number: "4930000001".into(),
                access_token: "not-used-behind-360dialog".into(),
                app_secret: "not-used-behind-360dialog".into(),
                webhook_url: String::new(),
            },
            KEY,
        );

        // Parley sets the number's webhook at 360dialog: its URL, with a secret header token.
        let registered = app.post(&format!("/api/v1/channels/{channel}/webhook/register"), json!({})).await;
        assert_eq!(registered.status, StatusCode::OK, "{e}: {:?}", registered.body);
        assert_eq!(registered.body["url"].as_str(), Some(app.url(&path).as_str()), "{e}");
        let hook = sandbox.dialog360_webhook(PNID).expect("set at 360dialog");
        assert_eq!(hook.url, app.url(&path), "{e}");
        let token = hook.headers.iter().find(|(k, _)| k == "x-parley-webhook-token").map(|(_, v)| v.clone());
        let token = token.expect("the token header");
        assert!(token.len() >= 32, "{e}: a real secret");
        assert!(!registered.body.to_string().contains(&token), "{e}: the token is not shown");

        // A customer writes text and a photo: through 360dialog's webhook, the photo fetched
        // through 360dialog's host with the key.
        let lena = Customer::new("4915112345678", "Lena");
        sandbox.say(PNID, &lena, Say::text("Hallo, wo ist meine Bestellung?"));
        let photo = parley_sandbox::samples::photo_png();
        let media_id = sandbox.add_media(photo.clone(), "image/png");
        sandbox.say(PNID, &lena, Say::media("image", &media_id, "image/png").caption("das Paket"));
        let available = || async { app.all_messages().await.into_iter().find(|m| m["media"]["state"] == "available") };
        assert!(
            app.drive_until(20, || async { available().await.is_some() }).await,
            "{e}: {:?}",
            app.all_messages().await
        );
        let received = available().await.unwrap();
        assert_eq!(app.media_bytes(&received).await, photo, "{e}: the same file");
        let thread = app.all_messages().await;
        assert_eq!(thread.len(), 2, "{e}: {thread:?}");
        // Both were written in the same second: their order in the thread is not the point.
        let text_in = thread.iter().find(|m| m["content"]["body"] == "Hallo, wo ist meine Bestellung?");
        let text_in = text_in.expect("the customer's text")["id"].as_i64().unwrap();

        // Replies: text, an uploaded file (360dialog's /media), a location (every Cloud API
        // type goes through 360dialog); blue ticks for the customer's message.
        let send = |body: Value| app.send_message(channel, "phone:+4915112345678", body);
        let uploaded = app
            .client
            .post(app.url(&format!("/api/v1/media?channel_id={channel}&filename=rechnung.pdf")))
            .bearer_auth(&app.token)
            .header("content-type", "application/pdf")
            .body(b"%PDF-1.4 invoice".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), StatusCode::CREATED, "{e}");
        let uploaded_id = uploaded.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let text = send(json!({"type": "text", "text": {"body": "Hallo Lena, ich schaue nach."}})).await;
        let document =
            send(json!({"type": "document", "document": {"id": uploaded_id, "filename": "rechnung.pdf"}})).await;
        let place =
            send(json!({"type": "location", "location": {"latitude": 52.52, "longitude": 13.405, "name": "Lager"}}))
                .await;
        for id in [text, document, place] {
            assert!(
                app.drive_until(20, || async { app.message_status(id).await == "delivered" }).await,
                "{e}: {id} delivered"
            );
        }
        let sent = sandbox.sent();
        assert_eq!(sent.len(), 3, "{e}: each sent once");
        assert_eq!(
            app.post(&format!("/api/v1/messages/{text_in}/read"), json!({})).await.status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(sandbox.reads().len(), 1, "{e}: the read receipt went through 360dialog");

        // Errors classed like Meta's: a 500 is tried again and sent once; a refusal fails with
        // its code.
        sandbox.inject(PNID, [Fault::Http { status: 500, code: Some(1), retry_after: None }]);
        let retried = send(json!({"type": "text", "text": {"body": "noch etwas"}})).await;
        assert!(app.drive_until(30, || async { app.message_status(retried).await == "delivered" }).await, "{e}");
        sandbox.inject(PNID, [Fault::Http { status: 400, code: Some(131026), retry_after: None }]);
        let refused = send(json!({"type": "text", "text": {"body": "unzustellbar"}})).await;
        assert!(app.drive_until(20, || async { app.message_status(refused).await == "failed" }).await, "{e}");
        let failed = app.get(&format!("/api/v1/messages/{refused}")).await.body;
        assert_eq!(failed["error"]["code"], 131026, "{e}: {failed}");
        assert_eq!(sandbox.sent().len(), 4, "{e}: the retried one once, the refused one never");

        // Templates: created through 360dialog, approved by its review (the verdict comes by
        // webhook), synced, deleted. Edits, health and the profile are Meta's API only.
        let draft = json!({"name": "order_update", "language": "de", "category": "utility",
            "components": [{"type": "body", "text": "Hallo {{1}}, Ihre Bestellung ist unterwegs.", "example": {"body_text": [["Lena"]]}}]});
        let r = app.post(&format!("/api/v1/channels/{channel}/templates"), draft).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
        let status = || async {
            app.get(&format!("/api/v1/channels/{channel}/templates/order_update/de")).await.body["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert!(app.drive_until(20, || async { status().await == "approved" }).await, "{e}: {}", status().await);
        sandbox.add_template(parley_sandbox::SandboxTemplate {
            waba_id: WABA.into(),
            name: "made_in_the_hub".into(),
            language: "de".into(),
            category: "MARKETING".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Neu im Hub"}]),
        });
        let synced = app.post(&format!("/api/v1/channels/{channel}/templates/sync"), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}: {:?}", synced.body);
        let names: Vec<String> = app
            .get(&format!("/api/v1/channels/{channel}/templates"))
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            names.contains(&"made_in_the_hub".to_owned()) && names.contains(&"order_update".to_owned()),
            "{e}: {names:?}"
        );
        let edit =
            json!({"components": [{"type": "body", "text": "Hallo {{1}}!", "example": {"body_text": [["Lena"]]}}]});
        let r = app.post(&format!("/api/v1/channels/{channel}/templates/order_update/de/versions"), edit).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"), "{e}");
        for path in [format!("/api/v1/channels/{channel}/health/refresh")] {
            let r = app.post(&path, json!({})).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"), "{e}");
        }
        let r = app.get(&format!("/api/v1/channels/{channel}/profile")).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"), "{e}");
        let deleted = app.delete(&format!("/api/v1/channels/{channel}/templates/made_in_the_hub")).await;
        assert_eq!(deleted.status, StatusCode::OK, "{e}: {:?}", deleted.body);
        assert!(
            sandbox.template(WABA, "made_in_the_hub", "de").is_none_or(|t| t.status == "DELETED"),
            "{e}: gone at 360dialog"
        );

        // Refused posts store nothing: no token, a wrong one, another provider's path, another
        // provider's key on this path. A change for another number is acknowledged, not stored.
        let before = app.all_messages().await.len();
        let body = inbound(PNID, "wamid.HAND1", "forged");
        assert_eq!(post(&app, &path, &body, &[]).await, StatusCode::UNAUTHORIZED, "{e}: no token");
        assert_eq!(
            post(&app, &path, &body, &[("x-parley-webhook-token", "guess")]).await,
            StatusCode::UNAUTHORIZED,
            "{e}"
        );
        let meta_path = path.replacen("/360dialog/", "/meta/", 1);
        assert_eq!(
            post(&app, &meta_path, &body, &[("x-parley-webhook-token", &token)]).await,
            StatusCode::NOT_FOUND,
            "{e}"
        );
        let (meta, _) = app.connect(&sandbox, "300000000000001", "app-secret-1").await;
        let meta_key_here = meta["webhook_path"].as_str().unwrap().replacen("/meta/", "/360dialog/", 1);
        assert_eq!(
            post(&app, &meta_key_here, &body, &[("x-parley-webhook-token", "verify-me")]).await,
            StatusCode::NOT_FOUND,
            "{e}"
        );
        let elsewhere = inbound("399999999999999", "wamid.ELSE1", "for another number");
        assert_eq!(post(&app, &path, &elsewhere, &[("x-parley-webhook-token", &token)]).await, StatusCode::OK, "{e}");
        assert_eq!(app.all_messages().await.len(), before, "{e}: nothing stored");
        let events = app.get("/api/v1/events?limit=1000").await.body["items"].as_array().unwrap().clone();
        assert!(
            events.iter().any(|ev| ev["kind"] == "whatsapp.webhook.unroutable"
                && ev["payload"]["phone_number_id"] == "399999999999999"),
            "{e}: recorded as unroutable"
        );

        // The partner signs webhooks: once its secret is set (owners only), a post without the
        // signature is refused, 360dialog's signed ones are taken.
        let manager = app.token_for("manager", "m@acme.test").await;
        let r = app
            .call_as(
                Some(&manager),
                reqwest::Method::PATCH,
                &format!("/api/v1/channels/{channel}"),
                Some(json!({"app_secret": "partner-1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: {:?}", r.body);
        let r = app.patch(&format!("/api/v1/channels/{channel}"), json!({"app_secret": "partner-1"})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        let unsigned = inbound(PNID, "wamid.HAND2", "unsigned");
        assert_eq!(
            post(&app, &path, &unsigned, &[("x-parley-webhook-token", &token)]).await,
            StatusCode::UNAUTHORIZED,
            "{e}"
        );
        sandbox.set_360dialog_partner_secret(Some("partner-1"));
        let item = sandbox.message(PNID, &lena, &Say::text("signiert"));
        sandbox.deliver(vec![item], Batching::default());
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == before + 1 }).await, "{e}");
        assert!(app.all_messages().await.iter().any(|m| m["content"]["body"] == "signiert"), "{e}");
    }
}

//! A Twilio number in Parley (issue 20), on both engines: connected with Twilio's ids and Auth
//! Token; Twilio's signed form posts become contacts, conversations and messages (stored once
//! however often Twilio retries); forged, unsigned or altered posts are refused and store
//! nothing; another provider's path does not take its key; what Twilio cannot carry yet is
//! refused with `not_supported_by_provider` before anything is queued; a Cloud API app
//! subscribed in Meta's format gets Twilio's messages in Meta's shape, files included. The first test plays
//! Twilio itself (signing with the code cross-checked against Twilio's own validator,
//! `provider_signatures.rs`); the second goes through the sandbox's Twilio both ways.

use parley_providers::twilio::signature::{Algorithm, sign};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-1";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn inbound(sid: &str, body: &str) -> Vec<(String, String)> {
    pairs(&[
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", "whatsapp:+5511987650000"),
        ("To", "whatsapp:+14155238886"),
        ("WaId", "5511987650000"),
        ("ProfileName", "Ana Lima"),
        ("Body", body),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
    ])
}

/// Posts a form as Twilio would; `signature` overrides the right one (`Some("")`: none).
async fn post(app: &TestApp, path: &str, form: &[(String, String)], signature: Option<&str>) -> (StatusCode, String) {
    let url = app.url(path);
    let right = sign(TOKEN, Algorithm::Sha1, &url, form);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request =
        reqwest::Client::new().post(&url).header("content-type", "application/x-www-form-urlencoded").body(body);
    match signature.unwrap_or(&right) {
        "" => {}
        s => request = request.header("X-Twilio-Signature", s),
    }
    let reply = request.send().await.unwrap();
    (reply.status(), reply.text().await.unwrap())
}

async fn messages(app: &TestApp) -> Vec<Value> {
    app.all_messages().await
}

#[tokio::test]
async fn a_twilio_number_receives_signed_posts_and_refuses_the_rest() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let number = json!({"provider": "twilio", "name": "Twilio number", "phone_number_id": "14155238886",
            "waba_id": ACCOUNT, "display_phone_number": "+1 415 523 8886", "access_token": TOKEN});
        // Twilio's ids as Twilio writes them; no handshake token; only Twilio's API.
        for (field, bad) in [
            ("verify_token", json!({"verify_token": "x"})),
            ("waba_id", json!({"waba_id": "WABA-1"})),
            ("phone_number_id", json!({"phone_number_id": "whatsapp:+14155238886"})),
            ("provider", json!({"provider": "bird"})),
        ] {
            let mut input = number.clone();
            input.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
            let r = app.post("/api/v1/channels", input).await;
            assert_eq!(
                (r.status, r.body["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{e}: {:?}",
                r.body
            );
        }
        let mut elsewhere = number.clone();
        elsewhere["graph_base_url"] = json!("https://graph.facebook.com/v24.0");
        let r = app.post("/api/v1/channels", elsewhere).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed"),
            "{e}: Twilio's token goes to Twilio only"
        );
        assert!(app.get("/api/v1/channels").await.body.as_array().unwrap().is_empty(), "{e}: nothing was connected");

        let created = app.post("/api/v1/channels", number).await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        assert_eq!(
            (created.body["provider"].as_str(), created.body["graph_base_url"].as_str()),
            (Some("twilio"), Some("https://api.twilio.com"))
        );
        assert!(
            created.body.get("access_token").is_none() && !created.body.to_string().contains(TOKEN),
            "{e}: no secret shown"
        );
        let path = created.body["webhook_path"].as_str().unwrap().to_owned();
        assert!(path.starts_with("/webhooks/twilio/"), "{e}: {path}");

        // A customer writes: one contact, one conversation, one message, with Twilio's id.
        let (status, answer) =
            post(&app, &path, &inbound("SM00000000000000000000000000000001", "Olá, meu pedido?"), None).await;
        assert_eq!(status, StatusCode::OK, "{e}: {answer}");
        assert!(answer.contains("<Response>"), "{e}: Twilio reads the answer as TwiML: {answer}");
        let conversation = app.conversation_of("5511987650000").await;
        let thread = messages(&app).await;
        assert_eq!(thread.len(), 1, "{e}: {thread:?}");
        assert_eq!(thread[0]["content"]["body"], "Olá, meu pedido?", "{e}");
        assert_eq!(thread[0]["provider_message_id"], "SM00000000000000000000000000000001", "{e}");
        let opened = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
        assert_eq!(opened["window"]["open"], true, "{e}: the customer wrote, the window is open");
        let contact = app.get(&format!("/api/v1/contacts/{}", opened["contact_id"])).await.body;
        assert_eq!(
            (contact["name"].as_str(), contact["phone"].as_str()),
            (Some("Ana Lima"), Some("+5511987650000")),
            "{e}: {contact}"
        );

        // Twilio retries: the same message again changes nothing; a status for it is taken.
        assert_eq!(
            post(&app, &path, &inbound("SM00000000000000000000000000000001", "Olá, meu pedido?"), None).await.0,
            StatusCode::OK
        );
        let callback = pairs(&[
            ("MessageSid", "SM0000000000000000000000000000000f"),
            ("MessageStatus", "delivered"),
            ("To", "whatsapp:+5511987650000"),
        ]);
        assert_eq!(
            post(&app, &path, &callback, None).await.0,
            StatusCode::OK,
            "{e}: a status for a message we do not know"
        );
        assert_eq!(messages(&app).await.len(), 1, "{e}: stored once");

        // Forged, unsigned, altered, or on another provider's path: refused, nothing stored.
        let next = inbound("SM00000000000000000000000000000002", "second");
        let forged = sign("not-the-token", Algorithm::Sha1, &app.url(&path), &next);
        for (what, signature) in [("forged", Some(forged.as_str())), ("unsigned", Some(""))] {
            let (status, answer) = post(&app, &path, &next, signature).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}: {what}: {answer}");
        }
        let right = sign(TOKEN, Algorithm::Sha1, &app.url(&path), &next);
        let altered = inbound("SM00000000000000000000000000000002", "secondo");
        assert_eq!(post(&app, &path, &altered, Some(&right)).await.0, StatusCode::UNAUTHORIZED, "{e}: altered");
        let meta_path = path.replacen("/twilio/", "/meta/", 1);
        assert_eq!(post(&app, &meta_path, &next, None).await.0, StatusCode::NOT_FOUND, "{e}: Meta's path");
        // And a Meta number's key on Twilio's path.
        let sandbox = app.sandbox().await;
        let (meta, _) = app.connect(&sandbox, "300000000000001", "app-secret-1").await;
        let meta_key_on_twilio = meta["webhook_path"].as_str().unwrap().replacen("/meta/", "/twilio/", 1);
        assert_eq!(post(&app, &meta_key_on_twilio, &next, None).await.0, StatusCode::NOT_FOUND, "{e}: Twilio's path");
        assert_eq!(post(&app, "/webhooks/twilio/nokey", &next, None).await.0, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(messages(&app).await.len(), 1, "{e}: nothing stored from refused posts");

        // What Twilio cannot carry yet (an uploaded file, by its media id) is refused before
        // anything is queued.
        let channel = created.body["id"].as_i64().unwrap();
        let reply = json!({"channel_id": channel, "to": "phone:+5511987650000", "type": "document", "document": {"id": "1234"}});
        let r = app.post("/api/v1/messages", reply.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"), "{e}");
        // A dry run says so like any other rule's refusal.
        let dry = app.post("/api/v1/messages?dry_run=true", reply.clone()).await;
        assert_eq!(
            (dry.body["allowed"].as_bool(), dry.body["refusal"]["code"].as_str()),
            (Some(false), Some("not_supported_by_provider")),
            "{e}: {:?}",
            dry.body
        );
        assert_eq!(messages(&app).await.len(), 1, "{e}: nothing queued");
        let health = app.post(&format!("/api/v1/channels/{channel}/health/refresh"), json!({})).await;
        assert_eq!(
            (health.status, health.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"),
            "{e}"
        );
        let outbox = app.get(&format!("/api/v1/channels/{channel}/outbox")).await.body;
        assert_eq!(outbox, json!({"queued": 0, "in_flight": 0, "failed": 0, "unknown": 0}), "{e}: nothing queued");

        // The token rotated: the new one signs from then on (Twilio's signing key is the Auth
        // Token unless a SharedKey was set), the old one no longer does.
        let rotated =
            app.patch(&format!("/api/v1/channels/{channel}"), json!({"access_token": "twilio-auth-token-2"})).await;
        assert_eq!(rotated.status, StatusCode::OK, "{e}: {:?}", rotated.body);
        let third = inbound("SM00000000000000000000000000000003", "third");
        let old = sign(TOKEN, Algorithm::Sha1, &app.url(&path), &third);
        assert_eq!(post(&app, &path, &third, Some(&old)).await.0, StatusCode::UNAUTHORIZED, "{e}: the old token");
        let new = sign("twilio-auth-token-2", Algorithm::Sha1, &app.url(&path), &third);
        assert_eq!(post(&app, &path, &third, Some(&new)).await.0, StatusCode::OK, "{e}: the new token");
        assert_eq!(messages(&app).await.len(), 2, "{e}");

        // A post for another sender of the account (a URL shared by several numbers) is
        // acknowledged but goes into no conversation of this number.
        let mut elsewhere = inbound("SM00000000000000000000000000000004", "for the other number");
        elsewhere.iter_mut().find(|(k, _)| k == "To").unwrap().1 = "whatsapp:+14155230000".into();
        let signed = sign("twilio-auth-token-2", Algorithm::Sha1, &app.url(&path), &elsewhere);
        assert_eq!(post(&app, &path, &elsewhere, Some(&signed)).await.0, StatusCode::OK, "{e}");
        assert_eq!(messages(&app).await.len(), 2, "{e}: not this number's");
        let events = app.get("/api/v1/events?limit=1000").await.body["items"].as_array().unwrap().clone();
        let unroutable = events.iter().find(|ev| ev["kind"] == "whatsapp.webhook.unroutable").expect("recorded");
        assert_eq!(unroutable["payload"]["number"], "14155230000", "{e}: {unroutable}");

        // Templates are made in Twilio's console: creating one here is refused, nothing stored.
        let create = json!({"name": "order_update", "language": "en", "category": "utility",
            "components": [{"type": "body", "text": "Hello {{1}}", "example": {"body_text": [["Ana"]]}}]});
        let r = app.post(&format!("/api/v1/channels/{channel}/templates"), create).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"),
            "{e}: {:?}",
            r.body
        );
        let templates = app.get(&format!("/api/v1/channels/{channel}/templates")).await.body;
        assert_eq!(templates, json!([]), "{e}: nothing stored");
    }
}

/// A conversation through the sandbox playing Twilio: a customer writes through the Twilio
/// number; the agent's text reply and a photo by link go out through Twilio's Messages API from
/// the number, with the channel's webhook as status callback, and Twilio's callbacks move them
/// to delivered; a "later" answer (63018) is tried again and sent once; outside the window
/// (63016) the message fails with Twilio's code. Both engines.
#[tokio::test]
async fn a_conversation_through_the_sandboxs_twilio() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let created = app
            .post(
                "/api/v1/channels",
                json!({"provider": "twilio", "name": "Twilio number", "phone_number_id": "14155238886", "waba_id": ACCOUNT,
                    "display_phone_number": "+1 415 523 8886", "access_token": TOKEN, "graph_base_url": sandbox.twilio_api_base()}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        let path = created.body["webhook_path"].as_str().unwrap().to_owned();
        let channel = created.body["id"].as_i64().unwrap();
        sandbox.add_twilio_number(parley_sandbox::TwilioNumber {
            account_sid: ACCOUNT.into(),
            auth_token: TOKEN.into(),
            number: "14155238886".into(),
            webhook_url: app.url(&path),
        });

        // An app written for the Cloud API, subscribed in Meta's format, gets Twilio's messages
        // in Meta's shape (below).
        let receiver = crate::helpers::Receiver::start().await;
        let hook =
            json!({"url": receiver.url, "format": "meta", "verify_token": "v", "app_secret": "cloud-app-secret"});
        let r = app.post("/api/v1/webhook-subscriptions", hook).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);

        let ana = parley_sandbox::Customer::new("5511987650000", "Ana Lima");
        sandbox.twilio_say("14155238886", &ana, "Olá! Cadê meu pedido?");
        // A photo through Twilio: fetched from its MediaUrl with the account's credentials.
        let photo_bytes = parley_sandbox::samples::photo_png();
        sandbox.twilio_say_media("14155238886", &ana, photo_bytes.clone(), "image/png", "o pacote");
        let both = crate::helpers::eventually(20, || async { messages(&app).await.len() == 2 }).await;
        assert!(both, "{e}: the customer's messages");
        let available = || async { messages(&app).await.into_iter().find(|m| m["media"]["state"] == "available") };
        assert!(app.drive_until(20, || async { available().await.is_some() }).await, "{e}: {:?}", messages(&app).await);
        let received = available().await.unwrap();
        assert_eq!((received["type"].as_str(), received["text"].as_str()), (Some("image"), Some("o pacote")), "{e}");
        assert_eq!(app.media_bytes(&received).await, photo_bytes, "{e}: the same file");
        let forwarded = || -> Vec<Value> {
            receiver
                .hits()
                .iter()
                .map(crate::helpers::Hit::json)
                .filter(|b| b["entry"][0]["changes"][0]["value"]["messages"][0].is_object())
                .collect()
        };
        assert!(crate::helpers::eventually(20, || async { forwarded().len() == 2 }).await, "{e}: {:?}", forwarded());
        let hits = receiver.hits();
        assert!(hits.iter().all(|h| h.headers.contains_key("x-hub-signature-256")), "{e}: signed as Meta signs");
        let values: Vec<Value> = forwarded().iter().map(|b| b["entry"][0]["changes"][0]["value"].clone()).collect();
        let text_in = values.iter().find(|v| v["messages"][0]["type"] == "text").expect("the text, in Meta's shape");
        assert_eq!(text_in["messages"][0]["text"]["body"], "Olá! Cadê meu pedido?", "{e}: {text_in}");
        assert_eq!(text_in["messages"][0]["from"], "5511987650000", "{e}");
        assert_eq!(text_in["contacts"][0]["profile"]["name"], "Ana Lima", "{e}");
        assert_eq!(text_in["metadata"]["phone_number_id"], "14155238886", "{e}");
        let photo_in = values.iter().find(|v| v["messages"][0]["type"] == "image").expect("the photo");
        assert_eq!(photo_in["messages"][0]["image"]["caption"], "o pacote", "{e}: {photo_in}");
        // Its file, by the id Parley gave it, through the Cloud-API-compatible endpoint.
        let media_id = photo_in["messages"][0]["image"]["id"].as_str().unwrap().to_owned();
        assert!(media_id.starts_with("parley-media-"), "{e}: not Twilio's URL: {media_id}");
        let info = app.client.get(app.url(&format!("/graph/v21.0/{media_id}"))).bearer_auth(&app.token).send().await;
        let info: Value = info.unwrap().json().await.unwrap();
        assert_eq!(info["mime_type"], "image/png", "{e}: {info}");
        let file = app.client.get(info["url"].as_str().unwrap()).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(file.bytes().await.unwrap().to_vec(), photo_bytes, "{e}: the same file");

        let send = |body: Value| app.send_message(channel, "phone:+5511987650000", body);
        let text = send(json!({"type": "text", "text": {"body": "Oi, Ana! Já vou ver."}})).await;
        let photo = send(
            json!({"type": "image", "image": {"link": "https://cdn.example.com/parcel.jpg", "caption": "Seu pacote"}}),
        )
        .await;
        for id in [text, photo] {
            assert!(
                app.drive_until(20, || async { app.message_status(id).await == "delivered" }).await,
                "{e}: {id} delivered"
            );
        }
        let sent = sandbox.twilio_sent();
        assert_eq!(sent.len(), 2, "{e}: each sent once");
        let callback = app.url(&path);
        for s in &sent {
            assert_eq!(
                (s.get("From"), s.get("To")),
                (Some("whatsapp:+14155238886"), Some("whatsapp:+5511987650000")),
                "{e}"
            );
            assert_eq!(s.get("StatusCallback"), Some(callback.as_str()), "{e}");
        }
        assert_eq!(sent[0].get("Body"), Some("Oi, Ana! Já vou ver."), "{e}");
        assert_eq!(
            (sent[1].get("MediaUrl"), sent[1].get("Body")),
            (Some("https://cdn.example.com/parcel.jpg"), Some("Seu pacote"))
        );
        let stored = app.get(&format!("/api/v1/messages/{text}")).await.body;
        assert_eq!(stored["provider_message_id"].as_str(), Some(sent[0].sid.as_str()), "{e}: Twilio's SID kept");

        // "Later" is tried again and sent once; "outside the window" fails with Twilio's code.
        sandbox.twilio_fail_next(&[63018]);
        let later = send(json!({"type": "text", "text": {"body": "one more thing"}})).await;
        assert!(app.drive_until(30, || async { app.message_status(later).await == "delivered" }).await, "{e}: retried");
        sandbox.twilio_fail_next(&[63016]);
        let refused = send(json!({"type": "text", "text": {"body": "too late"}})).await;
        assert!(app.drive_until(20, || async { app.message_status(refused).await == "failed" }).await, "{e}");
        let failed = app.get(&format!("/api/v1/messages/{refused}")).await.body;
        assert_eq!(failed["error"]["code"], 63016, "{e}: {failed}");
        assert_eq!(sandbox.twilio_sent().len(), 3, "{e}: the refused ones were not sent, the retried one once");

        // Twilio's Content templates: synced with WhatsApp's verdict, sent by Content SID with
        // numbered variables; one not approved yet is refused before anything is queued.
        let approved = sandbox.add_twilio_content(
            ACCOUNT,
            "order_update",
            "en",
            "Hello {{1}}, your order {{2}} has shipped.",
            "UTILITY",
            "approved",
        );
        sandbox.add_twilio_content(
            ACCOUNT,
            "spring_sale",
            "en",
            "Hi {{1}}, 20% off this week.",
            "MARKETING",
            "pending",
        );
        let synced = app.post(&format!("/api/v1/channels/{channel}/templates/sync"), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}: {:?}", synced.body);
        let listed = app.get(&format!("/api/v1/channels/{channel}/templates")).await.body;
        let status_of = |name: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .map(|t| t["status"].as_str().unwrap_or("").to_owned())
        };
        assert_eq!(
            (status_of("order_update").as_deref(), status_of("spring_sale").as_deref()),
            (Some("approved"), Some("pending")),
            "{e}: {listed}"
        );
        let template = |name: &str| {
            json!({"type": "template", "template": {"name": name, "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-42"}]}]}})
        };
        let shipped = send(template("order_update")).await;
        assert!(
            app.drive_until(20, || async { app.message_status(shipped).await == "delivered" }).await,
            "{e}: the template"
        );
        let sent = sandbox.twilio_sent();
        let last = sent.last().unwrap();
        assert_eq!(
            (last.get("ContentSid"), last.get("Body")),
            (Some(approved.as_str()), None),
            "{e}: by its Content SID"
        );
        let variables: Value = serde_json::from_str(last.get("ContentVariables").unwrap()).unwrap();
        assert_eq!(variables, json!({"1": "Ana", "2": "A-42"}), "{e}");
        let mut pending = template("spring_sale");
        pending["channel_id"] = json!(channel);
        pending["to"] = json!("phone:+5511987650000");
        let r = app.post("/api/v1/messages", pending).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved"),
            "{e}: {:?}",
            r.body
        );
        assert_eq!(sandbox.twilio_sent().len(), 4, "{e}: nothing more sent");

        // A file uploaded from the inbox: Twilio takes files by link, so Parley keeps it and
        // hands Twilio a signed link to it, which opens the file for a day and nothing else.
        let pdf = b"%PDF-1.4 nota fiscal".to_vec();
        let uploaded = app
            .client
            .post(app.url(&format!("/api/v1/media?channel_id={channel}&filename=nota.pdf")))
            .bearer_auth(&app.token)
            .header("content-type", "application/pdf")
            .body(pdf.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), StatusCode::CREATED, "{e}");
        let uploaded_id = uploaded.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        assert!(uploaded_id.starts_with("parley-upload-"), "{e}: kept by Parley: {uploaded_id}");
        let document = send(json!({"type": "document", "document": {"id": uploaded_id, "filename": "nota.pdf"}})).await;
        assert!(app.drive_until(20, || async { app.message_status(document).await == "delivered" }).await, "{e}");
        let sent = sandbox.twilio_sent();
        assert_eq!(sent.len(), 5, "{e}");
        let link = sent[4].get("MediaUrl").expect("the file by link").to_owned();
        assert!(link.starts_with(&app.url("/media/public/")), "{e}: {link}");
        assert!(!link.contains(&app.token), "{e}: no API token in the link");
        let fetched = reqwest::get(&link).await.unwrap();
        assert_eq!(fetched.status(), StatusCode::OK, "{e}: anyone with the link, as Twilio");
        let disposition = fetched.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment"), "{e}: {disposition}");
        assert_eq!(fetched.bytes().await.unwrap().to_vec(), pdf, "{e}: the same file");
        let altered = format!("{}0{}", &link[..link.len() - 1], &link[link.len() - 1..]);
        let wrong = reqwest::get(&altered).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::NOT_FOUND, "{e}: an altered link opens nothing");
        app.clock.advance_secs(25 * 3600);
        assert_eq!(reqwest::get(&link).await.unwrap().status(), StatusCode::NOT_FOUND, "{e}: expired after a day");
    }
}

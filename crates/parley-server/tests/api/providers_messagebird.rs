//! A MessageBird number in Parley (issue 20), on both engines, through the sandbox playing
//! MessageBird: connected with its channel id, access key and signing key (the key only to
//! MessageBird's hosts); its webhook set at MessageBird by Parley; signed posts become
//! conversations, the channel's contact metadata fills the contact's empty fields, files are
//! fetched with the key; replies go through `POST /send` and come back `delivered`; errors are
//! classed; HSM templates are synced with their namespace and sent by it. Unsigned, forged,
//! altered, expired and replayed posts are refused and store nothing; Bird's and the older HMAC
//! signatures are accepted.

use parley_core::{Clock, Timestamp};
use parley_providers::messagebird::signature::{self, HmacScheme};
use parley_sandbox::{Customer, MessageBirdChannel};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const CHANNEL: &str = "619747f69cf940a98fb443140ce9aed2";
const KEY: &str = "live_mb_access_key_1";
const SIGNING: &str = "mb-signing-key-1";

fn hook(id: &str, text: &str, channel: &str) -> Vec<u8> {
    json!({"type": "message.created",
        "contact": {"id": "c1", "msisdn": 4915112345678_i64, "displayName": "Lena Vogel"},
        "message": {"id": id, "channelId": channel, "platform": "whatsapp", "from": "+4915112345678", "to": "+3197010260000",
            "direction": "received", "status": "received", "type": "text", "content": {"text": text},
            "createdDatetime": "2025-06-15T10:00:00Z"}})
    .to_string()
    .into_bytes()
}

async fn post(app: &TestApp, path: &str, body: &[u8], headers: &[(&str, String)]) -> StatusCode {
    let mut request =
        reqwest::Client::new().post(app.url(path)).header("content-type", "application/json").body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn a_conversation_through_the_sandboxs_messagebird() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app =
            TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
        let e = app.engine();
        let sandbox = app.sandbox().await;
        sandbox.add_messagebird_channel(MessageBirdChannel {
            channel_id: CHANNEL.into(),
            access_key: KEY.into(),
            signing_key: SIGNING.into(),
            number: "3197010260000".into(),
            waba_id: "WABA-MB".into(),
            namespace: "ns_sandbox_1".into(),
        });
        let number = json!({"provider": "messagebird", "name": "MessageBird number", "phone_number_id": CHANNEL,
            "waba_id": "WABA-MB", "display_phone_number": "+31 970 1026 0000", "access_token": KEY, "app_secret": SIGNING,
            "graph_base_url": sandbox.messagebird_api_base()});

        // The signing key is needed; the channel id as MessageBird writes it; the key goes to
        // MessageBird only.
        for (field, change) in [
            ("app_secret", json!({"app_secret": null})),
            ("phone_number_id", json!({"phone_number_id": "+3197010260000"})),
            ("verify_token", json!({"verify_token": "x"})),
        ] {
            let mut input = number.clone();
            for (k, v) in change.as_object().unwrap() {
                match v {
                    Value::Null => {
                        input.as_object_mut().unwrap().remove(k);
                    }
                    v => input[k] = v.clone(),
                }
            }
            let r = app.post("/api/v1/channels", input).await;
            assert_eq!(
                (r.status, r.body["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{e}: {:?}",
                r.body
            );
        }
        let mut elsewhere = number.clone();
        elsewhere["graph_base_url"] = json!("https://api.twilio.com");
        let r = app.post("/api/v1/channels", elsewhere).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed"), "{e}");

        let created = app.post("/api/v1/channels", number).await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        assert!(!created.body.to_string().contains(KEY) && !created.body.to_string().contains(SIGNING), "{e}");
        let channel = created.body["id"].as_i64().unwrap();
        let path = created.body["webhook_path"].as_str().unwrap().to_owned();
        assert!(path.starts_with("/webhooks/messagebird/"), "{e}: {path}");
        let registered = app.post(&format!("/api/v1/channels/{channel}/webhook/register"), json!({})).await;
        assert_eq!(registered.status, StatusCode::OK, "{e}: {:?}", registered.body);
        assert_eq!(sandbox.messagebird_webhook(CHANNEL), Some(app.url(&path)), "{e}: set at MessageBird");

        // A customer writes; the channel's contact metadata fills the contact's fields.
        let lena = Customer::new("4915112345678", "Lena Vogel");
        sandbox.messagebird_say(
            CHANNEL,
            &lena,
            "Hallo! Wo ist mein Paket?",
            json!({"Loyalty Tier": "gold", "orders": 3}),
        );
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 1 }).await, "{e}");
        let conversation = app.conversation_of("4915112345678").await;
        let opened = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
        let contact_path = format!("/api/v1/contacts/{}", opened["contact_id"]);
        let filled = || async { app.get(&contact_path).await.body };
        assert!(
            crate::helpers::eventually(10, || async { filled().await["fields"]["loyalty_tier"] == "gold" }).await,
            "{e}: {}",
            filled().await
        );
        let contact = filled().await;
        assert_eq!(contact["name"], "Lena Vogel", "{e}");
        assert_eq!(
            (contact["fields"]["messagebird_contact_id"].as_str(), contact["fields"]["orders"].as_i64()),
            (Some("c4915112345678"), Some(3)),
            "{e}: {contact}"
        );
        // A field the team set is theirs: the channel's metadata does not overwrite it.
        let r = app.patch(&contact_path, json!({"fields": {"loyalty_tier": "platinum"}})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        let photo = parley_sandbox::samples::photo_png();
        sandbox.messagebird_say_media(CHANNEL, &lena, photo.clone(), "image/png", "das Paket");
        let available = || async { app.all_messages().await.into_iter().find(|m| m["media"]["state"] == "available") };
        assert!(
            app.drive_until(20, || async { available().await.is_some() }).await,
            "{e}: {:?}",
            app.all_messages().await
        );
        let received = available().await.unwrap();
        assert_eq!(app.media_bytes(&received).await, photo, "{e}: the same file");
        sandbox.messagebird_say(CHANNEL, &lena, "Danke", json!({"Loyalty Tier": "gold"}));
        assert!(crate::helpers::eventually(20, || async { app.all_messages().await.len() == 3 }).await, "{e}");
        assert_eq!(filled().await["fields"]["loyalty_tier"], "platinum", "{e}: kept");

        // Replies through `POST /send`, from the channel, statuses back to the channel's webhook.
        let send = |body: Value| app.send_message(channel, "phone:+4915112345678", body);
        let text = send(json!({"type": "text", "text": {"body": "Hallo Lena!"}})).await;
        let image = send(
            json!({"type": "image", "image": {"link": "https://cdn.example.com/paket.jpg", "caption": "Ihr Paket"}}),
        )
        .await;
        let place = send(json!({"type": "location", "location": {"latitude": 52.52, "longitude": 13.405}})).await;
        for id in [text, image, place] {
            assert!(app.drive_until(20, || async { app.message_status(id).await == "delivered" }).await, "{e}: {id}");
        }
        let sent = sandbox.messagebird_sent();
        assert_eq!(sent.len(), 3, "{e}: each sent once");
        for s in &sent {
            assert_eq!(
                (s.body["from"].as_str(), s.body["to"].as_str()),
                (Some(CHANNEL), Some("+4915112345678")),
                "{e}"
            );
            assert_eq!(s.body["reportUrl"].as_str(), Some(app.url(&path).as_str()), "{e}");
        }
        assert_eq!(
            sent[1].body["content"],
            json!({"image": {"url": "https://cdn.example.com/paket.jpg", "caption": "Ihr Paket"}}),
            "{e}"
        );
        let stored = app.get(&format!("/api/v1/messages/{text}")).await.body;
        assert_eq!(stored["provider_message_id"].as_str(), Some(sent[0].id.as_str()), "{e}");
        // An uploaded file means nothing to MessageBird: refused before anything is queued.
        let r = app.post("/api/v1/messages", json!({"channel_id": channel, "to": "phone:+4915112345678", "type": "document", "document": {"id": "123"}})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"), "{e}");

        // A 429 is tried again and sent once; a refusal fails with MessageBird's code.
        sandbox.messagebird_fail_next(&[(429, 0)]);
        let later = send(json!({"type": "text", "text": {"body": "noch etwas"}})).await;
        assert!(app.drive_until(30, || async { app.message_status(later).await == "delivered" }).await, "{e}");
        sandbox.messagebird_fail_next(&[(422, 21)]);
        let refused = send(json!({"type": "text", "text": {"body": "abgelehnt"}})).await;
        assert!(app.drive_until(20, || async { app.message_status(refused).await == "failed" }).await, "{e}");
        assert_eq!(app.get(&format!("/api/v1/messages/{refused}")).await.body["error"]["code"], 21, "{e}");
        assert_eq!(sandbox.messagebird_sent().len(), 4, "{e}");

        // HSM templates: synced with their namespace, sent by it; one not approved is refused.
        sandbox.add_messagebird_template(
            CHANNEL,
            "order_update",
            "de",
            "Hallo {{1}}, Ihre Bestellung {{2}} ist unterwegs.",
            "APPROVED",
        );
        sandbox.add_messagebird_template(CHANNEL, "spring_sale", "de", "20% Rabatt", "PENDING");
        let synced = app.post(&format!("/api/v1/channels/{channel}/templates/sync"), json!({})).await;
        assert_eq!(synced.status, StatusCode::OK, "{e}: {:?}", synced.body);
        let template = |name: &str| {
            json!({"type": "template", "template": {"name": name, "language": {"code": "de"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Lena"}, {"type": "text", "text": "A-42"}]}]}})
        };
        let shipped = send(template("order_update")).await;
        assert!(app.drive_until(20, || async { app.message_status(shipped).await == "delivered" }).await, "{e}");
        let last = sandbox.messagebird_sent().last().unwrap().body.clone();
        assert_eq!(last["type"], "hsm", "{e}");
        assert_eq!(
            last["content"]["hsm"],
            json!({"namespace": "ns_sandbox_1", "templateName": "order_update", "language": {"policy": "deterministic", "code": "de"},
                "params": [{"default": "Lena"}, {"default": "A-42"}]}),
            "{e}"
        );
        let mut pending = template("spring_sale");
        pending["channel_id"] = json!(channel);
        pending["to"] = json!("phone:+4915112345678");
        let r = app.post("/api/v1/messages", pending).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved"), "{e}");
        let create = json!({"name": "made_here", "language": "de", "category": "utility", "components": [{"type": "body", "text": "Hallo"}]});
        let r = app.post(&format!("/api/v1/channels/{channel}/templates"), create).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_supported_by_provider"), "{e}");

        // Signatures: unsigned, forged, altered, expired, replayed refused; Bird's and the older
        // HMAC signatures taken; another channel's post acknowledged, not stored.
        let before = app.all_messages().await.len();
        let url = app.url(&path);
        let now = app.clock.now();
        let body = hook("mb-hand-1", "von Hand", CHANNEL);
        let jwt = |key: &str, body: &[u8], at: Timestamp, jti: &str| {
            vec![(signature::JWT_HEADER, signature::sign(key, &url, body, at, 60, Some(jti.to_owned())))]
        };
        assert_eq!(post(&app, &path, &body, &[]).await, StatusCode::UNAUTHORIZED, "{e}: unsigned");
        assert_eq!(
            post(&app, &path, &body, &jwt("wrong-key", &body, now, "j0")).await,
            StatusCode::UNAUTHORIZED,
            "{e}: forged"
        );
        let altered = hook("mb-hand-1", "verändert", CHANNEL);
        assert_eq!(
            post(&app, &path, &altered, &jwt(SIGNING, &body, now, "j1")).await,
            StatusCode::UNAUTHORIZED,
            "{e}: altered"
        );
        let old = Timestamp::from_secs(now.as_secs() - 3600);
        assert_eq!(
            post(&app, &path, &body, &jwt(SIGNING, &body, old, "j2")).await,
            StatusCode::UNAUTHORIZED,
            "{e}: expired"
        );
        let without_id = vec![(signature::JWT_HEADER, signature::sign(SIGNING, &url, &body, now, 60, None))];
        assert_eq!(
            post(&app, &path, &body, &without_id).await,
            StatusCode::UNAUTHORIZED,
            "{e}: no jti, no replay check"
        );
        let meta_path = path.replacen("/messagebird/", "/meta/", 1);
        assert_eq!(post(&app, &meta_path, &body, &jwt(SIGNING, &body, now, "j3")).await, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(app.all_messages().await.len(), before, "{e}: nothing stored from refused posts");
        let signed = jwt(SIGNING, &body, now, "j4");
        assert_eq!(post(&app, &path, &body, &signed).await, StatusCode::OK, "{e}: signed");
        assert_eq!(post(&app, &path, &body, &signed).await, StatusCode::UNAUTHORIZED, "{e}: the same token again");
        for (n, scheme) in [(2, HmacScheme::Bird), (3, HmacScheme::Legacy)] {
            let body = hook(&format!("mb-hand-{n}"), "HMAC", CHANNEL);
            let headers = vec![
                (signature::HMAC_HEADER, signature::sign_hmac(SIGNING, scheme, &url, &body, now.as_secs())),
                (signature::TIMESTAMP_HEADER, now.as_secs().to_string()),
            ];
            assert_eq!(post(&app, &path, &body, &headers).await, StatusCode::OK, "{e}: {scheme:?}");
        }
        let other = hook("mb-hand-4", "für einen anderen Kanal", "00000000000000000000000000000000");
        assert_eq!(post(&app, &path, &other, &jwt(SIGNING, &other, now, "j5")).await, StatusCode::OK, "{e}");
        assert_eq!(app.all_messages().await.len(), before + 3, "{e}: the three signed ones, once each");
        let events = app.get("/api/v1/events?limit=1000").await.body["items"].as_array().unwrap().clone();
        assert!(
            events.iter().any(|ev| ev["kind"] == "whatsapp.webhook.unroutable"
                && ev["payload"]["channel_id"] == "00000000000000000000000000000000"),
            "{e}"
        );
    }
}

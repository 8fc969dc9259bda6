//! Inbound end to end: the sandbox plays Meta and posts signed webhooks to the real server.

use std::time::Duration;

use parley_core::Clock;
use parley_core::message::Content;
use parley_providers::meta::signature;
use parley_sandbox::customer::every_type;
use parley_sandbox::{Batching, Customer, Item, Say};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn ana() -> Customer {
    Customer::new("33612345678", "Ana")
}

#[tokio::test]
async fn handshake_answers_the_challenge_only_with_the_right_token() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let wired = app.wired().await;
    let path = wired.channel["webhook_path"].as_str().unwrap();
    let get = |query: String| {
        let url = app.url(&format!("{path}?{query}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let ok = get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-me".into()).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for bad in [
        "hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope",
        "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=verify-me",
        "hub.challenge=1",
    ] {
        assert_eq!(get(bad.into()).await.status(), StatusCode::FORBIDDEN, "{bad}");
    }
    let unknown = app
        .client
        .get(app.url("/webhooks/meta/nope?hub.mode=subscribe&hub.challenge=1&hub.verify_token=verify-me"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_message_type_is_stored_with_its_content_and_media() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let sandbox = &wired.sandbox;
        let pnid = &wired.number.phone_number_id;
        let file = b"\x89PNG fake image bytes".to_vec();
        let media = sandbox.add_media(file.clone(), "image/jpeg");
        let first = sandbox.say(pnid, &ana(), Say::text("first"));
        let says = every_type(&media, &first);
        let items: Vec<Item> = says.iter().map(|s| sandbox.message(pnid, &ana(), s)).collect();
        sandbox.deliver(items, Batching::default());
        assert!(sandbox.wait_idle(WAIT).await, "{e}: deliveries not acknowledged");

        let msgs = app.all_messages().await;
        assert_eq!(msgs.len(), 1 + says.len(), "{e}: every message stored once");
        let types: Vec<&str> = msgs.iter().map(|m| m["type"].as_str().unwrap()).collect();
        for t in [
            "text",
            "image",
            "audio",
            "video",
            "document",
            "sticker",
            "location",
            "contacts",
            "interactive",
            "button",
            "reaction",
            "order",
            "edit",
            "revoke",
            "unsupported",
            "hologram",
        ] {
            assert!(types.contains(&t), "{e}: no {t} message in {types:?}");
        }
        let by_type = |t: &str| msgs.iter().find(|m| m["type"] == t).unwrap().clone();
        assert_eq!(by_type("location")["content"]["name"], "Tour Eiffel");
        assert_eq!(by_type("audio")["content"]["voice"], true);
        assert_eq!(by_type("document")["text"], "the invoice");
        assert_eq!(by_type("order")["content"]["items"][0]["item_price"], 7.99);
        assert_eq!(by_type("button")["content"]["payload"], "TRACK:1");
        assert_eq!(by_type("unsupported")["error"], Value::Null, "the message itself did not fail");
        let with_ad = msgs.iter().find(|m| m["text"] == "from the ad").unwrap();
        assert_eq!(with_ad["referral"]["source_id"], "AD-1");
        let reply = msgs.iter().find(|m| m["text"] == "I agree").unwrap();
        assert_eq!(reply["context"]["reply_to"].as_str(), Some(first.as_str()));
        let flows: Vec<&Value> = msgs.iter().filter(|m| m["content"]["kind"] == "nfm_reply").collect();
        assert_eq!(flows[0]["content"]["response"]["size"], "M");
        // The first message was edited, then revoked.
        let original = msgs.iter().find(|m| m["provider_message_id"] == first.as_str()).unwrap();
        assert_eq!(
            (original["text"].as_str(), original["edited_at"].is_string(), original["revoked_at"].is_string()),
            (Some("edited text"), true, true)
        );
        // Every message has the documented fields.
        for m in &msgs {
            for key in ["id", "direction", "type", "provider_message_id", "status", "error", "sent_at", "content"] {
                assert!(m.get(key).is_some(), "{e}: message without {key}: {m}");
            }
            assert_eq!(m["direction"], "in");
            // The typed content parses back into the domain type.
            serde_json::from_value::<Content>(m["content"].clone()).unwrap();
        }

        // Media arrive after the commit, downloaded by the worker.
        let image_id = by_type("image")["id"].as_i64().unwrap();
        let ready = eventually(20, || async {
            app.all_messages().await.iter().filter(|m| m["media"]["state"] == "available").count() == 5
        })
        .await;
        assert!(
            ready,
            "{e}: media not downloaded: {:?}",
            app.all_messages().await.iter().map(|m| m["media"].clone()).collect::<Vec<_>>()
        );
        let got = app
            .client
            .get(app.url(&format!("/api/v1/messages/{image_id}/media")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        assert_eq!(got.bytes().await.unwrap().to_vec(), file);
    }
}

#[tokio::test]
async fn duplicates_and_reordering_store_each_message_once_in_provider_order() {
    for app in TestApp::all().await {
        let wired = app.wired().await;
        let (sandbox, pnid) = (&wired.sandbox, wired.number.phone_number_id.clone());
        let base = app.clock.now().as_secs();
        let items: Vec<Item> =
            (0..20).map(|i| sandbox.message_at(&pnid, &ana(), &Say::text(&format!("m{i:02}")), base + i)).collect();
        // One per post, every post twice, last first.
        sandbox.deliver(items, Batching { per_post: 1, duplicate: true, reverse: true, ..Batching::default() });
        assert!(sandbox.wait_idle(WAIT).await);
        let stats = sandbox.stats();
        assert_eq!((stats.posts, stats.acked), (40, 40), "{}: every post acknowledged", app.engine());
        let texts: Vec<String> =
            app.all_messages().await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
        let expected: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
        assert_eq!(texts, expected, "{}: once each, in provider-time order", app.engine());
        let conv = &app.get("/api/v1/conversations").await.body["items"][0];
        assert_eq!(conv["last_inbound_at"], parley_core::Timestamp::from_secs(base + 19).to_rfc3339());
    }
}

#[tokio::test]
async fn a_batch_of_1000_updates_across_two_numbers() {
    for app in TestApp::all().await {
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let (one, _) = app.connect(&sandbox, "PN-ONE", "shared-app-secret").await;
        let (two, _) = app.connect(&sandbox, "PN-TWO", "shared-app-secret").await;
        let mut items = Vec::new();
        for i in 0..500 {
            let customer = Customer::new(&format!("3361234{:04}", i % 50), "Customer");
            items.push(sandbox.message(
                if (i / 50) % 2 == 0 { "PN-ONE" } else { "PN-TWO" },
                &customer,
                &Say::text(&format!("hello {i}")),
            ));
        }
        // Statuses for messages we never sent are kept in the log; template updates are events.
        for i in 0..450 {
            items.push(sandbox.status("PN-TWO", &format!("wamid.unknown{i}"), "delivered", "33612340000", None));
        }
        for i in 0..50 {
            items.push(Item::Change {
                waba_id: "WABA-1".into(),
                field: "message_template_status_update".into(),
                value: json!({"event": "APPROVED", "message_template_id": i, "message_template_name": format!("t{i}")}),
            });
        }
        assert_eq!(items.len(), 1000);
        sandbox.deliver(items, Batching { per_post: 1000, ..Batching::default() });
        assert!(sandbox.wait_idle(WAIT).await);
        assert_eq!(sandbox.stats().posts, 1, "one post");
        let convs = app.get("/api/v1/conversations?limit=200").await.body["items"].as_array().unwrap().clone();
        assert_eq!(convs.len(), 100, "{e}: 50 customers on each of two numbers");
        let on = |ch: &Value| convs.iter().filter(|c| c["channel_id"] == ch["id"]).count();
        assert_eq!((on(&one), on(&two)), (50, 50));
        assert_eq!(app.all_messages().await.len(), 500);
        let contacts = app.get("/api/v1/contacts?limit=200").await.body["items"].as_array().unwrap().len();
        assert_eq!(contacts, 50, "{e}: the same customer on two numbers is one contact");
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = app.get(&format!("/api/v1/events?after={after}&limit=1000")).await;
            let items = page.body["items"].as_array().unwrap().clone();
            if items.is_empty() {
                break;
            }
            after = page.body["last_id"].as_i64().unwrap();
            events.extend(items);
        }
        let templates = events.iter().filter(|ev| ev["kind"] == "whatsapp.message_template_status_update").count();
        assert_eq!(templates, 50);
    }
}

#[tokio::test]
async fn forged_unsigned_oversized_and_malformed_webhooks_are_refused_and_store_nothing() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (sandbox, pnid) = (&wired.sandbox, wired.number.phone_number_id.clone());
        let item = sandbox.message(&pnid, &ana(), &Say::text("forged"));
        sandbox.deliver(vec![item], Batching { forge: true, ..Batching::default() });
        assert!(sandbox.wait_idle(WAIT).await);
        assert_eq!(sandbox.stats().statuses, vec![401], "{e}");

        let url = app.url(wired.channel["webhook_path"].as_str().unwrap());
        let secret = &wired.number.app_secret;
        let post = |body: Vec<u8>, sig: Option<String>| {
            let mut req = app.client.post(&url).header("content-type", "application/json").body(body);
            if let Some(sig) = sig {
                req = req.header(signature::HEADER, sig);
            }
            req.send()
        };
        let valid = br#"{"object":"whatsapp_business_account","entry":[]}"#.to_vec();
        assert_eq!(post(valid.clone(), None).await.unwrap().status(), StatusCode::UNAUTHORIZED, "unsigned");
        assert_eq!(
            post(valid.clone(), Some("sha256=00".into())).await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "bad signature"
        );
        let malformed = b"{\"object\": \"whatsapp_business_account\", \"entry\": [".to_vec();
        let r = post(malformed.clone(), Some(signature::sign(secret, &malformed))).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "signed but malformed");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_request");
        let wrong = br#"{"object":"page","entry":[]}"#.to_vec();
        assert_eq!(
            post(wrong.clone(), Some(signature::sign(secret, &wrong))).await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
        let bad_field = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"Bad Field"}]}]}"#;
        let r = post(bad_field.to_vec(), Some(signature::sign(secret, bad_field))).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "signed, a field that is not a field name");
        assert!(
            app.state.store.journal_pending(0, 10).await.unwrap().is_empty(),
            "{e}: a refused webhook was journaled"
        );
        let huge =
            format!(r#"{{"object":"whatsapp_business_account","entry":[],"pad":"{}"}}"#, "x".repeat(5 * 1024 * 1024))
                .into_bytes();
        let r = post(huge.clone(), Some(signature::sign(secret, &huge))).await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(post(valid.clone(), Some(signature::sign(secret, &valid))).await.unwrap().status(), StatusCode::OK);

        assert!(app.all_messages().await.is_empty(), "{e}: a refused webhook stored a message");
        assert_eq!(app.get("/api/v1/contacts").await.body["items"], json!([]));
        let kinds: Vec<String> = app.get("/api/v1/events").await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ev| ev["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds, ["channel.created"], "{e}");
    }
}

#[tokio::test]
async fn a_signature_for_one_app_cannot_write_into_another_apps_number() {
    for app in TestApp::all().await {
        let sandbox = app.sandbox().await;
        let (_, mine) = app.connect(&sandbox, "PN-MINE", "secret-of-app-a").await;
        let (theirs, _) = app.connect(&sandbox, "PN-THEIRS", "secret-of-app-b").await;
        // A batch signed with app A's secret that names app B's number.
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA-1", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "PN-THEIRS"},
                "messages": [{"from": "33612345678", "id": "wamid.sneaky", "timestamp": "1750000000", "type": "text", "text": {"body": "injected"}}]}}]}]});
        let bytes = body.to_string().into_bytes();
        let r = app
            .client
            .post(&mine.webhook_url)
            .header(signature::HEADER, signature::sign(&mine.app_secret, &bytes))
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "acknowledged so Meta does not retry for a week");
        assert!(app.all_messages().await.is_empty(), "{}: nothing written into the other app's number", app.engine());
        let events = app.get("/api/v1/events").await.body["items"].as_array().unwrap().clone();
        let unroutable = events.iter().find(|ev| ev["kind"] == "whatsapp.webhook.unroutable").expect("recorded");
        assert_eq!(unroutable["payload"]["phone_number_id"], "PN-THEIRS");
        assert_ne!(theirs["id"], Value::Null);
    }
}

#[tokio::test]
async fn unknown_fields_and_other_webhook_fields_are_kept() {
    for app in TestApp::all().await {
        let wired = app.wired().await;
        let sandbox = &wired.sandbox;
        let mut say = Say::text("with extras");
        say.body["future_field"] = json!({"nested": true});
        let item = sandbox.message(&wired.number.phone_number_id, &ana(), &say);
        let prefs = Item::Change {
            waba_id: "WABA-1".into(),
            field: "user_preferences".into(),
            value: json!({
            "metadata": {"phone_number_id": wired.number.phone_number_id},
            "user_preferences": [{"wa_id": "33612345678", "detail": "d", "category": "marketing_messages", "value": "stop", "timestamp": 1750000000}]}),
        };
        let quality = Item::Change {
            waba_id: "WABA-1".into(),
            field: "phone_number_quality_update".into(),
            value: json!({"display_phone_number": "15550001111", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_UNLIMITED"}),
        };
        sandbox.deliver(vec![item, prefs, quality], Batching::default());
        assert!(sandbox.wait_idle(WAIT).await);
        assert_eq!(app.all_messages().await[0]["text"], "with extras");
        let kinds: Vec<String> = app.get("/api/v1/events?limit=1000").await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ev| ev["kind"].as_str().unwrap().to_owned())
            .collect();
        for k in ["contact.marketing_preference", "whatsapp.phone_number_quality_update", "message.received"] {
            assert!(kinds.contains(&k.to_owned()), "{}: no {k} in {kinds:?}", app.engine());
        }
    }
}

#[tokio::test]
async fn media_downloads_retry_until_they_succeed() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let wired = app.wired().await;
    let sandbox = &wired.sandbox;
    let media = sandbox.add_media(b"voice note".to_vec(), "audio/ogg");
    sandbox.fail_media(&media, 2);
    sandbox.say(&wired.number.phone_number_id, &ana(), Say::media("audio", &media, "audio/ogg"));
    assert!(sandbox.wait_idle(WAIT).await);
    let state = || async { app.all_messages().await[0]["media"]["state"].as_str().unwrap_or_default().to_owned() };
    // Each failure schedules a retry; move the clock past it instead of waiting.
    for _ in 0..20 {
        if state().await == "available" {
            break;
        }
        app.clock.advance_secs(60);
        app.state.media_wakeup.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state().await, "available");
    let id = app.all_messages().await[0]["id"].as_i64().unwrap();
    let file =
        app.client.get(app.url(&format!("/api/v1/messages/{id}/media"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"voice note");

    // A media the provider no longer has fails for good, and says so.
    sandbox.say(&wired.number.phone_number_id, &ana(), Say::media("image", "999", "image/jpeg"));
    assert!(sandbox.wait_idle(WAIT).await);
    let failed =
        eventually(10, || async { app.all_messages().await.iter().any(|m| m["media"]["state"] == "failed") }).await;
    assert!(failed);
    let msg = app.all_messages().await.into_iter().find(|m| m["media"]["state"] == "failed").unwrap();
    let r = app.get(&format!("/api/v1/messages/{}/media", msg["id"])).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "media_not_available"));
}

#[tokio::test]
async fn conversations_filter_and_page() {
    for app in TestApp::all().await {
        let wired = app.wired().await;
        let (sandbox, pnid) = (&wired.sandbox, wired.number.phone_number_id.clone());
        for i in 0..5 {
            sandbox.say(&pnid, &Customer::new(&format!("3361234567{i}"), &format!("C{i}")), Say::text("hi"));
        }
        assert!(sandbox.wait_idle(WAIT).await);
        let first = app.get("/api/v1/conversations?limit=2").await;
        assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
        let next = app
            .get(&format!("/api/v1/conversations?limit=10&cursor={}", first.body["next_cursor"].as_str().unwrap()))
            .await;
        assert_eq!(next.body["items"].as_array().unwrap().len(), 3, "{}", app.engine());
        let mine = app.get("/api/v1/conversations?contact=phone:+33612345672").await;
        assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/api/v1/conversations?contact=phone:+84912345678").await.body["items"], json!([]));
        assert_eq!(
            app.get(&format!("/api/v1/conversations?channel={}&status=open", wired.channel["id"])).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assert_eq!(app.get("/api/v1/conversations?status=closed").await.body["items"], json!([]));
        for bad in ["status=archived", "cursor=x", "limit=0", "colour=red"] {
            assert_eq!(app.get(&format!("/api/v1/conversations?{bad}")).await.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let id = first.body["items"][0]["id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/api/v1/conversations/{id}")).await.body["id"], id);
        assert_eq!(app.get("/api/v1/conversations/999999").await.status, StatusCode::NOT_FOUND);
    }
}

//! A bot whose answers come from Dialogflow (issue 17, point 3), against the sandbox's fake of
//! Google (token endpoint checking the signed JWT, `detectIntent` in ES and CX): it answers each
//! customer message once, in the agent's language, as the bot; it hands over on a hand-over
//! intent, on a CX live-agent hand-off, when Google refuses it, and after three passes without
//! reaching its agent; the key is never shown; bad settings are refused and change nothing.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired, eventually};

async fn assignee(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body["assignee_id"].clone()
}

/// The texts the sandbox's business side sent to `phone`.
fn sent_to(wired: &Wired, phone: &str) -> Vec<String> {
    wired
        .sandbox
        .sent()
        .iter()
        .filter(|s| s.to == phone)
        .filter_map(|s| s.body["text"]["body"].as_str().map(str::to_owned))
        .collect()
}

async fn make_bot(app: &TestApp) -> i64 {
    let made = app.post("/api/v1/bots", json!({"name": "Shop assistant", "handover_keywords": []})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    made.body["bot"]["id"].as_i64().unwrap()
}

async fn assign(app: &TestApp, conv: i64, bot: i64) {
    let r = app.post(&format!("/api/v1/conversations/{conv}/assign"), json!({"user_id": bot})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn notes(app: &TestApp, conv: i64) -> String {
    app.get(&format!("/api/v1/conversations/{conv}/notes")).await.body.to_string()
}

#[tokio::test]
async fn an_es_bot_answers_each_message_once_and_hands_over_on_its_intent() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let bot = make_bot(&app).await;
        let key: Value = serde_json::from_str(&wired.sandbox.dialogflow_key()).unwrap();
        let path = format!("/api/v1/bots/{bot}/dialogflow");
        let settings = json!({"edition": "es", "language": "fr", "handover_intents": ["refund.request"],
            "endpoint": wired.sandbox.dialogflow_endpoint(), "key": key});
        let set = app.call(Method::PUT, &path, Some(settings.clone())).await;
        assert_eq!(set.status, StatusCode::OK, "{e}: {:?}", set.body);
        assert_eq!(set.body["project"], "parley-sandbox", "{e}: the key's project by default");
        assert_eq!(set.body["client_email"], "parley-bot@parley-sandbox.iam.gserviceaccount.com");
        let shown = app.get(&path).await;
        assert_eq!(shown.body, set.body, "{e}");
        assert!(!shown.body.to_string().contains("PRIVATE KEY"), "{e}: the key is never shown");

        // Refusals change nothing.
        let with = |patch: Value| {
            let mut body = settings.clone();
            body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
            body
        };
        let bad_key = json!({"type": "service_account", "private_key_id": "k", "private_key": "nope",
            "client_email": "a@b.c", "token_uri": "https://oauth2.googleapis.com/token"});
        let mut metadata_key = key.clone();
        metadata_key["token_uri"] = json!("http://169.254.169.254/token");
        for (patch, status, code) in [
            (json!({"edition": "lex"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_dialogflow_agent"),
            (json!({"location": "x.evil.com/"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_dialogflow_agent"),
            (json!({"key": bad_key}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_service_account_key"),
            (json!({"key": "not json"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_service_account_key"),
            (json!({"key": metadata_key}), StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed"),
            (json!({"endpoint": "http://10.0.0.1:8080"}), StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed"),
            (json!({"surprise": 1}), StatusCode::BAD_REQUEST, "invalid_request"),
        ] {
            let r = app.call(Method::PUT, &path, Some(with(patch.clone()))).await;
            assert_eq!((r.status, r.code()), (status, code), "{e}: {patch}: {:?}", r.body);
        }
        assert_eq!(app.get(&path).await.body, set.body, "{e}: unchanged");
        let agent = app.token_for("agent", "agent@acme.example").await;
        let r = app.call_as(Some(&agent), Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
        let owner = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
        let r = app.call(Method::PUT, &format!("/api/v1/bots/{owner}/dialogflow"), Some(settings.clone())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}: a person is not a bot");
        // Another workspace's owner, same server: not found, whatever the verb.
        let other = parley_server::admin::bootstrap(
            &*app.db.store,
            "globex",
            "owner@globex.example",
            "another good password".into(),
            crate::helpers::START,
        )
        .await
        .unwrap();
        for (method, body) in [(Method::GET, None), (Method::PUT, Some(settings.clone())), (Method::DELETE, None)] {
            let r = app.call_as(Some(&other.token), method.clone(), &path, body).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{e}: {method}");
        }
        let r =
            app.call_as(Some(&other.token), Method::POST, &format!("{path}/test"), Some(json!({"text": "hi"}))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}");

        // Trying it sends nothing.
        let tried = app.post(&format!("{path}/test"), json!({"text": "Bonjour !"})).await;
        assert_eq!(tried.status, StatusCode::OK, "{e}: {:?}", tried.body);
        assert_eq!(tried.body["intent"], "Default Welcome Intent");
        assert!(tried.body["texts"][0].as_str().unwrap().starts_with("Bonjour"), "{e}: {}", tried.body);
        assert_eq!(tried.body["hands_over"], false);
        assert!(wired.sandbox.sent().is_empty(), "{e}");

        // A customer writes; the conversation is given to the bot; the bot answers, once.
        wired.writes("33611110000", "Bonjour").await;
        let conv = app.conversation_of("33611110000").await;
        assign(&app, conv, bot).await;
        let answered = eventually(15, || async { !sent_to(&wired, "33611110000").is_empty() }).await;
        assert!(answered, "{e}: the bot never answered");
        app.timer_passes(3).await;
        let texts = sent_to(&wired, "33611110000");
        assert_eq!(texts.len(), 1, "{e}: once: {texts:?}");
        assert!(texts[0].starts_with("Bonjour ! Je suis"), "{e}: {texts:?}");
        let msgs = app.get(&format!("/api/v1/conversations/{conv}/messages")).await.body;
        let out: Vec<&Value> = msgs["items"].as_array().unwrap().iter().filter(|m| m["direction"] == "out").collect();
        assert_eq!(out.len(), 1, "{e}: {msgs}");
        assert_eq!(out[0]["author_id"], bot, "{e}: the bot's message");
        let queries = wired.sandbox.dialogflow_queries();
        let heard: Vec<_> = queries.iter().filter(|q| q.session == format!("parley-{conv}")).collect();
        assert_eq!(heard.len(), 1, "{e}: asked once: {queries:?}");
        assert_eq!(
            (heard[0].edition.as_str(), heard[0].language.as_str(), heard[0].text.as_str()),
            ("es", "fr", "Bonjour")
        );

        // The next question gets the next answer.
        app.clock.advance_secs(1);
        wired.writes("33611110000", "Vous êtes ouvert samedi ?").await;
        let two = eventually(15, || async { sent_to(&wired, "33611110000").len() == 2 }).await;
        assert!(two, "{e}: {:?}", sent_to(&wired, "33611110000"));
        assert!(sent_to(&wired, "33611110000")[1].contains("lundi au samedi"), "{e}");
        assert_eq!(assignee(&app, conv).await, json!(bot), "{e}: still the bot's");

        // A hand-over intent: the bot's answer goes out, then the team has the conversation.
        app.clock.advance_secs(1);
        wired.writes("33611110000", "Je veux un remboursement").await;
        let handed = eventually(15, || async { assignee(&app, conv).await.is_null() }).await;
        assert!(handed, "{e}: still the bot's");
        // The answer was queued before the hand-over; the dispatcher takes it to WhatsApp.
        let out = eventually(10, || async {
            sent_to(&wired, "33611110000").last().is_some_and(|t| t.contains("remboursements"))
        })
        .await;
        assert!(out, "{e}: {:?}", sent_to(&wired, "33611110000"));
        assert!(notes(&app, conv).await.contains("refund.request"), "{e}: {}", notes(&app, conv).await);

        // Without its agent the bot stops asking.
        assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND, "{e}");
    }
}

#[tokio::test]
async fn a_cx_bot_hands_over_on_hand_off_refusal_and_lasting_failure() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let bot = make_bot(&app).await;
        let key: Value = serde_json::from_str(&wired.sandbox.dialogflow_key()).unwrap();
        let path = format!("/api/v1/bots/{bot}/dialogflow");
        let cx = json!({"edition": "cx", "agent": "shop-agent", "location": "europe-west1",
            "endpoint": wired.sandbox.dialogflow_endpoint(), "key": key});
        let set = app.call(Method::PUT, &path, Some(cx)).await;
        assert_eq!(set.status, StatusCode::OK, "{e}: {:?}", set.body);

        // Two failures, then Google answers: one answer.
        wired.sandbox.fail_dialogflow(2);
        wired.writes("33622220000", "Where is my order?").await;
        let first = app.conversation_of("33622220000").await;
        assign(&app, first, bot).await;
        let answered = eventually(20, || async { !sent_to(&wired, "33622220000").is_empty() }).await;
        assert!(answered, "{e}: never answered after the failures");
        assert!(sent_to(&wired, "33622220000")[0].contains("warehouse"), "{e}");
        assert_eq!(assignee(&app, first).await, json!(bot), "{e}: two failures are not a hand-over");
        let q = wired.sandbox.dialogflow_queries();
        assert_eq!(
            q.last().map(|q| (q.edition.as_str(), q.location.as_str(), q.agent.as_deref())),
            Some(("cx", "europe-west1", Some("shop-agent"))),
            "{e}"
        );

        // The agent's live-agent hand-off hands over (no hand-over intents named).
        app.clock.advance_secs(1);
        wired.writes("33622220000", "I want a refund").await;
        assert!(eventually(15, || async { assignee(&app, first).await.is_null() }).await, "{e}: still the bot's");
        assert!(notes(&app, first).await.contains("refund.request"), "{e}");

        // Google down for good: three passes, then a person.
        wired.sandbox.fail_dialogflow(1_000);
        wired.writes("33633330000", "hello").await;
        let second = app.conversation_of("33633330000").await;
        assign(&app, second, bot).await;
        assert!(eventually(20, || async { assignee(&app, second).await.is_null() }).await, "{e}: still the bot's");
        assert!(notes(&app, second).await.contains("could not answer"), "{e}: {}", notes(&app, second).await);
        assert!(sent_to(&wired, "33633330000").is_empty(), "{e}");
        let asked = |conv: i64| {
            let session = format!("parley-{conv}");
            wired.sandbox.dialogflow_queries().iter().filter(|q| q.session == session).count()
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(asked(second), 3, "{e}: three tries, then a person");
        wired.sandbox.fail_dialogflow(0);

        // Google refuses the project: at once, a person.
        let other_project = json!({"edition": "cx", "agent": "shop-agent", "project": "someone-elses",
            "endpoint": wired.sandbox.dialogflow_endpoint()});
        let set = app.call(Method::PUT, &path, Some(other_project)).await;
        assert_eq!(set.status, StatusCode::OK, "{e}: the key held is kept: {:?}", set.body);
        let tried = app.post(&format!("{path}/test"), json!({"text": "hello"})).await;
        assert_eq!((tried.status, tried.code()), (StatusCode::UNPROCESSABLE_ENTITY, "dialogflow_refused"), "{e}");
        wired.writes("33644440000", "hello").await;
        let third = app.conversation_of("33644440000").await;
        assign(&app, third, bot).await;
        assert!(eventually(15, || async { assignee(&app, third).await.is_null() }).await, "{e}: still the bot's");
        assert!(
            notes(&app, third).await.contains("PERMISSION_DENIED") || notes(&app, third).await.contains("Permission"),
            "{e}: {}",
            notes(&app, third).await
        );
    }
}

#[tokio::test]
async fn what_comes_while_the_agent_thinks_is_answered_and_a_person_who_took_over_is_left_alone() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let bot = make_bot(&app).await;
        let key: Value = serde_json::from_str(&wired.sandbox.dialogflow_key()).unwrap();
        let settings = json!({"edition": "es", "endpoint": wired.sandbox.dialogflow_endpoint(), "key": key});
        let set = app.call(Method::PUT, &format!("/api/v1/bots/{bot}/dialogflow"), Some(settings)).await;
        assert_eq!(set.status, StatusCode::OK, "{e}: {:?}", set.body);
        wired.sandbox.slow_dialogflow(Duration::from_millis(1500));
        let heard = |text: &str| wired.sandbox.dialogflow_queries().iter().any(|q| q.text == text);

        // The customer writes again while the agent thinks about the first message: both answered.
        wired.writes("33655550000", "hello").await;
        let conv = app.conversation_of("33655550000").await;
        assign(&app, conv, bot).await;
        assert!(eventually(10, || async { heard("hello") }).await, "{e}: the first message is asked");
        app.clock.advance_secs(1);
        wired.writes("33655550000", "what are your opening hours?").await;
        let both = eventually(20, || async { sent_to(&wired, "33655550000").len() == 2 }).await;
        assert!(both, "{e}: {:?}", sent_to(&wired, "33655550000"));
        assert!(sent_to(&wired, "33655550000")[1].contains("Monday to Saturday"), "{e}");

        // A person takes the conversation while the agent thinks: the bot keeps quiet.
        app.clock.advance_secs(1);
        wired.writes("33655550000", "where is my order").await;
        assert!(eventually(10, || async { heard("where is my order") }).await, "{e}");
        let me = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
        let taken = app.post(&format!("/api/v1/conversations/{conv}/assign"), json!({"user_id": me})).await;
        assert_eq!(taken.status, StatusCode::OK, "{e}: {:?}", taken.body);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(sent_to(&wired, "33655550000").len(), 2, "{e}: {:?}", sent_to(&wired, "33655550000"));
        assert_eq!(assignee(&app, conv).await, json!(me), "{e}");
        assert!(!notes(&app, conv).await.contains("Handed over"), "{e}: {}", notes(&app, conv).await);
    }
}

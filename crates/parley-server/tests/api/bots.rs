//! Bots as teammates (issue 17, point 3, first part): an owner makes a bot with a webhook; the
//! bot is told only of the conversations assigned to it, answers with its own token (a message
//! authored by the bot, judged by the same rules), is never picked by automatic assignment, and
//! never logs in.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Receiver, TestApp, Wired, eventually};

#[tokio::test]
async fn a_bot_is_told_of_its_conversations_and_answers_with_its_token() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let made = app.post("/api/v1/bots", json!({"name": "Helper", "webhook_url": receiver.url})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let bot_id = made.body["bot"]["id"].as_i64().unwrap();
        assert_eq!(made.body["bot"]["bot"], true);
        let bot_token = made.body["token"].as_str().unwrap().to_owned();
        assert!(made.body["webhook_secret"].as_str().unwrap().starts_with("whsec_"));
        // Automatic assignment never picks a bot, even when it is the only agent.
        let r = app.call(Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "round_robin"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);

        wired.writes("33611111111", "is anyone there?").await;
        wired.writes("33622222222", "not for the bot").await;
        let convs = app.get("/api/v1/conversations").await.body["items"].as_array().unwrap().clone();
        assert!(convs.iter().all(|c| c["assignee_id"].is_null()), "{e}: {convs:?}");
        let mine = convs.iter().find(|c| c["last_message"]["text"] == "is anyone there?").unwrap_or(&convs[0]).clone();
        let mine_id = mine["id"].as_i64().unwrap();
        let assigned = app.post(&format!("/api/v1/conversations/{mine_id}/assign"), json!({"user_id": bot_id})).await;
        assert_eq!(assigned.status, StatusCode::OK, "{e}: {:?}", assigned.body);

        // The bots' list and count hold it.
        let held = app.get("/api/v1/conversations?assignee=bots").await.body["items"].clone();
        assert_eq!(held.as_array().map(Vec::len), Some(1), "{e}: {held}");
        assert_eq!(held[0]["id"], mine_id);
        assert_eq!(app.get("/api/v1/conversations/counts").await.body["bots"], 1, "{e}");

        // The bot hears of its assignment and of what the customer writes next, nothing else.
        wired.writes("33611111111", "hello bot").await;
        wired.writes("33622222222", "still not for the bot").await;
        let told = eventually(10, || async { receiver.taken() == ["conversation.assigned", "message.received"] }).await;
        assert!(told, "{e}: {:?}", receiver.taken());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(receiver.taken().len(), 2, "{e}: {:?}", receiver.taken());
        let hello = receiver.hits()[1].json()["data"].clone();
        assert_eq!(hello["text"], "hello bot");
        // Meanwhile the customer sees the bot typing.
        let typing = (hello["provider_message_id"].as_str().unwrap().to_owned(), true);
        assert!(
            eventually(10, || async { wired.sandbox.reads().contains(&typing) }).await,
            "{e}: {:?}",
            wired.sandbox.reads()
        );

        // It answers with its own token: the reply is the bot's.
        let reply = json!({"channel_id": wired.channel["id"], "to": mine["contact_id"].to_string(), "type": "text",
            "text": {"body": "Hi, I am the bot."}});
        let sent = app.call_as(Some(&bot_token), Method::POST, "/api/v1/messages", Some(reply)).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{e}: {:?}", sent.body);
        let id = sent.body["messages"][0]["id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/api/v1/messages/{id}")).await.body["author_id"], bot_id, "{e}");
        let out = eventually(20, || async {
            wired.sandbox.sent().iter().any(|s| s.body["text"]["body"] == "Hi, I am the bot.")
        })
        .await;
        assert!(out, "{e}");

        // The bot passes its conversation to a person with its token; a person takes one over.
        let agent = app.token_for("agent", "agent@acme.example").await;
        let agent_id = app.user_id(&agent).await;
        let passed = app
            .call_as(
                Some(&bot_token),
                Method::POST,
                &format!("/api/v1/conversations/{mine_id}/assign"),
                Some(json!({"user_id": agent_id})),
            )
            .await;
        assert_eq!(passed.status, StatusCode::OK, "{e}: {:?}", passed.body);
        assert_eq!(
            app.post(&format!("/api/v1/conversations/{mine_id}/assign"), json!({"user_id": bot_id})).await.status,
            StatusCode::OK
        );
        let taken = app
            .call_as(
                Some(&agent),
                Method::POST,
                &format!("/api/v1/conversations/{mine_id}/assign"),
                Some(json!({"user_id": agent_id})),
            )
            .await;
        assert_eq!(taken.status, StatusCode::OK, "{e}: an agent takes over from a bot: {:?}", taken.body);
        let back = app
            .call_as(
                Some(&bot_token),
                Method::POST,
                &format!("/api/v1/conversations/{mine_id}/assign"),
                Some(json!({"user_id": bot_id})),
            )
            .await;
        assert_eq!(back.status, StatusCode::FORBIDDEN, "{e}: a bot takes nobody's conversation");

        // A bot never logs in and cannot be given a password by invitation.
        let invite = app.post(&format!("/api/v1/users/{bot_id}/invite"), json!({})).await;
        assert_eq!((invite.status, invite.code()), (StatusCode::UNPROCESSABLE_ENTITY, "bot_user"), "{e}");
        let bots = app.get("/api/v1/bots").await.body;
        assert_eq!(bots.as_array().unwrap().len(), 1, "{e}: {bots}");
        // Agents may not make bots.
        let r = app.call_as(Some(&agent), Method::POST, "/api/v1/bots", Some(json!({"name": "Rogue"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app.post("/api/v1/bots", json!({"name": "Bad", "webhook_url": "http://10.0.0.1/x"})).await;
        assert_eq!(r.code(), "url_not_allowed", "{e}");
    }
}

async fn assignee(app: &TestApp, id: i64) -> serde_json::Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body["assignee_id"].clone()
}

#[tokio::test]
async fn a_bot_hands_over_on_a_keyword_and_on_silence() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let made = app.post("/api/v1/bots", json!({"name": "Helper", "silence_seconds": 120})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let bot_id = made.body["bot"]["id"].as_i64().unwrap();
        let settings = app.get(&format!("/api/v1/bots/{bot_id}/handover")).await.body;
        assert!(settings["keywords"].as_array().unwrap().contains(&json!("humain")), "{e}: {settings}");

        // A keyword: the customer asks for a person, in French.
        wired.writes("33633333333", "bonjour").await;
        let first = app.conversation_of("33633333333").await;
        assert_eq!(
            app.post(&format!("/api/v1/conversations/{first}/assign"), json!({"user_id": bot_id})).await.status,
            StatusCode::OK
        );
        wired.writes("33633333333", "Je veux parler à un humain").await;
        app.timer_passes(2).await;
        assert!(eventually(10, || async { assignee(&app, first).await.is_null() }).await, "{e}: still the bot's");
        let notes = app.get(&format!("/api/v1/conversations/{first}/notes")).await.body;
        assert!(notes.to_string().contains("asked for a person"), "{e}: {notes}");
        assert_eq!(notes[0]["author_id"], bot_id, "{e}: the bot says why");

        // Silence: an unanswered message waits 120 s on the injected clock.
        wired.writes("33644444444", "hello?").await;
        let second = app.conversation_of("33644444444").await;
        assert_eq!(
            app.post(&format!("/api/v1/conversations/{second}/assign"), json!({"user_id": bot_id})).await.status,
            StatusCode::OK
        );
        app.clock.advance_secs(100);
        app.timer_passes(2).await;
        assert_eq!(assignee(&app, second).await, json!(bot_id), "{e}: not yet");
        app.clock.advance_secs(30);
        app.timer_passes(2).await;
        assert!(eventually(10, || async { assignee(&app, second).await.is_null() }).await, "{e}: silence hands over");
        let notes = app.get(&format!("/api/v1/conversations/{second}/notes")).await.body;
        assert!(notes.to_string().contains("without an answer"), "{e}: {notes}");

        // Settings are checked.
        let bad = app
            .call(Method::PUT, &format!("/api/v1/bots/{bot_id}/handover"), Some(json!({"silence_seconds": 0})))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}: {:?}", bad.body);
        let owner_id = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
        let not_bot = app.call(Method::PUT, &format!("/api/v1/bots/{owner_id}/handover"), Some(json!({}))).await;
        assert_eq!(not_bot.status, StatusCode::NOT_FOUND, "{e}");
    }
}

#[tokio::test]
async fn a_bot_hands_over_after_its_number_of_answers() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let made = app.post("/api/v1/bots", json!({"name": "Brief", "max_turns": 2, "handover_keywords": []})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let (bot_id, token) =
            (made.body["bot"]["id"].as_i64().unwrap(), made.body["token"].as_str().unwrap().to_owned());
        wired.writes("33677777777", "question one").await;
        let conv = app.conversation_of("33677777777").await;
        let contact = app.get(&format!("/api/v1/conversations/{conv}")).await.body["contact_id"].to_string();
        assert_eq!(
            app.post(&format!("/api/v1/conversations/{conv}/assign"), json!({"user_id": bot_id})).await.status,
            StatusCode::OK
        );
        for (turn, question) in [(1, "question two"), (2, "question three")] {
            // Each step a second later: who spoke last is told by the time.
            app.clock.advance_secs(1);
            let answer = json!({"channel_id": wired.channel["id"], "to": contact, "type": "text",
                "text": {"body": format!("answer {turn}")}});
            let r = app.call_as(Some(&token), Method::POST, "/api/v1/messages", Some(answer)).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {:?}", r.body);
            app.timer_passes(2).await;
            assert_eq!(assignee(&app, conv).await, json!(bot_id), "{e}: answered, nothing owed after turn {turn}");
            app.clock.advance_secs(1);
            wired.writes("33677777777", question).await;
        }
        // Two answers given and the customer writes again: back to the team.
        app.timer_passes(2).await;
        assert!(eventually(10, || async { assignee(&app, conv).await.is_null() }).await, "{e}: still the bot's");
        let notes = app.get(&format!("/api/v1/conversations/{conv}/notes")).await.body;
        assert!(notes.to_string().contains("number of answers"), "{e}: {notes}");
    }
}

#[tokio::test]
async fn a_hand_over_that_fails_holds_back_no_other() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (second, number) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
        let made = app.post("/api/v1/bots", json!({"name": "Helper"})).await;
        let bot_id = made.body["bot"]["id"].as_i64().unwrap();
        wired.writes("33688888888", "hello").await;
        let other = Wired { sandbox: wired.sandbox.clone(), number, channel: second.clone() };
        other.writes("33699999999", "hello").await;
        let (first_conv, second_conv) =
            (app.conversation_of("33688888888").await, app.conversation_of("33699999999").await);
        assert!(first_conv < second_conv, "{e}: the first number's conversation is checked first");
        for conv in [first_conv, second_conv] {
            let r = app.post(&format!("/api/v1/conversations/{conv}/assign"), json!({"user_id": bot_id})).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        }
        // The first number turns private: the bot, not a member, can no longer see its conversation.
        let r = app.patch(&format!("/api/v1/channels/{}", wired.channel["id"]), json!({"visibility": "private"})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        wired.writes("33688888888", "an agent please").await;
        other.writes("33699999999", "an agent please").await;
        app.timer_passes(2).await;
        let both = eventually(10, || async {
            assignee(&app, first_conv).await.is_null() && assignee(&app, second_conv).await.is_null()
        })
        .await;
        assert!(both, "{e}: {} / {}", assignee(&app, first_conv).await, assignee(&app, second_conv).await);
        let notes = app.get(&format!("/api/v1/conversations/{second_conv}/notes")).await.body;
        assert!(notes.to_string().contains("asked for a person"), "{e}: the bot that sees it says why: {notes}");
    }
}

#[tokio::test]
async fn what_came_before_a_bots_assignment_is_not_the_bots_however_late_it_goes_out() {
    for app in TestApp::all().await {
        let e = app.engine();
        let receiver = Receiver::start().await;
        let wired = app.wired().await;
        let made = app.post("/api/v1/bots", json!({"name": "Helper", "webhook_url": receiver.url})).await;
        let (bot_id, sub) = (made.body["bot"]["id"].as_i64().unwrap(), made.body["subscription_id"].as_i64().unwrap());
        // Delivery is held back (paused) while the customer writes and the bot is assigned.
        let paused = app.patch(&format!("/api/v1/webhook-subscriptions/{sub}"), json!({"active": false})).await;
        assert_eq!(paused.status, StatusCode::OK, "{e}: {:?}", paused.body);
        wired.writes("33612121212", "before the bot").await;
        let conv = app.conversation_of("33612121212").await;
        assert_eq!(
            app.post(&format!("/api/v1/conversations/{conv}/assign"), json!({"user_id": bot_id})).await.status,
            StatusCode::OK
        );
        wired.writes("33612121212", "after the bot").await;
        let resumed = app.patch(&format!("/api/v1/webhook-subscriptions/{sub}"), json!({"active": true})).await;
        assert_eq!(resumed.status, StatusCode::OK);
        let told = eventually(10, || async { receiver.taken().len() >= 2 }).await;
        assert!(told, "{e}: {:?}", receiver.taken());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let texts: Vec<_> = receiver.hits().iter().map(|h| h.json()["data"]["text"].clone()).collect();
        assert_eq!(receiver.taken(), ["conversation.assigned", "message.received"], "{e}: {texts:?}");
        assert_eq!(texts[1], "after the bot", "{e}");
    }
}

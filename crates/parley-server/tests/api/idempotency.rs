//! Idempotency keys on both engines: a key belongs to whoever sent with it, a replay is checked
//! like a read, and a key reused for another request is refused instead of replayed.

use parley_sandbox::{Customer, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

const WAIT: u64 = 15;
/// Text only the private channel's conversation holds.
const SECRET: &str = "PRIVATE-REPLY-91c2";

fn text(channel: i64, to: &str, body: &str, key: &str) -> Value {
    json!({"channel_id": channel, "to": to, "type": "text", "text": {"body": body}, "idempotency_key": key})
}

fn message_ids(reply: &Value) -> Vec<i64> {
    reply["messages"].as_array().map_or_else(Vec::new, |ms| ms.iter().map(|m| m["id"].as_i64().unwrap()).collect())
}

#[tokio::test]
async fn a_key_replays_only_its_senders_own_request_and_only_what_they_may_read() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let shared = wired.channel["id"].as_i64().unwrap();
        let (private, _) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
        let private = private["id"].as_i64().unwrap();
        app.patch(&format!("/api/v1/channels/{private}"), json!({"visibility": "private"})).await;
        let outsider = app.token_for("agent", "outsider@acme.example").await;
        let member_token = app.token_for("agent", "member@acme.example").await;
        let member = app.user_id(&member_token).await;
        let members = format!("/api/v1/channels/{private}/members");
        app.call(Method::PUT, &members, Some(json!({"user_ids": [member]}))).await;
        wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Ana"), Say::text("hi"));
        wired.sandbox.say("300000000000002", &Customer::new("84912345678", "Bao"), Say::text("hello"));
        let list = "/api/v1/conversations?limit=10";
        assert!(eventually(WAIT, || async { app.get(list).await.body["items"].as_array().unwrap().len() == 2 }).await);
        let (ana, bao) = ("phone:+33612345678", "phone:+84912345678");

        // The owner answers Bao on the private number under a guessable key.
        let first = app.post("/api/v1/messages", text(private, bao, SECRET, "order-42")).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{e}: {:?}", first.body);
        // The same request again is a replay of the same messages.
        let again = app.post("/api/v1/messages", text(private, bao, SECRET, "order-42")).await;
        assert_eq!((again.status, again.body["replayed"].as_bool()), (StatusCode::OK, Some(true)), "{e}");
        assert_eq!(message_ids(&again.body), message_ids(&first.body), "{e}");
        // Another request under the same key is refused, and nothing is queued.
        let other = app.post("/api/v1/messages", text(private, bao, "something else", "order-42")).await;
        assert_eq!(
            (other.status, other.code()),
            (StatusCode::CONFLICT, "idempotency_key_reused"),
            "{e}: {:?}",
            other.body
        );
        assert_eq!(other.body["error"]["field"], "idempotency_key", "{e}");
        let elsewhere = app.post("/api/v1/messages", text(shared, ana, SECRET, "order-42")).await;
        assert_eq!(elsewhere.code(), "idempotency_key_reused", "{e}: another channel is another request");

        // An agent who guesses the key reads nothing of it: on the private number it is a send
        // like any other (which they may not make); on the shared one a new send of their own.
        let as_outsider = |body: Value| {
            let outsider = outsider.clone();
            let app = &app;
            async move { app.call_as(Some(&outsider), Method::POST, "/api/v1/messages", Some(body)).await }
        };
        let guessed = as_outsider(text(private, bao, SECRET, "order-42")).await;
        assert_eq!(guessed.status, StatusCode::NOT_FOUND, "{e}: {:?}", guessed.body);
        assert!(!guessed.body.to_string().contains(SECRET), "{e}");
        let own = as_outsider(text(shared, ana, "my own", "order-42")).await;
        assert_eq!(
            (own.status, own.body["replayed"].as_bool()),
            (StatusCode::ACCEPTED, Some(false)),
            "{e}: {:?}",
            own.body
        );
        assert!(!own.body.to_string().contains(SECRET), "{e}: {:?}", own.body);
        assert!(message_ids(&own.body).iter().all(|id| !message_ids(&first.body).contains(id)), "{e}");

        // A member's own key, replayed once they are no longer a member, is not found.
        let sent = app
            .call_as(
                Some(&member_token),
                Method::POST,
                "/api/v1/messages",
                Some(text(private, bao, "from a member", "m-1")),
            )
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{e}: {:?}", sent.body);
        app.call(Method::PUT, &members, Some(json!({"user_ids": []}))).await;
        let replay = app
            .call_as(
                Some(&member_token),
                Method::POST,
                "/api/v1/messages",
                Some(text(private, bao, "from a member", "m-1")),
            )
            .await;
        assert_eq!(replay.status, StatusCode::NOT_FOUND, "{e}: {:?}", replay.body);
        assert!(!replay.body.to_string().contains("from a member"), "{e}");
    }
}

//! Channel visibility on both engines: an agent sees shared channels and the private channels
//! they are a member of, nothing else, through any route; owners and managers choose members;
//! automatic and manual assignment never give a conversation to someone who cannot see it.

use parley_sandbox::{Customer, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

/// Text only a customer of the private channel wrote: it must never reach an outsider.
const MARKER: &str = "PRIVATE-MARKER-7f3a";

/// A shared channel where Ana wrote and a private one where Bao wrote the marker.
struct World {
    wired: crate::helpers::Wired,
    private_channel: i64,
    shared_conversation: i64,
    private_conversation: i64,
    private_message: i64,
    bao_contact: i64,
}

async fn world(app: &TestApp) -> World {
    let wired = app.wired().await;
    let (private, _) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
    let private_channel = private["id"].as_i64().unwrap();
    let r = app.patch(&format!("/api/v1/channels/{private_channel}"), json!({"visibility": "private"})).await;
    assert_eq!((r.status, r.body["visibility"].as_str()), (StatusCode::OK, Some("private")), "{:?}", r.body);
    let shared_pnid = wired.number.phone_number_id.clone();
    wired.sandbox.say(&shared_pnid, &Customer::new("33612345678", "Ana"), Say::text("hello from the shared number"));
    wired.sandbox.say("300000000000002", &Customer::new("84912345678", "Bao"), Say::text(MARKER));
    let list = "/api/v1/conversations?limit=10";
    assert!(
        eventually(10, || async { app.get(list).await.body["items"].as_array().is_some_and(|i| i.len() == 2) }).await
    );
    let items = app.get(list).await.body["items"].as_array().unwrap().clone();
    let of = |channel: i64| items.iter().find(|c| c["channel_id"] == channel).unwrap().clone();
    let private_conv = of(private_channel);
    let shared_conv = of(wired.channel["id"].as_i64().unwrap());
    let thread = app.get(&format!("/api/v1/conversations/{}/messages", private_conv["id"])).await;
    World {
        private_channel,
        shared_conversation: shared_conv["id"].as_i64().unwrap(),
        private_conversation: private_conv["id"].as_i64().unwrap(),
        private_message: thread.body["items"][0]["id"].as_i64().unwrap(),
        bao_contact: private_conv["contact_id"].as_i64().unwrap(),
        wired,
    }
}

fn ids(body: &Value) -> Vec<i64> {
    let items = body.get("items").unwrap_or(body);
    items.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn agents_see_shared_channels_and_the_private_ones_they_are_members_of() {
    for app in TestApp::all().await {
        let e = app.engine();
        let w = world(&app).await;
        let outsider = app.token_for("agent", "outsider@acme.example").await;
        let member_token = app.token_for("agent", "member@acme.example").await;
        let member = app.user_id(&member_token).await;
        let outsider_id = app.user_id(&outsider).await;
        let as_ = |token: &str, path: &str| {
            let token = token.to_owned();
            let path = path.to_owned();
            let app = &app;
            async move { app.call_as(Some(&token), Method::GET, &path, None).await }
        };

        // Owners see both; an agent who is no member sees the shared one only, everywhere.
        assert_eq!(ids(&app.get("/api/v1/conversations").await.body).len(), 2, "{e}");
        assert_eq!(app.get("/api/v1/conversations/counts").await.body["all"], 2, "{e}");
        for token in [&outsider, &member_token] {
            let list = as_(token, "/api/v1/conversations").await;
            assert_eq!(ids(&list.body), vec![w.shared_conversation], "{e}");
            // The tabs' counts count only what they may see.
            let counts = as_(token, "/api/v1/conversations/counts").await.body;
            assert_eq!((counts["all"].as_i64(), counts["unassigned"].as_i64()), (Some(1), Some(1)), "{e}: {counts}");
            let filtered = as_(token, &format!("/api/v1/conversations?channel={}", w.private_channel)).await;
            assert!(ids(&filtered.body).is_empty(), "{e}");
            let by_contact = as_(token, &format!("/api/v1/conversations?contact={}", w.bao_contact)).await;
            assert!(ids(&by_contact.body).is_empty(), "{e}");
            assert_eq!(ids(&as_(token, "/api/v1/channels").await.body), vec![w.wired.channel["id"].as_i64().unwrap()]);
            for path in [
                format!("/api/v1/conversations/{}", w.private_conversation),
                format!("/api/v1/conversations/{}/messages", w.private_conversation),
                format!("/api/v1/conversations/{}/activity", w.private_conversation),
                format!("/api/v1/messages/{}", w.private_message),
                format!("/api/v1/channels/{}", w.private_channel),
                format!("/api/v1/channels/{}/templates", w.private_channel),
            ] {
                assert_eq!(as_(token, &path).await.status, StatusCode::NOT_FOUND, "{e}: {path}");
            }
            let events = as_(token, "/api/v1/events?limit=1000").await;
            assert_eq!(events.status, StatusCode::OK);
            assert!(!events.body.to_string().contains(MARKER), "{e}: the private message leaked into events");
            assert!(events.body.to_string().contains("hello from the shared number"), "{e}: shared events are there");
            let send = json!({"channel_id": w.private_channel, "to": "phone:+84912345678", "type": "text", "text": {"body": "hi"}});
            let sent = app.call_as(Some(token), Method::POST, "/api/v1/messages", Some(send)).await;
            assert_eq!(sent.status, StatusCode::NOT_FOUND, "{e}: {:?}", sent.body);
        }

        // Only owners and managers choose members; a member then sees the private channel.
        let path = format!("/api/v1/channels/{}/members", w.private_channel);
        let refused = app.call_as(Some(&member_token), Method::PUT, &path, Some(json!({"user_ids": [member]}))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");
        let unknown = app.call(Method::PUT, &path, Some(json!({"user_ids": [999_999]}))).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_user"), "{e}");
        let set = app.call(Method::PUT, &path, Some(json!({"user_ids": [member, member]}))).await;
        assert_eq!((set.status, set.body["user_ids"].clone()), (StatusCode::OK, json!([member])), "{e}");
        assert_eq!(app.get(&path).await.body["user_ids"], json!([member]));
        let list = as_(&member_token, "/api/v1/conversations").await;
        assert_eq!(ids(&list.body).len(), 2, "{e}: the member sees both");
        let thread = as_(&member_token, &format!("/api/v1/conversations/{}/messages", w.private_conversation)).await;
        assert_eq!(thread.body["items"][0]["text"], MARKER, "{e}");
        assert_eq!(ids(&as_(&outsider, "/api/v1/conversations").await.body), vec![w.shared_conversation], "{e}");

        // Nobody is assigned a conversation they cannot see.
        let assign = format!("/api/v1/conversations/{}/assign", w.private_conversation);
        let r = app.post(&assign, json!({"user_id": outsider_id})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "assignee_cannot_see"), "{e}");
        let r = app.post(&assign, json!({"user_id": member})).await;
        assert_eq!(r.body["assignee_id"], member, "{e}: {:?}", r.body);
        let mine = app.call_as(Some(&outsider), Method::POST, &assign, Some(json!({"user_id": outsider_id}))).await;
        assert_eq!(mine.status, StatusCode::NOT_FOUND, "{e}: an outsider cannot even take it");

        // A manager sees every channel, chooses members, changes visibility and assigns; an agent
        // (even a member) changes neither visibility nor members.
        let manager = app.token_for("manager", "manager@acme.example").await;
        assert_eq!(ids(&as_(&manager, "/api/v1/conversations").await.body).len(), 2, "{e}: a manager sees both");
        let channel_path = format!("/api/v1/channels/{}", w.private_channel);
        let by_agent =
            app.call_as(Some(&member_token), Method::PATCH, &channel_path, Some(json!({"visibility": "shared"}))).await;
        assert_eq!(by_agent.status, StatusCode::FORBIDDEN, "{e}");
        let by_manager =
            app.call_as(Some(&manager), Method::PATCH, &channel_path, Some(json!({"visibility": "shared"}))).await;
        assert_eq!(by_manager.body["visibility"], "shared", "{e}: {:?}", by_manager.body);
        assert_eq!(ids(&as_(&outsider, "/api/v1/conversations").await.body).len(), 2, "{e}: shared with everyone now");
        let back =
            app.call_as(Some(&manager), Method::PATCH, &channel_path, Some(json!({"visibility": "private"}))).await;
        assert_eq!(back.body["visibility"], "private", "{e}");
        let members = app.call_as(Some(&manager), Method::PUT, &path, Some(json!({"user_ids": [member]}))).await;
        assert_eq!(members.body["user_ids"], json!([member]), "{e}: {:?}", members.body);
        let r = app.call_as(Some(&manager), Method::POST, &assign, Some(json!({"user_id": member}))).await;
        assert_eq!(r.body["assignee_id"], member, "{e}: {:?}", r.body);

        // Members removed: the private channel is gone for them again.
        app.call(Method::PUT, &path, Some(json!({"user_ids": []}))).await;
        assert_eq!(ids(&as_(&member_token, "/api/v1/conversations").await.body), vec![w.shared_conversation], "{e}");
        let thread = as_(&member_token, &format!("/api/v1/conversations/{}/messages", w.private_conversation)).await;
        assert_eq!(thread.status, StatusCode::NOT_FOUND, "{e}");
    }
}

#[tokio::test]
async fn new_conversations_of_a_private_channel_go_to_its_members_only() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (private, _) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
        let channel = private["id"].as_i64().unwrap();
        app.patch(&format!("/api/v1/channels/{channel}"), json!({"visibility": "private"})).await;
        // The outsider was created first: round-robin would pick them before the member.
        let outsider_token = app.token_for("agent", "outsider@acme.example").await;
        let member_token = app.token_for("agent", "member@acme.example").await;
        let outsider = app.user_id(&outsider_token).await;
        let member = app.user_id(&member_token).await;
        app.call(Method::PUT, &format!("/api/v1/channels/{channel}/members"), Some(json!({"user_ids": [member]})))
            .await;
        app.call(Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "round_robin"}))).await;

        for (i, wa) in ["84900000001", "84900000002"].iter().enumerate() {
            wired.sandbox.say("300000000000002", &Customer::new(wa, "Khach"), Say::text("xin chao"));
            let list = "/api/v1/conversations?limit=10";
            assert!(
                eventually(10, || async {
                    app.get(list).await.body["items"].as_array().is_some_and(|items| items.len() == i + 1)
                })
                .await
            );
        }
        let list = app.get(&format!("/api/v1/conversations?channel={channel}")).await;
        let assignees: Vec<Value> =
            list.body["items"].as_array().unwrap().iter().map(|c| c["assignee_id"].clone()).collect();
        assert_eq!(assignees, vec![json!(member), json!(member)], "{e}: never to {outsider}");

        // On the shared channel the outsider gets the next one, as round-robin says.
        wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Ana"), Say::text("hello"));
        let shared = format!("/api/v1/conversations?channel={}", wired.channel["id"]);
        assert!(
            eventually(10, || async { app.get(&shared).await.body["items"][0]["assignee_id"].as_i64().is_some() })
                .await
        );
        assert_eq!(app.get(&shared).await.body["items"][0]["assignee_id"], outsider, "{e}");
    }
}

/// A request body that passes each route's own validation, so only access decides the answer.
fn body_for(method: &Method, path: &str) -> Option<Value> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    Some(match path {
        p if p.ends_with("/status") => json!({"status": "closed"}),
        p if p.ends_with("/assign") => json!({"user_id": null}),
        p if p.ends_with("/members") => json!({"user_ids": []}),
        p if p.ends_with("/notes") => json!({"body": "walk"}),
        p if p.ends_with("/tags") => json!({"tags": ["walk"]}),
        p if p.ends_with("/versions") => json!({"components": [{"type": "body", "text": "Hello there friend"}]}),
        p if p.ends_with("/templates") => json!({"name": "walk", "language": "en", "category": "utility",
            "components": [{"type": "body", "text": "Hello there friend"}]}),
        p if p.ends_with("/profile") => json!({"about": "walk"}),
        p if p.ends_with("/move") => {
            json!({"provider": "meta", "phone_number_id": "399999999999999", "waba_id": "WALK",
            "access_token": "walk", "app_secret": "walk", "verify_token": "walk"})
        }
        p if p.starts_with("/api/v1/channels/") => json!({"name": "walk"}),
        _ => json!({}),
    })
}

#[tokio::test]
async fn every_route_of_the_api_answers_an_agent_without_access_with_403_or_404_and_no_data() {
    for app in TestApp::all().await {
        let e = app.engine();
        let w = world(&app).await;
        let outsider = app.token_for("agent", "outsider@acme.example").await;
        let before = app.get(&format!("/api/v1/conversations/{}", w.private_conversation)).await.body;
        let messages_before = app.get(&format!("/api/v1/conversations/{}/messages", w.private_conversation)).await.body;

        let doc = app.get("/api/openapi.json").await.body;
        let mut walked = 0;
        for (template, ops) in doc["paths"].as_object().unwrap() {
            // Webhooks carry no token (signatures instead); the stream never ends (tested below).
            if !template.starts_with("/api/v1/") || template == "/api/v1/events/stream" {
                continue;
            }
            // A route about a private resource gets that resource's ids.
            let private = ["/api/v1/channels/{id}", "/api/v1/conversations/{id}", "/api/v1/messages/{id}"]
                .iter()
                .any(|p| template.starts_with(p));
            let path = template
                .replace("/channels/{id}", &format!("/channels/{}", w.private_channel))
                .replace("/conversations/{id}", &format!("/conversations/{}", w.private_conversation))
                .replace("/messages/{id}", &format!("/messages/{}", w.private_message))
                .replace("{ref}", &w.bao_contact.to_string())
                .replace("{name}", "walk")
                .replace("{language}", "en")
                .replace("{tag}", "walk")
                .replace("{workflow_id}", "1")
                .replace("{id}", "1");
            // Searches look for the private message's words.
            let path = if template.starts_with("/api/v1/search") { format!("{path}?q=private%20marker") } else { path };
            for method in ops.as_object().unwrap().keys() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = body_for(&method, &path);
                let r = app.call_as(Some(&outsider), method.clone(), &path, body).await;
                walked += 1;
                let text = r.body.to_string();
                assert!(!text.contains(MARKER), "{e}: {method} {path} leaked the private message: {text}");
                if private {
                    assert!(
                        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                        "{e}: {method} {path} answered {} {text}",
                        r.status
                    );
                }
                if path == "/api/v1/conversations" && r.status.is_success() {
                    assert!(!ids(&r.body).contains(&w.private_conversation), "{e}: {method} {path}");
                }
                if path == "/api/v1/channels" && r.status.is_success() {
                    assert!(!ids(&r.body).contains(&w.private_channel), "{e}: {method} {path}");
                }
            }
        }
        assert!(walked > 60, "{e}: walked only {walked} routes");
        // And nothing changed: no status, assignee or message moved on the private conversation.
        let after = app.get(&format!("/api/v1/conversations/{}", w.private_conversation)).await.body;
        assert_eq!((&after["status"], &after["assignee_id"]), (&before["status"], &before["assignee_id"]), "{e}");
        let messages_after = app.get(&format!("/api/v1/conversations/{}/messages", w.private_conversation)).await.body;
        assert_eq!(messages_after, messages_before, "{e}");
        assert!(w.wired.sandbox.sent().is_empty(), "{e}: nothing was sent");
    }
}

#[tokio::test]
async fn the_live_stream_of_an_agent_carries_only_what_they_may_see_and_does_not_stall() {
    for app in TestApp::all().await {
        let e = app.engine();
        let w = world(&app).await;
        let outsider = app.token_for("agent", "outsider@acme.example").await;
        // From the start of the log: the private message, then a new shared one.
        let mut stream =
            app.client.get(app.url("/api/v1/events/stream?after=0")).bearer_auth(&outsider).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        w.wired.sandbox.say(&w.wired.number.phone_number_id, &Customer::new("33612345678", "Ana"), Say::text("second"));
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !text.contains("\"second\"") {
            match tokio::time::timeout_at(deadline, stream.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
        assert!(text.contains("\"second\""), "{e}: the shared message arrived: {text}");
        assert!(text.contains("hello from the shared number"), "{e}");
        assert!(!text.contains(MARKER), "{e}: the private message leaked into the stream");
    }
}

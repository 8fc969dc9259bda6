//! Search on both engines: words found by their start whatever the accents and case, every word
//! required, newest first a page at a time, edits and deletions followed, notes and contacts
//! beside messages, and nothing of a private channel for an agent who is not its member.

use parley_sandbox::{Customer, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

fn texts(hits: &Value) -> Vec<String> {
    hits["items"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect()
}

fn search_path(q: &str) -> String {
    format!("/api/v1/search?q={}", urlencode(q))
}

fn urlencode(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn messages_found(app: &TestApp, q: &str) -> Vec<String> {
    texts(&app.get(&format!("/api/v1/search/messages?q={}", urlencode(q))).await.body)
}

#[tokio::test]
async fn messages_notes_and_contacts_are_found_by_the_start_of_their_words() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        let lan = Customer::new("84912345678", "Nguyễn Thị Lan");
        let ana = Customer::new("33612345678", "Ana Lima");
        let said = [
            (&lan, "Chào anh, đơn hàng #1042 đã giao chưa?"),
            (&ana, "Where is my ORDER 1042?"),
            (&ana, "Please cancel the subscription"),
        ];
        for (i, (customer, text)) in said.iter().enumerate() {
            wired.sandbox.say(&pnid, customer, Say::text(text));
            // One at a time: the ids follow the list.
            let n = i + 1;
            assert!(
                eventually(10, || async {
                    app.get("/api/v1/conversations").await.body["items"]
                        .as_array()
                        .is_some_and(|c| c.iter().map(|c| c["unread"].as_i64().unwrap_or(0)).sum::<i64>() == n as i64)
                })
                .await,
                "{e}: message {n} arrived"
            );
        }

        // Accents and case do not matter; each word matches the start of a word.
        assert_eq!(messages_found(&app, "DON HANG").await, [said[0].1], "{e}");
        assert_eq!(messages_found(&app, "giao").await, [said[0].1], "{e}");
        assert_eq!(messages_found(&app, "ord").await, [said[1].1], "{e}");
        assert_eq!(messages_found(&app, "1042").await, [said[1].1, said[0].1], "{e}: newest first");
        assert_eq!(messages_found(&app, "order 1042").await, [said[1].1], "{e}: every word is required");
        assert!(messages_found(&app, "rder").await.is_empty(), "{e}: inside a word is not a match");
        assert!(messages_found(&app, "order 9999").await.is_empty(), "{e}");

        // Our replies are found too.
        let conversation = app.get("/api/v1/conversations").await.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["contact"]["name"] == "Ana Lima")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let reply = json!({"channel_id": wired.channel["id"], "to": "phone:+33612345678", "type": "text",
            "text": {"body": "Your parcel left the warehouse today"}});
        assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED);
        let hits = app.get("/api/v1/search/messages?q=warehouse").await.body;
        assert_eq!(texts(&hits), ["Your parcel left the warehouse today"], "{e}");
        let hit = &hits["items"][0];
        assert_eq!(
            (hit["direction"].as_str(), hit["type"].as_str(), hit["conversation_id"].as_i64()),
            (Some("out"), Some("text"), Some(conversation)),
            "{e}: {hit}"
        );
        assert_eq!(hit["contact_name"], "Ana Lima");

        // Pages: newest first, each hit once.
        for i in 0..5 {
            wired.sandbox.say(&pnid, &ana, Say::text(&format!("Refund request number {i}")));
        }
        assert!(eventually(10, || async { messages_found(&app, "refund").await.len() == 5 }).await, "{e}");
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app.get(&format!("/api/v1/search/messages?q=refund&limit=2&cursor={cursor}")).await.body;
            let ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
            assert!(ids.len() <= 2, "{e}");
            seen.extend(ids);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!((seen.len(), &seen), (5, &sorted), "{e}: five hits, newest first, none twice");

        // An edit is searched as edited; a message deleted by the customer is no longer found.
        let original = wired.sandbox.say(&pnid, &ana, Say::text("Tuesday delivery please"));
        assert!(eventually(10, || async { messages_found(&app, "tuesday").await.len() == 1 }).await, "{e}");
        wired.sandbox.say(&pnid, &ana, Say::edit(&original, "Thursday delivery please"));
        assert!(eventually(10, || async { messages_found(&app, "thursday").await.len() == 1 }).await, "{e}");
        assert!(messages_found(&app, "tuesday").await.is_empty(), "{e}: the old words are gone");
        wired.sandbox.say(&pnid, &ana, Say::revoke(&original));
        assert!(eventually(10, || async { messages_found(&app, "thursday").await.is_empty() }).await, "{e}");

        // Notes on the conversation and on the contact; contacts by name and number.
        let note = app
            .post(
                &format!("/api/v1/conversations/{conversation}/notes"),
                json!({"body": "Call Ana back about the refund"}),
            )
            .await;
        assert_eq!(note.status, StatusCode::CREATED, "{e}: {:?}", note.body);
        let contact = app.get("/api/v1/contacts?q=Ana").await.body["items"][0]["id"].as_i64().unwrap();
        app.clock.advance_secs(60);
        let r =
            app.post(&format!("/api/v1/contacts/{contact}/notes"), json!({"body": "Prefers a call after 6 pm"})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let all = app.get(&search_path("call")).await.body;
        let notes: Vec<(&str, &str)> = all["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["on"].as_str().unwrap(), n["body"].as_str().unwrap()))
            .collect();
        assert_eq!(
            notes,
            [("contact", "Prefers a call after 6 pm"), ("conversation", "Call Ana back about the refund")],
            "{e}"
        );
        assert_eq!(all["notes"][1]["conversation_id"], conversation, "{e}");
        assert_eq!(all["notes"][0]["contact_name"], "Ana Lima", "{e}");
        let by_name = app.get(&search_path("nguyen lan")).await.body;
        let names: Vec<&str> =
            by_name["contacts"]["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Nguyễn Thị Lan"], "{e}: {by_name}");
        let by_phone = app.get(&search_path("+33 6 12 34")).await.body;
        assert_eq!(by_phone["contacts"]["items"][0]["name"], "Ana Lima", "{e}: {by_phone}");
        assert_eq!(by_phone["messages"]["items"], json!([]), "{e}");

        // Bad queries are refused and say why.
        for (q, status, code) in [
            ("/api/v1/search?q=", StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"),
            ("/api/v1/search?q=%3F%21", StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"),
            ("/api/v1/search?q=a", StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"),
            ("/api/v1/search", StatusCode::BAD_REQUEST, "invalid_request"),
            ("/api/v1/search?q=order&limit=0", StatusCode::BAD_REQUEST, "invalid_request"),
            ("/api/v1/search?q=order&sort=x", StatusCode::BAD_REQUEST, "invalid_request"),
            ("/api/v1/search/messages?q=order&cursor=abc", StatusCode::BAD_REQUEST, "invalid_request"),
        ] {
            let r = app.get(q).await;
            assert_eq!((r.status, r.code()), (status, code), "{e}: {q}: {:?}", r.body);
        }
        // Syntax of either engine's search is just words here.
        for q in ["\"order", "order*", "order OR x", "NEAR(order)", "order:*", "!order & (x"] {
            let r = app.get(&format!("/api/v1/search/messages?q={}", urlencode(q))).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {q}: {:?}", r.body);
        }
    }
}

#[tokio::test]
async fn an_agent_finds_nothing_of_a_private_channel_they_are_not_a_member_of() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (private, _) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
        app.patch(&format!("/api/v1/channels/{}", private["id"]), json!({"visibility": "private"})).await;
        wired.sandbox.say(
            &wired.number.phone_number_id,
            &Customer::new("33612345678", "Ana"),
            Say::text("invoice please"),
        );
        wired.sandbox.say("300000000000002", &Customer::new("84912345678", "Bao"), Say::text("invoice overdue"));
        assert!(eventually(10, || async { messages_found(&app, "invoice").await.len() == 2 }).await, "{e}");
        let items = app.get("/api/v1/conversations").await.body["items"].as_array().unwrap().clone();
        let private_conversation =
            items.iter().find(|c| c["channel_id"] == private["id"]).unwrap()["id"].as_i64().unwrap();
        app.post(
            &format!("/api/v1/conversations/{private_conversation}/notes"),
            json!({"body": "invoice sent by post"}),
        )
        .await;
        let agent = app.token_for("agent", "agent@acme.example").await;
        let as_agent = |path: String| {
            let agent = agent.clone();
            let app = &app;
            async move { app.call_as(Some(&agent), Method::GET, &path, None).await }
        };
        let found = as_agent(search_path("invoice")).await.body;
        assert_eq!(texts(&found["messages"]), ["invoice please"], "{e}: {found}");
        assert_eq!(found["notes"], json!([]), "{e}: the private conversation's note stays hidden");
        assert!(!found.to_string().contains("overdue"), "{e}");
        let paged = as_agent("/api/v1/search/messages?q=invoice".into()).await.body;
        assert_eq!(texts(&paged), ["invoice please"], "{e}");

        // Made a member, the agent finds it.
        let me = as_agent("/api/v1/me".into()).await.body["user"]["id"].clone();
        let members = format!("/api/v1/channels/{}/members", private["id"]);
        app.call(Method::PUT, &members, Some(json!({"user_ids": [me]}))).await;
        let found = as_agent(search_path("invoice")).await.body;
        assert_eq!(texts(&found["messages"]).len(), 2, "{e}: {found}");
        assert_eq!(found["notes"][0]["body"], "invoice sent by post", "{e}");
    }
}

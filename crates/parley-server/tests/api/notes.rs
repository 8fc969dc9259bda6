//! Internal notes on conversations on both engines: kept apart from messages (never sent),
//! mentions notify the teammates named who can see the conversation, and nobody who cannot see a
//! private channel reads or writes its notes.

use parley_sandbox::{Customer, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired, eventually};

async fn user(app: &TestApp, name: &str, email: &str) -> (i64, String) {
    let created = app.post("/api/v1/users", json!({"email": email, "name": name, "role": "agent"})).await;
    let id = created.body["id"].as_i64().unwrap();
    let token = app.post("/api/v1/tokens", json!({"name": "t", "user_id": id})).await;
    (id, token.body["secret"].as_str().unwrap().to_owned())
}

/// Ana writes on the shared number, Bao on a second number made private: their conversations.
async fn ana_shared_bao_private(app: &TestApp) -> (Wired, i64, i64) {
    let wired = app.wired().await;
    let (private, _) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
    app.patch(&format!("/api/v1/channels/{}", private["id"]), json!({"visibility": "private"})).await;
    wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Ana"), Say::text("hello"));
    wired.sandbox.say("300000000000002", &Customer::new("84912345678", "Bao"), Say::text("xin chao"));
    let list = "/api/v1/conversations";
    assert!(eventually(10, || async { app.get(list).await.body["items"].as_array().unwrap().len() == 2 }).await);
    let items = app.get(list).await.body["items"].as_array().unwrap().clone();
    let on = |channel: &Value| items.iter().find(|c| c["channel_id"] == channel["id"]).unwrap()["id"].as_i64().unwrap();
    let (shared, private) = (on(&wired.channel), on(&private));
    (wired, shared, private)
}

#[tokio::test]
async fn notes_mention_teammates_who_can_see_the_conversation() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (wired, shared_conv, private_conv) = ana_shared_bao_private(&app).await;
        let (binh, binh_token) = user(&app, "Bình", "binh@acme.example").await;
        let (_, chi_token) = user(&app, "Chi Tran", "chi@acme.example").await;

        // A note on the shared conversation mentions Bình (any case), who is told.
        let path = format!("/api/v1/conversations/{shared_conv}/notes");
        let note = app.post(&path, json!({"body": "@bình can you call her back?"})).await;
        assert_eq!(
            (note.status, note.body["mentions"].clone()),
            (StatusCode::CREATED, json!([binh])),
            "{e}: {:?}",
            note.body
        );
        let told = app.call_as(Some(&binh_token), Method::GET, "/api/v1/notifications", None).await.body;
        assert_eq!(told.as_array().unwrap().len(), 1, "{e}: {told}");
        assert_eq!(
            (told[0]["kind"].as_str(), told[0]["payload"]["conversation_id"].as_i64()),
            (Some("mention"), Some(shared_conv))
        );
        assert_eq!(told[0]["read"], false);
        let read = format!("/api/v1/notifications/{}/read", told[0]["id"]);
        assert_eq!(app.call_as(Some(&binh_token), Method::POST, &read, None).await.status, StatusCode::NO_CONTENT);
        // Chi was not mentioned, and may not mark Bình's notification read.
        let chi_sees = app.call_as(Some(&chi_token), Method::GET, "/api/v1/notifications", None).await.body;
        assert_eq!(chi_sees, json!([]), "{e}");
        assert_eq!(app.call_as(Some(&chi_token), Method::POST, &read, None).await.status, StatusCode::NOT_FOUND);

        // Notes are listed apart from messages, which stay the customer's and ours.
        let notes = app.call_as(Some(&chi_token), Method::GET, &path, None).await.body;
        assert_eq!(notes[0]["body"], "@bình can you call her back?", "{e}");
        let thread = app.get(&format!("/api/v1/conversations/{shared_conv}/messages")).await.body;
        assert_eq!(thread["items"].as_array().unwrap().len(), 1, "{e}: a note is not a message");
        assert!(wired.sandbox.sent().is_empty(), "{e}: nothing was sent");
        let events = app.get("/api/v1/events?limit=1000").await.body.to_string();
        assert!(events.contains("conversation.note_added"), "{e}");

        // On the private channel: Bình is no member, so a mention tells nobody and Bình can
        // neither read nor write its notes.
        let private_path = format!("/api/v1/conversations/{private_conv}/notes");
        let note = app.post(&private_path, json!({"body": "@Bình look at this"})).await;
        assert_eq!((note.status, note.body["mentions"].clone()), (StatusCode::CREATED, json!([])), "{e}");
        let told = app.call_as(Some(&binh_token), Method::GET, "/api/v1/notifications", None).await.body;
        assert_eq!(told.as_array().unwrap().len(), 1, "{e}: still only the first");
        for (method, body) in [(Method::GET, None), (Method::POST, Some(json!({"body": "sneaky"})))] {
            let r = app.call_as(Some(&binh_token), method, &private_path, body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}");
        }
        assert!(
            !app.call_as(Some(&binh_token), Method::GET, "/api/v1/events?limit=1000", None)
                .await
                .body
                .to_string()
                .contains("look at this")
        );

        let empty = app.post(&path, json!({"body": "   "})).await;
        assert_eq!((empty.status, empty.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_note"), "{e}");
        assert_eq!(
            app.post("/api/v1/conversations/999999/notes", json!({"body": "x"})).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn conversations_are_tagged_and_filtered_by_tag() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana"), Say::text("refund please"));
        wired.sandbox.say(&pnid, &Customer::new("84912345678", "Bao"), Say::text("hello"));
        let list = "/api/v1/conversations";
        assert!(eventually(10, || async { app.get(list).await.body["items"].as_array().unwrap().len() == 2 }).await);
        let ana =
            app.get("/api/v1/conversations?contact=phone:+33612345678").await.body["items"][0]["id"].as_i64().unwrap();
        let path = format!("/api/v1/conversations/{ana}/tags");
        let tagged = app.post(&path, json!({"tags": ["Refund", "urgent", "refund"]})).await;
        assert_eq!((tagged.status, tagged.body.clone()), (StatusCode::OK, json!(["refund", "urgent"])), "{e}");
        let filtered = app.get("/api/v1/conversations?tag=REFUND").await.body;
        let ids: Vec<i64> = filtered["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![ana], "{e}");
        assert_eq!(filtered["items"][0]["tags"], json!(["refund", "urgent"]), "{e}");
        assert!(app.get("/api/v1/conversations?tag=nothing").await.body["items"].as_array().unwrap().is_empty());
        assert_eq!(app.delete(&format!("{path}/urgent")).await.body, json!(["refund"]), "{e}");
        assert_eq!(app.get(&path).await.body, json!(["refund"]), "{e}");
        let bad = app.post(&path, json!({"tags": ["a,b"]})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(app.get(&path).await.body, json!(["refund"]), "{e}: nothing changed");
        assert!(app.get("/api/v1/events?limit=1000").await.body.to_string().contains("conversation.tags_changed"));
    }
}

/// Tags in one place (issue 16, point 13): the names in use of both kinds for suggestions, an
/// agent told only the tags of conversations they see, and the list filtered by the contact's
/// tags as well as the conversation's.
#[tokio::test]
async fn tag_names_are_suggested_and_both_kinds_filter_the_list() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (_, shared_conv, private_conv) = ana_shared_bao_private(&app).await;
        let list = "/api/v1/conversations";
        app.post(&format!("/api/v1/conversations/{shared_conv}/tags"), json!({"tags": ["refund"]})).await;
        app.post(&format!("/api/v1/conversations/{private_conv}/tags"), json!({"tags": ["fraud-case", "refund"]}))
            .await;
        app.post("/api/v1/contacts/phone:+33612345678/tags", json!({"tags": ["vip", "lyon"]})).await;
        app.post("/api/v1/contacts/phone:+84912345678/tags", json!({"tags": ["vip"]})).await;

        let names = app.get("/api/v1/tags").await.body;
        assert_eq!(names, json!({"contact": ["lyon", "vip"], "conversation": ["fraud-case", "refund"]}), "{e}");
        let (_, agent) = user(&app, "Chi Tran", "chi@acme.example").await;
        let seen = app.call_as(Some(&agent), Method::GET, "/api/v1/tags", None).await.body;
        assert_eq!(seen["conversation"], json!(["refund"]), "{e}: an agent outside the private number");

        let ids = |body: Value| -> Vec<i64> {
            body["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
        };
        assert_eq!(ids(app.get(&format!("{list}?contact_tag=LYON")).await.body), vec![shared_conv], "{e}");
        let mut vip = ids(app.get(&format!("{list}?contact_tag=vip")).await.body);
        vip.sort();
        assert_eq!(
            vip,
            {
                let mut v = vec![shared_conv, private_conv];
                v.sort();
                v
            },
            "{e}"
        );
        assert_eq!(ids(app.get(&format!("{list}?contact_tag=vip&tag=fraud-case")).await.body), vec![private_conv]);
        let bad = app.get(&format!("{list}?contact_tag=a,b")).await;
        assert_eq!(
            (bad.status, bad.body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("contact_tag")),
            "{e}"
        );
    }
}

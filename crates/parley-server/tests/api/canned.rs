//! Canned responses on both engines: owners and managers write them, everyone reads and finds
//! them by the shortcut typed so far; shortcuts are unique per workspace and checked.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn canned_responses_are_saved_found_by_prefix_changed_and_deleted() {
    for app in TestApp::all().await {
        let e = app.engine();
        let agent = app.token_for("agent", "agent@acme.example").await;
        let path = "/api/v1/canned-responses";
        let thanks = app.post(path, json!({"shortcut": "/Thanks", "body": "Thank you for writing to us!"})).await;
        assert_eq!((thanks.status, thanks.body["shortcut"].as_str()), (StatusCode::CREATED, Some("thanks")), "{e}");
        app.post(path, json!({"shortcut": "thanks_late", "body": "Sorry for the wait, and thanks!"})).await;
        app.post(path, json!({"shortcut": "hours", "body": "We open 9:00–18:00."})).await;

        // A taken shortcut, a bad one, an empty body: refused, nothing stored.
        let taken = app.post(path, json!({"shortcut": "THANKS", "body": "again"})).await;
        assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "identifier_taken"), "{e}");
        assert_eq!(app.post(path, json!({"shortcut": "two words", "body": "x"})).await.code(), "invalid_shortcut");
        assert_eq!(app.post(path, json!({"shortcut": "ok", "body": "  "})).await.code(), "invalid_body");
        assert_eq!(app.post(path, json!({"shortcut": "ok"})).await.status, StatusCode::BAD_REQUEST);

        // Agents read and search; they do not write.
        let all = app.call_as(Some(&agent), Method::GET, path, None).await;
        let shortcuts: Vec<&str> =
            all.body.as_array().unwrap().iter().map(|c| c["shortcut"].as_str().unwrap()).collect();
        assert_eq!(shortcuts, ["hours", "thanks", "thanks_late"], "{e}");
        let found = app.call_as(Some(&agent), Method::GET, &format!("{path}?q=/THA"), None).await;
        assert_eq!(found.body.as_array().unwrap().len(), 2, "{e}");
        let underscore = app.get(&format!("{path}?q=thanks_")).await;
        assert_eq!(underscore.body.as_array().unwrap().len(), 1, "{e}: `_` is literal");
        let refused =
            app.call_as(Some(&agent), Method::POST, path, Some(json!({"shortcut": "mine", "body": "x"}))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");

        let id = thanks.body["id"].as_i64().unwrap();
        let changed = app.patch(&format!("{path}/{id}"), json!({"body": "Thanks a lot!"})).await;
        assert_eq!(
            (changed.body["shortcut"].as_str(), changed.body["body"].as_str()),
            (Some("thanks"), Some("Thanks a lot!"))
        );
        let clash = app.patch(&format!("{path}/{id}"), json!({"shortcut": "hours"})).await;
        assert_eq!(clash.status, StatusCode::CONFLICT, "{e}");
        assert_eq!(app.delete(&format!("{path}/{id}")).await.status, StatusCode::NO_CONTENT, "{e}");
        assert_eq!(app.delete(&format!("{path}/{id}")).await.status, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(app.get(path).await.body.as_array().unwrap().len(), 2, "{e}");

        // Another workspace of the same database sees none of them and cannot touch them.
        let b = parley_server::admin::bootstrap(
            &*app.db.store,
            "b",
            "owner@b.example",
            "another good password".into(),
            crate::helpers::START,
        )
        .await
        .unwrap();
        let listed = app.call_as(Some(&b.token), Method::GET, path, None).await;
        assert!(listed.body.as_array().unwrap().is_empty(), "{e}");
        let hours = app.get(path).await.body[0]["id"].as_i64().unwrap();
        let r = app.call_as(Some(&b.token), Method::DELETE, &format!("{path}/{hours}"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{e}");
    }
}

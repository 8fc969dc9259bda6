//! Channels: created by owners and managers, secrets never shown, rotated, deleted with history.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn create_list_update_delete_without_leaking_secrets() {
    for app in TestApp::all().await {
        let e = app.engine();
        let sandbox = app.sandbox().await;
        let (channel, _) = app.connect(&sandbox, "PN1", "super-secret-app").await;
        let text = channel.to_string();
        for secret in ["super-secret-app", "token-PN1", "verify-me"] {
            assert!(!text.contains(secret), "{e}: the create response leaks {secret}");
        }
        assert!(channel["webhook_path"].as_str().unwrap().starts_with("/webhooks/meta/"));
        assert_eq!((channel["visibility"].as_str(), channel["throughput"].as_i64()), (Some("shared"), Some(80)));
        let id = channel["id"].as_i64().unwrap();

        let listed = app.get("/api/v1/channels").await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1);
        assert!(!listed.body.to_string().contains("super-secret-app"));
        // Nothing in the database holds the secret in clear either.
        let events = app.get("/api/v1/events").await;
        assert!(!events.body.to_string().contains("super-secret-app"), "{e}: an event leaks the secret");

        let renamed = app
            .patch(
                &format!("/api/v1/channels/{id}"),
                json!({"name": "Sales", "visibility": "private", "app_secret": "rotated"}),
            )
            .await;
        assert_eq!(
            (renamed.status, renamed.body["name"].as_str(), renamed.body["visibility"].as_str()),
            (StatusCode::OK, Some("Sales"), Some("private"))
        );
        assert!(!renamed.body.to_string().contains("rotated"));

        for (body, field) in [
            (json!({"throughput": 5000}), "throughput"),
            (json!({"visibility": "public"}), "visibility"),
            (json!({"graph_base_url": "ftp://x"}), "graph_base_url"),
            (json!({"app_secret": ""}), "app_secret"),
        ] {
            let r = app.patch(&format!("/api/v1/channels/{id}"), body.clone()).await;
            assert_eq!(
                (r.status, r.body["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{e}: {body}"
            );
        }

        assert_eq!(app.delete(&format!("/api/v1/channels/{id}")).await.status, StatusCode::NO_CONTENT);
        assert!(app.get("/api/v1/channels").await.body.as_array().unwrap().is_empty());
        let deleted = app.get(&format!("/api/v1/channels/{id}")).await;
        assert!(deleted.body["deleted_at"].is_string(), "{e}: a deleted channel stays readable");
        let webhook = app.client.get(app.url(channel["webhook_path"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(webhook.status(), StatusCode::NOT_FOUND, "a deleted channel's webhook is gone");
        assert_eq!(app.delete(&format!("/api/v1/channels/{id}")).await.status, StatusCode::NOT_FOUND);
        // The number can be connected again.
        app.connect(&sandbox, "PN1", "again").await;
    }
}

#[tokio::test]
async fn channel_input_is_validated_and_numbers_are_unique() {
    for app in TestApp::all().await {
        let good = json!({"provider": "meta", "name": "Main", "phone_number_id": "PN9", "waba_id": "W", "display_phone_number": "+1 555 000",
            "access_token": "t", "app_secret": "s", "verify_token": "v"});
        let created = app.post("/api/v1/channels", good.clone()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.body["graph_base_url"], "https://graph.facebook.com/v24.0");
        let dup = app.post("/api/v1/channels", good.clone()).await;
        assert_eq!(
            (dup.status, dup.code(), dup.body["error"]["field"].as_str()),
            (StatusCode::CONFLICT, "identifier_taken", Some("phone_number_id")),
            "{}",
            app.engine()
        );
        for (key, value) in [
            ("provider", json!("twilio")),
            ("phone_number_id", json!("a/b")),
            ("access_token", json!("has space")),
            ("secret_sauce", json!(1)),
        ] {
            let mut body = good.clone();
            body[key] = value;
            body["phone_number_id"] =
                if key == "phone_number_id" { body["phone_number_id"].clone() } else { json!("PN10") };
            let r = app.post("/api/v1/channels", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{key}: {:?}", r.body);
        }
        assert_eq!(app.get("/api/v1/channels").await.body.as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn only_owners_and_managers_manage_channels() {
    for app in TestApp::all().await {
        let agent = app.token_for("agent", "agent@acme.example").await;
        let manager = app.token_for("manager", "manager@acme.example").await;
        let body = json!({"provider": "meta", "name": "M", "phone_number_id": "PN2", "waba_id": "W", "display_phone_number": "1555",
            "access_token": "t", "app_secret": "s", "verify_token": "v"});
        let r = app.call_as(Some(&agent), Method::POST, "/api/v1/channels", Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app.call_as(Some(&manager), Method::POST, "/api/v1/channels", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let id = r.body["id"].as_i64().unwrap();
        // Agents read the (shared) channel, without credentials, but change nothing.
        let list = app.call_as(Some(&agent), Method::GET, "/api/v1/channels", None).await;
        assert_eq!((list.status, list.body[0]["id"].as_i64()), (StatusCode::OK, Some(id)));
        let one = app.call_as(Some(&agent), Method::GET, &format!("/api/v1/channels/{id}"), None).await;
        assert_eq!(one.status, StatusCode::OK);
        assert!(!one.body.to_string().contains("\"s\""), "no secret in {}", one.body);
        for (method, path) in [
            (Method::DELETE, format!("/api/v1/channels/{id}")),
            (Method::GET, format!("/api/v1/channels/{id}/members")),
            (Method::GET, format!("/api/v1/channels/{id}/outbox")),
        ] {
            let r = app.call_as(Some(&agent), method.clone(), &path, None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        }
        let r = app
            .call_as(Some(&agent), Method::PATCH, &format!("/api/v1/channels/{id}"), Some(json!({"name": "x"})))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}

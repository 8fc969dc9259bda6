//! Authentication, roles, users, tokens and the workspace.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_api_route_needs_a_valid_token() {
    for app in TestApp::all().await {
        for token in [None, Some("pk_0000"), Some("not-a-token"), Some("")] {
            for (method, path) in [
                (Method::GET, "/api/v1/contacts"),
                (Method::POST, "/api/v1/contacts"),
                (Method::GET, "/api/v1/contacts/1"),
                (Method::GET, "/api/v1/me"),
                (Method::GET, "/api/v1/events"),
            ] {
                let r = app.call_as(token, method.clone(), path, Some(json!({"name": "x"}))).await;
                assert_eq!(
                    (r.status, r.code()),
                    (StatusCode::UNAUTHORIZED, "unauthorized"),
                    "{}: {method} {path} with {token:?}",
                    app.engine()
                );
            }
        }
        assert_eq!(app.contact_count().await, 0);
        // Lowercase scheme works too; a wrong scheme does not.
        let r = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("bearer {}", app.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("Basic {}", app.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
}

#[tokio::test]
async fn me_and_workspace() {
    for app in TestApp::all().await {
        let me = app.get("/api/v1/me").await;
        assert_eq!(me.body["user"]["role"], "owner", "{}", app.engine());
        assert_eq!(me.body["user"]["email"], "owner@acme.example");
        assert_eq!(me.body["workspace"]["name"], "acme");
        let renamed = app.patch("/api/v1/workspace", json!({"name": "Acme Inc"})).await;
        assert_eq!(renamed.body["name"], "Acme Inc");
        assert_eq!(app.get("/api/v1/workspace").await.body["name"], "Acme Inc");
        assert_eq!(app.patch("/api/v1/workspace", json!({"name": " "})).await.code(), "invalid_request");
        assert_eq!(app.patch("/api/v1/workspace", json!({"colour": "red"})).await.code(), "invalid_request");
    }
}

#[tokio::test]
async fn roles_decide_who_manages_users_and_tokens() {
    for app in TestApp::all().await {
        let e = app.engine();
        let manager = app.token_for("manager", "manager@acme.example").await;
        let agent = app.token_for("agent", "agent@acme.example").await;

        // Agents administer nothing.
        for (method, path, body) in [
            (Method::POST, "/api/v1/users", Some(json!({"email": "x@acme.example", "name": "X", "role": "agent"}))),
            (Method::POST, "/api/v1/tokens", Some(json!({"name": "mine"}))),
            (Method::GET, "/api/v1/tokens", None),
            (Method::DELETE, "/api/v1/tokens/1", None),
            (Method::PATCH, "/api/v1/workspace", Some(json!({"name": "Mine"}))),
        ] {
            let r = app.call_as(Some(&agent), method.clone(), path, body).await;
            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{e}: agent {method} {path}");
        }
        // But they work with contacts, and cannot delete them.
        let c = app.call_as(Some(&agent), Method::POST, "/api/v1/contacts", Some(json!({"name": "Ana"}))).await;
        assert_eq!(c.status, StatusCode::CREATED);
        let r = app.call_as(Some(&agent), Method::DELETE, &format!("/api/v1/contacts/{}", c.body["id"]), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(app.call_as(Some(&agent), Method::GET, "/api/v1/users", None).await.status, StatusCode::OK);

        // Managers create agents and managers, never owners.
        let r = app
            .call_as(
                Some(&manager),
                Method::POST,
                "/api/v1/users",
                Some(
                    json!({"email": "a2@acme.example", "name": "A2", "role": "agent", "password": "long enough pass"}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
        assert!(r.body.get("password").is_none() && r.body.get("password_hash").is_none());
        let r = app
            .call_as(
                Some(&manager),
                Method::POST,
                "/api/v1/users",
                Some(json!({"email": "o2@acme.example", "name": "O2", "role": "owner"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let owner_id = app.get("/api/v1/me").await.body["user"]["id"].clone();
        let r = app
            .call_as(
                Some(&manager),
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": "steal", "user_id": owner_id})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "a manager cannot mint an owner's token");
        // Owners create owners.
        let r = app.post("/api/v1/users", json!({"email": "o2@acme.example", "name": "O2", "role": "owner"})).await;
        assert_eq!(r.status, StatusCode::CREATED);

        // Bad user input.
        for (body, code) in [
            (json!({"email": "nope", "name": "X", "role": "agent"}), "invalid_email"),
            (json!({"email": "x@acme.example", "name": "X", "role": "admin"}), "invalid_request"),
            (json!({"email": "x@acme.example", "name": "X", "role": "agent", "password": "short"}), "weak_password"),
            (json!({"email": "AGENT@acme.example", "name": "X", "role": "agent"}), "identifier_taken"),
        ] {
            assert_eq!(app.post("/api/v1/users", body.clone()).await.code(), code, "{e}: {body}");
        }
        assert_eq!(app.get("/api/v1/users").await.body.as_array().unwrap().len(), 5);
    }
}

#[tokio::test]
async fn tokens_are_shown_once_and_can_be_revoked() {
    for app in TestApp::all().await {
        let created = app.post("/api/v1/tokens", json!({"name": "zapier"})).await;
        assert_eq!(created.status, StatusCode::CREATED);
        let secret = created.body["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("pk_") && secret.starts_with(created.body["prefix"].as_str().unwrap()));
        let me = app.call_as(Some(&secret), Method::GET, "/api/v1/me", None).await;
        assert_eq!(me.status, StatusCode::OK);

        let list = app.get("/api/v1/tokens").await;
        let text = list.body.to_string();
        assert!(!text.contains(&secret[3..]), "{}: a listed token leaks its secret", app.engine());
        assert_eq!(list.body.as_array().unwrap().len(), 2);

        let id = created.body["id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/tokens/{id}")).await.status, StatusCode::NO_CONTENT);
        let r = app.call_as(Some(&secret), Method::GET, "/api/v1/me", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.delete("/api/v1/tokens/999999").await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete("/api/v1/tokens/abc").await.status, StatusCode::BAD_REQUEST);
        let revoked =
            app.get("/api/v1/tokens").await.body.as_array().unwrap().iter().find(|t| t["id"] == id).cloned().unwrap();
        assert!(revoked["revoked_at"].is_string());
    }
}

#[tokio::test]
async fn events_follow_contact_changes() {
    for app in TestApp::all().await {
        let c = app.post("/api/v1/contacts", json!({"name": "Ana"})).await;
        app.patch(&format!("/api/v1/contacts/{}", c.body["id"]), json!({"name": "Ana Maria"})).await;
        let events = app.get("/api/v1/events").await;
        let kinds: Vec<_> =
            events.body["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
        assert_eq!(kinds, ["contact.created", "contact.updated"], "{}", app.engine());
        let last = events.body["last_id"].as_i64().unwrap();
        let none = app.get(&format!("/api/v1/events?after={last}")).await;
        assert_eq!((none.body["items"].as_array().unwrap().len(), none.body["last_id"].as_i64()), (0, Some(last)));
        assert_eq!(app.get("/api/v1/events?after=-1").await.code(), "invalid_request");
    }
}

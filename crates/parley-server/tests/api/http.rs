//! The HTTP surface: health checks, the OpenAPI document, unknown routes, oversized bodies.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_checks() {
    for app in TestApp::all().await {
        let r = app.call_as(None, reqwest::Method::GET, "/healthz", None).await;
        assert_eq!((r.status, &r.body["status"]), (StatusCode::OK, &json!("ok")));
        let r = app.call_as(None, reqwest::Method::GET, "/readyz", None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["database"], app.engine());
    }
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let doc = app.call_as(None, reqwest::Method::GET, "/api/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/contacts", &["get", "post"][..]),
        ("/api/v1/contacts/{ref}", &["get", "patch", "delete"]),
        ("/api/v1/contacts/{ref}/tags", &["post"]),
        ("/api/v1/contacts/{ref}/tags/{tag}", &["delete"]),
        ("/api/v1/contacts/{ref}/notes", &["get", "post"]),
        ("/api/v1/me", &["get"]),
        ("/api/v1/workspace", &["get", "patch"]),
        ("/api/v1/users", &["get", "post"]),
        ("/api/v1/tokens", &["get", "post"]),
        ("/api/v1/tokens/{id}", &["delete"]),
        ("/api/v1/events", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for m in methods {
            assert!(paths.get(path).and_then(|p| p.get(*m)).is_some(), "{m} {path} missing from the OpenAPI document");
        }
    }
    // The outgoing webhook catalog, as OpenAPI 3.1 `webhooks`, one entry per kind.
    let hooks = doc.body["webhooks"].as_object().expect("a webhooks object");
    assert_eq!(hooks.len(), parley_core::outgoing::KINDS.len());
    let received = &hooks["message.received"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(received["properties"]["data"]["properties"]["conversation_id"].is_object(), "{received}");
    for path in ["/api/v1/webhook-subscriptions", "/api/v1/webhook-subscriptions/{id}/replay"] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    // Every documented /api/v1 route asks for the bearer token, and answers 401 without one.
    for (path, ops) in paths.iter().filter(|(p, _)| p.starts_with("/api/v1")) {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["security"].to_string().contains("bearer"), "{method} {path} is not marked as authenticated");
            let concrete = path.replace("{ref}", "1").replace("{tag}", "x").replace("{id}", "1");
            let r = app.call_as(None, method.to_uppercase().parse().unwrap(), &concrete, Some(json!({}))).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let r = app.get("/api/v1/nothing").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.call(reqwest::Method::PUT, "/api/v1/contacts", Some(json!({}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

#[tokio::test]
async fn oversized_bodies_are_413_and_store_nothing() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let huge = json!({"name": "A", "fields": {"notes": "x".repeat(2 * 1024 * 1024)}});
    let r = app.post("/api/v1/contacts", huge).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    assert_eq!(app.contact_count().await, 0);
}

//! Live event streams follow their caller's rights, on both engines: a stream ends within
//! seconds once its user is deactivated, its token revoked, its session logged out or its role
//! changed, and carries nothing that happened after; a user holds a limited number of streams;
//! a stream ends after its lifetime.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::json;

use crate::helpers::TestApp;

/// Reads the stream's events (id, kind) until `enough` says so, the stream ends, or `secs`
/// pass; also says whether it ended.
async fn read(
    resp: &mut reqwest::Response,
    secs: u64,
    enough: impl Fn(&[(i64, String)]) -> bool,
) -> (Vec<(i64, String)>, bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let (mut text, mut events) = (String::new(), Vec::new());
    while !enough(&events) {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None) | Err(_)) => return (events, true),
            Err(_) => return (events, false),
        }
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let id = frame.lines().find_map(|l| l.strip_prefix("id: ")).and_then(|v| v.parse().ok());
            let kind = frame.lines().find_map(|l| l.strip_prefix("event: "));
            if let (Some(id), Some(kind)) = (id, kind) {
                events.push((id, kind.to_owned()));
            }
        }
    }
    (events, false)
}

async fn open_with(app: &TestApp, request: reqwest::RequestBuilder) -> reqwest::Response {
    let resp = request.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", app.engine());
    resp
}

fn stream_request(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    app.client.get(app.url("/api/v1/events/stream")).bearer_auth(token)
}

/// The workspace's last event id, as the owner reads the log.
async fn last_event_id(app: &TestApp) -> i64 {
    let mut after = 0;
    loop {
        let page = app.get(&format!("/api/v1/events?after={after}&limit=1000")).await;
        let last = page.body["last_id"].as_i64().unwrap();
        if last == after {
            return last;
        }
        after = last;
    }
}

/// Checks that `stream` carries events, then that after `change` it ends within seconds
/// without carrying anything that happened from the change on.
async fn assert_ends_after<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    stream: &mut reqwest::Response,
    what: &str,
    change: F,
) {
    let e = app.engine();
    let before = app.post("/api/v1/contacts", json!({"name": "Before"})).await;
    assert_eq!(before.status, StatusCode::CREATED, "{e}");
    let (seen, ended) = read(stream, 10, |evs| evs.iter().any(|(_, k)| k == "contact.created")).await;
    assert!(!ended && seen.iter().any(|(_, k)| k == "contact.created"), "{e} {what}: the stream works: {seen:?}");
    let cut = last_event_id(app).await;
    change.await;
    let after = app.post("/api/v1/contacts", json!({"name": "After"})).await;
    assert_eq!(after.status, StatusCode::CREATED, "{e}");
    let (late, ended) = read(stream, 10, |_| false).await;
    assert!(ended, "{e} {what}: the stream goes on: {late:?}");
    assert!(
        late.iter().all(|(id, _)| *id <= cut),
        "{e} {what}: events after the change went out: {late:?} (cut {cut})"
    );
}

#[tokio::test]
async fn a_stream_ends_when_its_user_is_deactivated_or_demoted_or_its_token_revoked() {
    for app in TestApp::all().await {
        let e = app.engine();
        let manager = app.token_for("manager", "deactivated@acme.example").await;
        let id = app.user_id(&manager).await;
        let mut stream = open_with(&app, stream_request(&app, &manager)).await;
        assert_ends_after(&app, &mut stream, "deactivated", async {
            let r = app.patch(&format!("/api/v1/users/{id}"), json!({"active": false})).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        })
        .await;

        // Demoted: the stream was filtered as a manager's (every private channel); it ends.
        let manager = app.token_for("manager", "demoted@acme.example").await;
        let id = app.user_id(&manager).await;
        let mut stream = open_with(&app, stream_request(&app, &manager)).await;
        assert_ends_after(&app, &mut stream, "demoted", async {
            let r = app.patch(&format!("/api/v1/users/{id}"), json!({"role": "agent"})).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        })
        .await;
        // Reopened, it goes on under the new role.
        let mut again = open_with(&app, stream_request(&app, &manager)).await;
        app.post("/api/v1/contacts", json!({"name": "Seen by the agent"})).await;
        let (seen, ended) = read(&mut again, 10, |evs| evs.iter().any(|(_, k)| k == "contact.created")).await;
        assert!(!ended && !seen.is_empty(), "{e}: {seen:?}");

        // A revoked token.
        let agent = app.token_for("agent", "revoked@acme.example").await;
        let agent_id = app.user_id(&agent).await;
        let tokens = app.get("/api/v1/tokens").await;
        let token_id = tokens.body.as_array().unwrap().iter().find(|t| t["user_id"] == agent_id).unwrap()["id"].clone();
        let mut stream = open_with(&app, stream_request(&app, &agent)).await;
        assert_ends_after(&app, &mut stream, "revoked", async {
            let r = app.delete(&format!("/api/v1/tokens/{token_id}")).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}: {:?}", r.body);
        })
        .await;
    }
}

#[tokio::test]
async fn a_stream_opened_with_the_session_cookie_ends_when_the_session_is_logged_out() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (secret, csrf) = crate::web::session(&app).await;
        let cookie = format!("parley_session={secret}");
        let request = app.client.get(app.url("/api/v1/events/stream")).header(COOKIE, &cookie);
        let mut stream = open_with(&app, request).await;
        assert_ends_after(&app, &mut stream, "logged out", async {
            let out = crate::helpers::web_client()
                .post(app.url("/logout"))
                .header(COOKIE, &cookie)
                .form(&[("csrf", csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(out.status(), StatusCode::SEE_OTHER, "{e}");
        })
        .await;
    }
}

#[tokio::test]
async fn a_user_holds_a_limited_number_of_streams_each_for_a_limited_time() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app = TestApp::spawn_with(db, "acme", |s| {
            s.streams.per_user = 2;
            s.streams.max_lifetime = Duration::from_secs(3);
        })
        .await;
        let e = app.engine();
        let first = open_with(&app, stream_request(&app, &app.token)).await;
        let mut second = open_with(&app, stream_request(&app, &app.token)).await;
        let third = stream_request(&app, &app.token).send().await.unwrap();
        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
        let body: serde_json::Value = third.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_streams", "{e}: {body}");
        // Another user is not held back by the owner's streams.
        let agent = app.token_for("agent", "agent@acme.example").await;
        let _agent_stream = open_with(&app, stream_request(&app, &agent)).await;

        // Each ends after its lifetime (the browser reconnects by itself), giving its place back.
        let (_, ended) = read(&mut second, 10, |_| false).await;
        assert!(ended, "{e}: the stream outlived its lifetime");
        drop(first);
        let reopened = stream_request(&app, &app.token).send().await.unwrap();
        assert_eq!(reopened.status(), StatusCode::OK, "{e}: the places came back");
    }
}

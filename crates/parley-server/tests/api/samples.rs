//! Sample files through the provider's Resumable Upload API: the handle they answer becomes a
//! template's media header example and the business profile photo. Wrong types, empty and
//! oversized files, and agents are refused before anything reaches the provider.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired};

fn path(wired: &Wired, rest: &str) -> String {
    format!("/api/v1/channels/{}{rest}", wired.channel["id"])
}

/// Posts `bytes` as a sample of type `mime`; the status and the answer.
async fn upload(app: &TestApp, token: &str, wired: &Wired, mime: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(app.url(&path(wired, "/samples?file_name=shop%20front.png")))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_sample_becomes_a_template_header_example_and_the_profile_photo() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let png = parley_sandbox::samples::photo_png();

        let (status, body) = upload(&app, &app.token, &wired, "image/png", png.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{e}: {body}");
        let handle = body["handle"].as_str().unwrap().to_owned();
        let sample = wired.sandbox.uploaded_sample(&handle).expect("the provider has the file");
        assert_eq!(
            (sample.file_name.as_str(), sample.file_type.as_str(), sample.bytes),
            ("shop front.png", "image/png", png.len()),
            "{e}"
        );

        let template = json!({"name": "new_arrivals", "language": "en", "category": "marketing", "components": [
            {"type": "header", "format": "image", "example": {"header_handle": [handle]}},
            {"type": "body", "text": "New arrivals are in store this week, come and see them."}]});
        let r = app.post(&path(&wired, "/templates"), template).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.body);
        let stored = wired.sandbox.template("WABA-1", "new_arrivals", "en");
        assert!(stored.is_some_and(|t| t.components.to_string().contains(&handle)), "{e}: the provider got the handle");

        let r = app.patch(&path(&wired, "/profile"), json!({"profile_picture_handle": handle})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(r.body["profile_picture_url"].as_str().is_some_and(|u| !u.is_empty()), "{e}: {}", r.body);
    }
}

#[tokio::test]
async fn samples_of_the_wrong_type_size_or_caller_are_refused_before_the_provider() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (status, body) = upload(&app, &app.token, &wired, "text/html", b"<p>hi</p>".to_vec()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str(), body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request"), Some("content-type")),
            "{e}: {body}"
        );
        let (status, body) = upload(&app, &app.token, &wired, "image/png", Vec::new()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}: {body}");
        let (status, body) = upload(&app, &app.token, &wired, "image/jpeg", vec![0xff; 5 * 1024 * 1024 + 1]).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
            "{e}: {body}"
        );
        let (status, body) =
            upload(&app, &app.token, &wired, "application/pdf", vec![b'%'; 16 * 1024 * 1024 + 1]).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
            "{e}: {body}"
        );
        let agent = app.token_for("agent", "agent@acme.example").await;
        let (status, body) = upload(&app, &agent, &wired, "image/png", parley_sandbox::samples::photo_png()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{e}: {body}");
    }
}

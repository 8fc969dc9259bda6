//! Issue 15, point 9: uploads cannot fill the disk. A refused upload (wrong type, over quota,
//! provider refusal, a client that hangs up midway) leaves no file in the data dir, and each
//! user's uploads are limited in files per minute and megabytes per hour (429 with a stable code).

use std::path::{Path, PathBuf};

use parley_server::uploads::{UploadLimiter, UploadQuota};
use parley_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{TestApp, eventually};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { files_under(&e.path()) } else { vec![e.path()] }).collect()
}

async fn upload_media(app: &TestApp, token: &str, channel: &Value, mime: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/media?channel_id={}&filename=f", channel["id"])))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn upload_csv(app: &TestApp, token: &str, csv: Vec<u8>) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv).file_name("contacts.csv"))
        .text("options", "{}");
    let r = app.client.post(app.url("/api/v1/imports")).bearer_auth(token).multipart(form).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_media_upload_refused_for_its_type_or_by_the_provider_leaves_no_file() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        // A channel whose token the provider does not know: it refuses the upload.
        let refused_channel = app
            .post(
                "/api/v1/channels",
                json!({"provider": "meta", "name": "Unknown token", "phone_number_id": "PN-UNKNOWN", "waba_id": "WABA-1",
                    "display_phone_number": "15550002222", "access_token": "not-a-token-the-provider-knows",
                    "app_secret": "s", "verify_token": "v", "graph_base_url": wired.sandbox.graph_base_url()}),
            )
            .await
            .body;
        let (status, body) = upload_media(&app, &app.token, &refused_channel, "image/png", b"png".to_vec()).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_GATEWAY, "provider_error"), "{e}: {body}");
        let (status, body) = upload_media(&app, &app.token, &wired.channel, "text/html", b"<p>".to_vec()).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{e}");
        assert!(files_under(&app.state.media_dir).is_empty(), "{e}: {:?}", files_under(&app.state.media_dir));

        let (status, body) = upload_media(&app, &app.token, &wired.channel, "image/png", b"png".to_vec()).await;
        assert_eq!(status, StatusCode::CREATED, "{e}: {body}");
        assert_eq!(files_under(&app.state.media_dir).len(), 1, "{e}: an accepted upload is kept");
    }
}

#[tokio::test]
async fn upload_quotas_answer_429_per_user_and_leave_no_file() {
    for db in TestDatabase::all().await {
        let quota = UploadQuota { files_per_minute: 3, mb_per_hour: 1 };
        let app = TestApp::spawn_with(db, "acme", |s| s.upload_limiter = UploadLimiter::new(quota)).await;
        let e = app.engine();
        let wired = app.wired().await;
        let kib = |n: usize| vec![b'x'; n * 1024];

        let (status, _) = upload_media(&app, &app.token, &wired.channel, "image/png", kib(600)).await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        let (status, body) = upload_media(&app, &app.token, &wired.channel, "image/png", kib(600)).await;
        assert_eq!((status, code(&body)), (StatusCode::TOO_MANY_REQUESTS, "upload_quota_exceeded"), "{e}: {body}");
        assert_eq!(files_under(&app.state.media_dir).len(), 1, "{e}: the refused upload left no file");
        let (status, _) = upload_media(&app, &app.token, &wired.channel, "image/png", kib(1)).await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        let (status, body) = upload_media(&app, &app.token, &wired.channel, "image/png", kib(1)).await;
        assert_eq!((status, code(&body)), (StatusCode::TOO_MANY_REQUESTS, "upload_rate_limited"), "{e}: {body}");
        let (status, body) = upload_csv(&app, &app.token, b"phone\n+34612345678\n".to_vec()).await;
        assert_eq!((status, code(&body)), (StatusCode::TOO_MANY_REQUESTS, "upload_rate_limited"), "{e}: {body}");

        // Another user has their own quota; a CSV past it is stopped mid-stream and removed.
        let manager = app.token_for("manager", "manager@acme.example").await;
        let (status, body) = upload_media(&app, &manager, &wired.channel, "image/png", kib(1)).await;
        assert_eq!(status, StatusCode::CREATED, "{e}: {body}");
        let mut csv = b"phone,name\n".to_vec();
        while csv.len() < 1100 * 1024 {
            csv.extend_from_slice(b"+34612345678,Somebody with a long enough name\n");
        }
        let (status, body) = upload_csv(&app, &manager, csv).await;
        assert_eq!((status, code(&body)), (StatusCode::TOO_MANY_REQUESTS, "upload_quota_exceeded"), "{e}: {body}");
        assert!(files_under(&app.state.imports_dir).is_empty(), "{e}: {:?}", files_under(&app.state.imports_dir));
        assert_eq!(app.get("/api/v1/imports").await.body, json!([]), "{e}: no import was created");
    }
}

#[tokio::test]
async fn an_import_upload_cut_off_midway_leaves_no_file() {
    for app in TestApp::all().await {
        let e = app.engine();
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/imports HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 10000000\r\n\r\n\
             --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\n",
            app.addr, app.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&b"phone\n+34612345678\n".repeat(2000)).await.unwrap();
        stream.flush().await.unwrap();
        let started = eventually(10, || async { !files_under(&app.state.imports_dir).is_empty() }).await;
        assert!(started, "{e}: the server began writing the upload");
        drop(stream);
        let gone = eventually(10, || async { files_under(&app.state.imports_dir).is_empty() }).await;
        assert!(gone, "{e}: the half upload stayed: {:?}", files_under(&app.state.imports_dir));
        assert_eq!(app.get("/api/v1/imports").await.body, json!([]), "{e}");
    }
}

//! Issue 15, point 2: a channel's credentials stay where they are. Who may move a channel's
//! endpoint, the outbound guard on base URLs (when saved and when called) and on the media URLs
//! a provider answers, and the cap on media downloads. Local listeners play the provider and
//! record every request they get, so a test can say "the token never left".

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use parley_core::Clock;
use parley_core::channel::{ChannelSecrets, Provider, Visibility};
use parley_providers::guard::AllowList;
use parley_providers::meta::signature;
use parley_store::NewChannel;
use parley_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

/// A local server playing the provider. It records every request (path and `Authorization`);
/// `GET /v24.0/<id>` answers a media URL under `download_base` (itself by default), and
/// `GET /file` streams `file_size` bytes without a Content-Length.
#[derive(Clone)]
struct FakeProvider {
    origin: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

#[derive(Clone)]
struct FakeState {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    download_base: Arc<Mutex<String>>,
    file_size: usize,
}

async fn fake_handler(State(s): State<FakeState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    s.seen.lock().unwrap().push((path.clone(), auth));
    if path == "/file" {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = s.file_size.div_ceil(chunk.len());
        let stream = futures_util::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        return ([("content-type", "image/jpeg")], Body::from_stream(stream)).into_response();
    }
    if path.starts_with("/v24.0/MEDIA-") {
        let url = format!("{}/file", s.download_base.lock().unwrap());
        return axum::Json(json!({"url": url, "mime_type": "image/jpeg", "id": "MEDIA-1"})).into_response();
    }
    axum::Json(json!({"data": []})).into_response()
}

impl FakeProvider {
    async fn start(file_size: usize) -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState { seen: seen.clone(), download_base: Arc::new(Mutex::new(origin.clone())), file_size };
        let app = Router::new().fallback(fake_handler).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeProvider { origin, seen }
    }

    /// Like `start`, with media URLs pointing at `download_base`.
    async fn with_downloads_at(download_base: String) -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState { seen: seen.clone(), download_base: Arc::new(Mutex::new(download_base)), file_size: 10 };
        let app = Router::new().fallback(fake_handler).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeProvider { origin, seen }
    }

    fn base_url(&self) -> String {
        format!("{}/v24.0", self.origin)
    }

    fn port(&self) -> u16 {
        self.origin.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

fn channel_input(base_url: &str) -> Value {
    json!({"provider": "meta", "name": "Main", "phone_number_id": "PN-1", "waba_id": "WABA-1",
        "display_phone_number": "15550001111", "access_token": "old-token", "app_secret": "app-secret",
        "verify_token": "verify", "graph_base_url": base_url})
}

#[tokio::test]
async fn only_an_owner_with_the_credentials_moves_an_endpoint_and_the_stored_token_never_follows() {
    for app in TestApp::all().await {
        let e = app.engine();
        let home = FakeProvider::start(10).await;
        let elsewhere = FakeProvider::start(10).await;
        let created = app.post("/api/v1/channels", channel_input(&home.base_url())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        let path = format!("/api/v1/channels/{}", created.body["id"]);
        let manager = app.token_for("manager", "manager@acme.example").await;
        let move_to = |extra: Value| {
            let mut body = json!({"graph_base_url": elsewhere.base_url()});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };

        let r = app.call_as(Some(&manager), reqwest::Method::PATCH, &path, Some(move_to(json!({})))).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{e}: a manager alone");
        let with_credentials = move_to(json!({"access_token": "new-token", "app_secret": "new-secret"}));
        let r = app.call_as(Some(&manager), reqwest::Method::PATCH, &path, Some(with_credentials)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: a manager even with credentials");
        let r = app.patch(&path, move_to(json!({}))).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "credentials_required"), "{e}");
        assert_eq!(r.body["error"]["field"], "access_token", "{e}");
        let r = app.patch(&path, move_to(json!({"access_token": "new-token", "name": "Renamed"}))).await;
        assert_eq!((r.code(), r.body["error"]["field"].as_str()), ("credentials_required", Some("app_secret")), "{e}");
        // Provider account fields cannot be changed at all (a new number is a new channel).
        let r = app.patch(&path, json!({"waba_id": "WABA-EVIL", "phone_number_id": "PN-EVIL"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}");
        // The same URL again is no move: a manager may send it along with other settings.
        let same = json!({"graph_base_url": home.base_url(), "name": "Renamed"});
        let r = app.call_as(Some(&manager), reqwest::Method::PATCH, &path, Some(same)).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);

        let channel = app.get(&path).await.body;
        assert_eq!(
            (channel["graph_base_url"].as_str(), channel["name"].as_str()),
            (Some(&*home.base_url()), Some("Renamed"))
        );
        // A call with the stored token still goes home.
        app.get(&format!("{path}/profile")).await;
        assert!(elsewhere.seen().is_empty(), "{e}: the new base got {:?}", elsewhere.seen());
        assert!(home.seen().iter().all(|(_, auth)| auth == "Bearer old-token"), "{e}: {:?}", home.seen());
        assert!(!home.seen().is_empty(), "{e}: the profile call went home");

        // An owner with both credentials moves it: the new base only ever sees the new token.
        let r = app.patch(&path, move_to(json!({"access_token": "new-token", "app_secret": "new-secret"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {:?}", r.body);
        assert_eq!(r.body["graph_base_url"], elsewhere.base_url());
        app.get(&format!("{path}/profile")).await;
        let seen = elsewhere.seen();
        assert!(!seen.is_empty() && seen.iter().all(|(_, auth)| auth == "Bearer new-token"), "{e}: {seen:?}");
    }
}

#[tokio::test]
async fn private_base_urls_are_refused_without_the_allow_setting_and_accepted_with_it() {
    let second_dbs = TestDatabase::all().await;
    for (db, second_db) in TestDatabase::all().await.into_iter().zip(second_dbs) {
        let app = TestApp::spawn_with(db, "acme", |s| s.allow_provider_hosts(AllowList::default())).await;
        let e = app.engine();
        let provider = FakeProvider::start(10).await;
        for url in [
            provider.base_url(),
            format!("http://localhost:{}/v24.0", provider.port()),
            format!("http://2130706433:{}/v24.0", provider.port()),
            format!("http://[::ffff:127.0.0.1]:{}/v24.0", provider.port()),
            "https://10.0.0.1/v24.0".into(),
            "https://169.254.169.254/latest".into(),
            "https://graph.facebook.com@127.0.0.1/v24.0".into(),
            "https://graph.evil.example/v24.0".into(),
        ] {
            let r = app.post("/api/v1/channels", channel_input(&url)).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed"), "{e}: {url}");
            assert_eq!(r.body["error"]["field"], "graph_base_url");
        }
        assert_eq!(app.get("/api/v1/channels").await.body, json!([]), "{e}: a refusal changes nothing");
        let official = app.post("/api/v1/channels", channel_input("https://graph.facebook.com/v24.0")).await;
        assert_eq!(official.status, StatusCode::CREATED, "{e}: {:?}", official.body);
        let path = format!("/api/v1/channels/{}", official.body["id"]);
        let moved = json!({"graph_base_url": provider.base_url(), "access_token": "t", "app_secret": "s"});
        assert_eq!(app.patch(&path, moved).await.code(), "url_not_allowed", "{e}");

        // Saved while allowed (here: straight into the store), refused at call time: nothing sent.
        let secrets =
            ChannelSecrets { access_token: "old-token".into(), app_secret: "s".into(), verify_token: "v".into() };
        let saved = NewChannel {
            provider: Provider::Meta,
            name: "Saved earlier".into(),
            phone_number_id: "PN-2".into(),
            waba_id: "WABA-2".into(),
            display_phone_number: "15550002222".into(),
            graph_base_url: provider.base_url(),
            sealed_secrets: app.state.seal_secrets(&secrets),
            webhook_key: "k".repeat(48),
            visibility: Visibility::Shared,
            throughput: 80,
        };
        let saved = app.db.store.create_channel(app.state_workspace().await, saved, app.clock.now()).await.unwrap();
        let r = app
            .client
            .post(app.url(&format!("/api/v1/media?channel_id={}", saved.id.get())))
            .bearer_auth(&app.token)
            .header("content-type", "image/png")
            .body(b"png".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "url_not_allowed");
        let r = app.get(&format!("/api/v1/channels/{}/profile", saved.id.get())).await;
        assert_eq!(r.code(), "url_not_allowed", "{e}");
        assert!(provider.seen().is_empty(), "{e}: the provider got {:?}", provider.seen());

        // With the setting (the test harness allows 127.0.0.1), the same URL is accepted.
        let allowed = TestApp::spawn(second_db).await;
        let r = allowed.post("/api/v1/channels", channel_input(&provider.base_url())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
    }
}

/// Connects a channel on `provider` and posts a signed webhook with one image `MEDIA-1`.
async fn receive_an_image(app: &TestApp, provider: &FakeProvider) -> Value {
    let created = app.post("/api/v1/channels", channel_input(&provider.base_url())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA-1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN-1"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "33612345678"}],
            "messages": [{"from": "33612345678", "id": "wamid.image-1", "timestamp": "1750000000", "type": "image",
                "image": {"id": "MEDIA-1", "mime_type": "image/jpeg"}}]}}]}]});
    let bytes = body.to_string().into_bytes();
    let r = app
        .client
        .post(app.url(created.body["webhook_path"].as_str().unwrap()))
        .header("content-type", "application/json")
        .header(signature::HEADER, signature::sign("app-secret", &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    created.body
}

async fn media_state(app: &TestApp) -> String {
    let messages = app.all_messages().await;
    messages.first().and_then(|m| m["media"]["state"].as_str()).unwrap_or_default().to_owned()
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { files_under(&e.path()) } else { vec![e.path()] }).collect()
}

#[tokio::test]
async fn a_media_url_outside_the_guard_is_refused_without_the_token() {
    for app in TestApp::all().await {
        let e = app.engine();
        let elsewhere = FakeProvider::start(10).await;
        // The provider (allowed: 127.0.0.1) hands out a URL on `localhost`, which is not.
        let provider = FakeProvider::with_downloads_at(format!("http://localhost:{}", elsewhere.port())).await;
        receive_an_image(&app, &provider).await;
        assert!(
            eventually(10, || async { media_state(&app).await == "failed" }).await,
            "{e}: {}",
            media_state(&app).await
        );
        assert!(elsewhere.seen().is_empty(), "{e}: the download host got {:?}", elsewhere.seen());
        assert_eq!(provider.seen().len(), 1, "{e}: one media lookup, no retry: {:?}", provider.seen());
        assert!(files_under(&app.state.media_dir).is_empty(), "{e}");
    }
}

#[tokio::test]
async fn an_oversized_media_download_stops_at_the_cap_and_fails() {
    for db in TestDatabase::all().await {
        let app = TestApp::spawn_with(db, "acme", |s| s.outbound.media_max_bytes = 1024 * 1024).await;
        let e = app.engine();
        // 5 MiB streamed without a Content-Length: the cap is found while reading.
        let provider = FakeProvider::start(5 * 1024 * 1024).await;
        receive_an_image(&app, &provider).await;
        assert!(
            eventually(10, || async { media_state(&app).await == "failed" }).await,
            "{e}: {}",
            media_state(&app).await
        );
        let downloads = provider.seen().iter().filter(|(path, _)| path == "/file").count();
        assert_eq!(downloads, 1, "{e}: failed for good at once, no retry");
        assert!(files_under(&app.state.media_dir).is_empty(), "{e}: nothing written");
    }
}

impl TestApp {
    /// The bootstrapped workspace's id.
    async fn state_workspace(&self) -> parley_core::ids::WorkspaceId {
        let me = self.get("/api/v1/me").await.body;
        parley_core::ids::WorkspaceId(me["workspace"]["id"].as_i64().expect("workspace id"))
    }
}

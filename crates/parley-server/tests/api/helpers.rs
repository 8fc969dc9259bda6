//! Spawning the real server on 127.0.0.1:0 against a fresh database, with a bootstrapped
//! workspace, and a small client for it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use parley_core::{ManualClock, Timestamp};
use parley_server::AppState;
use parley_server::admin::bootstrap;
use parley_server::secrets::SecretBox;
use parley_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const START: Timestamp = Timestamp::from_secs(1_750_000_000);
pub const OWNER_PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// The bootstrapped owner's token.
    pub token: String,
    pub state: AppState,
    pub db: TestDatabase,
    _data_dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The stable error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }
}

impl TestApp {
    pub async fn spawn(db: TestDatabase) -> TestApp {
        TestApp::spawn_named(db, "acme").await
    }

    pub async fn spawn_named(db: TestDatabase, workspace: &str) -> TestApp {
        TestApp::spawn_with(db, workspace, |_| {}).await
    }

    /// Like `spawn_named`, with the state adjusted by `configure` before the server starts.
    pub async fn spawn_with(db: TestDatabase, workspace: &str, configure: impl FnOnce(&mut AppState)) -> TestApp {
        TestApp::spawn_knowing_addr(db, workspace, |state, _| configure(state)).await
    }

    /// Like `spawn_with`, where the adjustment needs the address the server will listen on.
    pub async fn spawn_knowing_addr(
        db: TestDatabase,
        workspace: &str,
        configure: impl FnOnce(&mut AppState, SocketAddr),
    ) -> TestApp {
        init_test_log();
        let clock = Arc::new(ManualClock::new(START));
        let boot =
            bootstrap(&*db.store, workspace, &format!("owner@{workspace}.example"), OWNER_PASSWORD.into(), START)
                .await
                .expect("bootstrap");
        let data_dir = tempfile::tempdir().unwrap();
        let mut state = AppState::new(db.store.clone(), clock.clone(), SecretBox::random(), data_dir.path());
        // A hung provider call becomes `unknown` quickly in tests.
        state.dispatch.send_timeout = std::time::Duration::from_secs(2);
        // Sandboxes play Meta on 127.0.0.1 (any port): the outbound guard must let calls reach them.
        state.allow_provider_hosts(parley_providers::guard::AllowList::parse(&["127.0.0.1"]).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        configure(&mut state, addr);
        tokio::spawn(parley_server::serve(listener, state.clone(), std::future::pending()));
        TestApp { addr, client: reqwest::Client::new(), clock, token: boot.token, state, db, _data_dir: data_dir }
    }

    /// One app per engine under test.
    pub async fn all() -> Vec<TestApp> {
        let mut apps = Vec::new();
        for db in TestDatabase::all().await {
            apps.push(TestApp::spawn(db).await);
        }
        apps
    }

    pub fn engine(&self) -> &'static str {
        self.db.engine()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends `body` (JSON) with `token` (None: no Authorization header).
    pub async fn call_as(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, body }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(Some(&self.token.clone()), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user of `role` and returns a token acting as them.
    pub async fn token_for(&self, role: &str, email: &str) -> String {
        let user = self.post("/api/v1/users", serde_json::json!({"email": email, "name": role, "role": role})).await;
        assert_eq!(user.status, StatusCode::CREATED, "{:?}", user.body);
        let token = self.post("/api/v1/tokens", serde_json::json!({"name": "t", "user_id": user.body["id"]})).await;
        assert_eq!(token.status, StatusCode::CREATED, "{:?}", token.body);
        token.body["secret"].as_str().unwrap().to_owned()
    }

    /// The id of the user a token belongs to.
    /// Waits until the timers worker (snoozes, auto-close) finished `n` more passes: after it,
    /// whatever the clock allows has happened, and nothing else will until the clock moves.
    pub async fn timer_passes(&self, n: u64) {
        let mut passes = self.state.timer_passes.subscribe();
        let start = *passes.borrow_and_update();
        tokio::time::timeout(std::time::Duration::from_secs(10), passes.wait_for(|p| *p >= start + n))
            .await
            .expect("the timers worker runs a pass every second")
            .expect("the timers worker is running");
    }

    /// Waits until the dispatcher has twice found nothing due and nothing on the wire, at the
    /// clock's current time: after it, nothing more is sent until something changes.
    pub async fn dispatcher_idle(&self) {
        let mut passes = self.state.dispatch_idle_passes.subscribe();
        let start = *passes.borrow_and_update();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                self.state.dispatch_wakeup.notify_one();
                tokio::select! {
                    seen = passes.wait_for(|p| *p >= start + 2) => break seen.map(|_| ()),
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                }
            }
        });
        waited.await.expect("the dispatcher settles").expect("the dispatcher is running");
    }

    /// Uploads `csv` as a contact import with `token`; the status and the answer.
    pub async fn upload_import(&self, token: &str, csv: &[u8], options: Value, dry_run: bool) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(csv.to_vec()).file_name("contacts.csv"))
            .text("options", options.to_string())
            .text("dry_run", dry_run.to_string());
        let resp =
            self.client.post(self.url("/api/v1/imports")).bearer_auth(token).multipart(form).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `csv` as the owner and waits for the import to end (it runs on a background worker:
    /// its state is polled, no time window is involved); answers the import.
    pub async fn import_csv(&self, csv: &[u8], options: Value, dry_run: bool) -> Value {
        let (status, body) = self.upload_import(&self.token.clone(), csv, options, dry_run).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}: {body:?}", self.engine());
        let path = format!("/api/v1/imports/{}", body["id"].as_i64().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let last = self.get(&path).await.body;
            if matches!(last["state"].as_str(), Some("done" | "failed")) {
                return last;
            }
            assert!(std::time::Instant::now() < deadline, "{}: import stuck: {last:?}", self.engine());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn user_id(&self, token: &str) -> i64 {
        self.call_as(Some(token), Method::GET, "/api/v1/me", None).await.body["user"]["id"].as_i64().unwrap()
    }

    /// The conversation of the customer writing from `phone` (digits, no `+`).
    pub async fn conversation_of(&self, phone: &str) -> i64 {
        let convs = self.get("/api/v1/conversations").await.body["items"].as_array().cloned().unwrap_or_default();
        let found = convs.iter().find(|c| c["contact"]["phone"] == format!("+{phone}"));
        found.unwrap_or_else(|| panic!("no conversation for {phone}: {convs:?}"))["id"].as_i64().unwrap()
    }

    /// How many contacts the workspace has (through the API).
    pub async fn contact_count(&self) -> usize {
        self.get("/api/v1/contacts?limit=200").await.body["items"].as_array().map_or(0, Vec::len)
    }
}

/// A sandbox number wired to a channel of the app.
pub struct Wired {
    pub sandbox: parley_sandbox::Sandbox,
    pub number: parley_sandbox::Number,
    /// The channel as the API returned it.
    pub channel: Value,
}

impl TestApp {
    /// A sandbox sharing the app's clock, with fast retries; time-driven changes happen when a
    /// test calls `tick()`.
    pub async fn sandbox(&self) -> parley_sandbox::Sandbox {
        let config = parley_sandbox::SandboxConfig {
            clock: self.clock.clone(),
            emitter: parley_sandbox::EmitterConfig {
                retry_base: std::time::Duration::from_millis(20),
                max_retry_delay: std::time::Duration::from_millis(200),
                ..Default::default()
            },
            auto_tick: false,
            ..Default::default()
        };
        parley_sandbox::Sandbox::start(config).await.unwrap()
    }

    /// Connects a channel for `phone_number_id` through the API and registers the number with
    /// the sandbox, pointing its webhooks at the channel's webhook path.
    pub async fn connect(
        &self,
        sandbox: &parley_sandbox::Sandbox,
        phone_number_id: &str,
        app_secret: &str,
    ) -> (Value, parley_sandbox::Number) {
        let created = self
            .post(
                "/api/v1/channels",
                serde_json::json!({
                    "provider": "meta", "name": format!("Number {phone_number_id}"), "phone_number_id": phone_number_id,
                    "waba_id": "WABA-1", "display_phone_number": "15550001111", "access_token": format!("token-{phone_number_id}"),
                    "app_secret": app_secret, "verify_token": "verify-me", "graph_base_url": sandbox.graph_base_url(),
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let number = parley_sandbox::Number {
            phone_number_id: phone_number_id.to_owned(),
            waba_id: "WABA-1".into(),
            display_phone_number: "15550001111".into(),
            access_token: format!("token-{phone_number_id}"),
            app_secret: app_secret.to_owned(),
            webhook_url: self.url(created.body["webhook_path"].as_str().unwrap()),
        };
        sandbox.add_number(number.clone());
        (created.body, number)
    }

    pub async fn wired(&self) -> Wired {
        let sandbox = self.sandbox().await;
        let (channel, number) = self.connect(&sandbox, "300000000000001", "app-secret-1").await;
        Wired { sandbox, number, channel }
    }

    /// Sends a message from `channel` to `to` (`phone:+…`): `body` holds its `type` and content.
    /// Answers the message's id; the send must be accepted.
    pub async fn send_message(&self, channel: i64, to: &str, body: Value) -> i64 {
        let mut message = serde_json::json!({"channel_id": channel, "to": to});
        message.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let r = self.post("/api/v1/messages", message).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        r.body["messages"][0]["id"].as_i64().unwrap()
    }

    /// The file kept for a message (`message["id"]`), as the API serves it.
    pub async fn media_bytes(&self, message: &Value) -> Vec<u8> {
        let url = self.url(&format!("/api/v1/messages/{}/media", message["id"]));
        let file = self.client.get(url).bearer_auth(&self.token).send().await.unwrap();
        file.bytes().await.unwrap().to_vec()
    }

    /// All messages of all conversations, in thread order per conversation.
    pub async fn all_messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let convs = self.get("/api/v1/conversations?limit=200").await;
        for c in convs.body["items"].as_array().unwrap() {
            let mut cursor = String::new();
            loop {
                let page =
                    self.get(&format!("/api/v1/conversations/{}/messages?limit=200&cursor={cursor}", c["id"])).await;
                out.extend(page.body["items"].as_array().unwrap().iter().cloned());
                match page.body["next_cursor"].as_str() {
                    Some(next) => cursor = next.to_owned(),
                    None => break,
                }
            }
        }
        out
    }
}

impl Wired {
    /// What the sandbox's customer `to` received, in order.
    pub fn received(&self, to: &str) -> Vec<parley_sandbox::Sent> {
        self.sandbox.sent().into_iter().filter(|s| s.to == to).collect()
    }

    /// The customer writing from `phone` sends `text`; answers once the webhook was taken.
    pub async fn writes(&self, phone: &str, text: &str) {
        let customer = parley_sandbox::Customer::new(phone, "C");
        let item = self.sandbox.message(&self.number.phone_number_id, &customer, &parley_sandbox::Say::text(text));
        self.sandbox.deliver(vec![item], parley_sandbox::Batching::default());
        assert!(self.sandbox.wait_idle(Duration::from_secs(20)).await, "{}", self.webhook_stats());
    }

    /// How the sandbox's webhook posts went, for failure messages.
    pub fn webhook_stats(&self) -> String {
        let s = self.sandbox.stats();
        let refused: Vec<u16> = s.statuses.iter().copied().filter(|c| *c != 200).collect();
        format!(
            "{} posts, {} acknowledged, {} refused {refused:?}, {} errors, {} pending",
            s.posts,
            s.acked,
            s.refused,
            s.errors,
            self.sandbox.pending_webhooks()
        )
    }
}

/// The servers' logs on stderr when `PARLEY_TEST_LOG` holds a filter (`PARLEY_TEST_LOG=debug`),
/// to see why a test waited in vain. Quiet otherwise.
fn init_test_log() {
    if let Ok(filter) = std::env::var("PARLEY_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Polls `check` until it returns true or `secs` pass (for work done by background workers).
/// A browser-like client for the web pages that keeps cookies itself (so a test sees them) and
/// never follows redirects.
pub fn web_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of the cookie `name` that a response sets.
pub fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().trim_start_matches(&format!("{name}=")).to_owned())
}

pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

impl TestApp {
    /// Moves the clock (retries are scheduled on it) and wakes the workers, until `done`.
    pub async fn drive_until<F, Fut>(&self, secs: u64, mut done: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if done().await {
                return true;
            }
            self.clock.advance_secs(5);
            self.state.dispatch_wakeup.notify_one();
            self.state.media_wakeup.notify_one();
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        false
    }

    pub async fn message_status(&self, id: i64) -> String {
        self.get(&format!("/api/v1/messages/{id}")).await.body["status"].as_str().unwrap_or_default().to_owned()
    }
}

/// One post a test webhook receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn kind(&self) -> String {
        self.json()["kind"].as_str().unwrap_or_default().to_owned()
    }
}

/// A webhook receiver on 127.0.0.1: records every post and answers the scripted statuses in
/// turn (200 once the script is empty), after `delay`; answers Meta's `hub.challenge`.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let script: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let delay: Arc<Mutex<Duration>> = Arc::default();
        let (h, s, d) = (hits.clone(), script.clone(), delay.clone());
        // Meta's handshake, for subscriptions in Meta's format: the challenge echoed.
        let handshake = |query: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
            query.get("hub.challenge").cloned().unwrap_or_default()
        };
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::get(handshake).post(move |headers: HeaderMap, body: Bytes| {
                let (h, s, d) = (h.clone(), s.clone(), d.clone());
                async move {
                    let wait = *d.lock().unwrap();
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    let answered = s.lock().unwrap().pop_front().unwrap_or(200);
                    h.lock().unwrap().push(Hit { headers, body, answered });
                    (axum::http::StatusCode::from_u16(answered).unwrap(), "thanks")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, hits, script, delay }
    }

    pub fn clear_script(&self) {
        self.script.lock().unwrap().clear();
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The kinds of the events answered with a 2xx, in order.
    pub fn taken(&self) -> Vec<String> {
        self.hits().iter().filter(|h| (200..300).contains(&h.answered)).map(Hit::kind).collect()
    }
}

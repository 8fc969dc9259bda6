//! Shared by the template and number tests: a sandbox on a manual clock with two numbers of one
//! WABA, a webhook receiver that keeps every account-level change, and Graph API calls.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use parley_core::{ManualClock, Timestamp};
use parley_sandbox::{Number, NumberPolicy, Sandbox, SandboxConfig, SandboxTemplate};
use reqwest::Method;
use serde_json::{Value, json};

/// One change a webhook carried, with its entry's WABA and `time`.
#[derive(Clone, Debug)]
pub struct Change {
    pub waba: String,
    pub time: Option<i64>,
    pub field: String,
    pub value: Value,
}

pub struct Env {
    pub sandbox: Sandbox,
    pub clock: Arc<ManualClock>,
    changes: Arc<Mutex<Vec<Change>>>,
    http: reqwest::Client,
}

pub const START: i64 = 1_750_000_000;

async fn receiver() -> (String, Arc<Mutex<Vec<Change>>>) {
    let seen: Arc<Mutex<Vec<Change>>> = Arc::default();
    let keep = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let keep = keep.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                for entry in v["entry"].as_array().into_iter().flatten() {
                    for c in entry["changes"].as_array().into_iter().flatten() {
                        if c["field"] == "messages" {
                            continue;
                        }
                        keep.lock().unwrap().push(Change {
                            waba: entry["id"].as_str().unwrap_or_default().to_owned(),
                            time: entry["time"].as_i64(),
                            field: c["field"].as_str().unwrap_or_default().to_owned(),
                            value: c["value"].clone(),
                        });
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Numbers `PN` (token `tok`) and `PN2` (token `tok2`) of WABA `W`, and `PX` (`tokx`) of `WX`.
pub async fn env() -> Env {
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(START)));
    let sandbox = Sandbox::start(SandboxConfig { clock: clock.clone(), ..SandboxConfig::default() }).await.unwrap();
    let (url, changes) = receiver().await;
    for (pnid, waba, display, token) in
        [("PN", "W", "15550001111", "tok"), ("PN2", "W", "15550002222", "tok2"), ("PX", "WX", "15550009999", "tokx")]
    {
        sandbox.add_number(Number {
            phone_number_id: pnid.into(),
            waba_id: waba.into(),
            display_phone_number: display.into(),
            access_token: token.into(),
            app_secret: "sec".into(),
            webhook_url: url.clone(),
        });
        // Fast and quiet: tier tests send hundreds of templates.
        sandbox.set_policy(pnid, NumberPolicy { throughput: 1_000_000, auto_status: false, ..NumberPolicy::default() });
    }
    Env { sandbox, clock, changes, http: reqwest::Client::new() }
}

impl Env {
    /// A Graph call (`path` after the version) with a token; (status, JSON body).
    pub async fn graph(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}/{path}", self.sandbox.graph_base_url())).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.graph(Method::GET, path, "tok", None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.graph(Method::POST, path, "tok", Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.graph(Method::DELETE, path, "tok", None).await
    }

    /// A control API call (`/sandbox/…`); (status, JSON body).
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("http://{}{path}", self.sandbox.addr)).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a template on W; answers its id.
    pub async fn create(&self, name: &str, language: &str, category: &str, body: &str) -> String {
        let (status, answer) = self
            .post(
                "W/message_templates",
                json!({"name": name, "language": language, "category": category,
                    "components": [{"type": "BODY", "text": body}]}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["id"].as_str().unwrap().to_owned()
    }

    /// Creates a template and waits for its APPROVED webhook.
    pub async fn approved(&self, name: &str) -> String {
        let id = self.create(name, "en", "MARKETING", "Hello {{1}}").await;
        self.wait_status(&id, "APPROVED", 1).await;
        id
    }

    pub fn changes(&self, field: &str) -> Vec<Value> {
        self.changes.lock().unwrap().iter().filter(|c| c.field == field).map(|c| c.value.clone()).collect()
    }

    pub fn all_changes(&self) -> Vec<Change> {
        self.changes.lock().unwrap().clone()
    }

    /// Waits until `field` has `n` values matching `pred`; answers them.
    pub async fn wait_for(&self, field: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        for _ in 0..300 {
            let got: Vec<Value> = self.changes(field).into_iter().filter(|v| pred(v)).collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {n} × {field} matching; got {:?}", self.changes(field));
    }

    /// Waits for the `n`-th status update `event` of template `id`; answers the last one.
    pub async fn wait_status(&self, id: &str, event: &str, n: usize) -> Value {
        let id: i64 = id.parse().unwrap();
        let got = self
            .wait_for("message_template_status_update", n, |v| v["message_template_id"] == id && v["event"] == event)
            .await;
        got[n - 1].clone()
    }

    /// Everything emitted so far was delivered.
    pub async fn settle(&self) {
        assert!(self.sandbox.wait_idle(Duration::from_secs(5)).await);
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }

    /// The template's current status, as the Graph API lists it.
    pub async fn status_of(&self, id: &str) -> String {
        let (_, t) = self.get(id).await;
        t["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Puts an approved one-parameter template `hello` on W.
    pub fn hello_template(&self) {
        self.sandbox.add_template(SandboxTemplate {
            waba_id: "W".into(),
            name: "hello".into(),
            language: "en".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hello {{1}}"}]),
        });
    }

    /// Sends template `name` (one body parameter) from `pnid` to `to`; (status, body).
    pub async fn send_template(&self, pnid: &str, token: &str, name: &str, to: &str) -> (u16, Value) {
        let body = json!({"messaging_product": "whatsapp", "to": to, "type": "template",
            "template": {"name": name, "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}]}});
        self.graph(Method::POST, &format!("{pnid}/messages"), token, Some(body)).await
    }

    /// Sends `hello` from `pnid` to recipients `from..to` (distinct numbers, none ending 0001).
    pub async fn reach(&self, pnid: &str, token: &str, range: std::ops::Range<u32>) {
        for i in range {
            let (status, body) = self.send_template(pnid, token, "hello", &recipient(i)).await;
            assert_eq!(status, 200, "{body}");
        }
    }
}

pub fn recipient(i: u32) -> String {
    format!("4477{i:06}9")
}

//! The sandbox plays Meta faithfully: its Graph send endpoint refuses what Meta refuses (window,
//! throughput, pair limit, templates, tokens, opt-outs) and reports statuses by webhook.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use parley_sandbox::{Customer, Number, NumberPolicy, Sandbox, SandboxConfig, SandboxTemplate, Say};
use serde_json::{Value, json};

/// A webhook receiver that keeps every status it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let keep = keep.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                for s in v.pointer("/entry/0/changes/0/value/statuses").and_then(Value::as_array).into_iter().flatten()
                {
                    keep.lock().unwrap().push(s.clone());
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

async fn setup() -> (Sandbox, Arc<Mutex<Vec<Value>>>) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (url, seen) = receiver().await;
    sandbox.add_number(Number {
        phone_number_id: "PN".into(),
        waba_id: "W".into(),
        display_phone_number: "15550001111".into(),
        access_token: "tok".into(),
        app_secret: "sec".into(),
        webhook_url: url,
    });
    sandbox.set_policy("PN", NumberPolicy { status_delay: Duration::from_millis(5), ..NumberPolicy::default() });
    (sandbox, seen)
}

async fn send(sandbox: &Sandbox, token: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/PN/messages", sandbox.graph_base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn text(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}})
}

async fn statuses_of(seen: &Arc<Mutex<Vec<Value>>>, id: &str, want: usize) -> Vec<Value> {
    for _ in 0..200 {
        let got: Vec<Value> = seen.lock().unwrap().iter().filter(|s| s["id"] == id).cloned().collect();
        if got.len() >= want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen.lock().unwrap().iter().filter(|s| s["id"] == id).cloned().collect()
}

#[tokio::test]
async fn inside_the_window_a_send_is_sent_delivered_and_read_with_pricing() {
    let (sandbox, seen) = setup().await;
    sandbox.say("PN", &Customer::new("33612345678", "Ana"), Say::text("hello"));
    let (status, body) = send(&sandbox, "tok", text("33612345678")).await;
    assert_eq!(status, 200, "{body}");
    let id = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let got = statuses_of(&seen, &id, 3).await;
    let names: Vec<&str> = got.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    assert_eq!(got[0]["pricing"]["category"], "service");
    assert!(got[2].get("pricing").is_none(), "pricing on sent and one of delivered/read");
}

#[tokio::test]
async fn outside_the_window_meta_fails_it_later_with_131047() {
    let (sandbox, seen) = setup().await;
    let (status, body) = send(&sandbox, "tok", text("33612345678")).await;
    assert_eq!(status, 200, "accepted first, like Meta");
    let id = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let got = statuses_of(&seen, &id, 1).await;
    assert_eq!((got[0]["status"].as_str(), got[0]["errors"][0]["code"].as_i64()), (Some("failed"), Some(131047)));
}

#[tokio::test]
async fn tokens_throughput_and_pair_limits() {
    let (sandbox, _) = setup().await;
    assert_eq!(send(&sandbox, "wrong", text("1")).await.1["error"]["code"], 190);
    sandbox
        .set_policy("PN", NumberPolicy { throughput: 3, pair_burst: 2, auto_status: false, ..NumberPolicy::default() });
    let codes: Vec<i64> = {
        let mut out = Vec::new();
        for to in ["336000001", "336000001", "336000001", "336000002"] {
            out.push(send(&sandbox, "tok", text(to)).await.1["error"]["code"].as_i64().unwrap_or(0));
        }
        out
    };
    assert_eq!(
        codes,
        [0, 0, 131056, 130429],
        "pair limit on the 3rd to one user, throughput on the 4th call in a second"
    );
}

#[tokio::test]
async fn templates_are_checked_like_meta() {
    let (sandbox, seen) = setup().await;
    sandbox.add_template(SandboxTemplate {
        waba_id: "W".into(),
        name: "promo".into(),
        language: "en".into(),
        category: "MARKETING".into(),
        status: "APPROVED".into(),
        components: json!([{"type": "BODY", "text": "Hi {{1}}"}]),
    });
    let template = |name: &str, params: usize| {
        let p: Vec<Value> = (0..params).map(|_| json!({"type": "text", "text": "x"})).collect();
        json!({"messaging_product": "whatsapp", "to": "33612345678", "type": "template",
            "template": {"name": name, "language": {"code": "en"}, "components": [{"type": "body", "parameters": p}]}})
    };
    assert_eq!(send(&sandbox, "tok", template("nope", 1)).await.1["error"]["code"], 132001);
    assert_eq!(send(&sandbox, "tok", template("promo", 2)).await.1["error"]["code"], 132000);
    let (status, body) = send(&sandbox, "tok", template("promo", 1)).await;
    assert_eq!(status, 200, "templates go out without a window");
    let id = body["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(statuses_of(&seen, &id, 1).await[0]["pricing"]["category"], "marketing");
    sandbox.stop_marketing("PN", "33612345678");
    let (_, body) = send(&sandbox, "tok", template("promo", 1)).await;
    let id = body["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(statuses_of(&seen, &id, 1).await[0]["errors"][0]["code"], 131050);
}

#[tokio::test]
async fn malformed_sends_are_refused() {
    let (sandbox, _) = setup().await;
    for (body, code) in [
        (json!({"to": "1", "type": "text", "text": {"body": "x"}}), 131008),
        (json!({"messaging_product": "whatsapp", "to": "abc", "type": "text", "text": {"body": "x"}}), 131009),
        (json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "x".repeat(4097)}}), 100),
        (json!({"messaging_product": "whatsapp", "to": "1", "type": "image", "image": {}}), 131008),
        (json!({"messaging_product": "whatsapp", "to": "1", "type": "hologram", "hologram": {}}), 131051),
    ] {
        assert_eq!(send(&sandbox, "tok", body.clone()).await.1["error"]["code"], code, "{body}");
    }
}

//! The Cloud-API-compatible endpoint, driven by a real third-party client: a pywa bot
//! (`tests/pywa/bot.py`, PyPI's pywa unchanged) whose transport points at Parley. A customer
//! writes; Parley forwards the message to the bot in Meta's shape, signed with the app's secret,
//! after Meta's verification handshake; the bot answers through `/graph/…`, the reply and a
//! template reach the sandbox, and the statuses come back to the bot under the ids the endpoint
//! answered. Then Meta-shaped errors, read receipts with the typing indicator, media and
//! template listing, with plain HTTP as any other client would send it.
//!
//! The bot needs Python with pywa: `PARLEY_PYWA_PYTHON` names the interpreter (`.ci/run` makes a
//! virtual environment from `tests/pywa/requirements.txt`). Without it the test is skipped on a
//! developer's machine and fails in CI.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_sandbox::{Batching, Customer, SandboxTemplate, Say};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Wired, eventually};

const ANA: &str = "33612345678";
const APP_SECRET: &str = "pywa-app-secret";
const VERIFY_TOKEN: &str = "pywa-verify";

fn python() -> Option<String> {
    match std::env::var("PARLEY_PYWA_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if parley_store::testing::running_in_ci() => panic!("CI=true but PARLEY_PYWA_PYTHON is not set"),
        _ => None,
    }
}

/// The bot process and the lines it printed.
struct Bot {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
}

impl Bot {
    fn start(python: &str, app: &TestApp, phone_id: &str) -> Bot {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pywa/bot.py");
        let mut child = Command::new(python)
            .arg(script)
            .env("PARLEY_URL", format!("http://{}", app.addr))
            .env("PHONE_ID", phone_id)
            .env("TOKEN", &app.token)
            .env("VERIFY_TOKEN", VERIFY_TOKEN)
            .env("APP_SECRET", APP_SECRET)
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the pywa bot starts");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let (out, seen) = (child.stdout.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                seen.lock().unwrap().push(line);
            }
        });
        Bot { child, lines, port }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The second word of the first line starting with `tag`.
    fn id_after(&self, tag: &str) -> Option<String> {
        self.lines().iter().find_map(|l| l.strip_prefix(tag).map(|rest| rest.trim().to_owned()))
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ana as a 2026 webhook names her: WhatsApp id and BSUID.
fn ana() -> Customer {
    Customer::new(ANA, "Ana").with_bsuid("FR.4823956102934")
}

async fn customer_writes(wired: &Wired, text: &str) {
    let item = wired.sandbox.message(&wired.number.phone_number_id, &ana(), &Say::text(text));
    wired.sandbox.deliver(vec![item], Batching::default());
    assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
}

async fn graph(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(&format!("/graph/v21.0/{path}"))).bearer_auth(&app.token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_pywa_bot_works_through_parley_unchanged() {
    let Some(python) = python() else { return };
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        wired.sandbox.add_template(SandboxTemplate {
            waba_id: wired.number.waba_id.clone(),
            name: "order_update".into(),
            language: "en".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hello {{1}}, your order {{2}} shipped."}]),
        });
        let sync = app.post(&format!("/api/v1/channels/{}/templates/sync", wired.channel["id"]), json!({})).await;
        assert_eq!(sync.status, StatusCode::OK, "{e}: {:?}", sync.body);
        let bot = Bot::start(&python, &app, &pnid);
        let callback = format!("http://127.0.0.1:{}/webhook", bot.port);
        let up = eventually(30, || async { reqwest::get(&callback).await.is_ok() }).await;
        assert!(up, "{e}: the bot's server did not start: {:?}", bot.lines());

        // A wrong verify token fails Meta's handshake: nothing is stored.
        let wrong = json!({"url": callback, "format": "meta", "verify_token": "nope", "app_secret": APP_SECRET});
        let r = app.post("/api/v1/webhook-subscriptions", wrong).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "verification_failed"),
            "{e}: {:?}",
            r.body
        );
        let hook = json!({"url": callback, "format": "meta", "verify_token": VERIFY_TOKEN, "app_secret": APP_SECRET});
        let r = app.post("/api/v1/webhook-subscriptions", hook).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {:?}", r.body);
        assert!(r.body.get("secret").is_none(), "{e}: the app's own secret signs");
        assert_eq!(r.body["subscription"]["kinds"], json!(["message.received", "message.sent", "message.status"]));

        // The customer writes; the bot gets it from Parley and answers through Parley.
        customer_writes(&wired, "hello").await;
        let replied = eventually(30, || async {
            wired.sandbox.sent().iter().any(|s| s.to == ANA && s.body["text"]["body"] == "echo: hello")
        })
        .await;
        assert!(replied, "{e}: no echo reached the sandbox; the bot said {:?}", bot.lines());
        let sent_id = bot.id_after("SENT ").expect("the bot printed the id of its reply");
        assert!(sent_id.starts_with("wamid.parley."), "{e}: {sent_id}");
        // The reply shows in the inbox like any other.
        let thread = app.all_messages().await;
        assert!(thread.iter().any(|m| m["text"] == "echo: hello" && m["direction"] == "out"), "{e}: {thread:?}");
        // Its statuses come back to the bot under the id the endpoint answered.
        let read = eventually(30, || async { bot.lines().contains(&format!("STATUS {sent_id} read")) }).await;
        assert!(read, "{e}: statuses for {sent_id}: {:?}", bot.lines());
        assert!(bot.lines().contains(&format!("STATUS {sent_id} delivered")), "{e}: {:?}", bot.lines());
        // pywa's typing indicator became a read receipt with the indicator at the provider.
        assert!(wired.sandbox.reads().iter().any(|(_, typing)| *typing), "{e}: {:?}", wired.sandbox.reads());

        // A template, sent by pywa's own template call.
        customer_writes(&wired, "template please").await;
        let templated = eventually(30, || async {
            wired.sandbox.sent().iter().any(|s| s.body["template"]["name"] == "order_update")
        })
        .await;
        assert!(templated, "{e}: no template reached the sandbox; the bot said {:?}", bot.lines());
        let template_id = bot.id_after("TEMPLATE ").expect("the bot printed the template's id");
        let delivered =
            eventually(30, || async { bot.lines().contains(&format!("STATUS {template_id} delivered")) }).await;
        assert!(delivered, "{e}: {:?}", bot.lines());
    }
}

#[tokio::test]
async fn the_graph_endpoint_answers_and_refuses_in_metas_shapes() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        let post = reqwest::Method::POST;

        // Nobody wrote yet: a free text is refused as Meta would (re-engagement), nothing queued.
        let text = json!({"messaging_product": "whatsapp", "to": ANA, "type": "text", "text": {"body": "hi"}});
        let (status, body) = graph(&app, post.clone(), &format!("{pnid}/messages"), Some(text.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}: {body}");
        assert_eq!(body["error"]["code"], 131047, "{e}: {body}");
        assert_eq!(body["error"]["type"], "OAuthException");
        assert!(body["error"]["error_data"]["details"].as_str().unwrap().contains("window_closed"), "{e}: {body}");
        assert!(body["error"]["fbtrace_id"].is_string());
        assert!(wired.sandbox.sent().is_empty());

        // Once the customer wrote: Meta's answer shape, the message in the inbox.
        customer_writes(&wired, "hello").await;
        let (status, body) = graph(&app, post.clone(), &format!("{pnid}/messages"), Some(text)).await;
        assert_eq!(status, StatusCode::OK, "{e}: {body}");
        assert_eq!(body["messaging_product"], "whatsapp");
        assert_eq!(body["contacts"][0]["wa_id"], ANA);
        let id = body["messages"][0]["id"].as_str().unwrap().to_owned();
        let n: i64 = id.strip_prefix("wamid.parley.").unwrap().parse().unwrap();
        assert_eq!(app.get(&format!("/api/v1/messages/{n}")).await.body["text"], "hi");

        // Read receipts with the typing indicator.
        let inbound = app.all_messages().await.iter().find(|m| m["direction"] == "in").unwrap()["provider_message_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": inbound,
            "typing_indicator": {"type": "text"}});
        let (status, body) = graph(&app, post.clone(), &format!("{pnid}/messages"), Some(read)).await;
        assert_eq!((status, &body), (StatusCode::OK, &json!({"success": true})), "{e}");
        assert_eq!(wired.sandbox.reads(), [(inbound, true)]);

        // Bad input: Meta-shaped errors, nothing sent.
        let cases = [
            (format!("{pnid}/messages"), json!({"to": ANA, "type": "text", "text": {"body": "x"}}), 100),
            (
                format!("{pnid}/messages"),
                json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
                100,
            ),
            (
                "999/messages".to_owned(),
                json!({"messaging_product": "whatsapp", "to": ANA, "type": "text", "text": {"body": "x"}}),
                100,
            ),
            (
                format!("{pnid}/messages"),
                json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"}),
                100,
            ),
        ];
        let before = wired.sandbox.sent().len();
        for (path, body, code) in cases {
            let (status, answer) = graph(&app, post.clone(), &path, Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{e}: {path} {body} → {answer}");
            assert_eq!(answer["error"]["code"], code, "{e}: {answer}");
        }
        let (status, answer) = graph(&app, post.clone(), "v21.0x/messages", Some(json!({}))).await;
        assert!(status.is_client_error(), "{e}: {answer}");
        let r = app
            .client
            .post(app.url(&format!("/graph/v21.0/{pnid}/messages")))
            .bearer_auth("pk_0000000000000000000000000000000000000000000000000000000000000000")
            .json(&json!({"messaging_product": "whatsapp"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 190);
        assert_eq!(wired.sandbox.sent().len(), before, "{e}: nothing more was sent");

        // Media: uploaded as multipart like Meta's, then described and downloaded.
        let form =
            reqwest::multipart::Form::new().text("messaging_product", "whatsapp").text("type", "application/pdf").part(
                "file",
                reqwest::multipart::Part::bytes(b"%PDF-1.4 parley".to_vec())
                    .file_name("a.pdf")
                    .mime_str("application/pdf")
                    .unwrap(),
            );
        let r = app
            .client
            .post(app.url(&format!("/graph/v21.0/{pnid}/media")))
            .bearer_auth(&app.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let media = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let (status, info) = graph(&app, reqwest::Method::GET, &media, None).await;
        assert_eq!(status, StatusCode::OK, "{e}: {info}");
        assert_eq!((info["mime_type"].as_str(), info["file_size"].as_i64()), (Some("application/pdf"), Some(15)));
        let file = app.client.get(info["url"].as_str().unwrap()).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.4 parley");

        // A customer's file, as Meta describes it, once Parley has fetched it.
        let photo = wired.sandbox.add_media(b"\x89PNG from the customer".to_vec(), "image/png");
        let item = wired.sandbox.message(&pnid, &ana(), &Say::media("image", &photo, "image/png"));
        wired.sandbox.deliver(vec![item], Batching::default());
        assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
        let fetched =
            eventually(20, || async { graph(&app, reqwest::Method::GET, &photo, None).await.0 == StatusCode::OK })
                .await;
        assert!(fetched, "{e}: the customer's file is not described");
        let (_, info) = graph(&app, reqwest::Method::GET, &photo, None).await;
        assert_eq!(info["mime_type"], "image/png", "{e}: {info}");
        let file = app.client.get(info["url"].as_str().unwrap()).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"\x89PNG from the customer");
        let (status, _) = graph(&app, reqwest::Method::GET, "no-such-media", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}: unknown media is Meta's object-not-found");

        // Templates, as Meta lists them.
        let (status, list) = graph(&app, reqwest::Method::GET, "WABA-1/message_templates", None).await;
        assert_eq!(status, StatusCode::OK, "{e}: {list}");
        assert!(list["data"].is_array() && list["paging"].is_object());
        let (status, _) = graph(&app, reqwest::Method::GET, "OTHER-WABA/message_templates", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

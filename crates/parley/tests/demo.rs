//! `parley demo` as a newcomer runs it: the real binary on a fresh data directory. Its sign-in link
//! lands in the inbox logged in (and nothing else signs in), and the inbox fills with what the
//! team-inbox issue promises: several customers (through Meta's, Twilio's and MessageBird's
//! numbers), a conversation outside the 24-hour window, a failed reply with WhatsApp's reason, a
//! merge suggestion, and a bot answering through the sandbox's Dialogflow agent.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, free_port};
use serde_json::Value;

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value after `label` on the first stdout line that has it.
fn printed(lines: &[String], label: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_demo_opens_a_lively_inbox_through_its_sign_in_link() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .arg("demo")
        .env("PARLEY_LOG", "warn")
        .env("PARLEY_NO_BROWSER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _demo = Demo(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("Press Ctrl-C")) {
        lines.push(rx.recv_timeout(Duration::from_secs(120)).expect("the demo prints how to use it"));
    }
    let open = printed(&lines, "open:").expect("a sign-in link");
    let token = printed(&lines, "API token:").expect("an API token");
    let base = format!("http://127.0.0.1:{port}");
    assert!(open.starts_with(&format!("{base}/demo/sign-in/")), "{open}");

    // The link logs in and lands in the inbox; a made-up one does not.
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let forged = browser.get(format!("{base}/demo/sign-in/ps_forged")).send().await.unwrap();
    assert_eq!(forged.status(), 404);
    let anonymous = browser.get(format!("{base}/inbox")).send().await.unwrap();
    assert!(anonymous.status().is_redirection(), "not logged in yet: {}", anonymous.status());
    let landed = browser.get(&open).send().await.unwrap();
    assert_eq!(landed.headers()[reqwest::header::LOCATION], "/inbox");
    let reused = browser.get(&open).send().await.unwrap();
    assert_eq!(reused.status(), 404, "the link works once");
    let session: Vec<String> = landed
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .filter(|c| !c.ends_with('='))
        .collect();
    let inbox =
        browser.get(format!("{base}/inbox")).header(reqwest::header::COOKIE, session.join("; ")).send().await.unwrap();
    assert_eq!(inbox.status(), 200, "the link's session opens the inbox");
    assert!(inbox.text().await.unwrap().contains("/assets/app.js"), "the inbox page itself");

    // The inbox fills up within seconds.
    let api = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut missing = Vec::new();
    while Instant::now() < deadline {
        missing.clear();
        let list = get_json(&api, &format!("{base}/api/v1/conversations?limit=100"), &token).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.len() < 8 {
            missing.push(format!("eight customers (have {})", items.len()));
        }
        // Some wrote through the Twilio and MessageBird numbers, beside the Meta one.
        let channels = get_json(&api, &format!("{base}/api/v1/channels"), &token).await;
        for provider in ["twilio", "messagebird"] {
            let id = channels
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["provider"] == provider))
                .map(|c| c["id"].clone());
            if id.is_none_or(|id| !items.iter().any(|c| c["channel_id"] == id)) {
                missing.push(format!("a conversation on the {provider} number: {channels}"));
            }
        }
        let day_ago =
            (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 24 * 3600) as i64;
        let outside =
            items.iter().any(|c| c["last_inbound_at"].as_str().and_then(rfc3339_secs).is_some_and(|at| at < day_ago));
        if !outside {
            missing.push("a conversation outside the window".into());
        }
        let mut failed = false;
        let mut bot_answered = false;
        let mut media: Vec<(String, String)> = Vec::new();
        for c in &items {
            let thread = get_json(&api, &format!("{base}/api/v1/conversations/{}/messages", c["id"]), &token).await;
            let messages = thread["items"].as_array().cloned().unwrap_or_default();
            failed |= messages.iter().any(|m| m["status"] == "failed" && m["error"]["code"].as_i64() == Some(131026));
            // The bot (not the owner, who has id 1) answered in Vietnamese through Dialogflow.
            bot_answered |= messages.iter().any(|m| {
                m["direction"] == "out"
                    && m["author_id"].as_i64().is_some_and(|a| a > 1)
                    && m["text"].as_str().is_some_and(|t| t.contains("mở cửa"))
            });
            for m in messages.iter().filter(|m| m["media"]["state"] == "available") {
                media.push((
                    m["type"].as_str().unwrap_or_default().to_owned(),
                    m["media"]["url"].as_str().unwrap().to_owned(),
                ));
            }
        }
        if !failed {
            missing.push("a failed reply with its reason".into());
        }
        if !bot_answered {
            missing.push("the bot's answer to the Vietnamese customer".into());
        }
        // Real-looking files, not a pixel: a photo, a voice note and a document, downloaded.
        for (kind, at_least) in [("image", 10_000), ("audio", 30_000), ("document", 400)] {
            let mut real = false;
            for (_, url) in media.iter().filter(|(k, _)| k == kind) {
                let file = api.get(format!("{base}{url}")).bearer_auth(&token).send().await.unwrap();
                real |= file.status() == 200 && file.bytes().await.unwrap().len() >= at_least;
            }
            if !real {
                missing.push(format!("a real {kind} of {at_least} bytes or more"));
            }
        }
        let suggestions = get_json(&api, &format!("{base}/api/v1/contacts/merge-suggestions"), &token).await;
        if suggestions["items"].as_array().is_none_or(Vec::is_empty) {
            missing.push("a merge suggestion".into());
        }
        // Fees: the sample card (marked so) and an account whose sends are charged.
        let card = get_json(&api, &format!("{base}/api/v1/fees/rates"), &token).await;
        if card["sample"] != true {
            missing.push(format!("the sample rate card: {card}"));
        }
        let accounts = get_json(&api, &format!("{base}/api/v1/fees/accounts"), &token).await;
        if accounts[0]["balance"].as_str().is_none() {
            missing.push(format!("a fee account: {accounts}"));
        }
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the demo inbox lacks: {missing:?}");
}

/// Seconds since the epoch of an RFC 3339 time as the API writes it.
fn rfc3339_secs(t: &str) -> Option<i64> {
    parley_core::Timestamp::parse_rfc3339(t).map(|ts| ts.as_secs())
}

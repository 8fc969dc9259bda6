//! The outbound crash test: messages are queued and the dispatcher is sending when the real
//! `parley serve` process is killed with SIGKILL, several times. The sandbox counts the calls
//! per Parley message: no message may reach it twice, and every message must end `sent` (or
//! `unknown`, when the kill came between the call and its answer: never resent by itself).
//! SQLite always; PostgreSQL too when `PARLEY_TEST_DATABASE_URL` is set.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{PgSchema, connect_number, env_number, serve};
use parley_sandbox::{Batching, Customer, NumberPolicy, Sandbox, SandboxConfig, Say};
use sqlx::Connection;

async fn dispatch_story(db_args: Vec<String>, statuses: impl AsyncFn() -> Vec<(i64, String)>) {
    let messages = env_number("PARLEY_DISPATCH_CRASH_MESSAGES", 400);
    let kills = env_number("PARLEY_DISPATCH_CRASH_KILLS", 3);
    let (mut server, base, token) = serve(&db_args, &["--send-timeout", "2"]);
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    connect_number(&base, &token, &sandbox).await;
    // No status webhooks: this test is about sends. A provider answering in 300 ms, so sends
    // are in flight when the process is killed; a slower channel.
    sandbox.set_policy(
        "PN-CRASH",
        NumberPolicy {
            throughput: 100_000,
            auto_status: false,
            send_latency: Duration::from_millis(300),
            ..NumberPolicy::default()
        },
    );
    let client = reqwest::Client::new();
    let channel: serde_json::Value =
        client.get(format!("{base}/api/v1/channels")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let channel_id = channel[0]["id"].as_i64().unwrap();
    client
        .patch(format!("{base}/api/v1/channels/{channel_id}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"throughput": 80}))
        .send()
        .await
        .unwrap();

    // Customers write, so their windows are open.
    let customers: Vec<Customer> =
        (0..messages).map(|i| Customer::new(&format!("3362{:07}", i * 10 + 5), "C")).collect();
    let items = customers.iter().map(|c| sandbox.message("PN-CRASH", c, &Say::text("hi"))).collect();
    sandbox.deliver(items, Batching { per_post: 200, ..Batching::default() });
    assert!(sandbox.wait_idle(Duration::from_secs(120)).await);

    // Queue one reply each; the dispatcher starts at once.
    for c in &customers {
        let body = serde_json::json!({"channel_id": channel_id, "to": format!("phone:+{}", c.wa_id.as_ref().unwrap()),
            "type": "text", "text": {"body": "your reply"}});
        let r = client.post(format!("{base}/api/v1/messages")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
    }
    // Kill when a share of the messages has reached the provider, so every kill lands while
    // the dispatcher is busy sending, whatever the speed of the machine and the engine.
    for k in 1..=kills {
        let target = messages * k / (kills + 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        while sandbox.sent().len() < target {
            assert!(Instant::now() < deadline, "the dispatcher does not progress: {} sent", sandbox.sent().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill();
        server.spawn();
    }
    // Leases of jobs cut off mid-send expire (send timeout + 10 s) and become unknown.
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let all = statuses().await;
        if all.len() == messages && all.iter().all(|(_, s)| !matches!(s.as_str(), "queued" | "sending")) {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "messages still waiting: {:?}",
            all.iter().filter(|(_, s)| s == "queued" || s == "sending").count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.kill();

    let mut calls: HashMap<String, usize> = HashMap::new();
    for s in sandbox.sent() {
        *calls.entry(s.body["biz_opaque_callback_data"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    let twice: Vec<_> = calls.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for (id, status) in &finished {
        *by_status.entry(status.as_str()).or_default() += 1;
        if status == "sent" {
            assert_eq!(
                calls.get(&format!("parley:{id}")),
                Some(&1),
                "message {id} is sent but the provider never got it"
            );
        }
    }
    eprintln!(
        "dispatch crash test: {messages} messages, {kills} kills: {by_status:?}, {} provider calls",
        sandbox.sent().len()
    );
    assert_eq!(
        by_status.get("sent").copied().unwrap_or(0) + by_status.get("unknown").copied().unwrap_or(0),
        messages,
        "{by_status:?}"
    );
    if kills > 0 {
        // Proof that the kills came mid-send (else this test would prove little).
        assert!(by_status.get("unknown").copied().unwrap_or(0) > 0, "no send was cut off: {by_status:?}");
    }
}

const OUT: &str = "SELECT id, status FROM messages WHERE direction = 'out' ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_dispatch_sends_nothing_twice_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parley.db");
    let args = vec!["--data-dir".to_owned(), dir.path().to_str().unwrap().to_owned()];
    dispatch_story(args, async || {
        let Ok(mut conn) = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await else {
            return vec![];
        };
        sqlx::query_as(OUT).fetch_all(&mut conn).await.unwrap_or_default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_dispatch_sends_nothing_twice_postgres() {
    let Some(pg) = PgSchema::create("dispatch").await else { return };
    let url = pg.url.clone();
    dispatch_story(pg.args.clone(), async || {
        let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else { return vec![] };
        sqlx::query_as(OUT).fetch_all(&mut conn).await.unwrap_or_default()
    })
    .await;
    pg.drop().await;
}

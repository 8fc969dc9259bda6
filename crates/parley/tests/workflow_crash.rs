//! The workflow crash test: customers write, each starts a run (send a welcome, wait, send a
//! follow-up), and the real `parley serve` process is killed with SIGKILL several times while
//! runs are sending and waiting. After restarts every run must end `done` — its wait survived
//! the kills — and no customer may get either message twice: a send step cut off between
//! queuing and its record is taken again with the same idempotency key and replayed, never
//! queued anew. SQLite always; PostgreSQL too when `PARLEY_TEST_DATABASE_URL` is set.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{PgSchema, connect_number, env_number, serve};
use parley_sandbox::{Batching, Customer, NumberPolicy, Sandbox, SandboxConfig, Say};
use sqlx::Connection;

const RUNS: &str = "SELECT id, status FROM workflow_runs ORDER BY id";
const QUEUED_TWICE: &str = "SELECT conversation_id, text FROM messages WHERE direction = 'out'
    GROUP BY conversation_id, text HAVING COUNT(*) > 1";

async fn workflow_story(
    db_args: Vec<String>,
    runs: impl AsyncFn() -> Vec<(i64, String)>,
    queued_twice: impl AsyncFn() -> Vec<(i64, Option<String>)>,
) {
    let customers = env_number("PARLEY_WORKFLOW_CRASH_CUSTOMERS", 60);
    let kills = env_number("PARLEY_WORKFLOW_CRASH_KILLS", 3);
    let (mut server, base, token) = serve(&db_args, &["--send-timeout", "2"]);
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    connect_number(&base, &token, &sandbox).await;
    let policy = NumberPolicy {
        throughput: 100_000,
        auto_status: false,
        send_latency: Duration::from_millis(100),
        ..NumberPolicy::default()
    };
    sandbox.set_policy("PN-CRASH", policy);
    let client = reqwest::Client::new();
    let definition = serde_json::json!({"trigger": {"kind": "message_received"}, "steps": [
        {"id": "hello", "kind": "send_message", "text": "Welcome! Write to support@example.com any time.", "next": "wait"},
        {"id": "wait", "kind": "wait", "seconds": 2, "next": "again"},
        {"id": "again", "kind": "send_message", "text": "Still there?"}]});
    let made: serde_json::Value = client
        .post(format!("{base}/api/v1/workflows"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Welcome", "definition": definition}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_i64().expect("a workflow");
    let publish =
        client.post(format!("{base}/api/v1/workflows/{id}/publish")).bearer_auth(&token).json(&serde_json::json!({}));
    assert_eq!(publish.send().await.unwrap().status(), 200);
    let on = client
        .patch(format!("{base}/api/v1/workflows/{id}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"active": true}));
    assert_eq!(on.send().await.unwrap().status(), 200);

    let people: Vec<Customer> = (0..customers).map(|i| Customer::new(&format!("3363{:07}", i * 10 + 7), "C")).collect();
    let items = people.iter().map(|c| sandbox.message("PN-CRASH", c, &Say::text("hi"))).collect();
    sandbox.deliver(items, Batching { per_post: 20, ..Batching::default() });

    // Kill when a share of the messages has reached the provider, with runs still going.
    let total = customers * 2;
    let mut cut_runs = 0;
    for k in 1..=kills {
        let target = total * k / (kills + 1);
        let deadline = Instant::now() + Duration::from_secs(120);
        while sandbox.sent().len() < target {
            assert!(Instant::now() < deadline, "the runs do not progress: {} sent", sandbox.sent().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cut_runs += runs().await.iter().filter(|(_, s)| s == "running").count();
        server.kill();
        server.spawn();
    }
    assert!(sandbox.wait_idle(Duration::from_secs(120)).await, "webhooks delivered");
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let all = runs().await;
        if all.len() == customers && all.iter().all(|(_, s)| s != "running") {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "runs not finished: {} of {customers} started, {} running",
            all.len(),
            all.iter().filter(|(_, s)| s == "running").count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The dispatcher ends its last sends (those cut off become `unknown`, never resent).
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill();

    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for (_, status) in &finished {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    assert_eq!(by_status.get("done").copied(), Some(customers), "{by_status:?}");
    let twice = queued_twice().await;
    assert!(twice.is_empty(), "queued twice: {twice:?}");
    let mut calls: HashMap<(String, String), usize> = HashMap::new();
    for s in sandbox.sent() {
        let text = s.body["text"]["body"].as_str().unwrap_or_default().to_owned();
        *calls.entry((s.to.clone(), text)).or_default() += 1;
    }
    let repeated: Vec<_> = calls.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "a customer got a message twice: {repeated:?}");
    eprintln!(
        "workflow crash test: {customers} runs, {kills} kills ({cut_runs} runs going at the kills), {} provider calls",
        sandbox.sent().len()
    );
    if kills > 0 {
        // Proof that the kills came while runs were going (else this test would prove little).
        assert!(cut_runs > 0, "no run was going at any kill");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_workflow_runs_sends_nothing_twice_and_waits_survive_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parley.db");
    let url = format!("sqlite://{}", db.display());
    let args = vec!["--data-dir".to_owned(), dir.path().to_str().unwrap().to_owned()];
    let (a, b) = (url.clone(), url);
    workflow_story(
        args,
        async || {
            let Ok(mut conn) = sqlx::SqliteConnection::connect(&a).await else { return vec![] };
            sqlx::query_as(RUNS).fetch_all(&mut conn).await.unwrap_or_default()
        },
        async || {
            let mut conn = sqlx::SqliteConnection::connect(&b).await.unwrap();
            sqlx::query_as(QUEUED_TWICE).fetch_all(&mut conn).await.unwrap()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_workflow_runs_sends_nothing_twice_and_waits_survive_postgres() {
    let Some(pg) = PgSchema::create("workflow").await else { return };
    let (a, b) = (pg.url.clone(), pg.url.clone());
    workflow_story(
        pg.args.clone(),
        async || {
            let Ok(mut conn) = sqlx::PgConnection::connect(&a).await else { return vec![] };
            sqlx::query_as(RUNS).fetch_all(&mut conn).await.unwrap_or_default()
        },
        async || {
            let mut conn = sqlx::PgConnection::connect(&b).await.unwrap();
            sqlx::query_as(QUEUED_TWICE).fetch_all(&mut conn).await.unwrap()
        },
    )
    .await;
    pg.drop().await;
}

//! The crash test of the inbound issue: the sandbox delivers many webhook events (with retries)
//! while the real `parley serve` process is killed with SIGKILL and restarted, several times.
//! Afterwards (and after one more start, which applies what the last kill left journaled) every
//! event the server acknowledged with 200 must be in the store exactly once, and (since the
//! sandbox retries until acknowledged) every event must be there.
//!
//! Short by default so CI runs it; the full run of the issue is
//! `PARLEY_CRASH_EVENTS=50000 PARLEY_CRASH_KILLS=8 cargo test --release -p parley --test crash -- --nocapture`
//! (see `bench/crash.sh`). Runs on SQLite, and on PostgreSQL when `PARLEY_TEST_DATABASE_URL` is set.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{PgSchema, Server, bootstrap, connect_number, env_number, free_port};
use parley_sandbox::{Batching, Customer, Sandbox, SandboxConfig, Say};
use sqlx::Connection;

/// Runs the whole story against one database; returns nothing, asserts everything.
async fn crash_story(db_args: Vec<String>, read_ids: impl AsyncFnOnce() -> Vec<String>, bootstrap_args: Vec<String>) {
    let events = env_number("PARLEY_CRASH_EVENTS", 2_000);
    let kills = env_number("PARLEY_CRASH_KILLS", 3);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let token = bootstrap(&bootstrap_args);

    let mut args = db_args.clone();
    args.extend(["--listen".to_owned(), format!("127.0.0.1:{port}")]);
    let mut server = Server::start(args);
    let sandbox = Sandbox::start(SandboxConfig {
        emitter: parley_sandbox::EmitterConfig {
            retry_base: Duration::from_millis(50),
            max_retry_delay: Duration::from_millis(500),
            // More than `journal::EARLY_ANSWER_FROM` at once: some webhooks are answered once
            // journaled, others once applied, and kills land in both.
            concurrency: 16,
            timeout: Duration::from_secs(5),
            ..Default::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    connect_number(&base, &token, &sandbox).await;

    let items: Vec<_> = (0..events)
        .map(|i| {
            let customer = Customer::new(&format!("336{:08}", i % 500), "C");
            sandbox.message("PN-CRASH", &customer, &Say::text(&format!("event {i}")))
        })
        .collect();
    let sent_ids: HashSet<String> = items
        .iter()
        .map(|item| match item {
            parley_sandbox::Item::Message { message, .. } => message["id"].as_str().unwrap().to_owned(),
            _ => unreachable!(),
        })
        .collect();
    // Batches of 50, some duplicated, as Meta does.
    let (first, second) = items.split_at(events / 2);
    sandbox.deliver(first.to_vec(), Batching { per_post: 50, ..Batching::default() });
    sandbox.deliver(second.to_vec(), Batching { per_post: 50, duplicate: true, ..Batching::default() });

    let started = Instant::now();
    let mut acked_at_restart = 0;
    for k in 0..kills {
        // Each kill lands mid-delivery: this server has acknowledged posts since it started,
        // more are queued, and posts are on the wire when it dies.
        let wanted = acked_at_restart + 1 + (k as u64 * 7) % 5;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let acked = sandbox.stats().acked;
            if acked >= wanted && sandbox.webhooks_in_flight() > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "kill {k}: delivery did not progress ({acked} acked)");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (in_flight, pending) = (sandbox.webhooks_in_flight(), sandbox.pending_webhooks());
        server.kill();
        let acked = sandbox.stats().acked;
        assert!(
            in_flight > 0 && pending > in_flight,
            "kill {k} did not land mid-delivery: {in_flight} in flight, {pending} pending"
        );
        assert!(acked > acked_at_restart, "kill {k}: nothing was acknowledged since the restart");
        eprintln!("kill {k}: {acked} posts acknowledged, {in_flight} in flight, {pending} pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.spawn();
        acked_at_restart = sandbox.stats().acked;
    }
    assert!(sandbox.wait_idle(Duration::from_secs(600)).await, "deliveries still pending after the kills");
    // Webhooks answered once journaled may not be applied yet: killed here, they are applied by
    // the next start, before it serves its first request.
    server.kill();
    server.spawn();
    let ready = reqwest::get(format!("{base}/healthz")).await.expect("the last start serves");
    assert!(ready.status().is_success(), "the last start serves: {}", ready.status());
    server.kill();
    let stats = sandbox.stats();
    eprintln!(
        "crash test: {events} events, {kills} kills, {} posts, {} acked, {} refused/errors, {:.1}s",
        stats.posts,
        stats.acked,
        stats.refused + stats.errors,
        started.elapsed().as_secs_f64()
    );

    let stored = read_ids().await;
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(stored.len(), unique.len(), "a message is stored twice");
    let stored: HashSet<String> = stored.into_iter().collect();
    let acked_missing: Vec<&String> = stats.acked_items.iter().filter(|id| !stored.contains(*id)).take(5).collect();
    assert!(acked_missing.is_empty(), "acknowledged but not stored: {acked_missing:?}");
    assert_eq!(stored, sent_ids, "every event ends up stored exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_loses_nothing_and_duplicates_nothing_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let db = dir.path().join("parley.db");
    let args = vec!["--data-dir".to_owned(), data.clone()];
    crash_story(
        args.clone(),
        async || {
            let url = format!("sqlite://{}", db.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT provider_message_id FROM messages").fetch_all(&mut conn).await.unwrap()
        },
        args,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_loses_nothing_and_duplicates_nothing_postgres() {
    let Some(pg) = PgSchema::create("crash").await else { return };
    let url = pg.url.clone();
    crash_story(
        pg.args.clone(),
        async || {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT provider_message_id FROM messages").fetch_all(&mut conn).await.unwrap()
        },
        pg.args.clone(),
    )
    .await;
    pg.drop().await;
}

//! Outgoing webhooks survive SIGKILL: the real `parley serve` delivers `message.received` events
//! to a local receiver and is killed while a delivery is on the wire, several times. Afterwards
//! the receiver has every event (none skipped), each first seen in the log's order; repeats
//! (at least once) are allowed and counted. Runs on SQLite, and on PostgreSQL when
//! `PARLEY_TEST_DATABASE_URL` is set.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PgSchema, connect_number, env_number, serve};
use parley_sandbox::{Batching, Customer, Sandbox, SandboxConfig, Say};
use sqlx::Connection;

/// What the receiver saw: event ids in arrival order, and posts being answered right now.
#[derive(Default)]
struct Seen {
    ids: Mutex<Vec<i64>>,
    in_flight: AtomicUsize,
}

async fn receiver(seen: Arc<Seen>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.in_flight.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(15)).await;
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let id: i64 = v["id"].as_str().unwrap()[4..].parse().unwrap();
                seen.ids.lock().unwrap().push(id);
                seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn crash_story(db_args: Vec<String>, event_ids: impl AsyncFnOnce() -> Vec<i64>) {
    let messages = env_number("PARLEY_WEBHOOK_CRASH_EVENTS", 300);
    let kills = env_number("PARLEY_WEBHOOK_CRASH_KILLS", 3);
    let (mut server, base, token) = serve(&db_args, &[]);

    let seen = Arc::new(Seen::default());
    let url = receiver(seen.clone()).await;
    let client = reqwest::Client::new();
    let sub = client
        .post(format!("{base}/api/v1/webhook-subscriptions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": url, "kinds": ["message.received"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 201, "{:?}", sub.text().await);

    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    connect_number(&base, &token, &sandbox).await;
    let items: Vec<_> = (0..messages)
        .map(|i| {
            sandbox.message("PN-CRASH", &Customer::new(&format!("336{:08}", i % 50), "C"), &Say::text(&format!("m{i}")))
        })
        .collect();
    sandbox.deliver(items, Batching { per_post: 25, ..Batching::default() });
    assert!(sandbox.wait_idle(Duration::from_secs(120)).await, "the inbound webhooks were not all taken");

    let count = || seen.ids.lock().unwrap().len();
    for k in 0..kills {
        // Each kill lands with a delivery on the wire and events still to deliver.
        let wanted = count() + 5;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(count() >= wanted && seen.in_flight.load(Ordering::SeqCst) > 0) {
            assert!(Instant::now() < deadline, "kill {k}: delivery did not progress ({} seen)", count());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill();
        let at_kill = count();
        assert!(at_kill < messages, "kill {k} came after the last delivery ({at_kill} seen)");
        eprintln!("kill {k}: {at_kill} deliveries seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.spawn();
    }
    let expected = event_ids().await;
    assert_eq!(expected.len(), messages, "one message.received event per message");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ids = seen.ids.lock().unwrap().clone();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        if unique == expected {
            // First arrivals are in the log's order.
            let mut first = Vec::new();
            for id in &ids {
                if !first.contains(id) {
                    first.push(*id);
                }
            }
            assert_eq!(first, expected, "events first arrived out of order");
            eprintln!("webhook crash test: {messages} events, {kills} kills, {} repeats", ids.len() - messages);
            break;
        }
        assert!(Instant::now() < deadline, "missing events: {} of {} arrived", unique.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
}

const RECEIVED: &str = "SELECT id FROM events WHERE kind = 'message.received' ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_skips_no_outgoing_webhook_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parley.db");
    let args = vec!["--data-dir".to_owned(), dir.path().to_str().unwrap().to_owned()];
    crash_story(args, async || {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query_scalar(RECEIVED).fetch_all(&mut conn).await.unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_skips_no_outgoing_webhook_postgres() {
    let Some(pg) = PgSchema::create("hookcrash").await else { return };
    let url = pg.url.clone();
    crash_story(pg.args.clone(), async || {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(RECEIVED).fetch_all(&mut conn).await.unwrap()
    })
    .await;
    pg.drop().await;
}

//! `parley bench workflows`: the real server (every worker running) with one active workflow of
//! five steps and a wait, started by each new conversation.
//!
//! 1. `burst`: `conversations` customers write for the first time within `seconds`; each opens a
//!    conversation and starts a run. Reported: trigger → first step (the event's commit time
//!    against the first step's time, both stamped by the server), p50/p99/max, and runs/s (runs
//!    whose first step was taken, over the time from the first trigger to the last first step).
//! 2. `ingest`: customers who already have a conversation write at full speed (no run starts),
//!    without pending waits, then with `waits` runs waiting in the database, then without again
//!    (the waits deleted): ingest events/s of each, in the same run; `waits_effect` compares
//!    the run with them against the mean of the two without.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::account::Role;
use parley_core::{Clock, SystemClock};
use parley_providers::guard::AllowList;
use parley_server::AppState;
use parley_server::secrets::SecretBox;
use parley_store::{DatabaseUrl, NewWorkflow, WorkflowPatch};
use serde_json::json;
use sqlx::Connection;

use super::webhooks::{APP_SECRET, bench_database, empty, post_at_rate};

pub struct WorkflowBench {
    pub database_url: Option<String>,
    pub conversations: usize,
    pub seconds: u64,
    pub waits: i64,
    pub ingest_events: usize,
    pub batch: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() { 0.0 } else { sorted[((sorted.len() - 1) as f64 * p).round() as usize] }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub async fn run(opts: WorkflowBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, schema) = bench_database(opts.database_url.as_deref(), "parley_bench_wf", dir.path()).await?;
    let engine = if schema.is_some() { "postgres" } else { "sqlite" };
    let secret_box = SecretBox::random();
    let secrets = parley_core::channel::ChannelSecrets {
        access_token: "t".into(),
        app_secret: APP_SECRET.into(),
        verify_token: "v".into(),
    };
    let sealed = secret_box.seal(&serde_json::to_vec(&secrets)?);
    let (store, target) = empty(&url, schema.as_deref(), sealed, opts.conversations).await?;
    let target = Arc::new(target);
    let ws = target.workspace;
    let owner = store.users(ws).await?.into_iter().find(|u| u.role == Role::Owner).map(|u| u.id);

    // The workflow: five steps, the third a wait of a day.
    let definition = json!({"trigger": {"kind": "conversation_opened", "by": "contact"}, "steps": [
        {"id": "tag", "kind": "add_tags", "tags": ["new"], "next": "note"},
        {"id": "note", "kind": "add_note", "text": "New customer {{contact.name|}}", "next": "wait"},
        {"id": "wait", "kind": "wait", "seconds": 86400, "next": "field"},
        {"id": "field", "kind": "set_field", "field": "followed_up", "value": "yes", "next": "untag"},
        {"id": "untag", "kind": "remove_tags", "tags": ["new"]}]})
    .to_string();
    let now = SystemClock.now();
    let new = NewWorkflow { name: "Bench", draft: &definition, once_per_contact: false, created_by: owner };
    let w = store.create_workflow(ws, new, now).await?;
    store.publish_workflow(ws, w.id, &definition, owner, now).await?;
    store.update_workflow(ws, w.id, WorkflowPatch { active: Some(true), ..Default::default() }, now).await?;

    let mut state = AppState::new(store.clone(), Arc::new(SystemClock), secret_box, dir.path());
    state.allow_provider_hosts(AllowList::parse(&["127.0.0.1"]).map_err(anyhow::Error::msg)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parley_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let webhook_url = format!("http://{addr}{}", target.webhook_path);
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;

    // 1. The burst: every message from a new customer (bodies 0.. cover customers 0..n once).
    let posts = opts.conversations.div_ceil(opts.batch);
    let rate = (opts.conversations as f64 / opts.seconds as f64).ceil() as usize;
    let sent = post_at_rate(&client, &webhook_url, target.clone(), 0, posts, opts.batch, Some(rate)).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let pairs = loop {
        let pairs = raw(&url, schema.as_deref()).await?.trigger_to_first_step().await?;
        if pairs.len() >= opts.conversations {
            break pairs;
        }
        anyhow::ensure!(Instant::now() < deadline, "runs stalled: {} of {}", pairs.len(), opts.conversations);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut lags: Vec<f64> = pairs.iter().map(|(t, s)| (s - t) as f64 / 1000.0).collect();
    lags.sort_by(f64::total_cmp);
    let first = pairs.iter().map(|p| p.0).min().unwrap_or(0);
    let last = pairs.iter().map(|p| p.1).max().unwrap_or(0);
    let runs_per_second = pairs.len() as f64 / ((last - first).max(1) as f64 / 1e6);
    println!(
        "{}",
        json!({"engine": engine, "scenario": "burst", "conversations": opts.conversations, "seconds": opts.seconds,
            "ingest_events_per_second": sent.round(), "trigger_to_first_step": {"p50_ms": round1(percentile(&lags, 0.5)),
            "p99_ms": round1(percentile(&lags, 0.99)), "max_ms": round1(percentile(&lags, 1.0))},
            "runs_per_second": runs_per_second.round()})
    );

    // 2. Ingest without, with, and again without pending waits (their customers already have a
    //    conversation: nothing starts). Bodies from `posts` on are new messages of known customers.
    let ingest_posts = opts.ingest_events.div_ceil(opts.batch);
    let mut next = posts;
    let mut ingest = async |label: &str| -> anyhow::Result<f64> {
        let rate = post_at_rate(&client, &webhook_url, target.clone(), next, ingest_posts, opts.batch, None).await?;
        next += ingest_posts;
        println!(
            "{}",
            json!({"engine": engine, "scenario": "ingest", "pending_waits": label, "events_per_second": rate.round()})
        );
        Ok(rate)
    };
    let without = ingest("none").await?;
    let started = Instant::now();
    let far = SystemClock.now().plus_secs(30 * 86_400);
    raw(&url, schema.as_deref()).await?.pending_waits(ws.get(), w.id, opts.waits, far.as_micros()).await?;
    eprintln!("wrote {} pending waits in {:.0} s", opts.waits, started.elapsed().as_secs_f64());
    let with = ingest(&opts.waits.to_string()).await?;
    raw(&url, schema.as_deref()).await?.delete_pending_waits().await?;
    let again = ingest("none, again").await?;
    let base = (without + again) / 2.0;
    println!(
        "{}",
        json!({"engine": engine, "scenario": "waits_effect", "pending_waits": opts.waits,
            "without_events_per_second": base.round(), "with_events_per_second": with.round(),
            "change_percent": round1((with / base - 1.0) * 100.0)})
    );
    // The server and its workers stop before the schema goes.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
    if let (Some(schema), Some(u)) = (schema, &opts.database_url) {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await?;
    }
    Ok(())
}

/// A connection of the benchmark's own beside the server's (not through the store, which holds
/// SQLite for one server): the pending waits are written, and the latencies read, in SQL.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn raw(url: &DatabaseUrl, schema: Option<&str>) -> anyhow::Result<Raw> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => {
            let options =
                sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(60));
            Raw::Sqlite(sqlx::SqliteConnection::connect_with(&options).await?)
        }
        DatabaseUrl::Postgres(u) => {
            let mut conn = sqlx::PgConnection::connect(u).await?;
            if let Some(schema) = schema {
                sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}"))).execute(&mut conn).await?;
            }
            Raw::Postgres(conn)
        }
    })
}

impl Raw {
    async fn execute(&mut self, sql: String) -> anyhow::Result<()> {
        match self {
            Raw::Sqlite(c) => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(c).await.map(drop)?,
            Raw::Postgres(c) => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(c).await.map(drop)?,
        }
        Ok(())
    }

    /// `count` runs of `workflow` waiting on its `field` step until `wake_at`, on conversation
    /// ids from 10^12 up (no such conversations: nothing else reads them), 10,000 per statement.
    async fn pending_waits(&mut self, ws: i64, workflow: i64, count: i64, wake_at: i64) -> anyhow::Result<()> {
        for from in (0..count).step_by(10_000) {
            let to = (from + 10_000).min(count) - 1;
            let series = match self {
                Raw::Sqlite(_) => format!(
                    "(WITH RECURSIVE s(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM s WHERE n < {to}) SELECT n FROM s)"
                ),
                Raw::Postgres(_) => format!("generate_series({from}::BIGINT, {to}::BIGINT) AS g(n)"),
            };
            self.execute(format!(
                "INSERT INTO workflow_runs (workspace_id, workflow_id, version, conversation_id, status, step, seq,
                    jumps, memory, wake_at, started_at, updated_at)
                 SELECT {ws}, {workflow}, 1, 1000000000000 + n, 'running', 'field', 3, '{{}}', '{{}}', {wake_at}, 0, 0
                 FROM {series}"
            ))
            .await?;
        }
        Ok(())
    }

    async fn delete_pending_waits(&mut self) -> anyhow::Result<()> {
        self.execute("DELETE FROM workflow_runs WHERE conversation_id >= 1000000000000".into()).await
    }

    /// Each run started by an event: (the event's time, its first step's time), microseconds.
    async fn trigger_to_first_step(&mut self) -> anyhow::Result<Vec<(i64, i64)>> {
        const SQL: &str = "SELECT e.created_at, s.at FROM workflow_runs r
            JOIN events e ON e.id = r.trigger_event_id
            JOIN workflow_run_steps s ON s.run_id = r.id AND s.seq = 0";
        Ok(match self {
            Raw::Sqlite(c) => sqlx::query_as(SQL).fetch_all(c).await?,
            Raw::Postgres(c) => sqlx::query_as(SQL).fetch_all(c).await?,
        })
    }
}

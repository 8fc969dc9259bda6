//! `parley bench webhooks`: signed webhook batches posted over loopback to the real server
//! (router, signature check, parsing, one transaction per batch), next to a do-nothing endpoint
//! of the same server (same HTTP stack, reads the body, answers 200) measured in the same run.
//! Reports events/s, requests/s and p50/p99 latency for each. With `--contacts N`, the database
//! starts with the inbox benchmark's data at that size, and the customers are among its contacts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::routing::post;
use parley_core::account::Role;
use parley_core::channel::{ChannelSecrets, Provider, Visibility};
use parley_core::ids::WorkspaceId;
use parley_core::{Clock, Email, SystemClock};
use parley_providers::meta::signature;
use parley_server::AppState;
use parley_server::secrets::SecretBox;
use parley_store::fixtures;
use parley_store::{DatabaseUrl, NewChannel, NewToken, NewUser, Store};
use serde_json::json;
use tokio::sync::Mutex;

pub struct WebhookBench {
    pub database_url: Option<String>,
    pub batch: usize,
    pub requests: usize,
    pub concurrency: usize,
    /// 0: an empty database. Otherwise the inbox benchmark's data at this size.
    pub contacts: i64,
}

const APP_SECRET: &str = "bench-app-secret";

/// Where the webhooks go, and who writes them.
struct Target {
    workspace: WorkspaceId,
    webhook_path: String,
    phone_number_id: String,
    /// The WhatsApp id of customer `k` (of 1,000).
    customers: Box<dyn Fn(usize) -> String + Send + Sync>,
}

pub async fn run(opts: WebhookBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, schema) = match &opts.database_url {
        Some(u) => {
            let schema = format!("parley_bench_{}", std::process::id());
            let mut admin =
                <sqlx::PgConnection as sqlx::Connection>::connect(u).await.context("connecting to PostgreSQL")?;
            for sql in [format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), format!("CREATE SCHEMA {schema}")] {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await?;
            }
            (DatabaseUrl::Postgres(u.clone()), Some(schema))
        }
        None => (DatabaseUrl::Sqlite(dir.path().join("parley.db")), None),
    };
    let secret_box = SecretBox::random();
    let secrets = ChannelSecrets { access_token: "t".into(), app_secret: APP_SECRET.into(), verify_token: "v".into() };
    let sealed = secret_box.seal(&serde_json::to_vec(&secrets)?);
    let (store, target) = if opts.contacts > 0 {
        at_scale(&url, schema.as_deref(), opts.contacts, sealed).await?
    } else {
        empty(&url, schema.as_deref(), sealed).await?
    };
    let state = AppState::new(store.clone(), Arc::new(SystemClock), secret_box, dir.path());
    let ws = target.workspace;
    let app = parley_server::app(state).route("/bench/noop", post(|_body: axum::body::Bytes| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let now = SystemClock.now();
    let bodies = make_bodies(&target, opts.requests, opts.batch, now.as_secs());
    let events = opts.requests * opts.batch;
    let engine = if schema.is_some() { "postgres" } else { "sqlite" };
    let client = reqwest::Client::builder().pool_max_idle_per_host(opts.concurrency).build()?;
    let webhook_url = format!("http://{addr}{}", target.webhook_path);
    let noop_url = format!("http://{addr}/bench/noop");
    // Warm up connections and caches with bodies that are not counted.
    fire(&client, &noop_url, make_bodies(&target, opts.concurrency * 4, opts.batch, 1), opts.concurrency).await?;

    let noop = fire(&client, &noop_url, bodies.clone(), opts.concurrency).await?;
    let ingest = fire(&client, &webhook_url, bodies, opts.concurrency).await?;
    let newest = store.conversations(ws, &parley_store::ConversationQuery { limit: 1, ..Default::default() }).await?;
    anyhow::ensure!(newest.items.first().is_some_and(|c| c.last_message_at >= now), "nothing was stored");

    let line = |name: &str, r: &Run| {
        json!({"engine": engine, "endpoint": name, "batch": opts.batch, "requests": opts.requests, "events": events,
            "concurrency": opts.concurrency, "seconds": (r.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "events_per_second": (events as f64 / r.elapsed.as_secs_f64()).round(),
            "requests_per_second": (opts.requests as f64 / r.elapsed.as_secs_f64()).round(),
            "p50_ms": r.percentile(0.50), "p99_ms": r.percentile(0.99)})
    };
    println!("{}", line("noop", &noop));
    println!("{}", line("webhook", &ingest));
    println!(
        "{}",
        json!({"engine": engine, "batch": opts.batch, "webhook_vs_noop": ((noop.elapsed.as_secs_f64() / ingest.elapsed.as_secs_f64()) * 1000.0).round() / 1000.0})
    );
    if let (Some(schema), Some(u)) = (schema, &opts.database_url) {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await?;
    }
    Ok(())
}

/// An empty database with one workspace and one number; the customers are new at first.
async fn empty(
    url: &DatabaseUrl,
    schema: Option<&str>,
    sealed_secrets: String,
) -> anyhow::Result<(Arc<dyn Store>, Target)> {
    let store = parley_store::open_url(url, schema).await?;
    store.migrate().await?;
    let now = SystemClock.now();
    let owner = NewUser {
        email: Email::parse("bench@example.com")?,
        name: "Bench".into(),
        role: Role::Owner,
        password_hash: None,
    };
    let token = NewToken { name: "bench".into(), hash: "bench".into(), prefix: "pk_bench".into() };
    let workspace = store.bootstrap("Bench", owner, token, now).await?.workspace.id;
    let channel = NewChannel {
        provider: Provider::Meta,
        name: "Bench".into(),
        phone_number_id: "PN-BENCH".into(),
        waba_id: "W".into(),
        display_phone_number: "15550001111".into(),
        graph_base_url: "http://127.0.0.1:9".into(),
        sealed_secrets,
        webhook_key: "benchkey".into(),
        visibility: Visibility::Shared,
        throughput: 80,
    };
    let channel = store.create_channel(workspace, channel, now).await?;
    let target = Target {
        workspace,
        webhook_path: channel.webhook_path(),
        phone_number_id: channel.phone_number_id,
        customers: Box::new(|k| format!("3361{k:07}")),
    };
    Ok((store, target))
}

/// The inbox benchmark's data (`parley_store::fixtures`); the customers are 1,000 of its
/// contacts, spread over the whole table, writing to the shared number they already talk to.
async fn at_scale(
    url: &DatabaseUrl,
    schema: Option<&str>,
    contacts: i64,
    sealed_secrets: String,
) -> anyhow::Result<(Arc<dyn Store>, Target)> {
    let spec = fixtures::InboxSpec {
        contacts,
        conversations: contacts,
        messages: contacts * 10,
        agents: 2,
        owner_token: NewToken { name: "bench".into(), hash: "bench".into(), prefix: "pk_bench".into() },
        agent_tokens: (0..2)
            .map(|i| NewToken { name: format!("agent {i}"), hash: format!("agent-{i}"), prefix: "pk_agent".into() })
            .collect(),
        sealed_secrets,
    };
    let started = Instant::now();
    let progress = |what: &str, done: i64, total: i64| {
        if done == total {
            eprintln!("generated {total} {what} ({:.0} s)", started.elapsed().as_secs_f64());
        }
    };
    let (store, fixture) = fixtures::create_inbox(url, schema, &spec, &progress).await?;
    let shared = store.channel(fixture.workspace, fixture.channels[0], parley_store::Viewer::All).await?;
    // The shared number's conversations are the even contacts' (see the fixture).
    let half = (contacts / 2).max(1);
    let target = Target {
        workspace: fixture.workspace,
        webhook_path: shared.webhook_path(),
        phone_number_id: shared.phone_number_id,
        customers: Box::new(move |k| fixtures::contact_wa_id(2 * ((k as i64 * 7919) % half + 1))),
    };
    Ok((store, target))
}

/// `requests` signed webhook bodies of `batch` text messages each, every message unique, from
/// the target's 1,000 customers (so contacts and conversations are found as well as created).
fn make_bodies(target: &Target, requests: usize, batch: usize, base_ts: i64) -> Vec<(Vec<u8>, String)> {
    let salt: u32 = rand::random();
    (0..requests)
        .map(|r| {
            let messages: Vec<_> = (0..batch)
                .map(|i| {
                    let n = r * batch + i;
                    json!({"from": (target.customers)(n % 1000), "id": format!("wamid.BENCH{salt:08x}{n:010}"),
                        "timestamp": (base_ts + n as i64 / 1000).to_string(), "type": "text", "text": {"body": format!("message {n}")}})
                })
                .collect();
            let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": target.phone_number_id},
                "contacts": [{"profile": {"name": "Bench"}, "wa_id": (target.customers)((r * batch) % 1000)}],
                "messages": messages}}]}]})
            .to_string()
            .into_bytes();
            let sig = signature::sign(APP_SECRET, &body);
            (body, sig)
        })
        .collect()
}

struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        (self.latencies[i].as_secs_f64() * 1000.0 * 100.0).round() / 100.0
    }
}

/// Posts every body with `concurrency` requests in flight; fails on any non-200.
async fn fire(
    client: &reqwest::Client,
    url: &str,
    bodies: Vec<(Vec<u8>, String)>,
    concurrency: usize,
) -> anyhow::Result<Run> {
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (queue, client, url) = (queue.clone(), client.clone(), url.to_owned());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some((body, sig)) = queue.lock().await.next() else { break };
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(signature::HEADER, sig)
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().is_success(), "HTTP {} from {url}", resp.status());
                resp.bytes().await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Ok(Run { elapsed, latencies })
}

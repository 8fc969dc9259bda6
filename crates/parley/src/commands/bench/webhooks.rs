//! `parley bench webhooks`: signed webhook batches posted over loopback to the real server
//! (router, signature check, parsing, one transaction per batch), next to a do-nothing endpoint
//! of the same server (reads the body, answers 200), the durable ceiling (`/bench/durable`) and
//! what a webhook costs before the store (`/bench/parsed`), each served through the same
//! middleware as the webhook route, and the durable ceiling without it (`durable_bare`), all
//! measured in the same run. Reports events/s, requests/s and p50/p99 latency for each. With
//! `--contacts N`, the database starts with the inbox benchmark's data at that size, and the
//! customers are among its contacts.
//! With `--normalize` as well, the contacts' phones are stored unclean and the webhooks are
//! measured before and while re-cleaning all of them (`normalize_contacts`) runs beside. With
//! `--providers` (and `--batch 1`), the same number of messages is posted right after as
//! Twilio's, 360dialog's and MessageBird's posts (each signed or authenticated as that provider
//! does) to a number of each on the same server, for the providers' comparison (issue 20).

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
    /// Measure while every contact's phone is re-cleaned (needs `contacts`).
    pub normalize: bool,
    /// How many distinct customers write in (1,000 in the figures before issue 21).
    pub customers: usize,
    /// Also post the messages as the other providers post them, one per request
    /// (`webhooks_providers.rs`).
    pub providers: bool,
}

/// How a benchmark post is signed: Meta's JSON batches or Twilio's form posts.
#[derive(Clone, Copy, Debug)]
pub(super) enum Signing {
    Meta,
    Twilio,
    Dialog360,
    MessageBird,
}

pub(super) const APP_SECRET: &str = "bench-app-secret";

/// Where the webhooks go, and who writes them.
pub(super) struct Target {
    /// How many distinct customers write.
    pub(super) count: usize,
    /// The time the messages say they were sent at.
    base_ts: i64,
    salt: u32,
    pub(super) workspace: WorkspaceId,
    pub(super) webhook_path: String,
    phone_number_id: String,
    /// The WhatsApp id of customer `k` (of `count`).
    pub(super) customers: Box<dyn Fn(usize) -> String + Send + Sync>,
}

pub async fn run(opts: WebhookBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, schema) = bench_database(opts.database_url.as_deref(), "parley_bench", dir.path()).await?;
    let secret_box = SecretBox::random();
    let secrets = ChannelSecrets { access_token: "t".into(), app_secret: APP_SECRET.into(), verify_token: "v".into() };
    let sealed = secret_box.seal(&serde_json::to_vec(&secrets)?);
    anyhow::ensure!(!opts.normalize || opts.contacts > 0, "--normalize needs --contacts");
    anyhow::ensure!(
        !opts.providers || (opts.batch == 1 && !opts.normalize),
        "--providers compares one event per post: --batch 1, no --normalize"
    );
    let (store, target) = if opts.contacts > 0 {
        at_scale(&url, schema.as_deref(), opts.contacts, opts.normalize, sealed, opts.customers).await?
    } else {
        empty(&url, schema.as_deref(), sealed, opts.customers).await?
    };
    let target = Arc::new(target);
    let providers = if opts.providers {
        super::webhooks_providers::numbers(&*store, target.workspace, &secret_box).await?
    } else {
        Vec::new()
    };
    let mut state = AppState::new(store.clone(), Arc::new(SystemClock), secret_box, dir.path());
    let ws = target.workspace;
    let backlog = state.journal.backlog.clone();
    let durable = durable_ceiling(&url, schema.as_deref(), opts.batch).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Twilio and MessageBird sign the URL they call: the server checks against its public URL.
    state.public_url = format!("http://{addr}");
    // The yardsticks go through the server's middleware like the webhook route ("the same
    // server"); the durable ceiling also without it (`durable_bare`, the earlier yardstick).
    let yardsticks = axum::Router::new()
        .route("/bench/noop", post(|_body: axum::body::Bytes| async { "ok" }))
        .route("/bench/parsed", post(parsed_only))
        .route(
            "/bench/durable",
            post({
                let durable = durable.clone();
                move |body| durable(body)
            }),
        );
    let app = parley_server::app_with(state, yardsticks).route("/bench/bare/durable", post(move |body| durable(body)));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let now = SystemClock.now();
    let engine = if schema.is_some() { "postgres" } else { "sqlite" };
    let client = reqwest::Client::builder().pool_max_idle_per_host(opts.concurrency).build()?;
    let webhook_url = format!("http://{addr}{}", target.webhook_path);
    let noop_url = format!("http://{addr}/bench/noop");
    // Warm up connections and caches with bodies that are not counted.
    let warm_up: Vec<_> =
        (0..opts.concurrency * 4).map(|r| make_body(&target, r + 1_000_000_000, opts.batch)).collect();
    fire(&client, &noop_url, Box::new(warm_up.into_iter()), opts.concurrency, Signing::Meta).await?;

    let bodies: Vec<_> = (0..opts.requests).map(|r| make_body(&target, r, opts.batch)).collect();
    let line = |name: &str, r: &Run| {
        let (requests, events) = (r.latencies.len(), r.latencies.len() * opts.batch);
        json!({"engine": engine, "endpoint": name, "batch": opts.batch, "requests": requests, "events": events,
            "concurrency": opts.concurrency, "seconds": (r.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "events_per_second": (events as f64 / r.elapsed.as_secs_f64()).round(),
            "requests_per_second": (requests as f64 / r.elapsed.as_secs_f64()).round(),
            "p50_ms": r.percentile(0.50), "p99_ms": r.percentile(0.99), "max_ms": r.percentile(1.0)})
    };
    if opts.normalize {
        let ingest = fire(&client, &webhook_url, Box::new(bodies.into_iter()), opts.concurrency, Signing::Meta).await?;
        println!("{}", line("webhook", &ingest));
        during_normalization(&store, ws, &target, &client, &webhook_url, &opts, &line).await?;
    } else {
        let noop =
            fire(&client, &noop_url, Box::new(bodies.clone().into_iter()), opts.concurrency, Signing::Meta).await?;
        let durable_url = format!("http://{addr}/bench/durable");
        let durable =
            fire(&client, &durable_url, Box::new(bodies.clone().into_iter()), opts.concurrency, Signing::Meta).await?;
        let bare_url = format!("http://{addr}/bench/bare/durable");
        let bare =
            fire(&client, &bare_url, Box::new(bodies.clone().into_iter()), opts.concurrency, Signing::Meta).await?;
        let parsed_url = format!("http://{addr}/bench/parsed");
        let parsed =
            fire(&client, &parsed_url, Box::new(bodies.clone().into_iter()), opts.concurrency, Signing::Meta).await?;
        let started = Instant::now();
        let ingest = fire(&client, &webhook_url, Box::new(bodies.into_iter()), opts.concurrency, Signing::Meta).await?;
        println!("{}", line("noop", &noop));
        println!("{}", line("durable", &durable));
        println!("{}", line("durable_bare", &bare));
        println!("{}", line("parsed", &parsed));
        println!("{}", line("webhook", &ingest));
        // Acknowledged is not applied yet (`journal.rs`): the end-to-end rate counts until the
        // journal is empty.
        backlog.settled().await;
        let applied = Run { elapsed: started.elapsed(), latencies: ingest.latencies.clone() };
        let mut applied_line = line("webhook_applied", &applied);
        applied_line["backlog_peak_webhooks"] = json!(backlog.peak());
        println!("{applied_line}");
        let share =
            |of: &Run, to: &Run| ((of.elapsed.as_secs_f64() / to.elapsed.as_secs_f64()) * 1000.0).round() / 1000.0;
        println!(
            "{}",
            json!({"engine": engine, "batch": opts.batch, "webhook_vs_noop": share(&noop, &ingest),
                "webhook_vs_durable": share(&durable, &ingest), "applied_vs_durable": share(&durable, &applied),
                "parsed_vs_durable": share(&durable, &parsed), "webhook_vs_durable_bare": share(&bare, &ingest),
                "applied_vs_durable_bare": share(&bare, &applied)})
        );
        for number in &providers {
            // As many messages, as this provider posts them, right after.
            let url = format!("http://{addr}{}", number.path);
            let posts = super::webhooks_providers::bodies(number, &target, &url, opts.requests);
            let run = fire(&client, &url, Box::new(posts.into_iter()), opts.concurrency, number.signing).await?;
            println!("{}", line(number.name, &run));
            // Against Meta's applied rate: the other providers answer after applying.
            let ratio = (applied.elapsed.as_secs_f64() / run.elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
            println!("{}", json!({"engine": engine, "batch": 1, "provider": number.name, "provider_vs_meta": ratio}));
        }
    }
    let newest = store.conversations(ws, &parley_store::ConversationQuery { limit: 1, ..Default::default() }).await?;
    anyhow::ensure!(newest.items.first().is_some_and(|c| c.last_message_at >= now), "nothing was stored");
    if let (Some(schema), Some(u)) = (schema, &opts.database_url) {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await?;
    }
    Ok(())
}

/// A fresh database for a benchmark: a schema of its own (`<prefix>_<pid>`) on PostgreSQL at
/// `postgres`, else a SQLite file in `dir`.
pub(super) async fn bench_database(
    postgres: Option<&str>,
    prefix: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(DatabaseUrl, Option<String>)> {
    let Some(u) = postgres else { return Ok((DatabaseUrl::Sqlite(dir.join("parley.db")), None)) };
    let schema = format!("{prefix}_{}", std::process::id());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await.context("connecting to PostgreSQL")?;
    for sql in [format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), format!("CREATE SCHEMA {schema}")] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await?;
    }
    Ok((DatabaseUrl::Postgres(u.to_owned()), Some(schema)))
}

/// The durable ceiling (`/bench/durable`): the same server appending each webhook's raw body to
/// the same database (`fixtures::RawSink`) through the same group commit as webhooks
/// (`ingest::take_waiting`, as many tasks), answering after the commit; no verifying, parsing
/// or routing. Ingest as a share of it says what those cost.
async fn durable_ceiling(url: &DatabaseUrl, schema: Option<&str>, batch: usize) -> anyhow::Result<DurableHandler> {
    type Waiting = (String, tokio::sync::oneshot::Sender<bool>);
    let sink = Arc::new(fixtures::RawSink::open(url, schema).await?);
    let (jobs, queue) = tokio::sync::mpsc::channel::<Waiting>(1024);
    let queue = Arc::new(Mutex::new(queue));
    let engine = if schema.is_some() { "postgres" } else { "sqlite" };
    for _ in 0..parley_server::ingest::workers_for(engine) {
        let (queue, sink) = (queue.clone(), sink.clone());
        tokio::spawn(async move {
            while let Some((waiting, _)) = parley_server::ingest::take_waiting(&queue, |_: &Waiting| batch).await {
                let (bodies, replies): (Vec<String>, Vec<_>) = waiting.into_iter().unzip();
                let stored = sink.append(&bodies).await.is_ok();
                for reply in replies {
                    let _ = reply.send(stored);
                }
            }
        });
    }
    Ok(Arc::new(move |body: axum::body::Bytes| {
        let jobs = jobs.clone();
        Box::pin(async move {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let queued = jobs.send((String::from_utf8_lossy(&body).into_owned(), reply)).await.is_ok();
            match (queued, answer.await) {
                (true, Ok(true)) => axum::http::StatusCode::OK,
                _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            }
        })
    }))
}

/// The durable ceiling's handler, mounted twice (under the middleware and without it).
type DurableHandler = Arc<
    dyn Fn(axum::body::Bytes) -> std::pin::Pin<Box<dyn Future<Output = axum::http::StatusCode> + Send>> + Send + Sync,
>;

/// `/bench/parsed`: what a webhook costs before the store — the signature checked, the body
/// parsed into events, each paired with its number — answered without storing anything. Its
/// rate against the durable ceiling bounds what any ingest answering after a durable write
/// could reach on this machine (`parsed_vs_durable`).
async fn parsed_only(headers: axum::http::HeaderMap, body: axum::body::Bytes) -> axum::http::StatusCode {
    let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    if !signature::verify(APP_SECRET, &body, header) {
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    let Ok(parsed) = parley_providers::meta::webhook::parse(&body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    let number = Arc::new(parsed.changes.first().and_then(|c| c.phone_number_id.clone()));
    let events: Vec<_> =
        parsed.changes.iter().flat_map(|c| c.events.iter().cloned().map(|e| (number.clone(), e))).collect();
    if events.is_empty() { axum::http::StatusCode::BAD_REQUEST } else { axum::http::StatusCode::OK }
}

/// An empty database with one workspace and one number; the customers are new at first.
pub(super) async fn empty(
    url: &DatabaseUrl,
    schema: Option<&str>,
    sealed_secrets: String,
    customers: usize,
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
        count: customers.max(1),
        base_ts: SystemClock.now().as_secs(),
        salt: rand::random(),
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
    phones_to_clean: bool,
    sealed_secrets: String,
    customers: usize,
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
        phones_to_clean,
        ledger_entries: 0,
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
        count: customers.max(1),
        base_ts: SystemClock.now().as_secs(),
        salt: rand::random(),
        workspace: fixture.workspace,
        webhook_path: shared.webhook_path(),
        phone_number_id: shared.phone_number_id,
        customers: Box::new(move |k| fixtures::contact_wa_id(2 * ((k as i64 * 7919) % half + 1))),
    };
    Ok((store, target))
}

/// Posts signed webhook bodies number `from` to `from + posts` (`batch` events each) to `url` at
/// `rate` events per second (`None`: as fast as 16 connections go); answers the achieved
/// events/s.
pub(super) async fn post_at_rate(
    client: &reqwest::Client,
    url: &str,
    target: Arc<Target>,
    from: usize,
    posts: usize,
    batch: usize,
    rate: Option<usize>,
) -> anyhow::Result<f64> {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(if rate.is_some() { 64 } else { 16 }));
    let every = rate.map(|r| Duration::from_secs_f64(batch as f64 / r as f64));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(posts);
    for i in 0..posts {
        if let Some(every) = every {
            tokio::time::sleep_until((started + every * i as u32).into()).await;
        }
        let permit = in_flight.clone().acquire_owned().await?;
        let (body, sig) = make_body(&target, from + i, batch);
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(&url)
                .header("content-type", "application/json")
                .header(signature::HEADER, sig)
                .body(body)
                .send()
                .await;
            drop(permit);
            anyhow::ensure!(r.as_ref().is_ok_and(|r| r.status().is_success()), "an inbound webhook failed: {r:?}");
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((posts * batch) as f64 / started.elapsed().as_secs_f64())
}

/// Signed webhook body number `r`: `batch` text messages, every message unique, from the
/// target's customers (so contacts and conversations are found as well as created).
pub(super) fn make_body(target: &Target, r: usize, batch: usize) -> (Vec<u8>, String) {
    let messages: Vec<_> = (0..batch)
        .map(|i| {
            let n = r * batch + i;
            json!({"from": (target.customers)(n % target.count), "id": format!("wamid.BENCH{:08x}{n:010}", target.salt),
                "timestamp": (target.base_ts + (n % 1_000_000) as i64 / 1000).to_string(), "type": "text", "text": {"body": format!("message {n}")}})
        })
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": target.phone_number_id},
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": (target.customers)((r * batch) % target.count)}],
        "messages": messages}}]}]})
    .to_string()
    .into_bytes();
    let sig = signature::sign(APP_SECRET, &body);
    (body, sig)
}

/// Re-cleans every contact's phone while webhooks keep coming (bodies made as they are sent),
/// then reports the webhooks' latency over that time and what re-cleaning did.
async fn during_normalization(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    target: &Arc<Target>,
    client: &reqwest::Client,
    webhook_url: &str,
    opts: &WebhookBench,
    line: &dyn Fn(&str, &Run) -> serde_json::Value,
) -> anyhow::Result<()> {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let normalizing = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let report = store.normalize_contacts(ws, None, false, SystemClock.now()).await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            report.map(|r| (r, started.elapsed()))
        })
    };
    let (target, batch) = (target.clone(), opts.batch);
    let first = opts.requests + 1;
    let bodies = (first..)
        .take_while(move |_| !done.load(std::sync::atomic::Ordering::SeqCst))
        .map(move |r| make_body(&target, r, batch));
    let during = fire(client, webhook_url, Box::new(bodies), opts.concurrency, Signing::Meta).await?;
    let (report, took) = normalizing.await??;
    anyhow::ensure!(report.cleaned == opts.contacts as u64, "re-cleaned {} of {}", report.cleaned, opts.contacts);
    println!("{}", line("webhook_while_normalizing", &during));
    println!(
        "{}",
        json!({"normalized_contacts": report.contacts_seen, "cleaned": report.cleaned, "seconds": (took.as_secs_f64() * 10.0).round() / 10.0})
    );
    Ok(())
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

/// Posts every body (with its signature) with `concurrency` requests in flight; fails on any
/// non-200.
async fn fire(
    client: &reqwest::Client,
    url: &str,
    bodies: Box<dyn Iterator<Item = (Vec<u8>, String)> + Send>,
    concurrency: usize,
    signing: Signing,
) -> anyhow::Result<Run> {
    let (content_type, header) = match signing {
        Signing::Meta => ("application/json", signature::HEADER),
        Signing::Twilio => ("application/x-www-form-urlencoded", parley_providers::twilio::signature::HEADER),
        Signing::Dialog360 => ("application/json", parley_providers::dialog360::WEBHOOK_TOKEN_HEADER),
        Signing::MessageBird => ("application/json", parley_providers::messagebird::signature::JWT_HEADER),
    };
    let queue = Arc::new(Mutex::new(bodies));
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
                    .header("content-type", content_type)
                    .header(header, sig)
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

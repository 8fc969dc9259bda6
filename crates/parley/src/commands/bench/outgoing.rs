//! `parley bench outgoing`: outgoing webhooks delivered by the real worker to receivers on
//! loopback while signed inbound webhooks arrive through the real server at a steady rate.
//! Each receiver measures the lag of every event (received − `occurred_at`, the time its
//! transaction stamped it). Scenarios, one after the other in the same run:
//!
//! 1. `one`: one subscription while `events` arrive at `rate` per second;
//! 2. `ten`: ten live subscriptions, then `ten_one_dead`: nine live and one that never answers
//!    (each at `rate` for `events_ten` events, twice in turn): the nine's lag against the ten's
//!    (`dead_receiver_effect`, the runs of each kind pooled);
//! 3. `drain`: one subscription paused while `events_ten` arrive at full speed (the ingest
//!    rate), then resumed: how fast the backlog goes out (delivery events/s).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parley_core::{Clock, SystemClock};
use parley_providers::guard::AllowList;
use parley_server::AppState;
use parley_server::secrets::SecretBox;
use parley_store::{NewSubscription, Store, SubscriptionPatch};
use serde_json::json;

use super::webhooks::{APP_SECRET, Target, bench_database, empty, post_at_rate};

pub struct OutgoingBench {
    pub database_url: Option<String>,
    pub events: usize,
    pub events_ten: usize,
    pub rate: usize,
    pub batch: usize,
}

/// Lags (ms) of the events a receiver took.
#[derive(Default)]
struct Taken {
    lags: std::sync::Mutex<Vec<f64>>,
}

impl Taken {
    fn count(&self) -> usize {
        self.lags.lock().unwrap().len()
    }

    fn percentiles(&self) -> serde_json::Value {
        let mut lags = self.lags.lock().unwrap().clone();
        lags.sort_by(f64::total_cmp);
        let at = |p: f64| if lags.is_empty() { 0.0 } else { lags[((lags.len() - 1) as f64 * p).round() as usize] };
        let r = |v: f64| (v * 10.0).round() / 10.0;
        json!({"events": lags.len(), "p50_ms": r(at(0.5)), "p99_ms": r(at(0.99)), "max_ms": r(at(1.0))})
    }
}

fn unix_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// A receiver on loopback: answers 200 and records each event's lag; a dead one never answers.
async fn receiver(dead: bool) -> anyhow::Result<(String, Arc<Taken>)> {
    let taken = Arc::new(Taken::default());
    let t = taken.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let t = t.clone();
            async move {
                if dead {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                let received = unix_ms();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(at) = v["occurred_at"].as_str().and_then(parley_core::Timestamp::parse_rfc3339) {
                    t.lags.lock().unwrap().push(received - at.as_micros() as f64 / 1000.0);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, taken))
}

struct Bench {
    store: Arc<dyn Store>,
    state: AppState,
    target: Arc<Target>,
    client: reqwest::Client,
    webhook_url: String,
    engine: &'static str,
    batch: usize,
    /// The next body number (every message is unique across scenarios).
    next: usize,
}

impl Bench {
    async fn subscribe(&self, url: &str) -> anyhow::Result<i64> {
        let owner = self.store.users(self.target.workspace).await?[0].id;
        let kinds = vec!["message.received".to_owned()];
        let sealed = self.state.secrets.seal(b"whsec_bench");
        let new = NewSubscription { url, format: "parley", kinds: &kinds, sealed_secret: &sealed, created_by: owner };
        let sub = self.store.create_subscription(self.target.workspace, new, SystemClock.now()).await?;
        self.state.outgoing_wakeup.notify_one();
        Ok(sub.id)
    }

    async fn unsubscribe_all(&self) -> anyhow::Result<()> {
        for s in self.store.subscriptions(self.target.workspace).await? {
            self.store.delete_subscription(self.target.workspace, s.id).await?;
        }
        self.state.outgoing_wakeup.notify_one();
        Ok(())
    }

    /// Posts `events` inbound events at `rate` per second (`None`: full speed); answers events/s.
    async fn ingest(&mut self, events: usize, rate: Option<usize>) -> anyhow::Result<f64> {
        let posts = events.div_ceil(self.batch);
        let (target, from) = (self.target.clone(), self.next);
        self.next += posts;
        post_at_rate(&self.client, &self.webhook_url, target, from, posts, self.batch, rate).await
    }

    async fn wait_for(&self, receivers: &[&Arc<Taken>], events: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while receivers.iter().any(|r| r.count() < events) {
            let counts: Vec<usize> = receivers.iter().map(|r| r.count()).collect();
            anyhow::ensure!(Instant::now() < deadline, "deliveries stalled: {counts:?} of {events}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    fn line(&self, scenario: &str, extra: serde_json::Value) {
        let mut v = json!({"engine": self.engine, "scenario": scenario});
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        println!("{v}");
    }
}

/// The nine live receivers' lags taken together.
fn merged(receivers: &[Arc<Taken>]) -> Taken {
    let all = Taken::default();
    for r in receivers {
        all.lags.lock().unwrap().extend(r.lags.lock().unwrap().iter().copied());
    }
    all
}

pub async fn run(opts: OutgoingBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, schema) = bench_database(opts.database_url.as_deref(), "parley_bench_out", dir.path()).await?;
    let secret_box = SecretBox::random();
    let secrets = parley_core::channel::ChannelSecrets {
        access_token: "t".into(),
        app_secret: APP_SECRET.into(),
        verify_token: "v".into(),
    };
    let sealed = secret_box.seal(&serde_json::to_vec(&secrets)?);
    let (store, target) = empty(&url, schema.as_deref(), sealed, 1000).await?;
    let mut state = AppState::new(store.clone(), Arc::new(SystemClock), secret_box, dir.path());
    state.allow_provider_hosts(AllowList::parse(&["127.0.0.1"]).map_err(anyhow::Error::msg)?);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(parley_server::workers::outgoing::run(state.clone(), shutdown));
    let app = parley_server::app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut bench = Bench {
        store: store.clone(),
        state,
        webhook_url: format!("http://{addr}{}", target.webhook_path),
        target: Arc::new(target),
        client: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
        engine: if schema.is_some() { "postgres" } else { "sqlite" },
        batch: opts.batch,
        next: 0,
    };
    // Warm up (not counted): contacts and conversations exist for the customers.
    bench.ingest(2000, None).await?;

    // 1. One subscription at the steady rate.
    let (url, one) = receiver(false).await?;
    bench.subscribe(&url).await?;
    let ingest = bench.ingest(opts.events, Some(opts.rate)).await?;
    bench.wait_for(&[&one], opts.events).await?;
    bench.line("one", json!({"rate": opts.rate, "ingest_events_per_second": ingest.round(), "lag": one.percentiles()}));
    bench.unsubscribe_all().await?;

    // 2. Ten live, then nine live and one dead, twice over in turn (so neither gains from going
    //    second); the live receivers' lags of each kind are pooled for the comparison.
    let (ten_all, dead_all) = (Arc::new(Taken::default()), Arc::new(Taken::default()));
    for dead in [false, true, false, true] {
        let mut live = Vec::new();
        for i in 0..10 {
            let (url, taken) = receiver(dead && i == 0).await?;
            bench.subscribe(&url).await?;
            if !(dead && i == 0) {
                live.push(taken);
            }
        }
        let ingest = bench.ingest(opts.events_ten, Some(opts.rate)).await?;
        bench.wait_for(&live.iter().collect::<Vec<_>>(), opts.events_ten).await?;
        let scenario = if dead { "ten_one_dead" } else { "ten" };
        let run = merged(&live);
        bench.line(
            scenario,
            json!({"rate": opts.rate, "live_receivers": live.len(), "ingest_events_per_second": ingest.round(),
                "lag": run.percentiles()}),
        );
        let pool = if dead { &dead_all } else { &ten_all };
        pool.lags.lock().unwrap().extend(run.lags.lock().unwrap().iter().copied());
        bench.unsubscribe_all().await?;
    }
    let (ten, dead) = (ten_all.percentiles(), dead_all.percentiles());
    let change = |k: &str| {
        let (a, b) = (ten[k].as_f64().unwrap_or(0.0), dead[k].as_f64().unwrap_or(0.0));
        if a > 0.0 { ((b / a - 1.0) * 1000.0).round() / 10.0 } else { 0.0 }
    };
    bench.line(
        "dead_receiver_effect",
        json!({"ten": ten, "ten_one_dead": dead, "p50_change_percent": change("p50_ms"),
            "p99_change_percent": change("p99_ms")}),
    );

    // 3. A backlog delivered as fast as it goes.
    let (url, drain) = receiver(false).await?;
    let sub = bench.subscribe(&url).await?;
    let ws = bench.target.workspace;
    let pause = SubscriptionPatch { active: Some(false), ..Default::default() };
    store.update_subscription(ws, sub, pause, SystemClock.now()).await?;
    bench.state.outgoing_wakeup.notify_one();
    let ingest = bench.ingest(opts.events_ten, None).await?;
    let started = Instant::now();
    let resume = SubscriptionPatch { active: Some(true), ..Default::default() };
    store.update_subscription(ws, sub, resume, SystemClock.now()).await?;
    bench.state.outgoing_wakeup.notify_one();
    bench.wait_for(&[&drain], opts.events_ten).await?;
    let delivered = opts.events_ten as f64 / started.elapsed().as_secs_f64();
    bench.line(
        "drain",
        json!({"events": opts.events_ten, "ingest_events_per_second": ingest.round(),
            "delivery_events_per_second": delivered.round()}),
    );
    let _ = stop.send(true);
    if let (Some(schema), Some(u)) = (schema, &opts.database_url) {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await?;
    }
    Ok(())
}

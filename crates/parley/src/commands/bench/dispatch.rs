//! `parley bench dispatch`: the outbound dispatcher of a real `parley serve` process sending a
//! full outbox to the sandbox at a channel's configured rate. Reports the achieved rate, the CPU
//! time of the Parley process, and the highest number of sends the provider saw in any one-second
//! window (which must not exceed the configuration).
//!
//! The run: a first server receives one message from each customer (so their service windows are
//! open) and is stopped; the messages are queued straight into the store (the same judged,
//! transactional path the send API uses), so the measured server finds a full outbox and does
//! nothing but dispatch. The sandbox runs in this process, the server in its own, so the CPU
//! figure is Parley's alone. `PARLEY_BENCH_DUMP=FILE` writes each send's arrival (µs after the
//! first) to FILE, to look for stalls.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use parley_core::channel::Provider;
use parley_core::contact::ContactRef;
use parley_core::message::Content;
use parley_core::outbound::OutboundMessage;
use parley_core::rules::judge;
use parley_core::{Clock, SystemClock};
use parley_sandbox::{
    Batching, Customer, MessageBirdChannel, Number, NumberPolicy, Sandbox, SandboxConfig, Say, TwilioNumber,
};
use parley_store::{DatabaseUrl, SendOutcome, SendRequest};
use serde_json::{Value, json};

pub struct DispatchBench {
    pub database_url: Option<String>,
    pub messages: usize,
    /// The channel's configured throughput (messages per second).
    pub rate: i64,
    /// How long the sandbox takes to answer each send.
    pub latency: Duration,
    /// The sandbox reports sent and delivered statuses (webhooks the server applies meanwhile).
    pub statuses: bool,
    /// Fees on: the sample rate card and a postpaid fee account on the number's WABA, so every
    /// reply is priced and held when queued and charged by the fees worker at delivery.
    pub fees: bool,
    /// `meta`; `360dialog` (the same sandbox number reached through its 360dialog proxy: its
    /// key, paths without the number id, webhooks with Parley's token header); `twilio` or
    /// `messagebird` (the sandbox's Twilio and MessageBird, which always report statuses).
    pub provider: String,
}

const PNID: &str = "PN-DISPATCH";
const TWILIO_NUMBER: &str = "15550001111";
const TWILIO_ACCOUNT: &str = "AC0000000000000000000000000000d15c";
const MB_CHANNEL: &str = "0000000000000000000000000000d15c";
const APP_SECRET: &str = "dispatch-bench-secret";
const QUEUE_WRITERS: usize = 8;

pub async fn run(opts: DispatchBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut db_args = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
    let (url, schema) = match &opts.database_url {
        Some(u) => {
            let schema = format!("parley_bench_dispatch_{}", std::process::id());
            let mut admin =
                <sqlx::PgConnection as sqlx::Connection>::connect(u).await.context("connecting to PostgreSQL")?;
            for sql in [format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), format!("CREATE SCHEMA {schema}")] {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await?;
            }
            let sep = if u.contains('?') { "&" } else { "?" };
            db_args.extend(["--database-url".to_owned(), format!("{u}{sep}options=-csearch_path%3D{schema}")]);
            (DatabaseUrl::Postgres(u.clone()), Some(schema))
        }
        None => (DatabaseUrl::Sqlite(dir.path().join("parley.db")), None),
    };
    let engine = if schema.is_some() { "postgres" } else { "sqlite" };
    let result = bench(&opts, &exe, &db_args, &url, schema.as_deref(), engine).await;
    if let (Some(schema), Some(u)) = (schema, &opts.database_url) {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await?;
    }
    result
}

async fn bench(
    opts: &DispatchBench,
    exe: &Path,
    db_args: &[String],
    url: &DatabaseUrl,
    schema: Option<&str>,
    engine: &str,
) -> anyhow::Result<()> {
    let token = bootstrap(exe, db_args)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server_args = db_args.to_vec();
    server_args.extend(["--listen".to_owned(), format!("127.0.0.1:{port}"), "--public-url".to_owned(), base.clone()]);
    let client = reqwest::Client::new();

    // 1. A server receives one message per customer.
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let mut server = ServerProcess::start(exe, &server_args)?;
    let Some(provider) = Provider::parse(&opts.provider) else {
        bail!("--provider: meta, 360dialog, twilio or messagebird, not {}", opts.provider)
    };
    ensure!(
        opts.statuses || matches!(provider, Provider::Meta | Provider::Dialog360),
        "the sandbox's Twilio and MessageBird always report statuses: compare with --statuses"
    );
    let (number_id, account, connection) = match provider {
        Provider::Meta => (
            PNID,
            "W",
            json!({"provider": "meta", "access_token": "tok", "app_secret": APP_SECRET,
            "verify_token": "v", "graph_base_url": sandbox.graph_base_url()}),
        ),
        Provider::Dialog360 => (
            PNID,
            "W",
            json!({"provider": "360dialog", "access_token": "tok",
            "graph_base_url": sandbox.dialog360_api_base()}),
        ),
        Provider::Twilio => (
            TWILIO_NUMBER,
            TWILIO_ACCOUNT,
            json!({"provider": "twilio", "access_token": APP_SECRET,
            "graph_base_url": sandbox.twilio_api_base()}),
        ),
        Provider::MessageBird => (
            MB_CHANNEL,
            "W",
            json!({"provider": "messagebird", "access_token": "tok",
            "app_secret": APP_SECRET, "graph_base_url": sandbox.messagebird_api_base()}),
        ),
    };
    let mut input = json!({"name": "Bench", "phone_number_id": number_id, "waba_id": account,
        "display_phone_number": "15550001111", "throughput": opts.rate});
    input.as_object_mut().context("an object")?.extend(connection.as_object().context("an object")?.clone());
    let channel: Value = client
        .post(format!("{base}/api/v1/channels"))
        .bearer_auth(&token)
        .json(&input)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let channel_id = channel["id"].as_i64().context("channel id")?;
    let workspace: Value = client
        .get(format!("{base}/api/v1/workspace"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let workspace_id = workspace["id"].as_i64().context("workspace id")?;
    let webhook_url = format!("{base}{}", channel["webhook_path"].as_str().context("webhook path")?);
    let number = Number {
        phone_number_id: PNID.into(),
        waba_id: "W".into(),
        display_phone_number: "15550001111".into(),
        access_token: "tok".into(),
        app_secret: APP_SECRET.into(),
        webhook_url: webhook_url.clone(),
    };
    match provider {
        Provider::Meta => sandbox.add_number(number),
        Provider::Dialog360 => sandbox.add_360dialog_number(number, "tok"),
        Provider::Twilio => sandbox.add_twilio_number(TwilioNumber {
            account_sid: TWILIO_ACCOUNT.into(),
            auth_token: APP_SECRET.into(),
            number: TWILIO_NUMBER.into(),
            webhook_url,
        }),
        Provider::MessageBird => sandbox.add_messagebird_channel(MessageBirdChannel {
            channel_id: MB_CHANNEL.into(),
            access_key: "tok".into(),
            signing_key: APP_SECRET.into(),
            number: "15550001111".into(),
            waba_id: "W".into(),
            namespace: "ns".into(),
        }),
    }
    if matches!(provider, Provider::Dialog360 | Provider::MessageBird) {
        // Parley sets the number's webhook at the provider, as an owner's click does.
        client
            .post(format!("{base}/api/v1/channels/{channel_id}/webhook/register"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
    }
    // The sandbox accepts everything and records when each send arrived: the rate is checked on
    // those records, not by the sandbox refusing. No status webhooks: only dispatch is measured.
    sandbox.set_policy(
        PNID,
        NumberPolicy {
            throughput: 1_000_000,
            pair_burst: 1_000_000,
            auto_status: opts.statuses,
            read_receipts: false,
            send_latency: opts.latency,
            ..NumberPolicy::default()
        },
    );
    let customers: Vec<Customer> =
        (0..opts.messages).map(|i| Customer::new(&format!("336{:08}", i * 10 + 5), "Customer")).collect();
    eprintln!("{} customers write…", customers.len());
    match provider {
        Provider::Meta | Provider::Dialog360 => {
            let items = customers.iter().map(|c| sandbox.message(PNID, c, &Say::text("hello"))).collect();
            sandbox.deliver(items, Batching { per_post: 100, ..Batching::default() });
        }
        // One post per message, as these providers send them.
        Provider::Twilio => customers.iter().for_each(|c| drop(sandbox.twilio_say(TWILIO_NUMBER, c, "hello"))),
        Provider::MessageBird => {
            customers.iter().for_each(|c| drop(sandbox.messagebird_say(MB_CHANNEL, c, "hello", json!({}))))
        }
    }
    ensure!(sandbox.wait_idle(Duration::from_secs(600)).await, "the inbound messages were not all delivered");
    let stats = sandbox.stats();
    ensure!(stats.refused == 0 && stats.given_up == 0, "some inbound webhooks failed: {stats:?}");
    server.stop();

    // 2. The replies are queued, judged as the send API judges them.
    eprintln!("queueing {} replies…", opts.messages);
    let store = parley_store::open_url(url, schema).await?;
    let ws = parley_core::ids::WorkspaceId(workspace_id);
    let channel = parley_core::ids::ChannelId(channel_id);
    let fee_account = if opts.fees { Some(open_fees(&*store, ws).await?) } else { None };
    let queue_started = Instant::now();
    // Eight writers: the send path is one transaction per send, and PostgreSQL runs them side by
    // side (SQLite takes them in turn).
    let numbers: Arc<Vec<String>> = Arc::new(customers.iter().filter_map(|c| c.wa_id.clone()).collect());
    let queued = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for k in 0..QUEUE_WRITERS {
        let (store, numbers, queued) = (store.clone(), numbers.clone(), queued.clone());
        writers.spawn(async move {
            let reply = [OutboundMessage {
                content: Content::Text { body: "Thanks!".into(), preview_url: None },
                reply_to: None,
            }];
            for number in numbers.iter().skip(k).step_by(QUEUE_WRITERS) {
                let to = ContactRef::parse(&format!("phone:+{number}"), None).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let now = SystemClock.now();
                let request = SendRequest {
                    ws,
                    viewer: parley_store::Viewer::All,
                    channel,
                    to: &to,
                    messages: &reply,
                    idempotency_key: None,
                    author: None,
                    dry_run: false,
                    personalize: None,
                };
                match store.queue_send(request, &|facts, m| judge(facts, m, now), now).await? {
                    SendOutcome::Queued(_) => {}
                    other => bail!("the reply to {number} was not queued: {other:?}"),
                }
                let n = queued.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 20_000 == 0 {
                    eprintln!("  {n} queued");
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    let queue_seconds = queue_started.elapsed().as_secs_f64();
    drop(store);

    // 3. The measured server: a full outbox, nothing else to do.
    eprintln!("dispatching…");
    let started = Instant::now();
    let server = ServerProcess::start(exe, &server_args)?;
    let cpu_before = cpu_seconds(server.pid())?;
    let outbox_url = format!("{base}/api/v1/channels/{channel_id}/outbox");
    // Progress is read from the sandbox, in this process: asking the server for its outbox counts
    // four times a second cost it a tenth of a core on a 100,000-row outbox, which is the
    // observer's cost, not dispatch's. The server is asked once everything has arrived.
    let mut last_report = Instant::now();
    let sent_count = || match provider {
        Provider::Meta | Provider::Dialog360 => sandbox.sent_count(),
        Provider::Twilio => sandbox.twilio_sent().len(),
        Provider::MessageBird => sandbox.messagebird_sent().len(),
    };
    while sent_count() < opts.messages {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!("  {} sent", sent_count());
        }
        ensure!(started.elapsed() < Duration::from_secs(3600), "the outbox did not drain within an hour");
    }
    let counts = loop {
        let counts: Value =
            client.get(&outbox_url).bearer_auth(&token).send().await?.error_for_status()?.json().await?;
        if counts["queued"] == 0 && counts["in_flight"] == 0 {
            break counts;
        }
        ensure!(started.elapsed() < Duration::from_secs(3600), "the outbox did not drain within an hour: {counts}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // With statuses on, the run ends when the server has taken every status webhook (the
    // sandbox saw each acknowledged): fees on or off, the runs then did the same work besides
    // fees, and their CPU compares like for like.
    let all_sent = started.elapsed().as_secs_f64();
    if opts.statuses {
        let expected = 2 * opts.messages;
        while sandbox.stats().acked_items.len() < expected {
            ensure!(started.elapsed() < Duration::from_secs(3600), "statuses were not all taken within an hour");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let statuses_taken = started.elapsed().as_secs_f64();
    // With fees on, the run ends when every delivery is charged (the fees worker's share); asked
    // through the API (the server holds the SQLite database).
    let mut charged = 0;
    if let Some(account) = fee_account {
        let usage_url = format!("{base}/api/v1/fees/accounts/{account}/usage");
        loop {
            let usage: Value =
                client.get(&usage_url).bearer_auth(&token).send().await?.error_for_status()?.json().await?;
            charged = usage["messages"].as_i64().unwrap_or(0);
            if charged as usize >= opts.messages {
                break;
            }
            ensure!(started.elapsed() < Duration::from_secs(3600), "not every delivery was charged: {charged}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let drained = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid())? - cpu_before;
    drop(server);

    let mut arrivals: Vec<Instant> = match provider {
        Provider::Meta | Provider::Dialog360 => sandbox.sent().iter().map(|s| s.at).collect(),
        Provider::Twilio => sandbox.twilio_sent().iter().map(|s| s.at).collect(),
        Provider::MessageBird => sandbox.messagebird_sent().iter().map(|s| s.at).collect(),
    };
    arrivals.sort();
    ensure!(arrivals.len() == opts.messages, "the sandbox got {} sends for {} messages", arrivals.len(), opts.messages);
    ensure!(counts["failed"] == 0 && counts["unknown"] == 0, "not everything was sent: {counts}");
    let span = arrivals.last().zip(arrivals.first()).map_or(0.0, |(l, f)| l.duration_since(*f).as_secs_f64());
    let achieved = if span > 0.0 { (arrivals.len() - 1) as f64 / span } else { 0.0 };
    if let Ok(path) = std::env::var("PARLEY_BENCH_DUMP") {
        let t0 = arrivals[0];
        let lines: Vec<String> = arrivals.iter().map(|t| format!("{}", t.duration_since(t0).as_micros())).collect();
        std::fs::write(path, lines.join("\n"))?;
    }
    let (max_window, busiest_from) = busiest_window(&arrivals, Duration::from_secs(1));
    let (busiest_profile, gap_before) = profile(&arrivals, busiest_from);
    let report = json!({
        "engine": engine, "provider": opts.provider, "messages": opts.messages, "configured_rate": opts.rate,
        "statuses": opts.statuses, "fees": opts.fees, "charged": charged,
        "provider_latency_ms": opts.latency.as_millis() as u64,
        "queue_seconds": round(queue_seconds, 1),
        "first_to_last_send_seconds": round(span, 2),
        "achieved_rate": round(achieved, 1),
        "start_to_drained_seconds": round(drained, 2),
        "start_to_all_sent_seconds": round(all_sent, 2),
        "start_to_statuses_taken_seconds": round(statuses_taken, 2),
        "max_sends_in_any_1s_window": max_window,
        "busiest_second_per_100ms": busiest_profile,
        "longest_gap_before_it_ms": round(gap_before, 1),
        "parley_cpu_seconds": round(cpu, 2),
        "parley_cpu_percent_of_one_core": round(100.0 * cpu / drained, 1),
        "within_configured_rate": max_window as i64 <= opts.rate,
    });
    println!("{report}");
    ensure!(max_window as i64 <= opts.rate, "the configured rate was exceeded: {max_window} sends in one second");
    Ok(())
}

/// The sample card and a postpaid account (a credit no run exhausts) on the bench's WABA.
async fn open_fees(store: &dyn parley_store::Store, ws: parley_core::ids::WorkspaceId) -> anyhow::Result<i64> {
    let now = SystemClock.now();
    parley_server::fees::install_sample_card(store, now).await?;
    let new = parley_store::NewFeeAccount {
        waba_id: "W".into(),
        currency: parley_core::fees::Currency::parse("USD").map_err(anyhow::Error::msg)?,
        postpaid: true,
        credit_limit: parley_core::fees::Micros(1_000_000_000_000),
    };
    Ok(store.open_fee_account(ws, new, now).await?.id)
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The most arrivals (sorted) within any window `[t, t + width)`, and the index of the first.
pub fn busiest_window(sorted: &[Instant], width: Duration) -> (usize, usize) {
    let (mut best, mut best_start) = (0, 0);
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end].duration_since(sorted[start]) >= width {
            start += 1;
        }
        if end - start + 1 > best {
            (best, best_start) = (end - start + 1, start);
        }
    }
    (best, best_start)
}

/// Arrivals per 100 ms through the second starting at `sorted[from]`, and the longest gap
/// before it within the previous second: a gap then a crowd means something stalled.
fn profile(sorted: &[Instant], from: usize) -> (Vec<usize>, f64) {
    let Some(t0) = sorted.get(from) else { return (vec![], 0.0) };
    let mut buckets = vec![0; 10];
    for t in &sorted[from..] {
        let ms = t.duration_since(*t0).as_millis() as usize;
        if ms >= 1000 {
            break;
        }
        buckets[ms / 100] += 1;
    }
    let gap = sorted[..=from]
        .windows(2)
        .rev()
        .take_while(|w| t0.duration_since(w[0]) < Duration::from_secs(1))
        .map(|w| w[1].duration_since(w[0]).as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    (buckets, gap)
}

/// `parley admin bootstrap`; the owner's API token.
fn bootstrap(exe: &Path, db_args: &[String]) -> anyhow::Result<String> {
    let mut child = Command::new(exe)
        .args(db_args)
        .args(["admin", "bootstrap", "--workspace", "Bench", "--email", "bench@example.com"])
        .env("PARLEY_SECRET_KEY", SECRET_KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(b"dispatch bench password\n")?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "parley admin bootstrap failed");
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    Ok(answer["token"].as_str().context("no token in the bootstrap answer")?.to_owned())
}

/// Both server runs must open the same sealed channel secrets.
const SECRET_KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// A `parley serve` child process, stopped on drop.
struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    fn start(exe: &Path, args: &[String]) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(exe)
            .args(args)
            .arg("serve")
            .env("PARLEY_LOG", "warn,parley=info")
            // The sandbox plays Meta on loopback.
            .env("PARLEY_ALLOW_PROVIDER_HOSTS", "127.0.0.1")
            .env("PARLEY_SECRET_KEY", SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send(());
                } else {
                    eprintln!("  server: {line}");
                }
            }
        });
        let mut server = ServerProcess { child };
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            server.stop();
            bail!("parley serve did not start");
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// User + system CPU time of a process so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc (Linux only)")?;
    // Fields after the command name (which may hold spaces), counted from field 3.
    let fields: Vec<&str> = stat.rsplit_once(')').context("unexpected /proc stat")?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).context("utime")?
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).context("stime")?;
    Ok(ticks / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_second_is_found() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let arrivals = [at(0), at(100), at(999), at(1000), at(1500), at(1900), at(1999), at(3000)];
        // [999, 1999) holds 999, 1000, 1500, 1900: four; [1000, 2000) also holds 1999: four.
        assert_eq!(busiest_window(&arrivals, Duration::from_secs(1)), (4, 2));
        assert_eq!(busiest_window(&[], Duration::from_secs(1)), (0, 0));
        assert_eq!(busiest_window(&[at(5)], Duration::from_secs(1)), (1, 0));
        let (buckets, gap) = profile(&arrivals, 2);
        assert_eq!(buckets, [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(gap, 899.0);
    }
}

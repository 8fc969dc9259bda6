//! `parley bench inbox`: a workspace of a million contacts and conversations and ten million
//! messages (generated in the database, `parley_store::fixtures`), served by the real server on
//! loopback; then what an agent's screen asks for, one request at a time: the conversation list
//! under each filter, opening a thread, contact search and message search. Reports p50/p99
//! latency of each (HTTP round trip included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use parley_core::SystemClock;
use parley_server::AppState;
use parley_server::auth::issue_token;
use parley_server::secrets::SecretBox;
use parley_store::DatabaseUrl;
use parley_store::fixtures::{self, FIRST_NAMES, InboxSpec, LAST_NAMES};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

pub struct InboxBench {
    pub database_url: Option<String>,
    pub contacts: i64,
    pub conversations: i64,
    pub messages: i64,
    pub samples: usize,
    /// Leave the generated database (printed) instead of removing it, to look at query plans.
    pub keep: bool,
    /// Ledger entries of a fees account on the fixture's WABA (0: no fees scenarios).
    pub ledger: i64,
}

const AGENTS: i64 = 20;

pub async fn run(opts: InboxBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kept = opts.keep.then(|| dir.path().to_owned());
    let (url, schema) = match &opts.database_url {
        Some(u) => {
            let schema = format!("parley_bench_inbox_{}", std::process::id());
            admin_sql(u, &[format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), format!("CREATE SCHEMA {schema}")])
                .await?;
            (DatabaseUrl::Postgres(u.clone()), Some(schema))
        }
        None => (DatabaseUrl::Sqlite(dir.path().join("parley.db")), None),
    };
    let engine = if schema.is_some() { "postgres" } else { "sqlite" };
    let owner = issue_token("bench".into());
    let agents: Vec<_> = (0..AGENTS).map(|i| issue_token(format!("agent {i}"))).collect();
    let spec = InboxSpec {
        contacts: opts.contacts,
        conversations: opts.conversations,
        messages: opts.messages,
        agents: AGENTS,
        owner_token: owner.record.clone(),
        agent_tokens: agents.iter().map(|t| t.record.clone()).collect(),
        sealed_secrets: "unused".into(),
        phones_to_clean: false,
        ledger_entries: opts.ledger,
    };
    let started = Instant::now();
    let last_report = std::sync::Mutex::new(Instant::now());
    let progress = |what: &str, done: i64, total: i64| {
        let mut last = last_report.lock().expect("progress");
        if done == total || last.elapsed() > Duration::from_secs(5) {
            eprintln!("[{:>6.1} s] {what}: {done} of {total}", started.elapsed().as_secs_f64());
            *last = Instant::now();
        }
    };
    let (store, fixture) = fixtures::create_inbox(&url, schema.as_deref(), &spec, &progress).await?;
    let generated = started.elapsed().as_secs_f64();
    let size = database_size(&url, schema.as_deref()).await?;
    println!(
        "{}",
        json!({"engine": engine, "contacts": opts.contacts, "conversations": opts.conversations, "messages": opts.messages,
            "generated_in_s": (generated * 10.0).round() / 10.0, "database_mb": size / 1_000_000})
    );

    let state = AppState::new(store.clone(), Arc::new(SystemClock), SecretBox::random(), dir.path());
    let app = parley_server::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/v1", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let bench = Bench { client, base, owner: owner.secret, agents: agents.into_iter().map(|t| t.secret).collect() };
    let mut rng = StdRng::seed_from_u64(7);
    let c = opts.conversations;
    let per = (opts.messages / c.max(1)).max(1);
    let f = &fixture;

    let scenarios: Vec<(&str, Box<Scenario<'_>>)> = vec![
        ("list: all", Box::new(|_| (OWNER, vec!["/conversations?limit=50".into()]))),
        (
            "list: all, a page deep in",
            Box::new(move |r| {
                let at = r.random_range(1..=c);
                let cursor = format!("{}.{at}", fixtures_last_message_at(at, per));
                (OWNER, vec![format!("/conversations?limit=50&cursor={cursor}")])
            }),
        ),
        (
            "list: mine (agent)",
            Box::new(|r| (r.random_range(1..=AGENTS as usize), vec!["/conversations?limit=50&assignee=me".into()])),
        ),
        ("list: unassigned", Box::new(|_| (OWNER, vec!["/conversations?limit=50&assignee=none".into()]))),
        ("list: status open", Box::new(|_| (OWNER, vec!["/conversations?limit=50&status=open".into()]))),
        ("list: status pending", Box::new(|_| (OWNER, vec!["/conversations?limit=50&status=pending".into()]))),
        (
            "list: one channel",
            Box::new(move |_| (OWNER, vec![format!("/conversations?limit=50&channel={}", f.channels[1])])),
        ),
        ("list: tag", Box::new(|_| (OWNER, vec!["/conversations?limit=50&tag=vip".into()]))),
        ("list: team", Box::new(move |_| (OWNER, vec![format!("/conversations?limit=50&team={}", f.teams[1])]))),
        (
            "list: all (agent, private channel hidden)",
            Box::new(|r| (r.random_range(1..=AGENTS as usize), vec!["/conversations?limit=50".into()])),
        ),
        (
            "list: mine, open (agent)",
            Box::new(|r| {
                (r.random_range(1..=AGENTS as usize), vec!["/conversations?limit=50&assignee=me&status=open".into()])
            }),
        ),
        (
            "thread: open a conversation",
            Box::new(move |r| {
                let id = r.random_range(1..=c);
                (OWNER, vec![format!("/conversations/{id}"), format!("/conversations/{id}/messages?limit=50")])
            }),
        ),
        (
            "search contacts: first and last name",
            Box::new(|r| {
                let q = format!(
                    "{} {}",
                    FIRST_NAMES[r.random_range(0..FIRST_NAMES.len())],
                    LAST_NAMES[r.random_range(0..LAST_NAMES.len())]
                );
                (OWNER, vec![format!("/contacts?limit=20&q={}", encode(&q))])
            }),
        ),
        (
            "search contacts: phone digits",
            Box::new(move |r| {
                let contact = r.random_range(1..=c);
                let national = fixtures::contact_phone(contact).national_digits().to_owned();
                (OWNER, vec![format!("/contacts?limit=20&q={}", &national[..7])])
            }),
        ),
        (
            "search contacts: email",
            Box::new(move |r| {
                let contact = r.random_range(1..=c);
                (OWNER, vec![format!("/contacts?limit=20&q={}", encode(&email_of(contact)))])
            }),
        ),
        (
            "search messages: a common word",
            Box::new(|r| {
                let q = ["order", "refund", "commande", "hang", "delivery"][r.random_range(0..5usize)];
                (OWNER, vec![format!("/search/messages?limit=20&q={q}")])
            }),
        ),
        (
            "search messages: two words",
            Box::new(|r| {
                let q = ["don hang", "refund blue", "colis abime", "payment failed", "cancel subscription"]
                    [r.random_range(0..5usize)];
                (OWNER, vec![format!("/search/messages?limit=20&q={}", encode(q))])
            }),
        ),
        (
            "search messages: an order number",
            Box::new(|r| {
                let n = r.random_range(0..1_000_003);
                (OWNER, vec![format!("/search/messages?limit=20&q={n}")])
            }),
        ),
        (
            "search messages: agent, private channel hidden",
            Box::new(|r| {
                let q = ["order", "refund", "commande", "hang", "delivery"][r.random_range(0..5usize)];
                (r.random_range(1..=AGENTS as usize), vec![format!("/search/messages?limit=20&q={q}")])
            }),
        ),
        (
            "search: everything at once",
            Box::new(|r| {
                let q = ["nguyen", "refund", "pierre", "giao"][r.random_range(0..4usize)];
                (OWNER, vec![format!("/search?limit=20&q={q}")])
            }),
        ),
    ];
    let mut scenarios = scenarios;
    if let Some(account) = f.fee_account {
        // The ledger spans ~347 days from the fixture's start (3 s apart per 10 M entries); its
        // last month is the usage asked for.
        let last = parley_core::Timestamp::from_micros(1_700_000_000_000_000 + opts.ledger * 3_000_000);
        let day = |t: parley_core::Timestamp| t.to_rfc3339()[..10].to_owned();
        let (from, to) = (day(last.plus_secs(-29 * 86_400)), day(last));
        scenarios.push(("fees: balances (accounts)", Box::new(|_| (OWNER, vec!["/fees/accounts".into()]))));
        scenarios.push((
            "fees: ledger, newest 50",
            Box::new(move |_| (OWNER, vec![format!("/fees/accounts/{account}/entries?limit=50")])),
        ));
        scenarios.push((
            "fees: usage of the last 30 days by day",
            Box::new(move |_| (OWNER, vec![format!("/fees/accounts/{account}/usage?from={from}&to={to}")])),
        ));
    }
    for (name, sample) in &scenarios {
        // Warm-up requests are not counted; the first is reported (`first_ms`: cold caches,
        // and the fees usage's days summed for the first time).
        let mut first_ms = 0.0;
        for i in 0..5 {
            let (who, paths) = sample(&mut rng);
            let t = Instant::now();
            bench.get_all(who, &paths).await?;
            if i == 0 {
                first_ms = (t.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
            }
        }
        let mut took = Vec::with_capacity(opts.samples);
        for _ in 0..opts.samples {
            let (who, paths) = sample(&mut rng);
            let t = Instant::now();
            bench.get_all(who, &paths).await?;
            took.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        took.sort_by(f64::total_cmp);
        let pct = |p: f64| (took[((took.len() as f64 - 1.0) * p).round() as usize] * 100.0).round() / 100.0;
        println!(
            "{}",
            json!({"engine": engine, "scenario": name, "samples": took.len(), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                "max_ms": pct(1.0), "first_ms": first_ms})
        );
    }
    drop(store);
    match (schema, &opts.database_url) {
        (Some(schema), Some(_)) if opts.keep => eprintln!("kept: PostgreSQL schema {schema}"),
        (Some(schema), Some(u)) => admin_sql(u, &[format!("DROP SCHEMA {schema} CASCADE")]).await?,
        _ if opts.keep => {
            let _ = dir.keep();
            eprintln!("kept: {}", kept.unwrap_or_default().join("parley.db").display());
        }
        _ => {}
    }
    Ok(())
}

const OWNER: usize = 0;

/// One sample of a scenario: who asks (`OWNER` or agent n) and the request(s) it times.
type Sample = (usize, Vec<String>);
type Scenario<'a> = dyn Fn(&mut StdRng) -> Sample + 'a;

struct Bench {
    client: reqwest::Client,
    base: String,
    owner: String,
    agents: Vec<String>,
}

impl Bench {
    /// GETs each path as `who` (0: the owner, n: agent n-1); every answer must be 200 and JSON.
    async fn get_all(&self, who: usize, paths: &[String]) -> anyhow::Result<()> {
        let token = if who == OWNER { &self.owner } else { &self.agents[who - 1] };
        for path in paths {
            let r = self.client.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?;
            let status = r.status();
            let body: Value = r.json().await.with_context(|| format!("GET {path}"))?;
            anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        }
        Ok(())
    }
}

/// The fixture's last message time of conversation `c` (its list position).
fn fixtures_last_message_at(c: i64, per: i64) -> i64 {
    1_700_000_000_000_000 + c * 60_000_000 + (per - 1) * 1_000_000
}

fn email_of(contact: i64) -> String {
    let first = parley_core::search::search_words(FIRST_NAMES[(contact % FIRST_NAMES.len() as i64) as usize]);
    let last = parley_core::search::search_words(
        LAST_NAMES[((contact / FIRST_NAMES.len() as i64) % LAST_NAMES.len() as i64) as usize],
    );
    format!("{first}.{last}{contact}@example.com")
}

fn encode(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn admin_sql(url: &str, statements: &[String]) -> anyhow::Result<()> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.context("connecting to PostgreSQL")?;
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut admin).await?;
    }
    Ok(())
}

/// Bytes on disk: the SQLite file and its WAL, or the PostgreSQL schema's tables and indexes.
async fn database_size(url: &DatabaseUrl, schema: Option<&str>) -> anyhow::Result<u64> {
    Ok(match (url, schema) {
        (DatabaseUrl::Sqlite(path), _) => {
            let wal = path.with_extension("db-wal");
            std::fs::metadata(path)?.len() + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
        }
        (DatabaseUrl::Postgres(u), Some(schema)) => {
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(u).await?;
            let bytes: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            )
            .bind(schema)
            .fetch_one(&mut admin)
            .await?;
            bytes as u64
        }
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_email_is_what_its_search_words_hold() {
        assert_eq!(email_of(1), "bao.nguyen1@example.com");
        assert_eq!(email_of(26), "bao.tran26@example.com");
    }
}

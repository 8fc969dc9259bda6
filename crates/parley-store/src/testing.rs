//! Fresh databases for tests: a SQLite file in a temporary directory always, and a PostgreSQL
//! schema of its own when `PARLEY_TEST_DATABASE_URL` is set. Under `CI=true` that variable is
//! required, so a CI run can never silently skip PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;

use rand::Rng;
use sqlx::Connection;

use crate::{DatabaseUrl, Store, open_url};

pub const DATABASE_URL_VAR: &str = "PARLEY_TEST_DATABASE_URL";

/// Whether the tests run in CI: `CI` set to anything but empty, `0` or `false` (CI services set
/// `true` or `1`). There, what a developer's machine may lack (PostgreSQL, a browser) fails the
/// test instead of skipping it. Every test that can skip asks this one function.
pub fn running_in_ci() -> bool {
    ci_value_means_ci(std::env::var("CI").ok().as_deref())
}

/// `PARLEY_TEST_DATABASE_URL`, or `None` on a developer's machine without it. In CI a missing
/// URL fails the test (a PostgreSQL test must never skip there). Every test that runs on
/// PostgreSQL asks this one function, whether it uses [`TestDatabase`] or starts a process.
pub fn postgres_url() -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if running_in_ci() => panic!("CI=true but {DATABASE_URL_VAR} is not set: PostgreSQL tests must run in CI"),
        _ => None,
    }
}

fn ci_value_means_ci(value: Option<&str>) -> bool {
    value.map(str::trim).is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// One fresh, migrated database; dropped (file or schema) when this value is dropped.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    /// The PostgreSQL schema this test owns.
    pub schema: Option<String>,
    pub store: Arc<dyn Store>,
    dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Every engine this run tests: SQLite, plus PostgreSQL when configured.
    pub async fn all() -> Vec<TestDatabase> {
        let mut out = vec![TestDatabase::sqlite().await];
        if let Some(pg) = TestDatabase::postgres().await {
            out.push(pg);
        }
        out
    }

    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite(dir.path().join("parley.db"));
        let store = open_url(&url, None).await.expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDatabase { url, schema: None, store, dir: Some(dir) }
    }

    /// `None` when `PARLEY_TEST_DATABASE_URL` is unset (and we are not in CI).
    pub async fn postgres() -> Option<TestDatabase> {
        let url = postgres_url()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let schema = format!("parley_t_{now}_{:08x}", rand::rng().random::<u32>());
        let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect to PARLEY_TEST_DATABASE_URL");
        drop_stale_schemas(&mut admin, now).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        let db_url = DatabaseUrl::Postgres(url);
        let store = open_url(&db_url, Some(&schema)).await.expect("open PostgreSQL");
        store.migrate().await.expect("migrate PostgreSQL");
        Some(TestDatabase { url: db_url, schema: Some(schema), store, dir: None })
    }

    pub fn engine(&self) -> &'static str {
        self.store.engine()
    }

    /// The data directory of a SQLite test database.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().to_owned())
    }
}

/// Schemas of earlier runs that did not get to drop theirs (a killed test, a panic): anything
/// older than an hour is garbage.
async fn drop_stale_schemas(admin: &mut sqlx::PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'parley\\_t\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if created + 3600 < now {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                .execute(&mut *admin)
                .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (DatabaseUrl::Postgres(url), Some(schema)) = (&self.url, self.schema.take()) else { return };
        let url = url.clone();
        // Not joined: the test's runtime must keep running so the pool can roll back and release
        // its connections, or the DROP would wait on their locks. If the process exits first,
        // `drop_stale_schemas` collects the schema later.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query("SET lock_timeout = '10s'").execute(&mut conn).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        });
    }
}

/// A workspace `name` with its owner (`o@<name>.example`) and one shared Meta channel
/// (`PN-<name>`, account `WABA`, provider at a closed local port): what most store tests start
/// from. Answers the workspace, the owner and the channel.
pub async fn workspace_with_channel(
    store: &dyn Store,
    name: &str,
    now: parley_core::Timestamp,
) -> (parley_core::ids::WorkspaceId, parley_core::ids::UserId, parley_core::channel::Channel) {
    use parley_core::Email;
    use parley_core::account::Role;
    use parley_core::channel::{Provider, Visibility};
    let owner = crate::NewUser {
        email: Email::parse(&format!("o@{name}.example")).expect("a test email"),
        name: "O".into(),
        role: Role::Owner,
        password_hash: None,
    };
    let token = crate::NewToken { name: "t".into(), hash: format!("h-{name}"), prefix: "p".into() };
    let boot = store.bootstrap(name, owner, token, now).await.expect("bootstrap");
    let channel = crate::NewChannel {
        provider: Provider::Meta,
        name: "Main".into(),
        phone_number_id: format!("PN-{name}"),
        waba_id: "WABA".into(),
        display_phone_number: "15550001111".into(),
        graph_base_url: "http://127.0.0.1:1".into(),
        sealed_secrets: "sealed".into(),
        webhook_key: format!("key-{name}"),
        visibility: Visibility::Shared,
        throughput: 80,
    };
    let channel = store.create_channel(boot.workspace.id, channel, now).await.expect("a channel");
    (boot.workspace.id, boot.owner.id, channel)
}

/// An approved template `promo` of `category` (`UTILITY`, `MARKETING`, …) on the WABA of
/// `workspace_with_channel`, and `n` opted-in contacts `+<prefix><i, 5 digits>` nobody has
/// written to; their refs (`phone:+…`).
pub async fn template_audience(
    store: &dyn Store,
    ws: parley_core::ids::WorkspaceId,
    category: &str,
    prefix: &str,
    n: usize,
    now: parley_core::Timestamp,
) -> Vec<String> {
    use parley_core::contact::{ContactInput, ContactRef, NewContact};
    let promo = crate::ListedTemplate {
        name: "promo".into(),
        language: "en".into(),
        category: category.into(),
        status: "APPROVED".into(),
        components: serde_json::json!([]),
        provider_template_id: None,
        quality: None,
        rejected_reason: None,
        parameter_format: None,
    };
    store.sync_templates(ws, "WABA", &[promo], now).await.expect("templates");
    let mut refs = Vec::with_capacity(n);
    for i in 0..n {
        let phone = format!("+{prefix}{i:05}");
        let input: ContactInput = serde_json::from_value(serde_json::json!({"phone": phone})).expect("input");
        store.create_contact(ws, NewContact::from_input(input, None).expect("contact"), now).await.expect("contact");
        let to = format!("phone:{phone}");
        let opt_in = crate::NewOptIn {
            channel_id: None,
            source: "web form".into(),
            evidence: None,
            opted_in_at: now,
            recorded_by: None,
        };
        store.record_opt_in(ws, &ContactRef::parse(&to, None).expect("ref"), opt_in, now).await.expect("opt-in");
        refs.push(to);
    }
    refs
}

/// Queues (or, `dry_run`, judges) the template `promo` to `to` on `channel`, by Parley's rules
/// at `now`.
pub async fn send_promo(
    store: &dyn Store,
    ws: parley_core::ids::WorkspaceId,
    channel: &parley_core::channel::Channel,
    to: &str,
    dry_run: bool,
    now: parley_core::Timestamp,
) -> crate::SendOutcome {
    use parley_core::message::Content;
    use parley_core::outbound::OutboundMessage;
    let to = parley_core::contact::ContactRef::parse(to, None).expect("ref");
    let messages = [OutboundMessage {
        content: Content::Template { name: "promo".into(), language: "en".into(), components: vec![] },
        reply_to: None,
    }];
    let req = crate::SendRequest {
        ws,
        viewer: crate::Viewer::All,
        channel: channel.id,
        to: &to,
        messages: &messages,
        idempotency_key: None,
        author: None,
        dry_run,
        personalize: None,
    };
    store.queue_send(req, &|facts, m| parley_core::rules::judge(facts, m, now), now).await.expect("a send")
}

/// Sends `promo` to each of `recipients` at once, each in its own task; the outcomes in the
/// recipients' order.
pub async fn send_promos_at_once(
    store: std::sync::Arc<dyn Store>,
    ws: parley_core::ids::WorkspaceId,
    channel: parley_core::channel::Channel,
    recipients: &[String],
    now: parley_core::Timestamp,
) -> Vec<crate::SendOutcome> {
    let channel = std::sync::Arc::new(channel);
    let tasks: Vec<_> = recipients
        .iter()
        .cloned()
        .map(|to| {
            let (store, channel) = (store.clone(), channel.clone());
            tokio::spawn(async move { send_promo(&*store, ws, &channel, &to, false, now).await })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("a send task"));
    }
    outcomes
}

#[cfg(test)]
mod ci_tests {
    #[test]
    fn ci_is_any_value_but_empty_zero_or_false() {
        for (value, ci) in
            [(None, false), (Some(""), false), (Some("0"), false), (Some("false"), false), (Some("FALSE"), false)]
        {
            assert_eq!(super::ci_value_means_ci(value), ci, "{value:?}");
        }
        for value in ["true", "1", "yes", "woodpecker"] {
            assert!(super::ci_value_means_ci(Some(value)), "{value}");
        }
    }
}

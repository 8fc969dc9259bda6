//! What the process-level tests share: running the real `parley` binary, killing it, and wiring
//! a channel to an in-process sandbox.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parley_sandbox::Sandbox;

pub const BIN: &str = env!("CARGO_BIN_EXE_parley");

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Server {
    args: Vec<String>,
    child: Option<Child>,
}

impl Server {
    pub fn start(args: Vec<String>) -> Server {
        let mut s = Server { args, child: None };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let mut child = Command::new(BIN)
            .args(&self.args)
            .arg("serve")
            .env("PARLEY_LOG", "warn,parley=info")
            // The sandbox plays Meta on loopback.
            .env("PARLEY_ALLOW_PROVIDER_HOSTS", "127.0.0.1")
            .env("PARLEY_SECRET_KEY", "42".repeat(32))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for "listening" so kills land on a working server.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60)).expect("server started");
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL: no graceful shutdown, no flush, mid-transaction.
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Connects the sandbox's number `PN-CRASH` to the server at `base`: the channel made through
/// the API, the number added to the sandbox with the channel's webhook URL.
pub async fn connect_number(base: &str, token: &str, sandbox: &Sandbox) {
    let path = create_channel(base, token, sandbox).await;
    sandbox.add_number(parley_sandbox::Number {
        phone_number_id: "PN-CRASH".into(),
        waba_id: "W".into(),
        display_phone_number: "15550001111".into(),
        access_token: "tok".into(),
        app_secret: "crash-secret".into(),
        webhook_url: format!("{base}{path}"),
    });
}

async fn create_channel(base: &str, token: &str, sandbox: &Sandbox) -> String {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = client
            .post(format!("{base}/api/v1/channels"))
            .bearer_auth(token)
            .json(&serde_json::json!({"provider": "meta", "name": "Crash", "phone_number_id": "PN-CRASH", "waba_id": "W",
                "display_phone_number": "15550001111", "access_token": "tok", "app_secret": "crash-secret", "verify_token": "v",
                "graph_base_url": sandbox.graph_base_url()}))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 201 => {
                let body: serde_json::Value = r.json().await.unwrap();
                return body["webhook_path"].as_str().unwrap().to_owned();
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("cannot create the channel: {other:?}"),
        }
    }
}

/// `parley serve` over `db_args` (plus `extra`) on a free loopback port, after a bootstrap: the
/// server, its base URL and the owner's API token.
pub fn serve(db_args: &[String], extra: &[&str]) -> (Server, String, String) {
    let port = free_port();
    let token = bootstrap(db_args);
    let mut args = db_args.to_vec();
    args.extend(["--listen".to_owned(), format!("127.0.0.1:{port}")]);
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    (Server::start(args), format!("http://127.0.0.1:{port}"), token)
}

/// `parley admin bootstrap` with `args`; the API token.
pub fn bootstrap(args: &[String]) -> String {
    let mut boot = Command::new(BIN)
        .args(args)
        .args(["admin", "bootstrap", "--workspace", "Crash", "--email", "crash@example.com"])
        .env("PARLEY_SECRET_KEY", "42".repeat(32))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    boot.stdin.take().unwrap().write_all(b"crash test password\n").unwrap();
    let out = boot.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["token"].as_str().unwrap().to_owned()
}

/// A PostgreSQL schema of its own for a test that runs the real binary against
/// `PARLEY_TEST_DATABASE_URL` (`None` on a developer's machine without it; CI requires it), and
/// the arguments that point `parley` at it with a fresh data dir. `drop` removes the schema.
pub struct PgSchema {
    /// The database URL confined to the schema (`search_path`).
    pub url: String,
    pub args: Vec<String>,
    admin: sqlx::PgConnection,
    name: String,
    _dir: tempfile::TempDir,
}

impl PgSchema {
    pub async fn create(label: &str) -> Option<PgSchema> {
        use sqlx::Connection;
        let url = parley_store::testing::postgres_url()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        // `parley_t_` schemas left by a killed run are dropped by later runs and `.ci/run`.
        let name = format!("parley_t_{now}_{label}{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&mut admin).await.unwrap();
        let scoped = format!("{url}{}options=-csearch_path%3D{name}", if url.contains('?') { "&" } else { "?" });
        let dir = tempfile::tempdir().unwrap();
        let args = vec![
            "--data-dir".to_owned(),
            dir.path().to_str().unwrap().to_owned(),
            "--database-url".to_owned(),
            scoped.clone(),
        ];
        Some(PgSchema { url: scoped, args, admin, name, _dir: dir })
    }

    pub async fn drop(mut self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut self.admin).await.unwrap();
    }
}

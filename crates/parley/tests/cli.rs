//! The `parley` binary end to end: bootstrap a workspace, serve it on a random port, call the
//! API with the printed token; configuration errors; the phone normalizer.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

fn parley(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("PARLEY_DATABASE_URL")
        .env_remove("PARLEY_LISTEN")
        .env_remove("PARLEY_DATA_DIR")
        .env_remove("PARLEY_CONFIG");
    cmd
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> std::process::Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Starts `parley serve` and returns it with the address it logged.
fn serve(args: &[&str]) -> (Child, String) {
    let mut child = parley(args).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("server logged its address");
    (child, addr)
}

#[test]
fn version_and_help() {
    let out = parley(&["version"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("parley "));
    for sub in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["admin", "bootstrap", "--help"],
        &["phone", "normalize", "--help"],
        &["version", "--help"],
        &["demo", "--help"],
    ] {
        let out = parley(sub).output().unwrap();
        assert!(out.status.success(), "{sub:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{sub:?}");
    }
}

#[test]
fn phone_normalize_streams_lines() {
    let out = run_with_stdin(parley(&["phone", "normalize"]), "+33 6 12 34 56 78\n0612345678\n00 84 912 345 678\n");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "+33612345678",
            "INVALID\tthe number has no country code (write it with + or 00 and the country code)",
            "+84912345678"
        ]
    );
    let out = run_with_stdin(parley(&["phone", "normalize", "--region", "FR"]), "0612345678\n");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "+33612345678\n");
    let out = run_with_stdin(parley(&["phone", "normalize", "--region", "Narnia"]), "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--region"));
}

#[test]
fn bootstrap_then_serve_then_call_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run_with_stdin(
        parley(&["--data-dir", data, "admin", "bootstrap", "--workspace", "Acme", "--email", "Owner@Acme.example"]),
        "a long enough password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line on stdout");
    let token = line["token"].as_str().unwrap().to_owned();
    assert!(line["workspace_id"].is_i64() && line["user_id"].is_i64());

    // No password, or a weak one: refused, nothing created.
    let out = run_with_stdin(
        parley(&["--data-dir", data, "admin", "bootstrap", "--workspace", "B", "--email", "b@b.example"]),
        "",
    );
    assert!(!out.status.success());
    let out = run_with_stdin(
        parley(&["--data-dir", data, "admin", "bootstrap", "--workspace", "B", "--email", "b@b.example"]),
        "short\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));

    let (mut server, addr) = serve(&["--data-dir", data, "--listen", "127.0.0.1:0", "serve"]);
    // A second server on the same SQLite file is refused with a clear message.
    let second = parley(&["--data-dir", data, "--listen", "127.0.0.1:0", "serve"]).output().unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by another Parley process"));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let me = loop {
            match client.get(format!("http://{addr}/api/v1/me")).bearer_auth(&token).send().await {
                Ok(r) => break r,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("{e}"),
            }
        };
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["user"]["email"], "owner@acme.example");
        assert_eq!(me["workspace"]["name"], "Acme");
        let created = client
            .post(format!("http://{addr}/api/v1/contacts"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"phone": "0033612345678"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let ready = client.get(format!("http://{addr}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
    });
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn configuration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = parley(&["--database-url", "mysql://root@localhost/x", "migrate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL scheme \"mysql\""));
    let config = dir.path().join("parley.toml");
    std::fs::write(&config, "lisen = 1\n").unwrap();
    let out = parley(&["--config", config.to_str().unwrap(), "migrate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
    // Environment variables configure too.
    let out = parley(&["migrate"]).env("PARLEY_DATABASE_URL", "oracle://x").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("oracle"));
}

#[test]
fn migrate_on_postgres_when_configured() {
    let Some(url) = parley_store::testing::postgres_url() else { return };
    // Migrations are idempotent: running them against the shared test database twice is safe
    // only in a schema of our own.
    let schema = format!("parley_cli_{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(exec(&url, format!("CREATE SCHEMA IF NOT EXISTS {schema}")));
    let scoped = format!("{url}{}options=-csearch_path%3D{schema}", if url.contains('?') { "&" } else { "?" });
    for _ in 0..2 {
        let out = parley(&["--database-url", &scoped, "migrate"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    }
    rt.block_on(exec(&url, format!("DROP SCHEMA {schema} CASCADE")));
}

async fn exec(url: &str, sql: String) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
}

#[test]
fn contact_files_go_in_and_out_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let boot = run_with_stdin(
        parley(&["--data-dir", data, "admin", "bootstrap", "--workspace", "Acme", "--email", "o@acme.example"]),
        "correct horse battery\n",
    );
    assert!(boot.status.success(), "{}", String::from_utf8_lossy(&boot.stderr));
    let file = dir.path().join("in.csv");
    std::fs::write(
        &file,
        "Name;Mobile;Email\nAna;+33 6 12 34 56 78;Ana@X.com\nBob;12;bob@x.com\nCy;0044 7911 123456;\n",
    )
    .unwrap();
    let rejects = dir.path().join("rejects.csv");
    let json = |out: &std::process::Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let imported = json(
        &parley(&[
            "--data-dir",
            data,
            "contacts",
            "import",
            file.to_str().unwrap(),
            "--workspace",
            "1",
            "--map",
            "Mobile=phone",
            "--rejects",
            rejects.to_str().unwrap(),
        ])
        .output()
        .unwrap(),
    );
    assert_eq!((imported["created"].as_i64(), imported["rejected"].as_i64()), (Some(2), Some(1)), "{imported}");
    let refused = std::fs::read_to_string(&rejects).unwrap();
    assert!(refused.lines().nth(1).unwrap().starts_with("3,Mobile,12,invalid_phone"), "{refused}");

    let out_file = dir.path().join("out.csv");
    let export =
        parley(&["--data-dir", data, "contacts", "export", "--workspace", "1", "--output", out_file.to_str().unwrap()])
            .output()
            .unwrap();
    assert!(export.status.success());
    let exported = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(exported.lines().count(), 3, "{exported}");
    // A spreadsheet would read +33… as a formula: the cell is written as text ('), read back as it was.
    assert!(exported.contains(",Ana,'+33612345678,ana@x.com,"), "{exported}");
    // Read back by id: nothing changes, and a second export is the same file.
    let again = json(
        &parley(&[
            "--data-dir",
            data,
            "contacts",
            "import",
            out_file.to_str().unwrap(),
            "--workspace",
            "1",
            "--identifier",
            "id",
            "--mode",
            "update",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!((again["unchanged"].as_i64(), again["updated"].as_i64()), (Some(2), Some(0)), "{again}");
    let second = parley(&["--data-dir", data, "contacts", "export", "--workspace", "1"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&second.stdout), exported);

    let dry = json(
        &parley(&["--data-dir", data, "contacts", "normalize", "--workspace", "1", "--dry-run"]).output().unwrap(),
    );
    assert_eq!((dry["contacts_seen"].as_u64(), dry["cleaned"].as_u64()), (Some(2), Some(0)));
    let dedupe = json(&parley(&["--data-dir", data, "contacts", "dedupe", "--workspace", "1"]).output().unwrap());
    assert_eq!(dedupe["new_suggestions"], 0);

    let missing = parley(&["--data-dir", data, "contacts", "import", "nope.csv", "--workspace", "1"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.csv"));
    let other = parley(&["--data-dir", data, "contacts", "export", "--workspace", "9"]).output().unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("workspace 9"));
}

#[test]
fn rate_cards_go_in_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let meta = dir.path().join("meta-2026-10.csv");
    std::fs::write(
        &meta,
        "WhatsApp Business Platform rate card\nMarket,Currency,Marketing,Utility,Authentication,Service\n\
         Brazil,USD,$0.0625,$0.0068,$0.0068,$0.0068\nOther,USD,$0.0604,$0.0077,$0.0077,$0.0077\n",
    )
    .unwrap();
    let import = |file: &std::path::Path, effective: &str| {
        let file = file.to_str().unwrap();
        parley(&["--data-dir", data, "fees", "rates", "import", file, "--currency", "USD", "--effective", effective])
            .output()
            .unwrap()
    };
    let out = import(&meta, "2026-10-01");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("USD PMP from 2026-10-01T00:00:00.000000Z, 8 lines"), "{said}");

    // The same start again: refused; a bad file: every problem, nothing kept.
    let out = import(&meta, "2026-10-01");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already takes effect"));
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "market,category,rate\nBrazil,promo,0.1\nBrazil,utility,abc\n").unwrap();
    let out = import(&bad, "2027-01-01");
    assert!(!out.status.success());
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("row 2") && errors.contains("row 3") && errors.contains("2 problems"), "{errors}");

    let out = parley(&["--data-dir", data, "fees", "rates", "list"]).output().unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("meta-2026-10.csv") && !listed.contains("SAMPLE"), "{listed}");
}

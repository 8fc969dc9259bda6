//! `parley admin …`: workspace administration from the shell.

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use parley_core::{Clock, SystemClock};
use serde_json::json;

use crate::config::Config;

/// `parley admin bootstrap`: creates a workspace, its owner (password read from stdin) and an
/// API token, and prints `{"workspace_id":…,"user_id":…,"token":"…"}`.
pub async fn bootstrap(config: &Config, workspace: &str, email: &str) -> anyhow::Result<()> {
    let password = read_password()?;
    let store = parley_store::open(&config.database).await?;
    let out = parley_server::admin::bootstrap(&*store, workspace, email, password, SystemClock.now())
        .await
        .map_err(|e| anyhow::anyhow!("{}{}", e.field.map(|f| format!("{f}: ")).unwrap_or_default(), e.message))?;
    let line = json!({
        "workspace_id": out.created.workspace.id,
        "user_id": out.created.owner.id,
        "token": out.token,
    });
    println!("{line}");
    Ok(())
}

/// The owner's password: the first line of stdin (a prompt is shown when stdin is a terminal).
fn read_password() -> anyhow::Result<String> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        eprint!("Owner password: ");
        io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on stdin: pipe the owner's password, e.g. `echo \"$PASSWORD\" | parley admin bootstrap …`");
    }
    Ok(password)
}

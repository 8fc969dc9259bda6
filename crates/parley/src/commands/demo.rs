//! `parley demo`: Parley on SQLite in `./parley-demo` with a demo workspace, an owner and a few
//! contacts, so the whole API can be tried at once. Re-running keeps the data and issues a fresh
//! token. (The sandbox and the inbox join the demo as they are built.)

use std::sync::Arc;

use anyhow::Context;
use parley_core::contact::{ContactInput, NewContact};
use parley_core::{Clock, Email, SystemClock};
use parley_server::AppState;
use parley_server::auth::issue_token;
use parley_store::{DatabaseUrl, Store};
use serde_json::json;
use tokio::net::TcpListener;

use crate::commands::serve::shutdown_signal;
use crate::config::Config;

pub const DEMO_EMAIL: &str = "demo@parley.local";
pub const DEMO_PASSWORD: &str = "parley-demo-password";

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let store = parley_store::open(&config.database).await.context("opening the demo database")?;
    let token = demo_token(&*store).await?;
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let db = match &config.database {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        other => other.redacted(),
    };
    println!("Parley demo is running at http://{addr}  (database: {db})");
    println!("  login:     {DEMO_EMAIL} / {DEMO_PASSWORD}");
    println!("  API token: {token}");
    println!("  try:       curl -H 'Authorization: Bearer {token}' 'http://{addr}/api/v1/contacts?q=ana'");
    println!("  API docs:  http://{addr}/api/openapi.json");
    println!("Press Ctrl-C to stop.");
    let state = AppState { store, clock: Arc::new(SystemClock) };
    parley_server::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// Bootstraps the demo workspace on first run; afterwards issues a new token for its owner.
async fn demo_token(store: &dyn Store) -> anyhow::Result<String> {
    let now = SystemClock.now();
    let email = Email::parse(DEMO_EMAIL)?;
    if let Some((owner, _)) = store.user_for_login(&email).await? {
        let issued = issue_token("demo".into());
        store.create_token(owner.workspace_id, owner.id, issued.record, now).await?;
        return Ok(issued.secret);
    }
    let boot = parley_server::admin::bootstrap(store, "Demo Café", DEMO_EMAIL, DEMO_PASSWORD.into(), now)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let ws = boot.created.workspace.id;
    let people = [
        json!({"name": "Ana Lopez", "phone": "+34 612 345 678", "email": "ana@example.com", "tags": ["vip"], "fields": {"city": "Madrid"}}),
        json!({"name": "Nguyễn Văn An", "phone": "+84 912 345 678", "tags": ["lead"], "fields": {"city": "Hà Nội"}}),
        json!({"name": "Élodie Martin", "phone": "0033 6 12 34 56 78", "email": "Elodie.Martin@example.fr", "tags": ["lead"]}),
        json!({"name": "João Silva", "phone": "55 11 91234-5678", "fields": {"plan": "pro"}}),
        json!({"name": "Sam Carter", "phone": "+1 (202) 555-0173", "email": "sam@example.com"}),
    ];
    for person in people {
        let input: ContactInput = serde_json::from_value(person)?;
        store.create_contact(ws, NewContact::from_input(input, None)?, now).await?;
    }
    Ok(boot.token)
}

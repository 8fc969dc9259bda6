//! `parley serve` and `parley migrate`.

use std::sync::Arc;

use anyhow::Context;
use parley_core::SystemClock;
use parley_server::AppState;
use parley_server::secrets::{KEY_ENV, SecretBox};
use parley_store::Store;
use tokio::net::TcpListener;

use crate::config::Config;

/// Opens the store (creating the data dir and applying migrations).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    // Owner-only, before anything (database, key file, media) is written into it.
    parley_store::create_private_dir(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    tracing::info!(database = %config.database.redacted(), "opening the database");
    let store = parley_store::open(&config.database).await.context("opening the database")?;
    Ok(store)
}

/// The key that seals channel credentials: `PARLEY_SECRET_KEY`, or a key file in the data dir.
pub fn secret_box(config: &Config) -> anyhow::Result<SecretBox> {
    Ok(SecretBox::load(std::env::var(KEY_ENV).ok().as_deref(), &config.data_dir)?)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    println!("migrations applied: {}", config.database.redacted());
    Ok(())
}

pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "Parley is listening; API docs at http://{addr}/api/openapi.json");
    let mut state = AppState::new(store, Arc::new(SystemClock), secret_box(config)?, &config.data_dir);
    state.dispatch.send_timeout = config.send_timeout;
    state.server_id = server_id(&config.data_dir)?;
    state.trusted_proxies = config.trusted_proxies.clone();
    configure_outbound_and_uploads(&mut state, config);
    configure_payments_and_mail(&mut state, config)?;
    parley_server::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// This server's id, kept in `<data dir>/server.id` (created on first start): a restarted
/// server takes back at once the leases it held. Servers sharing a PostgreSQL database each need
/// their own data dir.
pub fn server_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("server.id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = format!("{:016x}", rand::random::<u64>());
            std::fs::write(&path, &id).with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
    }
}

/// The outbound guard's allow-list and the upload quotas from the configuration.
pub fn configure_outbound_and_uploads(state: &mut AppState, config: &Config) {
    if !config.allow_provider_hosts.is_empty() {
        tracing::warn!(hosts = ?config.allow_provider_hosts, "provider calls may reach hosts besides Meta's (allow_provider_hosts)");
    }
    state.allow_provider_hosts(config.allow_provider_hosts.clone());
    state.upload_limiter = parley_server::uploads::UploadLimiter::new(config.upload_quota);
}

/// Card payments and mail from the configuration (after the allow-list is set: Stripe's base
/// URL passes the outbound guard).
pub fn configure_payments_and_mail(state: &mut AppState, config: &Config) -> anyhow::Result<()> {
    state.public_url = config.public_url.clone();
    if let Some(stripe) = &config.stripe {
        let payments =
            parley_server::payments::Payments::new(stripe, &state.outbound.allow).map_err(anyhow::Error::msg)?;
        state.payments = Some(Arc::new(payments));
    }
    if let Some(mail) = &config.mail {
        state.mailer = Some(Arc::new(parley_server::mail::Mailer::new(mail).map_err(anyhow::Error::msg)?));
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

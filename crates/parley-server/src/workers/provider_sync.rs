//! The safety net behind webhooks: every so often, each live number's fields (quality, status,
//! limit tier, throughput, name) are read from the provider, and each business account's
//! templates are synced. A missed or lost webhook is caught up here; what changed becomes
//! events and notifications like a webhook's would.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;
use crate::actions::{self, Actor};

#[derive(Clone, Debug)]
pub struct ProviderSyncConfig {
    /// Reading each number's fields (Meta's management rate limit is 200 calls/hour per WABA).
    pub health_every: Duration,
    pub templates_every: Duration,
}

impl Default for ProviderSyncConfig {
    fn default() -> Self {
        ProviderSyncConfig { health_every: Duration::from_secs(15 * 60), templates_every: Duration::from_secs(60 * 60) }
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub numbers_checked: u32,
    pub accounts_synced: u32,
    pub failures: u32,
}

/// Checks every live number (`health`) and syncs every business account's templates
/// (`templates`) once. Failures are logged and counted; the next round tries again.
pub async fn sync_once(state: &AppState, health: bool, templates: bool) -> RoundReport {
    let mut report = RoundReport::default();
    let channels = match state.store.live_channels().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list channels for the provider check");
            report.failures += 1;
            return report;
        }
    };
    let mut accounts = HashSet::new();
    for channel in &channels {
        let parley = Actor::system(channel.workspace_id);
        // Number health is read from Meta's Graph API; Twilio reports none to poll.
        if health && channel.provider.graph_api() {
            match actions::channels::refresh_health(state, &parley, channel).await {
                Ok(_) => report.numbers_checked += 1,
                Err(e) => {
                    tracing::warn!(channel = channel.id.get(), error = %e.message, "number check failed");
                    report.failures += 1;
                }
            }
        }
        if templates && accounts.insert((channel.workspace_id, channel.waba_id.clone())) {
            match actions::channels::sync_templates(state, &parley, channel).await {
                Ok(_) => report.accounts_synced += 1,
                Err(e) => {
                    tracing::warn!(channel = channel.id.get(), error = %e.message, "template sync failed");
                    report.failures += 1;
                }
            }
        }
    }
    report
}

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let config = state.provider_sync.clone();
    // The first rounds come one period after start: a fresh start has nothing stale yet.
    let mut health = tokio::time::interval_at(tokio::time::Instant::now() + config.health_every, config.health_every);
    let mut templates =
        tokio::time::interval_at(tokio::time::Instant::now() + config.templates_every, config.templates_every);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    templates.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = health.tick() => { sync_once(&state, true, false).await; }
            _ = templates.tick() => { sync_once(&state, false, true).await; }
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

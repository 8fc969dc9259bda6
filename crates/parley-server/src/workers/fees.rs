//! The fees worker: settles the sends held on fee accounts once their status is final — a
//! charge at delivery, a release at failure (`parley-store`, `sql/fee_charges.rs`); asks Stripe
//! for the auto-recharges the ledger requested (`payments.rs`); reconciles each account's past
//! day with the provider (`reconcile.rs`); the alerts settling raises are mailed by the mail
//! worker (`mail.rs`). It wakes when webhooks are applied (statuses come with them) and every few
//! seconds; settling is exactly once whichever server does it, and so is each recharge
//! (claimed with a lease, asked with an idempotency key).

use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;

const POLL: Duration = Duration::from_secs(5);
const LINGER: Duration = Duration::from_millis(200);
/// Sends settled per transaction: short enough not to hold the writer (SQLite) for long.
const AT_ONCE: u32 = 100;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut appended = state.events_appended.subscribe();
    loop {
        // Alerts settling raises are events; the webhooks' followers poll for them (a wake-up
        // per pass would wake every worker for every status).
        loop {
            match state.store.settle_fees(state.clock.now(), AT_ONCE).await {
                Ok(n) if n == u64::from(AT_ONCE) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot settle fees");
                    break;
                }
            }
        }
        if let Err(e) = crate::payments::ask_recharges(&state).await {
            tracing::warn!(error = %e, "cannot ask for auto-recharges");
        }
        if let Err(e) = crate::reconcile::reconcile_due(&state).await {
            tracing::warn!(error = %e, "cannot reconcile fees");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = appended.changed() => {
                // Statuses come in bursts: a moment's wait settles a burst in one pass.
                tokio::time::sleep(LINGER).await;
            }
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

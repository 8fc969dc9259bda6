//! The fees worker: settles the sends held on fee accounts once their status is final — a
//! charge at delivery, a release at failure (`parley-store`, `sql/fee_charges.rs`). It wakes
//! when webhooks are applied (statuses come with them) and every few seconds; settling is
//! exactly once whichever server does it.

use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;

const POLL: Duration = Duration::from_secs(5);
const AT_ONCE: u32 = 500;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut appended = state.events_appended.subscribe();
    loop {
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
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = appended.changed() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

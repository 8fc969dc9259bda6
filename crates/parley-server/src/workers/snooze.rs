//! Wakes snoozed conversations when their time comes (the clock is the injected one, so tests
//! move it instead of waiting).

use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;

const POLL: Duration = Duration::from_secs(1);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = state.store.wake_snoozed(state.clock.now()).await {
            tracing::warn!(error = %e, "cannot wake snoozed conversations");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

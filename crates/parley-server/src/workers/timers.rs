//! Conversation timers on the injected clock (tests move it instead of waiting): snoozed
//! conversations wake when their time comes (checked every second), and conversations an agent
//! answered without a reply close after the workspace's auto-close hours (checked once the clock
//! moved a minute since the last check), and bots hand conversations over to the team
//! (`handover.rs`, every pass), and numbers make the moves planned for now
//! (`actions::channel_moves::run_due`), and journaled webhooks that their server left are
//! applied (`journal::sweep`, once the clock moved a minute since the last sweep).

use std::time::Duration;

use parley_core::Timestamp;
use tokio::sync::watch;

use crate::AppState;

const POLL: Duration = Duration::from_secs(1);
const AUTO_CLOSE_EVERY_SECS: i64 = 60;
const JOURNAL_SWEEP_EVERY_SECS: i64 = 60;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut last_auto_close: Option<Timestamp> = None;
    let mut typing_shown = std::collections::HashSet::new();
    let mut moves: Option<tokio::task::JoinHandle<()>> = None;
    let mut last_sweep: Option<Timestamp> = None;
    loop {
        let now = state.clock.now();
        if let Err(e) = state.store.wake_snoozed(now).await {
            tracing::warn!(error = %e, "cannot wake snoozed conversations");
        }
        if last_auto_close.is_none_or(|t| now.as_secs() - t.as_secs() >= AUTO_CLOSE_EVERY_SECS) {
            match state.store.auto_close_idle(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(closed = n, "auto-closed conversations without a reply"),
                Err(e) => tracing::warn!(error = %e, "cannot auto-close conversations"),
            }
            last_auto_close = Some(now);
        }
        // Moves between providers planned for now or earlier: on their own task (a move calls
        // the providers), one pass at a time, so the timers above never wait for one.
        if moves.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
            let state = state.clone();
            moves = Some(tokio::spawn(async move { crate::actions::channel_moves::run_due(&state).await }));
        }
        // Part of the pass (one read of the journal when nothing was left), so that a pass after the
        // clock moved has swept; applying what a stopped server left delays it once.
        if last_sweep.is_none_or(|t| now.as_secs() - t.as_secs() >= JOURNAL_SWEEP_EVERY_SECS) {
            if let Err(e) = crate::journal::sweep(&state, now).await {
                tracing::warn!(error = %e, "cannot sweep the inbound journal");
            }
            last_sweep = Some(now);
        }
        if let Err(e) = crate::workers::handover::check(&state, now, &mut typing_shown).await {
            tracing::warn!(error = %e.message, "cannot check the bots' hand-overs");
        }
        state.timer_passes.send_modify(|passes| *passes += 1);
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

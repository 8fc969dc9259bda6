//! Background workers: they run beside the HTTP server in the same process and stop with it.

pub mod bot_answers;
pub mod dispatch;
pub mod fees;
pub mod handover;
pub mod imports;
pub mod mail;
pub mod media;
pub mod outgoing;
pub mod pacing;
pub mod provider_sync;
pub mod timers;
pub mod workflows;

use tokio::sync::watch;

/// Starts every worker; they stop when `shutdown` turns true.
pub fn spawn_all(state: crate::AppState, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(media::run(state.clone(), shutdown.clone())),
        tokio::spawn(imports::run(state.clone(), shutdown.clone())),
        tokio::spawn(provider_sync::run(state.clone(), shutdown.clone())),
        tokio::spawn(timers::run(state.clone(), shutdown.clone())),
        tokio::spawn(bot_answers::run(state.clone(), shutdown.clone())),
        tokio::spawn(workflows::run(state.clone(), shutdown.clone())),
        tokio::spawn(workflows::run_steps(state.clone(), shutdown.clone())),
        tokio::spawn(outgoing::run(state.clone(), shutdown.clone())),
        tokio::spawn(fees::run(state.clone(), shutdown.clone())),
        tokio::spawn(mail::run(state.clone(), shutdown.clone())),
        tokio::spawn(dispatch::run(state, shutdown)),
    ]
}

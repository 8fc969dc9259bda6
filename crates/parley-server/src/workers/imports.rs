//! The import worker: takes queued imports (uploaded through the API) one at a time, and
//! resumes running ones whose worker died (their lease ran out), after their last committed
//! batch. On shutdown it stops between batches; the import resumes on the next start.

use std::ops::ControlFlow;
use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;
use crate::contacts_io::{ImportError, LEASE, run_import};

const POLL: Duration = Duration::from_secs(1);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = state.clock.now();
        let lease = parley_core::Timestamp::from_micros(now.as_micros() + LEASE.as_micros() as i64);
        match state.store.claim_import(now, lease).await {
            Ok(Some(import)) => {
                let (id, ws) = (import.id, import.workspace_id);
                let region = match state.store.workspace(ws).await {
                    Ok(w) => w.default_region.as_deref().and_then(parley_core::phone::parse_region),
                    Err(e) => {
                        tracing::warn!(import = id, error = %e, "cannot read the import's workspace");
                        None
                    }
                };
                let stop = shutdown.clone();
                let mut on_batch = move |_: &parley_store::Import| {
                    if *stop.borrow() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                };
                match run_import(&*state.store, &*state.clock, import, region, &mut on_batch).await {
                    Ok(done) => {
                        tracing::info!(import = id, state = ?done.state, created = done.created, updated = done.updated,
                            rejected = done.rejected, "import finished");
                        // The uploaded file is not needed any more (the report stays).
                        if done.path.starts_with(&*state.imports_dir.to_string_lossy()) {
                            let _ = tokio::fs::remove_file(&done.path).await;
                        }
                    }
                    Err(ImportError::Stopped) => return,
                    Err(e) => tracing::warn!(import = id, error = %e, "import interrupted; it resumes later"),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot look for imports"),
        }
        tokio::select! {
            _ = state.imports_wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

//! The runner: leases the runs whose step is due and takes their steps (`steps.rs`), each run
//! in its own task. It never waits for a batch to finish before claiming the next: a run whose
//! HTTP call takes its 47 s holds one place, not the server's runs. Places are shared — at most
//! `GOING_AT_ONCE` runs go at once on a server, `PER_WORKSPACE` of them one workspace's — so a
//! workspace whose runs wait on slow calls never holds up another's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::Timestamp;
use parley_core::ids::WorkspaceId;
use parley_core::workflow::{Action, Definition, Facts, Memory, Step, next_after, parse};
use parley_store::{Run, RunMove, RunShare, RunStep};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::steps::{self, Then};
use super::{POLL, facts};
use crate::AppState;
use crate::error::ApiResult;

const RUN_LEASE_SECS: i64 = 60;
/// Runs going at once on one server.
const GOING_AT_ONCE: u32 = 20;
/// Runs of one workspace going at once on one server.
const PER_WORKSPACE: u32 = 10;

type Definitions = HashMap<(i64, i64), Option<Definition>>;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut going: JoinSet<()> = JoinSet::new();
    let mut workspaces: HashMap<tokio::task::Id, WorkspaceId> = HashMap::new();
    let mut share = RunShare { limit: GOING_AT_ONCE, per_workspace: PER_WORKSPACE, going: HashMap::new() };
    loop {
        while let Some(ended) = going.try_join_next_with_id() {
            settle(&mut share, &mut workspaces, ended);
        }
        let room = GOING_AT_ONCE.saturating_sub(going.len() as u32);
        let mut full = false;
        if room > 0 {
            share.limit = room;
            match claim(&state, &share).await {
                Ok((runs, definitions)) => {
                    full = runs.len() as u32 == room;
                    let claimed = Instant::now();
                    for run in runs {
                        let ws = run.workspace_id;
                        *share.going.entry(ws).or_default() += 1;
                        let (state, definitions) = (state.clone(), definitions.clone());
                        let task = going.spawn(async move {
                            if let Err(e) = drive(&state, run, &definitions, claimed).await {
                                tracing::warn!(error = %e.message, "a workflow run could not go on");
                            }
                        });
                        workspaces.insert(task.id(), ws);
                    }
                }
                Err(e) => tracing::warn!(error = %e.message, "the workflow runner failed"),
            }
        }
        if full {
            // Every place asked for was taken: more may be due.
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.runs_wakeup.notified() => {}
            Some(ended) = going.join_next_with_id() => settle(&mut share, &mut workspaces, ended),
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    // Runs going finish their step (bounded by the lease): none is left half taken.
    while going.join_next().await.is_some() {}
}

/// A run's task ended: its workspace has one place more.
fn settle(
    share: &mut RunShare,
    workspaces: &mut HashMap<tokio::task::Id, WorkspaceId>,
    ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    let id = match ended {
        Ok((id, ())) => id,
        Err(e) => {
            tracing::error!(error = %e, "a workflow run's task ended badly");
            e.id()
        }
    };
    if let Some(ws) = workspaces.remove(&id)
        && let Some(n) = share.going.get_mut(&ws)
    {
        *n = n.saturating_sub(1);
        if *n == 0 {
            share.going.remove(&ws);
        }
    }
}

/// Leases the due runs `share` leaves room for, with the definitions of their versions.
async fn claim(state: &AppState, share: &RunShare) -> ApiResult<(Vec<Run>, Arc<Definitions>)> {
    let now = state.clock.now();
    let runs = state.store.claim_runs(&state.server_id, now, now.plus_secs(RUN_LEASE_SECS), share).await?;
    let mut definitions = Definitions::new();
    for run in &runs {
        if let std::collections::hash_map::Entry::Vacant(slot) = definitions.entry((run.workflow_id, run.version)) {
            let text = state.store.workflow_version(run.workspace_id, run.workflow_id, run.version).await?;
            slot.insert(serde_json::from_str::<Value>(&text).ok().and_then(|v| parse(&v).ok()));
        }
    }
    Ok((runs, Arc::new(definitions)))
}

/// Steps one run takes in a row under one claim (each due at once after the last).
const CHAIN: usize = 20;
/// An HTTP step starts at most this long after the claim (its worst case, 47 s, then ends
/// before the 60 s lease does).
const HTTP_START_SECS: u64 = 5;

/// Takes a claimed run's steps while they are due at once (at most `CHAIN`, within half the
/// lease: never a step taken while another server may hold the run); a run left holding its
/// lease is let go.
async fn drive(state: &AppState, mut run: Run, definitions: &Definitions, claimed: Instant) -> ApiResult<()> {
    for _ in 0..CHAIN {
        let now = state.clock.now();
        if claimed.elapsed() > Duration::from_secs(RUN_LEASE_SECS as u64 / 2) {
            break;
        }
        let Some(definition) = definitions.get(&(run.workflow_id, run.version)).and_then(Option::as_ref) else {
            return fail(state, &run, "its version no longer reads", now).await;
        };
        let Some(step) = definition.steps.iter().find(|s| Some(&s.id) == run.step.as_ref()) else {
            return fail(state, &run, "its step is not in its version", now).await;
        };
        // A call may take its retries' 47 s: only while the lease has most of its time left
        // (else another server could take the run and call again).
        if matches!(step.action, Action::HttpRequest(_)) && claimed.elapsed() > Duration::from_secs(HTTP_START_SECS) {
            break;
        }
        match take_step(state, &run, step, now).await {
            Ok(Some(next))
                if next.status == parley_store::RunStatus::Running && next.wake_at.is_some_and(|w| w <= now) =>
            {
                run = next;
            }
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(run = run.id, step = %step.id, error = %e.message, "a workflow step failed");
                return Ok(());
            }
        }
    }
    // Still holding the lease of a step due now: let it go for the next claim.
    let at = run.wake_at.unwrap_or_else(|| state.clock.now());
    match state.store.snooze_run(&run, &state.server_id, at).await {
        Ok(()) | Err(parley_store::StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn fail(state: &AppState, run: &Run, why: &str, now: Timestamp) -> ApiResult<()> {
    let record = RunStep {
        seq: run.seq,
        step: run.step.clone().unwrap_or_default(),
        kind: "?".into(),
        outcome: "failed".into(),
        detail: json!({"error": why}),
        at: now,
    };
    let failed = RunMove::Failed(why.to_owned());
    state.store.record_step(run, &state.server_id, &record, &run.jumps, &run.memory, failed, now).await?;
    Ok(())
}

/// Takes one step and records it; answers the run as moved when it keeps its lease (its next
/// step is due at once).
async fn take_step(state: &AppState, run: &Run, step: &Step, now: Timestamp) -> ApiResult<Option<Run>> {
    let mut memory = Memory::read(&run.memory);
    let outcome = match steps::execute(state, run, step, &mut memory, now).await {
        Ok(done) if matches!(step.action, Action::Branch { .. }) => {
            facts(state, run.workspace_id, run.conversation_id, run.contact_id).await.map(|mut f| {
                f.memory = memory.to_value();
                (done, f)
            })
        }
        other => other.map(|done| (done, Facts::default())),
    };
    let mut jumps: BTreeMap<String, u32> = run.jumps.clone();
    let (record, next) = match outcome {
        Err(e) if e.status.is_server_error() => return Err(e),
        Err(e) => {
            let record = RunStep {
                seq: run.seq,
                step: step.id.clone(),
                kind: step.action.kind().into(),
                outcome: "failed".into(),
                detail: json!({"error": e.message, "code": e.code}),
                at: now,
            };
            (record, RunMove::Failed(e.message))
        }
        Ok((done, facts)) => {
            let decided = done.then.is_some();
            let next = match done.then {
                Some(Then::Snooze(at)) => {
                    state.store.snooze_run(run, &state.server_id, at).await?;
                    // A reply that came while the run was leased woke nothing: wake it now.
                    if let (Some(c), Some(asking)) = (run.conversation_id, &memory.asking) {
                        let replies = state.store.replies_after(run.workspace_id, c, asking.since_message, 100).await?;
                        if replies.iter().any(|r| r.inbound) {
                            state.store.wake_awaiting(&[c], now).await?;
                        }
                    }
                    return Ok(None);
                }
                Some(Then::Stay { until }) => RunMove::Next { step: step.id.clone(), at: until },
                Some(Then::Go(Some(to))) => RunMove::Next { step: to, at: now },
                Some(Then::Go(None)) => RunMove::Done,
                Some(Then::Cancel(why)) => RunMove::Cancelled(why),
                None => {
                    let taken = jumps.get(&step.id).copied().unwrap_or(0);
                    let next_id = next_after(step, &facts, taken);
                    if let Action::Jump { to, .. } = &step.action
                        && next_id.as_ref() == Some(to)
                    {
                        jumps.insert(step.id.clone(), taken + 1);
                    }
                    match next_id {
                        Some(step) => RunMove::Next { step, at: done.resume_at.unwrap_or(now) },
                        None => RunMove::Done,
                    }
                }
            };
            let mut detail = done.detail;
            if !decided && let RunMove::Next { step, .. } = &next {
                detail["next"] = json!(step);
            }
            let record = RunStep {
                seq: run.seq,
                step: step.id.clone(),
                kind: step.action.kind().into(),
                outcome: done.outcome.into(),
                detail,
                at: now,
            };
            (record, next)
        }
    };
    memory.last = json!({"step": record.step, "outcome": record.outcome});
    let waits_for_reply = matches!(next, RunMove::Next { .. }) && memory.asking.is_some();
    let keeps_lease = matches!(&next, RunMove::Next { at, .. } if *at <= now);
    let memory_now = memory.to_value();
    let moved = state.store.record_step(run, &state.server_id, &record, &jumps, &memory_now, next, now).await?;
    // A reply that came while the question was being sent woke nothing (the run was leased):
    // wake it now.
    if waits_for_reply
        && let (Some(c), Some(asking)) = (moved.conversation_id, &memory.asking)
        && state.store.replies_after(run.workspace_id, c, asking.since_message, 100).await?.iter().any(|r| r.inbound)
    {
        state.store.wake_awaiting(&[c], now).await?;
    }
    Ok(keeps_lease.then_some(moved))
}

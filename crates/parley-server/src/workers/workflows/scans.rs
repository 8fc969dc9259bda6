//! Triggers no event announces, found by looking.
//!
//! **Schedules**: the latest time a workflow's cron fired since it was last changed (and within
//! the last day) is worked through in batches of contacts of its segment, one pass each: the
//! workflow keeps the fire and the last contact done, so a restart goes on where it stopped, and
//! each run's key `schedule:<fire>:<contact>` makes a batch taken twice start nothing twice.
//!
//! **Inactivity** (an open conversation quiet for N hours): each pass asks the store for the
//! conversations whose silence crossed a workflow's threshold within the last day (older
//! silences, from before the workflow was switched on or a long outage, start nothing), after
//! the last one it looked at, and starts a run per silence: its key
//! `inactive:<conversation>:<last message time>` makes a repeated scan start nothing twice, and
//! a new message makes a new silence.

use std::collections::{HashMap, HashSet};

use parley_core::Timestamp;
use parley_core::ids::ConversationId;
use parley_core::workflow::hours::latest_fire;
use parley_core::workflow::{Definition, Happening, Memory, Silent, Trigger, parse};
use parley_store::{ActiveWorkflow, NewRun};
use serde_json::{Value, json};

use super::{Seen, starts};
use crate::AppState;
use crate::error::ApiResult;

/// How far back a silence that crossed its threshold still starts a run.
const CATCH_UP_SECS: i64 = 24 * 3600;
/// Conversations looked at per workflow and pass.
const QUIET_AT_ONCE: u32 = 500;

/// Contacts of a segment taken per workflow and pass.
const SEGMENT_AT_ONCE: u32 = 500;

/// Works through the schedules that fired; answers how many runs started.
pub(super) async fn schedules(state: &AppState, active: &[ActiveWorkflow]) -> ApiResult<u64> {
    let now = state.clock.now();
    let mut started = 0;
    for a in active {
        let Some(definition) = serde_json::from_str::<Value>(&a.definition).ok().and_then(|v| parse(&v).ok()) else {
            continue;
        };
        let Trigger::Schedule { cron, timezone, tags } = &definition.trigger else { continue };
        let w = &a.workflow;
        let since = w.updated_at.max(now.plus_secs(-CATCH_UP_SECS));
        let (done_fire, cursor) = state.store.schedule_progress(w.id).await?;
        let Some(fire) = latest_fire(cron, timezone, since, now) else { continue };
        let cursor = match done_fire {
            Some(f) if f == fire => cursor,
            _ => 0,
        };
        if cursor < 0 {
            continue;
        }
        let tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
        let page = state.store.segment_page(w.workspace_id, &tags, cursor, SEGMENT_AT_ONCE).await?;
        let next_cursor =
            if page.len() < SEGMENT_AT_ONCE as usize { -1 } else { page.last().map_or(-1, |(c, _)| c.get()) };
        let (none, mut for_contact) = (HashSet::new(), HashSet::new());
        let mut runs = Vec::new();
        for (contact, has) in page {
            if !tags.iter().all(|t| has.contains(t)) {
                continue;
            }
            let payload = json!({"contact_id": contact.get(), "fired_at": fire.to_rfc3339()});
            let seen = Seen {
                happening: Happening::Scheduled,
                conversation: None,
                contact: Some(contact),
                payload: payload.clone(),
            };
            let Some(run) = starts(state, w, &definition, &seen, now, &none, &for_contact).await? else { continue };
            for_contact.insert((w.id, contact.get()));
            runs.push(NewRun {
                trigger_key: Some(format!("schedule:{}:{}", fire.as_micros(), contact.get())),
                memory: Memory { trigger: payload, ..Memory::default() }.to_value(),
                ..run
            });
        }
        if !runs.is_empty() {
            started += state.store.start_keyed_runs(&runs, now).await?;
        }
        state.store.set_schedule_progress(w.id, fire, next_cursor).await?;
    }
    Ok(started)
}

/// Where each workflow version's inactivity scan stands: the last silence it looked at. A
/// silence is looked at once (as an event is by the follower), so one the conditions skip does
/// not hold back the newer ones; a restart looks again from the start of the catch-up window
/// (the keys start nothing twice).
pub(super) type QuietCursors = HashMap<(i64, i64), (Timestamp, ConversationId)>;

/// Starts the inactivity runs due now; answers how many.
pub(super) async fn inactivity(
    state: &AppState,
    active: &[ActiveWorkflow],
    cursors: &mut QuietCursors,
) -> ApiResult<u64> {
    let now = state.clock.now();
    let mut started = 0;
    let mut scanned = HashSet::new();
    for a in active {
        let Some(definition) = serde_json::from_str::<Value>(&a.definition).ok().and_then(|v| parse(&v).ok()) else {
            continue;
        };
        let Trigger::Inactivity { who, hours } = definition.trigger else { continue };
        let key = (a.workflow.id, a.workflow.version);
        scanned.insert(key);
        let to = now.plus_secs(-hours * 3600);
        let window = (to.plus_secs(-CATCH_UP_SECS), ConversationId(i64::MAX));
        let after = cursors.get(&key).copied().filter(|c| c.0 >= window.0).unwrap_or(window);
        let (runs, reached) = quiet_for(state, a, &definition, (who, hours), after, to, now).await?;
        started += runs;
        cursors.insert(key, reached);
    }
    cursors.retain(|key, _| scanned.contains(key));
    Ok(started)
}

/// Starts runs on the silences after `after`, up to `to`; answers how many and where it stopped.
async fn quiet_for(
    state: &AppState,
    a: &ActiveWorkflow,
    definition: &Definition,
    (who, hours): (Silent, i64),
    after: (Timestamp, ConversationId),
    to: Timestamp,
    now: Timestamp,
) -> ApiResult<(u64, (Timestamp, ConversationId))> {
    let w = &a.workflow;
    let quiet = state.store.quiet_conversations(w.workspace_id, who == Silent::Team, after, to, QUIET_AT_ONCE).await?;
    let reached = quiet.last().map_or(after, |q| (q.last_message_at, q.id));
    let (none, mut for_contact) = (HashSet::new(), HashSet::new());
    let mut runs = Vec::new();
    for q in quiet {
        let payload = json!({
            "conversation_id": q.id.get(), "contact_id": q.contact_id.get(),
            "quiet_since": q.last_message_at.to_rfc3339(), "who": who, "hours": hours,
        });
        let seen = Seen {
            happening: Happening::Inactivity { who, hours },
            conversation: Some(q.id),
            contact: Some(q.contact_id),
            payload: payload.clone(),
        };
        let Some(run) = starts(state, w, definition, &seen, now, &none, &for_contact).await? else { continue };
        for_contact.insert((w.id, q.contact_id.get()));
        runs.push(NewRun {
            trigger_key: Some(format!("inactive:{}:{}", q.id.get(), q.last_message_at.as_micros())),
            memory: Memory { trigger: payload, ..Memory::default() }.to_value(),
            ..run
        });
    }
    if runs.is_empty() {
        return Ok((0, reached));
    }
    Ok((state.store.start_keyed_runs(&runs, now).await?, reached))
}

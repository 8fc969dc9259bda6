//! Workflows at work (`parley_core::workflow`, `routes/workflows.rs`). Two jobs, every second:
//!
//! - **The trigger follower** reads the event log after its cursor (one server at a time holds
//!   its lease), turns events into happenings, and starts a run for each active workflow whose
//!   trigger fires and whose conditions hold — in the transaction that moves the cursor, and once
//!   per workflow and event, so a crash starts nothing twice and skips nothing. A workflow with a
//!   run still going on a conversation starts no second one there, and starts at most
//!   `MAX_RUNS_PER_HOUR` there in an hour: a workflow reacting to its own changes (closing on
//!   "closed", tagging on "tag added") stops there, with a warning in the log.
//! - **The runner** (`runner.rs`, its own task) leases the runs whose step is due, each in its
//!   own task with a fair share of places per workspace, takes the step through the actions
//!   (`steps.rs`; as Parley itself, a note by its workflow's creator), and records it with the run's move in
//!   one transaction. A crash between a step and its record takes the step again when the lease
//!   runs out: a send carries the idempotency key `workflow-<run>-<step number>`, so it is
//!   replayed, never sent twice (the template sent outside the window carries the same key);
//!   assigning, closing and tagging again change nothing; a note may be left twice after such a
//!   crash. A step refused (4xx) fails the run visibly, with the reason; a store or provider
//!   outage (5xx) is tried again.
//!
//! Finished runs and their history are kept 30 days.
//!
//! Limits of this first version: a conversation opened by an agent's first message counts as
//! opened by the contact; "first message" is told by the conversation's opening in the same
//! batch of events.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use parley_core::Timestamp;
use parley_core::contact::ContactRef;
use parley_core::ids::{ContactId, ConversationId, WorkspaceId};
use parley_core::workflow::{Definition, Facts, Happening, Memory, OpenedBy, holds, parse};
use parley_store::{ActiveWorkflow, LoggedEvent, NewRun, Viewer};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::event_log::before_hole;

mod ask;
pub mod dry_run;
mod http;
mod runner;
mod scans;
mod steps;

pub use runner::run as run_steps;

const POLL: Duration = Duration::from_secs(1);
const FOLLOWER_LEASE_SECS: i64 = 30;
/// How long one batch of the follower may take: a third of its lease.
const FOLLOWER_BUDGET: Duration = Duration::from_secs(FOLLOWER_LEASE_SECS as u64 / 3);
const EVENTS_AT_ONCE: u32 = 500;
/// A workflow starts at most this many runs on one conversation in an hour.
const MAX_RUNS_PER_HOUR: i64 = 10;
/// Finished runs and their history are kept this long.
const RETENTION_SECS: i64 = 30 * 24 * 3600;
/// Passes between two prunings of finished runs (about an hour).
const PRUNE_EVERY: u64 = 3600;
/// How long a hole in the event ids is waited for (a transaction still committing).
const HOLE_WAIT: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut hole_since: Option<Instant> = None;
    let mut quiet_cursors = scans::QuietCursors::new();
    let mut appended = state.events_appended.subscribe();
    let mut passes: u64 = 0;
    loop {
        if passes.is_multiple_of(PRUNE_EVERY) {
            match state.store.prune_runs(state.clock.now().plus_secs(-RETENTION_SECS)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "forgot finished workflow runs past their 30 days"),
                Err(e) => tracing::warn!(error = %e, "cannot forget old workflow runs"),
            }
        }
        passes += 1;
        match state.store.active_workflows().await {
            Ok(active) => {
                if let Err(e) = follow(&state, &active, &mut hole_since).await {
                    tracing::warn!(error = %e.message, "the workflow trigger follower failed");
                }
                match scans::inactivity(&state, &active, &mut quiet_cursors).await {
                    Ok(0) => {}
                    Ok(_) => state.runs_wakeup.notify_one(),
                    Err(e) => tracing::warn!(error = %e.message, "the workflow inactivity scan failed"),
                }
                match scans::schedules(&state, &active).await {
                    Ok(0) => {}
                    Ok(_) => state.runs_wakeup.notify_one(),
                    Err(e) => tracing::warn!(error = %e.message, "the workflow schedule scan failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the active workflows"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = appended.changed() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// A happening, and the conversation and contact it is about.
struct Seen {
    happening: Happening,
    conversation: Option<ConversationId>,
    contact: Option<ContactId>,
    payload: Value,
}

/// What an event means for triggers (`opened` holds the conversations opened earlier in the batch).
fn happenings(e: &LoggedEvent, opened: &HashSet<i64>) -> Vec<Seen> {
    let p = &e.payload;
    let conversation = p["conversation_id"].as_i64().map(ConversationId);
    let contact = p["contact_id"].as_i64().map(ContactId);
    let seen = |happening| Seen { happening, conversation, contact, payload: p.clone() };
    match e.kind.as_str() {
        // A customer writing into a closed or snoozed conversation opens it again.
        "conversation.opened" | "conversation.reopened" => {
            vec![seen(Happening::ConversationOpened { by: OpenedBy::Contact })]
        }
        "conversation.status_changed" => match (p["status"].as_str(), p["by"].as_i64()) {
            (Some("closed"), _) => vec![seen(Happening::ConversationClosed)],
            (Some("open"), Some(_)) => vec![seen(Happening::ConversationOpened { by: OpenedBy::Person })],
            // Opened by Parley itself, not at a snooze's end: a workflow's `reopen` step.
            (Some("open"), None) if p["reason"].is_null() => {
                vec![seen(Happening::ConversationOpened { by: OpenedBy::Workflow })]
            }
            _ => vec![],
        },
        "message.received" => {
            let first = conversation.is_some_and(|c| opened.contains(&c.get()));
            let mut out = vec![seen(Happening::MessageReceived { text: p["text"].as_str().map(str::to_owned), first })];
            if p["referral"].is_object() {
                let source_id = p["referral"]["source_id"].as_str().map(str::to_owned);
                out.push(seen(Happening::AdReferral { source_id }));
            }
            out
        }
        "contact.updated" => {
            let changed = p["changed"].as_array().cloned().unwrap_or_default();
            let fields: Vec<String> = changed
                .iter()
                .filter_map(|c| c.as_str().and_then(|c| c.strip_prefix("fields.")).map(str::to_owned))
                .collect();
            if fields.is_empty() {
                return vec![];
            }
            vec![Seen {
                happening: Happening::ContactFieldsUpdated { fields },
                conversation: None,
                contact: e.subject_id.map(ContactId),
                payload: p.clone(),
            }]
        }
        "conversation.tags_changed" => {
            let tags = |key: &str| p[key].as_array().cloned().unwrap_or_default();
            let added = tags("added").into_iter().filter_map(|t| t.as_str().map(str::to_owned));
            let removed = tags("removed").into_iter().filter_map(|t| t.as_str().map(str::to_owned));
            added
                .map(|tag| seen(Happening::TagAdded { tag }))
                .chain(removed.map(|tag| seen(Happening::TagRemoved { tag })))
                .collect()
        }
        "conversation.assigned" | "conversation.unassigned" => vec![seen(Happening::AssignmentChanged)],
        "contact.created" => {
            vec![Seen {
                happening: Happening::ContactCreated,
                conversation: None,
                contact: e.subject_id.map(ContactId),
                payload: p.clone(),
            }]
        }
        _ => vec![],
    }
}

/// Turns the next events into runs.
async fn follow(state: &AppState, active: &[ActiveWorkflow], hole_since: &mut Option<Instant>) -> ApiResult<()> {
    let now = state.clock.now();
    let until = now.plus_secs(FOLLOWER_LEASE_SECS);
    let Some(cursor) = state.store.lease_follower(&state.server_id, now, until).await? else { return Ok(()) };
    let ids = state.store.event_ids_after(cursor, EVENTS_AT_ONCE).await?;
    let waited = hole_since.is_some_and(|t| t.elapsed() >= HOLE_WAIT);
    let (take, stopped) = before_hole(cursor.get(), &ids, waited);
    *hole_since = if stopped { hole_since.or(Some(Instant::now())) } else { None };
    if take == 0 {
        return Ok(());
    }
    let events = state.store.events_after(cursor, take as u32).await?;
    let Some(mut upto) = events.first().map(|e| e.id) else { return Ok(()) };
    let began = Instant::now();
    let mut by_workspace: HashMap<WorkspaceId, Vec<(ActiveWorkflow, Definition)>> = HashMap::new();
    for active in active.iter().cloned() {
        match serde_json::from_str::<Value>(&active.definition).map_err(|_| ()).and_then(|v| parse(&v).map_err(|_| ()))
        {
            Ok(d) => by_workspace.entry(active.workflow.workspace_id).or_default().push((active, d)),
            Err(()) => tracing::warn!(workflow = active.workflow.id, "a published workflow no longer reads"),
        }
    }
    let mut runs = Vec::new();
    let mut opened = HashSet::new();
    // Conversations whose customer wrote: their questions wake (again after a crash: harmless).
    let mut wrote = Vec::new();
    // Within the batch: conversations and contacts a workflow already started on.
    let mut on_conversation: HashSet<(i64, i64)> = HashSet::new();
    let mut for_contact: HashSet<(i64, i64)> = HashSet::new();
    for e in &events {
        // The batch ends well inside the lease (its reads may be slow): what is left goes next
        // pass, and no other server takes the lease while this one still works.
        if began.elapsed() > FOLLOWER_BUDGET && e.id != events[0].id {
            break;
        }
        upto = e.id;
        if e.kind == "conversation.opened"
            && let Some(c) = e.payload["conversation_id"].as_i64()
        {
            opened.insert(c);
        }
        if e.kind == "message.received"
            && let Some(c) = e.payload["conversation_id"].as_i64()
        {
            wrote.push(ConversationId(c));
        }
        let Some(workflows) = by_workspace.get(&e.workspace_id) else { continue };
        for seen in happenings(e, &opened) {
            for (active, definition) in workflows {
                let w = &active.workflow;
                if !definition.trigger.fires_on(&seen.happening) {
                    continue;
                }
                match starts(state, w, definition, &seen, now, &on_conversation, &for_contact).await {
                    Ok(Some(mut run)) => {
                        run.memory = Memory { trigger: e.payload.clone(), ..Memory::default() }.to_value();
                        if let Some(c) = run.conversation_id {
                            on_conversation.insert((w.id, c.get()));
                        }
                        if let Some(person) = run.contact_id {
                            for_contact.insert((w.id, person.get()));
                        }
                        runs.push(NewRun { trigger_event_id: Some(e.id), ..run });
                    }
                    Ok(None) => {}
                    // The conversation or contact is gone (deleted, merged): nothing to run on.
                    Err(e) if e.status == StatusCode::NOT_FOUND => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let woken = state.store.wake_awaiting(&wrote, now).await?;
    if !state.store.start_runs(&state.server_id, upto, &runs, now).await? {
        tracing::info!("the workflow follower's lease moved to another server");
    }
    if woken > 0 || !runs.is_empty() {
        state.runs_wakeup.notify_one();
    }
    Ok(())
}

/// The run `seen` starts for workflow `w`, if its guards and conditions let it.
async fn starts(
    state: &AppState,
    w: &parley_store::Workflow,
    definition: &Definition,
    seen: &Seen,
    now: Timestamp,
    on_conversation: &HashSet<(i64, i64)>,
    for_contact: &HashSet<(i64, i64)>,
) -> ApiResult<Option<NewRun>> {
    let mut contact = seen.contact;
    let mut conversation = seen.conversation;
    // A contact's trigger runs on the contact's latest conversation, when it has one.
    let hooked = matches!(definition.trigger, parley_core::workflow::Trigger::IncomingWebhook { .. });
    if conversation.is_none()
        && !hooked
        && definition.trigger.has_conversation()
        && let Some(person) = contact
    {
        conversation = state.store.latest_conversation(w.workspace_id, person).await?;
    }
    if let Some(c) = conversation {
        if on_conversation.contains(&(w.id, c.get())) {
            return Ok(None);
        }
        if !may_start_on(state, w.id, c, now).await? {
            return Ok(None);
        }
        if contact.is_none() {
            contact = Some(state.store.conversation(w.workspace_id, c, Viewer::All).await?.contact_id);
        }
    } else if let Some(person) = contact {
        // Without a conversation, the same guards per contact.
        let (running, recent) = state.store.contact_runs(w.id, person, now.plus_secs(-3600)).await?;
        if for_contact.contains(&(w.id, person.get())) || running || recent >= MAX_RUNS_PER_HOUR {
            return Ok(None);
        }
    }
    if w.once_per_contact
        && let Some(person) = contact
        && (for_contact.contains(&(w.id, person.get())) || state.store.ran_for_contact(w.id, person).await?)
    {
        return Ok(None);
    }
    if !definition.conditions.is_empty() {
        let mut facts = facts(state, w.workspace_id, conversation, contact).await?;
        if let Happening::MessageReceived { text, .. } = &seen.happening {
            facts.message_text = text.clone();
        }
        facts.memory = json!({"trigger": seen.payload});
        if !definition.conditions.iter().all(|c| holds(c, &facts)) {
            return Ok(None);
        }
    }
    let Some(first) = definition.steps.first() else { return Ok(None) };
    Ok(Some(NewRun {
        workspace_id: w.workspace_id,
        workflow_id: w.id,
        version: w.version,
        conversation_id: conversation,
        contact_id: contact,
        trigger_event_id: None,
        trigger_key: None,
        first_step: first.id.clone(),
        memory: json!({}),
    }))
}

/// What conditions and branches test, read now.
async fn facts(
    state: &AppState,
    ws: WorkspaceId,
    conversation: Option<ConversationId>,
    contact: Option<ContactId>,
) -> ApiResult<Facts> {
    let mut facts = Facts::default();
    if let Some(c) = conversation {
        let conv = state.store.conversation(ws, c, Viewer::All).await?;
        facts.channel_id = Some(conv.channel_id.get());
        facts.conversation_tags = state.store.conversation_tags(ws, c, Viewer::All).await?;
        facts.message_text = state.store.last_inbound_text(ws, c).await?;
    }
    if let Some(person) = contact {
        let found = state.store.contact(ws, &ContactRef::Id(person)).await?;
        facts.contact_tags = found.tags.clone();
        facts.contact_fields = found
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            .collect();
    }
    Ok(facts)
}

/// An incoming webhook's call: the contact it named, its conversation on the trigger's number
/// (none yet: the run's first message opens it), and the payload runs see as `trigger`.
pub struct HookCall {
    pub contact: ContactId,
    pub conversation: Option<ConversationId>,
    pub payload: Value,
}

/// The run a webhook call starts, if the workflow's guards and conditions let it.
pub async fn hooked(
    state: &AppState,
    w: &parley_store::Workflow,
    definition: &Definition,
    call: HookCall,
    now: Timestamp,
) -> ApiResult<Option<NewRun>> {
    let seen = Seen {
        happening: Happening::Hooked,
        conversation: call.conversation,
        contact: Some(call.contact),
        payload: call.payload,
    };
    starts(state, w, definition, &seen, now, &HashSet::new(), &HashSet::new()).await
}

/// The follower's guards on a conversation: not while the workflow runs there, and at most
/// `MAX_RUNS_PER_HOUR` starts there in an hour (a workflow feeding itself stops there).
async fn may_start_on(state: &AppState, workflow: i64, c: ConversationId, now: Timestamp) -> ApiResult<bool> {
    let (running, recent) = state.store.conversation_runs(workflow, c, now.plus_secs(-3600)).await?;
    if !running && recent >= MAX_RUNS_PER_HOUR {
        tracing::warn!(workflow, conversation = c.get(), "a workflow keeps starting on one conversation: held back");
    }
    Ok(!running && recent < MAX_RUNS_PER_HOUR)
}

/// A run of `workflow`'s published version on a conversation, from its first step (started
/// by hand or by another workflow); `422 not_published` before its first publication.
pub async fn run_on(
    state: &AppState,
    workflow: &parley_store::Workflow,
    conversation: ConversationId,
    contact: Option<ContactId>,
) -> ApiResult<NewRun> {
    if workflow.version == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_published",
            "the workflow was never published",
        ));
    }
    let text = state.store.workflow_version(workflow.workspace_id, workflow.id, workflow.version).await?;
    let first = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| parse(&v).ok())
        .and_then(|d| d.steps.first().map(|s| s.id.clone()))
        .ok_or_else(ApiError::internal)?;
    Ok(NewRun {
        workspace_id: workflow.workspace_id,
        workflow_id: workflow.id,
        version: workflow.version,
        conversation_id: Some(conversation),
        contact_id: contact,
        trigger_event_id: None,
        trigger_key: None,
        first_step: first,
        memory: json!({}),
    })
}

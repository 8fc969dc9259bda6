//! The steps a workflow run takes (`workers/workflows.rs` leases the run and records each step):
//! each goes through the actions, as Parley itself (a note is the workflow's creator's). A send
//! carries the idempotency key `workflow-<run>-<step number>`, text or template alike.

use axum::http::StatusCode;
use parley_core::Timestamp;
use parley_core::contact::{ContactPatch, ContactPatchInput, ContactRef};
use parley_core::conversation::{ClosingNote, ConversationStatus};
use parley_core::ids::{ChannelId, ContactId, ConversationId, TeamId, UserId};
use parley_core::message::Content;
use parley_core::outbound::OutboundMessage;
use parley_core::rules::Refusal;
use parley_core::workflow::hours::next_time_of_day;
use parley_core::workflow::vars::{self, first_name};
use parley_core::workflow::{Action, AssignTo, Memory, Pick, Step, TemplateChoice, message_content};
use parley_store::{AutoAssign, Run, SendOutcome, Viewer};
use serde_json::{Value, json};

use super::{may_start_on, run_on};
use crate::AppState;
use crate::actions::conversations::StatusChange;
use crate::actions::messages::Send;
use crate::actions::{self, Actor};
use crate::error::{ApiError, ApiResult};

/// What a step did: its detail for the history, and when the run goes on (a wait).
pub(super) struct Did {
    pub(super) detail: Value,
    pub(super) resume_at: Option<Timestamp>,
    /// `done` unless the step says otherwise (`answered`, `timed_out`, …).
    pub(super) outcome: &'static str,
    /// Where the run goes, for a step that decides it itself (a question); else by the step's
    /// `next` (`next_after`).
    pub(super) then: Option<Then>,
}

/// Where a question sends the run.
pub(super) enum Then {
    /// Stays on the step, waiting until `until` (or the customer's reply).
    Stay { until: Timestamp },
    /// On to a step, or the end.
    Go(Option<String>),
    /// Cancelled, with the reason.
    Cancel(String),
    /// Woken before its time with nothing to do: back to sleep, no step recorded.
    Snooze(Timestamp),
}

pub(super) fn did(detail: Value) -> Did {
    Did { detail, resume_at: None, outcome: "done", then: None }
}

/// The values a text's variables read (`parley_core::workflow::vars`): the contact, the
/// conversation and the run's memory, read now.
pub(super) async fn context(state: &AppState, run: &Run, memory: &Memory) -> ApiResult<Value> {
    let mut context = json!({"trigger": memory.trigger, "answers": memory.answers, "vars": memory.vars});
    if let Some(id) = run.contact_id {
        match state.store.contact(run.workspace_id, &ContactRef::Id(id)).await {
            Ok(contact) => {
                let name = contact.name.clone().unwrap_or_default();
                context["contact"] = json!({
                    "id": id.get(), "name": name, "first_name": first_name(&name),
                    "phone": contact.phone.as_ref().map(|p| p.as_str().to_owned()),
                    "email": contact.email.as_ref().map(|e| e.as_str().to_owned()),
                    "fields": contact.fields, "tags": contact.tags,
                });
            }
            Err(parley_store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(c) = run.conversation_id {
        let conversation = state.store.conversation(run.workspace_id, c, Viewer::All).await?;
        context["conversation"] = json!({
            "id": c.get(), "channel_id": conversation.channel_id.get(), "status": conversation.status,
        });
    }
    Ok(context)
}

/// `text` with its variables filled (read only when it has some).
pub(super) async fn fill(state: &AppState, run: &Run, memory: &Memory, text: &str) -> ApiResult<String> {
    if vars::variables(text).is_empty() {
        return Ok(text.to_owned());
    }
    Ok(vars::render(text, &context(state, run, memory).await?))
}

/// A template choice with its parameters' variables filled.
pub(super) async fn fill_template(
    state: &AppState,
    run: &Run,
    memory: &Memory,
    t: &TemplateChoice,
) -> ApiResult<TemplateChoice> {
    let mut filled = t.clone();
    for p in &mut filled.parameters {
        *p = fill(state, run, memory, p).await?;
    }
    Ok(filled)
}

pub(super) fn needs_conversation(run: &Run) -> ApiResult<ConversationId> {
    run.conversation_id.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_conversation", "this step needs a conversation")
    })
}

/// Takes one step through the actions.
pub(super) async fn execute(
    state: &AppState,
    run: &Run,
    step: &Step,
    memory: &mut Memory,
    now: Timestamp,
) -> ApiResult<Did> {
    let parley = Actor::system(run.workspace_id);
    match &step.action {
        Action::Unassign => {
            let c = needs_conversation(run)?;
            if state.store.conversation(run.workspace_id, c, Viewer::All).await?.assignee_id.is_none() {
                return Ok(did(json!({"assignee": null, "changed": false})));
            }
            actions::conversations::assign(state, &parley, c, None).await?;
            Ok(did(json!({"assignee": null})))
        }
        Action::Assign { to: AssignTo::User { user_id } } => {
            let c = needs_conversation(run)?;
            actions::conversations::assign(state, &parley, c, Some(UserId(*user_id))).await?;
            Ok(did(json!({"assignee": user_id})))
        }
        Action::Assign { to: AssignTo::Available { available, team_id } } => {
            let c = needs_conversation(run)?;
            let mode = match available {
                Pick::RoundRobin => AutoAssign::RoundRobin,
                Pick::LeastOpen => AutoAssign::LeastOpen,
            };
            let team = team_id.map(TeamId);
            if team.is_some() {
                state.store.set_conversation_team(run.workspace_id, c, team, None, now).await?;
            }
            match state.store.assign_available(run.workspace_id, c, team, mode, parley.user_id(), now).await? {
                Some(agent) => Ok(did(json!({"assignee": agent.get(), "team": team_id}))),
                // No one available: the conversation waits in its team's queue, or unassigned.
                None => Ok(did(json!({"assignee": null, "team": team_id, "available": false}))),
            }
        }
        Action::Assign { to: AssignTo::Team { team_id } } => {
            let c = needs_conversation(run)?;
            state.store.set_conversation_team(run.workspace_id, c, Some(TeamId(*team_id)), None, now).await?;
            Ok(did(json!({"team": team_id})))
        }
        Action::Close { note } => {
            let c = needs_conversation(run)?;
            if state.store.conversation(run.workspace_id, c, Viewer::All).await?.status == ConversationStatus::Closed {
                return Ok(did(json!({"status": "closed", "changed": false})));
            }
            let summary = match note {
                Some(note) => Some(fill(state, run, memory, note).await?),
                None => None,
            };
            let note = ClosingNote { category: None, summary };
            actions::conversations::set_status(state, &parley, c, StatusChange::Close(note)).await?;
            Ok(did(json!({"status": "closed"})))
        }
        Action::Reopen => {
            let c = needs_conversation(run)?;
            if state.store.conversation(run.workspace_id, c, Viewer::All).await?.status == ConversationStatus::Open {
                return Ok(did(json!({"status": "open", "changed": false})));
            }
            actions::conversations::set_status(state, &parley, c, StatusChange::Set(ConversationStatus::Open)).await?;
            Ok(did(json!({"status": "open"})))
        }
        Action::AddTags { tags } => {
            let c = needs_conversation(run)?;
            let mut filled = Vec::with_capacity(tags.len());
            for tag in tags {
                filled.push(fill(state, run, memory, tag).await?);
            }
            // Filled from variables, they are checked as any tag is.
            let filled = parley_core::contact::check_tags(filled)?;
            let now_tags = actions::conversations::add_tags(state, &parley, c, &filled).await?;
            Ok(did(json!({"tags": now_tags})))
        }
        Action::RemoveTags { tags } => {
            let c = needs_conversation(run)?;
            let mut left = Vec::new();
            for tag in tags {
                left = actions::conversations::remove_tag(state, &parley, c, tag).await?;
            }
            Ok(did(json!({"tags": left})))
        }
        Action::AddNote { text } => {
            let c = needs_conversation(run)?;
            let workflow = state.store.workflow(run.workspace_id, run.workflow_id).await?;
            let author = match workflow.created_by {
                Some(id) => state.store.user(run.workspace_id, id).await.ok(),
                None => None,
            };
            let author = author.filter(|u| u.deactivated_at.is_none()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no_author",
                    "the workflow's creator is gone: a note needs an author",
                )
            })?;
            let actor = Actor::user(run.workspace_id, author.id, author.role);
            let text = fill(state, run, memory, text).await?;
            let note = actions::conversations::add_note(state, &actor, c, &text).await?;
            Ok(did(json!({"note_id": note.id})))
        }
        Action::SetField { field, value } => {
            let value = fill(state, run, memory, value).await?;
            let value = set_field(state, run, field, &value, now).await?;
            Ok(did(json!({"field": field, "value": value})))
        }
        Action::RunWorkflow { workflow_id } => start_other(state, run, *workflow_id, now).await,
        Action::SendMessage { text, template, media, buttons } => {
            let text = fill(state, run, memory, text).await?;
            let template = match template {
                Some(t) => Some(fill_template(state, run, memory, t).await?),
                None => None,
            };
            let content = message_content(&text, media.as_ref(), buttons)?;
            send(state, run, memory, content, template.as_ref()).await
        }
        Action::AskQuestion(q) => super::ask::take(state, run, step, q, memory, now).await,
        Action::Csat(c) => super::ask::take(state, run, step, &c.question(), memory, now).await,
        Action::Wait { seconds } => Ok(Did {
            resume_at: Some(now.plus_secs(*seconds)),
            outcome: "waiting",
            ..did(json!({"until": now.plus_secs(*seconds).to_rfc3339()}))
        }),
        Action::WaitUntil { time, timezone } => {
            let until = next_time_of_day(time, timezone, now).ok_or_else(|| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_time", format!("no next {time} in {timezone}"))
            })?;
            Ok(Did { resume_at: Some(until), outcome: "waiting", ..did(json!({"until": until.to_rfc3339()})) })
        }
        Action::BusinessHours { hours, open, closed } => {
            let is_open = hours.is_open(now);
            let to = if is_open { open } else { closed };
            Ok(Did { then: Some(Then::Go(to.clone())), ..did(json!({"open": is_open, "next": to})) })
        }
        Action::HttpRequest(call) => super::http::call(state, run, call, memory).await,
        Action::Branch { .. } | Action::Jump { .. } => Ok(did(json!({}))),
    }
}

/// Sets a custom field of the run's contact (an empty value removes it); answers the value set.
pub(super) async fn set_field(
    state: &AppState,
    run: &Run,
    field: &str,
    value: &str,
    now: Timestamp,
) -> ApiResult<Value> {
    let contact = run
        .contact_id
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_contact", "this step needs a contact"))?;
    let value = if value.is_empty() { Value::Null } else { Value::String(value.to_owned()) };
    let mut fields = serde_json::Map::new();
    fields.insert(field.to_owned(), value.clone());
    let input = ContactPatchInput { fields: Some(fields), ..ContactPatchInput::default() };
    let patch = ContactPatch::from_input(input, None)?;
    state.store.update_contact(run.workspace_id, &ContactRef::Id(contact), &patch, now).await?;
    Ok(value)
}

/// Starts another workflow on the run's conversation, under the follower's guards: not while it
/// runs there already, at most `MAX_RUNS_PER_HOUR` there in an hour (two workflows starting each
/// other stop there).
async fn start_other(state: &AppState, run: &Run, workflow_id: i64, now: Timestamp) -> ApiResult<Did> {
    let c = needs_conversation(run)?;
    let other = state.store.workflow(run.workspace_id, workflow_id).await.map_err(|e| match e {
        parley_store::StoreError::NotFound => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_workflow",
            format!("workflow {workflow_id} does not exist"),
        ),
        other => other.into(),
    })?;
    if !may_start_on(state, other.id, c, now).await? {
        return Ok(did(json!({"workflow_id": workflow_id, "started": false})));
    }
    let new = run_on(state, &other, c, run.contact_id).await?;
    let started = match state.store.start_run_alone(&new, now).await {
        Ok(started) => started,
        // Started by this step before a crash, or by something else meanwhile: not twice.
        Err(parley_store::StoreError::Conflict { field: "conversation" }) => {
            return Ok(did(json!({"workflow_id": workflow_id, "started": false})));
        }
        Err(e) => return Err(e.into()),
    };
    state.runs_wakeup.notify_one();
    Ok(did(json!({"workflow_id": workflow_id, "run_id": started.id})))
}

/// Where a run's messages go: its conversation's number and contact; a run without one (an
/// incoming webhook's for a contact new on the number) sends on the trigger's number, and the
/// conversation its first message opens becomes the run's.
async fn recipient(state: &AppState, run: &Run, memory: &Memory) -> ApiResult<(ChannelId, ContactId, bool)> {
    if let Some(c) = run.conversation_id {
        let conversation = state.store.conversation(run.workspace_id, c, Viewer::All).await?;
        return Ok((conversation.channel_id, conversation.contact_id, false));
    }
    match (memory.trigger["channel_id"].as_i64(), run.contact_id) {
        (Some(channel), Some(contact)) => Ok((ChannelId(channel), contact, true)),
        _ => Err(needs_conversation(run).expect_err("no conversation")),
    }
}

/// Window-aware: the text inside the customer's window, the template outside it (when given).
async fn send(
    state: &AppState,
    run: &Run,
    memory: &Memory,
    content: Content,
    template: Option<&TemplateChoice>,
) -> ApiResult<Did> {
    let parley = Actor::system(run.workspace_id);
    let (channel, contact, opens) = recipient(state, run, memory).await?;
    let to = ContactRef::Id(contact);
    let text_message = OutboundMessage { content, reply_to: None };
    let key = format!("workflow-{}-{}", run.id, run.seq);
    let (to, parley) = (&to, &parley);
    let attempt = |messages: Vec<OutboundMessage>, key: String| async move {
        let send = Send { channel, to, messages: &messages, idempotency_key: Some(&key), dry_run: false };
        actions::messages::send(state, parley, send).await
    };
    let refused = |r: &Refusal| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.message());
    // One key for the step, text or template: after a crash, whichever went out is not sent again.
    let already = |e: ApiError| {
        if e.code == "idempotency_key_reused" { Ok(SendOutcome::Replayed(vec![])) } else { Err(e) }
    };
    let (messages, sent) = match attempt(vec![text_message], key.clone()).await.or_else(already)? {
        SendOutcome::Queued(m) | SendOutcome::Replayed(m) => (m, "message"),
        SendOutcome::Refused { refusal: Refusal::WindowClosed { .. }, .. } if template.is_some() => {
            let content = template.expect("checked").content();
            match attempt(vec![OutboundMessage { content, reply_to: None }], key).await.or_else(already)? {
                SendOutcome::Queued(m) | SendOutcome::Replayed(m) => (m, "template"),
                SendOutcome::Refused { refusal, .. } => return Err(refused(&refusal)),
                SendOutcome::Allowed(_) => return Err(ApiError::internal()),
            }
        }
        SendOutcome::Refused { refusal, .. } => return Err(refused(&refusal)),
        SendOutcome::Allowed(_) => return Err(ApiError::internal()),
    };
    if opens && let Some(first) = messages.first() {
        state.store.attach_conversation(run.id, first.conversation_id).await?;
    }
    Ok(did(json!({"message_ids": ids(&messages), "sent": sent})))
}

/// Sends one message on the run's conversation, keyed by the run and step number; a refusal
/// fails the step (422). Answers the ids of what was queued (or replayed).
pub(super) async fn send_content(state: &AppState, run: &Run, content: Content) -> ApiResult<Vec<i64>> {
    let c = needs_conversation(run)?;
    let parley = Actor::system(run.workspace_id);
    let conversation = state.store.conversation(run.workspace_id, c, Viewer::All).await?;
    let to = ContactRef::Id(conversation.contact_id);
    let messages = [OutboundMessage { content, reply_to: None }];
    let key = format!("workflow-{}-{}", run.id, run.seq);
    let send = Send {
        channel: conversation.channel_id,
        to: &to,
        messages: &messages,
        idempotency_key: Some(&key),
        dry_run: false,
    };
    match actions::messages::send(state, &parley, send).await {
        Ok(SendOutcome::Queued(m) | SendOutcome::Replayed(m)) => Ok(ids(&m)),
        Err(e) if e.code == "idempotency_key_reused" => Ok(vec![]),
        Ok(SendOutcome::Refused { refusal, .. }) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, refusal.code(), refusal.message()))
        }
        Ok(SendOutcome::Allowed(_)) => Err(ApiError::internal()),
        Err(e) => Err(e),
    }
}

fn ids(messages: &[parley_core::conversation::Message]) -> Vec<i64> {
    messages.iter().map(|m| m.id.get()).collect()
}

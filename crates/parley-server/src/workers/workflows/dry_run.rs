//! A dry run: what a definition would do on a conversation now, step by step, with nothing
//! done — no message leaves, no call goes out, nothing changes. Texts are filled with the
//! conversation's real values; branches and opening hours are judged on them; a send says
//! whether the window is open (the text) or not (the template, or `window_closed`); a wait is
//! passed over; a question stops the walk (its answer is not known); an HTTP call is named, not
//! made (the values it would keep are unknown). The builder shows the list as the run's history
//! would.

use std::collections::BTreeMap;

use parley_core::ids::{ContactId, ConversationId, WorkspaceId};
use parley_core::rules::window_open;
use parley_core::workflow::{Action, Definition, Memory, next_after};
use parley_store::{Run, RunStatus, Viewer};
use serde_json::{Value, json};

use super::facts;
use super::steps::{fill, fill_template};
use crate::AppState;
use crate::error::ApiResult;

/// Steps walked at most (a loop through jumps ends there).
const MAX_WALK: usize = 60;

/// What the definition would do on `conversation`, as history entries.
pub async fn dry_run(
    state: &AppState,
    ws: WorkspaceId,
    definition: &Definition,
    conversation: ConversationId,
    contact: ContactId,
) -> ApiResult<Vec<Value>> {
    let now = state.clock.now();
    let conv = state.store.conversation(ws, conversation, Viewer::All).await?;
    let open = window_open(conv.last_inbound_at, now);
    // A run as it would be: its conversation and contact, an empty memory.
    let run = Run {
        id: 0,
        workspace_id: ws,
        workflow_id: 0,
        version: 0,
        conversation_id: Some(conversation),
        contact_id: Some(contact),
        trigger_event_id: None,
        status: RunStatus::Running,
        step: None,
        seq: 0,
        jumps: BTreeMap::new(),
        memory: json!({}),
        wake_at: None,
        error: None,
        started_at: now,
        updated_at: now,
    };
    let memory = Memory::default();
    let mut jumps: BTreeMap<String, u32> = BTreeMap::new();
    let mut out = Vec::new();
    let mut at = definition.steps.first();
    while let Some(step) = at {
        if out.len() >= MAX_WALK {
            out.push(json!({"step": step.id, "kind": step.action.kind(), "would": "stop", "why": "too many steps"}));
            break;
        }
        let mut entry = json!({"step": step.id, "kind": step.action.kind()});
        let mut next: Option<String> = step.next.clone();
        match &step.action {
            Action::SendMessage { text, template, .. } => {
                entry["would"] = json!("send");
                match (open, template) {
                    (true, _) => entry["text"] = json!(fill(state, &run, &memory, text).await?),
                    (false, Some(t)) => {
                        entry["template"] =
                            serde_json::to_value(fill_template(state, &run, &memory, t).await?).unwrap_or(Value::Null);
                    }
                    (false, None) => {
                        entry["would"] = json!("fail");
                        entry["why"] = json!("window_closed");
                        next = None;
                    }
                }
            }
            Action::AskQuestion(_) | Action::Csat(_) => {
                let q = match &step.action {
                    Action::AskQuestion(q) => q.clone(),
                    Action::Csat(c) => c.question(),
                    _ => unreachable!("matched above"),
                };
                entry["would"] = json!("ask");
                entry["text"] = json!(fill(state, &run, &memory, &q.text).await?);
                entry["options"] = json!(q.options);
                if !open && q.template.is_none() {
                    entry["would"] = json!("fail");
                    entry["why"] = json!("window_closed");
                }
                entry["then"] = json!("waits for the answer");
                next = None;
            }
            Action::Wait { seconds } => entry["would"] = json!(format!("wait {seconds} s")),
            Action::WaitUntil { time, timezone } => entry["would"] = json!(format!("wait until {time} ({timezone})")),
            Action::BusinessHours { hours, open: inside, closed } => {
                let is_open = hours.is_open(now);
                entry["would"] = json!(if is_open { "go: open" } else { "go: closed" });
                next = if is_open { inside.clone() } else { closed.clone() };
            }
            Action::HttpRequest(call) => {
                entry["would"] = json!("call");
                let context = super::steps::context(state, &run, &memory).await?;
                entry["url"] = json!(parley_core::workflow::vars::render_url(&call.url, &context));
                entry["method"] = json!(call.method.as_str());
            }
            Action::Branch { .. } | Action::Jump { .. } => {
                let mut f = facts(state, ws, Some(conversation), Some(contact)).await?;
                f.memory = memory.to_value();
                let taken = jumps.get(&step.id).copied().unwrap_or(0);
                next = next_after(step, &f, taken);
                if let Action::Jump { to, .. } = &step.action
                    && next.as_ref() == Some(to)
                {
                    jumps.insert(step.id.clone(), taken + 1);
                }
                entry["would"] = json!("go");
            }
            Action::AddNote { text } => {
                entry["would"] = json!("note");
                entry["text"] = json!(fill(state, &run, &memory, text).await?);
            }
            Action::SetField { field, value } => {
                entry["would"] = json!("set");
                entry["field"] = json!(field);
                entry["value"] = json!(fill(state, &run, &memory, value).await?);
            }
            Action::AddTags { tags } | Action::RemoveTags { tags } => {
                let mut filled = Vec::new();
                for tag in tags {
                    filled.push(fill(state, &run, &memory, tag).await?);
                }
                entry["would"] = json!(step.action.kind());
                entry["tags"] = json!(filled);
            }
            other => {
                entry["would"] = json!(other.kind());
                entry["detail"] = serde_json::to_value(other).unwrap_or(Value::Null);
            }
        }
        entry["next"] = json!(next);
        out.push(entry);
        at = next.and_then(|n| definition.steps.iter().find(|s| s.id == n));
    }
    Ok(out)
}

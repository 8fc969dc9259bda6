//! The `ask_question` step at work (`parley_core::workflow::ask`). A run reaches the step and
//! sends the question; its memory then holds what it waits for ([`Asking`]: the question's
//! message, the attempts, the deadline) and the run sleeps on the same step until the deadline.
//! A customer's message wakes it early (the trigger follower calls `wake_awaiting`). Each time
//! the step is taken again it reads the messages after the question:
//!
//! - a person wrote (and the question is not set to keep waiting): the run is cancelled — the
//!   person has taken over;
//! - a customer's message is a valid answer: it is kept as `answers.<step>` (and in the contact
//!   field `save_to`), and the run goes on to `next`;
//! - none is valid: the question is asked again (`retry_text`) while retries are left, with a
//!   fresh deadline; after the last, the run goes to `on_invalid` (none ends it);
//! - nothing yet: past the deadline the run goes to `on_timeout` (none ends it); before it, the
//!   run goes back to sleep without a step recorded.
//!
//! Each message sent carries the run's key for its step number, so a crash never asks twice.

use parley_core::Timestamp;
use parley_core::message::Content;
use parley_core::phone::parse_region;
use parley_core::workflow::{Asking, Expect, Memory, Question, Step};
use parley_store::{Reply, Run};
use serde_json::json;

use super::steps::{Did, Then, did, fill, fill_template, needs_conversation, send_content, set_field};
use crate::AppState;
use crate::error::ApiResult;

/// Message types a customer answers with.
const ANSWER_KINDS: [&str; 3] = ["text", "interactive", "button"];
/// Replies read at most in one pass.
const REPLIES_AT_ONCE: u32 = 100;

pub(super) async fn take(
    state: &AppState,
    run: &Run,
    step: &Step,
    q: &Question,
    memory: &mut Memory,
    now: Timestamp,
) -> ApiResult<Did> {
    let Some(asking) = memory.asking.clone().filter(|a| a.step == step.id) else {
        return ask(state, run, step, q, memory, now, 0).await;
    };
    let c = needs_conversation(run)?;
    let replies = state.store.replies_after(run.workspace_id, c, asking.since_message, REPLIES_AT_ONCE).await?;
    if !q.keep_after_person_replies && replies.iter().any(|r| r.by_person) {
        memory.asking = None;
        let why = "a person wrote in the conversation while the question waited";
        return Ok(Did { outcome: "cancelled", then: Some(Then::Cancel(why.into())), ..did(json!({"reason": why})) });
    }
    let answers: Vec<&Reply> =
        replies.iter().filter(|r| r.inbound && ANSWER_KINDS.contains(&r.kind.as_str())).collect();
    let Some(last) = answers.last() else {
        let deadline = Timestamp::from_secs(asking.deadline);
        if now < deadline {
            return Ok(Did { then: Some(Then::Snooze(deadline)), ..did(json!({})) });
        }
        memory.asking = None;
        let detail = json!({"timed_out": true, "next": q.on_timeout});
        return Ok(Did { outcome: "timed_out", then: Some(Then::Go(q.on_timeout.clone())), ..did(detail) });
    };
    let region = match q.expect {
        Expect::Phone => {
            state.store.workspace(run.workspace_id).await?.default_region.as_deref().and_then(parse_region)
        }
        _ => None,
    };
    for reply in &answers {
        let Ok(answer) = q.judge(reply.text.as_deref().unwrap_or_default(), region) else { continue };
        if let Some(field) = &q.save_to {
            set_field(state, run, field, &answer, now).await?;
        }
        memory.asking = None;
        memory.answers.insert(step.id.clone(), json!(answer));
        let detail = json!({"answer": answer, "message_id": reply.id, "saved_to": q.save_to, "next": step.next});
        return Ok(Did { outcome: "answered", then: Some(Then::Go(step.next.clone())), ..did(detail) });
    }
    let given = last.text.clone().unwrap_or_default();
    let why = q.judge(&given, region).err().unwrap_or("not an answer");
    if asking.attempts >= q.retries {
        memory.asking = None;
        let detail = json!({"answer": given, "invalid": why, "next": q.on_invalid});
        return Ok(Did { outcome: "invalid", then: Some(Then::Go(q.on_invalid.clone())), ..did(detail) });
    }
    let mut asked = ask(state, run, step, q, memory, now, asking.attempts + 1).await?;
    asked.outcome = "asked_again";
    asked.detail["answer"] = json!(given);
    asked.detail["invalid"] = json!(why);
    Ok(asked)
}

/// Sends the question (`attempt` 0) or the retry text, and waits.
async fn ask(
    state: &AppState,
    run: &Run,
    step: &Step,
    q: &Question,
    memory: &mut Memory,
    now: Timestamp,
    attempt: u32,
) -> ApiResult<Did> {
    let c = needs_conversation(run)?;
    let retry = q.retry_text.as_deref().filter(|_| attempt > 0);
    let text = fill(state, run, memory, retry.unwrap_or(&q.text)).await?;
    // A retry of a choice offers the buttons again, under the retry text.
    let content = match (retry, q.expect) {
        (Some(_), Expect::Choice) | (None, _) => q.message(&text),
        (Some(_), _) => Content::Text { body: text, preview_url: None },
    };
    let ids = match send_content(state, run, content).await {
        // Outside the window: the template, with the same key.
        Err(e) if e.code == "window_closed" && q.template.is_some() => {
            let template = fill_template(state, run, memory, q.template.as_ref().expect("checked")).await?;
            send_content(state, run, template.content()).await?
        }
        other => other?,
    };
    let since = match ids.iter().max() {
        Some(id) => *id,
        None => state.store.last_message_id(run.workspace_id, c).await?,
    };
    let until = now.plus_secs(q.timeout_seconds);
    memory.asking =
        Some(Asking { step: step.id.clone(), since_message: since, attempts: attempt, deadline: until.as_secs() });
    let detail = json!({"message_ids": ids, "until": until.to_rfc3339()});
    Ok(Did { outcome: "waiting", then: Some(Then::Stay { until }), ..did(detail) })
}

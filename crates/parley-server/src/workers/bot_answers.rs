//! Bots whose answers come from a Dialogflow agent (`routes/bot_dialogflow.rs`), in a worker of
//! their own so a slow Google never holds back the timers. Every second, each conversation such
//! a bot holds is looked at: when its customer's latest message has not been answered, this
//! server claims it (`bot_answers` in the store: one server at a time, and never a message
//! answered twice), asks the agent (one Dialogflow session per conversation,
//! `parley-<conversation id>`), and sends the agent's texts as the bot's messages — one send,
//! judged by the same rules as any, keyed by the customer's message. What a reply means (answer,
//! hand over) is `parley_core::dialogflow::next_step`.
//!
//! The customer's latest message is the one asked: when several came at once, the agent hears
//! the last (the earlier ones are in the inbox for whoever takes over). A person who took the
//! conversation while the agent was asked gets no answer from the bot. Google unreachable three
//! passes in a row, or refusing the bot, hands the conversation over; a hand-over that fails is
//! tried again on the next passes (in memory: after a restart, the hand-over rules of
//! `handover.rs` still apply).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use parley_core::account::Role;
use parley_core::bots::Handover;
use parley_core::contact::ContactRef;
use parley_core::conversation::ConversationStatus;
use parley_core::dialogflow::{BotStep, next_step};
use parley_core::ids::{ConversationId, MessageId};
use parley_core::message::Content;
use parley_core::outbound::OutboundMessage;
use parley_store::{AssignedToBot, BotDialogflow, SendOutcome};
use tokio::sync::watch;

use crate::AppState;
use crate::actions::messages::Send;
use crate::actions::{self, Actor};
use crate::error::ApiResult;
use crate::workers::handover::hand_over_logged;

const POLL: Duration = Duration::from_secs(1);
/// Questions asked at once.
const AT_ONCE: usize = 8;
/// Passes in a row a bot may fail to reach its agent before it hands over.
const TRIES: u32 = 3;
/// How long a claim on a message lasts: longer than two calls to Google (15 s each) and a send.
const CLAIM_SECS: i64 = 60;
/// Answers are remembered this long (a message older than that is not answered anyway).
const FORGET_AFTER_SECS: i64 = 7 * 24 * 3600;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut memory = Memory::default();
    let mut passes: u64 = 0;
    loop {
        if let Err(e) = pass(&state, &mut memory).await {
            tracing::warn!(error = %e.message, "the Dialogflow bots' pass failed");
        }
        if passes.is_multiple_of(3600) {
            let before = state.clock.now().plus_secs(-FORGET_AFTER_SECS);
            if let Err(e) = state.store.forget_bot_answers(before).await {
                tracing::warn!(error = %e, "cannot forget old bot answers");
            }
        }
        passes += 1;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// What the worker remembers between passes.
#[derive(Default)]
pub struct Memory {
    /// The customer message last answered in each conversation: no claim is tried again for it.
    answered: HashMap<ConversationId, i64>,
    /// Failed tries to answer a customer message (by its id).
    failures: HashMap<i64, u32>,
    /// Hand-overs that failed after the bot's answer went out.
    pending: HashMap<ConversationId, Handover>,
}

/// One pass over the conversations Dialogflow bots hold.
pub async fn pass(state: &AppState, memory: &mut Memory) -> ApiResult<()> {
    let brains: HashMap<_, _> = state.store.dialogflow_bots().await?.into_iter().collect();
    let held: Vec<AssignedToBot> = if brains.is_empty() {
        Vec::new()
    } else {
        state.store.assigned_to_bots().await?.into_iter().filter(|a| brains.contains_key(&a.bot)).collect()
    };
    memory.answered.retain(|c, _| held.iter().any(|a| a.conversation_id == *c));
    memory.pending.retain(|c, _| held.iter().any(|a| a.conversation_id == *c));
    memory.failures.retain(|m, _| held.iter().any(|a| a.facts.last_in_id == Some(*m)));

    let now = state.clock.now();
    let mut asks = Vec::new();
    for a in &held {
        let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
        if let Some(reason) = memory.pending.get(&a.conversation_id).cloned() {
            if hand_over_logged(state, &bot, a.conversation_id, &reason).await {
                memory.pending.remove(&a.conversation_id);
            }
            continue;
        }
        let Some(message) = a.facts.last_in_id else { continue };
        if memory.answered.get(&a.conversation_id) == Some(&message) {
            continue;
        }
        let until = now.plus_secs(CLAIM_SECS);
        if !state.store.claim_bot_answer(MessageId(message), &state.server_id, now, until).await? {
            // Answered already (here before a restart, or by another server), or being answered.
            continue;
        }
        asks.push((a.clone(), brains[&a.bot].clone()));
    }
    let replies: Vec<_> = futures_util::stream::iter(asks)
        .map(|(a, brain)| async move {
            let outcome = answer(state, &a, &brain).await;
            (a, outcome)
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    for (a, outcome) in replies {
        let message = a.facts.last_in_id.unwrap_or_default();
        let reason = match outcome {
            Ok(reason) => reason,
            Err(failure) => {
                let tries = memory.failures.entry(message).or_default();
                *tries += 1;
                tracing::warn!(conversation = a.conversation_id.get(), tries = *tries, error = %failure.why,
                    "a Dialogflow bot could not answer");
                if failure.transient && *tries < TRIES {
                    state.store.finish_bot_answer(MessageId(message), &state.server_id, false, now).await?;
                    continue;
                }
                Some(Handover::CannotAnswer(failure.why))
            }
        };
        state.store.finish_bot_answer(MessageId(message), &state.server_id, true, now).await?;
        memory.answered.insert(a.conversation_id, message);
        memory.failures.remove(&message);
        if let Some(reason) = reason {
            let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
            if !hand_over_logged(state, &bot, a.conversation_id, &reason).await {
                memory.pending.insert(a.conversation_id, reason);
            }
        }
    }
    Ok(())
}

/// Why a bot could not answer this time.
#[derive(Debug)]
pub struct Failure {
    /// Worth trying again on a next pass (Google or the store was unavailable).
    pub transient: bool,
    pub why: String,
}

impl From<crate::error::ApiError> for Failure {
    fn from(e: crate::error::ApiError) -> Self {
        Failure { transient: e.status.is_server_error(), why: e.message }
    }
}

/// Answers the customer's latest message in `a`; `Some` when the bot hands over after it.
async fn answer(state: &AppState, a: &AssignedToBot, brain: &BotDialogflow) -> Result<Option<Handover>, Failure> {
    let no_text = || Ok(Some(Handover::CannotAnswer("the customer's message has no text".into())));
    let (Some(message_id), Some(text)) = (a.facts.last_in_id, a.facts.last_in_text.as_deref()) else {
        return no_text();
    };
    if text.trim().is_empty() {
        return no_text();
    }
    let key = state
        .dialogflow_key(&brain.sealed_key)
        .map_err(|_| Failure { transient: false, why: "its key cannot be opened".into() })?;
    let session = format!("parley-{}", a.conversation_id.get());
    let reply = state
        .dialogflow()
        .detect_intent(&brain.agent, &key, &session, text)
        .await
        .map_err(|e| Failure { transient: e.is_transient(), why: e.to_string() })?;
    let (texts, handover) = match next_step(&reply, &brain.agent) {
        BotStep::Answer(texts) => (texts, None),
        BotStep::HandOver(texts, why) => (texts, Some(why)),
    };
    let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
    let conversation = state
        .store
        .conversation(a.workspace_id, a.conversation_id, bot.viewer())
        .await
        .map_err(|e| Failure::from(crate::error::ApiError::from(e)))?;
    // A person took the conversation (or closed it) while the agent was asked: the bot keeps quiet.
    if conversation.assignee_id != Some(a.bot) || conversation.status == ConversationStatus::Closed {
        return Ok(None);
    }
    if texts.is_empty() {
        return Ok(handover);
    }
    let messages: Vec<OutboundMessage> = texts
        .into_iter()
        .map(|body| OutboundMessage { content: Content::Text { body, preview_url: None }, reply_to: None })
        .collect();
    let to = ContactRef::Id(conversation.contact_id);
    let key = format!("dialogflow-{message_id}");
    let send = Send {
        channel: conversation.channel_id,
        to: &to,
        messages: &messages,
        idempotency_key: Some(&key),
        dry_run: false,
    };
    match actions::messages::send(state, &bot, send).await {
        Ok(SendOutcome::Refused { refusal, .. }) => Ok(Some(Handover::CannotAnswer(refusal.message()))),
        Ok(_) => Ok(handover),
        // Answered already (a claim that ran out while a slow send went through).
        Err(e) if e.code == "idempotency_key_reused" => Ok(None),
        Err(e) => Err(e.into()),
    }
}

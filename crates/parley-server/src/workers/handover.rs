//! Bots hand conversations over to the team (`parley_core::bots::handover`): on each pass of the
//! timers worker (the injected clock), every open conversation assigned to a bot is checked; a
//! hand-over is done by the bot itself through the actions — a note saying why, then it lets go
//! of the conversation, which goes back to the queue for a person to take. While a bot owes the
//! customer an answer, the customer sees WhatsApp's typing indicator (a read receipt with it,
//! once per message: `BotMemory` remembers which; after a restart one may be shown again).
//! Bots with a Dialogflow agent answer in the same pass (`bot_answers.rs`); one that fails to
//! reach its agent three passes in a row, or is refused by Google, hands over.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use futures_util::StreamExt;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::bots::{Handover, owes_answer};
use parley_core::ids::{ConversationId, MessageId};

use crate::AppState;
use crate::actions::{self, Actor};
use crate::error::ApiResult;
use crate::workers::bot_answers;

/// Dialogflow questions asked at once in a pass.
const ANSWERS_AT_ONCE: usize = 8;
/// Passes in a row a Dialogflow bot may fail to reach its agent before it hands over.
const ANSWER_TRIES: u32 = 3;

/// What the pass remembers between passes, in memory: after a restart a typing indicator may be
/// shown again, and failures are counted anew.
#[derive(Default)]
pub struct BotMemory {
    /// The customer messages a typing indicator was shown for.
    typing_shown: HashSet<i64>,
    /// Failed attempts to answer a customer message (by its id) with Dialogflow.
    failures: HashMap<i64, u32>,
}

/// Hands over what is due at `now`, and lets Dialogflow bots answer what they owe; answers how
/// many conversations went back to the team.
pub async fn check(state: &AppState, now: Timestamp, memory: &mut BotMemory) -> ApiResult<u32> {
    let mut handed = 0;
    let assigned = state.store.assigned_to_bots().await?;
    let waiting: HashSet<i64> = assigned.iter().filter_map(|a| a.facts.last_in_id).collect();
    memory.typing_shown.retain(|id| waiting.contains(id));
    memory.failures.retain(|id, _| waiting.contains(id));
    let brains: HashMap<_, _> =
        if assigned.is_empty() { HashMap::new() } else { state.store.dialogflow_bots().await?.into_iter().collect() };
    let mut to_answer = Vec::new();
    for a in &assigned {
        let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
        let Some(reason) = parley_core::bots::handover(&a.settings, &a.facts, now) else {
            if let Some(id) = a.facts.last_in_id.filter(|id| owes_answer(&a.facts) && memory.typing_shown.insert(*id)) {
                // The provider may refuse (an old message): the bot works on regardless.
                if let Err(e) = actions::messages::mark_read(state, &bot, MessageId(id), true).await {
                    tracing::debug!(message = id, error = %e.message, "no typing indicator");
                }
            }
            if let Some(brain) = brains.get(&a.bot).filter(|_| owes_answer(&a.facts)) {
                to_answer.push((a.clone(), brain.clone()));
            }
            continue;
        };
        handed += u32::from(hand_over_logged(state, &bot, a.conversation_id, &reason).await);
    }
    let answered: Vec<_> = futures_util::stream::iter(to_answer)
        .map(|(a, brain)| async move {
            let outcome = bot_answers::answer(state, &a, &brain).await;
            (a, outcome)
        })
        .buffer_unordered(ANSWERS_AT_ONCE)
        .collect()
        .await;
    for (a, outcome) in answered {
        let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
        let reason = match outcome {
            Ok(None) => continue,
            Ok(Some(reason)) => reason,
            Err(failure) => {
                let message = a.facts.last_in_id.unwrap_or_default();
                let tries = memory.failures.entry(message).or_default();
                *tries += 1;
                tracing::warn!(conversation = a.conversation_id.get(), tries = *tries, error = %failure.why,
                    "a Dialogflow bot could not answer");
                if failure.transient && *tries < ANSWER_TRIES {
                    continue;
                }
                Handover::CannotAnswer(failure.why)
            }
        };
        handed += u32::from(hand_over_logged(state, &bot, a.conversation_id, &reason).await);
    }
    Ok(handed)
}

/// Hands over; one conversation that cannot be handed over never holds back the others.
async fn hand_over_logged(state: &AppState, bot: &Actor, id: ConversationId, reason: &Handover) -> bool {
    match hand_over(state, bot, id, reason).await {
        Ok(()) => {
            tracing::info!(conversation = id.get(), reason = ?reason, "a bot handed a conversation over");
            true
        }
        Err(e) => {
            tracing::warn!(conversation = id.get(), error = %e.message, "a hand-over failed");
            false
        }
    }
}

/// The bot says why and lets go. A bot that can no longer see the conversation (its number
/// turned private) cannot: Parley itself takes it from the bot then, so it reaches a person.
async fn hand_over(state: &AppState, bot: &Actor, id: ConversationId, reason: &Handover) -> ApiResult<()> {
    match actions::conversations::add_note(state, bot, id, &reason.note()).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let parley = Actor::system(bot.workspace_id);
            actions::conversations::assign(state, &parley, id, None).await?;
            return Ok(());
        }
        other => other?,
    };
    actions::conversations::assign(state, bot, id, None).await?;
    Ok(())
}

//! Bots hand conversations over to the team (`parley_core::bots::handover`): on each pass of the
//! timers worker (the injected clock), every open conversation assigned to a bot is checked; a
//! hand-over is done by the bot itself through the actions — a note saying why, then it lets go
//! of the conversation, which goes back to the queue for a person to take. While a bot owes the
//! customer an answer, the customer sees WhatsApp's typing indicator (a read receipt with it,
//! once per message: `typing_shown` remembers which; after a restart one may be shown again).
//! Bots with a Dialogflow agent answer in a worker of their own (`bot_answers.rs`).

use std::collections::HashSet;

use axum::http::StatusCode;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::bots::{Handover, owes_answer};
use parley_core::ids::{ConversationId, MessageId};

use crate::AppState;
use crate::actions::{self, Actor};
use crate::error::ApiResult;

/// Hands over what is due at `now`; answers how many conversations went back to the team.
pub async fn check(state: &AppState, now: Timestamp, typing_shown: &mut HashSet<i64>) -> ApiResult<u32> {
    let mut handed = 0;
    let assigned = state.store.assigned_to_bots().await?;
    typing_shown.retain(|id| assigned.iter().any(|a| a.facts.last_in_id == Some(*id)));
    for a in assigned {
        let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
        let Some(reason) = parley_core::bots::handover(&a.settings, &a.facts, now) else {
            if let Some(id) = a.facts.last_in_id.filter(|id| owes_answer(&a.facts) && typing_shown.insert(*id)) {
                // The provider may refuse (an old message): the bot works on regardless.
                if let Err(e) = actions::messages::mark_read(state, &bot, MessageId(id), true).await {
                    tracing::debug!(message = id, error = %e.message, "no typing indicator");
                }
            }
            continue;
        };
        handed += u32::from(hand_over_logged(state, &bot, a.conversation_id, &reason).await);
    }
    Ok(handed)
}

/// Hands over; one conversation that cannot be handed over never holds back the others.
pub(crate) async fn hand_over_logged(state: &AppState, bot: &Actor, id: ConversationId, reason: &Handover) -> bool {
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

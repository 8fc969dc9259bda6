//! Bots hand conversations over to the team (`parley_core::bots::handover`): on each pass of the
//! timers worker (the injected clock), every open conversation assigned to a bot is checked; a
//! hand-over is done by the bot itself through the actions — a note saying why, then it lets go
//! of the conversation, which goes back to the queue for a person to take.

use parley_core::Timestamp;
use parley_core::account::Role;

use crate::AppState;
use crate::actions::{self, Actor};
use crate::error::ApiResult;

/// Hands over what is due at `now`; answers how many conversations went back to the team.
pub async fn check(state: &AppState, now: Timestamp) -> ApiResult<u32> {
    let mut handed = 0;
    for a in state.store.assigned_to_bots().await? {
        let Some(reason) = parley_core::bots::handover(&a.settings, &a.facts, now) else { continue };
        let bot = Actor::user(a.workspace_id, a.bot, Role::Agent);
        actions::conversations::add_note(state, &bot, a.conversation_id, &reason.note()).await?;
        actions::conversations::assign(state, &bot, a.conversation_id, None).await?;
        tracing::info!(conversation = a.conversation_id.get(), reason = ?reason, "a bot handed a conversation over");
        handed += 1;
    }
    Ok(handed)
}

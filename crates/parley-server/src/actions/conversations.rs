//! Working a conversation: its status (closing with the workspace's closing notes, snoozing,
//! reopening), who it is assigned to, its tags and its internal notes. Every change is an event
//! naming the actor.

use parley_core::Timestamp;
use parley_core::conversation::{ClosingNote, Conversation, ConversationStatus, check_closing_note, may_assign};
use parley_core::ids::{ConversationId, UserId};
use parley_core::note::{check_note, mentions};
use parley_store::{ConversationNote, NewConversationNote};

use super::{Actor, ActorKind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Where a conversation should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    Close(ClosingNote),
    Snooze {
        until: Timestamp,
    },
    /// Open or pending.
    Set(ConversationStatus),
}

/// Moves a conversation to another status (any role that can see it). A closing note is
/// checked against the workspace's settings; a snooze must end in the future.
pub async fn set_status(
    state: &AppState,
    actor: &Actor,
    id: ConversationId,
    change: StatusChange,
) -> ApiResult<Conversation> {
    let ws = actor.workspace_id;
    // Not found for an agent who may not see its channel.
    state.store.conversation(ws, id, actor.viewer()).await?;
    let now = state.clock.now();
    let by = actor.user_id();
    match change {
        StatusChange::Close(note) => {
            let (mode, categories) = state.store.closing_settings(ws).await?;
            let note = check_closing_note(mode, &categories, &note)?;
            Ok(state.store.close_conversation(ws, id, &note, by, now).await?)
        }
        StatusChange::Snooze { until } if until > now => {
            Ok(state.store.snooze_conversation(ws, id, until, by, now).await?)
        }
        StatusChange::Snooze { .. } => {
            Err(ApiError::bad_request("until must be a future time (RFC 3339)").with_field("until"))
        }
        StatusChange::Set(status @ (ConversationStatus::Closed | ConversationStatus::Snoozed)) => {
            Err(ApiError::bad_request(format!("{} needs its details", status.as_str())).with_field("status"))
        }
        StatusChange::Set(status) => Ok(state.store.set_conversation_status(ws, id, status, by, now).await?),
    }
}

/// Assigns a conversation (`None` unassigns). Owners and managers assign anyone; an agent takes
/// an unassigned conversation for themself or lets go of their own; Parley itself may do both.
pub async fn assign(
    state: &AppState,
    actor: &Actor,
    id: ConversationId,
    assignee: Option<UserId>,
) -> ApiResult<Conversation> {
    let ws = actor.workspace_id;
    let current = state.store.conversation(ws, id, actor.viewer()).await?;
    if let ActorKind::User { id: me, role } = actor.kind {
        // Whether a bot holds it matters only to an agent (or a bot) and a held conversation.
        let held_by_bot = match current.assignee_id {
            Some(holder) if !role.can_administer() => state.store.user(ws, holder).await?.bot,
            _ => false,
        };
        if !may_assign(role, me, current.assignee_id, held_by_bot, assignee) {
            return Err(ApiError::forbidden(
                "agents take unassigned conversations (or a bot's) for themselves and let go of their own; owners and managers assign others",
            ));
        }
    }
    Ok(state.store.assign_conversation(ws, id, assignee, actor.user_id(), state.clock.now()).await?)
}

/// Adds tags (already checked) to a conversation; answers all its tags.
pub async fn add_tags(state: &AppState, actor: &Actor, id: ConversationId, tags: &[String]) -> ApiResult<Vec<String>> {
    let now = state.clock.now();
    Ok(state.store.add_conversation_tags(actor.workspace_id, id, actor.viewer(), actor.user_id(), tags, now).await?)
}

/// Removes a tag (already checked) from a conversation; answers the tags left.
pub async fn remove_tag(state: &AppState, actor: &Actor, id: ConversationId, tag: &str) -> ApiResult<Vec<String>> {
    let now = state.clock.now();
    Ok(state.store.remove_conversation_tag(actor.workspace_id, id, actor.viewer(), actor.user_id(), tag, now).await?)
}

/// Leaves an internal note; `@Name` mentions notify teammates who can see the conversation.
/// Notes have an author: Parley itself leaves none.
pub async fn add_note(state: &AppState, actor: &Actor, id: ConversationId, body: &str) -> ApiResult<ConversationNote> {
    let Some(author) = actor.user_id() else {
        return Err(ApiError::forbidden("a note needs a user or a bot as its author"));
    };
    let body = check_note(body)?;
    let ws = actor.workspace_id;
    let users: Vec<_> = state.store.users(ws).await?.into_iter().map(|u| (u.id, u.name)).collect();
    let mentioned = mentions(&body, &users);
    let new = NewConversationNote { author, body: &body, mentions: &mentioned };
    Ok(state.store.add_conversation_note(ws, id, actor.viewer(), new, state.clock.now()).await?)
}

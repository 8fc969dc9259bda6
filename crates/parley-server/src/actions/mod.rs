//! Actions: the one way anything in Parley changes a conversation, a message, a template or a
//! number. Each takes an [`Actor`] and checks its rights once, here; HTTP routes, the
//! Cloud-API-compatible endpoint, bots, workflows, broadcasts and background workers all call
//! these functions, never each other's handlers. The events an action appends name its actor
//! (`by`: the user or bot; none for Parley itself).
//!
//! - [`messages`]: send (judged by WhatsApp's rules first), retry, mark read, upload media.
//! - [`conversations`]: status (close with notes, snooze, reopen), assignment, tags, notes.
//! - [`channels`]: a number's health and its account's templates read from the provider.

pub mod channel_moves;
pub mod channels;
pub mod conversations;
pub mod messages;

use parley_core::account::Role;
use parley_core::channel::Channel;
use parley_core::ids::{ChannelId, UserId, WorkspaceId};
use parley_store::Viewer;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;

/// Who does something, and in which workspace.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    pub workspace_id: WorkspaceId,
    pub kind: ActorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    /// A person (signed in, or with an API token) or a bot user: their role decides, and an
    /// agent sees only shared channels and the private ones they belong to.
    User { id: UserId, role: Role },
    /// Parley itself (the provider check, timers): sees every channel, authors nothing.
    System,
}

impl Actor {
    pub fn system(workspace_id: WorkspaceId) -> Actor {
        Actor { workspace_id, kind: ActorKind::System }
    }

    pub fn user(workspace_id: WorkspaceId, id: UserId, role: Role) -> Actor {
        Actor { workspace_id, kind: ActorKind::User { id, role } }
    }

    /// The user named as author of what this actor does (`None`: Parley itself).
    pub fn user_id(&self) -> Option<UserId> {
        match self.kind {
            ActorKind::User { id, .. } => Some(id),
            ActorKind::System => None,
        }
    }

    /// What the actor may see; store queries apply it.
    pub fn viewer(&self) -> Viewer {
        match self.kind {
            ActorKind::User { id, role } => Viewer::of(id, role),
            ActorKind::System => Viewer::All,
        }
    }

    /// Owners, managers and Parley itself.
    pub fn require_admin(&self) -> ApiResult<()> {
        match self.kind {
            ActorKind::User { role, .. } if !role.can_administer() => {
                Err(ApiError::forbidden("only owners and managers may do this"))
            }
            _ => Ok(()),
        }
    }
}

impl From<&Auth> for Actor {
    fn from(auth: &Auth) -> Actor {
        Actor::user(auth.workspace_id, auth.user_id, auth.role)
    }
}

impl Auth {
    /// The caller as an actor.
    pub fn actor(&self) -> Actor {
        Actor::from(self)
    }
}

/// A channel the actor may see and that is still connected.
pub async fn live_channel(state: &AppState, actor: &Actor, id: ChannelId) -> ApiResult<Channel> {
    let channel = state.store.channel(actor.workspace_id, id, actor.viewer()).await?;
    if channel.deleted_at.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "channel_disabled", "this channel is disconnected"));
    }
    Ok(channel)
}

//! The trait of bots' hand-over settings and of the conversations assigned to bots.

use async_trait::async_trait;
use parley_core::bots::{BotConversation, HandoverSettings};
use parley_core::ids::{ConversationId, UserId, WorkspaceId};

use crate::error::StoreResult;

/// A conversation assigned to a bot, with what decides its hand-over.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignedToBot {
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub bot: UserId,
    pub settings: HandoverSettings,
    pub facts: BotConversation,
}

#[async_trait]
pub trait Bots {
    async fn set_bot_settings(&self, ws: WorkspaceId, bot: UserId, settings: &HandoverSettings) -> StoreResult<()>;
    /// `NotFound` for a user who is not a bot of the workspace.
    async fn bot_settings(&self, ws: WorkspaceId, bot: UserId) -> StoreResult<HandoverSettings>;
    /// Every open conversation assigned to a bot, all workspaces (the hand-over check).
    async fn assigned_to_bots(&self) -> StoreResult<Vec<AssignedToBot>>;
}

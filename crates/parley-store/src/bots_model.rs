//! The trait of bots' hand-over settings and of the conversations assigned to bots.

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::bots::{BotConversation, HandoverSettings};
use parley_core::dialogflow::DialogflowAgent;
use parley_core::ids::{ConversationId, MessageId, UserId, WorkspaceId};

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

/// The Dialogflow agent a bot asks, with its service account's key file sealed by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotDialogflow {
    pub agent: DialogflowAgent,
    /// The service account (shown; the key itself never is).
    pub client_email: String,
    pub sealed_key: String,
    pub updated_at: Timestamp,
}

#[async_trait]
pub trait Bots {
    async fn set_bot_settings(&self, ws: WorkspaceId, bot: UserId, settings: &HandoverSettings) -> StoreResult<()>;
    /// `NotFound` for a user who is not a bot of the workspace.
    async fn bot_settings(&self, ws: WorkspaceId, bot: UserId) -> StoreResult<HandoverSettings>;
    /// Every open conversation assigned to a bot, all workspaces (the hand-over check).
    async fn assigned_to_bots(&self) -> StoreResult<Vec<AssignedToBot>>;
    /// Gives a bot a Dialogflow agent, or takes it away (`None`); `NotFound` for a user who is
    /// not a bot of the workspace.
    async fn set_bot_dialogflow(&self, ws: WorkspaceId, bot: UserId, agent: Option<&BotDialogflow>) -> StoreResult<()>;
    /// The bot's agent, if it has one; `NotFound` for a user who is not a bot of the workspace.
    async fn bot_dialogflow(&self, ws: WorkspaceId, bot: UserId) -> StoreResult<Option<BotDialogflow>>;
    /// Every bot with a Dialogflow agent, all workspaces (the bots' worker), by bot.
    async fn dialogflow_bots(&self) -> StoreResult<Vec<(UserId, BotDialogflow)>>;
    /// Claims the answer to a customer message for `server` until `until`: false when it was
    /// answered already, or another server's claim still runs.
    async fn claim_bot_answer(
        &self,
        message: MessageId,
        server: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool>;
    /// Ends `server`'s claim: the message was answered (`answered`: never asked again), or the
    /// claim is let go for another try.
    async fn finish_bot_answer(
        &self,
        message: MessageId,
        server: &str,
        answered: bool,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Forgets answers and claims older than `before`; answers how many.
    async fn forget_bot_answers(&self, before: Timestamp) -> StoreResult<u64>;
}

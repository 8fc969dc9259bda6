//! Bots' hand-over settings, and the facts of the conversations assigned to them.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::bots::{BotConversation, HandoverSettings};
use parley_core::ids::{ConversationId, UserId, WorkspaceId};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{AssignedToBot, Bots};

type Row =
    (i64, i64, i64, String, Option<i64>, Option<i64>, Option<String>, Option<i64>, Option<i64>, i64, Option<i64>);

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Bots for SqlStore<DB> {
    async fn set_bot_settings(&self, ws: WorkspaceId, bot: UserId, settings: &HandoverSettings) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let is_bot: Option<i64> =
            sqlx::query_scalar("SELECT bot FROM users WHERE workspace_id = $1 AND id = $2 AND bot = 1")
                .bind(ws.get())
                .bind(bot.get())
                .fetch_optional(&mut *tx)
                .await?;
        is_bot.ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO bot_settings (user_id, workspace_id, handover_keywords, silence_seconds, max_turns)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET handover_keywords = $3, silence_seconds = $4, max_turns = $5",
        )
        .bind(bot.get())
        .bind(ws.get())
        .bind(serde_json::to_string(&settings.keywords)?)
        .bind(settings.silence_seconds)
        .bind(settings.max_turns)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn bot_settings(&self, ws: WorkspaceId, bot: UserId) -> StoreResult<HandoverSettings> {
        let row: Option<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT handover_keywords, silence_seconds, max_turns FROM bot_settings WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(ws.get())
        .bind(bot.get())
        .fetch_optional(&self.read)
        .await?;
        let (keywords, silence_seconds, max_turns) = row.ok_or(StoreError::NotFound)?;
        Ok(HandoverSettings { keywords: serde_json::from_str(&keywords)?, silence_seconds, max_turns })
    }

    async fn assigned_to_bots(&self) -> StoreResult<Vec<AssignedToBot>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.workspace_id, c.id, c.assignee_id, b.handover_keywords, b.silence_seconds, b.max_turns,
                (SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in'
                 ORDER BY m.sent_at DESC, m.id DESC LIMIT 1),
                (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in'),
                (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'out'
                   AND m.author_id = c.assignee_id),
                (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'out'
                   AND m.author_id = c.assignee_id),
                (SELECT m.id FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in'
                 ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)
             FROM conversations c JOIN bot_settings b ON b.user_id = c.assignee_id
             WHERE c.status <> 'closed' ORDER BY c.id LIMIT 10000",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AssignedToBot {
                    workspace_id: WorkspaceId(r.0),
                    conversation_id: ConversationId(r.1),
                    bot: UserId(r.2),
                    settings: HandoverSettings {
                        keywords: serde_json::from_str(&r.3)?,
                        silence_seconds: r.4,
                        max_turns: r.5,
                    },
                    facts: BotConversation {
                        last_in_id: r.10,
                        last_in_text: r.6,
                        last_in_at: r.7.map(Timestamp::from_micros),
                        last_bot_at: r.8.map(Timestamp::from_micros),
                        bot_turns: r.9,
                    },
                })
            })
            .collect()
    }
}

//! Bots' hand-over settings, and the facts of the conversations assigned to them.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::bots::{BotConversation, HandoverSettings};
use parley_core::dialogflow::{DialogflowAgent, Edition};
use parley_core::ids::{ConversationId, MessageId, UserId, WorkspaceId};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{AssignedToBot, BotDialogflow, Bots};

type Row =
    (i64, i64, i64, String, Option<i64>, Option<i64>, Option<String>, Option<i64>, Option<i64>, i64, Option<i64>);

/// `bot_dialogflow`'s columns, in [`DialogflowRow`]'s order.
macro_rules! dialogflow_columns {
    () => {
        "user_id, edition, project, location, agent, language, handover_intents, endpoint, client_email, sealed_key, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct DialogflowRow {
    user_id: i64,
    edition: String,
    project: String,
    location: String,
    agent: Option<String>,
    language: String,
    handover_intents: String,
    endpoint: Option<String>,
    client_email: String,
    sealed_key: String,
    updated_at: i64,
}

impl DialogflowRow {
    fn into_model(self) -> StoreResult<(UserId, BotDialogflow)> {
        let edition =
            Edition::parse(&self.edition).ok_or_else(|| StoreError::Corrupt(format!("edition {}", self.edition)))?;
        let agent = DialogflowAgent {
            edition,
            project: self.project,
            location: self.location,
            agent: self.agent,
            language: self.language,
            handover_intents: serde_json::from_str(&self.handover_intents)?,
            endpoint: self.endpoint,
        };
        let model = BotDialogflow {
            agent,
            client_email: self.client_email,
            sealed_key: self.sealed_key,
            updated_at: Timestamp::from_micros(self.updated_at),
        };
        Ok((UserId(self.user_id), model))
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// `NotFound` unless `bot` is a bot of the workspace.
    async fn ensure_bot(conn: &mut DB::Connection, ws: WorkspaceId, bot: UserId) -> StoreResult<()> {
        let is_bot: Option<i64> =
            sqlx::query_scalar("SELECT bot FROM users WHERE workspace_id = $1 AND id = $2 AND bot = 1")
                .bind(ws.get())
                .bind(bot.get())
                .fetch_optional(&mut *conn)
                .await?;
        is_bot.map(|_| ()).ok_or(StoreError::NotFound)
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Bots for SqlStore<DB> {
    async fn set_bot_settings(&self, ws: WorkspaceId, bot: UserId, settings: &HandoverSettings) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        Self::ensure_bot(&mut tx, ws, bot).await?;
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

    async fn set_bot_dialogflow(&self, ws: WorkspaceId, bot: UserId, agent: Option<&BotDialogflow>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        Self::ensure_bot(&mut tx, ws, bot).await?;
        sqlx::query("DELETE FROM bot_dialogflow WHERE user_id = $1").bind(bot.get()).execute(&mut *tx).await?;
        if let Some(d) = agent {
            sqlx::query(concat!(
                "INSERT INTO bot_dialogflow (workspace_id, ",
                dialogflow_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(ws.get())
            .bind(bot.get())
            .bind(d.agent.edition.as_str().to_owned())
            .bind(&d.agent.project)
            .bind(&d.agent.location)
            .bind(&d.agent.agent)
            .bind(&d.agent.language)
            .bind(serde_json::to_string(&d.agent.handover_intents)?)
            .bind(&d.agent.endpoint)
            .bind(&d.client_email)
            .bind(&d.sealed_key)
            .bind(d.updated_at.as_micros())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn bot_dialogflow(&self, ws: WorkspaceId, bot: UserId) -> StoreResult<Option<BotDialogflow>> {
        Self::ensure_bot(&mut *self.read.acquire().await?, ws, bot).await?;
        let row: Option<DialogflowRow> = sqlx::query_as(concat!(
            "SELECT ",
            dialogflow_columns!(),
            " FROM bot_dialogflow WHERE workspace_id = $1 AND user_id = $2"
        ))
        .bind(ws.get())
        .bind(bot.get())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| r.into_model().map(|(_, d)| d)).transpose()
    }

    async fn dialogflow_bots(&self) -> StoreResult<Vec<(UserId, BotDialogflow)>> {
        let rows: Vec<DialogflowRow> =
            sqlx::query_as(concat!("SELECT ", dialogflow_columns!(), " FROM bot_dialogflow ORDER BY user_id"))
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(DialogflowRow::into_model).collect()
    }

    async fn claim_bot_answer(
        &self,
        message: MessageId,
        server: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO bot_answers (message_id, server_id, lease_until) VALUES ($1, $2, $3)
             ON CONFLICT (message_id) DO UPDATE SET server_id = $2, lease_until = $3
             WHERE bot_answers.answered_at IS NULL AND bot_answers.lease_until <= $4",
        )
        .bind(message.get())
        .bind(server.to_owned())
        .bind(until.as_micros())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn finish_bot_answer(
        &self,
        message: MessageId,
        server: &str,
        answered: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = if answered {
            "UPDATE bot_answers SET answered_at = $3 WHERE message_id = $1 AND server_id = $2"
        } else {
            "UPDATE bot_answers SET lease_until = $3 WHERE message_id = $1 AND server_id = $2 AND answered_at IS NULL"
        };
        sqlx::query(sql).bind(message.get()).bind(server.to_owned()).bind(now.as_micros()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn forget_bot_answers(&self, before: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM bot_answers WHERE COALESCE(answered_at, lease_until) < $1")
            .bind(before.as_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&done))
    }
}

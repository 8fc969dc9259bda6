//! Auto-close: conversations whose last message is a human agent's, with no reply from the
//! contact for the workspace's number of hours, close by themselves (the assignee stays, like any
//! close). Off unless the workspace sets the hours.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::{Engine, SqlStore};
use crate::AutoClose;
use crate::error::{StoreError, StoreResult};

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> AutoClose for SqlStore<DB> {
    async fn auto_close_hours(&self, ws: WorkspaceId) -> StoreResult<Option<i64>> {
        let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT auto_close_hours FROM workspaces WHERE id = $1")
            .bind(ws.get())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.ok_or(StoreError::NotFound)?.0)
    }

    async fn set_auto_close_hours(&self, ws: WorkspaceId, hours: Option<i64>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE workspaces SET auto_close_hours = $1 WHERE id = $2")
            .bind(hours)
            .bind(ws.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn auto_close_idle(&self, now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        // Candidates: open or pending, quiet since the workspace's cutoff; then only those whose
        // last message went out from a person (an agent's reply the contact never answered).
        let closed: Vec<(i64, i64, i64)> = sqlx::query_as(
            "UPDATE conversations SET status = 'closed', updated_at = $1
             WHERE id IN (
                SELECT c.id FROM conversations c JOIN workspaces w ON w.id = c.workspace_id
                WHERE w.auto_close_hours IS NOT NULL AND c.status IN ('open', 'pending')
                  AND c.last_message_at <= $1 - w.auto_close_hours * 3600000000
                  AND (SELECT CASE WHEN m.direction = 'out' AND m.author_id IS NOT NULL THEN 1 ELSE 0 END
                       FROM messages m WHERE m.conversation_id = c.id ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) = 1
             )
             RETURNING id, workspace_id, channel_id",
        )
        .bind(now.as_micros())
        .fetch_all(&mut *tx)
        .await?;
        for (id, ws, channel) in &closed {
            let payload = json!({"conversation_id": id, "status": "closed", "by": null, "reason": "auto_closed"});
            let event = NewEvent::new("conversation.status_changed", *id, &payload).on_channel(ChannelId(*channel));
            Self::append_event(&mut tx, WorkspaceId(*ws), event, now).await?;
        }
        tx.commit().await?;
        Ok(closed.len() as u64)
    }
}

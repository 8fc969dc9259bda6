//! What the inbox list shows beside each conversation (the contact, the last message, how many
//! of the customer's messages nobody read yet), and marking a conversation read.

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::ids::{ContactId, ConversationId, WorkspaceId};
use sqlx::{ColumnIndex, Decode, Encode, Executor, Type};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{ConversationSummary, InboxViews, LastMessage, Viewer};

#[async_trait]
impl<DB> InboxViews for SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB>,
{
    async fn conversation_summaries(
        &self,
        ws: WorkspaceId,
        ids: &[ConversationId],
    ) -> StoreResult<Vec<ConversationSummary>> {
        let mut conn = self.read.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // One conversation at a time: each lookup is an index probe (a page holds at most 200).
            let head: Option<(i64, Option<String>, Option<String>, i64)> = sqlx::query_as(
                "SELECT ct.id, ct.name, ct.phone, c.read_upto FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
                 WHERE c.workspace_id = $1 AND c.id = $2",
            )
            .bind(ws.get())
            .bind(id.get())
            .fetch_optional(&mut *conn)
            .await?;
            let Some((contact_id, contact_name, contact_phone, read_upto)) = head else { continue };
            let last: Option<(String, String, Option<String>, String, i64)> = sqlx::query_as(
                "SELECT direction, type, text, status, sent_at FROM messages WHERE conversation_id = $1
                 ORDER BY sent_at DESC, id DESC LIMIT 1",
            )
            .bind(id.get())
            .fetch_optional(&mut *conn)
            .await?;
            let unread: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'in' AND id > $2",
            )
            .bind(id.get())
            .bind(read_upto)
            .fetch_one(&mut *conn)
            .await?;
            let tags: Vec<String> =
                sqlx::query_scalar("SELECT tag FROM conversation_tags WHERE conversation_id = $1 ORDER BY tag")
                    .bind(id.get())
                    .fetch_all(&mut *conn)
                    .await?;
            out.push(ConversationSummary {
                conversation_id: *id,
                contact_id: ContactId(contact_id),
                contact_name,
                contact_phone,
                last_message: last.map(|(direction, kind, text, status, sent_at)| LastMessage {
                    direction,
                    kind,
                    text,
                    status,
                    sent_at: Timestamp::from_micros(sent_at),
                }),
                unread,
                tags,
            });
        }
        Ok(out)
    }

    async fn mark_conversation_read(&self, ws: WorkspaceId, id: ConversationId, viewer: Viewer) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(concat!(
            "UPDATE conversations SET read_upto = COALESCE((SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = conversations.id), 0)
             WHERE workspace_id = $1 AND id = $2 AND ",
            visible_channel!("channel_id", "$3")
        ))
        .bind(ws.get())
        .bind(id.get())
        .bind(viewer.agent())
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}

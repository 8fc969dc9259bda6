//! Tags on conversations: added and removed by anyone who sees the conversation, each change an
//! event on its channel; the conversation list filters on them.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, ConversationId, UserId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{ConversationTags, TAG_NAMES_LIMIT, TagNames, Viewer};

/// The tables tags are kept in.
#[derive(Clone, Copy)]
enum TagTable {
    Contact,
    Conversation,
}

/// The distinct tags of a tag table in a workspace (`$1`), first `$2` of them, in order.
macro_rules! loose_scan {
    ($table:literal) => {
        concat!(
            "WITH RECURSIVE names (tag, n) AS (
                SELECT (SELECT MIN(tag) FROM ",
            $table,
            " WHERE workspace_id = $1), 1
                UNION ALL
                SELECT (SELECT MIN(tag) FROM ",
            $table,
            " WHERE workspace_id = $1 AND tag > names.tag), n + 1
                FROM names WHERE names.tag IS NOT NULL AND n < $2
             )
             SELECT tag FROM names WHERE tag IS NOT NULL"
        )
    };
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// The first [`TAG_NAMES_LIMIT`] tag names of `table` in the workspace, in order: one index
    /// seek per name (a loose index scan), not a pass over every tagged row, so a workspace of a
    /// million tagged contacts answers as fast as one of ten.
    async fn tag_names_of(conn: &mut DB::Connection, ws: WorkspaceId, table: TagTable) -> StoreResult<Vec<String>> {
        let sql = match table {
            TagTable::Contact => loose_scan!("contact_tags"),
            TagTable::Conversation => loose_scan!("conversation_tags"),
        };
        Ok(sqlx::query_scalar(sql).bind(ws.get()).bind(TAG_NAMES_LIMIT).fetch_all(&mut *conn).await?)
    }

    /// The conversation's channel, if the viewer sees it (inside the caller's transaction).
    pub(crate) async fn seen_conversation_channel(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
    ) -> StoreResult<ChannelId> {
        let channel: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT channel_id FROM conversations WHERE workspace_id = $1 AND id = $2 AND ",
            visible_channel!("channel_id", "$3")
        ))
        .bind(ws.get())
        .bind(id.get())
        .bind(viewer.agent())
        .fetch_optional(&mut *conn)
        .await?;
        channel.map(ChannelId).ok_or(StoreError::NotFound)
    }

    async fn tags_in(conn: &mut DB::Connection, id: ConversationId) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT tag FROM conversation_tags WHERE conversation_id = $1 ORDER BY tag")
            .bind(id.get())
            .fetch_all(&mut *conn)
            .await?)
    }

    /// The tags after a change, what it added and removed, and who made it.
    async fn tag_event(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: ConversationId,
        channel: ChannelId,
        (before, after): (&[String], &[String]),
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let added: Vec<&String> = after.iter().filter(|t| !before.contains(t)).collect();
        let removed: Vec<&String> = before.iter().filter(|t| !after.contains(t)).collect();
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let payload = json!({"conversation_id": id, "tags": after, "added": added, "removed": removed, "by": by});
        let event = NewEvent::new("conversation.tags_changed", id.get(), &payload).on_channel(channel);
        Self::append_event(conn, ws, event, now).await
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> ConversationTags for SqlStore<DB> {
    async fn tag_names(&self, ws: WorkspaceId, viewer: Viewer) -> StoreResult<TagNames> {
        let mut conn = self.read.acquire().await?;
        let contact = Self::tag_names_of(&mut conn, ws, TagTable::Contact).await?;
        let conversation: Vec<String> = match viewer.agent() {
            None => Self::tag_names_of(&mut conn, ws, TagTable::Conversation).await?,
            // An agent is told only the tags of conversations they may see.
            Some(agent) => {
                sqlx::query_scalar(concat!(
                    "SELECT DISTINCT t.tag FROM conversation_tags t JOIN conversations c ON c.id = t.conversation_id
                     WHERE t.workspace_id = $1 AND ",
                    visible_channel!("c.channel_id", "$2"),
                    " ORDER BY t.tag LIMIT $3"
                ))
                .bind(ws.get())
                .bind(Some(agent))
                .bind(TAG_NAMES_LIMIT)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        Ok(TagNames { contact, conversation })
    }

    async fn conversation_tags(&self, ws: WorkspaceId, id: ConversationId, viewer: Viewer) -> StoreResult<Vec<String>> {
        let mut conn = self.read.acquire().await?;
        Self::seen_conversation_channel(&mut conn, ws, id, viewer).await?;
        Self::tags_in(&mut conn, id).await
    }

    async fn add_conversation_tags(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
        by: Option<UserId>,
        tags: &[String],
        now: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let channel = Self::seen_conversation_channel(&mut tx, ws, id, viewer).await?;
        let before = Self::tags_in(&mut tx, id).await?;
        for tag in tags {
            sqlx::query(
                "INSERT INTO conversation_tags (conversation_id, tag, workspace_id) VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id, tag) DO NOTHING",
            )
            .bind(id.get())
            .bind(tag.clone())
            .bind(ws.get())
            .execute(&mut *tx)
            .await?;
        }
        let all = Self::tags_in(&mut tx, id).await?;
        Self::tag_event(&mut tx, ws, id, channel, (&before, &all), by, now).await?;
        tx.commit().await?;
        Ok(all)
    }

    async fn remove_conversation_tag(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
        by: Option<UserId>,
        tag: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let channel = Self::seen_conversation_channel(&mut tx, ws, id, viewer).await?;
        let before = Self::tags_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM conversation_tags WHERE conversation_id = $1 AND tag = $2")
            .bind(id.get())
            .bind(tag.to_owned())
            .execute(&mut *tx)
            .await?;
        let all = Self::tags_in(&mut tx, id).await?;
        Self::tag_event(&mut tx, ws, id, channel, (&before, &all), by, now).await?;
        tx.commit().await?;
        Ok(all)
    }
}

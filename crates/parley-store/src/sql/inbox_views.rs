//! What the inbox list shows beside each conversation (the contact, the last message, how many
//! of the customer's messages nobody read yet), and marking a conversation read.

use macro_rules_attribute::apply;
use std::collections::HashMap;

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::ids::{ContactId, ConversationId, WorkspaceId};
use sqlx::QueryBuilder;

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{ConversationSummary, InboxViews, LastMessage, Viewer};

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> InboxViews for SqlStore<DB> {
    async fn conversation_summaries(
        &self,
        ws: WorkspaceId,
        ids: &[ConversationId],
    ) -> StoreResult<Vec<ConversationSummary>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One statement per kind of fact for the whole page (a page holds at most 200): each
        // conversation's contact, its last message (the newest of its thread index), the
        // customer's messages after what was read, its tags.
        let mut conn = self.read.acquire().await?;
        // `sql` followed by the ids as a parenthesised list (`… IN (` ends `sql`).
        let in_list = |sql: &str, ids: &[ConversationId]| {
            let mut q = QueryBuilder::<DB>::new(sql);
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(id.get());
            }
            list.push_unseparated(")");
            q
        };
        // `+c.workspace_id`: the ids pick the rows; without the `+` SQLite walks the workspace's
        // conversations instead (10 ms at 100,000).
        let mut heads = QueryBuilder::<DB>::new(
            "SELECT c.id, ct.id, ct.name, ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
             WHERE +c.workspace_id = ",
        );
        heads.push_bind(ws.get()).push(" AND c.id IN (");
        let mut list = heads.separated(", ");
        for id in ids {
            list.push_bind(id.get());
        }
        list.push_unseparated(")");
        let heads: Vec<(i64, i64, Option<String>, Option<String>)> =
            heads.build_query_as().fetch_all(&mut *conn).await?;
        let found: Vec<ConversationId> = heads.iter().map(|h| ConversationId(h.0)).collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let last: Vec<(i64, String, String, Option<String>, String, i64)> = in_list(
            "SELECT m.conversation_id, m.direction, m.type, m.text, m.status, m.sent_at FROM messages m
             WHERE m.id IN (SELECT (SELECT l.id FROM messages l WHERE l.conversation_id = c.id
                                    ORDER BY l.sent_at DESC, l.id DESC LIMIT 1)
                            FROM conversations c WHERE c.id IN (",
            &found,
        )
        .push(")")
        .build_query_as()
        .fetch_all(&mut *conn)
        .await?;
        let unread: Vec<(i64, i64)> = in_list(
            "SELECT c.id, COUNT(m.id) FROM conversations c
             JOIN messages m ON m.conversation_id = c.id AND m.direction = 'in' AND m.id > c.read_upto
             WHERE c.id IN (",
            &found,
        )
        .push(" GROUP BY c.id")
        .build_query_as()
        .fetch_all(&mut *conn)
        .await?;
        let tags: Vec<(i64, String)> =
            in_list("SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN (", &found)
                .push(" ORDER BY conversation_id, tag")
                .build_query_as()
                .fetch_all(&mut *conn)
                .await?;
        let mut last: HashMap<i64, LastMessage> = last
            .into_iter()
            .map(|(conversation, direction, kind, text, status, sent_at)| {
                let sent_at = Timestamp::from_micros(sent_at);
                (conversation, LastMessage { direction, kind, text, status, sent_at })
            })
            .collect();
        let unread: HashMap<i64, i64> = unread.into_iter().collect();
        let mut tags_of: HashMap<i64, Vec<String>> = HashMap::new();
        for (conversation, tag) in tags {
            tags_of.entry(conversation).or_default().push(tag);
        }
        let mut heads: HashMap<i64, (i64, Option<String>, Option<String>)> =
            heads.into_iter().map(|(id, contact, name, phone)| (id, (contact, name, phone))).collect();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let (contact_id, contact_name, contact_phone) = heads.remove(&id.get())?;
                Some(ConversationSummary {
                    conversation_id: *id,
                    contact_id: ContactId(contact_id),
                    contact_name,
                    contact_phone,
                    last_message: last.remove(&id.get()),
                    unread: unread.get(&id.get()).copied().unwrap_or(0),
                    tags: tags_of.remove(&id.get()).unwrap_or_default(),
                })
            })
            .collect())
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

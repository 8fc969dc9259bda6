//! Internal notes on conversations: stored with the users they mention, an event on the
//! conversation's channel (so only those who see the channel see it), a notification for each
//! mentioned teammate who can see the conversation, and a mail owed to those of them who asked
//! for mentions by mail (`mention_mails`, claimed and mailed by the server's mail worker).

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, ConversationId, UserId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::notifications::notify_user;
use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{ConversationNote, ConversationNotes, MentionMail, NewConversationNote, Viewer};

type NoteRow = (i64, i64, Option<i64>, String, String, i64);

fn note(row: NoteRow) -> StoreResult<ConversationNote> {
    let (id, conversation_id, author_id, body, mentions, created_at) = row;
    let mentions: Vec<i64> = serde_json::from_str(&mentions)?;
    Ok(ConversationNote {
        id,
        conversation_id: ConversationId(conversation_id),
        author_id: author_id.map(UserId),
        body,
        mentions: mentions.into_iter().map(UserId).collect(),
        created_at: Timestamp::from_micros(created_at),
    })
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> ConversationNotes for SqlStore<DB> {
    async fn add_conversation_note(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        viewer: Viewer,
        new: NewConversationNote<'_>,
        now: Timestamp,
    ) -> StoreResult<ConversationNote> {
        let NewConversationNote { author, body, mentions } = new;
        let mut tx = self.begin_write().await?;
        let channel = Self::seen_conversation_channel(&mut tx, ws, conversation, viewer).await?;
        // Mentioned users who can see the conversation (a private channel's outsiders are not
        // told about it); never the author.
        let mut told = Vec::new();
        for user in mentions.iter().filter(|u| **u != author) {
            if Self::user_sees_channel(&mut tx, ws, *user, channel).await? == Some(true) {
                told.push(user.get());
            }
        }
        let row: NoteRow = sqlx::query_as(
            "INSERT INTO conversation_notes (workspace_id, conversation_id, author_id, body, mentions, created_at, search)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, conversation_id, author_id, body, mentions, created_at",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .bind(author.get())
        .bind(body.to_owned())
        .bind(serde_json::to_string(&told)?)
        .bind(now.as_micros())
        .bind(parley_core::search::search_words(body))
        .fetch_one(&mut *tx)
        .await?;
        let saved = note(row)?;
        let payload = json!({"conversation_id": conversation, "note": saved});
        let event = NewEvent::new("conversation.note_added", conversation.get(), &payload).on_channel(channel);
        Self::append_event(&mut tx, ws, event, now).await?;
        let author_name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(author.get())
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_default();
        let message = format!("{author_name} mentioned you in a note");
        let about = json!({"conversation_id": conversation, "note_id": saved.id, "by": author});
        for user in &told {
            notify_user::<DB>(&mut tx, ws, Some(UserId(*user)), "mention", Some(channel), &message, &about, now)
                .await?;
            // A mail owed, written with the note: mailed later by the mail worker.
            sqlx::query(
                "INSERT INTO mention_mails (workspace_id, user_id, note_id, created_at)
                 SELECT workspace_id, id, $1, $2 FROM users WHERE id = $3 AND mail_mentions = 1",
            )
            .bind(saved.id)
            .bind(now.as_micros())
            .bind(*user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(saved)
    }

    async fn conversation_notes(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        viewer: Viewer,
    ) -> StoreResult<Vec<ConversationNote>> {
        // Not found before anything else, for a conversation the viewer may not see.
        crate::Inbox::conversation(self, ws, conversation, viewer).await?;
        let rows: Vec<NoteRow> = sqlx::query_as(
            "SELECT id, conversation_id, author_id, body, mentions, created_at FROM conversation_notes
             WHERE workspace_id = $1 AND conversation_id = $2 ORDER BY id LIMIT 1000",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(note).collect()
    }
    async fn mention_mails_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<MentionMail>> {
        type Row = (i64, i64, i64, i64, i64, String, Option<i64>, i64, i64);
        // Most passes find nothing: a read first, so they never wait for (or hold) the writer.
        let owed: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM mention_mails WHERE done_at IS NULL AND (leased_until IS NULL OR leased_until < $1) LIMIT 1",
        )
        .bind(now.as_micros())
        .fetch_optional(&self.read)
        .await?;
        if owed.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT m.id, m.workspace_id, m.user_id, n.conversation_id, c.channel_id, n.body, n.author_id, m.created_at, m.attempts
             FROM mention_mails m
             JOIN conversation_notes n ON n.id = m.note_id
             JOIN conversations c ON c.id = n.conversation_id
             WHERE m.done_at IS NULL AND (m.leased_until IS NULL OR m.leased_until < $1)
             ORDER BY m.id LIMIT $2",
        )
        .bind(now.as_micros())
        .bind(i64::from(limit.clamp(1, 100)))
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for (id, ws, user, conversation, channel, note, author, created_at, attempts) in rows {
            let ws = WorkspaceId(ws);
            let wanted: Option<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT email, name, locale FROM users WHERE id = $1 AND mail_mentions = 1 AND deactivated_at IS NULL",
            )
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            let sees = Self::user_sees_channel(&mut tx, ws, UserId(user), ChannelId(channel)).await? == Some(true);
            let Some((to, user_name, locale)) = wanted.filter(|_| sees) else {
                sqlx::query(
                    "UPDATE mention_mails SET done_at = $1, outcome = 'skipped', leased_until = NULL WHERE id = $2",
                )
                .bind(now.as_micros())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                continue;
            };
            // Taken only if no other server took it since the read (read committed on PostgreSQL).
            let taken = sqlx::query(
                "UPDATE mention_mails SET leased_until = $1
                 WHERE id = $2 AND done_at IS NULL AND (leased_until IS NULL OR leased_until < $3)",
            )
            .bind(lease_until.as_micros())
            .bind(id)
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&taken) == 0 {
                continue;
            }
            let author_name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                .bind(author)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or_default();
            due.push(MentionMail {
                id,
                workspace_id: ws,
                to,
                user_name,
                locale,
                author_name,
                conversation_id: ConversationId(conversation),
                note,
                created_at: Timestamp::from_micros(created_at),
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    async fn mention_mailed(
        &self,
        id: i64,
        outcome: Result<(), String>,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let query = match outcome {
            Ok(()) => sqlx::query(
                "UPDATE mention_mails SET done_at = $1, outcome = 'mailed', leased_until = NULL, attempts = attempts + 1
                 WHERE id = $2",
            )
            .bind(now.as_micros())
            .bind(id),
            Err(error) => match retry_at {
                Some(at) => sqlx::query(
                    "UPDATE mention_mails SET leased_until = $1, last_error = $2, attempts = attempts + 1 WHERE id = $3",
                )
                .bind(at.as_micros())
                .bind(error)
                .bind(id),
                None => sqlx::query(
                    "UPDATE mention_mails SET done_at = $1, outcome = 'failed', leased_until = NULL, last_error = $2,
                     attempts = attempts + 1 WHERE id = $3",
                )
                .bind(now.as_micros())
                .bind(error)
                .bind(id),
            },
        };
        query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

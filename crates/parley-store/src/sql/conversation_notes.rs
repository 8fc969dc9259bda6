//! Internal notes on conversations: stored with the users they mention, an event on the
//! conversation's channel (so only those who see the channel see it), and a notification for
//! each mentioned teammate who can see the conversation.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ConversationId, UserId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::notifications::notify_user;
use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{ConversationNote, ConversationNotes, NewConversationNote, Viewer};

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
}

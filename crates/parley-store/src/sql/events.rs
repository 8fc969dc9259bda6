//! The event log: every state change appends here in the same transaction.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, ConversationId, EventId, UserId, WorkspaceId};
use sqlx::FromRow;

use super::{Engine, SqlStore, clamp_limit};
use crate::error::StoreResult;
use crate::{Event, Events, Viewer};

/// An event to append: what happened (`kind`), to which record, on which channel.
pub(crate) struct NewEvent<'a> {
    pub kind: &'a str,
    pub subject_id: Option<i64>,
    pub channel_id: Option<ChannelId>,
    pub payload: &'a serde_json::Value,
}

impl<'a> NewEvent<'a> {
    pub fn new(kind: &'a str, subject_id: i64, payload: &'a serde_json::Value) -> Self {
        NewEvent { kind, subject_id: Some(subject_id), channel_id: None, payload }
    }

    pub fn on_channel(mut self, channel: ChannelId) -> Self {
        self.channel_id = Some(channel);
        self
    }
}

#[derive(FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    subject_id: Option<i64>,
    payload: String,
    created_at: i64,
}

impl TryFrom<EventRow> for Event {
    type Error = crate::error::StoreError;
    fn try_from(r: EventRow) -> StoreResult<Event> {
        Ok(Event {
            id: EventId(r.id),
            kind: r.kind,
            subject_id: r.subject_id,
            payload: serde_json::from_str(&r.payload)?,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Appends one event inside the caller's transaction.
    pub(crate) async fn append_event(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        event: NewEvent<'_>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO events (workspace_id, kind, subject_id, channel_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ws.get())
        .bind(event.kind.to_owned())
        .bind(event.subject_id)
        .bind(event.channel_id.map(ChannelId::get))
        .bind(event.payload.to_string())
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// SQL condition: the business account in `$col` has a channel of workspace `$ws` that agent
/// `$agent` may see (any account when `$agent` is NULL: owners and managers see everything).
macro_rules! visible_account {
    ($col:literal, $ws:literal, $agent:literal) => {
        concat!(
            "(",
            $agent,
            " IS NULL OR ",
            $col,
            " IN (SELECT va.waba_id FROM channels va WHERE va.workspace_id = ",
            $ws,
            " AND (va.visibility = 'shared' OR EXISTS (",
            "SELECT 1 FROM channel_members vm WHERE vm.channel_id = va.id AND vm.user_id = ",
            $agent,
            "))))"
        )
    };
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Events for SqlStore<DB> {
    /// The events `viewer` may read. Every event is written naming what decides who reads it,
    /// and the filter applies to all of them alike:
    ///
    /// - **a channel** (`channel_id`): whatever happens to a number or on it — messages in and
    ///   out and every status they move through (dispatch, retries, webhooks), conversations and
    ///   their notes, tags, teams and assignees, the channel itself (created, changed, members),
    ///   its health (`channel.health_changed`, also when a webhook about the whole account
    ///   changes each of its numbers), raw webhook fields and marketing preferences received on
    ///   it. Readers: those who see the channel.
    /// - **a business account** (`waba_id`): templates belong to a WhatsApp Business Account,
    ///   not to one number — `template.submitted`, `template.updated` (webhook or sync),
    ///   `template.update_ignored`, `template.unknown_update`, `template.deleted`,
    ///   `templates.synced`. Readers: those who see any channel with that `waba_id`.
    /// - **neither**: what is about the whole workspace — contacts (the product decided every
    ///   member sees the workspace's contacts: `contact.*`, opt-ins, merges, duplicates,
    ///   imports), users, teams and workspace settings. Readers: everyone in the workspace.
    /// - **fees** (`fees.*`, e.g. `fees.balance_low`): money is for owners and managers only,
    ///   whatever the event names.
    ///
    /// An event naming both must pass both. A new event kind about a number or an account must
    /// name it (`EventBuffer::push_on_channel` / `push_on_account`, `NewEvent::on_channel`).
    async fn events(
        &self,
        ws: WorkspaceId,
        viewer: Viewer,
        after: EventId,
        upto: Option<EventId>,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT id, kind, subject_id, payload, created_at FROM events
             WHERE workspace_id = $1 AND id > $2 AND ($4 IS NULL OR id <= $4)
               AND (channel_id IS NULL OR ",
            visible_channel!("channel_id", "$5"),
            ") AND (waba_id IS NULL OR ",
            visible_account!("waba_id", "$1", "$5"),
            ") AND ($5 IS NULL OR kind NOT LIKE 'fees.%') ORDER BY id LIMIT $3"
        ))
        .bind(ws.get())
        .bind(after.get())
        .bind(clamp_limit(limit, 1000))
        .bind(upto.map(EventId::get))
        .bind(viewer.agent())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn event_ids_after(&self, after: EventId, limit: u32) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.get())
            .bind(clamp_limit(limit, 1000))
            .fetch_all(&self.read)
            .await?)
    }

    async fn last_event_id(&self, ws: WorkspaceId) -> StoreResult<EventId> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events WHERE workspace_id = $1")
            .bind(ws.get())
            .fetch_one(&self.read)
            .await?;
        Ok(EventId(id.unwrap_or(0)))
    }

    async fn assignee_at(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        before: EventId,
    ) -> StoreResult<Option<UserId>> {
        // `kind LIKE 'conversation.%'` as written in the partial index (`conversation_activity`).
        let payload: Option<String> = sqlx::query_scalar(
            "SELECT payload FROM events
             WHERE workspace_id = $1 AND subject_id = $2 AND id < $3 AND kind LIKE 'conversation.%'
               AND kind IN ('conversation.assigned', 'conversation.unassigned')
             ORDER BY id DESC LIMIT 1",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .bind(before.get())
        .fetch_optional(&self.read)
        .await?;
        let Some(payload) = payload else { return Ok(None) };
        let payload: serde_json::Value = serde_json::from_str(&payload)?;
        Ok(payload.get("to").and_then(serde_json::Value::as_i64).map(UserId))
    }

    async fn conversation_activity(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let mut conn = self.read.acquire().await?;
        Self::seen_conversation_channel(&mut conn, ws, id, viewer).await?;
        // `kind LIKE 'conversation.%'` as written in the partial index, so both engines use it.
        let mut rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, kind, subject_id, payload, created_at FROM events
             WHERE workspace_id = $1 AND subject_id = $2 AND kind LIKE 'conversation.%'
               AND kind <> 'conversation.note_added'
             ORDER BY id DESC LIMIT $3",
        )
        .bind(ws.get())
        .bind(id.get())
        .bind(clamp_limit(limit, 1000))
        .fetch_all(&mut *conn)
        .await?;
        rows.reverse();
        rows.into_iter().map(Event::try_from).collect()
    }
}

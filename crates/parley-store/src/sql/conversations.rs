//! Reading conversations and threads, and the inbound media download queue.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::conversation::{Conversation, ConversationStatus, Direction, MediaState, Message};
use parley_core::ids::{ChannelId, ContactId, ConversationId, MediaId, MessageId, TeamId, UserId, WorkspaceId};
use parley_core::message::{Content, DeliveryStatus, ProviderError, StatusUpdate};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};

use super::events::NewEvent;
use super::{Engine, SqlStore, clamp_limit};
use crate::error::{StoreError, StoreResult};
use crate::{
    AssigneeFilter, ConversationQuery, InboundOutcome, InboundWebhook, Inbox, JournalEntry, MediaFile, MediaJob,
    MessageQuery, NewJournalEntry, OPEN_COUNT_CAP, OpenCounts, Page, RoutedEvent, SortKey, TeamFilter, Viewer,
};

const MAX_PAGE: u32 = 200;

macro_rules! conversation_columns {
    () => {
        "c.id, c.workspace_id, c.channel_id, c.contact_id, c.status, c.assignee_id, c.team_id, c.last_message_at, c.last_inbound_at,
         c.last_referral_at, c.entry_point_opened_at, c.snoozed_until, c.closing_category, c.closing_summary,
         c.created_at, c.updated_at"
    };
}

/// A message's columns, with its media state, and the `FROM` they come from.
macro_rules! message_columns {
    () => {
        "m.id, m.conversation_id, m.channel_id, m.direction, m.provider_message_id, m.type, m.text, m.content,
         m.context, m.referral, m.status, m.status_at, m.error_code, m.error_title, m.error_details, m.pricing,
         m.sent_at, m.created_at, m.edited_at, m.previous_content, m.revoked_at, m.author_id, md.state AS media_state
         FROM messages m LEFT JOIN media md ON md.message_id = m.id"
    };
}

#[derive(FromRow)]
struct ConversationRow {
    id: i64,
    workspace_id: i64,
    channel_id: i64,
    contact_id: i64,
    status: String,
    assignee_id: Option<i64>,
    team_id: Option<i64>,
    last_message_at: i64,
    last_inbound_at: Option<i64>,
    last_referral_at: Option<i64>,
    entry_point_opened_at: Option<i64>,
    snoozed_until: Option<i64>,
    closing_category: Option<String>,
    closing_summary: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;
    fn try_from(r: ConversationRow) -> StoreResult<Self> {
        Ok(Conversation {
            id: ConversationId(r.id),
            workspace_id: WorkspaceId(r.workspace_id),
            channel_id: ChannelId(r.channel_id),
            contact_id: ContactId(r.contact_id),
            status: ConversationStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("conversation status {:?}", r.status)))?,
            assignee_id: r.assignee_id.map(UserId),
            team_id: r.team_id.map(TeamId),
            last_message_at: Timestamp::from_micros(r.last_message_at),
            last_inbound_at: r.last_inbound_at.map(Timestamp::from_micros),
            last_referral_at: r.last_referral_at.map(Timestamp::from_micros),
            entry_point_opened_at: r.entry_point_opened_at.map(Timestamp::from_micros),
            snoozed_until: r.snoozed_until.map(Timestamp::from_micros),
            closing_category: r.closing_category,
            closing_summary: r.closing_summary,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

#[derive(FromRow)]
struct MessageRow {
    id: i64,
    conversation_id: i64,
    channel_id: i64,
    direction: String,
    provider_message_id: Option<String>,
    #[sqlx(rename = "type")]
    kind: String,
    text: Option<String>,
    content: String,
    context: Option<String>,
    referral: Option<String>,
    status: String,
    status_at: Option<i64>,
    error_code: Option<i64>,
    error_title: Option<String>,
    error_details: Option<String>,
    pricing: Option<String>,
    sent_at: i64,
    created_at: i64,
    edited_at: Option<i64>,
    previous_content: Option<String>,
    revoked_at: Option<i64>,
    author_id: Option<i64>,
    media_state: Option<String>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> StoreResult<Self> {
        Ok(Message {
            id: MessageId(r.id),
            conversation_id: ConversationId(r.conversation_id),
            channel_id: ChannelId(r.channel_id),
            direction: if r.direction == "in" { Direction::In } else { Direction::Out },
            provider_message_id: r.provider_message_id,
            kind: r.kind,
            text: r.text,
            content: serde_json::from_str::<Content>(&r.content)?,
            context: r.context.as_deref().map(serde_json::from_str).transpose()?,
            referral: r.referral.as_deref().map(serde_json::from_str).transpose()?,
            status: DeliveryStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("message status {:?}", r.status)))?,
            status_at: r.status_at.map(Timestamp::from_micros),
            error: r.error_code.map(|code| ProviderError {
                code,
                title: r.error_title.unwrap_or_default(),
                details: r.error_details,
            }),
            pricing: r.pricing.as_deref().map(serde_json::from_str).transpose()?,
            author_id: r.author_id.map(UserId),
            sent_at: Timestamp::from_micros(r.sent_at),
            created_at: Timestamp::from_micros(r.created_at),
            edited_at: r.edited_at.map(Timestamp::from_micros),
            previous: r.previous_content.as_deref().map(serde_json::from_str).transpose()?,
            revoked_at: r.revoked_at.map(Timestamp::from_micros),
            media: r.media_state.as_deref().and_then(MediaState::parse),
        })
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Inbox for SqlStore<DB> {
    async fn apply_inbound(&self, events: &[RoutedEvent<'_>], now: Timestamp) -> StoreResult<InboundOutcome> {
        self.apply_webhooks(&[InboundWebhook { journal_id: None, events }], now).await
    }

    async fn apply_webhooks(&self, webhooks: &[InboundWebhook<'_>], now: Timestamp) -> StoreResult<InboundOutcome> {
        // Two deliveries of the same new customer can race on PostgreSQL (both create the
        // contact or the conversation; one hits the unique constraint), or two batches can
        // deadlock on conversation rows. Running the loser again sees the winner's rows and
        // turns its work into duplicates.
        let mut attempt = 0;
        loop {
            match self.apply_inbound_events(webhooks, now).await {
                Err(StoreError::Conflict { .. } | StoreError::Contention(_)) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(attempt, "inbound batch raced another transaction; retrying");
                }
                other => return other,
            }
        }
    }

    async fn journal_append(&self, entries: &[NewJournalEntry<'_>], now: Timestamp) -> StoreResult<Vec<i64>> {
        self.append_to_journal(entries, now).await
    }

    async fn journal_pending(&self, after: i64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.pending_in_journal(after, Timestamp::from_micros(i64::MAX), limit).await
    }

    async fn journal_received_by(
        &self,
        received_by: Timestamp,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        self.pending_in_journal(after, received_by, limit).await
    }

    async fn conversations(&self, ws: WorkspaceId, query: &ConversationQuery) -> StoreResult<Page<Conversation>> {
        let limit = clamp_limit(query.limit, MAX_PAGE);
        // Only the filters asked for are in the statement: SQLite plans a statement once, and a
        // condition like `($1 IS NULL OR c.status = $1)` keeps it off the index that serves the
        // filter (each has one ordered by last message: see migration 0018). The most selective
        // filter asked for reads its index; SQLite, which keeps no statistics, could pick
        // another (an agent's open conversations through every open one: 170 ms at a million),
        // so the other columns are written so that no index serves them (`Engine::UNINDEXED`).
        #[derive(PartialEq)]
        enum Drive {
            Contact,
            Assignee,
            Team,
            Channel,
            Status,
            Recent,
        }
        let drive = if query.contact.is_some() {
            Drive::Contact
        } else if query.assignee.is_some() {
            Drive::Assignee
        } else if matches!(query.team, Some(TeamFilter::Team(_))) {
            Drive::Team
        } else if query.channel.is_some() {
            Drive::Channel
        } else if query.status.is_some() {
            Drive::Status
        } else {
            Drive::Recent
        };
        let column = |name: &str, indexed: bool| format!("{}{name}", if indexed { "" } else { DB::UNINDEXED });
        let mut q =
            QueryBuilder::<DB>::new(concat!("SELECT ", conversation_columns!(), " FROM conversations c WHERE "));
        q.push(column("c.workspace_id", matches!(drive, Drive::Status | Drive::Recent)))
            .push(" = ")
            .push_bind(ws.get());
        if let Some(contact) = query.contact {
            q.push(" AND c.contact_id = ").push_bind(contact.get());
        }
        if let Some(channel) = query.channel {
            q.push(" AND ").push(column("c.channel_id", drive == Drive::Channel)).push(" = ").push_bind(channel.get());
        }
        if let Some(status) = query.status {
            let indexed = matches!(drive, Drive::Status | Drive::Assignee);
            q.push(" AND ").push(column("c.status", indexed)).push(" = ").push_bind(status.as_str().to_owned());
        }
        match query.assignee {
            Some(AssigneeFilter::User(user)) => {
                q.push(" AND c.assignee_id = ").push_bind(user.get());
            }
            Some(AssigneeFilter::Unassigned) => {
                q.push(" AND c.assignee_id IS NULL");
            }
            Some(AssigneeFilter::Bots) => {
                q.push(" AND c.assignee_id IN (SELECT u.id FROM users u WHERE u.bot = 1)");
            }
            None => {}
        }
        if let Some(tag) = &query.tag {
            q.push(" AND EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = c.id AND t.tag = ")
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(tag) = &query.contact_tag {
            q.push(" AND EXISTS (SELECT 1 FROM contact_tags ctg WHERE ctg.contact_id = c.contact_id AND ctg.tag = ")
                .push_bind(tag.clone())
                .push(")");
        }
        let team = column("c.team_id", drive == Drive::Team);
        match query.team {
            Some(TeamFilter::Team(id)) => {
                q.push(" AND ").push(team).push(" = ").push_bind(id.get());
            }
            Some(TeamFilter::None) => {
                q.push(" AND ").push(team).push(" IS NULL");
            }
            Some(TeamFilter::MemberOf(user)) => {
                q.push(" AND ")
                    .push(team)
                    .push(" IN (SELECT tm.team_id FROM team_members tm WHERE tm.user_id = ")
                    .push_bind(user.get())
                    .push(")");
            }
            None => {}
        }
        if let Some(agent) = query.viewer.agent() {
            q.push(" AND ")
                .push(column("c.channel_id", false))
                .push(
                    " IN (SELECT vc.id FROM channels vc WHERE vc.visibility = 'shared'
                      OR EXISTS (SELECT 1 FROM channel_members vm WHERE vm.channel_id = vc.id AND vm.user_id = ",
                )
                .push_bind(agent)
                .push("))");
        }
        if let Some(cursor) = query.cursor {
            q.push(" AND (c.last_message_at, c.id) < (").push_bind(cursor.at).push(", ").push_bind(cursor.id).push(")");
        }
        q.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ").push_bind(limit + 1);
        let rows: Vec<ConversationRow> = q.build_query_as().fetch_all(&self.read).await?;
        let items = rows.into_iter().map(Conversation::try_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, limit, |c| SortKey { at: c.last_message_at.as_micros(), id: c.id.get() }))
    }

    async fn open_counts(&self, ws: WorkspaceId, viewer: Viewer, me: UserId) -> StoreResult<OpenCounts> {
        // Each count reads at most the cap's worth of rows (`LIMIT` inside), each through its
        // own index: the workspace's open ones by status, mine and the unassigned by assignee.
        macro_rules! capped_count {
            ($which:literal) => {
                concat!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM conversations c
                       WHERE c.workspace_id = $1 AND c.status = 'open' AND ",
                    $which,
                    " AND ",
                    visible_channel!("c.channel_id", "$3"),
                    " LIMIT $4) capped"
                )
            };
        }
        const ALL: &str = capped_count!("$2 = $2");
        const MINE: &str = capped_count!("c.assignee_id = $2");
        const UNASSIGNED: &str = capped_count!("c.assignee_id IS NULL AND $2 = $2");
        const BOTS: &str = capped_count!("c.assignee_id IN (SELECT u.id FROM users u WHERE u.bot = 1) AND $2 = $2");
        let mut conn = self.read.acquire().await?;
        let mut counts = [0i64; 4];
        for (sql, count) in [ALL, MINE, UNASSIGNED, BOTS].into_iter().zip(counts.iter_mut()) {
            *count = sqlx::query_scalar(sql)
                .bind(ws.get())
                .bind(me.get())
                .bind(viewer.agent())
                .bind(OPEN_COUNT_CAP)
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(OpenCounts { all: counts[0], mine: counts[1], unassigned: counts[2], bots: counts[3] })
    }

    async fn conversation(&self, ws: WorkspaceId, id: ConversationId, viewer: Viewer) -> StoreResult<Conversation> {
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c WHERE c.workspace_id = $1 AND c.id = $2 AND ",
            visible_channel!("c.channel_id", "$3")
        );
        let row: ConversationRow =
            sqlx::query_as(sql).bind(ws.get()).bind(id.get()).bind(viewer.agent()).fetch_one(&self.read).await?;
        row.try_into()
    }

    async fn messages(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        query: &MessageQuery,
    ) -> StoreResult<Page<Message>> {
        // Not found (here or in another workspace) before anything else.
        self.conversation(ws, conversation, query.viewer).await?;
        let limit = clamp_limit(query.limit, MAX_PAGE);
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " WHERE m.workspace_id = $1 AND m.conversation_id = $2
               AND ($3 IS NULL OR m.sent_at > $3 OR (m.sent_at = $3 AND m.id > $4))
             ORDER BY m.sent_at, m.id LIMIT $5"
        ))
        .bind(ws.get())
        .bind(conversation.get())
        .bind(query.cursor.map(|c| c.at))
        .bind(query.cursor.map(|c| c.id))
        .bind(limit + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.into_iter().map(Message::try_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(page(items, limit, |m| SortKey { at: m.sent_at.as_micros(), id: m.id.get() }))
    }

    async fn claim_media(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> StoreResult<Vec<MediaJob>> {
        let mut tx = self.begin_write().await?;
        // The re-check of the lease in the outer WHERE makes a concurrent claimer on PostgreSQL
        // skip rows another process just leased.
        let rows: Vec<(i64, i64, i64, i64, String, Option<String>, i64, Option<String>)> = sqlx::query_as(
            "UPDATE media SET lease_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id IN (SELECT id FROM media WHERE state = 'pending' AND next_attempt_at <= $2
                            AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_attempt_at, id LIMIT $3)
               AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2)
             RETURNING id, workspace_id, channel_id, message_id, provider_media_id, mime_type, attempts, connection_key",
        )
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(clamp_limit(limit, 100))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, ws, channel, message, provider_media_id, mime_type, attempts, connection_key)| MediaJob {
                id: MediaId(id),
                workspace_id: WorkspaceId(ws),
                channel_id: ChannelId(channel),
                message_id: MessageId(message),
                provider_media_id,
                mime_type,
                attempts,
                connection_key,
            })
            .collect())
    }

    async fn media_downloaded(
        &self,
        id: MediaId,
        sha256: &str,
        size: i64,
        mime_type: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let row: (i64, i64, i64) = sqlx::query_as(
            "UPDATE media SET state = 'available', sha256 = $1, size = $2, mime_type = COALESCE($3, mime_type), lease_until = NULL,
                last_error = NULL, updated_at = $4
             WHERE id = $5 RETURNING workspace_id, channel_id, message_id",
        )
        .bind(sha256.to_owned())
        .bind(size)
        .bind(mime_type.map(str::to_owned))
        .bind(now.as_micros())
        .bind(id.get())
        .fetch_one(&mut *tx)
        .await?;
        let payload = json!({"message_id": row.2, "media": "available", "size": size});
        let event = NewEvent::new("message.media", row.2, &payload).on_channel(ChannelId(row.1));
        Self::append_event(&mut tx, WorkspaceId(row.0), event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn media_failed(
        &self,
        id: MediaId,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let state = if retry_at.is_some() { "pending" } else { "failed" };
        let row: (i64, i64, i64) = sqlx::query_as(
            "UPDATE media SET state = $1, last_error = $2, next_attempt_at = COALESCE($3, next_attempt_at), lease_until = NULL,
                updated_at = $4
             WHERE id = $5 RETURNING workspace_id, channel_id, message_id",
        )
        .bind(state.to_owned())
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_at.map(Timestamp::as_micros))
        .bind(now.as_micros())
        .bind(id.get())
        .fetch_one(&mut *tx)
        .await?;
        if retry_at.is_none() {
            let payload = json!({"message_id": row.2, "media": "failed", "error": error});
            let event = NewEvent::new("message.media", row.2, &payload).on_channel(ChannelId(row.1));
            Self::append_event(&mut tx, WorkspaceId(row.0), event, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_outbound(
        &self,
        channel: &Channel,
        contact: ContactId,
        content: &Content,
        provider_message_id: &str,
        now: Timestamp,
    ) -> StoreResult<Message> {
        let ws = channel.workspace_id;
        let mut tx = self.begin_write().await?;
        let conversation = Self::ensure_conversation(&mut tx, channel, contact, now).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, provider_message_id, type, text, content,
                target_provider_id, status, status_rank, status_at, sent_at, created_at, search)
             VALUES ($1, $2, $3, 'out', $4, $5, $6, $7, $8, 'sent', $9, $10, $10, $10, $11) RETURNING id",
        )
        .bind(ws.get())
        .bind(conversation)
        .bind(channel.id.get())
        .bind(provider_message_id.to_owned())
        .bind(content.type_name().to_owned())
        .bind(content.text().map(str::to_owned))
        .bind(serde_json::to_string(content)?)
        .bind(super::inbound::target_of(content).map(str::to_owned))
        .bind(i64::from(DeliveryStatus::Sent.rank()))
        .bind(now.as_micros())
        .bind(super::message_search(content.search_text()))
        .fetch_one(&mut *tx)
        .await?;
        let payload = json!({"message_id": id, "conversation_id": conversation, "type": content.type_name(), "text": content.text()});
        Self::append_event(&mut tx, ws, NewEvent::new("message.sent", id, &payload).on_channel(channel.id), now)
            .await?;
        Self::apply_early_statuses(&mut tx, channel, provider_message_id, now).await?;
        let message = Self::message_by_id(&mut tx, id).await?;
        tx.commit().await?;
        Ok(message)
    }

    async fn set_conversation_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        self.move_conversation(ws, id, status, None, by, now).await
    }

    async fn snooze_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        until: Timestamp,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        self.move_conversation(ws, id, ConversationStatus::Snoozed, Some(until), by, now).await
    }

    async fn wake_snoozed(&self, now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let woken: Vec<(i64, i64, i64)> = sqlx::query_as(
            "UPDATE conversations SET status = 'open', snoozed_until = NULL, updated_at = $1
             WHERE status = 'snoozed' AND snoozed_until <= $1 RETURNING id, workspace_id, channel_id",
        )
        .bind(now.as_micros())
        .fetch_all(&mut *tx)
        .await?;
        for (id, ws, channel) in &woken {
            let payload = json!({"conversation_id": id, "status": "open", "by": null, "reason": "snooze_ended"});
            let event = NewEvent::new("conversation.status_changed", *id, &payload).on_channel(ChannelId(*channel));
            Self::append_event(&mut tx, WorkspaceId(*ws), event, now).await?;
        }
        tx.commit().await?;
        Ok(woken.len() as u64)
    }

    async fn assign_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        assignee: Option<UserId>,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c WHERE c.workspace_id = $1 AND c.id = $2"
        );
        let row: ConversationRow = sqlx::query_as(sql).bind(ws.get()).bind(id.get()).fetch_one(&mut *tx).await?;
        let before = Conversation::try_from(row)?;
        if before.assignee_id == assignee {
            return Ok(before);
        }
        if let Some(user) = assignee {
            // The assignee must see the conversation: an agent of a private channel is a member.
            let Some(sees) = Self::user_sees_channel(&mut tx, ws, user, before.channel_id).await? else {
                return Err(parley_core::Invalid::new(
                    "unknown_user",
                    Some("user_id".to_owned()),
                    "no user of this workspace has this id",
                )
                .into());
            };
            if !sees {
                return Err(parley_core::Invalid::new(
                    "assignee_cannot_see",
                    Some("user_id".to_owned()),
                    "this agent is not a member of the conversation's private channel",
                )
                .into());
            }
        }
        sqlx::query("UPDATE conversations SET assignee_id = $1, updated_at = $2 WHERE id = $3")
            .bind(assignee.map(|u| u.get()))
            .bind(now.as_micros())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        let sql = concat!("SELECT ", conversation_columns!(), " FROM conversations c WHERE c.id = $1");
        let row: ConversationRow = sqlx::query_as(sql).bind(id.get()).fetch_one(&mut *tx).await?;
        let conversation = Conversation::try_from(row)?;
        let payload = json!({"conversation_id": id, "from": before.assignee_id, "to": assignee, "by": by});
        let kind = if assignee.is_some() { "conversation.assigned" } else { "conversation.unassigned" };
        let event = NewEvent::new(kind, id.get(), &payload).on_channel(conversation.channel_id);
        Self::append_event(&mut tx, ws, event, now).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    async fn media_file(&self, ws: WorkspaceId, message: MessageId, viewer: Viewer) -> StoreResult<MediaFile> {
        let row: (String, Option<String>, Option<String>, Option<i64>, Option<String>) = sqlx::query_as(concat!(
            "SELECT state, sha256, mime_type, size, last_error FROM media WHERE workspace_id = $1 AND message_id = $2 AND ",
            visible_channel!("channel_id", "$3")
        ))
        .bind(ws.get())
        .bind(message.get())
        .bind(viewer.agent())
        .fetch_one(&self.read)
        .await?;
        Ok(MediaFile {
            state: MediaState::parse(&row.0).ok_or_else(|| StoreError::Corrupt(format!("media state {:?}", row.0)))?,
            sha256: row.1,
            mime_type: row.2,
            size: row.3,
            last_error: row.4,
        })
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Moves a conversation to `status` (with the time a snooze ends), as an event naming who.
    async fn move_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
        until: Option<Timestamp>,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        let mut tx = self.begin_write().await?;
        let conversation = Self::move_conversation_in(&mut tx, ws, id, status, until, by, None, now).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// The same inside the caller's transaction; `note` (a closing note) joins the event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn move_conversation_in(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
        until: Option<Timestamp>,
        by: Option<UserId>,
        note: Option<serde_json::Value>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        let done = sqlx::query(
            "UPDATE conversations SET status = $1, snoozed_until = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5",
        )
        .bind(status.as_str().to_owned())
        .bind(until.map(|t| t.as_micros()))
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(id.get())
        .execute(&mut *conn)
        .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        let sql = concat!("SELECT ", conversation_columns!(), " FROM conversations c WHERE c.id = $1");
        let row: ConversationRow = sqlx::query_as(sql).bind(id.get()).fetch_one(&mut *conn).await?;
        let conversation = Conversation::try_from(row)?;
        let payload =
            json!({"conversation_id": id, "status": status.as_str(), "until": until, "by": by, "closing_note": note});
        let event =
            NewEvent::new("conversation.status_changed", id.get(), &payload).on_channel(conversation.channel_id);
        Self::append_event(&mut *conn, ws, event, now).await?;
        Ok(conversation)
    }

    /// The contact × channel conversation, created (open) if there is none yet.
    pub(crate) async fn ensure_conversation(
        conn: &mut DB::Connection,
        channel: &Channel,
        contact: ContactId,
        now: Timestamp,
    ) -> StoreResult<i64> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2")
                .bind(channel.id.get())
                .bind(contact.get())
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(id) = found {
            // Every row is touched (and so held until commit): a conversation deleted since it was
            // found must not receive messages (PostgreSQL keeps no foreign key on them, migration
            // 0022).
            let held: Option<i64> = sqlx::query_scalar(
                "UPDATE conversations SET
                    updated_at = CASE WHEN last_message_at < $1 THEN $1 ELSE updated_at END,
                    last_message_at = CASE WHEN last_message_at < $1 THEN $1 ELSE last_message_at END
                 WHERE id = $2 RETURNING id",
            )
            .bind(now.as_micros())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            return held.ok_or_else(|| StoreError::Contention("the conversation was deleted meanwhile".into()));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (workspace_id, channel_id, contact_id, status, last_message_at, created_at, updated_at)
             SELECT $1, $2, id, 'open', $4, $4, $4 FROM contacts WHERE workspace_id = $1 AND id = $3 RETURNING id",
        )
        .bind(channel.workspace_id.get())
        .bind(channel.id.get())
        .bind(contact.get())
        .bind(now.as_micros())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        let payload = json!({"conversation_id": id, "contact_id": contact, "channel_id": channel.id});
        Self::append_event(
            conn,
            channel.workspace_id,
            NewEvent::new("conversation.opened", id, &payload).on_channel(channel.id),
            now,
        )
        .await?;
        Ok(id)
    }

    /// Statuses the provider reported before we recorded the message's provider id.
    pub(crate) async fn apply_early_statuses(
        conn: &mut DB::Connection,
        channel: &Channel,
        provider_message_id: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut events = super::inbound::EventBuffer::default();
        let logged: Vec<LoggedStatus> = sqlx::query_as(
            "SELECT status, status_at, errors, pricing, raw FROM message_statuses
             WHERE channel_id = $1 AND provider_message_id = $2 ORDER BY id",
        )
        .bind(channel.id.get())
        .bind(provider_message_id.to_owned())
        .fetch_all(&mut *conn)
        .await?;
        for LoggedStatus { status, status_at: at, errors, pricing, raw } in logged {
            let Some(status) = DeliveryStatus::parse(&status) else { continue };
            let update = StatusUpdate {
                provider_message_id: provider_message_id.to_owned(),
                status,
                at: Timestamp::from_micros(at),
                recipient: None,
                errors: errors.as_deref().map(serde_json::from_str).transpose()?.unwrap_or_default(),
                pricing: pricing.as_deref().map(serde_json::from_str).transpose()?,
                raw: serde_json::from_str(&raw)?,
            };
            Self::apply_logged_status(conn, channel, &update, &mut events).await?;
        }
        Self::flush_events(conn, events, now).await
    }

    pub(crate) async fn conversation_by_id(conn: &mut DB::Connection, id: i64) -> StoreResult<Conversation> {
        let sql = concat!("SELECT ", conversation_columns!(), " FROM conversations c WHERE c.id = $1");
        let row: ConversationRow = sqlx::query_as(sql).bind(id).fetch_one(&mut *conn).await?;
        row.try_into()
    }

    pub(crate) async fn message_by_id(conn: &mut DB::Connection, id: i64) -> StoreResult<Message> {
        let row: MessageRow = sqlx::query_as(concat!("SELECT ", message_columns!(), " WHERE m.id = $1"))
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        row.try_into()
    }
}

#[derive(FromRow)]
struct LoggedStatus {
    status: String,
    status_at: i64,
    errors: Option<String>,
    pricing: Option<String>,
    raw: String,
}

/// Cuts the extra row a query fetched to learn whether there is a next page.
fn page<T>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> SortKey) -> Page<T> {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| key(last).render())
    } else {
        None
    };
    Page { items, next_cursor }
}

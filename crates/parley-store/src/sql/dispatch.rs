//! The dispatcher's side of the outbox: claiming due jobs, marking them `sending` right before
//! their requests leave, recording outcomes in groups, expiring leases, and counting. Statements
//! work on whole groups of jobs (`IN (…)` lists cut by `statement_chunks`), so a dispatcher
//! sending a thousand messages a second runs a few statements per group, not per message.

use super::locks::LockClass;
use macro_rules_attribute::apply;
use std::collections::{HashMap, HashSet};

use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::ids::{ChannelId, ContactId, ConversationId, MessageId, WorkspaceId};
use parley_core::message::{Content, DeliveryStatus, ProviderError};
use serde_json::json;
use sqlx::{Encode, FromRow, QueryBuilder, Type};

use super::inbound::{EventBuffer, statement_chunks};
use super::{Engine, SqlStore, clamp_limit};
use crate::error::{StoreError, StoreResult};
use crate::{JobOutcome, OutboxCounts, OutboxJob};

#[derive(FromRow)]
struct JobRow {
    id: i64,
    workspace_id: i64,
    message_id: i64,
    channel_id: i64,
    conversation_id: i64,
    contact_id: i64,
    recipient: String,
    attempts: i64,
    content: String,
    context: Option<String>,
}

impl TryFrom<JobRow> for OutboxJob {
    type Error = StoreError;
    fn try_from(r: JobRow) -> StoreResult<Self> {
        let context: Option<parley_core::message::Context> =
            r.context.as_deref().map(serde_json::from_str).transpose()?;
        Ok(OutboxJob {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            message_id: MessageId(r.message_id),
            channel_id: ChannelId(r.channel_id),
            conversation_id: ConversationId(r.conversation_id),
            contact_id: ContactId(r.contact_id),
            recipient: r.recipient,
            attempts: r.attempts,
            content: serde_json::from_str::<Content>(&r.content)?,
            reply_to: context.and_then(|c| c.reply_to),
        })
    }
}

/// A job closed by an outcome: whose it is.
#[derive(FromRow)]
struct Closed {
    id: i64,
    workspace_id: i64,
    channel_id: i64,
    message_id: i64,
}

/// Appends `(a, b, c)` to a statement: the values bound.
fn push_list<DB: Engine>(qb: &mut QueryBuilder<DB>, values: &[i64])
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    qb.push("(");
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(*v);
    }
    qb.push(")");
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    pub(crate) async fn channels_with_due_jobs(&self, now: Timestamp) -> StoreResult<Vec<ChannelId>> {
        // One indexed probe per channel (there are few), not a scan of a deep queue.
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT c.id FROM channels c WHERE EXISTS (
                SELECT 1 FROM outbox o WHERE o.channel_id = c.id AND o.state = 'pending' AND o.next_attempt_at <= $1)
             ORDER BY c.id",
        )
        .bind(now.as_micros())
        .fetch_all(&self.read)
        .await?;
        Ok(ids.into_iter().map(ChannelId).collect())
    }

    pub(crate) async fn claim_jobs(
        &self,
        channel: ChannelId,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxJob>> {
        let mut tx = self.begin_write().await?;
        // Only the oldest unfinished job of each conversation: sends keep their order. Due jobs
        // come in the order of the `outbox_channel_due` index: a deep queue is not sorted.
        let sql = format!(
            "UPDATE {} SET state = 'claimed', lease_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id IN (
                SELECT o.id FROM outbox o
                WHERE o.channel_id = $4 AND o.state = 'pending' AND o.next_attempt_at <= $2
                  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id AND p.id < o.id
                                    AND p.state IN ('pending', 'claimed', 'sending'))
                ORDER BY o.next_attempt_at, o.id LIMIT $3{})
               AND state = 'pending'
             RETURNING id",
            DB::OUTBOX_BY_ID,
            DB::SKIP_LOCKED
        );
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(lease_until.as_micros())
            .bind(now.as_micros())
            .bind(clamp_limit(limit, 500))
            .bind(channel.get())
            .fetch_all(&mut *tx)
            .await?;
        let mut jobs: Vec<OutboxJob> = Vec::with_capacity(ids.len());
        for chunk in statement_chunks(&ids) {
            let mut qb = QueryBuilder::<DB>::new(
                "SELECT o.id, o.workspace_id, o.message_id, o.channel_id, o.conversation_id, o.contact_id, o.recipient,
                    o.attempts, m.content, m.context
                 FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.id IN ",
            );
            push_list(&mut qb, chunk);
            let rows: Vec<JobRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
            for row in rows {
                jobs.push(row.try_into()?);
            }
        }
        tx.commit().await?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    pub(crate) async fn start_jobs(&self, jobs: &[i64], now: Timestamp) -> StoreResult<Vec<i64>> {
        let mut tx = self.begin_write().await?;
        let mut started = Vec::with_capacity(jobs.len());
        let mut events = EventBuffer::default();
        for chunk in statement_chunks(jobs) {
            // Only jobs still claimed by us: if a lease ran out, another dispatcher may own it.
            let mut qb = QueryBuilder::<DB>::new("UPDATE outbox SET state = 'sending', updated_at = ");
            qb.push_bind(now.as_micros()).push(" WHERE state = 'claimed' AND lease_until > ");
            qb.push_bind(now.as_micros()).push(" AND id IN ");
            push_list(&mut qb, chunk);
            qb.push(" RETURNING id, workspace_id, channel_id, message_id");
            let closed: Vec<Closed> = qb.build_query_as().fetch_all(&mut *tx).await?;
            let messages: Vec<i64> = closed.iter().map(|c| c.message_id).collect();
            let moved = Self::move_statuses(&mut tx, &messages, DeliveryStatus::Sending, now).await?;
            for c in &closed {
                if moved.contains(&c.message_id) {
                    let payload = json!({"message_id": c.message_id, "status": "sending"});
                    let channel = ChannelId(c.channel_id);
                    events.push_on_channel(
                        WorkspaceId(c.workspace_id),
                        "message.status",
                        Some(c.message_id),
                        channel,
                        &payload,
                    );
                }
                started.push(c.id);
            }
        }
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(started)
    }

    /// Moves `messages` forward to `status` (never back); answers those that moved.
    async fn move_statuses(
        conn: &mut DB::Connection,
        messages: &[i64],
        status: DeliveryStatus,
        now: Timestamp,
    ) -> StoreResult<HashSet<i64>> {
        if messages.is_empty() {
            return Ok(HashSet::new());
        }
        let rank = i64::from(status.rank());
        let mut qb = QueryBuilder::<DB>::new("SELECT id FROM messages WHERE status_rank < ");
        qb.push_bind(rank).push(" AND id IN ");
        push_list(&mut qb, messages);
        let moving: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
        if !moving.is_empty() {
            let mut qb = QueryBuilder::<DB>::new("UPDATE messages SET status = ");
            qb.push_bind(status.as_str().to_owned()).push(", status_rank = ").push_bind(rank);
            qb.push(", status_at = ").push_bind(now.as_micros()).push(" WHERE id IN ");
            push_list(&mut qb, &moving);
            qb.build().execute(&mut *conn).await?;
        }
        Ok(moving.into_iter().collect())
    }

    pub(crate) async fn record_outcomes(&self, outcomes: &[JobOutcome], now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let mut channels: HashMap<i64, Channel> = HashMap::new();
        let sent: Vec<(i64, &str)> = outcomes
            .iter()
            .filter_map(|o| match o {
                JobOutcome::Sent { job, provider_message_id } => Some((*job, provider_message_id.as_str())),
                _ => None,
            })
            .collect();
        for chunk in statement_chunks(&sent) {
            Self::record_sent(&mut tx, chunk, &mut channels, now).await?;
        }
        for outcome in outcomes {
            match outcome {
                JobOutcome::Sent { .. } => {}
                JobOutcome::Failed { job, error } => {
                    Self::close_job(&mut tx, *job, "failed", DeliveryStatus::Failed, error, &mut channels, now).await?;
                }
                JobOutcome::Unknown { job, reason } => {
                    let error =
                        ProviderError { code: 0, title: "outcome unknown".into(), details: Some(reason.clone()) };
                    Self::close_job(&mut tx, *job, "unknown", DeliveryStatus::Unknown, &error, &mut channels, now)
                        .await?;
                }
                JobOutcome::Retry { job, error, at } => {
                    sqlx::query(
                        "UPDATE outbox SET state = 'pending', lease_until = NULL, last_error = $1, next_attempt_at = $2,
                            updated_at = $3 WHERE id = $4",
                    )
                    .bind(error.chars().take(500).collect::<String>())
                    .bind(at.as_micros())
                    .bind(now.as_micros())
                    .bind(*job)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn channel_cached<'c>(
        conn: &mut DB::Connection,
        cache: &'c mut HashMap<i64, Channel>,
        ws: i64,
        channel: i64,
    ) -> StoreResult<&'c Channel> {
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(channel) {
            slot.insert(Self::channel_in(conn, WorkspaceId(ws), ChannelId(channel)).await?);
        }
        Ok(&cache[&channel])
    }

    /// A group of accepted sends: jobs closed, provider ids recorded, statuses moved to `sent`,
    /// and any statuses the provider reported before we knew the id applied now.
    async fn record_sent(
        conn: &mut DB::Connection,
        sent: &[(i64, &str)],
        channels: &mut HashMap<i64, Channel>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let jobs: Vec<i64> = sent.iter().map(|(j, _)| *j).collect();
        let mut qb = QueryBuilder::<DB>::new(
            "UPDATE outbox SET state = 'sent', lease_until = NULL, last_error = NULL, updated_at = ",
        );
        qb.push_bind(now.as_micros()).push(" WHERE id IN ");
        push_list(&mut qb, &jobs);
        qb.push(" RETURNING id, workspace_id, channel_id, message_id");
        let closed: Vec<Closed> = qb.build_query_as().fetch_all(&mut *conn).await?;
        if closed.is_empty() {
            return Ok(());
        }
        let provider_id: HashMap<i64, &str> = sent.iter().copied().collect();
        // A status webhook for these ids, committing meanwhile, is seen below (`sql/locks.rs`).
        let keys = closed
            .iter()
            .map(|c| format!("{}:{}", c.channel_id, provider_id.get(&c.id).copied().unwrap_or_default()))
            .collect();
        DB::lock_keys(conn, LockClass::ProviderMessage, keys).await?;
        let messages: Vec<i64> = closed.iter().map(|c| c.message_id).collect();
        let mut qb = QueryBuilder::<DB>::new("UPDATE messages SET provider_message_id = CASE id");
        for c in &closed {
            qb.push(" WHEN ").push_bind(c.message_id);
            qb.push(" THEN ").push_bind(provider_id.get(&c.id).copied().unwrap_or_default().to_owned());
        }
        qb.push(" END WHERE id IN ");
        push_list(&mut qb, &messages);
        qb.build().execute(&mut *conn).await?;
        let moved = Self::move_statuses(conn, &messages, DeliveryStatus::Sent, now).await?;
        let mut events = EventBuffer::default();
        for c in &closed {
            if moved.contains(&c.message_id) {
                let channel = Self::channel_cached(conn, channels, c.workspace_id, c.channel_id).await?;
                let payload = json!({"message_id": c.message_id, "status": "sent", "at": now, "error": null});
                events.push(WorkspaceId(c.workspace_id), "message.status", Some(c.message_id), Some(channel), &payload);
            }
        }
        Self::flush_events(conn, events, now).await?;
        // Statuses Meta reported before the id was recorded (rare: looked up per channel).
        let mut by_channel: HashMap<(i64, i64), Vec<String>> = HashMap::new();
        for c in &closed {
            let pid = provider_id.get(&c.id).copied().unwrap_or_default().to_owned();
            by_channel.entry((c.workspace_id, c.channel_id)).or_default().push(pid);
        }
        for ((ws, channel_id), pids) in by_channel {
            let mut qb = QueryBuilder::<DB>::new(
                "SELECT DISTINCT provider_message_id FROM message_statuses WHERE channel_id = ",
            );
            qb.push_bind(channel_id).push(" AND provider_message_id IN (");
            let mut list = qb.separated(", ");
            for p in &pids {
                list.push_bind(p.clone());
            }
            qb.push(")");
            let early: Vec<String> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
            if !early.is_empty() {
                let channel = Self::channel_cached(conn, channels, ws, channel_id).await?.clone();
                for pid in early {
                    Self::apply_early_statuses(conn, &channel, &pid, now).await?;
                }
            }
        }
        Ok(())
    }

    /// Closes one job as `failed` or `unknown`, with the error on its message.
    async fn close_job(
        conn: &mut DB::Connection,
        job: i64,
        state: &str,
        status: DeliveryStatus,
        error: &ProviderError,
        channels: &mut HashMap<i64, Channel>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let row: Option<Closed> = sqlx::query_as(
            "UPDATE outbox SET state = $1, lease_until = NULL, last_error = $2, updated_at = $3 WHERE id = $4
             RETURNING id, workspace_id, channel_id, message_id",
        )
        .bind(state.to_owned())
        .bind(format!("{} ({})", error.title, error.code))
        .bind(now.as_micros())
        .bind(job)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(c) = row else { return Ok(()) };
        let moved = Self::set_message_status(conn, c.message_id, status, Some(error), now, true).await?;
        if moved {
            let channel = Self::channel_cached(conn, channels, c.workspace_id, c.channel_id).await?;
            let payload = json!({"message_id": c.message_id, "status": status.as_str(), "at": now, "error": error});
            let mut events = EventBuffer::default();
            events.push(WorkspaceId(c.workspace_id), "message.status", Some(c.message_id), Some(channel), &payload);
            Self::flush_events(conn, events, now).await?;
        }
        Ok(())
    }

    pub(crate) async fn expire_leases(&self, now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        // Claimed but never started: certainly not sent, back in the queue.
        sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_until = NULL, updated_at = $1 WHERE state = 'claimed' AND lease_until < $1",
        )
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        // Started: it may have been sent before the process died. Never resent by itself; an
        // agent decides.
        let jobs: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE state = 'sending' AND lease_until < $1")
            .bind(now.as_micros())
            .fetch_all(&mut *tx)
            .await?;
        let error = ProviderError {
            code: 0,
            title: "outcome unknown".into(),
            details: Some("the dispatcher stopped while sending; check with the customer before retrying".into()),
        };
        let mut channels = HashMap::new();
        for job in &jobs {
            Self::close_job(&mut tx, *job, "unknown", DeliveryStatus::Unknown, &error, &mut channels, now).await?;
        }
        tx.commit().await?;
        Ok(jobs.len() as u64)
    }

    pub(crate) async fn count_outbox(&self, ws: WorkspaceId, channel: ChannelId) -> StoreResult<OutboxCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox
             WHERE state IN ('pending', 'claimed', 'sending', 'failed', 'unknown') AND workspace_id = $1 AND channel_id = $2
             GROUP BY state",
        )
        .bind(ws.get())
        .bind(channel.get())
        .fetch_all(&self.read)
        .await?;
        let mut counts = OutboxCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => counts.queued += n,
                "claimed" | "sending" => counts.in_flight += n,
                "failed" => counts.failed += n,
                _ => counts.unknown += n,
            }
        }
        Ok(counts)
    }
}

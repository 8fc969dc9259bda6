//! Applying a webhook's events in one transaction (ARCHITECTURE.md "In"): senders resolved to
//! contacts, conversations opened or reopened, messages inserted under their unique
//! `(channel, provider_message_id)`, statuses moved forward only, events appended.
//!
//! Work is done per batch, not per message: one query finds the already-stored messages, one the
//! known senders, multi-row inserts store messages, statuses and events. SQLite runs every
//! statement on its own thread, so the number of statements, not their cost, bounds ingest.
//!
//! - `messages.rs` — the message pipeline (dedup, senders, conversations, inserts).
//! - `senders.rs` — senders to contacts (found, or created together).
//! - `changes.rs` — edits, revokes and system notices that change other rows.
//! - `journal.rs` — webhooks acknowledged before they are applied, each applied once.
//! - `keyed.rs` — the statements over lists of keys, per engine.

mod changes;
mod journal;
pub(crate) mod keyed;
mod messages;
mod senders;

use crate::sql::locks::LockClass;
use macro_rules_attribute::apply;
use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::ids::{ChannelId, WorkspaceId};
use parley_core::message::{Content, DeliveryStatus, InboundEvent, StatusUpdate};
use serde_json::{Value, json};
use sqlx::QueryBuilder;

use super::{Engine, EventRow, SqlStore};
use crate::error::StoreResult;
use crate::{InboundOutcome, InboundWebhook};
use std::sync::atomic::Ordering;

pub(crate) const WA_ID: &str = "wa_id";
pub(crate) const BSUID: &str = "bsuid";
/// Most rows per multi-row statement or `IN` list: 1,024 rows of up to 9 columns stay well under
/// SQLite's and PostgreSQL's parameter limits (32,766 and 65,535). Fewer, longer statements
/// ingest faster on PostgreSQL (+10 % at 128 → 1,024 on `parley bench webhooks`, measured while
/// it still planned every statement anew); SQLite is the same either way.
pub(crate) const MAX_ROWS: usize = 1024;

/// The table size the statistics give (`estimate`; -1 or none when never analysed) when it is far
/// larger than the `added` messages this process counted: a server started on a big database,
/// whose statistics autovacuum keeps. Counting then goes on from that size.
fn already_large(estimate: Option<i64>, added: u64) -> Option<u64> {
    let known = u64::try_from(estimate?).ok()?;
    (known > added * 2).then_some(known)
}

/// No refresh of the inbound statistics is due past this many stored messages. By then the
/// statistics know how many rows a page of each table holds, and PostgreSQL scales its estimates
/// by a table's current size in pages: later refreshes change no plan of the webhook's key
/// lookups. They were the costly ones, sampling the most rows: the refreshes took about 5 % of
/// PostgreSQL's time in a run of 100,000 messages from empty (pg_stat_statements), most of it
/// in the last two.
const LAST_INBOUND_ANALYZE: u64 = 16_384;

/// Whether `total` stored messages make the refresh due at `due` (see `inbound_grew`).
fn refresh_due(total: u64, due: u64) -> bool {
    total >= due && due <= LAST_INBOUND_ANALYZE
}

/// [`super::pow2_chunks`] at `MAX_ROWS`.
pub(crate) fn statement_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    super::pow2_chunks(items, MAX_ROWS)
}

/// Content types that point at another message instead of standing on their own.
pub(crate) fn target_of(content: &Content) -> Option<&str> {
    match content {
        Content::Reaction { message_id, .. } => Some(message_id),
        Content::Edit { original_message_id, .. } | Content::Revoke { original_message_id } => {
            Some(original_message_id)
        }
        _ => None,
    }
}

pub(crate) fn json_text<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(v)?)
}

/// Events of a transaction, appended together (multi-row) before it commits, in push order.
#[derive(Default)]
pub(crate) struct EventBuffer(Vec<EventRow>);

impl EventBuffer {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Forgets the events pushed since the buffer held `len` (their writes were undone).
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    pub fn push(
        &mut self,
        ws: WorkspaceId,
        kind: &str,
        subject: Option<i64>,
        channel: Option<&Channel>,
        payload: &Value,
    ) {
        self.0.push(EventRow {
            workspace_id: ws.get(),
            kind: kind.to_owned(),
            subject_id: subject,
            channel_id: channel.map(|c| c.id.get()),
            waba_id: None,
            payload: payload.to_string(),
        });
    }

    /// An event about a channel known by its id only.
    pub fn push_on_channel(
        &mut self,
        ws: WorkspaceId,
        kind: &str,
        subject: Option<i64>,
        channel: ChannelId,
        payload: &Value,
    ) {
        self.0.push(EventRow {
            workspace_id: ws.get(),
            kind: kind.to_owned(),
            subject_id: subject,
            channel_id: Some(channel.get()),
            waba_id: None,
            payload: payload.to_string(),
        });
    }

    /// An event about a business account (its templates): readers see it when they see any
    /// channel of the account.
    pub fn push_on_account(
        &mut self,
        ws: WorkspaceId,
        kind: &str,
        subject: Option<i64>,
        waba_id: &str,
        payload: &Value,
    ) {
        self.0.push(EventRow {
            workspace_id: ws.get(),
            kind: kind.to_owned(),
            subject_id: subject,
            channel_id: None,
            waba_id: Some(waba_id.to_owned()),
            payload: payload.to_string(),
        });
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Counts stored messages; when the count doubled since the last refresh, refreshes the
    /// planner's statistics in the background. PostgreSQL plans from them: a messages table that
    /// grew from empty faster than autovacuum looks would otherwise be read whole for every
    /// duplicate check (11 ms a webhook instead of well under one). A table the statistics
    /// already know to be larger (a server started on a big database) is left to autovacuum:
    /// the count goes on from its size instead (refreshing a 10-million-message table's
    /// statistics every few thousand webhooks cost a quarter of the ingest's throughput).
    /// Refreshes stop at [`LAST_INBOUND_ANALYZE`].
    fn inbound_grew(&self, messages: u64) {
        let (Some(analyze), Some(estimate)) = (DB::ANALYZE_INBOUND, DB::ESTIMATED_MESSAGES) else { return };
        let rows = self.inbound_rows.clone();
        let (count, next) = &*rows;
        let total = count.fetch_add(messages, Ordering::Relaxed) + messages;
        let due = next.load(Ordering::Relaxed);
        if !refresh_due(total, due)
            || next.compare_exchange(due, total * 2, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        let pool = self.write.clone();
        tokio::spawn(async move {
            let estimate: Option<i64> = sqlx::query_scalar(estimate).fetch_one(&pool).await.ok().flatten();
            if let Some(known) = already_large(estimate, total) {
                let (count, next) = &*rows;
                count.fetch_add(known, Ordering::Relaxed);
                next.fetch_max(known * 2, Ordering::Relaxed);
                return;
            }
            if let Err(e) = sqlx::query(analyze).execute(&pool).await {
                tracing::warn!(error = %e, "refreshing planner statistics failed");
            }
        });
    }

    pub(crate) async fn apply_inbound_events(
        &self,
        webhooks: &[InboundWebhook<'_>],
        now: Timestamp,
    ) -> StoreResult<InboundOutcome> {
        let mut tx = self.begin_write().await?;
        // PostgreSQL: the webhook's statements are key lookups and inserts, whose plans never
        // change with the values; reusing them, instead of planning each anew, halved a
        // transaction's time at one event per webhook (planning was half of it). Generic plans
        // from the first execution on (`force_generic_plan`) gave 5 % more events/s at 8
        // connections and 5,000 customers, and 7 % fewer at 32 connections and 1,000 customers,
        // whose transactions carry over a thousand events (`auto` plans a custom one whenever
        // its plans look cheaper). Joins go by key (see `Engine::INBOUND_WRITE_SETUP`).
        if let Some(setup) = DB::INBOUND_WRITE_SETUP {
            sqlx::query(setup).execute(&mut *tx).await?;
        }
        let mut out = InboundOutcome::default();
        let journaled: Vec<i64> = webhooks.iter().filter_map(|w| w.journal_id).collect();
        let taken: HashSet<i64> = self.take_journal_rows(&mut tx, &journaled).await?.into_iter().collect();
        out.already_applied = u32::try_from(journaled.len() - taken.len()).unwrap_or(u32::MAX);
        let events =
            webhooks.iter().filter(|w| w.journal_id.is_none_or(|id| taken.contains(&id))).flat_map(|w| w.events.iter());
        let mut buffer = EventBuffer::default();
        let mut arrivals = Vec::new();
        let mut statuses = Vec::new();
        for routed in events {
            let channel = routed.channel;
            match routed.event {
                InboundEvent::Message(m) => arrivals.push(messages::Arrival { channel, m }),
                InboundEvent::Status(s) => statuses.push((channel, s)),
                InboundEvent::UserPreference { wa_id, bsuid, category, value, at, raw } => {
                    let identity =
                        wa_id.as_ref().map(|w| (WA_ID, w.as_str())).or(bsuid.as_ref().map(|b| (BSUID, b.as_str())));
                    if let Some((kind, id)) = identity {
                        sqlx::query(
                            "INSERT INTO user_preferences (workspace_id, channel_id, identity_kind, identity_value, category, value, at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)
                             ON CONFLICT (channel_id, identity_kind, identity_value, category)
                             DO UPDATE SET value = excluded.value, at = excluded.at WHERE user_preferences.at <= excluded.at",
                        )
                        .bind(channel.workspace_id.get())
                        .bind(channel.id.get())
                        .bind(kind.to_owned())
                        .bind(id.to_owned())
                        .bind(category.clone())
                        .bind(value.clone())
                        .bind(at.as_micros())
                        .execute(&mut *tx)
                        .await?;
                    }
                    buffer.push(channel.workspace_id, "contact.marketing_preference", None, Some(channel), raw);
                    out.others += 1;
                }
                InboundEvent::Template(update) => {
                    Self::apply_template_update(&mut tx, channel, update, now, &mut buffer).await?;
                    out.others += 1;
                }
                InboundEvent::Health { field, scope, change, raw } => {
                    buffer.push(channel.workspace_id, &format!("whatsapp.{field}"), None, Some(channel), raw);
                    Self::apply_health_event(&mut tx, channel, scope, change, now, &mut buffer).await?;
                    out.others += 1;
                }
                InboundEvent::Other { field, value } => {
                    buffer.push(channel.workspace_id, &format!("whatsapp.{field}"), None, Some(channel), value);
                    out.others += 1;
                }
            }
        }
        // Message rows are locked in one order by every writer (several ingest transactions run at
        // once on PostgreSQL): by message, and a message's reports from the earliest status up
        // (the outcome is the same in any order, since a status only moves forward).
        statuses.sort_by(|(a, x), (b, y)| {
            (a.id.get(), &x.provider_message_id, x.status.rank()).cmp(&(
                b.id.get(),
                &y.provider_message_id,
                y.status.rank(),
            ))
        });
        let clocks = Self::apply_messages(&mut tx, arrivals, now, &mut out, &mut buffer).await?;
        Self::apply_statuses(&mut tx, &statuses, now, &mut out, &mut buffer).await?;
        Self::flush_events(&mut tx, buffer, now).await?;
        // Last: the locks every delivery from the same customers waits for (see `ClockMoves`).
        Self::move_conversation_clocks(&mut tx, clocks, now).await?;
        tx.commit().await?;
        self.forget_journal_rows(&journaled).await;
        self.inbound_grew(u64::from(out.messages));
        Ok(out)
    }

    /// Appends buffered events, in push order (see [`Engine::insert_event_rows`]).
    pub(crate) async fn flush_events(
        conn: &mut DB::Connection,
        buffer: EventBuffer,
        now: Timestamp,
    ) -> StoreResult<()> {
        DB::insert_event_rows(conn, buffer.0, now.as_micros()).await
    }

    /// Logs every status report once (the dedup key), then moves each message forward.
    async fn apply_statuses(
        conn: &mut DB::Connection,
        statuses: &[(&Channel, &StatusUpdate)],
        now: Timestamp,
        out: &mut InboundOutcome,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        // Meets the recorder of the sends' ids (`sql/locks.rs`, `ProviderMessage`).
        let keys =
            statuses.iter().map(|(channel, s)| format!("{}:{}", channel.id.get(), s.provider_message_id)).collect();
        DB::lock_keys(conn, LockClass::ProviderMessage, keys).await?;
        let mut fresh: HashSet<(i64, String, String)> = HashSet::new();
        for chunk in statement_chunks(statuses) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO message_statuses (channel_id, provider_message_id, status, status_at, errors, pricing, raw, received_at) ",
            );
            let mut rows = Vec::with_capacity(chunk.len());
            for (channel, s) in chunk {
                let errors = (!s.errors.is_empty()).then(|| json_text(&s.errors)).transpose()?;
                rows.push((channel.id.get(), s, errors));
            }
            qb.push_values(&rows, |mut row, (channel, s, errors)| {
                row.push_bind(*channel)
                    .push_bind(s.provider_message_id.clone())
                    .push_bind(s.status.as_str().to_owned())
                    .push_bind(s.at.as_micros())
                    .push_bind(errors.clone())
                    .push_bind(s.pricing.as_ref().map(Value::to_string))
                    .push_bind(s.raw.to_string())
                    .push_bind(now.as_micros());
            });
            qb.push(" ON CONFLICT (channel_id, provider_message_id, status) DO NOTHING RETURNING channel_id, provider_message_id, status");
            let logged: Vec<(i64, String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
            fresh.extend(logged);
        }
        for (channel, s) in statuses {
            // Take each logged report once (the same report twice in one batch is a duplicate).
            if !fresh.remove(&(channel.id.get(), s.provider_message_id.clone(), s.status.as_str().to_owned())) {
                out.duplicates += 1;
                continue;
            }
            out.statuses += 1;
            Self::apply_logged_status(conn, channel, s, events).await?;
        }
        Ok(())
    }

    /// Moves the message (if we have it yet) forward to `s.status`; records pricing once.
    pub(crate) async fn apply_logged_status(
        conn: &mut DB::Connection,
        channel: &Channel,
        s: &StatusUpdate,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let pricing = s.pricing.as_ref().map(Value::to_string);
        let error = s.errors.first().filter(|_| s.status == DeliveryStatus::Failed);
        // The rank test in the WHERE makes "only forward" atomic, even for concurrent webhooks;
        // the rank itself comes from the domain (DeliveryStatus::rank).
        let advanced: Option<i64> = sqlx::query_scalar(
            "UPDATE messages SET status = $1, status_rank = $2, status_at = $3, pricing = COALESCE(pricing, $4),
                error_code = COALESCE($5, error_code), error_title = COALESCE($6, error_title),
                error_details = COALESCE($7, error_details)
             WHERE channel_id = $8 AND provider_message_id = $9 AND status_rank < $2 RETURNING id",
        )
        .bind(s.status.as_str().to_owned())
        .bind(i64::from(s.status.rank()))
        .bind(s.at.as_micros())
        .bind(pricing.clone())
        .bind(error.map(|e| e.code))
        .bind(error.map(|e| e.title.clone()))
        .bind(error.and_then(|e| e.details.clone()))
        .bind(channel.id.get())
        .bind(s.provider_message_id.clone())
        .fetch_optional(&mut *conn)
        .await?;
        match advanced {
            Some(id) => {
                if s.status.is_final() {
                    Self::fee_ready(conn, id).await?;
                }
                let payload = json!({"message_id": id, "status": s.status.as_str(), "at": s.at, "error": error});
                events.push(channel.workspace_id, "message.status", Some(id), Some(channel), &payload);
            }
            // Old news (or no such message yet), but pricing may come on any status.
            None if pricing.is_some() => {
                sqlx::query("UPDATE messages SET pricing = COALESCE(pricing, $1) WHERE channel_id = $2 AND provider_message_id = $3")
                    .bind(pricing)
                    .bind(channel.id.get())
                    .bind(s.provider_message_id.clone())
                    .execute(&mut *conn)
                    .await?;
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{LAST_INBOUND_ANALYZE, MAX_ROWS, already_large, refresh_due, statement_chunks};

    #[test]
    fn statistics_are_refreshed_as_the_messages_double_until_the_last_refresh() {
        assert!(!refresh_due(999, 1_000));
        assert!(refresh_due(1_000, 1_000));
        assert!(refresh_due(9_000, 8_000));
        assert!(refresh_due(LAST_INBOUND_ANALYZE, LAST_INBOUND_ANALYZE));
        // Past it, the planner scales what it knows by the table's size: no more refreshes.
        assert!(!refresh_due(40_000, 32_000));
        assert!(!refresh_due(1_000_000, LAST_INBOUND_ANALYZE + 1));
    }

    #[test]
    fn statistics_of_a_large_table_are_left_to_autovacuum() {
        // Never analysed, or unknown: the refresh runs.
        assert_eq!(already_large(None, 1_000), None);
        assert_eq!(already_large(Some(-1), 1_000), None);
        // About what this process added (a table that grew from empty): the refresh runs.
        assert_eq!(already_large(Some(1_500), 1_000), None);
        assert_eq!(already_large(Some(2_000), 1_000), None);
        // A table of ten million when this process added a thousand: left alone.
        assert_eq!(already_large(Some(10_000_000), 1_000), Some(10_000_000));
    }

    #[test]
    fn chunks_are_powers_of_two_covering_everything() {
        for len in (0..600).chain([1023, 1024, 1025, 2047, 2500]) {
            let items: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&items).collect();
            assert!(chunks.iter().all(|c| c.len().is_power_of_two() && c.len() <= MAX_ROWS), "{len}");
            assert_eq!(chunks.concat(), items);
        }
    }
}

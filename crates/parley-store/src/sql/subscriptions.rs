//! Outgoing webhook subscriptions: each reads the event log from its own cursor, moved in the
//! same transaction that records the attempt that moved it, so a crash between a receiver's 2xx
//! and this write only sends the event again (at least once), never skips it.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::ids::{EventId, UserId, WorkspaceId};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};

use super::notifications::notify;
use super::{Engine, SqlStore, clamp_limit, pow2_chunks};
use crate::error::{StoreError, StoreResult};
use crate::{
    Attempt, CloudApi, CursorMove, Delivery, ForwardFacts, NewSubscription, Replay, Subscription, SubscriptionPatch,
    Subscriptions,
};

macro_rules! select_subscription {
    () => {
        "SELECT s.id, s.workspace_id, s.url, s.format, s.kinds, s.active, s.paused_reason, s.created_by, u.role AS creator_role,
                u.deactivated_at AS creator_gone, u.bot AS creator_bot, s.cursor_event_id, s.attempts, s.next_attempt_at, s.failing_since,
                s.event_failing_since, s.sealed_secret, s.created_at, s.updated_at
         FROM webhook_subscriptions s JOIN users u ON u.id = s.created_by "
    };
}

#[derive(FromRow)]
struct SubscriptionRow {
    id: i64,
    workspace_id: i64,
    url: String,
    format: String,
    kinds: String,
    active: i64,
    paused_reason: Option<String>,
    created_by: i64,
    creator_role: String,
    creator_gone: Option<i64>,
    creator_bot: i64,
    cursor_event_id: i64,
    attempts: i64,
    next_attempt_at: Option<i64>,
    failing_since: Option<i64>,
    event_failing_since: Option<i64>,
    sealed_secret: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;
    fn try_from(r: SubscriptionRow) -> StoreResult<Subscription> {
        Ok(Subscription {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            url: r.url,
            format: r.format,
            kinds: serde_json::from_str(&r.kinds)?,
            active: r.active != 0,
            paused_reason: r.paused_reason,
            created_by: UserId(r.created_by),
            creator_role: r.creator_role.parse::<Role>()?,
            creator_active: r.creator_gone.is_none(),
            creator_bot: r.creator_bot != 0,
            cursor_event_id: r.cursor_event_id,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            next_attempt_at: r.next_attempt_at.map(Timestamp::from_micros),
            failing_since: r.failing_since.map(Timestamp::from_micros),
            event_failing_since: r.event_failing_since.map(Timestamp::from_micros),
            sealed_secret: r.sealed_secret,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

type DeliveryRow = (i64, Option<i64>, String, i64, String, Option<i64>, Option<String>, i64, Option<String>, i64, i64);

fn delivery(r: DeliveryRow) -> Delivery {
    let (id, event_id, kind, attempt, outcome, status_code, error, latency_ms, response_excerpt, replay, created_at) =
        r;
    Delivery {
        id,
        event_id,
        kind,
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        outcome,
        status_code: status_code.and_then(|c| u16::try_from(c).ok()),
        error,
        latency_ms,
        response_excerpt,
        replay: replay != 0,
        created_at: Timestamp::from_micros(created_at),
    }
}

macro_rules! delivery_columns {
    () => {
        "id, event_id, kind, attempt, outcome, status_code, error, latency_ms, response_excerpt, replay, created_at"
    };
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    async fn subscription_in(conn: &mut DB::Connection, id: i64) -> StoreResult<Subscription> {
        let row: SubscriptionRow = sqlx::query_as(concat!(select_subscription!(), "WHERE s.id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    async fn insert_delivery(
        conn: &mut DB::Connection,
        sub_id: i64,
        attempt: &Attempt,
        number: u32,
        outcome: &str,
        replay: bool,
        now: Timestamp,
    ) -> StoreResult<Delivery> {
        let row: DeliveryRow = sqlx::query_as(concat!(
            "INSERT INTO webhook_deliveries (subscription_id, event_id, kind, attempt, outcome, status_code, error,
                latency_ms, response_excerpt, replay, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
            delivery_columns!()
        ))
        .bind(sub_id)
        .bind(attempt.event_id)
        .bind(attempt.kind.clone())
        .bind(i64::from(number))
        .bind(outcome.to_owned())
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.clone())
        .bind(attempt.latency_ms)
        .bind(attempt.response_excerpt.clone())
        .bind(i64::from(replay))
        .bind(now.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        Ok(delivery(row))
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Subscriptions for SqlStore<DB> {
    async fn create_subscription(
        &self,
        ws: WorkspaceId,
        new: NewSubscription<'_>,
        now: Timestamp,
    ) -> StoreResult<Subscription> {
        let mut tx = self.begin_write().await?;
        // The newest event of any workspace: ids are one sequence, and the cursor only says
        // where reading starts.
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(&mut *tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_subscriptions (workspace_id, created_by, url, kinds, sealed_secret, active,
                cursor_event_id, created_at, updated_at, format)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7, $8) RETURNING id",
        )
        .bind(ws.get())
        .bind(new.created_by.get())
        .bind(new.url.to_owned())
        .bind(serde_json::to_string(new.kinds)?)
        .bind(new.sealed_secret.to_owned())
        .bind(newest.unwrap_or(0))
        .bind(now.as_micros())
        .bind(new.format.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        let sub = Self::subscription_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(sub)
    }

    async fn subscriptions(&self, ws: WorkspaceId) -> StoreResult<Vec<Subscription>> {
        let rows: Vec<SubscriptionRow> =
            sqlx::query_as(concat!(select_subscription!(), "WHERE s.workspace_id = $1 ORDER BY s.id"))
                .bind(ws.get())
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(Subscription::try_from).collect()
    }

    async fn subscription(&self, ws: WorkspaceId, id: i64) -> StoreResult<Subscription> {
        let row: SubscriptionRow =
            sqlx::query_as(concat!(select_subscription!(), "WHERE s.workspace_id = $1 AND s.id = $2"))
                .bind(ws.get())
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    async fn update_subscription(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: SubscriptionPatch,
        now: Timestamp,
    ) -> StoreResult<Subscription> {
        let mut tx = self.begin_write().await?;
        let kinds = patch.kinds.as_ref().map(serde_json::to_string).transpose()?;
        let resume = patch.active == Some(true);
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET url = COALESCE($3, url), kinds = COALESCE($4, kinds),
                sealed_secret = COALESCE($5, sealed_secret), active = COALESCE($6, active),
                paused_reason = CASE WHEN $6 IS NULL THEN paused_reason WHEN $6 = 1 THEN NULL ELSE 'paused' END,
                failing_since = CASE WHEN $7 = 1 THEN NULL ELSE failing_since END,
                next_attempt_at = CASE WHEN $7 = 1 THEN NULL ELSE next_attempt_at END,
                updated_at = $8
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.get())
        .bind(id)
        .bind(patch.url)
        .bind(kinds)
        .bind(patch.sealed_secret)
        .bind(patch.active.map(i64::from))
        .bind(i64::from(resume))
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        let sub = Self::subscription_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(sub)
    }

    async fn delete_subscription(&self, ws: WorkspaceId, id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Children first: SQLite only cascades with foreign keys on, and both engines agree then.
        for sql in [
            "DELETE FROM webhook_deliveries WHERE subscription_id IN (SELECT id FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2)",
            "DELETE FROM webhook_replays WHERE subscription_id IN (SELECT id FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2)",
        ] {
            sqlx::query(sql).bind(ws.get()).bind(id).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn active_subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        let rows: Vec<SubscriptionRow> =
            sqlx::query_as(concat!(select_subscription!(), "WHERE s.active = 1 ORDER BY s.id"))
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(Subscription::try_from).collect()
    }

    async fn lease_subscription(&self, id: i64, holder: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET lease_holder = $2, lease_until = $3
             WHERE id = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until < $4)",
        )
        .bind(id)
        .bind(holder.to_owned())
        .bind(until.as_micros())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn record_attempt(
        &self,
        sub: &Subscription,
        attempt: Attempt,
        mv: CursorMove,
        now: Timestamp,
    ) -> StoreResult<Subscription> {
        let mut tx = self.begin_write().await?;
        let number = sub.attempts + 1;
        let outcome = match mv {
            CursorMove::Delivered => "delivered",
            CursorMove::GiveUp => "given_up",
            CursorMove::RetryAt(_) | CursorMove::Pause => "failed",
        };
        Self::insert_delivery(&mut tx, sub.id, &attempt, number, outcome, false, now).await?;
        let event = attempt.event_id.unwrap_or(sub.cursor_event_id);
        let t = now.as_micros();
        // Only from the cursor this attempt was made at: a concurrent change (a resume, another
        // server) is not overwritten by a stale decision.
        let query = match mv {
            CursorMove::Delivered | CursorMove::GiveUp => sqlx::query(
                "UPDATE webhook_subscriptions SET cursor_event_id = $2, attempts = 0, next_attempt_at = NULL,
                    event_failing_since = NULL,
                    failing_since = CASE WHEN $4 = 1 THEN NULL ELSE failing_since END, updated_at = $3
                 WHERE id = $1 AND cursor_event_id < $2",
            )
            .bind(sub.id)
            .bind(event)
            .bind(t)
            .bind(i64::from(mv == CursorMove::Delivered)),
            CursorMove::RetryAt(at) => sqlx::query(
                "UPDATE webhook_subscriptions SET attempts = $2, next_attempt_at = $3,
                    failing_since = COALESCE(failing_since, $4), event_failing_since = COALESCE(event_failing_since, $4),
                    updated_at = $4
                 WHERE id = $1",
            )
            .bind(sub.id)
            .bind(i64::from(number))
            .bind(at.as_micros())
            .bind(t),
            CursorMove::Pause => sqlx::query(
                "UPDATE webhook_subscriptions SET attempts = $2, next_attempt_at = NULL, active = 0,
                    paused_reason = 'failing', updated_at = $3
                 WHERE id = $1",
            )
            .bind(sub.id)
            .bind(i64::from(number))
            .bind(t),
        };
        query.execute(&mut *tx).await?;
        if mv == CursorMove::Pause {
            let message = format!("Webhook to {} paused: its deliveries failed for 24 hours", sub.url);
            let about = json!({"subscription_id": sub.id, "url": sub.url, "error": attempt.error,
                "status_code": attempt.status_code});
            notify::<DB>(&mut tx, sub.workspace_id, "webhook.paused", None, &message, &about, now).await?;
        }
        let after = Self::subscription_in(&mut tx, sub.id).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn record_delivered(
        &self,
        sub: &Subscription,
        attempts: &[Attempt],
        cursor: EventId,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Many rows per statement: one round trip per chunk, not per delivery.
        let numbered: Vec<(u32, &Attempt)> =
            attempts.iter().enumerate().map(|(i, a)| (if i == 0 { sub.attempts + 1 } else { 1 }, a)).collect();
        for chunk in pow2_chunks(&numbered, 64) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO webhook_deliveries (subscription_id, event_id, kind, attempt, outcome, status_code, error,
                    latency_ms, response_excerpt, replay, created_at) ",
            );
            qb.push_values(chunk, |mut row, (number, a)| {
                row.push_bind(sub.id)
                    .push_bind(a.event_id)
                    .push_bind(a.kind.clone())
                    .push_bind(i64::from(*number))
                    .push_bind("delivered".to_owned())
                    .push_bind(a.status_code.map(i64::from))
                    .push_bind(a.error.clone())
                    .push_bind(a.latency_ms)
                    .push_bind(a.response_excerpt.clone())
                    .push_bind(0_i64)
                    .push_bind(now.as_micros());
            });
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE webhook_subscriptions SET cursor_event_id = $2, attempts = 0, next_attempt_at = NULL,
                event_failing_since = NULL, failing_since = NULL, updated_at = $3
             WHERE id = $1 AND cursor_event_id < $2",
        )
        .bind(sub.id)
        .bind(cursor.get())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn skip_to(&self, sub_id: i64, to: EventId, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_subscriptions SET cursor_event_id = $2, updated_at = $3
             WHERE id = $1 AND cursor_event_id < $2 AND attempts = 0",
        )
        .bind(sub_id)
        .bind(to.get())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_side_attempt(
        &self,
        sub_id: i64,
        attempt: Attempt,
        replay: bool,
        now: Timestamp,
    ) -> StoreResult<Delivery> {
        let mut tx = self.begin_write().await?;
        let outcome = if attempt.status_code.is_some_and(|c| (200..300).contains(&c)) { "delivered" } else { "failed" };
        let d = Self::insert_delivery(&mut tx, sub_id, &attempt, 1, outcome, replay, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    async fn deliveries(
        &self,
        ws: WorkspaceId,
        sub_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries d
             WHERE subscription_id = (SELECT id FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2)
               AND ($3 IS NULL OR d.id < $3)
             ORDER BY d.id DESC LIMIT $4"
        ))
        .bind(ws.get())
        .bind(sub_id)
        .bind(before)
        .bind(clamp_limit(limit, 500))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(delivery).collect())
    }

    async fn request_replay(
        &self,
        ws: WorkspaceId,
        sub_id: i64,
        from: EventId,
        to: EventId,
        now: Timestamp,
    ) -> StoreResult<Replay> {
        let mut tx = self.begin_write().await?;
        let sub: Option<i64> =
            sqlx::query_scalar("SELECT id FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(sub_id)
                .fetch_optional(&mut *tx)
                .await?;
        sub.ok_or(StoreError::NotFound)?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO webhook_replays (subscription_id, next_event_id, to_event_id, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(sub_id)
        .bind(from.get())
        .bind(to.get())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Replay { id, subscription_id: sub_id, next_event_id: from.get(), to_event_id: to.get() })
    }

    async fn event_ids_between(
        &self,
        ws: WorkspaceId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Option<(EventId, EventId)>> {
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT MIN(id), MAX(id) FROM events WHERE workspace_id = $1 AND created_at >= $2 AND created_at <= $3",
        )
        .bind(ws.get())
        .bind(from.as_micros())
        .bind(to.as_micros())
        .fetch_one(&self.read)
        .await?;
        Ok(first.zip(last).map(|(a, b)| (EventId(a), EventId(b))))
    }

    async fn replays(&self, sub_id: i64) -> StoreResult<Vec<Replay>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT id, next_event_id, to_event_id FROM webhook_replays WHERE subscription_id = $1 ORDER BY id",
        )
        .bind(sub_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, next_event_id, to_event_id)| Replay { id, subscription_id: sub_id, next_event_id, to_event_id })
            .collect())
    }

    async fn advance_replay(&self, replay_id: i64, next: EventId) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE webhook_replays SET next_event_id = $2 WHERE id = $1")
            .bind(replay_id)
            .bind(next.get())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_replays WHERE id = $1 AND next_event_id > to_event_id")
            .bind(replay_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_deliveries(&self, before: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM webhook_deliveries WHERE created_at < $1")
            .bind(before.as_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&done))
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> CloudApi for SqlStore<DB> {
    async fn forward_facts(&self, ws: WorkspaceId, message: i64) -> StoreResult<Option<ForwardFacts>> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            i64,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT m.direction, m.raw, m.provider_message_id, m.pricing, m.error_code, m.error_title,
                    ch.phone_number_id, ch.display_phone_number, ch.waba_id,
                    (SELECT i.value FROM contact_identities i WHERE i.contact_id = c.contact_id AND i.kind = 'wa_id'
                     ORDER BY i.id LIMIT 1),
                    (SELECT i.value FROM contact_identities i WHERE i.contact_id = c.contact_id AND i.kind = 'bsuid'
                     ORDER BY i.id LIMIT 1),
                    m.content, m.sent_at
             FROM messages m JOIN channels ch ON ch.id = m.channel_id JOIN conversations c ON c.id = m.conversation_id
             WHERE m.workspace_id = $1 AND m.id = $2",
        )
        .bind(ws.get())
        .bind(message)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| ForwardFacts {
            direction: r.0,
            raw: r.1,
            provider_message_id: r.2,
            pricing: r.3,
            error_code: r.4,
            error_title: r.5,
            phone_number_id: r.6,
            display_phone_number: r.7,
            waba_id: r.8,
            wa_id: r.9,
            bsuid: r.10,
            content: r.11,
            sent_at: parley_core::Timestamp::from_micros(r.12),
        }))
    }

    async fn message_id_by_provider_id(
        &self,
        ws: WorkspaceId,
        channel: parley_core::ids::ChannelId,
        provider_message_id: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM messages WHERE workspace_id = $1 AND channel_id = $2 AND provider_message_id = $3",
        )
        .bind(ws.get())
        .bind(channel.get())
        .bind(provider_message_id.to_owned())
        .fetch_optional(&self.read)
        .await?)
    }

    async fn contact_id_by_identity(
        &self,
        ws: WorkspaceId,
        kind: &str,
        value: &str,
    ) -> StoreResult<Option<parley_core::ids::ContactId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT contact_id FROM contact_identities WHERE workspace_id = $1 AND kind = $2 AND value = $3",
        )
        .bind(ws.get())
        .bind(kind.to_owned())
        .bind(value.to_owned())
        .fetch_optional(&self.read)
        .await?;
        Ok(id.map(parley_core::ids::ContactId))
    }
}

//! Number health: what webhooks and the number's fields say about quality, status, limit tier,
//! throughput and display name, kept per channel; every change an event and a notification.
//! Also how much of the messaging limit the rolling 24 hours used.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::health::{HealthChange, HealthScope, NumberHealth, QualityRating, same_number};
use parley_core::ids::{ChannelId, WorkspaceId};
use serde_json::{Value, json};
use sqlx::FromRow;

use super::inbound::EventBuffer;
use super::notifications::notify;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{HealthFieldChange, HealthRecord, LimitUsage, Numbers};

const DAY_MICROS: i64 = 24 * 3600 * 1_000_000;

#[derive(FromRow)]
struct HealthRow {
    quality_rating: Option<String>,
    status: Option<String>,
    name_status: Option<String>,
    verified_name: Option<String>,
    throughput_level: Option<String>,
    checked_at: Option<i64>,
    updated_at: i64,
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    async fn health_record(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        channel: ChannelId,
    ) -> StoreResult<HealthRecord> {
        let limit: Option<Option<i64>> =
            sqlx::query_scalar("SELECT messaging_limit FROM channels WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(channel.get())
                .fetch_optional(&mut *conn)
                .await?;
        let messaging_limit = limit.ok_or(StoreError::NotFound)?;
        let row: Option<HealthRow> = sqlx::query_as(
            "SELECT quality_rating, status, name_status, verified_name, throughput_level, checked_at, updated_at
             FROM channel_health WHERE channel_id = $1",
        )
        .bind(channel.get())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(match row {
            None => HealthRecord { messaging_limit, ..HealthRecord::default() },
            Some(r) => HealthRecord {
                health: NumberHealth {
                    quality_rating: r.quality_rating.as_deref().and_then(QualityRating::parse),
                    status: r.status,
                    name_status: r.name_status,
                    verified_name: r.verified_name,
                    throughput_level: r.throughput_level,
                },
                messaging_limit,
                checked_at: r.checked_at.map(Timestamp::from_micros),
                updated_at: Some(Timestamp::from_micros(r.updated_at)),
            },
        })
    }

    /// Applies `change` to one channel inside the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    async fn apply_health_to(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        channel: ChannelId,
        display: &str,
        change: &HealthChange,
        checked: bool,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<Vec<HealthFieldChange>> {
        let mut record = Self::health_record(conn, ws, channel).await?;
        let changed = change.apply(&mut record.health, &mut record.messaging_limit);
        let h = &record.health;
        sqlx::query(
            "INSERT INTO channel_health (channel_id, quality_rating, status, name_status, verified_name, throughput_level,
                checked_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (channel_id) DO UPDATE SET quality_rating = excluded.quality_rating, status = excluded.status,
                name_status = excluded.name_status, verified_name = excluded.verified_name,
                throughput_level = excluded.throughput_level,
                checked_at = COALESCE(excluded.checked_at, channel_health.checked_at), updated_at = excluded.updated_at",
        )
        .bind(channel.get())
        .bind(h.quality_rating.map(|q| q.as_str().to_owned()))
        .bind(h.status.clone())
        .bind(h.name_status.clone())
        .bind(h.verified_name.clone())
        .bind(h.throughput_level.clone())
        .bind(checked.then(|| now.as_micros()))
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        if changed.iter().any(|c| c.0 == "messaging_limit") {
            sqlx::query("UPDATE channels SET messaging_limit = $1, updated_at = $2 WHERE id = $3")
                .bind(record.messaging_limit)
                .bind(now.as_micros())
                .bind(channel.get())
                .execute(&mut *conn)
                .await?;
        }
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let words: Vec<String> = changed
            .iter()
            .map(|(field, before, after)| {
                let show = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                format!("{} {} → {}", field.replace('_', " "), show(before), show(after))
            })
            .collect();
        let message = format!("Number {display}: {}", words.join("; "));
        let fields: Vec<Value> = changed.iter().map(|(f, b, a)| json!({"field": f, "before": b, "after": a})).collect();
        let payload = json!({"channel_id": channel.get(), "changes": fields, "source": if checked { "check" } else { "webhook" }});
        events.push_on_channel(ws, "channel.health_changed", Some(channel.get()), channel, &payload);
        notify::<DB>(conn, ws, "channel.health_changed", Some(channel), &message, &payload, now).await?;
        Ok(changed
            .into_iter()
            .map(|(field, before, after)| HealthFieldChange { channel_id: channel, field, before, after })
            .collect())
    }

    /// Applies a health webhook (inside its transaction) to the numbers it is about: every live
    /// channel of the business account, or the one with that display number.
    pub(crate) async fn apply_health_event(
        conn: &mut DB::Connection,
        channel: &Channel,
        scope: &HealthScope,
        change: &HealthChange,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let ws = channel.workspace_id;
        let siblings: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, display_phone_number FROM channels
             WHERE workspace_id = $1 AND waba_id = $2 AND deleted_at IS NULL ORDER BY id",
        )
        .bind(ws.get())
        .bind(channel.waba_id.clone())
        .fetch_all(&mut *conn)
        .await?;
        let targets: Vec<&(i64, String)> = siblings
            .iter()
            .filter(|(_, display)| match scope {
                HealthScope::Account => true,
                HealthScope::Number(n) => same_number(n, display),
            })
            .collect();
        if targets.is_empty() {
            events.push(
                ws,
                "channel.health_unmatched",
                None,
                Some(channel),
                &json!({"scope": scope, "change": change}),
            );
        }
        for (id, display) in targets {
            Self::apply_health_to(conn, ws, ChannelId(*id), display, change, false, now, events).await?;
        }
        Ok(())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Numbers for SqlStore<DB> {
    async fn apply_health(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        change: &HealthChange,
        checked: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<HealthFieldChange>> {
        let mut tx = self.begin_write().await?;
        let display: Option<String> =
            sqlx::query_scalar("SELECT display_phone_number FROM channels WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(channel.get())
                .fetch_optional(&mut *tx)
                .await?;
        let display = display.ok_or(StoreError::NotFound)?;
        let mut events = EventBuffer::default();
        let changed = Self::apply_health_to(&mut tx, ws, channel, &display, change, checked, now, &mut events).await?;
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn channel_health(&self, ws: WorkspaceId, channel: ChannelId) -> StoreResult<HealthRecord> {
        let mut conn = self.read.acquire().await?;
        Self::health_record(&mut conn, ws, channel).await
    }

    async fn limit_usage(&self, ws: WorkspaceId, waba_id: &str, now: Timestamp) -> StoreResult<LimitUsage> {
        // A recipient counts until 24 h after their latest business-initiated message.
        let (recipients, first, last): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(latest), MAX(latest) FROM (
                SELECT MAX(at) AS latest FROM business_initiated
                WHERE workspace_id = $1 AND waba_id = $2 AND at > $3 GROUP BY contact_id) recent",
        )
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .bind(now.as_micros() - DAY_MICROS)
        .fetch_one(&self.read)
        .await?;
        Ok(LimitUsage {
            recipients: recipients.max(0) as u64,
            next_release_at: first.map(|t| Timestamp::from_micros(t + DAY_MICROS)),
            clear_at: last.map(|t| Timestamp::from_micros(t + DAY_MICROS)),
        })
    }
}

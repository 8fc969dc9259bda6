//! Moving a number to another provider (issue 20): the channel row takes the new connection,
//! the old one is kept in `channel_connections` with its cut-over, and its webhook key still
//! routes that provider's late webhooks into the same channel for `LATE_WEBHOOKS_SECS`.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::{Channel, ChannelId, Provider};
use parley_core::ids::WorkspaceId;
use serde_json::json;
use sqlx::FromRow;

use super::events::NewEvent;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{ChannelMove, ChannelMoves, LATE_WEBHOOKS_SECS, PastConnection};

#[derive(FromRow)]
struct ConnectionRow {
    id: i64,
    channel_id: i64,
    workspace_id: i64,
    provider: String,
    phone_number_id: String,
    waba_id: String,
    graph_base_url: String,
    secrets: String,
    webhook_key: String,
    active_from: i64,
    active_until: i64,
    move_report: Option<String>,
}

fn provider(name: &str) -> StoreResult<Provider> {
    Provider::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown provider {name:?}")))
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Messages in and out of the channel created in `[from, until)`.
    async fn traffic_in(
        conn: &mut DB::Connection,
        id: ChannelId,
        from: Timestamp,
        until: Timestamp,
    ) -> StoreResult<(i64, i64)> {
        let count = |direction: &'static str| {
            sqlx::query_scalar::<DB, i64>(
                "SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND direction = $2 AND created_at >= $3 AND created_at < $4",
            )
            .bind(id.get())
            .bind(direction.to_owned())
            .bind(from.as_micros())
            .bind(until.as_micros())
        };
        let messages_in = count("in").fetch_one(&mut *conn).await?;
        let messages_out = count("out").fetch_one(&mut *conn).await?;
        Ok((messages_in, messages_out))
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> ChannelMoves for SqlStore<DB> {
    async fn move_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        to: ChannelMove,
        plan: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<(Channel, PastConnection)> {
        let mut tx = self.begin_write().await?;
        let current = Self::channel_in(&mut tx, ws, id).await?;
        if current.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        // The plan is taken here, once: a second server making the same plan finds it gone.
        let dropped = match plan {
            Some(plan) => sqlx::query("DELETE FROM planned_moves WHERE id = $1 AND channel_id = $2")
                .bind(plan)
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map(|done| DB::rows_affected(&done))?,
            None => sqlx::query("DELETE FROM planned_moves WHERE channel_id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await
                .map(|_| 1)?,
        };
        if dropped == 0 {
            return Err(StoreError::NotFound);
        }
        // The old connection began at the previous cut-over, or when the channel was made.
        let since: Option<i64> =
            sqlx::query_scalar("SELECT MAX(active_until) FROM channel_connections WHERE channel_id = $1")
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
        let active_from = since.map_or(current.created_at, Timestamp::from_micros);
        let past_id: i64 = sqlx::query_scalar(
            "INSERT INTO channel_connections (workspace_id, channel_id, provider, phone_number_id, waba_id,
                graph_base_url, secrets, webhook_key, active_from, active_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(ws.get())
        .bind(id.get())
        .bind(current.provider.as_str().to_owned())
        .bind(current.phone_number_id.clone())
        .bind(current.waba_id.clone())
        .bind(current.graph_base_url.clone())
        .bind(current.sealed_secrets.clone())
        .bind(current.webhook_key.clone())
        .bind(active_from.as_micros())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE channels SET provider = $1, phone_number_id = $2, waba_id = $3, graph_base_url = $4, secrets = $5,
                webhook_key = $6, updated_at = $7
             WHERE workspace_id = $8 AND id = $9",
        )
        .bind(to.provider.as_str().to_owned())
        .bind(to.phone_number_id)
        .bind(to.waba_id)
        .bind(to.graph_base_url)
        .bind(to.sealed_secrets)
        .bind(to.webhook_key)
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        // Files still waiting from before this was recorded are the old connection's.
        sqlx::query(
            "UPDATE media SET connection_key = $1 WHERE channel_id = $2 AND state = 'pending' AND connection_key IS NULL",
        )
        .bind(current.webhook_key.clone())
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        let moved = Self::channel_in(&mut tx, ws, id).await?;
        let (messages_in, messages_out) = Self::traffic_in(&mut tx, id, active_from, now).await?;
        let past = PastConnection {
            id: past_id,
            provider: current.provider,
            phone_number_id: current.phone_number_id,
            waba_id: current.waba_id,
            webhook_key: current.webhook_key,
            active_from,
            active_until: now,
            messages_in,
            messages_out,
            report: None,
        };
        let payload = json!({"id": id, "cutover_at": now.to_rfc3339(),
            "from": {"provider": past.provider.as_str(), "phone_number_id": past.phone_number_id, "waba_id": past.waba_id},
            "to": {"provider": moved.provider.as_str(), "phone_number_id": moved.phone_number_id, "waba_id": moved.waba_id}});
        Self::append_event(&mut tx, ws, NewEvent::new("channel.moved", id.get(), &payload).on_channel(id), now).await?;
        tx.commit().await?;
        Ok((moved, past))
    }

    async fn set_move_report(&self, ws: WorkspaceId, connection: i64, report: &serde_json::Value) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE channel_connections SET move_report = $1 WHERE workspace_id = $2 AND id = $3")
            .bind(report.to_string())
            .bind(ws.get())
            .bind(connection)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn past_connections(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<Vec<PastConnection>> {
        let mut conn = self.read.acquire().await?;
        Self::channel_in(&mut conn, ws, id).await?;
        let rows: Vec<ConnectionRow> = sqlx::query_as(
            "SELECT id, channel_id, workspace_id, provider, phone_number_id, waba_id, graph_base_url, secrets, webhook_key,
                active_from, active_until, move_report
             FROM channel_connections WHERE workspace_id = $1 AND channel_id = $2 ORDER BY active_until, id",
        )
        .bind(ws.get())
        .bind(id.get())
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (from, until) = (Timestamp::from_micros(r.active_from), Timestamp::from_micros(r.active_until));
            let (messages_in, messages_out) = Self::traffic_in(&mut conn, id, from, until).await?;
            out.push(PastConnection {
                id: r.id,
                provider: provider(&r.provider)?,
                phone_number_id: r.phone_number_id,
                waba_id: r.waba_id,
                webhook_key: r.webhook_key,
                active_from: from,
                active_until: until,
                messages_in,
                messages_out,
                report: r.move_report.as_deref().and_then(|r| serde_json::from_str(r).ok()),
            });
        }
        Ok(out)
    }

    async fn channel_traffic_since(&self, ws: WorkspaceId, id: ChannelId, since: Timestamp) -> StoreResult<(i64, i64)> {
        let mut conn = self.read.acquire().await?;
        Self::channel_in(&mut conn, ws, id).await?;
        Self::traffic_in(&mut conn, id, since, Timestamp::from_micros(i64::MAX)).await
    }

    async fn channel_by_past_webhook_key(&self, key: &str, now: Timestamp) -> StoreResult<Option<Channel>> {
        let mut conn = self.read.acquire().await?;
        let row: Option<ConnectionRow> = sqlx::query_as(
            "SELECT id, channel_id, workspace_id, provider, phone_number_id, waba_id, graph_base_url, secrets, webhook_key,
                active_from, active_until, move_report
             FROM channel_connections WHERE webhook_key = $1 AND active_until >= $2",
        )
        .bind(key.to_owned())
        .bind(now.as_micros() - LATE_WEBHOOKS_SECS * 1_000_000)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let channel = Self::channel_in(&mut conn, WorkspaceId(r.workspace_id), ChannelId(r.channel_id)).await?;
        if channel.deleted_at.is_some() {
            return Ok(None);
        }
        let past = ChannelMove {
            provider: provider(&r.provider)?,
            phone_number_id: r.phone_number_id,
            waba_id: r.waba_id,
            graph_base_url: r.graph_base_url,
            sealed_secrets: r.secrets,
            webhook_key: r.webhook_key,
        };
        Ok(Some(past.onto(channel)))
    }
}

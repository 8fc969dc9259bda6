//! Moves planned for a later cut-over (issue 20): the new connection waits in `planned_moves`
//! until its time, when the server's timer makes the move (`ChannelMoves::move_channel` takes
//! the plan in its own transaction, so two servers cannot make it twice). Until then its
//! webhook key already routes the new provider's posts into the channel.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::{Channel, ChannelId, Provider};
use parley_core::ids::{UserId, WorkspaceId};
use sqlx::FromRow;

use super::{Engine, SqlStore, clamp_limit};
use crate::error::{StoreError, StoreResult};
use crate::{ChannelMove, PlannedMove, PlannedMoves};

macro_rules! plan_columns {
    () => {
        "id, workspace_id, channel_id, provider, phone_number_id, waba_id, graph_base_url, secrets, webhook_key,
         cutover_at, resubmit_templates, planned_by, last_error, created_at"
    };
}

#[derive(FromRow)]
struct PlanRow {
    id: i64,
    workspace_id: i64,
    channel_id: i64,
    provider: String,
    phone_number_id: String,
    waba_id: String,
    graph_base_url: String,
    secrets: String,
    webhook_key: String,
    cutover_at: i64,
    resubmit_templates: i64,
    planned_by: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

impl TryFrom<PlanRow> for PlannedMove {
    type Error = StoreError;

    fn try_from(r: PlanRow) -> StoreResult<Self> {
        let provider = Provider::parse(&r.provider)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown provider {:?}", r.provider)))?;
        Ok(PlannedMove {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            channel_id: ChannelId(r.channel_id),
            to: ChannelMove {
                provider,
                phone_number_id: r.phone_number_id,
                waba_id: r.waba_id,
                graph_base_url: r.graph_base_url,
                sealed_secrets: r.secrets,
                webhook_key: r.webhook_key,
            },
            cutover_at: Timestamp::from_micros(r.cutover_at),
            resubmit_templates: r.resubmit_templates != 0,
            planned_by: r.planned_by.map(UserId),
            last_error: r.last_error,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> PlannedMoves for SqlStore<DB> {
    async fn plan_move(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        to: ChannelMove,
        cutover_at: Timestamp,
        resubmit_templates: bool,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<PlannedMove> {
        let mut tx = self.begin_write().await?;
        let channel = Self::channel_in(&mut tx, ws, id).await?;
        if channel.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        // The number the move connects must not be another live channel's (checked again, by
        // the channels' unique index, when the move is made).
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM channels WHERE provider = $1 AND phone_number_id = $2 AND deleted_at IS NULL AND id <> $3",
        )
        .bind(to.provider.as_str().to_owned())
        .bind(to.phone_number_id.clone())
        .bind(id.get())
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict { field: "phone_number_id" });
        }
        sqlx::query("DELETE FROM planned_moves WHERE channel_id = $1").bind(id.get()).execute(&mut *tx).await?;
        let row: PlanRow = sqlx::query_as(concat!(
            "INSERT INTO planned_moves (workspace_id, channel_id, provider, phone_number_id, waba_id, graph_base_url,
                secrets, webhook_key, cutover_at, resubmit_templates, planned_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
            plan_columns!()
        ))
        .bind(ws.get())
        .bind(id.get())
        .bind(to.provider.as_str().to_owned())
        .bind(to.phone_number_id)
        .bind(to.waba_id)
        .bind(to.graph_base_url)
        .bind(to.sealed_secrets)
        .bind(to.webhook_key)
        .bind(cutover_at.as_micros())
        .bind(i64::from(resubmit_templates))
        .bind(by.map(|u| u.get()))
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn planned_move(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<Option<PlannedMove>> {
        let row: Option<PlanRow> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM planned_moves WHERE workspace_id = $1 AND channel_id = $2"
        ))
        .bind(ws.get())
        .bind(id.get())
        .fetch_optional(&self.read)
        .await?;
        row.map(PlannedMove::try_from).transpose()
    }

    async fn cancel_planned_move(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM planned_moves WHERE workspace_id = $1 AND channel_id = $2")
            .bind(ws.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn due_planned_moves(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<PlannedMove>> {
        let rows: Vec<PlanRow> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM planned_moves WHERE cutover_at <= $1 AND last_error IS NULL ORDER BY cutover_at, id LIMIT $2"
        ))
        .bind(now.as_micros())
        .bind(clamp_limit(limit, 100))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(PlannedMove::try_from).collect()
    }

    async fn planned_move_failed(&self, plan: i64, error: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE planned_moves SET last_error = $1 WHERE id = $2")
            .bind(error.to_owned())
            .bind(plan)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn channel_by_planned_webhook_key(&self, key: &str) -> StoreResult<Option<Channel>> {
        let row: Option<PlanRow> =
            sqlx::query_as(concat!("SELECT ", plan_columns!(), " FROM planned_moves WHERE webhook_key = $1"))
                .bind(key.to_owned())
                .fetch_optional(&self.read)
                .await?;
        let Some(plan) = row.map(PlannedMove::try_from).transpose()? else { return Ok(None) };
        let mut conn = self.read.acquire().await?;
        let channel = Self::channel_in(&mut conn, plan.workspace_id, plan.channel_id).await?;
        if channel.deleted_at.is_some() {
            return Ok(None);
        }
        Ok(Some(plan.to.onto(channel)))
    }
}

//! WhatsApp channels.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::{Channel, ChannelId, Provider, Visibility};
use parley_core::ids::{UserId, WorkspaceId};
use serde_json::json;
use sqlx::FromRow;

use super::events::NewEvent;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{ChannelPatch, Channels, NewChannel, Viewer};

macro_rules! channel_columns {
    () => {
        "id, workspace_id, provider, name, phone_number_id, waba_id, display_phone_number, graph_base_url, secrets,
         webhook_key, visibility, throughput, messaging_limit, created_at, updated_at, deleted_at"
    };
}

#[derive(FromRow)]
struct ChannelRow {
    id: i64,
    workspace_id: i64,
    provider: String,
    name: String,
    phone_number_id: String,
    waba_id: String,
    display_phone_number: String,
    graph_base_url: String,
    secrets: String,
    webhook_key: String,
    visibility: String,
    throughput: i64,
    messaging_limit: Option<i64>,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
}

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;
    fn try_from(r: ChannelRow) -> StoreResult<Self> {
        Ok(Channel {
            id: ChannelId(r.id),
            workspace_id: WorkspaceId(r.workspace_id),
            provider: Provider::parse(&r.provider)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown provider {:?}", r.provider)))?,
            name: r.name,
            phone_number_id: r.phone_number_id,
            waba_id: r.waba_id,
            display_phone_number: r.display_phone_number,
            graph_base_url: r.graph_base_url,
            sealed_secrets: r.secrets,
            webhook_key: r.webhook_key,
            visibility: Visibility::parse(&r.visibility)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown visibility {:?}", r.visibility)))?,
            throughput: r.throughput,
            messaging_limit: r.messaging_limit,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            deleted_at: r.deleted_at.map(Timestamp::from_micros),
        })
    }
}

/// What the event log says about a channel: never its secrets.
fn channel_payload(c: &Channel) -> serde_json::Value {
    json!({
        "id": c.id, "name": c.name, "provider": c.provider.as_str(), "phone_number_id": c.phone_number_id,
        "waba_id": c.waba_id, "display_phone_number": c.display_phone_number, "visibility": c.visibility.as_str(),
    })
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// A channel (deleted ones included) inside the caller's transaction.
    pub(crate) async fn channel_in(conn: &mut DB::Connection, ws: WorkspaceId, id: ChannelId) -> StoreResult<Channel> {
        let sql = concat!("SELECT ", channel_columns!(), " FROM channels WHERE workspace_id = $1 AND id = $2");
        let row: ChannelRow = sqlx::query_as(sql).bind(ws.get()).bind(id.get()).fetch_one(&mut *conn).await?;
        row.try_into()
    }

    /// Whether user `user` of the workspace may see the channel; `None` when there is no such
    /// user. For checks about someone other than the caller (an assignee, a mentioned teammate).
    pub(crate) async fn user_sees_channel(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        user: UserId,
        channel: ChannelId,
    ) -> StoreResult<Option<bool>> {
        // A deactivated user is no one to assign or tell anything to.
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM users WHERE workspace_id = $1 AND id = $2 AND deactivated_at IS NULL")
                .bind(ws.get())
                .bind(user.get())
                .fetch_optional(&mut *conn)
                .await?;
        let Some(role) = role else { return Ok(None) };
        let role: parley_core::account::Role =
            role.parse().map_err(|_| StoreError::Corrupt(format!("user role {role:?}")))?;
        Ok(Some(Self::sees_channel(conn, channel, Viewer::of(user, role)).await?))
    }

    /// Whether `viewer` may see the channel (see `visible_channel!`), inside the caller's transaction.
    pub(crate) async fn sees_channel(conn: &mut DB::Connection, id: ChannelId, viewer: Viewer) -> StoreResult<bool> {
        let Some(agent) = viewer.agent() else { return Ok(true) };
        let seen: Option<i64> =
            sqlx::query_scalar(concat!("SELECT id FROM channels WHERE id = $1 AND ", visible_channel!("id", "$2")))
                .bind(id.get())
                .bind(Some(agent))
                .fetch_optional(&mut *conn)
                .await?;
        Ok(seen.is_some())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Channels for SqlStore<DB> {
    async fn create_channel(&self, ws: WorkspaceId, c: NewChannel, now: Timestamp) -> StoreResult<Channel> {
        let mut tx = self.begin_write().await?;
        let row: ChannelRow = sqlx::query_as(concat!(
            "INSERT INTO channels (workspace_id, provider, name, phone_number_id, waba_id, display_phone_number,
                graph_base_url, secrets, webhook_key, visibility, throughput, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING ",
            channel_columns!()
        ))
        .bind(ws.get())
        .bind(c.provider.as_str().to_owned())
        .bind(c.name)
        .bind(c.phone_number_id)
        .bind(c.waba_id)
        .bind(c.display_phone_number)
        .bind(c.graph_base_url)
        .bind(c.sealed_secrets)
        .bind(c.webhook_key)
        .bind(c.visibility.as_str().to_owned())
        .bind(c.throughput)
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        let channel = Channel::try_from(row)?;
        let payload = channel_payload(&channel);
        Self::append_event(
            &mut tx,
            ws,
            NewEvent::new("channel.created", channel.id.get(), &payload).on_channel(channel.id),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(channel)
    }

    async fn channels(&self, ws: WorkspaceId, viewer: Viewer) -> StoreResult<Vec<Channel>> {
        let sql = concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE workspace_id = $1 AND deleted_at IS NULL AND ",
            visible_channel!("id", "$2"),
            " ORDER BY id"
        );
        let rows: Vec<ChannelRow> =
            sqlx::query_as(sql).bind(ws.get()).bind(viewer.agent()).fetch_all(&self.read).await?;
        rows.into_iter().map(Channel::try_from).collect()
    }

    async fn live_channels(&self) -> StoreResult<Vec<Channel>> {
        let sql = concat!("SELECT ", channel_columns!(), " FROM channels WHERE deleted_at IS NULL ORDER BY id");
        let rows: Vec<ChannelRow> = sqlx::query_as(sql).fetch_all(&self.read).await?;
        rows.into_iter().map(Channel::try_from).collect()
    }

    async fn channel(&self, ws: WorkspaceId, id: ChannelId, viewer: Viewer) -> StoreResult<Channel> {
        let sql = concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE workspace_id = $1 AND id = $2 AND ",
            visible_channel!("id", "$3")
        );
        let row: ChannelRow =
            sqlx::query_as(sql).bind(ws.get()).bind(id.get()).bind(viewer.agent()).fetch_one(&self.read).await?;
        row.try_into()
    }

    async fn channel_members(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<Vec<UserId>> {
        let mut conn = self.read.acquire().await?;
        Self::channel_in(&mut conn, ws, id).await?;
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM channel_members WHERE channel_id = $1 ORDER BY user_id")
                .bind(id.get())
                .fetch_all(&mut *conn)
                .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn set_channel_members(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        members: &[UserId],
        now: Timestamp,
    ) -> StoreResult<Vec<UserId>> {
        let mut tx = self.begin_write().await?;
        Self::channel_in(&mut tx, ws, id).await?;
        let mut members: Vec<i64> = members.iter().map(|u| u.get()).collect();
        members.sort_unstable();
        members.dedup();
        for user in &members {
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(*user)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::Invalid(parley_core::Invalid::new(
                    "unknown_user",
                    Some("user_ids".into()),
                    format!("user {user} is not a user of this workspace"),
                )));
            }
        }
        sqlx::query("DELETE FROM channel_members WHERE channel_id = $1").bind(id.get()).execute(&mut *tx).await?;
        for user in &members {
            sqlx::query(
                "INSERT INTO channel_members (channel_id, user_id, workspace_id, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id.get())
            .bind(*user)
            .bind(ws.get())
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await?;
        }
        let payload = json!({"channel_id": id, "members": members});
        Self::append_event(&mut tx, ws, NewEvent::new("channel.members", id.get(), &payload).on_channel(id), now)
            .await?;
        tx.commit().await?;
        Ok(members.into_iter().map(UserId).collect())
    }

    async fn update_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        patch: ChannelPatch,
        now: Timestamp,
    ) -> StoreResult<Channel> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL"
        );
        let current: Channel = sqlx::query_as::<DB, ChannelRow>(sql)
            .bind(ws.get())
            .bind(id.get())
            .fetch_one(&mut *tx)
            .await?
            .try_into()?;
        let row: ChannelRow = sqlx::query_as(concat!(
            "UPDATE channels SET name = $1, display_phone_number = $2, graph_base_url = $3, secrets = $4, visibility = $5,
                throughput = $6, messaging_limit = $7, updated_at = $8
             WHERE workspace_id = $9 AND id = $10 RETURNING ",
            channel_columns!()
        ))
        .bind(patch.name.unwrap_or(current.name))
        .bind(patch.display_phone_number.unwrap_or(current.display_phone_number))
        .bind(patch.graph_base_url.unwrap_or(current.graph_base_url))
        .bind(patch.sealed_secrets.unwrap_or(current.sealed_secrets))
        .bind(patch.visibility.unwrap_or(current.visibility).as_str().to_owned())
        .bind(patch.throughput.unwrap_or(current.throughput))
        .bind(patch.messaging_limit.unwrap_or(current.messaging_limit))
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(id.get())
        .fetch_one(&mut *tx)
        .await?;
        let channel = Channel::try_from(row)?;
        let payload = channel_payload(&channel);
        Self::append_event(&mut tx, ws, NewEvent::new("channel.updated", id.get(), &payload).on_channel(id), now)
            .await?;
        tx.commit().await?;
        Ok(channel)
    }

    async fn delete_channel(&self, ws: WorkspaceId, id: ChannelId, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE channels SET deleted_at = $1, updated_at = $1 WHERE workspace_id = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(now.as_micros())
            .bind(ws.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        // A move planned for a deleted number would never be made.
        sqlx::query("DELETE FROM planned_moves WHERE channel_id = $1").bind(id.get()).execute(&mut *tx).await?;
        let payload = json!({"id": id});
        Self::append_event(&mut tx, ws, NewEvent::new("channel.deleted", id.get(), &payload).on_channel(id), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn channel_by_webhook_key(&self, key: &str) -> StoreResult<Option<Channel>> {
        let sql =
            concat!("SELECT ", channel_columns!(), " FROM channels WHERE webhook_key = $1 AND deleted_at IS NULL");
        let row: Option<ChannelRow> = sqlx::query_as(sql).bind(key.to_owned()).fetch_optional(&self.read).await?;
        row.map(Channel::try_from).transpose()
    }

    async fn channels_by_phone_number_ids(&self, provider: Provider, ids: &[String]) -> StoreResult<Vec<Channel>> {
        let mut out = Vec::with_capacity(ids.len());
        let sql = concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE provider = $1 AND phone_number_id = $2 AND deleted_at IS NULL"
        );
        for id in ids {
            let row: Option<ChannelRow> = sqlx::query_as(sql)
                .bind(provider.as_str().to_owned())
                .bind(id.clone())
                .fetch_optional(&self.read)
                .await?;
            if let Some(row) = row {
                out.push(row.try_into()?);
            }
        }
        Ok(out)
    }

    async fn channels_by_waba_id(&self, provider: Provider, waba_id: &str) -> StoreResult<Vec<Channel>> {
        let sql = concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE provider = $1 AND waba_id = $2 AND deleted_at IS NULL ORDER BY id"
        );
        let rows: Vec<ChannelRow> = sqlx::query_as(sql)
            .bind(provider.as_str().to_owned())
            .bind(waba_id.to_owned())
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(Channel::try_from).collect()
    }
}

//! Notifications: for owners and managers (number health, template reviews) or for one user (a
//! mention in a note); written in the transaction of the change they tell about, read per user
//! with whether that user has seen each. A user's own notice about a channel is only written when
//! they see the channel, and only read while they still do.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, UserId, WorkspaceId};
use serde_json::Value;
use sqlx::{Encode, Executor, FromRow, Type};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Notification, Notifications};

/// Records a notification (inside the caller's transaction).
pub(crate) async fn notify<DB>(
    conn: &mut DB::Connection,
    ws: WorkspaceId,
    kind: &str,
    channel: Option<ChannelId>,
    message: &str,
    payload: &Value,
    now: Timestamp,
) -> StoreResult<()>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    notify_user::<DB>(conn, ws, None, kind, channel, message, payload, now).await
}

/// Records a notification for `user` only (`None`: for the owners and managers).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn notify_user<DB>(
    conn: &mut DB::Connection,
    ws: WorkspaceId,
    user: Option<UserId>,
    kind: &str,
    channel: Option<ChannelId>,
    message: &str,
    payload: &Value,
    now: Timestamp,
) -> StoreResult<()>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO notifications (workspace_id, kind, channel_id, message, payload, created_at, user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ws.get())
    .bind(kind.to_owned())
    .bind(channel.map(|c| c.get()))
    .bind(message.to_owned())
    .bind(payload.to_string())
    .bind(now.as_micros())
    .bind(user.map(|u| u.get()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct NotificationRow {
    id: i64,
    kind: String,
    channel_id: Option<i64>,
    message: String,
    payload: String,
    created_at: i64,
    read: i64,
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Notifications for SqlStore<DB> {
    async fn notifications(
        &self,
        ws: WorkspaceId,
        user: UserId,
        team_notices: bool,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        // A notice about a channel is read like the channel: a user told while a member of a
        // private number (a mention) no longer sees it once they are not. Owners and managers
        // (`team_notices`) see every channel.
        let rows: Vec<NotificationRow> = sqlx::query_as(concat!(
            "SELECT n.id, n.kind, n.channel_id, n.message, n.payload, n.created_at,
                CAST(CASE WHEN r.user_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS read
             FROM notifications n
             LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.user_id = $2
             WHERE n.workspace_id = $1 AND n.id < $3 AND (n.user_id = $2 OR (n.user_id IS NULL AND $5 = 1))
               AND ($5 = 1 OR n.channel_id IS NULL OR ",
            visible_channel!("n.channel_id", "$2"),
            ") ORDER BY n.id DESC LIMIT $4"
        ))
        .bind(ws.get())
        .bind(user.get())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .bind(i64::from(team_notices))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Notification {
                    id: r.id,
                    kind: r.kind,
                    channel_id: r.channel_id.map(ChannelId),
                    message: r.message,
                    payload: serde_json::from_str(&r.payload)?,
                    created_at: Timestamp::from_micros(r.created_at),
                    read: r.read != 0,
                })
            })
            .collect()
    }

    async fn mark_notification_read(
        &self,
        ws: WorkspaceId,
        user: UserId,
        team_notices: bool,
        id: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM notifications WHERE workspace_id = $1 AND id = $2
               AND (user_id = $3 OR (user_id IS NULL AND $4 = 1))",
        )
        .bind(ws.get())
        .bind(id)
        .bind(user.get())
        .bind(i64::from(team_notices))
        .fetch_optional(&mut *tx)
        .await?;
        found.ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO notification_reads (notification_id, user_id, read_at) VALUES ($1, $2, $3)
             ON CONFLICT (notification_id, user_id) DO NOTHING",
        )
        .bind(id)
        .bind(user.get())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

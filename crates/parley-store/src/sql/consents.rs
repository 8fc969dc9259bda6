//! Opt-ins, contact flags the send rules read (blocked, identity change acknowledged), and files
//! uploaded for sending.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::contact::{Contact, ContactRef};
use parley_core::ids::{ChannelId, ContactId, UserId, WorkspaceId};
use serde_json::json;
use sqlx::FromRow;

use super::inbound::EventBuffer;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Consents, ContactFlags, Contacts, NewOptIn, OptIn, Upload, Viewer};

#[derive(FromRow)]
struct OptInRow {
    id: i64,
    contact_id: i64,
    channel_id: Option<i64>,
    source: String,
    evidence: Option<String>,
    opted_in_at: i64,
    revoked_at: Option<i64>,
    recorded_by: Option<i64>,
}

impl From<OptInRow> for OptIn {
    fn from(r: OptInRow) -> Self {
        OptIn {
            id: r.id,
            contact_id: ContactId(r.contact_id),
            channel_id: r.channel_id.map(ChannelId),
            source: r.source,
            evidence: r.evidence,
            opted_in_at: Timestamp::from_micros(r.opted_in_at),
            revoked_at: r.revoked_at.map(Timestamp::from_micros),
            recorded_by: r.recorded_by.map(UserId),
        }
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Sets one of the contact's flag columns and records the change.
    async fn set_contact_flag(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        sql: &'static str,
        value: Option<i64>,
        kind: &str,
        now: Timestamp,
    ) -> StoreResult<Contact> {
        let mut tx = self.begin_write().await?;
        let contact = Self::find_contact(&mut tx, ws, by).await?;
        sqlx::query(sql).bind(value).bind(now.as_micros()).bind(contact.id.get()).execute(&mut *tx).await?;
        let mut events = EventBuffer::default();
        events.push(ws, kind, Some(contact.id.get()), None, &json!({"contact_id": contact.id, "at": now}));
        Self::flush_events(&mut tx, events, now).await?;
        let contact = Self::find_contact(&mut tx, ws, &ContactRef::Id(contact.id)).await?;
        tx.commit().await?;
        Ok(contact)
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Consents for SqlStore<DB> {
    async fn record_opt_in(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        opt_in: NewOptIn,
        now: Timestamp,
    ) -> StoreResult<OptIn> {
        let mut tx = self.begin_write().await?;
        let contact = Self::find_contact(&mut tx, ws, by).await?;
        if let Some(channel) = opt_in.channel_id {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM channels WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(channel.get())
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::Invalid(parley_core::Invalid::request(
                    "channel_id",
                    "no such channel in this workspace",
                )));
            }
        }
        let row: OptInRow = sqlx::query_as(
            "INSERT INTO opt_ins (workspace_id, contact_id, channel_id, source, evidence, opted_in_at, recorded_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id, contact_id, channel_id, source, evidence, opted_in_at, revoked_at, recorded_by",
        )
        .bind(ws.get())
        .bind(contact.id.get())
        .bind(opt_in.channel_id.map(ChannelId::get))
        .bind(opt_in.source)
        .bind(opt_in.evidence)
        .bind(opt_in.opted_in_at.as_micros())
        .bind(opt_in.recorded_by.map(UserId::get))
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        let opt_in = OptIn::from(row);
        let mut events = EventBuffer::default();
        events.push(ws, "contact.opted_in", Some(contact.id.get()), None, &json!(opt_in));
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(opt_in)
    }

    async fn opt_ins(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<OptIn>> {
        let mut conn = self.read.acquire().await?;
        let contact = Self::find_contact(&mut conn, ws, by).await?;
        let rows: Vec<OptInRow> = sqlx::query_as(
            "SELECT id, contact_id, channel_id, source, evidence, opted_in_at, revoked_at, recorded_by FROM opt_ins
             WHERE workspace_id = $1 AND contact_id = $2 ORDER BY id",
        )
        .bind(ws.get())
        .bind(contact.id.get())
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(OptIn::from).collect())
    }

    async fn revoke_opt_in(&self, ws: WorkspaceId, by: &ContactRef, id: i64, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let contact = Self::find_contact(&mut tx, ws, by).await?;
        let done = sqlx::query("UPDATE opt_ins SET revoked_at = $1 WHERE workspace_id = $2 AND contact_id = $3 AND id = $4 AND revoked_at IS NULL")
            .bind(now.as_micros())
            .bind(ws.get())
            .bind(contact.id.get())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        let mut events = EventBuffer::default();
        events.push(
            ws,
            "contact.opt_in_revoked",
            Some(contact.id.get()),
            None,
            &json!({"contact_id": contact.id, "opt_in_id": id}),
        );
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn acknowledge_identity(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        _user: UserId,
        now: Timestamp,
    ) -> StoreResult<Contact> {
        let sql = "UPDATE contacts SET identity_changed_at = $1, updated_at = $2 WHERE id = $3";
        self.set_contact_flag(ws, by, sql, None, "contact.identity_acknowledged", now).await
    }

    async fn set_blocked(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        blocked: bool,
        now: Timestamp,
    ) -> StoreResult<Contact> {
        let sql = "UPDATE contacts SET blocked_at = $1, updated_at = $2 WHERE id = $3";
        let kind = if blocked { "contact.blocked" } else { "contact.unblocked" };
        self.set_contact_flag(ws, by, sql, blocked.then(|| now.as_micros()), kind, now).await
    }

    async fn contact_flags(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<ContactFlags> {
        let contact = self.contact(ws, by).await?;
        let (blocked_at, identity_changed_at): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT blocked_at, identity_changed_at FROM contacts WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(contact.id.get())
                .fetch_one(&self.read)
                .await?;
        Ok(ContactFlags {
            blocked_at: blocked_at.map(Timestamp::from_micros),
            identity_changed_at: identity_changed_at.map(Timestamp::from_micros),
        })
    }

    async fn record_upload(&self, ws: WorkspaceId, upload: Upload, now: Timestamp) -> StoreResult<Upload> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO uploads (workspace_id, channel_id, provider_media_id, sha256, mime_type, size, filename, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(ws.get())
        .bind(upload.channel_id.get())
        .bind(upload.provider_media_id.clone())
        .bind(upload.sha256.clone())
        .bind(upload.mime_type.clone())
        .bind(upload.size)
        .bind(upload.filename.clone())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Upload { id, ..upload })
    }

    async fn upload_by_provider_id(&self, ws: WorkspaceId, viewer: Viewer, media_id: &str) -> StoreResult<Upload> {
        let row: Option<(i64, i64, String, String, String, i64, Option<String>)> = sqlx::query_as(concat!(
            "SELECT id, channel_id, provider_media_id, sha256, mime_type, size, filename FROM uploads
             WHERE workspace_id = $1 AND provider_media_id = $2 AND ",
            visible_channel!("channel_id", "$3"),
            " ORDER BY id DESC LIMIT 1"
        ))
        .bind(ws.get())
        .bind(media_id.to_owned())
        .bind(viewer.agent())
        .fetch_optional(&self.read)
        .await?;
        if let Some((id, channel, provider_media_id, sha256, mime_type, size, filename)) = row {
            return Ok(Upload {
                id,
                channel_id: ChannelId(channel),
                provider_media_id,
                sha256,
                mime_type,
                size,
                filename,
            });
        }
        let fetched: Option<(i64, i64, String, String, Option<String>, Option<i64>)> = sqlx::query_as(concat!(
            "SELECT id, channel_id, provider_media_id, sha256, mime_type, size FROM media
             WHERE workspace_id = $1 AND provider_media_id = $2 AND state = 'available' AND sha256 IS NOT NULL AND ",
            visible_channel!("channel_id", "$3"),
            " ORDER BY id DESC LIMIT 1"
        ))
        .bind(ws.get())
        .bind(media_id.to_owned())
        .bind(viewer.agent())
        .fetch_optional(&self.read)
        .await?;
        let (id, channel, provider_media_id, sha256, mime_type, size) = fetched.ok_or(StoreError::NotFound)?;
        Ok(Upload {
            id,
            channel_id: ChannelId(channel),
            provider_media_id,
            sha256,
            mime_type: mime_type.unwrap_or_else(|| "application/octet-stream".into()),
            size: size.unwrap_or(0),
            filename: None,
        })
    }
}

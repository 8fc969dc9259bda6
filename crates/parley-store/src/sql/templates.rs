//! Message templates as stored: versions submitted here (`submitting` until the provider
//! answers, so a review webhook that overtakes the answer still finds its template), reads, and
//! deletions. What the provider reports afterwards (webhooks, syncs) is `template_updates.rs`.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{UserId, WorkspaceId};
use parley_core::template::{TemplateCategory, TemplateStatus};
use serde_json::{Value, json};
use sqlx::FromRow;

use super::inbound::EventBuffer;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{
    ListedTemplate, StoredTemplate, SubmissionResult, SyncReport, TemplateSubmission, TemplateVersion, Templates,
};

macro_rules! template_columns {
    () => {
        "id, waba_id, name, language, category, status, quality, rejected_reason, status_detail, parameter_format,
         components, provider_template_id, version, approved_version, next_category, next_category_at, created_at, updated_at"
    };
}
pub(crate) use template_columns;

#[derive(FromRow)]
pub(crate) struct TemplateRow {
    pub(crate) id: i64,
    pub(crate) waba_id: String,
    pub(crate) name: String,
    pub(crate) language: String,
    pub(crate) category: String,
    pub(crate) status: String,
    pub(crate) quality: Option<String>,
    pub(crate) rejected_reason: Option<String>,
    pub(crate) status_detail: Option<String>,
    pub(crate) parameter_format: String,
    pub(crate) components: String,
    pub(crate) provider_template_id: Option<String>,
    pub(crate) version: i64,
    pub(crate) approved_version: Option<i64>,
    pub(crate) next_category: Option<String>,
    pub(crate) next_category_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl TemplateRow {
    fn into_template(self) -> StoreResult<StoredTemplate> {
        Ok(StoredTemplate {
            id: self.id,
            waba_id: self.waba_id,
            name: self.name,
            language: self.language,
            category: lower_category(&self.category),
            status: lower_status(&self.status),
            quality: self.quality,
            rejected_reason: self.rejected_reason,
            status_detail: self.status_detail,
            parameter_format: self.parameter_format,
            components: serde_json::from_str(&self.components)?,
            provider_template_id: self.provider_template_id,
            version: self.version,
            approved_version: self.approved_version,
            next_category: self.next_category,
            next_category_at: self.next_category_at,
            created_at: Timestamp::from_micros(self.created_at),
            updated_at: Timestamp::from_micros(self.updated_at),
            versions: Vec::new(),
        })
    }
}

#[derive(FromRow)]
struct VersionRow {
    version: i64,
    category: String,
    components: String,
    status: String,
    rejected_reason: Option<String>,
    source: String,
    submitted_by: Option<i64>,
    submitted_at: i64,
    decided_at: Option<i64>,
}

/// Meta's `APPROVED` as our `approved`; unknown words kept, lower-cased.
pub(crate) fn lower_status(s: &str) -> String {
    TemplateStatus::parse(s).map_or_else(|| s.to_ascii_lowercase(), |s| s.as_str().to_owned())
}

pub(crate) fn lower_category(s: &str) -> String {
    TemplateCategory::parse(s).map_or_else(|| s.to_ascii_lowercase(), |c| c.as_str().to_owned())
}

/// A review outcome ends a version's review.
pub(crate) fn decided(status: &str) -> bool {
    matches!(status, "approved" | "rejected")
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    pub(crate) async fn template_row(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<TemplateRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            template_columns!(),
            " FROM templates WHERE workspace_id = $1 AND waba_id = $2 AND name = $3 AND language = $4"
        ))
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .bind(name.to_owned())
        .bind(language.to_owned())
        .fetch_optional(&mut *conn)
        .await?)
    }

    async fn template_by_id(conn: &mut DB::Connection, ws: WorkspaceId, id: i64) -> StoreResult<StoredTemplate> {
        let row: TemplateRow = sqlx::query_as(concat!(
            "SELECT ",
            template_columns!(),
            " FROM templates WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(ws.get())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut template = row.into_template()?;
        template.versions = Self::versions(conn, id).await?;
        Ok(template)
    }

    pub(crate) async fn versions(conn: &mut DB::Connection, template_id: i64) -> StoreResult<Vec<TemplateVersion>> {
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT version, category, components, status, rejected_reason, source, submitted_by, submitted_at, decided_at
             FROM template_versions WHERE template_id = $1 ORDER BY version DESC",
        )
        .bind(template_id)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(TemplateVersion {
                    version: r.version,
                    category: lower_category(&r.category),
                    components: serde_json::from_str(&r.components)?,
                    status: r.status,
                    rejected_reason: r.rejected_reason,
                    source: r.source,
                    submitted_by: r.submitted_by.map(UserId),
                    submitted_at: Timestamp::from_micros(r.submitted_at),
                    decided_at: r.decided_at.map(Timestamp::from_micros),
                })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_version(
        conn: &mut DB::Connection,
        template_id: i64,
        version: i64,
        category: &str,
        components: &Value,
        status: &str,
        source: &str,
        submitted_by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO template_versions (template_id, version, category, components, status, source, submitted_by,
                submitted_at, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(template_id)
        .bind(version)
        .bind(category.to_owned())
        .bind(components.to_string())
        .bind(status.to_owned())
        .bind(source.to_owned())
        .bind(submitted_by.map(|u| u.get()))
        .bind(now.as_micros())
        .bind(decided(status).then(|| now.as_micros()))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The newest version still under review, if any: `(version, components)`.
    pub(crate) async fn version_in_review(
        conn: &mut DB::Connection,
        template_id: i64,
    ) -> StoreResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT version, components FROM template_versions
             WHERE template_id = $1 AND status IN ('submitting', 'pending') ORDER BY version DESC LIMIT 1",
        )
        .bind(template_id)
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Ends the review of `version`: approved (its components become the ones sends use) or
    /// rejected.
    pub(crate) async fn decide_version(
        conn: &mut DB::Connection,
        template_id: i64,
        version: i64,
        components: &str,
        status: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE template_versions SET status = $1, rejected_reason = $2, decided_at = $3
             WHERE template_id = $4 AND version = $5",
        )
        .bind(status.to_owned())
        .bind(reason.map(str::to_owned))
        .bind(now.as_micros())
        .bind(template_id)
        .bind(version)
        .execute(&mut *conn)
        .await?;
        if status == "approved" {
            sqlx::query("UPDATE templates SET components = $1, approved_version = $2 WHERE id = $3")
                .bind(components.to_owned())
                .bind(version)
                .bind(template_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Templates for SqlStore<DB> {
    async fn create_template(
        &self,
        ws: WorkspaceId,
        s: TemplateSubmission,
        now: Timestamp,
    ) -> StoreResult<StoredTemplate> {
        let mut tx = self.begin_write().await?;
        if let Some(existing) = Self::template_row(&mut tx, ws, &s.waba_id, &s.name, &s.language).await? {
            if lower_status(&existing.status) != "deleted" {
                return Err(StoreError::Conflict { field: "name" });
            }
            // Deleted at the provider: the name is free again (after Meta's cooldown).
            sqlx::query("DELETE FROM templates WHERE id = $1").bind(existing.id).execute(&mut *tx).await?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO templates (workspace_id, waba_id, name, language, category, status, components,
                parameter_format, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, 1, $8, $8) RETURNING id",
        )
        .bind(ws.get())
        .bind(s.waba_id.clone())
        .bind(s.name.clone())
        .bind(s.language.clone())
        .bind(s.category.clone())
        .bind(s.components.to_string())
        .bind(s.parameter_format.clone())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        Self::insert_version(&mut tx, id, 1, &s.category, &s.components, "submitting", "parley", s.submitted_by, now)
            .await?;
        let template = Self::template_by_id(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(template)
    }

    async fn add_template_version(
        &self,
        ws: WorkspaceId,
        id: i64,
        s: TemplateSubmission,
        now: Timestamp,
    ) -> StoreResult<StoredTemplate> {
        let mut tx = self.begin_write().await?;
        let current = Self::template_by_id(&mut tx, ws, id).await?;
        let version = current.version + 1;
        sqlx::query("UPDATE templates SET version = $1, updated_at = $2 WHERE id = $3")
            .bind(version)
            .bind(now.as_micros())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Self::insert_version(
            &mut tx,
            id,
            version,
            &s.category,
            &s.components,
            "submitting",
            "parley",
            s.submitted_by,
            now,
        )
        .await?;
        let template = Self::template_by_id(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(template)
    }

    async fn finish_template_submission(
        &self,
        ws: WorkspaceId,
        id: i64,
        version: i64,
        result: SubmissionResult,
        now: Timestamp,
    ) -> StoreResult<Option<StoredTemplate>> {
        let mut tx = self.begin_write().await?;
        // Takes the template's row first (PostgreSQL: a row lock), as a review webhook's update
        // does: the two never interleave, whichever comes first.
        sqlx::query("UPDATE templates SET updated_at = updated_at WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let current = Self::template_by_id(&mut tx, ws, id).await?;
        let mut events = EventBuffer::default();
        match result {
            // Only a version still waiting for the answer goes (a webhook may have settled it).
            SubmissionResult::Failed
                if !current.versions.iter().any(|v| v.version == version && v.status == "submitting") => {}
            SubmissionResult::Failed => {
                sqlx::query("DELETE FROM template_versions WHERE template_id = $1 AND version = $2")
                    .bind(id)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                if version == 1 {
                    sqlx::query("DELETE FROM templates WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    return Ok(None);
                }
                sqlx::query("UPDATE templates SET version = $1 WHERE id = $2 AND version = $3")
                    .bind(version - 1)
                    .bind(id)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            SubmissionResult::Accepted { provider_template_id, status, category } => {
                let status = lower_status(&status);
                let waiting = current.versions.iter().any(|v| v.version == version && v.status == "submitting");
                sqlx::query(
                    "UPDATE templates SET provider_template_id = COALESCE($1, provider_template_id) WHERE id = $2",
                )
                .bind(provider_template_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // A review webhook may have overtaken the answer: it has the last word.
                if waiting {
                    sqlx::query(
                        "UPDATE templates SET status = $1, category = COALESCE($2, category), status_detail = NULL,
                            updated_at = $3 WHERE id = $4",
                    )
                    .bind(status.clone())
                    .bind(category.map(|c| lower_category(&c)))
                    .bind(now.as_micros())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    let version_status = if decided(&status) { status.clone() } else { "pending".to_owned() };
                    let components = current
                        .versions
                        .iter()
                        .find(|v| v.version == version)
                        .map(|v| v.components.to_string())
                        .unwrap_or_default();
                    if decided(&version_status) {
                        Self::decide_version(&mut tx, id, version, &components, &version_status, None, now).await?;
                    } else {
                        sqlx::query(
                            "UPDATE template_versions SET status = 'pending'
                             WHERE template_id = $1 AND version = $2 AND status = 'submitting'",
                        )
                        .bind(id)
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let payload = json!({"template_id": id, "name": current.name, "language": current.language,
                    "waba_id": current.waba_id, "version": version});
                events.push_on_account(ws, "template.submitted", Some(id), &current.waba_id, &payload);
            }
        }
        Self::flush_events(&mut tx, events, now).await?;
        let template = Self::template_by_id(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(Some(template))
    }

    async fn template(
        &self,
        ws: WorkspaceId,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<StoredTemplate> {
        let mut conn = self.read.acquire().await?;
        let row = Self::template_row(&mut conn, ws, waba_id, name, language).await?.ok_or(StoreError::NotFound)?;
        let id = row.id;
        let mut template = row.into_template()?;
        template.versions = Self::versions(&mut conn, id).await?;
        Ok(template)
    }

    async fn templates(&self, ws: WorkspaceId, waba_id: &str) -> StoreResult<Vec<StoredTemplate>> {
        let rows: Vec<TemplateRow> = sqlx::query_as(concat!(
            "SELECT ",
            template_columns!(),
            " FROM templates WHERE workspace_id = $1 AND waba_id = $2 ORDER BY name, language"
        ))
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(TemplateRow::into_template).collect()
    }

    async fn sync_templates(
        &self,
        ws: WorkspaceId,
        waba_id: &str,
        listed: &[ListedTemplate],
        now: Timestamp,
    ) -> StoreResult<SyncReport> {
        self.sync_listed(ws, waba_id, listed, now).await
    }

    async fn delete_templates(&self, ws: WorkspaceId, waba_id: &str, name: &str, now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, language FROM templates WHERE workspace_id = $1 AND waba_id = $2 AND name = $3")
                .bind(ws.get())
                .bind(waba_id.to_owned())
                .bind(name.to_owned())
                .fetch_all(&mut *tx)
                .await?;
        let mut events = EventBuffer::default();
        for (id, language) in &ids {
            sqlx::query("DELETE FROM templates WHERE id = $1").bind(*id).execute(&mut *tx).await?;
            let payload = json!({"waba_id": waba_id, "name": name, "language": language});
            events.push_on_account(ws, "template.deleted", Some(*id), waba_id, &payload);
        }
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}

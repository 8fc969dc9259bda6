//! Message templates: versions submitted here (`submitting` until the provider answers, so a
//! review webhook that overtakes the answer still finds its template), syncs of the provider's
//! list, and review updates from webhooks, applied with the rest of their webhook.

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::ids::{UserId, WorkspaceId};
use parley_core::template::{TemplateCategory, TemplateStatus};
use parley_core::template_review::{TemplateChange, TemplateUpdate, same_content};
use serde_json::{Value, json};
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, Type};

use super::inbound::EventBuffer;
use super::notifications::notify;
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

#[derive(FromRow)]
struct TemplateRow {
    id: i64,
    waba_id: String,
    name: String,
    language: String,
    category: String,
    status: String,
    quality: Option<String>,
    rejected_reason: Option<String>,
    status_detail: Option<String>,
    parameter_format: String,
    components: String,
    provider_template_id: Option<String>,
    version: i64,
    approved_version: Option<i64>,
    next_category: Option<String>,
    next_category_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
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

fn lower_category(s: &str) -> String {
    TemplateCategory::parse(s).map_or_else(|| s.to_ascii_lowercase(), |c| c.as_str().to_owned())
}

/// A review outcome ends a version's review.
fn decided(status: &str) -> bool {
    matches!(status, "approved" | "rejected")
}

impl<DB> SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB>,
{
    async fn template_row(
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

    async fn versions(conn: &mut DB::Connection, template_id: i64) -> StoreResult<Vec<TemplateVersion>> {
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
    async fn insert_version(
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
    async fn version_in_review(conn: &mut DB::Connection, template_id: i64) -> StoreResult<Option<(i64, String)>> {
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
    async fn decide_version(
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

    /// Applies a provider's report about a template (inside the webhook's transaction): status,
    /// quality or category move at once; each change is an event and a notification.
    pub(crate) async fn apply_template_update(
        conn: &mut DB::Connection,
        channel: &Channel,
        update: &TemplateUpdate,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let ws = channel.workspace_id;
        let by_id: Option<TemplateRow> = match &update.provider_template_id {
            Some(pid) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    template_columns!(),
                    " FROM templates WHERE workspace_id = $1 AND waba_id = $2 AND provider_template_id = $3"
                ))
                .bind(ws.get())
                .bind(channel.waba_id.clone())
                .bind(pid.clone())
                .fetch_optional(&mut *conn)
                .await?
            }
            None => None,
        };
        let row = match by_id {
            Some(row) => Some(row),
            // By name only while the provider's id is not known here (a webhook that overtook the
            // provider's answer): a row with another id is another template.
            None => Self::template_row(conn, ws, &channel.waba_id, &update.name, &update.language)
                .await?
                .filter(|r| r.provider_template_id.is_none() || update.provider_template_id.is_none()),
        };
        let Some(row) = row else {
            // Not known here yet (created elsewhere): the next sync brings it in whole.
            events.push(ws, "template.unknown_update", None, Some(channel), &json!(update));
            return Ok(());
        };
        let id = row.id;
        let before = json!({"status": lower_status(&row.status), "quality": row.quality, "category": lower_category(&row.category)});
        let label = format!("Template {} ({})", row.name, row.language);
        let message = match &update.change {
            TemplateChange::Status { status, .. }
                if lower_status(&row.status) == "disabled"
                    && !matches!(status, TemplateStatus::Deleted | TemplateStatus::PendingDeletion) =>
            {
                // Disabled is for good (spec §7.3): a new template must be created.
                events.push(
                    ws,
                    "template.update_ignored",
                    Some(id),
                    Some(channel),
                    &json!({"template_id": id, "change": update.change}),
                );
                return Ok(());
            }
            TemplateChange::Status { status, reason, detail, category } => {
                let status_text = status.as_str();
                // Meta's reason code (`PROMOTIONAL`, `INVALID_FORMAT`…); its explanation is the detail.
                let rejected = (*status == TemplateStatus::Rejected)
                    .then(|| reason.clone().filter(|r| r != "NONE").or_else(|| detail.clone()))
                    .flatten();
                sqlx::query(
                    "UPDATE templates SET status = $1, status_detail = $2, rejected_reason = $3,
                        category = COALESCE($4, category), updated_at = $5 WHERE id = $6",
                )
                .bind(status_text.to_owned())
                .bind(detail.clone())
                .bind(rejected.clone())
                .bind(category.map(|c| c.as_str().to_owned()))
                .bind(now.as_micros())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                // A decision settles the version under review (read after the update above, which
                // waits for a submission being recorded at the same moment). An unpause is no review.
                if decided(status_text)
                    && detail.as_deref() != Some("UNPAUSE")
                    && let Some((version, components)) = Self::version_in_review(conn, id).await?
                {
                    Self::decide_version(conn, id, version, &components, status_text, rejected.as_deref(), now).await?;
                }
                match (status, detail, &rejected) {
                    (TemplateStatus::Rejected, Some(d), Some(why)) if d != why => {
                        format!("{label} was rejected: {why} ({d})")
                    }
                    (TemplateStatus::Rejected, _, Some(why)) => format!("{label} was rejected: {why}"),
                    (_, Some(d), _) if d != "NONE" => format!("{label} is now {status_text} ({d})"),
                    _ => format!("{label} is now {status_text}"),
                }
            }
            TemplateChange::Quality { score, .. } => {
                sqlx::query("UPDATE templates SET quality = $1, updated_at = $2 WHERE id = $3")
                    .bind(score.as_str().to_owned())
                    .bind(now.as_micros())
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                format!("{label}: quality is now {}", score.as_str())
            }
            TemplateChange::Category { category, .. } => {
                sqlx::query(
                    "UPDATE templates SET category = $1, next_category = NULL, next_category_at = NULL, updated_at = $2
                     WHERE id = $3",
                )
                .bind(category.as_str().to_owned())
                .bind(now.as_micros())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                format!("{label} is now in category {}", category.as_str())
            }
            TemplateChange::CategoryNotice { category, at, .. } => {
                sqlx::query(
                    "UPDATE templates SET next_category = $1, next_category_at = $2, updated_at = $3 WHERE id = $4",
                )
                .bind(category.as_str().to_owned())
                .bind(*at)
                .bind(now.as_micros())
                .bind(id)
                .execute(&mut *conn)
                .await?;
                format!("{label} will move to category {}", category.as_str())
            }
            TemplateChange::Flagged => format!("{label} was flagged for low quality"),
            TemplateChange::Components => format!("{label} was edited outside Parley"),
        };
        let payload = json!({"template_id": id, "waba_id": channel.waba_id, "name": row.name, "language": row.language,
            "before": before, "change": update.change});
        events.push(ws, "template.updated", Some(id), Some(channel), &payload);
        notify::<DB>(conn, ws, "template.updated", Some(channel.id), &message, &payload, now).await
    }
}

#[async_trait]
impl<DB> Templates for SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB>,
{
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
                events.push(ws, "template.submitted", Some(id), None, &payload);
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
        let mut tx = self.begin_write().await?;
        let mut report = SyncReport { synced: listed.len() as u64, ..SyncReport::default() };
        let mut events = EventBuffer::default();
        for l in listed {
            let status = lower_status(&l.status);
            let category = lower_category(&l.category);
            let format = l.parameter_format.as_deref().unwrap_or("positional").to_ascii_lowercase();
            let Some(row) = Self::template_row(&mut tx, ws, waba_id, &l.name, &l.language).await? else {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO templates (workspace_id, waba_id, name, language, category, status, components,
                        provider_template_id, quality, rejected_reason, parameter_format, version, approved_version,
                        created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $13) RETURNING id",
                )
                .bind(ws.get())
                .bind(waba_id.to_owned())
                .bind(l.name.clone())
                .bind(l.language.clone())
                .bind(category.clone())
                .bind(status.clone())
                .bind(l.components.to_string())
                .bind(l.provider_template_id.clone())
                .bind(l.quality.clone())
                .bind(l.rejected_reason.clone())
                .bind(format)
                .bind((status == "approved").then_some(1_i64))
                .bind(now.as_micros())
                .fetch_one(&mut *tx)
                .await?;
                let version_status = if decided(&status) { status.as_str() } else { "pending" };
                Self::insert_version(&mut tx, id, 1, &category, &l.components, version_status, "provider", None, now)
                    .await?;
                report.created += 1;
                continue;
            };
            let id = row.id;
            let versions = Self::versions(&mut tx, id).await?;
            let newest = versions.first();
            let known: Value = match newest {
                Some(v) => v.components.clone(),
                None => serde_json::from_str(&row.components)?,
            };
            let mut version = row.version;
            let mut approved_version = row.approved_version;
            let mut components = row.components.clone();
            // While an edit of ours is on its way or in review, the provider may still list the
            // content before it: that is no edit made elsewhere.
            let ours_in_review = newest.is_some_and(|v| matches!(v.status.as_str(), "submitting" | "pending"));
            if ours_in_review && !same_content(&known, &l.components) {
                // Leave the versions alone; the review's outcome settles them.
            } else if !same_content(&known, &l.components) {
                // Edited elsewhere (WhatsApp Manager): recorded as a version of its own.
                version += 1;
                let version_status = if decided(&status) { status.as_str() } else { "pending" };
                Self::insert_version(
                    &mut tx,
                    id,
                    version,
                    &category,
                    &l.components,
                    version_status,
                    "provider",
                    None,
                    now,
                )
                .await?;
            } else if let Some(v) = newest.filter(|v| matches!(v.status.as_str(), "submitting" | "pending"))
                && decided(&status)
            {
                // A review decision the webhook did not bring.
                Self::decide_version(
                    &mut tx,
                    id,
                    v.version,
                    &v.components.to_string(),
                    &status,
                    l.rejected_reason.as_deref(),
                    now,
                )
                .await?;
            }
            if status == "approved" && (!ours_in_review || same_content(&known, &l.components)) {
                components = l.components.to_string();
                approved_version = Some(version);
            }
            let before = (lower_status(&row.status), row.quality.clone(), lower_category(&row.category), row.version);
            let after = (status.clone(), l.quality.clone().or(row.quality.clone()), category.clone(), version);
            sqlx::query(
                "UPDATE templates SET category = $1, status = $2, quality = COALESCE($3, quality), rejected_reason = $4,
                    components = $5, provider_template_id = COALESCE($6, provider_template_id), version = $7,
                    approved_version = $8, parameter_format = $9, updated_at = $10
                 WHERE id = $11",
            )
            .bind(category.clone())
            .bind(status.clone())
            .bind(l.quality.clone())
            .bind(l.rejected_reason.clone())
            .bind(components)
            .bind(l.provider_template_id.clone())
            .bind(version)
            .bind(approved_version)
            .bind(format)
            .bind(now.as_micros())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if before != after {
                report.changed += 1;
                let payload = json!({"template_id": id, "waba_id": waba_id, "name": l.name, "language": l.language,
                    "source": "sync", "before": {"status": before.0, "quality": before.1, "category": before.2},
                    "after": {"status": after.0, "quality": after.1, "category": after.2, "version": after.3}});
                events.push(ws, "template.updated", Some(id), None, &payload);
                if before.0 != after.0 {
                    let message = format!("Template {} ({}) is now {} (found by a sync)", l.name, l.language, after.0);
                    notify::<DB>(&mut tx, ws, "template.updated", None, &message, &payload, now).await?;
                }
            }
        }
        // Known to the provider before, absent from its list now: deleted there.
        let known: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, name, language FROM templates
             WHERE workspace_id = $1 AND waba_id = $2 AND provider_template_id IS NOT NULL AND status <> 'deleted'",
        )
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .fetch_all(&mut *tx)
        .await?;
        for (id, name, language) in known {
            if !listed.iter().any(|l| l.name == name && l.language == language) {
                sqlx::query("UPDATE templates SET status = 'deleted', updated_at = $1 WHERE id = $2")
                    .bind(now.as_micros())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.removed += 1;
            }
        }
        // Submissions the provider never answered (it was unreachable) and does not list: they
        // never arrived. Ten minutes leave a submission in flight alone.
        let lost: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT t.id, t.name, t.language FROM templates t
             JOIN template_versions v ON v.template_id = t.id AND v.version = t.version
             WHERE t.workspace_id = $1 AND t.waba_id = $2 AND t.provider_template_id IS NULL AND t.version = 1
                AND v.status = 'submitting' AND v.submitted_at < $3",
        )
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .bind(now.as_micros() - 600_000_000)
        .fetch_all(&mut *tx)
        .await?;
        for (id, name, language) in lost {
            if !listed.iter().any(|l| l.name == name && l.language == language) {
                sqlx::query("DELETE FROM templates WHERE id = $1").bind(id).execute(&mut *tx).await?;
                report.removed += 1;
            }
        }
        events.push(ws, "templates.synced", None, None, &json!({"waba_id": waba_id, "report": report}));
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(report)
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
            events.push(
                ws,
                "template.deleted",
                Some(*id),
                None,
                &json!({"waba_id": waba_id, "name": name, "language": language}),
            );
        }
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}

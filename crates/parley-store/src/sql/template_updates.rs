//! What the provider says about templates after they were submitted: review outcomes, pauses,
//! quality and category changes from webhooks (applied inside the webhook's transaction), and
//! syncs of its list that catch anything a webhook missed or an edit made elsewhere.

use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::channel::Channel;
use parley_core::ids::WorkspaceId;
use parley_core::template::TemplateStatus;
use parley_core::template_review::{TemplateChange, TemplateUpdate, same_content};
use serde_json::{Value, json};

use super::inbound::EventBuffer;
use super::notifications::notify;
use super::templates::{TemplateRow, decided, lower_category, lower_status, template_columns};
use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{ListedTemplate, SyncReport};

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
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
            // By name while the provider's id is not known here (a webhook that overtook the
            // provider's answer): a row with another id is another template. The same id counts
            // too: on PostgreSQL the answer may commit between the lookup above and this one.
            None => Self::template_row(conn, ws, &channel.waba_id, &update.name, &update.language).await?.filter(|r| {
                r.provider_template_id.is_none()
                    || update.provider_template_id.is_none()
                    || r.provider_template_id == update.provider_template_id
            }),
        };
        let Some(row) = row else {
            // Not known here yet (created elsewhere): the next sync brings it in whole.
            events.push_on_account(ws, "template.unknown_update", None, &channel.waba_id, &json!(update));
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
                let payload = json!({"template_id": id, "change": update.change});
                events.push_on_account(ws, "template.update_ignored", Some(id), &channel.waba_id, &payload);
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
        events.push_on_account(ws, "template.updated", Some(id), &channel.waba_id, &payload);
        notify::<DB>(conn, ws, "template.updated", Some(channel.id), &message, &payload, now).await
    }

    /// Brings the stored templates in line with the provider's list (see `Templates::sync_templates`).
    pub(crate) async fn sync_listed(
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
            let listing = Listing::of(l);
            match Self::template_row(&mut tx, ws, waba_id, &l.name, &l.language).await? {
                None => {
                    Self::insert_listed(&mut tx, ws, waba_id, &listing, now).await?;
                    report.created += 1;
                }
                Some(row) => {
                    if Self::update_listed(&mut tx, ws, waba_id, row, &listing, now, &mut events).await? {
                        report.changed += 1;
                    }
                }
            }
        }
        report.removed = Self::remove_unlisted(&mut tx, ws, waba_id, listed, now).await?;
        let payload = json!({"waba_id": waba_id, "report": report});
        events.push_on_account(ws, "templates.synced", None, waba_id, &payload);
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// A template the provider lists and Parley did not know: stored at version 1.
    async fn insert_listed(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        waba_id: &str,
        listing: &Listing<'_>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let l = listing.listed;
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
        .bind(listing.category.clone())
        .bind(listing.status.clone())
        .bind(l.components.to_string())
        .bind(l.provider_template_id.clone())
        .bind(l.quality.clone())
        .bind(l.rejected_reason.clone())
        .bind(listing.format.clone())
        .bind((listing.status == "approved").then_some(1_i64))
        .bind(now.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        Self::insert_version(
            conn,
            id,
            1,
            &listing.category,
            &l.components,
            listing.version_status(),
            "provider",
            None,
            now,
        )
        .await
    }

    /// A known template as the provider lists it now; true when its status, quality, category
    /// or version changed (an event, and a notification for a new status).
    async fn update_listed(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        waba_id: &str,
        row: TemplateRow,
        listing: &Listing<'_>,
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<bool> {
        let (l, id) = (listing.listed, row.id);
        let (version, approved_version, components) = Self::follow_listed_content(conn, &row, listing, now).await?;
        let before = (lower_status(&row.status), row.quality.clone(), lower_category(&row.category), row.version);
        let after =
            (listing.status.clone(), l.quality.clone().or(row.quality.clone()), listing.category.clone(), version);
        sqlx::query(
            "UPDATE templates SET category = $1, status = $2, quality = COALESCE($3, quality), rejected_reason = $4,
                components = $5, provider_template_id = COALESCE($6, provider_template_id), version = $7,
                approved_version = $8, parameter_format = $9, updated_at = $10
             WHERE id = $11",
        )
        .bind(listing.category.clone())
        .bind(listing.status.clone())
        .bind(l.quality.clone())
        .bind(l.rejected_reason.clone())
        .bind(components)
        .bind(l.provider_template_id.clone())
        .bind(version)
        .bind(approved_version)
        .bind(listing.format.clone())
        .bind(now.as_micros())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        if before == after {
            return Ok(false);
        }
        let payload = json!({"template_id": id, "waba_id": waba_id, "name": l.name, "language": l.language,
            "source": "sync", "before": {"status": before.0, "quality": before.1, "category": before.2},
            "after": {"status": after.0, "quality": after.1, "category": after.2, "version": after.3}});
        events.push_on_account(ws, "template.updated", Some(id), waba_id, &payload);
        if before.0 != after.0 {
            let message = format!("Template {} ({}) is now {} (found by a sync)", l.name, l.language, after.0);
            notify::<DB>(conn, ws, "template.updated", None, &message, &payload, now).await?;
        }
        Ok(true)
    }

    /// The versions a listing implies: an edit made elsewhere becomes a version of its own, a
    /// review decision the webhook did not bring settles ours. Answers the template's version,
    /// its approved version and the components it now sends.
    async fn follow_listed_content(
        conn: &mut DB::Connection,
        row: &TemplateRow,
        listing: &Listing<'_>,
        now: Timestamp,
    ) -> StoreResult<(i64, Option<i64>, String)> {
        let (l, status) = (listing.listed, listing.status.as_str());
        let versions = Self::versions(conn, row.id).await?;
        let newest = versions.first();
        let known: Value = match newest {
            Some(v) => v.components.clone(),
            None => serde_json::from_str(&row.components)?,
        };
        let (mut version, mut approved_version, mut components) =
            (row.version, row.approved_version, row.components.clone());
        // While an edit of ours is on its way or in review, the provider may still list the
        // content before it: that is no edit made elsewhere.
        let ours_in_review = newest.is_some_and(|v| matches!(v.status.as_str(), "submitting" | "pending"));
        let same = same_content(&known, &l.components);
        if ours_in_review && !same {
            // Leave the versions alone; the review's outcome settles them.
        } else if !same {
            version += 1;
            let (category, version_status) = (&listing.category, listing.version_status());
            Self::insert_version(conn, row.id, version, category, &l.components, version_status, "provider", None, now)
                .await?;
        } else if let Some(v) = newest.filter(|v| matches!(v.status.as_str(), "submitting" | "pending"))
            && decided(status)
        {
            let reason = l.rejected_reason.as_deref();
            Self::decide_version(conn, row.id, v.version, &v.components.to_string(), status, reason, now).await?;
        }
        if status == "approved" && (!ours_in_review || same) {
            components = l.components.to_string();
            approved_version = Some(version);
        }
        Ok((version, approved_version, components))
    }

    /// Templates the provider no longer lists: those it knew are marked deleted; submissions it
    /// never answered (it was unreachable) are removed after ten minutes. Answers how many.
    async fn remove_unlisted(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        waba_id: &str,
        listed: &[ListedTemplate],
        now: Timestamp,
    ) -> StoreResult<u64> {
        let is_listed = |name: &str, language: &str| listed.iter().any(|l| l.name == name && l.language == language);
        let mut removed = 0;
        let known: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, name, language FROM templates
             WHERE workspace_id = $1 AND waba_id = $2 AND provider_template_id IS NOT NULL AND status <> 'deleted'",
        )
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .fetch_all(&mut *conn)
        .await?;
        for (id, name, language) in known {
            if !is_listed(&name, &language) {
                sqlx::query("UPDATE templates SET status = 'deleted', updated_at = $1 WHERE id = $2")
                    .bind(now.as_micros())
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                removed += 1;
            }
        }
        let lost: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT t.id, t.name, t.language FROM templates t
             JOIN template_versions v ON v.template_id = t.id AND v.version = t.version
             WHERE t.workspace_id = $1 AND t.waba_id = $2 AND t.provider_template_id IS NULL AND t.version = 1
                AND v.status = 'submitting' AND v.submitted_at < $3",
        )
        .bind(ws.get())
        .bind(waba_id.to_owned())
        .bind(now.as_micros() - 600_000_000)
        .fetch_all(&mut *conn)
        .await?;
        for (id, name, language) in lost {
            if !is_listed(&name, &language) {
                sqlx::query("DELETE FROM templates WHERE id = $1").bind(id).execute(&mut *conn).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A template of the provider's list with its values in the forms stored here.
struct Listing<'a> {
    listed: &'a ListedTemplate,
    status: String,
    category: String,
    format: String,
}

impl<'a> Listing<'a> {
    fn of(listed: &'a ListedTemplate) -> Self {
        Listing {
            listed,
            status: lower_status(&listed.status),
            category: lower_category(&listed.category),
            format: listed.parameter_format.as_deref().unwrap_or("positional").to_ascii_lowercase(),
        }
    }

    /// The status of a version made from this listing: a decided status, else pending.
    fn version_status(&self) -> &str {
        if decided(&self.status) { &self.status } else { "pending" }
    }
}

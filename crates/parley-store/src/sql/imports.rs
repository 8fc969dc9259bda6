//! CSV imports: the import record (options, state, progress, counters, refused rows) and
//! applying one batch of rows in one transaction. Reading the file is the caller's
//! (`parley-server/src/contacts_io.rs`); rows arrive validated (`parley_core::contacts_csv`).
//!
//! A batch commits whole with the import's progress (`rows_done`), guarded by the progress the
//! caller last saw: an interrupted import resumes after its last committed batch, and two workers
//! can never both apply one batch. Imports append one `contacts.imported` event per batch (the
//! ids created and updated), not one per contact, so a million-row file does not flood the log.

use macro_rules_attribute::apply;
use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::contact::Contact;
use parley_core::contacts_csv::{Identifier, ImportMode, ImportRow, RowProblem};
use parley_core::ids::{ContactId, UserId, WorkspaceId};
use parley_core::validation::Invalid;
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};

use super::contacts::{ContactRow, contact_columns, search_text};
use super::events::NewEvent;
use super::{ContactInsert, Engine, SqlStore, clamp_limit, pow2_chunks};
use crate::error::{StoreError, StoreResult};
use crate::{BatchCounts, ContactImports, Import, ImportBatch, ImportState, NewImport};

macro_rules! import_columns {
    () => {
        "id, workspace_id, created_by, filename, path, options, dry_run, state, bytes_total, bytes_done,
         rows_done, created, updated, unchanged, skipped, rejected, ignored, error, created_at, updated_at, finished_at"
    };
}
const IN_LIST: usize = 512;

#[derive(FromRow)]
struct ImportDbRow {
    id: i64,
    workspace_id: i64,
    created_by: Option<i64>,
    filename: String,
    path: String,
    options: String,
    dry_run: i64,
    state: String,
    bytes_total: i64,
    bytes_done: i64,
    rows_done: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    skipped: i64,
    rejected: i64,
    ignored: String,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<ImportDbRow> for Import {
    type Error = StoreError;
    fn try_from(r: ImportDbRow) -> StoreResult<Self> {
        Ok(Import {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            filename: r.filename,
            path: r.path,
            options: serde_json::from_str(&r.options)?,
            dry_run: r.dry_run != 0,
            state: ImportState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("import state {}", r.state)))?,
            bytes_total: r.bytes_total,
            bytes_done: r.bytes_done,
            rows_done: r.rows_done,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            skipped: r.skipped,
            rejected: r.rejected,
            ignored_columns: serde_json::from_str(&r.ignored)?,
            error: r.error,
            created_by: r.created_by.map(UserId),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            finished_at: r.finished_at.map(Timestamp::from_micros),
        })
    }
}

/// Where a row's identifier points within a batch.
#[derive(Clone, Copy)]
enum Slot {
    /// A stored contact (index into `Plan::updates`, filled on first use).
    Existing(i64),
    /// A contact this batch creates (index into `Plan::creates`).
    Created(usize),
    /// Dry runs: created by an earlier batch that was not written.
    Virtual,
}

#[derive(Default)]
struct Plan {
    creates: Vec<Contact>,
    /// Stored contacts the batch changes, with their tags before.
    updates: Vec<(Contact, Vec<String>)>,
    update_at: HashMap<i64, usize>,
    counts: BatchCounts,
    refused: Vec<RowProblem>,
}

impl Plan {
    fn refuse(&mut self, row: &ImportRow, code: &str, reason: impl Into<String>) {
        self.refused.push(RowProblem::row(row.line, code, reason));
    }
}

fn new_contact(ws: WorkspaceId, row: &ImportRow, now: Timestamp) -> Contact {
    Contact {
        id: ContactId(0),
        workspace_id: ws,
        name: row.name.clone(),
        phone: row.phone.clone(),
        email: row.email.clone(),
        invalid_phone: None,
        invalid_email: None,
        fields: row.fields.clone(),
        tags: row.tags.clone(),
        created_at: now,
        updated_at: now,
    }
}

/// A contact's columns as the bulk statements write them.
fn contact_row(ws: WorkspaceId, c: &Contact) -> StoreResult<ContactInsert> {
    Ok(ContactInsert {
        id: c.id.get(),
        workspace_id: ws.get(),
        name: c.name.clone(),
        phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
        email: c.email.as_ref().map(|e| e.as_str().to_owned()),
        invalid_phone: c.invalid_phone.clone(),
        invalid_email: c.invalid_email.clone(),
        fields: serde_json::to_string(&c.fields)?,
        tags: serde_json::to_string(&c.tags)?,
        search: search_text(c),
        created_at: c.created_at.as_micros(),
        updated_at: c.updated_at.as_micros(),
    })
}

/// Decides what each row does; writes nothing.
fn plan_batch(ws: WorkspaceId, batch: &ImportBatch<'_>, existing: &HashMap<String, Contact>, now: Timestamp) -> Plan {
    let options = &batch.import.options;
    let mut plan = Plan::default();
    let mut slots: HashMap<String, Slot> = HashMap::new();
    let by_id: HashMap<i64, &Contact> = existing.values().map(|c| (c.id.get(), c)).collect();
    let mut changed: HashSet<i64> = HashSet::new();
    for row in batch.rows {
        let key = row.key(options.identifier);
        let slot = match (&key, options.mode) {
            (_, ImportMode::AddAll) | (None, _) => None,
            (Some(k), _) => slots
                .get(k)
                .copied()
                .or_else(|| existing.get(k).map(|c| Slot::Existing(c.id.get())))
                .or_else(|| batch.dry_run_keys.as_ref().filter(|keys| keys.contains(k)).map(|_| Slot::Virtual)),
        };
        match (options.mode, slot) {
            (ImportMode::Add, Some(_)) | (ImportMode::Update, None) => plan.counts.skipped += 1,
            (ImportMode::Add | ImportMode::Upsert | ImportMode::AddAll, None) => {
                if !row.can_create() {
                    plan.refuse(row, "no_identity", "a new contact needs a name, a phone or an email");
                    continue;
                }
                if let Some(k) = key {
                    slots.insert(k, Slot::Created(plan.creates.len()));
                }
                plan.creates.push(new_contact(ws, row, now));
                plan.counts.created += 1;
            }
            (_, Some(Slot::Virtual)) => plan.counts.updated += 1,
            (_, Some(Slot::Created(i))) => {
                let mut contact = plan.creates[i].clone();
                match row.apply(&mut contact, options.overwrite) {
                    Ok(changed) => {
                        plan.creates[i] = contact;
                        if changed { plan.counts.updated += 1 } else { plan.counts.unchanged += 1 }
                    }
                    Err(e) => plan.refuse(row, e.code, e.message),
                }
            }
            (_, Some(Slot::Existing(id))) => {
                let at = match plan.update_at.get(&id) {
                    Some(&at) => at,
                    None => {
                        let Some(stored) = by_id.get(&id) else { continue };
                        plan.updates.push(((*stored).clone(), stored.tags.clone()));
                        plan.update_at.insert(id, plan.updates.len() - 1);
                        plan.updates.len() - 1
                    }
                };
                let mut contact = plan.updates[at].0.clone();
                match row.apply(&mut contact, options.overwrite) {
                    Ok(true) => {
                        contact.updated_at = now;
                        plan.updates[at].0 = contact;
                        plan.counts.updated += 1;
                        changed.insert(id);
                    }
                    Ok(false) => plan.counts.unchanged += 1,
                    Err(e) => plan.refuse(row, e.code, e.message),
                }
            }
        }
    }
    // Stored contacts no row changed in the end need no write.
    plan.updates.retain(|(c, _)| changed.contains(&c.id.get()));
    plan
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// The stored contacts the batch's identifiers name: the oldest per phone or email; ids
    /// follow merge redirects.
    async fn existing_by_key(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        identifier: Identifier,
        keys: Vec<String>,
    ) -> StoreResult<HashMap<String, Contact>> {
        let mut out = HashMap::new();
        let mut wanted: Vec<String> = keys;
        let mut redirected: HashMap<String, String> = HashMap::new();
        if identifier == Identifier::Id {
            let ids: Vec<i64> = wanted.iter().filter_map(|k| k.parse().ok()).collect();
            for chunk in pow2_chunks(&ids, IN_LIST) {
                let mut qb =
                    QueryBuilder::<DB>::new("SELECT from_id, to_id FROM contact_redirects WHERE workspace_id = ");
                qb.push_bind(ws.get()).push(" AND from_id IN (");
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(")");
                for (from, to) in qb.build_query_as::<(i64, i64)>().fetch_all(&mut *conn).await? {
                    redirected.insert(to.to_string(), from.to_string());
                    wanted.push(to.to_string());
                }
            }
        }
        let found: Vec<Contact> = match identifier {
            Identifier::Phone | Identifier::Email => {
                DB::contacts_with(conn, ws.get(), identifier == Identifier::Email, wanted)
                    .await?
                    .into_iter()
                    .map(Contact::try_from)
                    .collect::<StoreResult<_>>()?
            }
            Identifier::Id => {
                let ids: Vec<i64> = wanted.iter().filter_map(|k| k.parse().ok()).collect();
                Self::contacts_by_ids(conn, ws, &ids).await?.into_values().collect()
            }
        };
        // No ORDER BY in those lookups: SQLite would walk the table in id order to honour it;
        // the oldest of several matches is picked here.
        for contact in found {
            let key = match identifier {
                Identifier::Id => contact.id.get().to_string(),
                Identifier::Phone => contact.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
                Identifier::Email => contact.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            };
            if let Some(from) = redirected.get(&key) {
                out.insert(from.clone(), contact.clone());
            }
            match out.get(&key) {
                Some(older) if older.id < contact.id => {}
                _ => {
                    out.insert(key, contact);
                }
            }
        }
        Ok(out)
    }

    /// Creates `creates` (ids reserved, then multi-row inserts with their tags); sets their ids.
    /// Also how ingest creates the senders it does not know (`inbound/senders.rs`).
    pub(crate) async fn insert_new_contacts(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        creates: &mut [Contact],
    ) -> StoreResult<()> {
        if creates.is_empty() {
            return Ok(());
        }
        let ids = DB::reserve_contact_ids(conn, creates.len() as i64).await?;
        if ids.len() != creates.len() {
            return Err(StoreError::Corrupt("could not reserve contact ids".into()));
        }
        for (contact, id) in creates.iter_mut().zip(ids) {
            contact.id = ContactId(id);
        }
        let rows = creates.iter().map(|c| contact_row(ws, c)).collect::<StoreResult<Vec<_>>>()?;
        DB::insert_contact_rows(conn, rows).await?;
        Self::insert_tag_rows(conn, ws, creates.iter()).await
    }

    /// The tag rows of these contacts, in multi-row statements.
    async fn insert_tag_rows<'c>(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contacts: impl Iterator<Item = &'c Contact>,
    ) -> StoreResult<()> {
        let tags: Vec<(i64, i64, String)> =
            contacts.flat_map(|c| c.tags.iter().map(move |t| (c.id.get(), ws.get(), t.clone()))).collect();
        DB::insert_tag_rows(conn, tags).await?;
        Ok(())
    }

    /// Writes changed contacts back, many per statement (`UPDATE … FROM (VALUES …)`, whose
    /// columns both engines name `column1`, `column2`, …), and replaces the tag rows of those
    /// whose tags changed.
    async fn write_updated_contacts(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        updates: &[(Contact, Vec<String>)],
    ) -> StoreResult<()> {
        let rows = updates.iter().map(|(c, _)| contact_row(ws, c)).collect::<StoreResult<Vec<_>>>()?;
        // `UPDATE … FROM (VALUES …)`: the columns of a `VALUES` list are `column1`, `column2`, …
        // on both engines.
        for chunk in pow2_chunks(&rows, 256) {
            let mut qb = QueryBuilder::<DB>::new(
                "UPDATE contacts SET name = v.column3, phone = v.column4, email = v.column5, fields = v.column6,
                    tags = v.column7, search = v.column8, updated_at = v.column9, invalid_phone = v.column10,
                    invalid_email = v.column11
                 FROM (",
            );
            qb.push_values(chunk, |mut row, c| {
                row.push_bind(c.id)
                    .push_bind(c.workspace_id)
                    .push_bind(c.name.clone())
                    .push_bind(c.phone.clone())
                    .push_bind(c.email.clone())
                    .push_bind(c.fields.clone())
                    .push_bind(c.tags.clone())
                    .push_bind(c.search.clone())
                    .push_bind(c.updated_at)
                    .push_bind(c.invalid_phone.clone())
                    .push_bind(c.invalid_email.clone());
            });
            qb.push(") AS v WHERE contacts.id = v.column1 AND contacts.workspace_id = v.column2");
            qb.build().execute(&mut *conn).await?;
        }
        let retagged: Vec<&Contact> = updates.iter().filter(|(c, before)| &c.tags != before).map(|(c, _)| c).collect();
        let ids: Vec<i64> = retagged.iter().map(|c| c.id.get()).collect();
        for chunk in pow2_chunks(&ids, IN_LIST) {
            let mut qb = QueryBuilder::<DB>::new("DELETE FROM contact_tags WHERE contact_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *conn).await?;
        }
        Self::insert_tag_rows(conn, ws, retagged.into_iter()).await
    }

    async fn insert_rejects(conn: &mut DB::Connection, import: i64, problems: &[&RowProblem]) -> StoreResult<()> {
        for chunk in pow2_chunks(problems, 256) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO import_rejects (import_id, line, column_name, value, code, reason) ",
            );
            qb.push_values(chunk, |mut row, p| {
                row.push_bind(import)
                    .push_bind(p.line as i64)
                    .push_bind(p.column.clone())
                    .push_bind(p.value.clone())
                    .push_bind(p.code.clone())
                    .push_bind(p.reason.clone());
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> ContactImports for SqlStore<DB> {
    async fn create_import(&self, ws: WorkspaceId, import: NewImport, now: Timestamp) -> StoreResult<Import> {
        let mut tx = self.begin_write().await?;
        let (state, lease) = match import.held_until {
            Some(until) => (ImportState::Running, Some(until.as_micros())),
            None => (ImportState::Queued, None),
        };
        let row: ImportDbRow = sqlx::query_as(concat!(
            "INSERT INTO imports (workspace_id, created_by, filename, path, options, dry_run, state, bytes_total, lease_until,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
            import_columns!(),
            ""
        ))
        .bind(ws.get())
        .bind(import.created_by.map(UserId::get))
        .bind(import.filename)
        .bind(import.path)
        .bind(serde_json::to_string(&import.options)?)
        .bind(i64::from(import.dry_run))
        .bind(state.as_str().to_owned())
        .bind(import.bytes_total)
        .bind(lease)
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        let import = Import::try_from(row)?;
        Self::append_event(&mut tx, ws, NewEvent::new("import.created", import.id, &json!(import)), now).await?;
        tx.commit().await?;
        Ok(import)
    }

    async fn import(&self, ws: WorkspaceId, id: i64) -> StoreResult<Import> {
        let row: ImportDbRow =
            sqlx::query_as(concat!("SELECT ", import_columns!(), " FROM imports WHERE workspace_id = $1 AND id = $2"))
                .bind(ws.get())
                .bind(id)
                .fetch_one(&self.read)
                .await?;
        row.try_into()
    }

    async fn imports(&self, ws: WorkspaceId, limit: u32) -> StoreResult<Vec<Import>> {
        let rows: Vec<ImportDbRow> = sqlx::query_as(concat!(
            "SELECT ",
            import_columns!(),
            " FROM imports WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(ws.get())
        .bind(clamp_limit(limit, 200))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(Import::try_from).collect()
    }

    async fn import_rejects(
        &self,
        ws: WorkspaceId,
        id: i64,
        after_line: u64,
        limit: u32,
    ) -> StoreResult<Vec<RowProblem>> {
        type RejectRow = (i64, Option<String>, Option<String>, String, String);
        const COLUMNS: &str = "SELECT line, column_name, value, code, reason FROM import_rejects WHERE import_id = $1";
        let import = self.import(ws, id).await?;
        let limit = limit.max(1);
        let mut rows: Vec<RejectRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} AND line > $2 ORDER BY line LIMIT $3")))
                .bind(import.id)
                .bind(after_line as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
        // A full page may have cut its last line's problems short: that line is read whole.
        if rows.len() == limit as usize {
            let last = rows[rows.len() - 1].0;
            rows.retain(|r| r.0 != last);
            let whole: Vec<RejectRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} AND line = $2")))
                .bind(import.id)
                .bind(last)
                .fetch_all(&self.read)
                .await?;
            rows.extend(whole);
        }
        Ok(rows
            .into_iter()
            .map(|(line, column, value, code, reason)| RowProblem { line: line as u64, column, value, code, reason })
            .collect())
    }

    async fn claim_import(&self, now: Timestamp, lease_until: Timestamp) -> StoreResult<Option<Import>> {
        let mut tx = self.begin_write().await?;
        let row: Option<ImportDbRow> = sqlx::query_as(concat!(
            "UPDATE imports SET state = 'running', lease_until = $1, updated_at = $2
             WHERE id = (SELECT id FROM imports
                         WHERE state = 'queued' OR (state = 'running' AND lease_until < $2) ORDER BY id LIMIT 1)
               AND (state = 'queued' OR (state = 'running' AND lease_until < $2))
             RETURNING ",
            import_columns!(),
            ""
        ))
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(Import::try_from).transpose()
    }

    async fn start_import(
        &self,
        import: &Import,
        ignored: &[String],
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE imports SET state = 'running', ignored = $1, lease_until = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(serde_json::to_string(ignored)?)
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(import.id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn import_batch(
        &self,
        batch: ImportBatch<'_>,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<BatchCounts> {
        let import = batch.import;
        let ws = import.workspace_id;
        let options = &import.options;
        let mut tx = self.begin_write().await?;
        if let Some(setup) = DB::BULK_WRITE_SETUP {
            sqlx::query(setup).execute(&mut *tx).await?;
        }
        let keys: Vec<String> = if options.mode == ImportMode::AddAll {
            Vec::new()
        } else {
            batch.rows.iter().filter_map(|r| r.key(options.identifier)).collect::<BTreeSet<_>>().into_iter().collect()
        };
        let existing = Self::existing_by_key(&mut tx, ws, options.identifier, keys).await?;
        let mut plan = plan_batch(ws, &batch, &existing, now);
        let mut problems: Vec<&RowProblem> = batch.problems.iter().chain(plan.refused.iter()).collect();
        problems.sort_by_key(|p| p.line);
        plan.counts.rejected = problems.iter().map(|p| p.line).collect::<HashSet<_>>().len() as i64;
        if import.dry_run {
            if let Some(keys) = batch.dry_run_keys {
                keys.extend(plan.creates.iter().filter_map(|c| match options.identifier {
                    Identifier::Phone => c.phone.as_ref().map(|p| p.as_str().to_owned()),
                    Identifier::Email => c.email.as_ref().map(|e| e.as_str().to_owned()),
                    Identifier::Id => None,
                }));
            }
        } else {
            Self::insert_new_contacts(&mut tx, ws, &mut plan.creates).await?;
            Self::write_updated_contacts(&mut tx, ws, &plan.updates).await?;
            let created: Vec<i64> = plan.creates.iter().map(|c| c.id.get()).collect();
            let updated: Vec<i64> = plan.updates.iter().map(|(c, _)| c.id.get()).collect();
            if !created.is_empty() || !updated.is_empty() {
                let payload = json!({"import_id": import.id, "created": created, "updated": updated});
                Self::append_event(&mut tx, ws, NewEvent::new("contacts.imported", import.id, &payload), now).await?;
            }
            let mut changed = std::mem::take(&mut plan.creates);
            changed.extend(plan.updates.drain(..).map(|(c, _)| c));
            if batch.suggest {
                Self::suggest_duplicates(&mut tx, ws, &changed, now).await?;
            }
        }
        Self::insert_rejects(&mut tx, import.id, &problems).await?;
        let c = plan.counts;
        let moved = sqlx::query(
            "UPDATE imports SET rows_done = $1, bytes_done = $2, created = created + $3, updated = updated + $4,
                unchanged = unchanged + $5, skipped = skipped + $6, rejected = rejected + $7, lease_until = $8, updated_at = $9
             WHERE id = $10 AND rows_done = $11 AND state = 'running'",
        )
        .bind(batch.rows_done)
        .bind(batch.bytes_done)
        .bind(c.created)
        .bind(c.updated)
        .bind(c.unchanged)
        .bind(c.skipped)
        .bind(c.rejected)
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .bind(import.id)
        .bind(import.rows_done)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&moved) == 0 {
            return Err(
                Invalid::new("import_taken_over", None, "another worker resumed this import; this one stops").into()
            );
        }
        tx.commit().await?;
        // The table doubled since the statistics were last refreshed (first batch, second,
        // fourth, …): refresh them, so lookups keep using the indexes.
        if let Some(analyze) = DB::ANALYZE_CONTACTS
            && !import.dry_run
            && batch.rows_done >= 2 * import.rows_done
        {
            sqlx::query(analyze).execute(&self.write).await?;
        }
        Ok(c)
    }

    async fn finish_import(
        &self,
        ws: WorkspaceId,
        id: i64,
        error: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Import> {
        let state = if error.is_some() { ImportState::Failed } else { ImportState::Done };
        let mut tx = self.begin_write().await?;
        let row: ImportDbRow = sqlx::query_as(concat!(
            "UPDATE imports SET state = $1, error = $2, finished_at = $3, updated_at = $3, lease_until = NULL
             WHERE workspace_id = $4 AND id = $5 RETURNING ",
            import_columns!(),
            ""
        ))
        .bind(state.as_str().to_owned())
        .bind(error.map(str::to_owned))
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let import = Import::try_from(row)?;
        Self::append_event(&mut tx, ws, NewEvent::new("import.finished", id, &json!(import)), now).await?;
        tx.commit().await?;
        Ok(import)
    }

    async fn contacts_after(&self, ws: WorkspaceId, after: i64, limit: u32) -> StoreResult<Vec<Contact>> {
        let rows: Vec<ContactRow> = sqlx::query_as(concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(ws.get())
        .bind(after)
        .bind(clamp_limit(limit, 10_000))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(Contact::try_from).collect()
    }
}

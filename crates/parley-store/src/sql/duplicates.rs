//! Duplicate suggestions (kept up to date as contacts change, or recomputed in full), and
//! re-cleaning stored phones and emails. Which contacts look alike is decided in
//! `parley_core::dedupe`; this file finds the candidates and stores the pairs.

use macro_rules_attribute::apply;
use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use parley_core::contact::{Contact, ContactRef};
use parley_core::dedupe::{
    DedupeEntry, DuplicateFinder, DuplicatePair, DuplicateReason, duplicate_pairs, lookup_forms, lookup_forms_of_wa_id,
};
use parley_core::ids::{ContactId, UserId, WorkspaceId};
use parley_core::phone::{Region, normalize};
use parley_core::search::contact_search_text;
use parley_core::{E164, Email, Timestamp};
use serde_json::json;
use sqlx::QueryBuilder;

use super::contacts::{ContactRow, contact_columns};
use super::events::NewEvent;
use super::inbound::WA_ID;
use super::{Engine, SqlStore, clamp_limit, pow2_chunks};
use crate::error::{StoreError, StoreResult};
use crate::{
    ContactMerges, MergeRecord, MergeRequest, MergeSuggestion, Merged, NormalizeChange, NormalizeReport, Page,
};

/// Values per `IN (…)` list.
const IN_LIST: usize = 512;

/// Contacts re-cleaned per transaction.
const NORMALIZE_PAGE: i64 = 100;

/// A contact's values after re-cleaning, as they will be written.
struct CleanedContact {
    id: i64,
    phone: Option<String>,
    email: Option<String>,
    /// The value set aside when it could not be made valid.
    invalid_phone: Option<String>,
    invalid_email: Option<String>,
    search: String,
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Records the suggestions that involve `contacts` (just created or changed), inside the
    /// caller's transaction. Answers how many pairs are new.
    pub(crate) async fn suggest_duplicates(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        contacts: &[Contact],
        now: Timestamp,
    ) -> StoreResult<u64> {
        let seeds: Vec<DedupeEntry> = contacts
            .iter()
            .map(|c| DedupeEntry {
                id: c.id.get(),
                phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
                email: c.email.as_ref().map(|e| e.as_str().to_owned()),
                wa_ids: Vec::new(),
            })
            .collect();
        Self::suggest_for_entries(conn, ws, seeds, now).await
    }

    pub(crate) async fn suggest_for_entries(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        seeds: Vec<DedupeEntry>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        if seeds.is_empty() {
            return Ok(0);
        }
        let changed: HashSet<i64> = seeds.iter().map(|e| e.id).collect();
        let mut entries: HashMap<i64, DedupeEntry> = seeds.into_iter().map(|e| (e.id, e)).collect();
        let seed_ids: Vec<i64> = changed.iter().copied().collect();
        for (id, wa) in Self::wa_ids_of(conn, &seed_ids).await? {
            if let Some(e) = entries.get_mut(&id) {
                e.wa_ids.push(wa);
            }
        }
        // Every form under which a look-alike may be stored.
        let (mut phones, mut wa_ids, mut emails) = (HashSet::new(), HashSet::new(), HashSet::new());
        for e in entries.values() {
            if let Some(phone) = &e.phone {
                let (p, w) = lookup_forms(phone);
                phones.extend(p);
                wa_ids.extend(w);
            }
            for wa in &e.wa_ids {
                let (p, w) = lookup_forms_of_wa_id(wa);
                phones.extend(p);
                wa_ids.extend(w);
            }
            if let Some(email) = &e.email {
                emails.insert(email.to_lowercase());
            }
        }
        let mut candidates: HashSet<i64> = HashSet::new();
        for (column, values) in [("phone", phones), ("email", emails)] {
            let values: Vec<String> = values.into_iter().collect();
            for chunk in pow2_chunks(&values, IN_LIST) {
                let mut qb = QueryBuilder::<DB>::new("SELECT id, phone, email FROM contacts WHERE workspace_id = ");
                qb.push_bind(ws.get()).push(format!(" AND {column} IN ("));
                let mut list = qb.separated(", ");
                for v in chunk {
                    list.push_bind(v.clone());
                }
                qb.push(")");
                let rows: Vec<(i64, Option<String>, Option<String>)> =
                    qb.build_query_as().fetch_all(&mut *conn).await?;
                for (id, phone, email) in rows {
                    candidates.insert(id);
                    entries.entry(id).or_insert(DedupeEntry { id, phone, email, wa_ids: Vec::new() });
                }
            }
        }
        let wa_ids: Vec<String> = wa_ids.into_iter().collect();
        let mut by_identity: Vec<i64> = Vec::new();
        for chunk in pow2_chunks(&wa_ids, IN_LIST) {
            let mut qb = QueryBuilder::<DB>::new("SELECT contact_id FROM contact_identities WHERE workspace_id = ");
            qb.push_bind(ws.get()).push(" AND kind = ").push_bind(WA_ID.to_owned()).push(" AND value IN (");
            let mut list = qb.separated(", ");
            for v in chunk {
                list.push_bind(v.clone());
            }
            qb.push(")");
            by_identity.extend(qb.build_query_scalar::<i64>().fetch_all(&mut *conn).await?);
        }
        let missing: Vec<i64> = by_identity.into_iter().filter(|id| !entries.contains_key(id)).collect();
        for chunk in pow2_chunks(&missing, IN_LIST) {
            let mut qb = QueryBuilder::<DB>::new("SELECT id, phone, email FROM contacts WHERE workspace_id = ");
            qb.push_bind(ws.get()).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            let rows: Vec<(i64, Option<String>, Option<String>)> = qb.build_query_as().fetch_all(&mut *conn).await?;
            for (id, phone, email) in rows {
                entries.entry(id).or_insert(DedupeEntry { id, phone, email, wa_ids: Vec::new() });
            }
        }
        // The candidates' own WhatsApp ids.
        let others: Vec<i64> = entries.keys().copied().filter(|id| !changed.contains(id)).collect();
        for (id, wa) in Self::wa_ids_of(conn, &others).await? {
            if let Some(e) = entries.get_mut(&id) {
                e.wa_ids.push(wa);
            }
        }
        let entries: Vec<DedupeEntry> = entries.into_values().collect();
        let pairs = duplicate_pairs(&entries, Some(&changed));
        Self::insert_suggestions(conn, ws, &pairs, now).await
    }

    /// The WhatsApp ids of these contacts.
    async fn wa_ids_of(conn: &mut DB::Connection, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        let mut out = Vec::new();
        for chunk in pow2_chunks(ids, IN_LIST) {
            let mut qb = QueryBuilder::<DB>::new("SELECT contact_id, value FROM contact_identities WHERE kind = ");
            qb.push_bind(WA_ID.to_owned()).push(" AND contact_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            out.extend(qb.build_query_as::<(i64, String)>().fetch_all(&mut *conn).await?);
        }
        Ok(out)
    }

    /// Stores new pairs; a pair already suggested (or dismissed) stays as it is.
    async fn insert_suggestions(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        pairs: &[DuplicatePair],
        now: Timestamp,
    ) -> StoreResult<u64> {
        let mut added = 0;
        for chunk in pow2_chunks(pairs, 256) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO merge_suggestions (workspace_id, contact_a, contact_b, reason, matched, created_at) ",
            );
            qb.push_values(chunk, |mut row, p| {
                row.push_bind(ws.get())
                    .push_bind(p.a)
                    .push_bind(p.b)
                    .push_bind(p.reason.as_str().to_owned())
                    .push_bind(p.matched.clone())
                    .push_bind(now.as_micros());
            });
            qb.push(" ON CONFLICT (workspace_id, contact_a, contact_b) DO NOTHING");
            added += DB::rows_affected(&qb.build().execute(&mut *conn).await?);
        }
        Ok(added)
    }

    /// Contacts by id (those that exist), for assembling suggestions.
    pub(crate) async fn contacts_by_ids(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        ids: &[i64],
    ) -> StoreResult<HashMap<i64, Contact>> {
        let mut out = HashMap::new();
        for chunk in pow2_chunks(ids, IN_LIST) {
            let mut qb =
                QueryBuilder::<DB>::new(concat!("SELECT ", contact_columns!(), " FROM contacts WHERE workspace_id = "));
            qb.push_bind(ws.get()).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            for row in qb.build_query_as::<ContactRow>().fetch_all(&mut *conn).await? {
                let c = Contact::try_from(row)?;
                out.insert(c.id.get(), c);
            }
        }
        Ok(out)
    }

    /// Re-cleans the contacts after id `after` (one page), adding what it finds to `report`;
    /// writes (and suggests duplicates) only when `write` carries the time of the change.
    /// Answers the page's last id, or `None` when there was nothing left.
    async fn normalize_page(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        region: Option<Region>,
        after: i64,
        write: Option<Timestamp>,
        report: &mut NormalizeReport,
    ) -> StoreResult<Option<i64>> {
        // id, name, phone, email.
        type Values = (i64, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Values> = sqlx::query_as(
            "SELECT id, name, phone, email FROM contacts WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(ws.get())
        .bind(after)
        .bind(NORMALIZE_PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(None);
        };
        report.contacts_seen += rows.len() as u64;
        let mut updates: Vec<CleanedContact> = Vec::new();
        for (id, name, phone, email) in rows {
            let phone_change = phone.as_deref().and_then(|raw| match normalize(raw, region) {
                Ok(clean) if clean.as_str() == raw => None,
                Ok(clean) => Some((raw.to_owned(), Some(clean.into_string()))),
                Err(_) => Some((raw.to_owned(), None)),
            });
            let email_change = email.as_deref().and_then(|raw| match Email::parse(raw) {
                Ok(clean) if clean.as_str() == raw => None,
                Ok(clean) => Some((raw.to_owned(), Some(clean.as_str().to_owned()))),
                Err(_) => Some((raw.to_owned(), None)),
            });
            if phone_change.is_none() && email_change.is_none() {
                continue;
            }
            for (field, change) in [("phone", &phone_change), ("email", &email_change)] {
                if let Some((before, after)) = change {
                    report.record(NormalizeChange {
                        contact_id: id,
                        field,
                        before: before.clone(),
                        after: after.clone(),
                    });
                }
            }
            if write.is_none() {
                continue;
            }
            let new_phone = match &phone_change {
                Some((_, after)) => after.clone(),
                None => phone.clone(),
            };
            let new_email = match &email_change {
                Some((_, after)) => after.clone(),
                None => email.clone(),
            };
            let stored = new_phone.clone().map(E164::from_stored);
            updates.push(CleanedContact {
                id,
                search: contact_search_text(name.as_deref(), new_email.as_deref(), stored.as_ref()),
                invalid_phone: phone_change.filter(|(_, a)| a.is_none()).map(|(b, _)| b),
                invalid_email: email_change.filter(|(_, a)| a.is_none()).map(|(b, _)| b),
                phone: new_phone,
                email: new_email,
            });
        }
        let Some(now) = write else { return Ok(Some(last)) };
        if !updates.is_empty() {
            // One statement for the page: a statement per contact made each page cost ~75 ms on
            // SQLite (a round trip each), which every webhook then waited for.
            let mut qb = QueryBuilder::<DB>::new(
                "UPDATE contacts SET phone = v.column2, email = v.column3,
                    invalid_phone = COALESCE(v.column4, contacts.invalid_phone),
                    invalid_email = COALESCE(v.column5, contacts.invalid_email),
                    search = v.column6, updated_at = ",
            );
            qb.push_bind(now.as_micros()).push(" FROM (VALUES ");
            let mut rows = qb.separated(", ");
            for c in &updates {
                rows.push("(")
                    .push_bind_unseparated(c.id)
                    .push_unseparated(", ")
                    .push_bind_unseparated(c.phone.clone())
                    .push_unseparated(", ")
                    .push_bind_unseparated(c.email.clone())
                    .push_unseparated(", ")
                    .push_bind_unseparated(c.invalid_phone.clone())
                    .push_unseparated(", ")
                    .push_bind_unseparated(c.invalid_email.clone())
                    .push_unseparated(", ")
                    .push_bind_unseparated(c.search.clone())
                    .push_unseparated(")");
            }
            qb.push(") AS v WHERE contacts.workspace_id = ").push_bind(ws.get()).push(" AND contacts.id = v.column1");
            qb.build().execute(&mut *conn).await?;
        }
        let touched = updates
            .into_iter()
            .map(|c| DedupeEntry { id: c.id, phone: c.phone, email: c.email, wa_ids: Vec::new() })
            .collect();
        Self::suggest_for_entries(conn, ws, touched, now).await?;
        Ok(Some(last))
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> ContactMerges for SqlStore<DB> {
    async fn merge_suggestions(
        &self,
        ws: WorkspaceId,
        contact: Option<ContactId>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Page<MergeSuggestion>> {
        let limit = clamp_limit(limit, 200);
        let mut conn = self.read.acquire().await?;
        // Two statements rather than one with `$4 IS NULL OR …`: a generic plan of that would scan
        // every open suggestion. A contact's are found by the pair's unique index (as `contact_a`)
        // and `merge_suggestions_b`.
        let rows: Vec<(i64, i64, i64, String, String, i64)> = match contact {
            None => {
                sqlx::query_as(
                    "SELECT id, contact_a, contact_b, reason, matched, created_at FROM merge_suggestions
                     WHERE workspace_id = $1 AND dismissed_at IS NULL AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(ws.get())
                .bind(after)
                .bind(limit + 1)
                .fetch_all(&mut *conn)
                .await?
            }
            Some(c) => {
                sqlx::query_as(
                    "SELECT id, contact_a, contact_b, reason, matched, created_at FROM merge_suggestions
                     WHERE workspace_id = $1 AND dismissed_at IS NULL AND id > $2 AND (contact_a = $4 OR contact_b = $4)
                     ORDER BY id LIMIT $3",
                )
                .bind(ws.get())
                .bind(after)
                .bind(limit + 1)
                .bind(c.get())
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let ids: Vec<i64> = rows.iter().flat_map(|r| [r.1, r.2]).collect();
        let contacts = Self::contacts_by_ids(&mut conn, ws, &ids).await?;
        let mut items = Vec::new();
        for (id, a, b, reason, matched, created_at) in rows.into_iter().take(limit as usize) {
            let (Some(contact_a), Some(contact_b)) = (contacts.get(&a).cloned(), contacts.get(&b).cloned()) else {
                continue;
            };
            let reason =
                DuplicateReason::parse(&reason).ok_or_else(|| StoreError::Corrupt(format!("reason {reason}")))?;
            items.push(MergeSuggestion {
                id,
                contact_a,
                contact_b,
                reason,
                matched,
                created_at: Timestamp::from_micros(created_at),
            });
        }
        let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(|s| s.id.to_string())).flatten();
        Ok(Page { items, next_cursor })
    }

    async fn dismiss_suggestion(
        &self,
        ws: WorkspaceId,
        id: i64,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE merge_suggestions SET dismissed_at = $1, dismissed_by = $2
             WHERE workspace_id = $3 AND id = $4 AND dismissed_at IS NULL",
        )
        .bind(now.as_micros())
        .bind(by.map(UserId::get))
        .bind(ws.get())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        Self::append_event(&mut tx, ws, NewEvent::new("contact.suggestion_dismissed", id, &json!({"id": id})), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dedupe_all(&self, ws: WorkspaceId, now: Timestamp) -> StoreResult<u64> {
        // Streamed into a compact finder: a full run holds every contact of the workspace.
        let mut finder = DuplicateFinder::default();
        let mut conn = self.read.acquire().await?;
        {
            let mut rows = sqlx::query_as::<DB, (i64, Option<String>, Option<String>)>(
                "SELECT id, phone, email FROM contacts WHERE workspace_id = $1",
            )
            .bind(ws.get())
            .fetch(&mut *conn);
            while let Some((id, phone, email)) = rows.try_next().await? {
                if let Some(phone) = phone {
                    finder.add_phone(id, &phone);
                }
                if let Some(email) = email {
                    finder.add_email(id, &email);
                }
            }
        }
        {
            let mut rows = sqlx::query_as::<DB, (i64, String)>(
                "SELECT contact_id, value FROM contact_identities WHERE workspace_id = $1 AND kind = $2",
            )
            .bind(ws.get())
            .bind(WA_ID.to_owned())
            .fetch(&mut *conn);
            while let Some((id, wa)) = rows.try_next().await? {
                finder.add_wa_id(id, &wa);
            }
        }
        drop(conn);
        let pairs = finder.pairs(None);
        let mut tx = self.begin_write().await?;
        let added = Self::insert_suggestions(&mut tx, ws, &pairs, now).await?;
        Self::append_event(
            &mut tx,
            ws,
            NewEvent {
                kind: "contacts.deduped",
                subject_id: None,
                channel_id: None,
                payload: &json!({"pairs": pairs.len(), "new": added}),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn merge_contacts(&self, ws: WorkspaceId, request: MergeRequest, now: Timestamp) -> StoreResult<Merged> {
        let mut tx = self.begin_write().await?;
        let merged = Self::merge_in(&mut tx, ws, request, now).await?;
        tx.commit().await?;
        Ok(merged)
    }

    async fn contact_history(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<MergeRecord>> {
        let mut conn = self.read.acquire().await?;
        let contact = Self::find_contact(&mut conn, ws, by).await?;
        Self::merges_into(&mut conn, ws, contact.id).await
    }

    async fn normalize_contacts(
        &self,
        ws: WorkspaceId,
        region: Option<Region>,
        dry_run: bool,
        now: Timestamp,
    ) -> StoreResult<NormalizeReport> {
        // A page at a time, each in its own short transaction: a webhook waits for one page at
        // most, never for the whole pass. A dry run only reads.
        let mut report = NormalizeReport { dry_run, ..NormalizeReport::default() };
        let mut after = 0i64;
        loop {
            let last = if dry_run {
                let mut conn = self.read.acquire().await?;
                Self::normalize_page(&mut conn, ws, region, after, None, &mut report).await?
            } else {
                let mut tx = self.begin_write().await?;
                let last = Self::normalize_page(&mut tx, ws, region, after, Some(now), &mut report).await?;
                tx.commit().await?;
                last
            };
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
        if dry_run {
            return Ok(report);
        }
        let mut tx = self.begin_write().await?;
        let summary = json!({"cleaned": report.cleaned, "invalid": report.invalid});
        Self::append_event(
            &mut tx,
            ws,
            NewEvent { kind: "contacts.normalized", subject_id: None, channel_id: None, payload: &summary },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}

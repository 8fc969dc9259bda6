//! The inbound journal: webhooks acknowledged before they are applied (issue 21, "ack fast";
//! `parley-server`'s `journal.rs` decides when). A webhook's row is taken by the transaction
//! that applies it, so it is applied once whatever crashes or however many servers share the
//! database:
//!
//! - PostgreSQL keeps the rows in a table of the database; the applying transaction deletes
//!   them (`DELETE … RETURNING`: a row another transaction took is not returned, and is skipped).
//! - SQLite keeps them in a file of their own (`sqlite.rs`), with a write lock of its own: an
//!   acknowledgement never waits behind the transaction applying earlier webhooks. The applying
//!   transaction notes their ids in `inbound_journal_applied` (a noted id, or a row no longer in
//!   the journal, is skipped), and the rows are removed from the journal's file after its
//!   commit. Noted ids below the journal's oldest row can never come back (`AUTOINCREMENT`) and
//!   are pruned.

use macro_rules_attribute::apply;
use parley_core::Timestamp;
use sqlx::{Pool, QueryBuilder, Row};

use super::super::{Engine, SqlStore};
use super::statement_chunks;
use crate::error::StoreResult;
use crate::{JournalEntry, NewJournalEntry};

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Where the journal's rows are: the journal's file on SQLite, the database on PostgreSQL.
    fn journal_pool(&self) -> &Pool<DB> {
        self.journal.as_ref().unwrap_or(&self.write)
    }

    /// `head`, the ids as a list of parameters, `tail`.
    fn id_list(head: &'static str, ids: &[i64], tail: &'static str) -> QueryBuilder<DB> {
        let mut qb = QueryBuilder::<DB>::new(head);
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(tail);
        qb
    }

    pub(crate) async fn append_to_journal(
        &self,
        entries: &[NewJournalEntry<'_>],
        now: Timestamp,
    ) -> StoreResult<Vec<i64>> {
        let mut tx = self.journal_pool().begin_with(DB::BEGIN_WRITE).await?;
        let mut ids = Vec::with_capacity(entries.len());
        for chunk in statement_chunks(entries) {
            let mut qb =
                QueryBuilder::<DB>::new("INSERT INTO inbound_journal (webhook_key, body, signature, received_at) ");
            qb.push_values(chunk, |mut row, e| {
                row.push_bind(e.webhook_key.to_owned())
                    .push_bind(e.body.to_owned())
                    .push_bind(e.signature.map(str::to_owned))
                    .push_bind(now.as_micros());
            });
            qb.push(" RETURNING id");
            let mut chunk_ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
            // One statement numbers its rows in the order of its values; RETURNING need not
            // list them in that order.
            chunk_ids.sort_unstable();
            ids.extend(chunk_ids);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Journaled webhooks with ids above `after`, received at `received_by` or earlier.
    pub(crate) async fn pending_in_journal(
        &self,
        after: i64,
        received_by: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        let rows = sqlx::query(
            "SELECT id, webhook_key, body, signature, received_at FROM inbound_journal
             WHERE id > $1 AND received_at <= $2 ORDER BY id LIMIT $3",
        )
        .bind(after)
        .bind(received_by.as_micros())
        .bind(i64::from(limit))
        .fetch_all(self.journal_pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(JournalEntry {
                    id: r.try_get("id")?,
                    webhook_key: r.try_get("webhook_key")?,
                    body: r.try_get("body")?,
                    signature: r.try_get("signature")?,
                    received_at: Timestamp::from_micros(r.try_get("received_at")?),
                })
            })
            .collect()
    }

    /// Takes the journal rows `ids` for the transaction `conn` applying them; returns those it
    /// took (the others were applied by another transaction).
    pub(crate) async fn take_journal_rows(&self, conn: &mut DB::Connection, ids: &[i64]) -> StoreResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut taken = Vec::with_capacity(ids.len());
        if self.journal.is_none() {
            for chunk in statement_chunks(ids) {
                let mut qb = Self::id_list("DELETE FROM inbound_journal WHERE id IN (", chunk, ") RETURNING id");
                taken.extend(qb.build_query_scalar::<i64>().fetch_all(&mut *conn).await?);
            }
            return Ok(taken);
        }
        // SQLite: the rows stay in the journal's file until after the commit (this transaction
        // holds the database's write lock, so no other applies them meanwhile). A row already
        // gone was applied; one still there is taken by noting its id, unless noted already.
        let mut present = Vec::with_capacity(ids.len());
        for chunk in statement_chunks(ids) {
            let mut qb = Self::id_list("SELECT id FROM inbound_journal WHERE id IN (", chunk, ")");
            present.extend(qb.build_query_scalar::<i64>().fetch_all(self.journal_pool()).await?);
        }
        // Noted ids below the oldest row can never be read again: pruned.
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT min(id) FROM inbound_journal").fetch_one(self.journal_pool()).await?;
        if let Some(oldest) = oldest {
            sqlx::query("DELETE FROM inbound_journal_applied WHERE journal_id < $1")
                .bind(oldest)
                .execute(&mut *conn)
                .await?;
        }
        for chunk in statement_chunks(&present) {
            let mut qb = QueryBuilder::<DB>::new("INSERT INTO inbound_journal_applied (journal_id) ");
            qb.push_values(chunk, |mut row, id| {
                row.push_bind(*id);
            });
            qb.push(" ON CONFLICT DO NOTHING RETURNING journal_id");
            taken.extend(qb.build_query_scalar::<i64>().fetch_all(&mut *conn).await?);
        }
        Ok(taken)
    }

    /// After the commit that applied them: SQLite removes the rows from the journal's file (a
    /// failure only leaves rows that are skipped when read again). Nothing to do on PostgreSQL.
    pub(crate) async fn forget_journal_rows(&self, ids: &[i64]) {
        let Some(pool) = &self.journal else { return };
        for chunk in statement_chunks(ids) {
            let mut qb = Self::id_list("DELETE FROM inbound_journal WHERE id IN (", chunk, ")");
            if let Err(e) = qb.build().execute(pool).await {
                tracing::warn!(error = %e, "removing applied webhooks from the journal failed; they will be skipped");
                return;
            }
        }
    }
}

//! The store implementation shared by both engines. [`SqlStore`] is generic over the sqlx
//! database; each `impl` block repeats the same `where` clause, which says "this engine can run
//! our queries and bind/read our column types" (Rust cannot bundle such bounds into one name).
//! SQL here must run unchanged on SQLite and PostgreSQL: `$n` parameters, `RETURNING`, integers
//! for timestamps, text for JSON.

mod accounts;
mod channels;
mod consents;
pub(crate) mod contacts;
mod conversations;
mod dispatch;
mod duplicates;
pub(crate) mod events;
mod imports;
mod inbound;
mod merge;
mod outbox;

use std::fs::File;

use std::future::Future;
use std::pin::Pin;

use sqlx::migrate::Migrator;
use sqlx::{Database, IntoArguments, Pool, Transaction};

use crate::error::StoreResult;

/// What differs between the engines that the shared code needs to know.
pub trait Engine: Database<Arguments: IntoArguments<Self>> {
    /// `sqlite` or `postgres`.
    const ENGINE: &'static str;
    /// SQLite opens write transactions with `BEGIN IMMEDIATE`: a deferred transaction that later
    /// writes fails at once with `SQLITE_BUSY` instead of waiting for the writer lock.
    const BEGIN_WRITE: &'static str;
    /// The outbox as the target of a claim. SQLite must not use the `state` index there: it
    /// would walk every pending job of a deep queue instead of looking up the few claimed ids.
    const OUTBOX_BY_ID: &'static str;
    /// Appended to the claim's job selection: PostgreSQL locks the picked rows and skips those
    /// another dispatcher is claiming (SQLite has one writer at a time anyway).
    const SKIP_LOCKED: &'static str;
    /// `n` ($1) fresh contact ids, for multi-row inserts that must know each row's id. SQLite
    /// counts on from the largest id (the caller holds the one write lock); PostgreSQL takes
    /// them from the identity sequence.
    const RESERVE_CONTACT_IDS: &'static str;
    /// Rows changed by an `execute` (each engine has its own result type).
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// Runs the engine's migrations (generic code cannot name the `Migrate` bound sqlx needs).
    fn run_migrations<'a>(pool: &'a Pool<Self>, migrator: &'a Migrator) -> BoxFuture<'a, StoreResult<()>>;
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Engine for sqlx::Sqlite {
    const ENGINE: &'static str = "sqlite";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const OUTBOX_BY_ID: &'static str = "outbox NOT INDEXED";
    const SKIP_LOCKED: &'static str = "";
    const RESERVE_CONTACT_IDS: &'static str =
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1)
         SELECT (SELECT COALESCE(MAX(id), 0) FROM contacts) + n FROM seq";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
    fn run_migrations<'a>(pool: &'a Pool<Self>, migrator: &'a Migrator) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { Ok(migrator.run(pool).await?) })
    }
}

impl Engine for sqlx::Postgres {
    const ENGINE: &'static str = "postgres";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const OUTBOX_BY_ID: &'static str = "outbox";
    const SKIP_LOCKED: &'static str = " FOR UPDATE OF o SKIP LOCKED";
    const RESERVE_CONTACT_IDS: &'static str =
        "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, $1)";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
    fn run_migrations<'a>(pool: &'a Pool<Self>, migrator: &'a Migrator) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { Ok(migrator.run(pool).await?) })
    }
}

/// The store over one engine. SQLite has a one-connection writer pool and a reader pool;
/// PostgreSQL uses one pool for both.
pub struct SqlStore<DB: Database> {
    pub(crate) write: Pool<DB>,
    pub(crate) read: Pool<DB>,
    pub(crate) migrator: Migrator,
    /// Held for the process's lifetime: one server per SQLite file.
    pub(crate) _lock: Option<File>,
}

impl<DB: Engine> SqlStore<DB> {
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, DB>> {
        Ok(self.write.begin_with(DB::BEGIN_WRITE).await?)
    }
}

/// A `LIMIT` in range: at least 1, at most `max`.
pub(crate) fn clamp_limit(limit: u32, max: u32) -> i64 {
    i64::from(limit.clamp(1, max))
}

/// Cuts `items` into slices whose lengths are powers of two, at most `max_rows`: multi-row
/// statements then come in a handful of shapes, so their prepared statements are reused instead
/// of parsed and planned anew for every batch size (a large cost on PostgreSQL).
pub(crate) fn pow2_chunks<T>(items: &[T], max_rows: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let fit = rest.len().min(max_rows);
        let n = if fit.is_power_of_two() { fit } else { fit.next_power_of_two() / 2 };
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

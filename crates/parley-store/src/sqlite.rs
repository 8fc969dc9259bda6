//! SQLite: one file under the data dir, WAL, a single-connection writer pool (every write
//! transaction `BEGIN IMMEDIATE`), a pool of readers and a checkpointer. One server process per
//! file: a lock file next to the database refuses a second one.

use std::fs::File;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{StoreError, StoreResult};
use crate::open::{create_private_dir, open_private_file};
use crate::sql::SqlStore;

const READERS: u32 = 8;

pub(crate) async fn open(path: &Path) -> StoreResult<SqlStore<sqlx::Sqlite>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)
            .map_err(|e| StoreError::Config(format!("cannot create the data directory {}: {e}", dir.display())))?;
    }
    let lock = lock_file(path)?;
    // Created here rather than by SQLite so that it is the owner's only; SQLite gives its WAL
    // and shared-memory files the database file's permissions.
    open_private_file(path)
        .map_err(|e| StoreError::Config(format!("cannot create the database file {}: {e}", path.display())))?;
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|e| StoreError::Config(e.to_string()))?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        .pragma("cache_size", "-65536")
        // Checkpoint every 64 MB of WAL rather than 4 MB: large write transactions (imports)
        // dirty thousands of pages each; copying them back after every one doubled their cost.
        // The background checkpointer below usually has done it by then.
        .pragma("wal_autocheckpoint", "16384");
    let write = SqlitePoolOptions::new().max_connections(1).min_connections(1).connect_with(options.clone()).await?;
    // Copying pages back needs no page cache of its own.
    let checkpointer =
        SqlitePoolOptions::new().max_connections(1).connect_with(options.clone().pragma("cache_size", "-1024")).await?;
    // Readers keep a smaller page cache each (16 MB, against the writer's 64 MB): there are
    // eight of them, and the operating system caches the file for all.
    let read_options = options.read_only(true).pragma("cache_size", "-16384");
    let read = SqlitePoolOptions::new().max_connections(READERS).connect_with(read_options).await?;
    let checkpoints = tokio::spawn(checkpoint_in_background(checkpointer)).abort_handle();
    let guard = FileGuard { _lock: lock, checkpoints };
    let journal = open_journal(path).await?;
    let mut store = SqlStore::new(write, read, sqlx::migrate!("./migrations/sqlite"), Some(guard));
    store.journal = Some(journal);
    Ok(store)
}

/// The inbound journal's file beside the database (`<database>.inbound.db`): webhooks
/// acknowledged and not applied yet. A file of its own has a write lock of its own, so an
/// acknowledgement never waits behind the transaction applying earlier webhooks. Its ids are
/// never reused (`AUTOINCREMENT`): the database notes applied ones (migration 0054).
async fn open_journal(db: &Path) -> StoreResult<sqlx::SqlitePool> {
    let path = db.with_extension("inbound.db");
    open_private_file(&path)
        .map_err(|e| StoreError::Config(format!("cannot create the journal file {}: {e}", path.display())))?;
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|e| StoreError::Config(e.to_string()))?
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(1).min_connections(1).connect_with(options).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS inbound_journal (id INTEGER PRIMARY KEY AUTOINCREMENT, webhook_key TEXT NOT NULL,
         body TEXT NOT NULL, signature TEXT, received_at INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

/// What an open SQLite store holds: the lock file, and the checkpointer, stopped on drop.
pub(crate) struct FileGuard {
    _lock: File,
    checkpoints: tokio::task::AbortHandle,
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        self.checkpoints.abort();
    }
}

/// How often the checkpointer looks for committed pages to copy back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies committed pages from the WAL into the database file on a connection (and so a thread)
/// of its own. Otherwise the writer does it inside the commit that takes the WAL past
/// `wal_autocheckpoint`, while every webhook waits: with ten million messages, checkpoints took
/// a third of a short ingest run (`parley bench webhooks --contacts 1000000`: 18,500 events/s,
/// 26,700 with them put off). Over 300,000 events, where they cannot be put off, this thread
/// took the ingest from 17,600 to 18,600 events/s and its p99 from 359 to 291 ms. A passive
/// checkpoint never blocks the writer or the readers; the writer's own checkpoint then finds
/// little left to copy, and restarts the WAL from its beginning.
async fn checkpoint_in_background(pool: sqlx::SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::debug!(error = %e, "background checkpoint failed; the writer checkpoints instead");
        }
    }
}

/// Takes an exclusive lock on `<database>.lock`, released when the process exits.
fn lock_file(db: &Path) -> StoreResult<File> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let file = open_private_file(Path::new(&name))
        .map_err(|e| StoreError::Config(format!("cannot open the lock file {}: {e}", Path::new(&name).display())))?;
    file.try_lock().map_err(|_| {
        StoreError::Config(format!(
            "{} is in use by another Parley process; one server per SQLite database (use PostgreSQL to run several)",
            db.display()
        ))
    })?;
    Ok(file)
}

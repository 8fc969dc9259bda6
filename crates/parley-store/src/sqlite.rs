//! SQLite: one file under the data dir, WAL, a single-connection writer pool (every write
//! transaction `BEGIN IMMEDIATE`) and a pool of readers. One server process per file: a lock
//! file next to the database refuses a second one.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{StoreError, StoreResult};
use crate::sql::SqlStore;

const READERS: u32 = 8;

pub(crate) async fn open(path: &Path) -> StoreResult<SqlStore<sqlx::Sqlite>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("cannot create the data directory {}: {e}", dir.display())))?;
    }
    let lock = lock_file(path)?;
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
        .pragma("wal_autocheckpoint", "16384");
    let write = SqlitePoolOptions::new().max_connections(1).min_connections(1).connect_with(options.clone()).await?;
    // Readers keep a smaller page cache each (16 MB, against the writer's 64 MB): there are
    // eight of them, and the operating system caches the file for all.
    let read_options = options.read_only(true).pragma("cache_size", "-16384");
    let read = SqlitePoolOptions::new().max_connections(READERS).connect_with(read_options).await?;
    Ok(SqlStore::new(write, read, sqlx::migrate!("./migrations/sqlite"), Some(lock)))
}

/// Takes an exclusive lock on `<database>.lock`, released when the process exits.
fn lock_file(db: &Path) -> StoreResult<File> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).open(&name).map_err(|e| {
            StoreError::Config(format!("cannot open the lock file {}: {e}", Path::new(&name).display()))
        })?;
    file.try_lock().map_err(|_| {
        StoreError::Config(format!(
            "{} is in use by another Parley process; one server per SQLite database (use PostgreSQL to run several)",
            db.display()
        ))
    })?;
    Ok(file)
}

//! Choosing and opening the engine from a database URL (or the data dir's default SQLite file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{StoreError, StoreResult};
use crate::sql::{Engine, SqlStore};
use crate::{Store, postgres, sqlite};

/// Creates `dir` and its missing parents readable by their owner only (0700 on Unix): the data
/// directory holds the database, the key that opens channel credentials, and customers' files.
/// A directory that exists already keeps its permissions (the operator chose them).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens (creating it when missing) a file readable and writable by its owner only (0600 on
/// Unix); an existing file keeps its permissions.
pub(crate) fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// `None` means the default: `parley.db` in the data dir. Accepted URLs: `sqlite://PATH`,
    /// `sqlite:PATH`, `postgres://…`, `postgresql://…`.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> StoreResult<Self> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(DatabaseUrl::Sqlite(data_dir.join("parley.db")));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::Config("a SQLite URL needs a file path: sqlite://PATH".into()));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split(':').next().unwrap_or(url);
        Err(StoreError::Config(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }

    /// The URL without a password, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(start), Some(at)) if at > start => format!("{}://***@{}", &url[..start], &url[at + 1..]),
                _ => url.clone(),
            },
        }
    }
}

/// Opens the store and applies pending migrations.
pub async fn open(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    let store = open_url(url, None).await?;
    store.migrate().await?;
    Ok(store)
}

/// Opens the store without migrating; `schema` confines a PostgreSQL store to one schema (tests).
pub async fn open_url(url: &DatabaseUrl, schema: Option<&str>) -> StoreResult<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(sqlite::open(path).await?),
        DatabaseUrl::Postgres(url) => Arc::new(postgres::open(url, schema).await?),
    })
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Engine,
    SqlStore<DB>: crate::Accounts
        + crate::Users
        + crate::Sessions
        + crate::Contacts
        + crate::ContactImports
        + crate::ContactMerges
        + crate::Channels
        + crate::ChannelMoves
        + crate::PlannedMoves
        + crate::Inbox
        + crate::InboxViews
        + crate::Outbox
        + crate::Consents
        + crate::Templates
        + crate::Numbers
        + crate::Notifications
        + crate::Assignment
        + crate::AutoClose
        + crate::CannedResponses
        + crate::ConversationNotes
        + crate::ConversationTags
        + crate::Search
        + crate::Teams
        + crate::Events
        + crate::Subscriptions
        + crate::CloudApi
        + crate::Bots
        + crate::Workflows
        + crate::Fees
        + crate::Ledger
        + crate::FeePayments
        + crate::FeeReconciliations,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    fn engine(&self) -> &'static str {
        DB::ENGINE
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        DB::run_migrations(&self.write, &self.migrator).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let dir = Path::new("/data");
        assert_eq!(DatabaseUrl::parse(None, dir).unwrap(), DatabaseUrl::Sqlite("/data/parley.db".into()));
        assert_eq!(
            DatabaseUrl::parse(Some("sqlite:///tmp/x.db"), dir).unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(DatabaseUrl::parse(Some("sqlite:x.db"), dir).unwrap(), DatabaseUrl::Sqlite("x.db".into()));
        assert!(matches!(DatabaseUrl::parse(Some("postgres://u@h/db"), dir).unwrap(), DatabaseUrl::Postgres(_)));
        let err = DatabaseUrl::parse(Some("mysql://u@h/db"), dir).unwrap_err().to_string();
        assert!(err.contains("\"mysql\""), "{err}");
        assert!(DatabaseUrl::parse(Some("sqlite::memory:"), dir).is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_directory_and_database_files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data").join("parley");
        let db = data.join("parley.db");
        let store = open(&DatabaseUrl::Sqlite(db.clone())).await.unwrap();
        store.last_event_id(parley_core::ids::WorkspaceId(1)).await.unwrap();
        assert_eq!(mode(&data), 0o700, "the data directory");
        assert_eq!(mode(&root.path().join("data")), 0o700, "a parent it created");
        for file in ["parley.db", "parley.db-wal", "parley.db.lock"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }

    #[test]
    fn redaction_hides_passwords() {
        let url = DatabaseUrl::Postgres("postgres://parley:s3cret@db:5432/parley".into());
        assert_eq!(url.redacted(), "postgres://***@db:5432/parley");
    }
}

//! Choosing and opening the engine from a database URL (or the data dir's default SQLite file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{StoreError, StoreResult};
use crate::sql::{Engine, SqlStore};
use crate::{Store, postgres, sqlite};

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
        + crate::Events,
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

    #[test]
    fn redaction_hides_passwords() {
        let url = DatabaseUrl::Postgres("postgres://parley:s3cret@db:5432/parley".into());
        assert_eq!(url.redacted(), "postgres://***@db:5432/parley");
    }
}

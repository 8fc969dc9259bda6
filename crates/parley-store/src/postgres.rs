//! PostgreSQL: one pool for reads and writes; several Parley processes may share a database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::{StoreError, StoreResult};
use crate::sql::SqlStore;

const CONNECTIONS: u32 = 16;

pub(crate) async fn open(url: &str, schema: Option<&str>) -> StoreResult<SqlStore<sqlx::Postgres>> {
    let mut options =
        PgConnectOptions::from_str(url).map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
    // Prepared statements are cached per connection; a generic plan made while a table was
    // small (a fresh install) would keep scanning it sequentially as it grows. Custom plans
    // cost a little planning and always use the indexes.
    options = options.options([("plan_cache_mode", "force_custom_plan")]);
    if let Some(schema) = schema {
        // Tests isolate themselves in a schema of their own.
        options = options.options([("search_path", schema)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(SqlStore::new(pool.clone(), pool, sqlx::migrate!("./migrations/postgres"), None))
}

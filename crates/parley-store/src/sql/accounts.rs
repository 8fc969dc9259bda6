//! Workspaces, users and API tokens.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::account::{Role, User, Workspace};
use parley_core::ids::{TokenId, UserId, WorkspaceId};
use parley_core::{Email, Timestamp};
use sqlx::FromRow;

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Accounts, ApiToken, Bootstrapped, NewToken, NewUser, TokenOwner, WorkspacePatch};

#[derive(FromRow)]
struct WorkspaceRow {
    id: i64,
    name: String,
    default_region: Option<String>,
    require_opt_in: i64,
    created_at: i64,
}

impl From<WorkspaceRow> for Workspace {
    fn from(r: WorkspaceRow) -> Self {
        Workspace {
            id: WorkspaceId(r.id),
            name: r.name,
            default_region: r.default_region,
            require_opt_in: r.require_opt_in != 0,
            created_at: Timestamp::from_micros(r.created_at),
        }
    }
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    workspace_id: i64,
    email: String,
    name: String,
    role: String,
    locale: Option<String>,
    created_at: i64,
    deactivated_at: Option<i64>,
    bot: i64,
    mail_mentions: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<Self> {
        Ok(User {
            id: UserId(r.id),
            workspace_id: WorkspaceId(r.workspace_id),
            email: Email::from_stored(r.email),
            name: r.name,
            role: parse_role(&r.role)?,
            locale: r.locale,
            created_at: Timestamp::from_micros(r.created_at),
            deactivated_at: r.deactivated_at.map(Timestamp::from_micros),
            bot: r.bot != 0,
            mail_mentions: r.mail_mentions != 0,
        })
    }
}

fn parse_role(s: &str) -> StoreResult<Role> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("unknown role {s:?}")))
}

#[derive(FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: TokenId(r.id),
            user_id: UserId(r.user_id),
            name: r.name,
            prefix: r.prefix,
            created_at: Timestamp::from_micros(r.created_at),
            revoked_at: r.revoked_at.map(Timestamp::from_micros),
        }
    }
}

macro_rules! user_columns {
    () => {
        "id, workspace_id, email, name, role, locale, created_at, deactivated_at, bot, mail_mentions"
    };
}
macro_rules! token_columns {
    () => {
        "id, user_id, name, prefix, created_at, revoked_at"
    };
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// User `id` of the workspace, inside the caller's transaction.
    pub(crate) async fn user_in(conn: &mut DB::Connection, ws: WorkspaceId, id: UserId) -> StoreResult<User> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE workspace_id = $1 AND id = $2");
        let row: UserRow = sqlx::query_as(sql)
            .bind(ws.get())
            .bind(id.get())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    async fn insert_user(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        user: NewUser,
        now: Timestamp,
    ) -> StoreResult<User> {
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (workspace_id, email, name, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            user_columns!()
        ))
        .bind(ws.get())
        .bind(user.email.into_string())
        .bind(user.name)
        .bind(user.role.as_str().to_owned())
        .bind(user.password_hash)
        .bind(now.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        row.try_into()
    }

    async fn insert_token(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        user: UserId,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<ApiToken> {
        let row: TokenRow = sqlx::query_as(concat!(
            "INSERT INTO api_tokens (workspace_id, user_id, name, token_hash, prefix, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            token_columns!()
        ))
        .bind(ws.get())
        .bind(user.get())
        .bind(token.name)
        .bind(token.hash)
        .bind(token.prefix)
        .bind(now.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        Ok(row.into())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Accounts for SqlStore<DB> {
    async fn bootstrap(
        &self,
        workspace_name: &str,
        owner: NewUser,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<Bootstrapped> {
        let mut tx = self.begin_write().await?;
        let workspace: WorkspaceRow = sqlx::query_as(
            "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id, name, default_region, require_opt_in, created_at",
        )
        .bind(workspace_name.to_owned())
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        let workspace = Workspace::from(workspace);
        let owner = Self::insert_user(&mut tx, workspace.id, owner, now).await?;
        let token = Self::insert_token(&mut tx, workspace.id, owner.id, token, now).await?;
        tx.commit().await?;
        Ok(Bootstrapped { workspace, owner, token })
    }

    async fn workspace(&self, id: WorkspaceId) -> StoreResult<Workspace> {
        let row: WorkspaceRow =
            sqlx::query_as("SELECT id, name, default_region, require_opt_in, created_at FROM workspaces WHERE id = $1")
                .bind(id.get())
                .fetch_one(&self.read)
                .await?;
        Ok(row.into())
    }

    async fn update_workspace(
        &self,
        id: WorkspaceId,
        patch: WorkspacePatch,
        _now: Timestamp,
    ) -> StoreResult<Workspace> {
        let mut tx = self.begin_write().await?;
        let current: WorkspaceRow =
            sqlx::query_as("SELECT id, name, default_region, require_opt_in, created_at FROM workspaces WHERE id = $1")
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
        let name = patch.name.unwrap_or(current.name);
        let region = patch.default_region.unwrap_or(current.default_region);
        let require_opt_in = patch.require_opt_in.map_or(current.require_opt_in, i64::from);
        let row: WorkspaceRow = sqlx::query_as(
            "UPDATE workspaces SET name = $1, default_region = $2, require_opt_in = $3 WHERE id = $4
             RETURNING id, name, default_region, require_opt_in, created_at",
        )
        .bind(name)
        .bind(region)
        .bind(require_opt_in)
        .bind(id.get())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.into())
    }

    async fn create_user(&self, ws: WorkspaceId, user: NewUser, now: Timestamp) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let user = Self::insert_user(&mut tx, ws, user, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn create_bot(
        &self,
        ws: WorkspaceId,
        user: NewUser,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<(User, ApiToken)> {
        let mut tx = self.begin_write().await?;
        let bot = NewUser { role: Role::Agent, password_hash: None, ..user };
        let created = Self::insert_user(&mut tx, ws, bot, now).await?;
        sqlx::query("UPDATE users SET bot = 1 WHERE id = $1").bind(created.id.get()).execute(&mut *tx).await?;
        let token = Self::insert_token(&mut tx, ws, created.id, token, now).await?;
        let user = Self::user_in(&mut tx, ws, created.id).await?;
        tx.commit().await?;
        Ok((user, token))
    }

    async fn users(&self, ws: WorkspaceId) -> StoreResult<Vec<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE workspace_id = $1 ORDER BY id");
        let rows: Vec<UserRow> = sqlx::query_as(sql).bind(ws.get()).fetch_all(&self.read).await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn user(&self, ws: WorkspaceId, id: UserId) -> StoreResult<User> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE workspace_id = $1 AND id = $2");
        let row: UserRow = sqlx::query_as(sql).bind(ws.get()).bind(id.get()).fetch_one(&self.read).await?;
        row.try_into()
    }

    async fn user_for_login(&self, email: &Email) -> StoreResult<Option<(User, Option<String>)>> {
        // A deactivated user cannot log in: as if unknown.
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE email = $1 AND deactivated_at IS NULL"
        );
        let row = sqlx::query(sql).bind(email.as_str().to_owned()).fetch_optional(&self.read).await?;
        let Some(row) = row else { return Ok(None) };
        let hash: Option<String> = sqlx::Row::try_get(&row, "password_hash")?;
        let user = UserRow::from_row(&row)?.try_into()?;
        Ok(Some((user, hash)))
    }

    async fn create_token(
        &self,
        ws: WorkspaceId,
        user: UserId,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<ApiToken> {
        let mut tx = self.begin_write().await?;
        // The user must belong to this workspace.
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(user.get())
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let token = Self::insert_token(&mut tx, ws, user, token, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn tokens(&self, ws: WorkspaceId) -> StoreResult<Vec<ApiToken>> {
        let sql = concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE workspace_id = $1 ORDER BY id");
        let rows: Vec<TokenRow> = sqlx::query_as(sql).bind(ws.get()).fetch_all(&self.read).await?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    async fn revoke_token(&self, ws: WorkspaceId, id: TokenId, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE workspace_id = $2 AND id = $3",
        )
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
        let row: Option<(i64, i64, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT t.id, t.workspace_id, t.user_id, u.role, w.default_region
             FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN workspaces w ON w.id = t.workspace_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.deactivated_at IS NULL",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.map(|(token_id, ws, user_id, role, default_region)| {
            Ok(TokenOwner {
                token_id: TokenId(token_id),
                workspace_id: WorkspaceId(ws),
                user_id: UserId(user_id),
                role: parse_role(&role)?,
                default_region,
            })
        })
        .transpose()
    }
}

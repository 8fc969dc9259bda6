//! Browser sessions of the web inbox (the cookie's secret is kept only as its SHA-256) and each
//! user's UI language.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::account::User;
use parley_core::ids::{UserId, WorkspaceId};

use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Accounts, SessionOwner, Sessions};

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Sessions for SqlStore<DB> {
    async fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Ended and expired sessions of this user go at the same time (no sweeper needed).
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND expires_at <= $2")
            .bind(user.id.get())
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, workspace_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash.to_owned())
        .bind(user.workspace_id.get())
        .bind(user.id.get())
        .bind(now.as_micros())
        .bind(expires_at.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_owner(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<SessionOwner>> {
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT s.workspace_id, s.user_id, w.default_region
             FROM web_sessions s JOIN workspaces w ON w.id = s.workspace_id JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deactivated_at IS NULL",
        )
        .bind(token_hash.to_owned())
        .bind(now.as_micros())
        .fetch_optional(&self.read)
        .await?;
        let Some((ws, user, default_region)) = row else { return Ok(None) };
        let user = self.user(WorkspaceId(ws), UserId(user)).await?;
        Ok(Some(SessionOwner { user, default_region }))
    }

    async fn end_session(&self, token_hash: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_locale(&self, ws: WorkspaceId, user: UserId, locale: Option<&str>) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET locale = $1 WHERE workspace_id = $2 AND id = $3")
            .bind(locale.map(str::to_owned))
            .bind(ws.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.user(ws, user).await
    }
    async fn set_mail_mentions(&self, ws: WorkspaceId, user: UserId, on: bool) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET mail_mentions = $1 WHERE workspace_id = $2 AND id = $3")
            .bind(i64::from(on))
            .bind(ws.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.user(ws, user).await
    }
}

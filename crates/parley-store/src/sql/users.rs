//! Managing users: name and role changes, deactivation (tokens revoked, sessions and invitations
//! ended, open conversations back in the queue, all in one transaction) and invitations, one-time
//! links with which a new user sets their password; a new password ends the user's sessions.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::account::{Role, User, UserChangeRefused, check_user_change};
use parley_core::ids::{ChannelId, UserId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::locks::LockClass;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{UserPatch, Users};

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Users for SqlStore<DB> {
    async fn update_user(
        &self,
        ws: WorkspaceId,
        id: UserId,
        patch: UserPatch,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        // The rules below read roles that another change could move between the read and the
        // write (PostgreSQL reads at read committed): changes to a workspace's users take turns,
        // and each reads the roles as they are once its turn has come.
        DB::lock_keys(&mut tx, LockClass::UserChange, vec![ws.get().to_string()]).await?;
        let before = Self::user_in(&mut tx, ws, id).await?;
        if let Some(actor) = by {
            Self::check_actor(&mut tx, ws, actor, &before, &patch).await?;
        }
        let was_active = before.deactivated_at.is_none();
        let active = patch.active.unwrap_or(was_active);
        let role = patch.role.unwrap_or(before.role);
        // The workspace keeps an active owner: not this one's last.
        if before.role == Role::Owner && was_active && (role != Role::Owner || !active) {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE workspace_id = $1 AND role = 'owner' AND deactivated_at IS NULL AND id <> $2",
            )
            .bind(ws.get())
            .bind(id.get())
            .fetch_one(&mut *tx)
            .await?;
            if others == 0 {
                let field = if active { "role" } else { "active" };
                return Err(parley_core::Invalid::new(
                    "last_owner",
                    Some(field.to_owned()),
                    "the workspace's last owner stays an active owner: make someone else an owner first",
                )
                .into());
            }
        }
        let deactivated_at = match (was_active, active) {
            (true, false) => Some(now.as_micros()),
            (_, true) => None,
            (false, false) => before.deactivated_at.map(Timestamp::as_micros),
        };
        sqlx::query("UPDATE users SET name = $1, role = $2, deactivated_at = $3 WHERE workspace_id = $4 AND id = $5")
            .bind(patch.name.unwrap_or(before.name.clone()))
            .bind(role.as_str().to_owned())
            .bind(deactivated_at)
            .bind(ws.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        if was_active && !active {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now.as_micros())
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(id.get()).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM user_invites WHERE user_id = $1 AND used_at IS NULL")
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            let held: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, channel_id FROM conversations WHERE workspace_id = $1 AND assignee_id = $2 AND status <> 'closed'",
            )
            .bind(ws.get())
            .bind(id.get())
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE conversations SET assignee_id = NULL, updated_at = $1
                 WHERE workspace_id = $2 AND assignee_id = $3 AND status <> 'closed'",
            )
            .bind(now.as_micros())
            .bind(ws.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
            for (conversation, channel) in held {
                let payload = json!({"conversation_id": conversation, "from": id, "to": null, "by": by,
                    "reason": "assignee_deactivated"});
                let event =
                    NewEvent::new("conversation.unassigned", conversation, &payload).on_channel(ChannelId(channel));
                Self::append_event(&mut tx, ws, event, now).await?;
            }
        }
        let after = Self::user_in(&mut tx, ws, id).await?;
        let payload = json!({"id": id, "name": after.name, "role": after.role, "active": after.deactivated_at.is_none(), "by": by});
        Self::append_event(&mut tx, ws, NewEvent::new("user.updated", id.get(), &payload), now).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn create_invite(
        &self,
        ws: WorkspaceId,
        user: UserId,
        token_hash: &str,
        expires_at: Timestamp,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let invitee = Self::user_in(&mut tx, ws, user).await?;
        if invitee.deactivated_at.is_some() {
            return Err(parley_core::Invalid::new(
                "user_deactivated",
                None,
                "this user is deactivated: reactivate them before inviting them",
            )
            .into());
        }
        sqlx::query("DELETE FROM user_invites WHERE user_id = $1 AND used_at IS NULL")
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_invites (token_hash, workspace_id, user_id, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash.to_owned())
        .bind(ws.get())
        .bind(user.get())
        .bind(by.map(UserId::get))
        .bind(now.as_micros())
        .bind(expires_at.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn invitee(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<User>> {
        let mut conn = self.read.acquire().await?;
        let Some((ws, user)) = Self::valid_invite(&mut conn, token_hash, now).await? else { return Ok(None) };
        Ok(Some(Self::user_in(&mut conn, ws, user).await?))
    }

    async fn accept_invite(&self, token_hash: &str, password_hash: &str, now: Timestamp) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let (ws, user) = Self::valid_invite(&mut tx, token_hash, now).await?.ok_or(StoreError::NotFound)?;
        sqlx::query("UPDATE user_invites SET used_at = $1 WHERE token_hash = $2")
            .bind(now.as_micros())
            .bind(token_hash.to_owned())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash.to_owned())
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        // A new password ends every session opened with the old one (an invitation also serves
        // to reset a forgotten or stolen password).
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(user.get()).execute(&mut *tx).await?;
        let accepted = Self::user_in(&mut tx, ws, user).await?;
        Self::append_event(&mut tx, ws, NewEvent::new("user.joined", user.get(), &json!({"id": user})), now).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    async fn set_password(
        &self,
        ws: WorkspaceId,
        user: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE workspace_id = $2 AND id = $3 AND deactivated_at IS NULL",
        )
        .bind(password_hash.to_owned())
        .bind(ws.get())
        .bind(user.get())
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&changed) == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(user.get()).execute(&mut *tx).await?;
        let payload = json!({"id": user});
        Self::append_event(&mut tx, ws, NewEvent::new("user.password_changed", user.get(), &payload), now).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Whether `actor`, with the role they hold now, may make `patch` to `target` as it is now
    /// ([`check_user_change`]); a deactivated actor may change no one.
    async fn check_actor(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        actor: UserId,
        target: &User,
        patch: &UserPatch,
    ) -> StoreResult<()> {
        let acting = match Self::user_in(conn, ws, actor).await {
            Ok(acting) if acting.deactivated_at.is_none() => acting,
            Ok(_) | Err(StoreError::NotFound) => return Err(StoreError::Forbidden("your account is deactivated")),
            Err(e) => return Err(e),
        };
        check_user_change(acting.role, actor, target.role, target.id, patch.role, patch.active).map_err(|r| match r {
            UserChangeRefused::Forbidden(why) => StoreError::Forbidden(why),
            UserChangeRefused::Invalid(invalid) => StoreError::Invalid(invalid),
        })
    }

    /// The workspace and user of an invitation that is unused, unexpired and for an active user.
    async fn valid_invite(
        conn: &mut DB::Connection,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<(WorkspaceId, UserId)>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT i.workspace_id, i.user_id FROM user_invites i JOIN users u ON u.id = i.user_id
             WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND u.deactivated_at IS NULL",
        )
        .bind(token_hash.to_owned())
        .bind(now.as_micros())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|(ws, user)| (WorkspaceId(ws), UserId(user))))
    }
}

//! Teams: named groups of users, and the team queue a conversation is in. Every change of a
//! conversation's team is an event on its channel naming who made it.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::conversation::Conversation;
use parley_core::ids::{ConversationId, TeamId, UserId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Team, Teams};

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    async fn team_in(conn: &mut DB::Connection, ws: WorkspaceId, id: TeamId) -> StoreResult<Team> {
        let (name, created_at): (String, i64) =
            sqlx::query_as("SELECT name, created_at FROM teams WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(id.get())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?;
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id")
                .bind(id.get())
                .fetch_all(&mut *conn)
                .await?;
        Ok(Team {
            id,
            name,
            user_ids: members.into_iter().map(UserId).collect(),
            created_at: Timestamp::from_micros(created_at),
        })
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Teams for SqlStore<DB> {
    async fn teams(&self, ws: WorkspaceId) -> StoreResult<Vec<Team>> {
        let mut conn = self.read.acquire().await?;
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE workspace_id = $1 ORDER BY name, id")
            .bind(ws.get())
            .fetch_all(&mut *conn)
            .await?;
        let mut teams = Vec::with_capacity(ids.len());
        for id in ids {
            teams.push(Self::team_in(&mut conn, ws, TeamId(id)).await?);
        }
        Ok(teams)
    }

    async fn create_team(&self, ws: WorkspaceId, name: &str, now: Timestamp) -> StoreResult<Team> {
        let mut tx = self.begin_write().await?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO teams (workspace_id, name, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(ws.get())
                .bind(name.to_owned())
                .bind(now.as_micros())
                .fetch_one(&mut *tx)
                .await?;
        let team = Self::team_in(&mut tx, ws, TeamId(id)).await?;
        tx.commit().await?;
        Ok(team)
    }

    async fn rename_team(&self, ws: WorkspaceId, id: TeamId, name: &str) -> StoreResult<Team> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE teams SET name = $1 WHERE workspace_id = $2 AND id = $3")
            .bind(name.to_owned())
            .bind(ws.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        let team = Self::team_in(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(team)
    }

    async fn delete_team(&self, ws: WorkspaceId, id: TeamId, by: Option<UserId>, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        Self::team_in(&mut tx, ws, id).await?;
        let queued: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, channel_id FROM conversations WHERE workspace_id = $1 AND team_id = $2")
                .bind(ws.get())
                .bind(id.get())
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE conversations SET team_id = NULL, updated_at = $1 WHERE workspace_id = $2 AND team_id = $3",
        )
        .bind(now.as_micros())
        .bind(ws.get())
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        for (conversation, channel) in queued {
            let payload = json!({"conversation_id": conversation, "from": id, "to": null, "by": by});
            let event = NewEvent::new("conversation.team_changed", conversation, &payload)
                .on_channel(parley_core::ids::ChannelId(channel));
            Self::append_event(&mut tx, ws, event, now).await?;
        }
        sqlx::query("DELETE FROM teams WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_team_members(&self, ws: WorkspaceId, id: TeamId, users: &[UserId]) -> StoreResult<Team> {
        let mut tx = self.begin_write().await?;
        Self::team_in(&mut tx, ws, id).await?;
        for user in users {
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(user.get())
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(parley_core::Invalid::new(
                    "unknown_user",
                    Some("user_ids".to_owned()),
                    format!("no user of this workspace has the id {user}"),
                )
                .into());
            }
        }
        sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(id.get()).execute(&mut *tx).await?;
        for user in users {
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.get())
                .bind(user.get())
                .execute(&mut *tx)
                .await?;
        }
        let team = Self::team_in(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(team)
    }

    async fn set_conversation_team(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        team: Option<TeamId>,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        let mut tx = self.begin_write().await?;
        let before = Self::conversation_by_id(&mut tx, conversation.get()).await?;
        if before.workspace_id != ws {
            return Err(StoreError::NotFound);
        }
        if before.team_id == team {
            return Ok(before);
        }
        if let Some(team) = team {
            let known: Option<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(team.get())
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(parley_core::Invalid::new(
                    "unknown_team",
                    Some("team_id".to_owned()),
                    "no team of this workspace has this id",
                )
                .into());
            }
        }
        sqlx::query("UPDATE conversations SET team_id = $1, updated_at = $2 WHERE id = $3")
            .bind(team.map(TeamId::get))
            .bind(now.as_micros())
            .bind(conversation.get())
            .execute(&mut *tx)
            .await?;
        let after = Self::conversation_by_id(&mut tx, conversation.get()).await?;
        let payload = json!({"conversation_id": conversation, "from": before.team_id, "to": team, "by": by});
        let event =
            NewEvent::new("conversation.team_changed", conversation.get(), &payload).on_channel(after.channel_id);
        Self::append_event(&mut tx, ws, event, now).await?;
        tx.commit().await?;
        Ok(after)
    }
}

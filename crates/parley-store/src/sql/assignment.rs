//! Automatic assignment of new conversations (round-robin, or to the agent with the fewest open
//! ones) among available agents, optionally below a cap; and the settings and availability it
//! reads. Runs inside the webhook's transaction that opens the conversations.

use macro_rules_attribute::apply;
use std::collections::HashMap;

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::channel::{Channel, Visibility};
use parley_core::conversation::{ClosingNote, ClosingNotes, Conversation, ConversationStatus};
use parley_core::ids::{ConversationId, TeamId, UserId, WorkspaceId};
use serde_json::json;

use super::events::NewEvent;
use super::inbound::EventBuffer;
use super::locks::LockClass;
use super::{Engine, SqlStore};
use crate::error::{StoreError, StoreResult};
use crate::{Assignment, AssignmentSettings, AutoAssign};

/// An agent who may be given a conversation: id, last time given one, conversations not closed.
struct Candidate {
    id: i64,
    last_assigned_at: Option<i64>,
    open: i64,
}

/// The agent to give a conversation: under the cap, allowed on its channel; never given one
/// first, then the longest ago (round-robin), or the fewest open first (least-open).
fn choose<'a>(
    agents: &'a mut [Candidate],
    mode: AutoAssign,
    max_open: Option<i64>,
    allowed: Option<&Vec<i64>>,
) -> Option<&'a mut Candidate> {
    let eligible = agents
        .iter_mut()
        .filter(|a| max_open.is_none_or(|max| a.open < max) && allowed.is_none_or(|m| m.contains(&a.id)));
    match mode {
        AutoAssign::LeastOpen => eligible.min_by_key(|a| (a.open, a.last_assigned_at, a.id)),
        _ => eligible.min_by_key(|a| (a.last_assigned_at, a.id)),
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// The available agents (of `team` when given) with their loads.
    async fn candidates(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        team: Option<TeamId>,
    ) -> StoreResult<Vec<Candidate>> {
        let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT u.id, u.last_assigned_at,
                (SELECT COUNT(*) FROM conversations c WHERE c.assignee_id = u.id AND c.status <> 'closed')
             FROM users u WHERE u.workspace_id = $1 AND u.role = 'agent' AND u.available = 1 AND u.bot = 0
               AND u.deactivated_at IS NULL
               AND ($2 IS NULL OR u.id IN (SELECT user_id FROM team_members WHERE team_id = $2))
             ORDER BY u.id",
        )
        .bind(ws.get())
        .bind(team.map(|t| t.get()))
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(|(id, last_assigned_at, open)| Candidate { id, last_assigned_at, open }).collect())
    }

    async fn settings_in(conn: &mut DB::Connection, ws: WorkspaceId) -> StoreResult<AssignmentSettings> {
        let (mode, max_open): (String, Option<i64>) =
            sqlx::query_as("SELECT auto_assign, auto_assign_max_open FROM workspaces WHERE id = $1")
                .bind(ws.get())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?;
        Ok(AssignmentSettings {
            mode: AutoAssign::parse(&mode).ok_or_else(|| StoreError::Corrupt(format!("auto_assign {mode:?}")))?,
            max_open,
        })
    }

    /// Gives each newly opened conversation to an agent, per its workspace's settings.
    pub(crate) async fn auto_assign(
        conn: &mut DB::Connection,
        opened: &[(&Channel, i64)],
        now: Timestamp,
        events: &mut EventBuffer,
    ) -> StoreResult<()> {
        let mut workspaces: Vec<WorkspaceId> = opened.iter().map(|(c, _)| c.workspace_id).collect();
        workspaces.sort_by_key(|w| w.get());
        workspaces.dedup();
        for ws in workspaces {
            let settings = Self::settings_in(conn, ws).await?;
            if settings.mode == AutoAssign::Off {
                continue;
            }
            // One automatic assignment at a time per workspace, reading the agents' loads as the
            // previous one committed them (concurrent ingest transactions: `sql/locks.rs`).
            DB::lock_keys(conn, LockClass::Assignment, vec![ws.to_string()]).await?;
            let mut agents = Self::candidates(conn, ws, None).await?;
            // A private channel's conversations go only to its members (the others cannot see them).
            let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
            for (channel, conversation) in opened.iter().filter(|(c, _)| c.workspace_id == ws) {
                let allowed = match channel.visibility {
                    Visibility::Shared => None,
                    Visibility::Private => {
                        if let std::collections::hash_map::Entry::Vacant(slot) = members.entry(channel.id.get()) {
                            let ids: Vec<i64> =
                                sqlx::query_scalar("SELECT user_id FROM channel_members WHERE channel_id = $1")
                                    .bind(channel.id.get())
                                    .fetch_all(&mut *conn)
                                    .await?;
                            slot.insert(ids);
                        }
                        members.get(&channel.id.get())
                    }
                };
                let Some(agent) = choose(&mut agents, settings.mode, settings.max_open, allowed) else { continue };
                agent.open += 1;
                agent.last_assigned_at = Some(now.as_micros());
                sqlx::query("UPDATE conversations SET assignee_id = $1 WHERE id = $2")
                    .bind(agent.id)
                    .bind(*conversation)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE users SET last_assigned_at = $1 WHERE id = $2")
                    .bind(now.as_micros())
                    .bind(agent.id)
                    .execute(&mut *conn)
                    .await?;
                let payload = json!({"conversation_id": conversation, "from": null, "to": agent.id, "by": null,
                    "auto": settings.mode.as_str()});
                events.push(ws, "conversation.assigned", Some(*conversation), Some(channel), &payload);
            }
        }
        Ok(())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Assignment for SqlStore<DB> {
    async fn assign_available(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        team: Option<TeamId>,
        mode: AutoAssign,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Option<UserId>> {
        let mut tx = self.begin_write().await?;
        DB::lock_keys(&mut tx, LockClass::Assignment, vec![ws.to_string()]).await?;
        let (channel, visibility, current): (i64, String, Option<i64>) = sqlx::query_as(
            "SELECT ch.id, ch.visibility, c.assignee_id FROM conversations c JOIN channels ch ON ch.id = c.channel_id
             WHERE c.workspace_id = $1 AND c.id = $2",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let members: Option<Vec<i64>> = if visibility == "private" {
            Some(
                sqlx::query_scalar("SELECT user_id FROM channel_members WHERE channel_id = $1")
                    .bind(channel)
                    .fetch_all(&mut *tx)
                    .await?,
            )
        } else {
            None
        };
        let max_open = Self::settings_in(&mut tx, ws).await?.max_open;
        let mut agents = Self::candidates(&mut tx, ws, team).await?;
        let Some(agent) = choose(&mut agents, mode, max_open, members.as_ref()) else { return Ok(None) };
        let picked = agent.id;
        sqlx::query("UPDATE users SET last_assigned_at = $1 WHERE id = $2")
            .bind(now.as_micros())
            .bind(picked)
            .execute(&mut *tx)
            .await?;
        if current != Some(picked) {
            sqlx::query("UPDATE conversations SET assignee_id = $1, updated_at = $2 WHERE id = $3")
                .bind(picked)
                .bind(now.as_micros())
                .bind(conversation.get())
                .execute(&mut *tx)
                .await?;
            let payload = json!({"conversation_id": conversation, "from": current, "to": picked, "by": by,
                "auto": mode.as_str()});
            let event = NewEvent::new("conversation.assigned", conversation.get(), &payload)
                .on_channel(parley_core::ids::ChannelId(channel));
            Self::append_event(&mut tx, ws, event, now).await?;
        }
        tx.commit().await?;
        Ok(Some(UserId(picked)))
    }

    async fn assignment_settings(&self, ws: WorkspaceId) -> StoreResult<AssignmentSettings> {
        let mut conn = self.read.acquire().await?;
        Self::settings_in(&mut conn, ws).await
    }

    async fn set_assignment_settings(
        &self,
        ws: WorkspaceId,
        settings: AssignmentSettings,
        now: Timestamp,
    ) -> StoreResult<AssignmentSettings> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE workspaces SET auto_assign = $1, auto_assign_max_open = $2 WHERE id = $3")
            .bind(settings.mode.as_str().to_owned())
            .bind(settings.max_open)
            .bind(ws.get())
            .execute(&mut *tx)
            .await?;
        let mut events = EventBuffer::default();
        events.push(ws, "workspace.assignment_changed", None, None, &json!(settings));
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(settings)
    }

    async fn set_availability(
        &self,
        ws: WorkspaceId,
        user: UserId,
        available: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET available = $1 WHERE workspace_id = $2 AND id = $3")
            .bind(i64::from(available))
            .bind(ws.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound);
        }
        let mut events = EventBuffer::default();
        events.push(
            ws,
            "user.availability_changed",
            Some(user.get()),
            None,
            &json!({"user_id": user, "available": available}),
        );
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn availability(&self, ws: WorkspaceId, user: UserId) -> StoreResult<bool> {
        let available: Option<i64> =
            sqlx::query_scalar("SELECT available FROM users WHERE workspace_id = $1 AND id = $2")
                .bind(ws.get())
                .bind(user.get())
                .fetch_optional(&self.read)
                .await?;
        Ok(available.ok_or(StoreError::NotFound)? != 0)
    }

    async fn closing_settings(&self, ws: WorkspaceId) -> StoreResult<(ClosingNotes, Vec<String>)> {
        let (mode, categories): (String, String) =
            sqlx::query_as("SELECT closing_notes, closing_categories FROM workspaces WHERE id = $1")
                .bind(ws.get())
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound)?;
        let mode = ClosingNotes::parse(&mode).ok_or_else(|| StoreError::Corrupt(format!("closing_notes {mode:?}")))?;
        Ok((mode, serde_json::from_str(&categories)?))
    }

    async fn set_closing_settings(
        &self,
        ws: WorkspaceId,
        mode: ClosingNotes,
        categories: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE workspaces SET closing_notes = $1, closing_categories = $2 WHERE id = $3")
            .bind(mode.as_str().to_owned())
            .bind(serde_json::to_string(categories)?)
            .bind(ws.get())
            .execute(&mut *tx)
            .await?;
        let mut events = EventBuffer::default();
        events.push(
            ws,
            "workspace.closing_notes_changed",
            None,
            None,
            &json!({"mode": mode, "categories": categories}),
        );
        Self::flush_events(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        note: &ClosingNote,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE conversations SET closing_category = $1, closing_summary = $2 WHERE workspace_id = $3 AND id = $4",
        )
        .bind(note.category.clone())
        .bind(note.summary.clone())
        .bind(ws.get())
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        let extra = json!({"category": note.category, "summary": note.summary});
        let closed =
            Self::move_conversation_in(&mut tx, ws, id, ConversationStatus::Closed, None, by, Some(extra), now).await?;
        tx.commit().await?;
        Ok(closed)
    }
}

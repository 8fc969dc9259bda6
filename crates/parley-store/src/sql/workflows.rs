//! Workflows: drafts and versions, runs leased by the server taking their step, each step
//! recorded with the run's move in one transaction, and the trigger follower's cursor (one
//! row, leased like a run).

use std::collections::BTreeMap;

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, ContactId, ConversationId, EventId, UserId, WorkspaceId};
use sqlx::{FromRow, QueryBuilder};

use super::locks::LockClass;
use super::{Engine, SqlStore, clamp_limit};
use crate::error::{StoreError, StoreResult};
use crate::{
    ActiveWorkflow, LoggedEvent, NewRun, NewWorkflow, QuietConversation, Reply, Run, RunMove, RunShare, RunStatus,
    RunStep, Workflow, WorkflowPatch, Workflows,
};

macro_rules! workflow_columns {
    () => {
        "id, workspace_id, name, draft, active, once_per_contact, version, created_by, created_at, updated_at,
         hook_secret"
    };
}

macro_rules! run_columns {
    () => {
        "id, workspace_id, workflow_id, version, conversation_id, contact_id, trigger_event_id, status, step, seq,
         jumps, memory, wake_at, error, started_at, updated_at"
    };
}

#[derive(FromRow)]
struct WorkflowRow {
    id: i64,
    workspace_id: i64,
    name: String,
    draft: String,
    active: i64,
    once_per_contact: i64,
    version: i64,
    created_by: Option<i64>,
    created_at: i64,
    updated_at: i64,
    hook_secret: Option<String>,
}

impl From<WorkflowRow> for Workflow {
    fn from(r: WorkflowRow) -> Self {
        Workflow {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            name: r.name,
            draft: r.draft,
            active: r.active != 0,
            once_per_contact: r.once_per_contact != 0,
            version: r.version,
            created_by: r.created_by.map(UserId),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            hook_secret: r.hook_secret,
        }
    }
}

#[derive(FromRow)]
struct RunRow {
    id: i64,
    workspace_id: i64,
    workflow_id: i64,
    version: i64,
    conversation_id: Option<i64>,
    contact_id: Option<i64>,
    trigger_event_id: Option<i64>,
    status: String,
    step: Option<String>,
    seq: i64,
    jumps: String,
    memory: String,
    wake_at: Option<i64>,
    error: Option<String>,
    started_at: i64,
    updated_at: i64,
}

impl TryFrom<RunRow> for Run {
    type Error = StoreError;
    fn try_from(r: RunRow) -> StoreResult<Run> {
        Ok(Run {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            workflow_id: r.workflow_id,
            version: r.version,
            conversation_id: r.conversation_id.map(ConversationId),
            contact_id: r.contact_id.map(ContactId),
            trigger_event_id: r.trigger_event_id.map(EventId),
            status: RunStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("run status {}", r.status)))?,
            step: r.step,
            seq: r.seq,
            jumps: serde_json::from_str(&r.jumps)?,
            memory: serde_json::from_str(&r.memory)?,
            wake_at: r.wake_at.map(Timestamp::from_micros),
            error: r.error,
            started_at: Timestamp::from_micros(r.started_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

/// A workflow's runs on one conversation, or for one contact: how many run now, how many
/// started since `$3` (the loop guards).
const RUNS_OF_CONVERSATION: &str = "SELECT COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN started_at >= $3 THEN 1 ELSE 0 END), 0)
     FROM workflow_runs WHERE workflow_id = $1 AND conversation_id = $2";
const RUNS_OF_CONTACT: &str = "SELECT COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0),
        COALESCE(SUM(CASE WHEN started_at >= $3 THEN 1 ELSE 0 END), 0)
     FROM workflow_runs WHERE workflow_id = $1 AND contact_id = $2";

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    async fn count_runs(
        &self,
        sql: &'static str,
        workflow_id: i64,
        id: i64,
        since: Timestamp,
    ) -> StoreResult<(bool, i64)> {
        let (running, recent): (i64, i64) =
            sqlx::query_as(sql).bind(workflow_id).bind(id).bind(since.as_micros()).fetch_one(&self.read).await?;
        Ok((running > 0, recent))
    }

    async fn workflow_in(conn: &mut DB::Connection, ws: WorkspaceId, id: i64) -> StoreResult<Workflow> {
        let row: Option<WorkflowRow> = sqlx::query_as(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(ws.get())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    async fn run_in(conn: &mut DB::Connection, id: i64) -> StoreResult<Run> {
        let row: Option<RunRow> =
            sqlx::query_as(concat!("SELECT ", run_columns!(), " FROM workflow_runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Inserts a run; `None` when one was started for the same workflow and event already.
    async fn insert_run(conn: &mut DB::Connection, run: &NewRun, now: Timestamp) -> StoreResult<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO workflow_runs (workspace_id, workflow_id, version, conversation_id, contact_id,
                trigger_event_id, trigger_key, status, step, seq, jumps, memory, wake_at, started_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $10, 'running', $7, 0, '{}', $9, $8, $8, $8)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(run.workspace_id.get())
        .bind(run.workflow_id)
        .bind(run.version)
        .bind(run.conversation_id.map(|c| c.get()))
        .bind(run.contact_id.map(|c| c.get()))
        .bind(run.trigger_event_id.map(|e| e.get()))
        .bind(run.first_step.clone())
        .bind(now.as_micros())
        .bind(serde_json::to_string(&run.memory)?)
        .bind(run.trigger_key.clone())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(id)
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Workflows for SqlStore<DB> {
    async fn create_workflow(&self, ws: WorkspaceId, new: NewWorkflow<'_>, now: Timestamp) -> StoreResult<Workflow> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO workflows (workspace_id, name, draft, active, once_per_contact, version, created_by,
                created_at, updated_at)
             VALUES ($1, $2, $3, 0, $4, 0, $5, $6, $6) RETURNING id",
        )
        .bind(ws.get())
        .bind(new.name.to_owned())
        .bind(new.draft.to_owned())
        .bind(i64::from(new.once_per_contact))
        .bind(new.created_by.map(|u| u.get()))
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        let workflow = Self::workflow_in(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    async fn workflows(&self, ws: WorkspaceId) -> StoreResult<Vec<Workflow>> {
        let rows: Vec<WorkflowRow> = sqlx::query_as(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE workspace_id = $1 ORDER BY id"
        ))
        .bind(ws.get())
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(Workflow::from).collect())
    }

    async fn workflow(&self, ws: WorkspaceId, id: i64) -> StoreResult<Workflow> {
        Self::workflow_in(&mut *self.read.acquire().await?, ws, id).await
    }

    async fn update_workflow(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: WorkflowPatch,
        now: Timestamp,
    ) -> StoreResult<Workflow> {
        let mut tx = self.begin_write().await?;
        let before = Self::workflow_in(&mut tx, ws, id).await?;
        sqlx::query(
            "UPDATE workflows SET name = $3, draft = $4, once_per_contact = $5, active = $6, updated_at = $7
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.get())
        .bind(id)
        .bind(patch.name.unwrap_or(before.name))
        .bind(patch.draft.unwrap_or(before.draft))
        .bind(i64::from(patch.once_per_contact.unwrap_or(before.once_per_contact)))
        .bind(i64::from(patch.active.unwrap_or(before.active)))
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        let workflow = Self::workflow_in(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    async fn delete_workflow(&self, ws: WorkspaceId, id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        Self::workflow_in(&mut tx, ws, id).await?;
        // SQLite runs without foreign-key cascades unless asked: delete the children first.
        for sql in [
            "DELETE FROM workflow_run_steps WHERE run_id IN (SELECT id FROM workflow_runs WHERE workflow_id = $1)",
            "DELETE FROM workflow_runs WHERE workflow_id = $1",
            "DELETE FROM workflow_versions WHERE workflow_id = $1",
            "DELETE FROM workflows WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn publish_workflow(
        &self,
        ws: WorkspaceId,
        id: i64,
        definition: &str,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Workflow> {
        let mut tx = self.begin_write().await?;
        let before = Self::workflow_in(&mut tx, ws, id).await?;
        let version = before.version + 1;
        sqlx::query(
            "INSERT INTO workflow_versions (workflow_id, version, definition, published_by, published_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(version)
        .bind(definition.to_owned())
        .bind(by.map(|u| u.get()))
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE workflows SET version = $2, draft = $3, updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(version)
            .bind(definition.to_owned())
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await?;
        let workflow = Self::workflow_in(&mut tx, ws, id).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    async fn workflow_by_id(&self, id: i64) -> StoreResult<Workflow> {
        let row: Option<WorkflowRow> =
            sqlx::query_as(concat!("SELECT ", workflow_columns!(), " FROM workflows WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    async fn set_hook_secret(&self, ws: WorkspaceId, id: i64, sealed: Option<&str>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE workflows SET hook_secret = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.get())
            .bind(id)
            .bind(sealed.map(str::to_owned))
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) != 1 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn attach_conversation(&self, run_id: i64, conversation: ConversationId) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE workflow_runs SET conversation_id = $2 WHERE id = $1 AND conversation_id IS NULL")
            .bind(run_id)
            .bind(conversation.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn workflow_version(&self, ws: WorkspaceId, id: i64, version: i64) -> StoreResult<String> {
        let definition: Option<String> = sqlx::query_scalar(
            "SELECT v.definition FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
             WHERE w.workspace_id = $1 AND v.workflow_id = $2 AND v.version = $3",
        )
        .bind(ws.get())
        .bind(id)
        .bind(version)
        .fetch_optional(&self.read)
        .await?;
        definition.ok_or(StoreError::NotFound)
    }

    async fn active_workflows(&self) -> StoreResult<Vec<ActiveWorkflow>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT w.workspace_id, w.id, v.definition FROM workflows w
             JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version
             WHERE w.active = 1 ORDER BY w.id",
        )
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut conn = self.read.acquire().await?;
        for (ws, id, definition) in rows {
            let workflow = Self::workflow_in(&mut conn, WorkspaceId(ws), id).await?;
            out.push(ActiveWorkflow { workflow, definition });
        }
        Ok(out)
    }

    async fn lease_follower(&self, holder: &str, now: Timestamp, until: Timestamp) -> StoreResult<Option<EventId>> {
        let mut tx = self.begin_write().await?;
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(&mut *tx).await?;
        sqlx::query("INSERT INTO workflow_follower (id, event_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(newest.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
        let taken = sqlx::query(
            "UPDATE workflow_follower SET lease_holder = $1, lease_until = $2
             WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = $1 OR lease_until < $3)",
        )
        .bind(holder.to_owned())
        .bind(until.as_micros())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        let at: i64 =
            sqlx::query_scalar("SELECT event_id FROM workflow_follower WHERE id = 1").fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok((DB::rows_affected(&taken) == 1).then_some(EventId(at)))
    }

    async fn events_after(&self, after: EventId, limit: u32) -> StoreResult<Vec<LoggedEvent>> {
        type Row = (i64, i64, Option<i64>, String, Option<i64>, String, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, workspace_id, channel_id, kind, subject_id, payload, created_at FROM events
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.get())
        .bind(clamp_limit(limit, 1000))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(LoggedEvent {
                    id: EventId(r.0),
                    workspace_id: WorkspaceId(r.1),
                    channel_id: r.2.map(ChannelId),
                    kind: r.3,
                    subject_id: r.4,
                    payload: serde_json::from_str(&r.5)?,
                    created_at: Timestamp::from_micros(r.6),
                })
            })
            .collect()
    }

    async fn start_runs(&self, holder: &str, to: EventId, runs: &[NewRun], now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE workflow_follower SET event_id = $2 WHERE id = 1 AND lease_holder = $1 AND event_id < $2",
        )
        .bind(holder.to_owned())
        .bind(to.get())
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&moved) != 1 {
            return Ok(false);
        }
        for run in runs {
            Self::insert_run(&mut tx, run, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn start_run(&self, run: &NewRun, now: Timestamp) -> StoreResult<Run> {
        let mut tx = self.begin_write().await?;
        let id =
            Self::insert_run(&mut tx, run, now).await?.ok_or(StoreError::Conflict { field: "trigger_event_id" })?;
        let run = Self::run_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn start_run_alone(&self, run: &NewRun, now: Timestamp) -> StoreResult<Run> {
        let mut tx = self.begin_write().await?;
        // The claimers' lock: two calls at once (PostgreSQL) check one after the other.
        DB::lock_keys(&mut tx, LockClass::WorkflowRuns, vec!["runs".to_owned()]).await?;
        if let Some(c) = run.conversation_id {
            let running: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM workflow_runs WHERE workflow_id = $1 AND conversation_id = $2 AND status = 'running' LIMIT 1",
            )
            .bind(run.workflow_id)
            .bind(c.get())
            .fetch_optional(&mut *tx)
            .await?;
            if running.is_some() {
                return Err(StoreError::Conflict { field: "conversation" });
            }
        }
        let id = Self::insert_run(&mut tx, run, now).await?.ok_or(StoreError::Conflict { field: "trigger_key" })?;
        let run = Self::run_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn start_keyed_runs(&self, runs: &[NewRun], now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut started = 0;
        for run in runs {
            started += u64::from(Self::insert_run(&mut tx, run, now).await?.is_some());
        }
        tx.commit().await?;
        Ok(started)
    }

    async fn channel_conversation(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        contact: ContactId,
    ) -> StoreResult<Option<ConversationId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE workspace_id = $1 AND channel_id = $2 AND contact_id = $3",
        )
        .bind(ws.get())
        .bind(channel.get())
        .bind(contact.get())
        .fetch_optional(&self.read)
        .await?;
        Ok(id.map(ConversationId))
    }

    async fn latest_conversation(&self, ws: WorkspaceId, contact: ContactId) -> StoreResult<Option<ConversationId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE workspace_id = $1 AND contact_id = $2
             ORDER BY last_message_at DESC, id DESC LIMIT 1",
        )
        .bind(ws.get())
        .bind(contact.get())
        .fetch_optional(&self.read)
        .await?;
        Ok(id.map(ConversationId))
    }

    async fn contact_runs(&self, workflow_id: i64, contact: ContactId, since: Timestamp) -> StoreResult<(bool, i64)> {
        self.count_runs(RUNS_OF_CONTACT, workflow_id, contact.get(), since).await
    }

    async fn schedule_progress(&self, workflow_id: i64) -> StoreResult<(Option<Timestamp>, i64)> {
        let row: Option<(Option<i64>, i64)> =
            sqlx::query_as("SELECT schedule_fire, schedule_cursor FROM workflows WHERE id = $1")
                .bind(workflow_id)
                .fetch_optional(&self.read)
                .await?;
        let (fire, cursor) = row.ok_or(StoreError::NotFound)?;
        Ok((fire.map(Timestamp::from_micros), cursor))
    }

    async fn set_schedule_progress(&self, workflow_id: i64, fire: Timestamp, cursor: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE workflows SET schedule_fire = $2, schedule_cursor = $3 WHERE id = $1")
            .bind(workflow_id)
            .bind(fire.as_micros())
            .bind(cursor)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn segment_page(
        &self,
        ws: WorkspaceId,
        tags: &[String],
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ContactId, Vec<String>)>> {
        let rows: Vec<(i64, String)> = match tags.first() {
            None => {
                sqlx::query_as("SELECT id, tags FROM contacts WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(ws.get())
                    .bind(after)
                    .bind(clamp_limit(limit, 1000))
                    .fetch_all(&self.read)
                    .await?
            }
            Some(first) => {
                sqlx::query_as(
                    "SELECT c.id, c.tags FROM contact_tags t JOIN contacts c ON c.id = t.contact_id
                     WHERE t.workspace_id = $1 AND t.tag = $2 AND t.contact_id > $3 ORDER BY t.contact_id LIMIT $4",
                )
                .bind(ws.get())
                .bind(first.to_lowercase())
                .bind(after)
                .bind(clamp_limit(limit, 1000))
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.into_iter().map(|(id, tags)| Ok((ContactId(id), serde_json::from_str(&tags)?))).collect()
    }

    async fn quiet_conversations(
        &self,
        ws: WorkspaceId,
        team_silent: bool,
        after: (Timestamp, ConversationId),
        to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<QuietConversation>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT id, contact_id, last_message_at FROM conversations
             WHERE status = 'open' AND last_message_at >= $2 AND last_message_at <= $3 AND workspace_id = $1
               AND (last_message_at > $2 OR id > $6)
               AND ((($4 = 1) AND last_inbound_at = last_message_at)
                 OR (($4 = 0) AND (last_inbound_at IS NULL OR last_inbound_at < last_message_at)))
             ORDER BY last_message_at, id LIMIT $5",
        )
        .bind(ws.get())
        .bind(after.0.as_micros())
        .bind(to.as_micros())
        .bind(i64::from(team_silent))
        .bind(clamp_limit(limit, 5000))
        .bind(after.1.get())
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, contact, at)| QuietConversation {
                id: ConversationId(id),
                contact_id: ContactId(contact),
                last_message_at: Timestamp::from_micros(at),
            })
            .collect())
    }

    async fn conversation_runs(
        &self,
        workflow_id: i64,
        conversation: ConversationId,
        since: Timestamp,
    ) -> StoreResult<(bool, i64)> {
        self.count_runs(RUNS_OF_CONVERSATION, workflow_id, conversation.get(), since).await
    }

    async fn last_inbound_text(&self, ws: WorkspaceId, conversation: ConversationId) -> StoreResult<Option<String>> {
        let text: Option<Option<String>> = sqlx::query_scalar(
            "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.workspace_id = $1 AND m.conversation_id = $2 AND m.direction = 'in'
             ORDER BY m.sent_at DESC, m.id DESC LIMIT 1",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .fetch_optional(&self.read)
        .await?;
        Ok(text.flatten())
    }

    async fn ran_for_contact(&self, workflow_id: i64, contact: ContactId) -> StoreResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM workflow_runs WHERE workflow_id = $1 AND contact_id = $2 LIMIT 1")
                .bind(workflow_id)
                .bind(contact.get())
                .fetch_optional(&self.read)
                .await?;
        Ok(found.is_some())
    }

    async fn claim_runs(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
        share: &RunShare,
    ) -> StoreResult<Vec<Run>> {
        let limit = clamp_limit(share.limit, 500);
        let mut tx = self.begin_write().await?;
        // Runs on one conversation are serialised: a run is not leased while another run on its
        // conversation is (servers claim one at a time, so each sees the others' leases).
        DB::lock_keys(&mut tx, LockClass::WorkflowRuns, vec!["runs".to_owned()]).await?;
        let mut due = QueryBuilder::<DB>::new(
            "SELECT r.id, r.workspace_id, r.conversation_id FROM workflow_runs r
             WHERE r.status = 'running' AND r.wake_at <= ",
        );
        due.push_bind(now.as_micros()).push(" AND (r.lease_until IS NULL OR r.lease_until < ");
        due.push_bind(now.as_micros()).push(
            ") AND (r.conversation_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM workflow_runs o WHERE o.conversation_id = r.conversation_id
                  AND o.status = 'running' AND o.lease_until >= ",
        );
        due.push_bind(now.as_micros()).push("))");
        // Workspaces with no room left are skipped here, so their backlog hides no one else's.
        let full: Vec<i64> = share.going.keys().filter(|ws| share.room(**ws) == 0).map(|ws| ws.get()).collect();
        if !full.is_empty() {
            due.push(" AND r.workspace_id NOT IN (");
            let mut list = due.separated(", ");
            for ws in full {
                list.push_bind(ws);
            }
            due.push(")");
        }
        due.push(" ORDER BY r.wake_at, r.id LIMIT ").push_bind(limit * 4);
        let due: Vec<(i64, i64, Option<i64>)> = due.build_query_as().fetch_all(&mut *tx).await?;
        let mut conversations = std::collections::HashSet::new();
        let mut taken_in: std::collections::HashMap<WorkspaceId, u32> = std::collections::HashMap::new();
        let ids: Vec<i64> = due
            .into_iter()
            .filter(|(_, ws, c)| {
                let ws = WorkspaceId(*ws);
                let taken = taken_in.entry(ws).or_default();
                let fits = *taken < share.room(ws) && c.is_none_or(|c| conversations.insert(c));
                *taken += u32::from(fits);
                fits
            })
            .map(|(id, _, _)| id)
            .take(limit as usize)
            .collect();
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            // The condition again: on PostgreSQL another server may have taken it meanwhile.
            let taken = sqlx::query(
                "UPDATE workflow_runs SET lease_holder = $2, lease_until = $3
                 WHERE id = $1 AND status = 'running' AND (lease_until IS NULL OR lease_until < $4)",
            )
            .bind(id)
            .bind(holder.to_owned())
            .bind(until.as_micros())
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&taken) == 1 {
                runs.push(Self::run_in(&mut tx, id).await?);
            }
        }
        tx.commit().await?;
        Ok(runs)
    }

    async fn record_step(
        &self,
        run: &Run,
        holder: &str,
        step: &RunStep,
        jumps: &BTreeMap<String, u32>,
        memory: &serde_json::Value,
        next: RunMove,
        now: Timestamp,
    ) -> StoreResult<Run> {
        let mut tx = self.begin_write().await?;
        let awaiting = matches!(next, RunMove::Next { .. }) && memory.get("asking").is_some_and(|a| !a.is_null());
        let (status, at_step, wake_at, error) = match &next {
            RunMove::Next { step, at } => (RunStatus::Running, Some(step.clone()), Some(at.as_micros()), None),
            RunMove::Done => (RunStatus::Done, None, None, None),
            RunMove::Failed(why) => (RunStatus::Failed, Some(step.step.clone()), None, Some(why.clone())),
            RunMove::Cancelled(why) => (RunStatus::Cancelled, Some(step.step.clone()), None, Some(why.clone())),
        };
        // A next step due now keeps the lease: the runner takes it at once, without a new claim.
        let keep = matches!(&next, RunMove::Next { at, .. } if *at <= now);
        let moved = sqlx::query(
            "UPDATE workflow_runs SET status = $3, step = $4, seq = seq + 1, jumps = $5, wake_at = $6, error = $7,
                lease_holder = CASE WHEN $12 = 1 THEN lease_holder END,
                lease_until = CASE WHEN $12 = 1 THEN lease_until END,
                updated_at = $8, memory = $10, awaiting_reply = $11
             WHERE id = $1 AND lease_holder = $2 AND status = 'running' AND seq = $9",
        )
        .bind(run.id)
        .bind(holder.to_owned())
        .bind(status.as_str().to_owned())
        .bind(at_step)
        .bind(serde_json::to_string(jumps)?)
        .bind(wake_at)
        .bind(error)
        .bind(now.as_micros())
        .bind(run.seq)
        .bind(serde_json::to_string(memory)?)
        .bind(i64::from(awaiting))
        .bind(i64::from(keep))
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&moved) != 1 {
            return Err(StoreError::Conflict { field: "lease" });
        }
        sqlx::query(
            "INSERT INTO workflow_run_steps (run_id, seq, step, kind, outcome, detail, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(run.id)
        .bind(run.seq)
        .bind(step.step.clone())
        .bind(step.kind.clone())
        .bind(step.outcome.clone())
        .bind(serde_json::to_string(&step.detail)?)
        .bind(step.at.as_micros())
        .execute(&mut *tx)
        .await?;
        let run = Self::run_in(&mut tx, run.id).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn snooze_run(&self, run: &Run, holder: &str, at: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE workflow_runs SET wake_at = $3, lease_holder = NULL, lease_until = NULL
             WHERE id = $1 AND lease_holder = $2 AND status = 'running' AND seq = $4",
        )
        .bind(run.id)
        .bind(holder.to_owned())
        .bind(at.as_micros())
        .bind(run.seq)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&moved) != 1 {
            return Err(StoreError::Conflict { field: "lease" });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn wake_awaiting(&self, conversations: &[ConversationId], now: Timestamp) -> StoreResult<u64> {
        // Most messages answer no question: a read first, and no write transaction at all.
        let any: Option<i64> =
            sqlx::query_scalar("SELECT conversation_id FROM workflow_runs WHERE awaiting_reply = 1 LIMIT 1")
                .fetch_optional(&self.read)
                .await?;
        if any.is_none() || conversations.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut woken = 0;
        for c in conversations {
            let done = sqlx::query(
                "UPDATE workflow_runs SET wake_at = $2
                 WHERE conversation_id = $1 AND awaiting_reply = 1 AND status = 'running' AND wake_at > $2",
            )
            .bind(c.get())
            .bind(now.as_micros())
            .execute(&mut *tx)
            .await?;
            woken += DB::rows_affected(&done);
        }
        tx.commit().await?;
        Ok(woken)
    }

    async fn replies_after(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Reply>> {
        let rows: Vec<(i64, String, String, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT m.id, m.direction, m.type, m.text, u.bot FROM messages m
             LEFT JOIN users u ON u.id = m.author_id
             WHERE m.workspace_id = $1 AND m.conversation_id = $2 AND m.id > $3
             ORDER BY m.id LIMIT $4",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .bind(after)
        .bind(clamp_limit(limit, 500))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, direction, kind, text, bot)| Reply {
                id,
                inbound: direction == "in",
                kind,
                text,
                by_person: direction == "out" && bot == Some(0),
            })
            .collect())
    }

    async fn last_message_id(&self, ws: WorkspaceId, conversation: ConversationId) -> StoreResult<i64> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM messages WHERE workspace_id = $1 AND conversation_id = $2")
                .bind(ws.get())
                .bind(conversation.get())
                .fetch_one(&self.read)
                .await?;
        Ok(id.unwrap_or(0))
    }

    async fn run(&self, ws: WorkspaceId, id: i64) -> StoreResult<Run> {
        let run = Self::run_in(&mut *self.read.acquire().await?, id).await?;
        if run.workspace_id != ws {
            return Err(StoreError::NotFound);
        }
        Ok(run)
    }

    async fn runs(&self, ws: WorkspaceId, workflow_id: i64, limit: u32) -> StoreResult<Vec<Run>> {
        let rows: Vec<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM workflow_runs WHERE workspace_id = $1 AND workflow_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(ws.get())
        .bind(workflow_id)
        .bind(clamp_limit(limit, 500))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(Run::try_from).collect()
    }

    async fn run_steps(&self, ws: WorkspaceId, run_id: i64) -> StoreResult<Vec<RunStep>> {
        self.run(ws, run_id).await?;
        let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT seq, step, kind, outcome, detail, at FROM workflow_run_steps WHERE run_id = $1 ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RunStep {
                    seq: r.0,
                    step: r.1,
                    kind: r.2,
                    outcome: r.3,
                    detail: serde_json::from_str(&r.4)?,
                    at: Timestamp::from_micros(r.5),
                })
            })
            .collect()
    }

    async fn prune_runs(&self, before: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let finished = "SELECT id FROM workflow_runs WHERE status <> 'running' AND updated_at < $1";
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM workflow_run_steps WHERE run_id IN ({finished})")))
            .bind(before.as_micros())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM workflow_runs WHERE status <> 'running' AND updated_at < $1")
            .bind(before.as_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&done))
    }

    async fn cancel_runs(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        workflow_id: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE workflow_runs SET status = 'cancelled', wake_at = NULL, awaiting_reply = 0, updated_at = $4
             WHERE workspace_id = $1 AND conversation_id = $2 AND status = 'running'
               AND ($3 IS NULL OR workflow_id = $3)",
        )
        .bind(ws.get())
        .bind(conversation.get())
        .bind(workflow_id)
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&done))
    }
}

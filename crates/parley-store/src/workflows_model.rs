//! The trait of workflows (`parley_core::workflow`): drafts and published versions, durable
//! runs with their history, and the trigger follower's place in the event log.
//!
//! A run is `running` while it has a step due (`wake_at`, which a wait moves on), then `done`,
//! `failed` or `cancelled`. Each step taken is recorded with the run's move in one transaction,
//! under the run's lease: a crash between a step and its record leaves the step to be taken
//! again, which the runner makes harmless (sends carry an idempotency key made of the run and
//! the step's number).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::ids::{ChannelId, ContactId, ConversationId, EventId, UserId, WorkspaceId};

use crate::error::StoreResult;

/// A workflow as kept: its draft (JSON) and the version runs start on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub draft: String,
    pub active: bool,
    pub once_per_contact: bool,
    /// 0 before the first publication.
    pub version: i64,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The token of its incoming-webhook URL, sealed by the server (never shown sealed).
    pub hook_secret: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewWorkflow<'a> {
    pub name: &'a str,
    pub draft: &'a str,
    pub once_per_contact: bool,
    pub created_by: Option<UserId>,
}

/// Fields left `None` stay as they are.
#[derive(Clone, Debug, Default)]
pub struct WorkflowPatch {
    pub name: Option<String>,
    pub draft: Option<String>,
    pub once_per_contact: Option<bool>,
    pub active: Option<bool>,
}

/// An active workflow's published definition, for the trigger follower.
#[derive(Clone, Debug)]
pub struct ActiveWorkflow {
    pub workflow: Workflow,
    pub definition: String,
}

/// An event of the log, any workspace's, as the trigger follower reads it.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub id: EventId,
    pub workspace_id: WorkspaceId,
    pub channel_id: Option<ChannelId>,
    pub kind: String,
    pub subject_id: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
}

/// An open conversation gone quiet (`quiet_conversations`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuietConversation {
    pub id: ConversationId,
    pub contact_id: ContactId,
    pub last_message_at: Timestamp,
}

/// A run to start.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub workspace_id: WorkspaceId,
    pub workflow_id: i64,
    pub version: i64,
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    /// The event that started it; `None` when started by hand.
    pub trigger_event_id: Option<EventId>,
    /// What started it when no event did (a scan's key: `inactive:<conversation>:<time>`):
    /// one run per workflow and key.
    pub trigger_key: Option<String>,
    pub first_step: String,
    /// What the run starts with (`parley_core::workflow::Memory`: the trigger's payload).
    pub memory: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "running" => RunStatus::Running,
            "done" => RunStatus::Done,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A run as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub workflow_id: i64,
    pub version: i64,
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    pub trigger_event_id: Option<EventId>,
    pub status: RunStatus,
    /// The step due next (running), or the step it stopped at (failed).
    pub step: Option<String>,
    /// Steps taken so far.
    pub seq: i64,
    /// Times each jump step was taken.
    pub jumps: BTreeMap<String, u32>,
    /// What it carries from step to step (`parley_core::workflow::Memory`); while its `asking`
    /// is set the run waits for the customer's answer, and a customer's message wakes it.
    pub memory: serde_json::Value,
    pub wake_at: Option<Timestamp>,
    pub error: Option<String>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A step taken, in a run's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStep {
    pub seq: i64,
    pub step: String,
    pub kind: String,
    /// `done`, `waiting`, `failed`.
    pub outcome: String,
    pub detail: serde_json::Value,
    pub at: Timestamp,
}

/// A message of a conversation, as a question's wait reads the replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub id: i64,
    /// The customer's (inbound), else the business's.
    pub inbound: bool,
    /// `text`, `interactive`, `button`, `reaction`, …
    pub kind: String,
    pub text: Option<String>,
    /// Outbound, written by a person (not a bot, not Parley).
    pub by_person: bool,
}

/// How many runs one claim may take: `limit` in all, and for each workspace what is left of
/// `per_workspace` after the runs it already has going on this server (`going`). A workspace
/// whose runs wait on slow calls then holds at most its share, never every slot.
#[derive(Clone, Debug, Default)]
pub struct RunShare {
    pub limit: u32,
    pub per_workspace: u32,
    pub going: HashMap<WorkspaceId, u32>,
}

impl RunShare {
    /// Up to `limit` runs, whatever their workspace.
    pub fn any(limit: u32) -> Self {
        RunShare { limit, per_workspace: limit, going: HashMap::new() }
    }

    /// Runs of `ws` this claim may still take.
    pub fn room(&self, ws: WorkspaceId) -> u32 {
        self.per_workspace.saturating_sub(self.going.get(&ws).copied().unwrap_or(0))
    }
}

/// Where a run goes after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunMove {
    /// On to `step`, due at `at` (now, or when a wait ends).
    Next {
        step: String,
        at: Timestamp,
    },
    Done,
    Failed(String),
    /// Cancelled, with the reason (a person took over).
    Cancelled(String),
}

#[async_trait]
pub trait Workflows {
    async fn create_workflow(&self, ws: WorkspaceId, new: NewWorkflow<'_>, now: Timestamp) -> StoreResult<Workflow>;
    async fn workflows(&self, ws: WorkspaceId) -> StoreResult<Vec<Workflow>>;
    async fn workflow(&self, ws: WorkspaceId, id: i64) -> StoreResult<Workflow>;
    async fn update_workflow(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: WorkflowPatch,
        now: Timestamp,
    ) -> StoreResult<Workflow>;
    /// Deletes the workflow, its versions and its runs.
    async fn delete_workflow(&self, ws: WorkspaceId, id: i64) -> StoreResult<()>;
    /// Makes `definition` the next version (runs already going keep theirs).
    async fn publish_workflow(
        &self,
        ws: WorkspaceId,
        id: i64,
        definition: &str,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Workflow>;
    /// Any workspace's workflow (an incoming webhook names only the workflow).
    async fn workflow_by_id(&self, id: i64) -> StoreResult<Workflow>;
    /// Sets (or clears) the sealed token of the workflow's incoming-webhook URL.
    async fn set_hook_secret(&self, ws: WorkspaceId, id: i64, sealed: Option<&str>) -> StoreResult<()>;
    /// Gives a run without a conversation the one its first message opened.
    async fn attach_conversation(&self, run_id: i64, conversation: ConversationId) -> StoreResult<()>;
    /// A published version's definition.
    async fn workflow_version(&self, ws: WorkspaceId, id: i64, version: i64) -> StoreResult<String>;
    /// Every active, published workflow, all workspaces, with its current definition.
    async fn active_workflows(&self) -> StoreResult<Vec<ActiveWorkflow>>;

    /// Takes (or keeps) the trigger follower's lease; answers where it stands, `None` when
    /// another server holds it. The first call starts at the newest event: what happened before
    /// workflows existed starts nothing.
    async fn lease_follower(&self, holder: &str, now: Timestamp, until: Timestamp) -> StoreResult<Option<EventId>>;
    /// Events after `after`, any workspace's, oldest first.
    async fn events_after(&self, after: EventId, limit: u32) -> StoreResult<Vec<LoggedEvent>>;
    /// Starts `runs` and moves the follower to `to`, in one transaction, if `holder` still
    /// holds the lease (false otherwise, and nothing is written). A run already started for the
    /// same workflow and event is not started again.
    async fn start_runs(&self, holder: &str, to: EventId, runs: &[NewRun], now: Timestamp) -> StoreResult<bool>;
    /// Starts one run by hand.
    async fn start_run(&self, run: &NewRun, now: Timestamp) -> StoreResult<Run>;
    /// Starts one run unless the workflow runs on its conversation already (`Conflict` on
    /// `conversation`; concurrent calls decide one at a time), or its key was started
    /// (`Conflict` on `trigger_key`).
    async fn start_run_alone(&self, run: &NewRun, now: Timestamp) -> StoreResult<Run>;
    /// Starts runs a scan found, each at most once per workflow and `trigger_key`; answers how
    /// many were new.
    async fn start_keyed_runs(&self, runs: &[NewRun], now: Timestamp) -> StoreResult<u64>;
    /// The contact's conversation on a number, if it has one.
    async fn channel_conversation(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        contact: ContactId,
    ) -> StoreResult<Option<ConversationId>>;
    /// The contact's conversation most recently written in, if any.
    async fn latest_conversation(&self, ws: WorkspaceId, contact: ContactId) -> StoreResult<Option<ConversationId>>;
    /// Whether the workflow runs for the contact now, and how many runs it started for them
    /// since `since` (the loop guard of runs without a conversation).
    async fn contact_runs(&self, workflow_id: i64, contact: ContactId, since: Timestamp) -> StoreResult<(bool, i64)>;
    /// A schedule's progress: the fire being worked through and the last contact done (-1: all).
    async fn schedule_progress(&self, workflow_id: i64) -> StoreResult<(Option<Timestamp>, i64)>;
    async fn set_schedule_progress(&self, workflow_id: i64, fire: Timestamp, cursor: i64) -> StoreResult<()>;
    /// A page of the workspace's contacts after `after` carrying the first of `tags` (every
    /// contact when none), with all their tags (the caller keeps those with all of `tags`).
    async fn segment_page(
        &self,
        ws: WorkspaceId,
        tags: &[String],
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ContactId, Vec<String>)>>;
    /// Open conversations of a workspace gone quiet: the customer wrote last (`team_silent`)
    /// or the business did, with the last message after `after` (a time, and a conversation
    /// id among those of that time) and at `to` or before; oldest first.
    async fn quiet_conversations(
        &self,
        ws: WorkspaceId,
        team_silent: bool,
        after: (Timestamp, ConversationId),
        to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<QuietConversation>>;
    /// Whether the workflow has a run going on the conversation, and how many it started there
    /// since `since` (the follower's loop guard).
    async fn conversation_runs(
        &self,
        workflow_id: i64,
        conversation: ConversationId,
        since: Timestamp,
    ) -> StoreResult<(bool, i64)>;
    /// The text of the customer's latest message in a conversation (conditions on `message.text`).
    async fn last_inbound_text(&self, ws: WorkspaceId, conversation: ConversationId) -> StoreResult<Option<String>>;
    /// Whether the workflow ever ran for this contact (`once_per_contact`).
    async fn ran_for_contact(&self, workflow_id: i64, contact: ContactId) -> StoreResult<bool>;

    /// Leases running runs whose step is due, oldest first, as many as `share` lets.
    async fn claim_runs(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
        share: &RunShare,
    ) -> StoreResult<Vec<Run>>;
    /// Records a step taken and moves the run, if `holder` still holds its lease (`Conflict`
    /// otherwise), and lets the lease go — unless the next step is due now: then the holder
    /// keeps it and may take that step at once.
    #[allow(clippy::too_many_arguments)]
    async fn record_step(
        &self,
        run: &Run,
        holder: &str,
        step: &RunStep,
        jumps: &BTreeMap<String, u32>,
        memory: &serde_json::Value,
        next: RunMove,
        now: Timestamp,
    ) -> StoreResult<Run>;
    /// Puts a run back to sleep until `at` without a step taken (woken before its time), if
    /// `holder` still holds its lease (`Conflict` otherwise).
    async fn snooze_run(&self, run: &Run, holder: &str, at: Timestamp) -> StoreResult<()>;
    /// Wakes the runs waiting for an answer on these conversations (their customers wrote), in
    /// one transaction — none when no run waits for an answer at all; answers how many.
    async fn wake_awaiting(&self, conversations: &[ConversationId], now: Timestamp) -> StoreResult<u64>;
    /// The messages of a conversation after message `after`, oldest first (at most `limit`).
    async fn replies_after(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Reply>>;
    /// The newest message id of a conversation (0 when it has none).
    async fn last_message_id(&self, ws: WorkspaceId, conversation: ConversationId) -> StoreResult<i64>;
    async fn run(&self, ws: WorkspaceId, id: i64) -> StoreResult<Run>;
    /// A workflow's runs, newest first.
    async fn runs(&self, ws: WorkspaceId, workflow_id: i64, limit: u32) -> StoreResult<Vec<Run>>;
    async fn run_steps(&self, ws: WorkspaceId, run_id: i64) -> StoreResult<Vec<RunStep>>;
    /// Deletes finished runs (done, failed, cancelled) last changed before `before`, with their
    /// history; answers how many.
    async fn prune_runs(&self, before: Timestamp) -> StoreResult<u64>;
    /// Cancels the running runs on a conversation (of one workflow when given); answers how many.
    async fn cancel_runs(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        workflow_id: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<u64>;
}

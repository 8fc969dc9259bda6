//! `parley-store` — Parley's storage. The traits below speak the domain ([`Contacts`],
//! [`Accounts`], [`Events`]); [`open`] picks the engine from the database URL (SQLite by default,
//! PostgreSQL with `postgres://…`) and returns a [`Store`].
//!
//! Layout:
//! - `sql/` — one implementation of the traits, generic over the sqlx engine: the SQL text is the
//!   same on both engines (`$n` parameters, `RETURNING`, `ON CONFLICT`), so it is written once.
//! - `sqlite.rs`, `postgres.rs` — what differs: connecting, pragmas, write transactions,
//!   migrations (`migrations/sqlite`, `migrations/postgres`, kept in lockstep).
//! - `tests/contract.rs` — one suite run against both engines (PostgreSQL when
//!   `PARLEY_TEST_DATABASE_URL` is set).
//!
//! Both engines live in this one crate (ARCHITECTURE.md sketched a crate per engine): the shared
//! generic implementation would otherwise need a fourth crate and orphan-rule workarounds.

mod bots_model;
mod contacts_model;
mod error;
mod fees_model;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod ledger_model;
mod model;
mod open;
mod payments_model;
mod postgres;
mod reconcile_model;
mod sql;
mod sqlite;
mod subscriptions_model;
mod templates_model;
#[cfg(feature = "testing")]
pub mod testing;
mod workflows_model;

use async_trait::async_trait;
use parley_core::account::{User, Workspace};
use parley_core::channel::{Channel, Provider};
use parley_core::contact::{Contact, ContactPatch, ContactRef, NewContact, Note};
use parley_core::contacts_csv::RowProblem;
use parley_core::conversation::{Conversation, ConversationStatus, Message};
use parley_core::ids::{
    ChannelId, ContactId, ConversationId, EventId, MediaId, MessageId, TeamId, TokenId, UserId, WorkspaceId,
};
use parley_core::message::Content;
use parley_core::search::SearchTerms;
use parley_core::{Email, Timestamp};

pub use bots_model::*;
pub use contacts_model::*;
pub use error::{StoreError, StoreResult};
pub use fees_model::*;
pub use ledger_model::*;
pub use model::*;
pub use open::{DatabaseUrl, create_private_dir, open, open_url};
pub use payments_model::*;
pub use reconcile_model::*;
pub use subscriptions_model::*;
pub use templates_model::*;
pub use workflows_model::*;

/// Workspaces, users and API tokens.
#[async_trait]
pub trait Accounts {
    /// Creates a workspace with its first owner and API token, all or nothing.
    async fn bootstrap(
        &self,
        workspace_name: &str,
        owner: NewUser,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<Bootstrapped>;
    async fn workspace(&self, id: WorkspaceId) -> StoreResult<Workspace>;
    async fn update_workspace(&self, id: WorkspaceId, patch: WorkspacePatch, now: Timestamp) -> StoreResult<Workspace>;
    async fn create_user(&self, ws: WorkspaceId, user: NewUser, now: Timestamp) -> StoreResult<User>;
    /// A bot user (role agent, no password: it never logs in) and its API token, together.
    async fn create_bot(
        &self,
        ws: WorkspaceId,
        user: NewUser,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<(User, ApiToken)>;
    async fn users(&self, ws: WorkspaceId) -> StoreResult<Vec<User>>;
    async fn user(&self, ws: WorkspaceId, id: UserId) -> StoreResult<User>;
    /// The user with this email and their password hash, for logging in.
    async fn user_for_login(&self, email: &Email) -> StoreResult<Option<(User, Option<String>)>>;
    async fn create_token(
        &self,
        ws: WorkspaceId,
        user: UserId,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<ApiToken>;
    async fn tokens(&self, ws: WorkspaceId) -> StoreResult<Vec<ApiToken>>;
    async fn revoke_token(&self, ws: WorkspaceId, id: TokenId, now: Timestamp) -> StoreResult<()>;
    /// Who holds the (unrevoked) token with this hash.
    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>>;
}

/// Managing the workspace's users: their name and role, deactivating them, and invitations.
#[async_trait]
pub trait Users {
    /// Changes a user. Deactivating revokes their tokens, ends their sessions and invitations,
    /// and gives their conversations that are not closed back to the queue (events name `by`).
    /// `last_owner` when the workspace would be left without an active owner. When `by` names
    /// the acting user, the role rules (`parley_core::account::check_user_change`) are checked
    /// inside the transaction on the roles as they are then (`Forbidden` or `Invalid`), so a
    /// concurrent change cannot slip between the check and the write.
    async fn update_user(
        &self,
        ws: WorkspaceId,
        id: UserId,
        patch: UserPatch,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<User>;
    /// Stores an invitation (its secret's hash) for an active user; earlier unused ones end.
    async fn create_invite(
        &self,
        ws: WorkspaceId,
        user: UserId,
        token_hash: &str,
        expires_at: Timestamp,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// The user an unused, unexpired invitation is for.
    async fn invitee(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<User>>;
    /// Sets the invitee's password, ends their web sessions and uses the invitation up
    /// (`NotFound` when it is not valid).
    async fn accept_invite(&self, token_hash: &str, password_hash: &str, now: Timestamp) -> StoreResult<User>;
    /// Replaces an active user's password and ends every one of their web sessions.
    async fn set_password(&self, ws: WorkspaceId, user: UserId, password_hash: &str, now: Timestamp)
    -> StoreResult<()>;
}

/// Browser sessions of the web inbox, and each user's UI language.
#[async_trait]
pub trait Sessions {
    /// Stores a session (only the SHA-256 of its cookie secret); removes the user's expired ones.
    async fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Who holds the unexpired session with this hash.
    async fn session_owner(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<SessionOwner>>;
    async fn end_session(&self, token_hash: &str) -> StoreResult<()>;
    /// `None`: the browser's language.
    async fn set_locale(&self, ws: WorkspaceId, user: UserId, locale: Option<&str>) -> StoreResult<User>;
    /// Whether the user is mailed when mentioned in a note.
    async fn set_mail_mentions(&self, ws: WorkspaceId, user: UserId, on: bool) -> StoreResult<User>;
}

/// Contacts, their tags and notes. Every method is scoped to one workspace.
#[async_trait]
pub trait Contacts {
    async fn create_contact(&self, ws: WorkspaceId, contact: NewContact, now: Timestamp) -> StoreResult<Contact>;
    async fn contact(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Contact>;
    /// Applies `patch` to the contact in one write transaction (read, check, write).
    async fn update_contact(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        patch: &ContactPatch,
        now: Timestamp,
    ) -> StoreResult<Contact>;
    async fn delete_contact(&self, ws: WorkspaceId, by: &ContactRef, now: Timestamp) -> StoreResult<()>;
    /// Newest first, keyset-paginated.
    async fn contacts(&self, ws: WorkspaceId, query: &ContactQuery) -> StoreResult<Page<Contact>>;
    async fn add_note(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        author: Option<UserId>,
        body: &str,
        now: Timestamp,
    ) -> StoreResult<Note>;
    /// Oldest first.
    async fn notes(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<Note>>;
}

/// CSV imports and exports of contacts.
#[async_trait]
pub trait ContactImports {
    async fn create_import(&self, ws: WorkspaceId, import: NewImport, now: Timestamp) -> StoreResult<Import>;
    async fn import(&self, ws: WorkspaceId, id: i64) -> StoreResult<Import>;
    /// Newest first.
    async fn imports(&self, ws: WorkspaceId, limit: u32) -> StoreResult<Vec<Import>>;
    /// The refused rows' problems after line `after_line`, by line: about `limit` of them (a
    /// page never splits one line's problems, so it may hold a few more). Empty when done.
    async fn import_rejects(
        &self,
        ws: WorkspaceId,
        id: i64,
        after_line: u64,
        limit: u32,
    ) -> StoreResult<Vec<RowProblem>>;
    /// Takes a queued import, or a running one whose worker's lease ran out (it resumes after
    /// its last committed batch), leasing it until `lease_until`.
    async fn claim_import(&self, now: Timestamp, lease_until: Timestamp) -> StoreResult<Option<Import>>;
    /// Marks the import running (a worker or the CLI holds it) with the file's columns no field
    /// takes, and extends its lease.
    async fn start_import(
        &self,
        import: &Import,
        ignored: &[String],
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Applies one batch in one transaction: contacts created and updated per the mode, refused
    /// rows recorded, duplicate suggestions updated, the import's counters and progress moved.
    /// A dry run records only the import's report.
    async fn import_batch(
        &self,
        batch: ImportBatch<'_>,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<BatchCounts>;
    /// Ends the import: `done`, or `failed` with `error`.
    async fn finish_import(&self, ws: WorkspaceId, id: i64, error: Option<&str>, now: Timestamp)
    -> StoreResult<Import>;
    /// Contacts in id order after `after`, for exports (streamed page by page).
    async fn contacts_after(&self, ws: WorkspaceId, after: i64, limit: u32) -> StoreResult<Vec<Contact>>;
}

/// Duplicate suggestions, merges, and re-cleaning stored phones and emails.
#[async_trait]
pub trait ContactMerges {
    /// Open suggestions, oldest first after `after`; only those involving `contact` when given.
    async fn merge_suggestions(
        &self,
        ws: WorkspaceId,
        contact: Option<ContactId>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Page<MergeSuggestion>>;
    async fn dismiss_suggestion(&self, ws: WorkspaceId, id: i64, by: Option<UserId>, now: Timestamp)
    -> StoreResult<()>;
    /// Recomputes suggestions over every contact of the workspace; answers how many are new.
    async fn dedupe_all(&self, ws: WorkspaceId, now: Timestamp) -> StoreResult<u64>;
    /// Moves everything of the secondary to the primary in one transaction (see `sql/merge.rs`).
    async fn merge_contacts(&self, ws: WorkspaceId, request: MergeRequest, now: Timestamp) -> StoreResult<Merged>;
    /// The merges into this contact, newest first.
    async fn contact_history(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<MergeRecord>>;
    /// Re-cleans stored phones and emails (`region` reads national numbers).
    async fn normalize_contacts(
        &self,
        ws: WorkspaceId,
        region: Option<parley_core::phone::Region>,
        dry_run: bool,
        now: Timestamp,
    ) -> StoreResult<NormalizeReport>;
}

/// WhatsApp channels (numbers). Secrets arrive sealed; the store never sees them in clear.
#[async_trait]
pub trait Channels {
    async fn create_channel(&self, ws: WorkspaceId, channel: NewChannel, now: Timestamp) -> StoreResult<Channel>;
    /// Live (not deleted) channels the viewer may see.
    async fn channels(&self, ws: WorkspaceId, viewer: Viewer) -> StoreResult<Vec<Channel>>;
    /// Live channels of every workspace (periodic checks with the provider).
    async fn live_channels(&self) -> StoreResult<Vec<Channel>>;
    /// A channel the viewer may see, deleted ones included (their history stays readable).
    async fn channel(&self, ws: WorkspaceId, id: ChannelId, viewer: Viewer) -> StoreResult<Channel>;
    /// The members of a channel (who sees it when it is private).
    async fn channel_members(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<Vec<UserId>>;
    /// Replaces the channel's members; `Invalid { code: "unknown_user" }` for a user not of the
    /// workspace. Answers the members, sorted.
    async fn set_channel_members(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        members: &[UserId],
        now: Timestamp,
    ) -> StoreResult<Vec<UserId>>;
    async fn update_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        patch: ChannelPatch,
        now: Timestamp,
    ) -> StoreResult<Channel>;
    /// Marks the channel deleted: its webhook stops, its conversations stay.
    async fn delete_channel(&self, ws: WorkspaceId, id: ChannelId, now: Timestamp) -> StoreResult<()>;
    /// The live channel a webhook URL belongs to (webhooks carry no token: the key is the route).
    async fn channel_by_webhook_key(&self, key: &str) -> StoreResult<Option<Channel>>;
    /// Live channels of `provider` with these provider phone number ids.
    async fn channels_by_phone_number_ids(&self, provider: Provider, ids: &[String]) -> StoreResult<Vec<Channel>>;
    /// Live channels of `provider` in this WhatsApp Business Account, every workspace's.
    async fn channels_by_waba_id(&self, provider: Provider, waba_id: &str) -> StoreResult<Vec<Channel>>;
}

/// Moving a number to another provider (issue 20): the channel keeps its id, so its
/// conversations, contacts, templates of the same account and health history stay; its old
/// connection is kept and still routes late webhooks.
#[async_trait]
pub trait ChannelMoves {
    /// Moves the live channel to `to` at `now` (the cut-over), in one transaction: its current
    /// connection becomes a past one (its webhook key still routes here) and the channel takes
    /// the new one. `Conflict` when the new provider's number is connected as another channel.
    /// `plan`: the planned move this makes (taken in the same transaction: `NotFound` when
    /// another server made or someone cancelled it); a move without one drops any plan.
    async fn move_channel(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        to: ChannelMove,
        plan: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<(Channel, PastConnection)>;
    /// Keeps a move's report on the connection it ended.
    async fn set_move_report(&self, ws: WorkspaceId, connection: i64, report: &serde_json::Value) -> StoreResult<()>;
    /// The channel's past connections, oldest first, each with its traffic.
    async fn past_connections(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<Vec<PastConnection>>;
    /// Messages in and out created since `since` (the current connection's traffic).
    async fn channel_traffic_since(&self, ws: WorkspaceId, id: ChannelId, since: Timestamp) -> StoreResult<(i64, i64)>;
    /// The live channel a past connection's webhook key belongs to, as that connection had it
    /// (its provider, ids, credentials and key), while its late webhooks are still taken
    /// (`LATE_WEBHOOKS_SECS` after its cut-over).
    async fn channel_by_past_webhook_key(&self, key: &str, now: Timestamp) -> StoreResult<Option<Channel>>;
}

/// Moves planned for a later cut-over (`sql/planned_moves.rs`).
#[async_trait]
pub trait PlannedMoves {
    /// Plans the live channel's move to `to` at `cutover_at`, replacing any plan it had.
    /// `Conflict` when the new connection's number is connected as another channel.
    #[allow(clippy::too_many_arguments)]
    async fn plan_move(
        &self,
        ws: WorkspaceId,
        id: ChannelId,
        to: ChannelMove,
        cutover_at: Timestamp,
        resubmit_templates: bool,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<PlannedMove>;
    async fn planned_move(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<Option<PlannedMove>>;
    /// `NotFound` when the channel has no plan.
    async fn cancel_planned_move(&self, ws: WorkspaceId, id: ChannelId) -> StoreResult<()>;
    /// Plans whose cut-over has come and that did not fail, oldest first, of every workspace.
    async fn due_planned_moves(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<PlannedMove>>;
    /// Records why a plan could not be made at its time (it is not tried again).
    async fn planned_move_failed(&self, plan: i64, error: &str) -> StoreResult<()>;
    /// The live channel a planned connection's webhook key belongs to, as the new provider
    /// will have it (its provider, ids, credentials and key).
    async fn channel_by_planned_webhook_key(&self, key: &str) -> StoreResult<Option<Channel>>;
}

/// Inbound WhatsApp traffic: applying webhooks, reading conversations and messages, media.
#[async_trait]
pub trait Inbox {
    /// Applies every event in one transaction: contacts resolved or created, conversations
    /// opened or reopened, messages inserted once (duplicates are no-ops), statuses moved forward
    /// only, events appended. Nothing is written unless everything is.
    async fn apply_inbound(&self, events: &[RoutedEvent<'_>], now: Timestamp) -> StoreResult<InboundOutcome>;
    /// Applies several webhooks in one transaction, as `apply_inbound` does. A webhook with a
    /// journal row is applied at most once: the transaction takes its row (PostgreSQL deletes
    /// it; SQLite notes its id as applied and removes the row from the journal's file after the
    /// commit), and skips it if another transaction already did.
    async fn apply_webhooks(&self, webhooks: &[InboundWebhook<'_>], now: Timestamp) -> StoreResult<InboundOutcome>;
    /// Appends webhooks as received to the inbound journal in one transaction (on SQLite in a
    /// file of its own, so it never waits behind a transaction applying webhooks); their ids,
    /// in order.
    async fn journal_append(&self, entries: &[NewJournalEntry<'_>], now: Timestamp) -> StoreResult<Vec<i64>>;
    /// Journaled webhooks not applied yet, with ids above `after`, oldest first.
    async fn journal_pending(&self, after: i64, limit: u32) -> StoreResult<Vec<JournalEntry>>;
    /// The same, only those received at `received_by` or earlier.
    async fn journal_received_by(
        &self,
        received_by: Timestamp,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>>;
    /// Newest activity first.
    async fn conversations(&self, ws: WorkspaceId, query: &ConversationQuery) -> StoreResult<Page<Conversation>>;
    /// How many open conversations the inbox's tabs hold for `me` (assigned to me, unassigned,
    /// all that the viewer sees), each counted up to [`OPEN_COUNT_CAP`] at most.
    async fn open_counts(&self, ws: WorkspaceId, viewer: Viewer, me: UserId) -> StoreResult<OpenCounts>;
    /// Not found when the viewer may not see its channel.
    async fn conversation(&self, ws: WorkspaceId, id: ConversationId, viewer: Viewer) -> StoreResult<Conversation>;
    /// The thread in provider-time order.
    async fn messages(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        query: &MessageQuery,
    ) -> StoreResult<Page<Message>>;
    /// Leases up to `limit` attachments due for download until `lease_until`.
    async fn claim_media(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> StoreResult<Vec<MediaJob>>;
    /// Records a downloaded attachment.
    async fn media_downloaded(
        &self,
        id: MediaId,
        sha256: &str,
        size: i64,
        mime_type: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Records a failed attempt: retried at `retry_at`, or given up when `None`.
    async fn media_failed(
        &self,
        id: MediaId,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn media_file(&self, ws: WorkspaceId, message: MessageId, viewer: Viewer) -> StoreResult<MediaFile>;
    /// Records a message that already left through the provider (e.g. sent from the WhatsApp
    /// Business app) with its provider id; statuses reported before it are applied.
    async fn record_outbound(
        &self,
        channel: &Channel,
        contact: ContactId,
        content: &Content,
        provider_message_id: &str,
        now: Timestamp,
    ) -> StoreResult<Message>;
    /// Moves a conversation to `status` (`by`: who did it); the assignee stays.
    async fn set_conversation_status(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: ConversationStatus,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation>;
    /// Snoozes a conversation until `until`; it opens again then (see `wake_snoozed`), or when
    /// the customer writes.
    async fn snooze_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        until: Timestamp,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation>;
    /// Opens every snoozed conversation (of every workspace) whose time came; answers how many.
    async fn wake_snoozed(&self, now: Timestamp) -> StoreResult<u64>;
    /// Assigns a conversation to a user of the workspace, or unassigns it (`None`). A change is
    /// an event naming who made it; the same assignee again changes nothing.
    async fn assign_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        assignee: Option<UserId>,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation>;
}

/// What the inbox list shows beside each conversation, and what agents read.
#[async_trait]
pub trait InboxViews {
    /// The contact, last message and unread count of each conversation (in the order of `ids`;
    /// ids not of the workspace are left out). The caller lists `ids` with its viewer first.
    async fn conversation_summaries(
        &self,
        ws: WorkspaceId,
        ids: &[ConversationId],
    ) -> StoreResult<Vec<ConversationSummary>>;
    /// Every message of the conversation so far counts as read (for the whole team).
    async fn mark_conversation_read(&self, ws: WorkspaceId, id: ConversationId, viewer: Viewer) -> StoreResult<()>;
}

/// Outbound messages: judged and queued atomically, then dispatched from the outbox.
#[async_trait]
pub trait Outbox: Sync {
    /// Gathers the facts of the send inside one write transaction, asks `decide` about each
    /// message, and unless it is a dry run stores the messages (queued) with their outbox jobs.
    async fn queue_send(
        &self,
        request: SendRequest<'_>,
        decide: Decide<'_>,
        now: Timestamp,
    ) -> StoreResult<SendOutcome>;
    /// Channels with jobs due now (each gets a dispatcher lane).
    async fn due_channels(&self, now: Timestamp) -> StoreResult<Vec<ChannelId>>;
    /// Leases the channel's due jobs (`claimed`), only the oldest unfinished one of each
    /// conversation.
    async fn claim_outbox(
        &self,
        channel: ChannelId,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxJob>>;
    /// Marks claimed jobs `sending` right before their requests leave; answers the ids still
    /// ours. A job whose lease ran out may be queued again elsewhere: it must not be sent here.
    async fn outbox_start(&self, jobs: &[i64], now: Timestamp) -> StoreResult<Vec<i64>>;
    /// Records what became of sends, all in one transaction (the dispatcher groups them).
    async fn outbox_record(&self, outcomes: &[JobOutcome], now: Timestamp) -> StoreResult<()>;
    async fn outbox_sent(&self, job: i64, provider_message_id: &str, now: Timestamp) -> StoreResult<()> {
        self.outbox_record(&[JobOutcome::Sent { job, provider_message_id: provider_message_id.to_owned() }], now).await
    }
    async fn outbox_failed(
        &self,
        job: i64,
        error: parley_core::message::ProviderError,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.outbox_record(&[JobOutcome::Failed { job, error }], now).await
    }
    /// The request may or may not have reached the provider: never resent automatically.
    async fn outbox_unknown(&self, job: i64, reason: &str, now: Timestamp) -> StoreResult<()> {
        self.outbox_record(&[JobOutcome::Unknown { job, reason: reason.to_owned() }], now).await
    }
    async fn outbox_retry(&self, job: i64, error: &str, retry_at: Timestamp, now: Timestamp) -> StoreResult<()> {
        self.outbox_record(&[JobOutcome::Retry { job, error: error.to_owned(), at: retry_at }], now).await
    }
    /// Expired leases: `claimed` jobs go back to the queue (never sent); `sending` ones (the
    /// process died mid-send) become `unknown`.
    async fn expire_outbox_leases(&self, now: Timestamp) -> StoreResult<u64>;
    /// How many of the channel's jobs wait, are in flight, failed or are unknown.
    async fn outbox_counts(&self, ws: WorkspaceId, channel: ChannelId) -> StoreResult<OutboxCounts>;
    /// An agent retries a failed or unknown message: back to the queue.
    async fn requeue_message(&self, ws: WorkspaceId, message: MessageId, now: Timestamp) -> StoreResult<Message>;
    /// Not found when the viewer may not see its channel.
    async fn message(&self, ws: WorkspaceId, id: MessageId, viewer: Viewer) -> StoreResult<Message>;
}

/// Consent and contact flags, uploads.
#[async_trait]
pub trait Consents {
    async fn record_opt_in(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        opt_in: NewOptIn,
        now: Timestamp,
    ) -> StoreResult<OptIn>;
    async fn opt_ins(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<Vec<OptIn>>;
    async fn revoke_opt_in(&self, ws: WorkspaceId, by: &ContactRef, id: i64, now: Timestamp) -> StoreResult<()>;
    /// An agent saw the identity change; sends are allowed again.
    async fn acknowledge_identity(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<Contact>;
    async fn set_blocked(
        &self,
        ws: WorkspaceId,
        by: &ContactRef,
        blocked: bool,
        now: Timestamp,
    ) -> StoreResult<Contact>;
    /// Whether sends to the contact are blocked, and since when its number belongs to someone
    /// new (until an agent acknowledges it).
    async fn contact_flags(&self, ws: WorkspaceId, by: &ContactRef) -> StoreResult<ContactFlags>;
    async fn record_upload(&self, ws: WorkspaceId, upload: Upload, now: Timestamp) -> StoreResult<Upload>;
    /// The file with this provider media id, on a channel the viewer sees: an upload, or a
    /// customer's attachment once Parley has it (`filename` is then `None`).
    async fn upload_by_provider_id(&self, ws: WorkspaceId, viewer: Viewer, media_id: &str) -> StoreResult<Upload>;
}

/// Message templates per WhatsApp Business Account: versions submitted here, the provider's
/// list (syncs), review outcomes (webhooks, applied with the rest of a webhook in `apply_inbound`).
#[async_trait]
pub trait Templates {
    /// Stores version 1 of a new template, `submitting`, before it goes to the provider (so a
    /// review webhook that overtakes the provider's answer finds it). `Conflict { field: "name" }`
    /// when the name exists in that language.
    async fn create_template(
        &self,
        ws: WorkspaceId,
        submission: TemplateSubmission,
        now: Timestamp,
    ) -> StoreResult<StoredTemplate>;
    /// Stores the next version of template `id`, `submitting`.
    async fn add_template_version(
        &self,
        ws: WorkspaceId,
        id: i64,
        submission: TemplateSubmission,
        now: Timestamp,
    ) -> StoreResult<StoredTemplate>;
    /// Records the provider's answer to the submission of `version`.
    async fn finish_template_submission(
        &self,
        ws: WorkspaceId,
        id: i64,
        version: i64,
        result: SubmissionResult,
        now: Timestamp,
    ) -> StoreResult<Option<StoredTemplate>>;
    /// One template with its versions (newest first).
    async fn template(&self, ws: WorkspaceId, waba_id: &str, name: &str, language: &str)
    -> StoreResult<StoredTemplate>;
    /// The WABA's templates (without versions), by name and language.
    async fn templates(&self, ws: WorkspaceId, waba_id: &str) -> StoreResult<Vec<StoredTemplate>>;
    /// Brings the stored templates in line with the provider's list.
    async fn sync_templates(
        &self,
        ws: WorkspaceId,
        waba_id: &str,
        listed: &[ListedTemplate],
        now: Timestamp,
    ) -> StoreResult<SyncReport>;
    /// Removes every language of template `name` (after the provider deleted it); answers how many.
    async fn delete_templates(&self, ws: WorkspaceId, waba_id: &str, name: &str, now: Timestamp) -> StoreResult<u64>;
}

/// Each number's health (quality, status, limit tier, throughput, name) and the messaging
/// limit's use.
#[async_trait]
pub trait Numbers {
    /// Applies what the provider said (`checked`: read from the number's fields) to one channel;
    /// every field that changed becomes an event and a notification. Answers those fields.
    async fn apply_health(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        change: &parley_core::health::HealthChange,
        checked: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<HealthFieldChange>>;
    async fn channel_health(&self, ws: WorkspaceId, channel: ChannelId) -> StoreResult<HealthRecord>;
    /// Unique business-initiated recipients of the WABA in the 24 h before `now`.
    async fn limit_usage(&self, ws: WorkspaceId, waba_id: &str, now: Timestamp) -> StoreResult<LimitUsage>;
}

/// Notices for owners and managers (number health, template reviews).
#[async_trait]
pub trait Notifications {
    /// Newest first, before id `before`, with whether `user` read each: the user's own, and the
    /// team's notices when `team_notices` (owners and managers).
    async fn notifications(
        &self,
        ws: WorkspaceId,
        user: UserId,
        team_notices: bool,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Notification>>;
    /// Not found for a notification the user does not get.
    async fn mark_notification_read(
        &self,
        ws: WorkspaceId,
        user: UserId,
        team_notices: bool,
        id: i64,
        now: Timestamp,
    ) -> StoreResult<()>;
}

/// How the team works conversations: automatic assignment (mode, cap, each user's
/// availability) and closing notes.
#[async_trait]
pub trait Assignment {
    /// Gives a conversation to an available agent (of `team` when given; members only on a
    /// private number; under the workspace's cap), in turn (`RoundRobin`) or the least loaded
    /// (`LeastOpen`), chosen and written in one transaction so that concurrent choices never
    /// pass the cap; `by` is who asked (none: Parley). Answers the agent, `None` when no one is
    /// available (the conversation is left as it was).
    async fn assign_available(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        team: Option<TeamId>,
        mode: AutoAssign,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Option<UserId>>;
    async fn assignment_settings(&self, ws: WorkspaceId) -> StoreResult<AssignmentSettings>;
    async fn set_assignment_settings(
        &self,
        ws: WorkspaceId,
        settings: AssignmentSettings,
        now: Timestamp,
    ) -> StoreResult<AssignmentSettings>;
    /// Whether closing asks for a note, and the categories it offers.
    async fn closing_settings(
        &self,
        ws: WorkspaceId,
    ) -> StoreResult<(parley_core::conversation::ClosingNotes, Vec<String>)>;
    async fn set_closing_settings(
        &self,
        ws: WorkspaceId,
        mode: parley_core::conversation::ClosingNotes,
        categories: &[String],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Closes a conversation with its (already checked) note; the assignee stays.
    async fn close_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        note: &parley_core::conversation::ClosingNote,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation>;
    /// Unavailable agents get no conversation automatically.
    async fn set_availability(&self, ws: WorkspaceId, user: UserId, available: bool, now: Timestamp)
    -> StoreResult<()>;
    async fn availability(&self, ws: WorkspaceId, user: UserId) -> StoreResult<bool>;
}

/// Closing conversations an agent answered and the contact never replied to, after the
/// workspace's number of hours (off by default).
#[async_trait]
pub trait AutoClose {
    /// `None`: off.
    async fn auto_close_hours(&self, ws: WorkspaceId) -> StoreResult<Option<i64>>;
    async fn set_auto_close_hours(&self, ws: WorkspaceId, hours: Option<i64>) -> StoreResult<()>;
    /// Closes every such conversation of every workspace whose time came; answers how many.
    async fn auto_close_idle(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Internal notes on conversations, with mentions.
#[async_trait]
pub trait ConversationNotes {
    /// Adds a note (already checked) to a conversation the viewer sees; each mentioned user who
    /// can see it (and is not the author) gets a notification. Not found otherwise.
    async fn add_conversation_note(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        viewer: Viewer,
        note: NewConversationNote<'_>,
        now: Timestamp,
    ) -> StoreResult<ConversationNote>;
    /// Oldest first.
    async fn conversation_notes(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        viewer: Viewer,
    ) -> StoreResult<Vec<ConversationNote>>;
    /// Claims up to `limit` mention mails owed, each until `lease_until` (one server mails it).
    /// Mails no longer owed — the user deactivated, turned mail off or no longer sees the
    /// conversation — are closed as skipped on the way.
    async fn mention_mails_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<MentionMail>>;
    /// Records a mail's outcome: sent, or failed and tried again at `retry_at` (`None`: given up).
    async fn mention_mailed(
        &self,
        id: i64,
        outcome: Result<(), String>,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;
}

/// Tags on conversations (lowercase, already checked), for those who see the conversation.
#[async_trait]
pub trait ConversationTags {
    /// Tag names in use, for suggestions while tagging and filtering: up to
    /// [`TAG_NAMES_LIMIT`] contact tags and as many tags of conversations the viewer sees, in
    /// order.
    async fn tag_names(&self, ws: WorkspaceId, viewer: Viewer) -> StoreResult<TagNames>;
    async fn conversation_tags(&self, ws: WorkspaceId, id: ConversationId, viewer: Viewer) -> StoreResult<Vec<String>>;
    /// Answers all the conversation's tags after the change.
    async fn add_conversation_tags(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
        by: Option<UserId>,
        tags: &[String],
        now: Timestamp,
    ) -> StoreResult<Vec<String>>;
    async fn remove_conversation_tag(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
        by: Option<UserId>,
        tag: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<String>>;
}

/// Replies saved under a `/shortcut` (already checked by `parley_core::canned`).
#[async_trait]
pub trait CannedResponses {
    /// By shortcut; those starting with `prefix` when given.
    async fn canned_responses(&self, ws: WorkspaceId, prefix: Option<&str>) -> StoreResult<Vec<CannedResponse>>;
    /// `Conflict { field: "shortcut" }` when the shortcut is taken.
    async fn create_canned_response(
        &self,
        ws: WorkspaceId,
        shortcut: &str,
        body: &str,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<CannedResponse>;
    async fn update_canned_response(
        &self,
        ws: WorkspaceId,
        id: i64,
        shortcut: Option<&str>,
        body: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<CannedResponse>;
    async fn delete_canned_response(&self, ws: WorkspaceId, id: i64) -> StoreResult<()>;
}

/// Teams and the team a conversation is assigned to.
#[async_trait]
pub trait Teams {
    /// The workspace's teams, by name, each with its members.
    async fn teams(&self, ws: WorkspaceId) -> StoreResult<Vec<Team>>;
    /// `Conflict { field: "name" }` when the workspace has a team of that name.
    async fn create_team(&self, ws: WorkspaceId, name: &str, now: Timestamp) -> StoreResult<Team>;
    async fn rename_team(&self, ws: WorkspaceId, id: TeamId, name: &str) -> StoreResult<Team>;
    /// Removes the team; its conversations are left in no team (events say so).
    async fn delete_team(&self, ws: WorkspaceId, id: TeamId, by: Option<UserId>, now: Timestamp) -> StoreResult<()>;
    /// Replaces the members (`unknown_user` for an id not of this workspace).
    async fn set_team_members(&self, ws: WorkspaceId, id: TeamId, users: &[UserId]) -> StoreResult<Team>;
    /// Puts the conversation in a team's queue, or in none; an event names who did it.
    async fn set_conversation_team(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        team: Option<TeamId>,
        by: Option<UserId>,
        now: Timestamp,
    ) -> StoreResult<Conversation>;
}

/// Full-text search over messages and notes (contacts are searched by `Contacts::contacts`).
/// Every term must start a word of the text; the viewer's channel visibility applies.
#[async_trait]
pub trait Search {
    /// Messages matching `terms`, newest first (revoked ones left out); `before` is the previous
    /// page's `next_cursor`.
    async fn search_messages(
        &self,
        ws: WorkspaceId,
        terms: &SearchTerms,
        viewer: Viewer,
        before: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Page<MessageHit>>;
    /// Notes matching `terms`, newest first: internal notes on conversations the viewer sees,
    /// and notes on contacts.
    async fn search_notes(
        &self,
        ws: WorkspaceId,
        terms: &SearchTerms,
        viewer: Viewer,
        limit: u32,
    ) -> StoreResult<Vec<NoteHit>>;
}

/// The ordered event log that realtime, workflows and webhooks read.
#[async_trait]
pub trait Events {
    /// The workspace's events after `after` (up to `upto` when given) that the viewer may see:
    /// events of a channel only for those who see the channel.
    async fn events(
        &self,
        ws: WorkspaceId,
        viewer: Viewer,
        after: EventId,
        upto: Option<EventId>,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
    /// The ids of every committed event after `after`, any workspace's, ascending: a follower
    /// finds holes (transactions still committing) in this sequence, which has none otherwise.
    async fn event_ids_after(&self, after: EventId, limit: u32) -> StoreResult<Vec<i64>>;
    /// The newest event's id (0 when there is none).
    async fn last_event_id(&self, ws: WorkspaceId) -> StoreResult<EventId>;
    /// Who held the conversation just before event `before`, as its assignment events say
    /// (`None`: nobody, or never assigned).
    async fn assignee_at(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        before: EventId,
    ) -> StoreResult<Option<UserId>>;
    /// What happened to a conversation the viewer sees (`conversation.*` events but its notes:
    /// assignments, team and status changes, tags), oldest first, the newest `limit`.
    async fn conversation_activity(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        viewer: Viewer,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
}

/// Everything Parley stores. `open` returns one as `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    Accounts
    + Users
    + Sessions
    + Contacts
    + ContactImports
    + ContactMerges
    + Channels
    + ChannelMoves
    + PlannedMoves
    + Inbox
    + InboxViews
    + Outbox
    + Consents
    + Templates
    + Numbers
    + Notifications
    + Assignment
    + AutoClose
    + CannedResponses
    + ConversationNotes
    + ConversationTags
    + Search
    + Teams
    + Events
    + Subscriptions
    + CloudApi
    + Bots
    + Workflows
    + Fees
    + Ledger
    + FeePayments
    + FeeReconciliations
    + Send
    + Sync
{
    /// `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Applies pending migrations; `open` already does this unless told not to.
    async fn migrate(&self) -> StoreResult<()>;
}

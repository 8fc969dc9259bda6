//! Values the store traits take and return that are not domain types of their own.

use parley_core::account::{Role, User, Workspace};
use parley_core::channel::{Channel, Provider, Visibility};
use parley_core::conversation::{ConversationStatus, MediaState, Message};
use parley_core::ids::{
    ChannelId, ContactId, ConversationId, EventId, MediaId, MessageId, TeamId, TokenId, UserId, WorkspaceId,
};
use parley_core::message::InboundEvent;
use parley_core::{Email, Timestamp};
use serde::Serialize;

/// A user to create; the password is already hashed (argon2id) by the caller.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

/// An API token to create: only its hash and a short display prefix are stored.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    pub hash: String,
    pub prefix: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, to recognise it in a list.
    pub prefix: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Who a presented token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_id: TokenId,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    /// The workspace's default region for national phone numbers (saves a query per request).
    pub default_region: Option<String>,
}

/// A note to add: who writes it, its (checked) text and the users it names.
#[derive(Clone, Copy, Debug)]
pub struct NewConversationNote<'a> {
    pub author: UserId,
    pub body: &'a str,
    pub mentions: &'a [UserId],
}

/// A mention owed a mail, claimed for a while by the mail worker that read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MentionMail {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    /// The mentioned user's address, name and language (`None`: English).
    pub to: String,
    pub user_name: String,
    pub locale: Option<String>,
    pub author_name: String,
    pub conversation_id: ConversationId,
    pub note: String,
    pub created_at: Timestamp,
    /// Tries before this one.
    pub attempts: u32,
}

/// An internal note on a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConversationNote {
    pub id: i64,
    pub conversation_id: ConversationId,
    pub author_id: Option<UserId>,
    pub body: String,
    /// The users it mentions (notified when they can see the conversation).
    pub mentions: Vec<UserId>,
    pub created_at: Timestamp,
}

/// A reply saved under a `/shortcut`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CannedResponse {
    pub id: i64,
    pub shortcut: String,
    pub body: String,
    pub created_by: Option<i64>,
    #[serde(skip)]
    pub updated_at: i64,
}

/// A contact's flags that WhatsApp's rules read.
#[derive(Clone, Debug, Serialize)]
pub struct ContactFlags {
    pub blocked_at: Option<Timestamp>,
    /// Set when WhatsApp said the number now belongs to someone else; cleared by acknowledging.
    pub identity_changed_at: Option<Timestamp>,
}

/// The user behind a web session, with what each request needs.
#[derive(Clone, Debug)]
pub struct SessionOwner {
    pub user: User,
    pub default_region: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Bootstrapped {
    pub workspace: Workspace,
    pub owner: User,
    pub token: ApiToken,
}

#[derive(Clone, Debug, Default)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    /// `Some(None)` turns national-number input off.
    pub default_region: Option<Option<String>>,
    /// Whether templates need a recorded opt-in (or an inbound message).
    pub require_opt_in: Option<bool>,
}

/// A contact search. `before` is the keyset cursor: the last id of the previous page.
#[derive(Clone, Debug, Default)]
pub struct ContactQuery {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub limit: u32,
    pub before: Option<ContactId>,
}

/// One page of a keyset-paginated list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub id: EventId,
    pub kind: String,
    pub subject_id: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
}

/// A channel to create; secrets already sealed by the caller.
#[derive(Clone, Debug)]
pub struct NewChannel {
    pub provider: Provider,
    pub name: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    pub graph_base_url: String,
    pub sealed_secrets: String,
    pub webhook_key: String,
    pub visibility: Visibility,
    pub throughput: i64,
}

/// The connection a number moves to (another provider, or other ids at the same one); secrets
/// already sealed by the caller.
#[derive(Clone, Debug)]
pub struct ChannelMove {
    pub provider: Provider,
    pub phone_number_id: String,
    pub waba_id: String,
    pub graph_base_url: String,
    pub sealed_secrets: String,
    pub webhook_key: String,
}

impl ChannelMove {
    /// The same channel (its id, workspace, conversations) as this connection has it: its
    /// provider, ids, base URL, credentials and webhook key.
    pub fn onto(self, channel: Channel) -> Channel {
        Channel {
            provider: self.provider,
            phone_number_id: self.phone_number_id,
            waba_id: self.waba_id,
            graph_base_url: self.graph_base_url,
            sealed_secrets: self.sealed_secrets,
            webhook_key: self.webhook_key,
            ..channel
        }
    }
}

/// A connection a number had before a move, and the traffic of its time (messages created while
/// it was the channel's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastConnection {
    pub id: i64,
    pub provider: Provider,
    pub phone_number_id: String,
    pub waba_id: String,
    pub webhook_key: String,
    pub active_from: Timestamp,
    /// The cut-over to the next connection.
    pub active_until: Timestamp,
    pub messages_in: i64,
    pub messages_out: i64,
    /// What the move that ended this connection did and could not do, as answered then.
    pub report: Option<serde_json::Value>,
}

/// A move planned for a later cut-over: the new connection, waiting for its time.
#[derive(Clone, Debug)]
pub struct PlannedMove {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub to: ChannelMove,
    pub cutover_at: Timestamp,
    /// Re-create the old account's approved templates at the new one, at the cut-over.
    pub resubmit_templates: bool,
    pub planned_by: Option<UserId>,
    /// Why the move could not be made at its time: it is not tried again (plan it again, or
    /// cancel it).
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// How long after a cut-over the old provider's webhooks are still taken: the longest a
/// provider retries a delivery (a week for Meta and 360dialog) with room to spare.
pub const LATE_WEBHOOKS_SECS: i64 = 30 * 24 * 3600;

/// Who is reading, for channel visibility: owners, managers and the server's own workers see
/// every channel of the workspace; an agent sees shared channels and the private ones they are a
/// member of. Every query that returns conversations, messages or channel events takes one, so
/// the rule is applied in SQL, not left to the caller.
/// The default (`All`) is for the server's own work and tests; API handlers always say who reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Viewer {
    #[default]
    All,
    Agent(UserId),
}

impl Viewer {
    /// The viewer a user of `role` is.
    pub fn of(user: UserId, role: Role) -> Viewer {
        if role.can_administer() { Viewer::All } else { Viewer::Agent(user) }
    }

    /// The agent to restrict to, bound into the visibility condition (`NULL`: no restriction).
    pub(crate) fn agent(self) -> Option<i64> {
        match self {
            Viewer::All => None,
            Viewer::Agent(user) => Some(user.get()),
        }
    }
}

/// Changes to a channel; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub display_phone_number: Option<String>,
    pub graph_base_url: Option<String>,
    pub sealed_secrets: Option<String>,
    pub visibility: Option<Visibility>,
    pub throughput: Option<i64>,
    /// Unique business-initiated recipients per 24 h; `Some(None)`: unlimited.
    pub messaging_limit: Option<Option<i64>>,
}

/// An inbound event and the channel it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct RoutedEvent<'a> {
    pub channel: &'a Channel,
    pub event: &'a InboundEvent,
}

/// One webhook's routed events, with its row in the inbound journal when it was acknowledged
/// before being applied (`Inbox::apply_webhooks` applies such a row once).
#[derive(Clone, Copy, Debug)]
pub struct InboundWebhook<'a> {
    pub journal_id: Option<i64>,
    pub events: &'a [RoutedEvent<'a>],
}

/// A webhook to keep in the inbound journal as it was received: the key of the webhook path that
/// took it, the raw body and the signature header, checked before it was acknowledged.
#[derive(Clone, Copy, Debug)]
pub struct NewJournalEntry<'a> {
    pub webhook_key: &'a str,
    pub body: &'a str,
    pub signature: Option<&'a str>,
}

/// A journaled webhook not applied yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: i64,
    pub webhook_key: String,
    pub body: String,
    pub signature: Option<String>,
    pub received_at: Timestamp,
}

/// What applying a webhook did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboundOutcome {
    /// New messages stored.
    pub messages: u32,
    /// Messages and statuses already stored: no-ops.
    pub duplicates: u32,
    /// Status reports recorded.
    pub statuses: u32,
    /// Other events recorded (preferences, template and account updates, …).
    pub others: u32,
    /// Journaled webhooks skipped: another transaction had applied them.
    pub already_applied: u32,
}

/// A conversation list query; `cursor` is the last item of the previous page.
#[derive(Clone, Debug, Default)]
pub struct ConversationQuery {
    pub viewer: Viewer,
    pub assignee: Option<AssigneeFilter>,
    /// Only conversations with this (lowercase) tag.
    pub tag: Option<String>,
    /// Only conversations whose contact has this (lowercase) tag.
    pub contact_tag: Option<String>,
    pub contact: Option<ContactId>,
    pub channel: Option<ChannelId>,
    pub status: Option<ConversationStatus>,
    pub team: Option<TeamFilter>,
    pub limit: u32,
    pub cursor: Option<SortKey>,
}

/// Tag names suggested at most, of each kind (see [`crate::ConversationTags::tag_names`]).
pub const TAG_NAMES_LIMIT: i64 = 500;

/// Tag names in use in a workspace, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TagNames {
    pub contact: Vec<String>,
    pub conversation: Vec<String>,
}

/// Counts stop here: a tab says "999+" rather than walk a million rows for an exact figure.
pub const OPEN_COUNT_CAP: i64 = 1000;

/// Open conversations per inbox tab (see [`crate::Inbox::open_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpenCounts {
    pub mine: i64,
    pub unassigned: i64,
    pub all: i64,
    /// Held by bots.
    pub bots: i64,
}

/// Which team's queue a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeamFilter {
    /// Conversations in no team.
    None,
    Team(TeamId),
    /// Conversations of any team this user is a member of.
    MemberOf(UserId),
}

/// A team: a named group of users whose queue conversations can be assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    /// Members, by id.
    pub user_ids: Vec<UserId>,
    pub created_at: Timestamp,
}

/// Whose conversations a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssigneeFilter {
    Unassigned,
    User(UserId),
    /// Held by any bot.
    Bots,
}

/// What the inbox list shows beside a conversation.
#[derive(Clone, Debug, Serialize)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub last_message: Option<LastMessage>,
    /// The customer's messages since an agent last read the conversation.
    pub unread: i64,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastMessage {
    /// `in` or `out`.
    pub direction: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub status: String,
    pub sent_at: Timestamp,
}

/// A thread page: messages after `cursor`, oldest first.
#[derive(Clone, Debug, Default)]
pub struct MessageQuery {
    pub viewer: Viewer,
    pub limit: u32,
    pub cursor: Option<SortKey>,
}

/// A keyset position: a time and an id to break ties. Rendered as `time.id` in cursors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub at: i64,
    pub id: i64,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('.')?;
        Some(SortKey { at: at.parse().ok()?, id: id.parse().ok()? })
    }

    pub fn render(&self) -> String {
        format!("{}.{}", self.at, self.id)
    }
}

/// An inbound attachment to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaJob {
    pub id: MediaId,
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub provider_media_id: String,
    pub mime_type: Option<String>,
    /// Including the current one.
    pub attempts: i64,
    /// The webhook key of the connection that delivered the message: the channel's current
    /// one, or a past one after the number moved to another provider (`None` on files from
    /// before this was recorded: the channel's current connection).
    pub connection_key: Option<String>,
}

/// A downloaded attachment's description; the bytes live under the data dir by `sha256`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaFile {
    pub state: MediaState,
    pub sha256: Option<String>,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub last_error: Option<String>,
}

/// A send to queue (or to judge only, when `dry_run`).
#[derive(Clone)]
pub struct SendRequest<'a> {
    pub ws: WorkspaceId,
    /// Who sends: an agent may only send on a channel they can see.
    pub viewer: Viewer,
    pub channel: ChannelId,
    pub to: &'a parley_core::contact::ContactRef,
    pub messages: &'a [parley_core::outbound::OutboundMessage],
    /// The sender's own key (scoped to `author`, or to the channel without one): the same
    /// request again replays what it queued; another request under it is refused.
    pub idempotency_key: Option<&'a str>,
    pub author: Option<UserId>,
    pub dry_run: bool,
    /// Fills the messages from the recipient as the send's own transaction reads it (template
    /// parameters such as `{{contact.first_name}}`), before they are judged and stored; a
    /// refusal names the message's index.
    pub personalize: Option<&'a Personalize>,
}

impl std::fmt::Debug for SendRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRequest")
            .field("ws", &self.ws)
            .field("channel", &self.channel)
            .field("to", &self.to)
            .field("messages", &self.messages.len())
            .field("dry_run", &self.dry_run)
            .field("personalized", &self.personalize.is_some())
            .finish_non_exhaustive()
    }
}

/// See [`SendRequest::personalize`].
pub type Personalize = dyn Fn(
        &parley_core::contact::Contact,
        &mut [parley_core::outbound::OutboundMessage],
    ) -> Result<(), (usize, parley_core::rules::Refusal)>
    + Send
    + Sync;

/// What a send came to.
#[derive(Clone, Debug)]
pub enum SendOutcome {
    /// Stored and queued, in order.
    Queued(Vec<Message>),
    /// The idempotency key was seen before: the messages queued then.
    Replayed(Vec<Message>),
    /// A dry run: what each message would be.
    Allowed(Vec<parley_core::rules::Allowed>),
    /// Message `index` breaks a rule; nothing was stored.
    Refused { index: usize, refusal: parley_core::rules::Refusal },
}

/// The rule deciding each message of a send (parley_core::rules::check_send behind a closure,
/// so the store stays free of policy).
pub type Decide<'a> = &'a (
        dyn Fn(
    &SendFacts,
    &parley_core::outbound::OutboundMessage,
) -> Result<parley_core::rules::Allowed, parley_core::rules::Refusal>
            + Send
            + Sync
    );

pub use parley_core::rules::SendFacts;
pub use parley_core::template::TemplateRecord;

/// A channel's outbox at a glance: what is waiting, on its way, or needs an agent. Sent jobs are
/// not counted (they only grow; message statuses tell that story).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting for their turn (including retries not due yet).
    pub queued: i64,
    /// Claimed by a dispatcher or being sent right now.
    pub in_flight: i64,
    pub failed: i64,
    /// Possibly sent, outcome never recorded: an agent decides.
    pub unknown: i64,
}

/// What became of one send.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// Accepted by the provider, with its message id.
    Sent { job: i64, provider_message_id: String },
    /// Refused for good, with the provider's code and title.
    Failed { job: i64, error: parley_core::message::ProviderError },
    /// The request may have reached the provider: never resent by itself.
    Unknown { job: i64, reason: String },
    /// Not sent (throttled, provider overloaded…): back in the queue until `at`.
    Retry { job: i64, error: String, at: Timestamp },
}

/// A claimed outbox job with what the dispatcher needs to send it.
#[derive(Clone, Debug)]
pub struct OutboxJob {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub recipient: String,
    pub attempts: i64,
    pub content: parley_core::message::Content,
    pub reply_to: Option<String>,
}

/// An opt-in record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptIn {
    pub id: i64,
    pub contact_id: ContactId,
    /// `None`: every channel.
    pub channel_id: Option<ChannelId>,
    pub source: String,
    pub evidence: Option<String>,
    pub opted_in_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub recorded_by: Option<UserId>,
}

#[derive(Clone, Debug)]
pub struct NewOptIn {
    pub channel_id: Option<ChannelId>,
    pub source: String,
    pub evidence: Option<String>,
    pub opted_in_at: Timestamp,
    pub recorded_by: Option<UserId>,
}

/// A file uploaded for sending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub id: i64,
    pub channel_id: ChannelId,
    pub provider_media_id: String,
    pub sha256: String,
    pub mime_type: String,
    pub size: i64,
    pub filename: Option<String>,
}

/// A message found by a search, with the conversation and contact it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageHit {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub contact_id: ContactId,
    pub contact_name: Option<String>,
    /// `in` or `out`.
    pub direction: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub sent_at: Timestamp,
}

/// A note found by a search: an internal note on a conversation, or a note on a contact.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoteHit {
    /// `conversation` or `contact`.
    pub on: &'static str,
    pub id: i64,
    pub conversation_id: Option<ConversationId>,
    pub contact_id: ContactId,
    pub contact_name: Option<String>,
    pub author_id: Option<UserId>,
    pub body: String,
    pub created_at: Timestamp,
}

/// Changes to a user; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    /// `false` deactivates, `true` reactivates.
    pub active: Option<bool>,
}

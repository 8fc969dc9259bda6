//! Values and trait of outgoing webhook subscriptions: what a workspace subscribed to, where each
//! subscription stands in the event log, and the log of its deliveries.

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::ids::{EventId, UserId, WorkspaceId};
use serde::Serialize;

use crate::Viewer;
use crate::error::StoreResult;

/// A subscription as stored. `sealed_secret` never leaves the server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Subscription {
    pub id: i64,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub url: String,
    /// `parley` (the signed envelope of docs/webhooks.md) or `meta` (Meta's webhooks, signed
    /// with the app's secret, for Cloud API clients).
    pub format: String,
    pub kinds: Vec<String>,
    pub active: bool,
    /// Why it stopped: `failing` (24 h of failed deliveries) or `creator_gone`.
    pub paused_reason: Option<String>,
    pub created_by: UserId,
    /// The creator's role and whether they are still active: the subscription sends what they
    /// may see now.
    #[serde(skip)]
    pub creator_role: Role,
    #[serde(skip)]
    pub creator_active: bool,
    /// Made by a bot: it sends only what concerns the bot's own conversations.
    #[serde(skip)]
    pub creator_bot: bool,
    /// The last event handled.
    pub cursor_event_id: i64,
    /// Failed attempts at the event after the cursor.
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    pub event_failing_since: Option<Timestamp>,
    #[serde(skip)]
    pub sealed_secret: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Subscription {
    /// What the subscription may deliver: what its creator may see.
    pub fn viewer(&self) -> Viewer {
        Viewer::of(self.created_by, self.creator_role)
    }
}

pub struct NewSubscription<'a> {
    pub url: &'a str,
    /// `parley` or `meta`.
    pub format: &'a str,
    pub kinds: &'a [String],
    pub sealed_secret: &'a str,
    pub created_by: UserId,
}

/// Changes to a subscription; `None` keeps the current value. Resuming clears the failure clock
/// (the event in line keeps its own: see `parley_core::outgoing`).
#[derive(Clone, Debug, Default)]
pub struct SubscriptionPatch {
    pub url: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub active: Option<bool>,
    pub sealed_secret: Option<String>,
}

/// One attempt at sending, as the delivery log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub event_id: Option<i64>,
    pub kind: String,
    pub attempt: u32,
    /// `delivered`, `failed` or `given_up`.
    pub outcome: String,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The start of the receiver's answer (at most 512 characters).
    pub response_excerpt: Option<String>,
    pub replay: bool,
    pub created_at: Timestamp,
}

/// What an attempt did, to record.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub event_id: Option<i64>,
    pub kind: String,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
}

/// How the subscription moves after an attempt at the event after its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorMove {
    /// Delivered: the cursor moves to the event, failures are forgotten.
    Delivered,
    /// Failed: try again at this time.
    RetryAt(Timestamp),
    /// Failed for a day: paused (owners and managers are notified).
    Pause,
    /// Failed for three days: given up, the cursor moves past it.
    GiveUp,
}

/// What forwarding a message in Meta's shape needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardFacts {
    pub direction: String,
    /// The provider's JSON of an inbound message (`{"message", "contact"}`).
    pub raw: Option<String>,
    pub provider_message_id: Option<String>,
    /// The customer's WhatsApp id and BSUID.
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    pub pricing: Option<String>,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    /// Parley's typed content (JSON) and the provider's time: what a message of a provider
    /// whose JSON is not Meta's is written again from.
    pub content: String,
    pub sent_at: parley_core::Timestamp,
}

/// A replay asked for: the events `next_event_id..=to_event_id` sent again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Replay {
    pub id: i64,
    pub subscription_id: i64,
    pub next_event_id: i64,
    pub to_event_id: i64,
}

#[async_trait]
pub trait Subscriptions {
    /// The cursor starts at the newest event: a subscription receives what happens after it.
    async fn create_subscription(
        &self,
        ws: WorkspaceId,
        new: NewSubscription<'_>,
        now: Timestamp,
    ) -> StoreResult<Subscription>;
    async fn subscriptions(&self, ws: WorkspaceId) -> StoreResult<Vec<Subscription>>;
    async fn subscription(&self, ws: WorkspaceId, id: i64) -> StoreResult<Subscription>;
    async fn update_subscription(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: SubscriptionPatch,
        now: Timestamp,
    ) -> StoreResult<Subscription>;
    async fn delete_subscription(&self, ws: WorkspaceId, id: i64) -> StoreResult<()>;
    /// Every active subscription, all workspaces (the delivery worker's list).
    async fn active_subscriptions(&self) -> StoreResult<Vec<Subscription>>;
    /// Takes or renews the lease on a subscription for `holder` until `until`: false when
    /// another server holds an unexpired one (several servers on one PostgreSQL).
    async fn lease_subscription(&self, id: i64, holder: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool>;
    /// Records an attempt at event `at` (the one after the cursor) and moves the subscription as
    /// `mv` says, in one transaction. A pause notifies the workspace's owners and managers.
    async fn record_attempt(
        &self,
        sub: &Subscription,
        attempt: Attempt,
        mv: CursorMove,
        now: Timestamp,
    ) -> StoreResult<Subscription>;
    /// Records attempts that were all taken (2xx), in order, and moves the cursor to `cursor`
    /// (the last of them, or past events not wanted after it), in one transaction. Failures
    /// are forgotten. Never moves the cursor backwards.
    async fn record_delivered(
        &self,
        sub: &Subscription,
        attempts: &[Attempt],
        cursor: EventId,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Moves the cursor forward to `to` over events not wanted (never backwards).
    async fn skip_to(&self, sub_id: i64, to: EventId, now: Timestamp) -> StoreResult<()>;
    /// Records an attempt outside the cursor (a ping or a replay).
    async fn record_side_attempt(
        &self,
        sub_id: i64,
        attempt: Attempt,
        replay: bool,
        now: Timestamp,
    ) -> StoreResult<Delivery>;
    /// Newest first, before delivery id `before`.
    async fn deliveries(
        &self,
        ws: WorkspaceId,
        sub_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Asks for the events `from..=to` to be sent again.
    async fn request_replay(
        &self,
        ws: WorkspaceId,
        sub_id: i64,
        from: EventId,
        to: EventId,
        now: Timestamp,
    ) -> StoreResult<Replay>;
    /// The first and last of the workspace's event ids written within `[from, to]`, if any.
    async fn event_ids_between(
        &self,
        ws: WorkspaceId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Option<(EventId, EventId)>>;
    async fn replays(&self, sub_id: i64) -> StoreResult<Vec<Replay>>;
    /// Moves a replay on to `next` (done, and removed, once past its end).
    async fn advance_replay(&self, replay_id: i64, next: EventId) -> StoreResult<()>;
    /// Removes delivery log entries older than `before`; how many went.
    async fn prune_deliveries(&self, before: Timestamp) -> StoreResult<u64>;
}

/// What the Cloud-API-compatible endpoint and Meta-shaped forwarding look up.
#[async_trait]
pub trait CloudApi {
    /// The message's facts for forwarding it in Meta's shape (`None`: no such message).
    async fn forward_facts(&self, ws: WorkspaceId, message: i64) -> StoreResult<Option<ForwardFacts>>;
    /// The id of the workspace's message with this provider id on this channel.
    async fn message_id_by_provider_id(
        &self,
        ws: WorkspaceId,
        channel: parley_core::ids::ChannelId,
        provider_message_id: &str,
    ) -> StoreResult<Option<i64>>;
    /// The contact WhatsApp knows by this identity (`wa_id` digits or `bsuid`).
    async fn contact_id_by_identity(
        &self,
        ws: WorkspaceId,
        kind: &str,
        value: &str,
    ) -> StoreResult<Option<parley_core::ids::ContactId>>;
}

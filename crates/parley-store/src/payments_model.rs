//! WhatsApp fees: payments by card (Stripe) into an account, and the alerts raised on it. Only
//! Stripe's signed webhook credits a payment (`credit_payment`), once per payment and once per
//! Stripe event.

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::fees::{Currency, Micros};
use parley_core::ids::{UserId, WorkspaceId};

use crate::error::StoreResult;
use crate::{FeeAccount, LedgerEntry};

/// Who began a top-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopUpSource {
    /// An owner, at Stripe's Checkout page.
    Checkout,
    /// The account's auto-recharge, off-session with the saved card.
    Auto,
}

impl TopUpSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TopUpSource::Checkout => "checkout",
            TopUpSource::Auto => "auto",
        }
    }
}

/// Where a top-up stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopUpState {
    /// An auto-recharge not yet asked of Stripe.
    Requested,
    /// At Stripe, waiting for its webhook.
    Pending,
    Succeeded,
    Failed,
}

impl TopUpState {
    pub fn as_str(self) -> &'static str {
        match self {
            TopUpState::Requested => "requested",
            TopUpState::Pending => "pending",
            TopUpState::Succeeded => "succeeded",
            TopUpState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<TopUpState> {
        [TopUpState::Requested, TopUpState::Pending, TopUpState::Succeeded, TopUpState::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub(crate) fn read(text: &str) -> StoreResult<TopUpState> {
        TopUpState::parse(text).ok_or_else(|| crate::StoreError::Corrupt(format!("top-up state {text:?}")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    pub id: i64,
    pub account_id: i64,
    pub source: TopUpSource,
    pub amount: Micros,
    pub currency: Currency,
    pub state: TopUpState,
    pub session_id: Option<String>,
    pub payment_intent: Option<String>,
    pub checkout_url: Option<String>,
    pub attempts: i64,
    pub error: Option<String>,
    pub by: Option<UserId>,
    /// The ledger entry that credited it.
    pub entry_id: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A payment Stripe's signed webhook says succeeded.
#[derive(Clone, Debug)]
pub struct Payment {
    /// Stripe's event id: an event is taken once.
    pub event_id: String,
    pub event_kind: String,
    pub top_up: i64,
    /// The PaymentIntent (its id is the ledger reference `stripe:<id>`).
    pub payment_intent: String,
    /// When the webhook is about the Checkout Session: its id, which must be the top-up's.
    pub session_id: Option<String>,
    pub amount: Micros,
    pub currency: String,
    /// The card to save for auto-recharge (Stripe's PaymentMethod id), with its customer.
    pub payment_method: Option<(String, String)>,
}

/// What crediting a payment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credited {
    Now(Box<LedgerEntry>),
    /// The payment was credited before (another event about it).
    Before,
    /// This very event was taken before (a replay).
    EventSeen,
    /// No such top-up, or the webhook does not match it (amount, currency, session): nothing
    /// credited; the reason is kept on the top-up when there is one.
    Refused(String),
}

/// An alert raised on an account, to mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeAlert {
    pub id: i64,
    pub account: FeeAccount,
    /// `balance_low`, `recharge_failed`, `recharge_cap_reached`.
    pub kind: String,
    pub available: Micros,
    pub threshold: Option<Micros>,
    pub detail: Option<String>,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait FeePayments {
    /// A card top-up an owner begins (`pending` until Stripe's webhook).
    async fn begin_top_up(
        &self,
        ws: WorkspaceId,
        account: i64,
        amount: Micros,
        by: UserId,
        now: Timestamp,
    ) -> StoreResult<TopUp>;
    /// Keeps Stripe's customer for the account (the first one given stays).
    async fn set_stripe_customer(&self, ws: WorkspaceId, account: i64, customer: &str) -> StoreResult<FeeAccount>;
    /// The Checkout Session opened for a pending top-up.
    async fn attach_checkout(&self, top_up: i64, session_id: &str, url: &str, now: Timestamp) -> StoreResult<TopUp>;
    /// An account's top-ups, newest first.
    async fn top_ups(&self, ws: WorkspaceId, account: i64, limit: u32) -> StoreResult<Vec<TopUp>>;
    /// Credits a payment in one transaction: the event taken, the top-up succeeded, a `top_up`
    /// entry `stripe:<payment intent>` written, the card saved.
    async fn credit_payment(&self, payment: Payment, now: Timestamp) -> StoreResult<Credited>;
    /// A payment Stripe's webhook says failed (`false`: the event was taken before). An
    /// auto-recharge's failure raises a `recharge_failed` alert.
    async fn payment_failed(
        &self,
        event_id: &str,
        event_kind: &str,
        top_up: i64,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Takes a Stripe event that changes nothing (`false`: seen before).
    async fn take_stripe_event(&self, event_id: &str, event_kind: &str, now: Timestamp) -> StoreResult<bool>;
    /// Claims up to `limit` requested auto-recharges that are due, each until `lease_until`
    /// (another server skips them meanwhile), with their accounts.
    async fn claim_recharges(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(TopUp, FeeAccount)>>;
    /// Stripe took an auto-recharge (`pending` until its webhook).
    async fn recharge_asked(&self, top_up: i64, payment_intent: &str, now: Timestamp) -> StoreResult<()>;
    /// A top-up Stripe did not take (a Checkout that could not open, a recharge declined): an
    /// auto-recharge is asked again at `retry_at`; otherwise (`None`) it failed for good, with a
    /// `recharge_failed` alert for an auto-recharge.
    async fn top_up_not_taken(
        &self,
        top_up: i64,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Alerts raised at `since` or later not mailed yet, oldest first, tried fewer than
    /// `max_attempts` times (older ones are news no more: a relay set up later does not mail
    /// last month's alerts).
    async fn alerts_to_mail(&self, since: Timestamp, max_attempts: u32, limit: u32) -> StoreResult<Vec<FeeAlert>>;
    /// Records a mailing: sent (`Ok`) or failed with its error (tried again later).
    async fn alert_mailed(&self, alert: i64, outcome: Result<(), String>, now: Timestamp) -> StoreResult<()>;
}

//! WhatsApp fees: accounts per WABA and their ledger (`parley_core::fees::ledger`).

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::fees::ledger::{Balance, EntryKind};
use parley_core::fees::watch::AutoRecharge;
use parley_core::fees::{Currency, Micros};
use parley_core::ids::{UserId, WorkspaceId};

use crate::error::StoreResult;

/// An account: one WhatsApp Business Account of a workspace, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeAccount {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub waba_id: String,
    pub currency: Currency,
    pub money: Balance,
    pub alerts: AlertSettings,
    pub auto_recharge: Option<AutoRecharge>,
    /// Stripe's customer for this account, once a card top-up was begun.
    pub stripe_customer: Option<String>,
    /// The card saved at a Checkout (Stripe's PaymentMethod id), for auto-recharge.
    pub payment_method: Option<String>,
    /// Whether each watch may fire (`parley_core::fees::watch`): once per crossing.
    pub alert_armed: bool,
    pub recharge_armed: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// When to alert about a low balance, and whom to mail besides the in-app notification and the
/// `balance.low` webhook event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertSettings {
    pub threshold: Option<Micros>,
    pub emails: Vec<String>,
}

/// An account to open.
#[derive(Clone, Debug)]
pub struct NewFeeAccount {
    pub waba_id: String,
    pub currency: Currency,
    pub postpaid: bool,
    pub credit_limit: Micros,
}

/// A change to an account's terms (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct FeeAccountPatch {
    pub postpaid: Option<bool>,
    pub credit_limit: Option<Micros>,
    /// `Some(None)`: no alert.
    pub alert_threshold: Option<Option<Micros>>,
    pub alert_emails: Option<Vec<String>>,
    /// `Some(None)`: auto-recharge off.
    pub auto_recharge: Option<Option<AutoRecharge>>,
}

/// An entry to write.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub kind: EntryKind,
    /// Positive, except an adjustment's (its sign says which way).
    pub amount: Micros,
    /// Makes the entry once per account: the same reference again writes nothing
    /// (`Conflict { field: "reference" }`).
    pub reference: Option<String>,
    pub message_id: Option<i64>,
    /// A hold's or charge's market line, category and pricing type.
    pub market: Option<String>,
    pub category: Option<String>,
    pub pricing_type: Option<String>,
    pub pricing: Option<serde_json::Value>,
    pub by: Option<UserId>,
    pub reason: Option<String>,
}

/// An entry as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub account_id: i64,
    pub kind: EntryKind,
    pub amount: Micros,
    pub held_change: Micros,
    pub balance_after: Micros,
    pub held_after: Micros,
    pub reference: Option<String>,
    pub message_id: Option<i64>,
    pub market: Option<String>,
    pub category: Option<String>,
    pub pricing_type: Option<String>,
    pub pricing: Option<serde_json::Value>,
    pub by: Option<UserId>,
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

/// What usage is grouped by, beside the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageKey {
    Category,
    Market,
    PricingType,
    Channel,
}

/// One day's charges of one key (`None`: not known, e.g. unpriced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub key: Option<String>,
    pub messages: i64,
    pub amount: Micros,
}

/// An account's ledger over a period: the balance before and after it, and its entries per
/// kind (count and total change to the balance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerTotals {
    pub opening: Micros,
    pub closing: Micros,
    pub kinds: Vec<(EntryKind, i64, Micros)>,
}

#[async_trait]
pub trait Ledger {
    /// The account's balance before `from` and before `to`, and its entries in between per kind.
    async fn ledger_totals(
        &self,
        ws: WorkspaceId,
        account: i64,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<LedgerTotals>;
    /// Opens an account for a WABA the workspace has a number of (`Invalid unknown_waba`
    /// otherwise; `Conflict { field: "waba_id" }` when one is open).
    async fn open_fee_account(&self, ws: WorkspaceId, new: NewFeeAccount, now: Timestamp) -> StoreResult<FeeAccount>;
    async fn fee_accounts(&self, ws: WorkspaceId) -> StoreResult<Vec<FeeAccount>>;
    async fn fee_account(&self, ws: WorkspaceId, id: i64) -> StoreResult<FeeAccount>;
    async fn update_fee_account(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: FeeAccountPatch,
        now: Timestamp,
    ) -> StoreResult<FeeAccount>;
    /// Writes an entry and moves the account's balance and holds with it, in one transaction
    /// (the account's row locked first). `Invalid` when the amount does not suit the kind.
    async fn record_entry(
        &self,
        ws: WorkspaceId,
        account: i64,
        entry: NewEntry,
        now: Timestamp,
    ) -> StoreResult<LedgerEntry>;
    /// An account's entries, newest first, before the entry id `before`.
    async fn ledger_entries(
        &self,
        ws: WorkspaceId,
        account: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntry>>;
    /// Settles up to `limit` sends queued on an account whose status is final: a charge when
    /// delivered or read, a release when failed (`sql/fee_charges.rs`); answers how many.
    async fn settle_fees(&self, now: Timestamp, limit: u32) -> StoreResult<u64>;
    /// An account's charges on the UTC days from `from`'s (inclusive) to `to`'s (exclusive),
    /// per day and `key`, oldest first (within a day, unknown keys first). Days over by `now`
    /// are kept summed (`sql/fee_usage.rs`), so this does not grow with the ledger.
    async fn fee_usage(
        &self,
        ws: WorkspaceId,
        account: i64,
        from: Timestamp,
        to: Timestamp,
        key: UsageKey,
        now: Timestamp,
    ) -> StoreResult<Vec<UsageRow>>;
    /// The workspace's markup on Meta's prices, in basis points.
    async fn fee_markup(&self, ws: WorkspaceId) -> StoreResult<u32>;
    async fn set_fee_markup(&self, ws: WorkspaceId, basis_points: u32) -> StoreResult<()>;
}

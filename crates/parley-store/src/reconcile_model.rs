//! WhatsApp fees: reconciling an account's ledger with what the provider reports it charged.

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::fees::Micros;
use parley_core::ids::WorkspaceId;

use crate::FeeAccount;
use crate::error::StoreResult;

/// An account's charges of one UTC day, per category and pricing type: how many, and their
/// price before the workspace's markup (the card's rates, as the provider charges them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeTotal {
    pub category: String,
    pub pricing_type: String,
    pub messages: i64,
    pub base_cost: Micros,
}

/// One day's comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Reconciliation {
    pub id: i64,
    pub account_id: i64,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// `matched`, `differences` or `failed`.
    pub outcome: String,
    pub differences: serde_json::Value,
    pub error: Option<String>,
    pub ran_at: Timestamp,
}

#[async_trait]
pub trait FeeReconciliations {
    /// The account's charges written on UTC day `day`, per category and pricing type.
    async fn charge_totals(&self, ws: WorkspaceId, account: i64, day: i64) -> StoreResult<Vec<ChargeTotal>>;
    /// Keeps a day's comparison (replacing an earlier one of that day); one that did not match
    /// is notified to owners and managers.
    async fn save_reconciliation(
        &self,
        account: &FeeAccount,
        day: i64,
        outcome: &str,
        differences: &serde_json::Value,
        error: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Reconciliation>;
    /// An account's comparisons, newest day first.
    async fn reconciliations(&self, ws: WorkspaceId, account: i64, limit: u32) -> StoreResult<Vec<Reconciliation>>;
    /// Every account (all workspaces) without a comparison for `day`, or whose comparison
    /// failed before `retry_before` (tried again).
    async fn accounts_to_reconcile(
        &self,
        day: i64,
        retry_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<FeeAccount>>;
}

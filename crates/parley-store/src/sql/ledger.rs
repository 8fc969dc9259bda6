//! WhatsApp fees: accounts and their ledger. Every entry is written with the account's move in
//! one transaction that locks the account's row first (a no-op update: a row lock on
//! PostgreSQL, the one writer on SQLite), so entries of one account take turns, each sees the
//! balance the previous one left, and a reference seen twice writes nothing the second time.
//! Lock order: the account row is the last lock any transaction takes (`locks.rs`).

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::ledger::{Balance, EntryKind, effect};
use parley_core::fees::watch::AutoRecharge;
use parley_core::fees::{Currency, Micros};
use parley_core::ids::{UserId, WorkspaceId};

use super::{Engine, SqlStore, clamp_limit};
use crate::LedgerTotals;
use crate::error::{StoreError, StoreResult};
use crate::{
    AlertSettings, FeeAccount, FeeAccountPatch, Ledger, LedgerEntry, NewEntry, NewFeeAccount, UsageKey, UsageRow,
};

macro_rules! account_columns {
    () => {
        "id, workspace_id, waba_id, currency, postpaid, credit_limit, balance, held, alert_threshold, alert_emails,
         alert_armed, recharge_threshold, recharge_amount, recharge_monthly_cap, recharge_armed, stripe_customer,
         payment_method, created_at, updated_at"
    };
}

macro_rules! entry_columns {
    () => {
        "id, account_id, kind, amount, held_change, balance_after, held_after, reference, message_id, market,
         category, pricing_type, pricing, by_user, reason, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    workspace_id: i64,
    waba_id: String,
    currency: String,
    postpaid: i64,
    credit_limit: i64,
    balance: i64,
    held: i64,
    alert_threshold: Option<i64>,
    alert_emails: String,
    alert_armed: i64,
    recharge_threshold: Option<i64>,
    recharge_amount: Option<i64>,
    recharge_monthly_cap: Option<i64>,
    recharge_armed: i64,
    stripe_customer: Option<String>,
    payment_method: Option<String>,
    created_at: i64,
    updated_at: i64,
}
type EntryRow = (
    i64,
    i64,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
);

fn account(row: AccountRow) -> StoreResult<FeeAccount> {
    let auto_recharge = match (row.recharge_threshold, row.recharge_amount, row.recharge_monthly_cap) {
        (Some(threshold), Some(amount), Some(cap)) => {
            Some(AutoRecharge { threshold: Micros(threshold), amount: Micros(amount), monthly_cap: Micros(cap) })
        }
        _ => None,
    };
    Ok(FeeAccount {
        id: row.id,
        workspace_id: WorkspaceId(row.workspace_id),
        waba_id: row.waba_id,
        currency: Currency::parse(&row.currency).map_err(StoreError::Corrupt)?,
        money: Balance {
            balance: Micros(row.balance),
            held: Micros(row.held),
            credit_limit: Micros(row.credit_limit),
            postpaid: row.postpaid == 1,
        },
        alerts: AlertSettings {
            threshold: row.alert_threshold.map(Micros),
            emails: serde_json::from_str(&row.alert_emails)?,
        },
        auto_recharge,
        stripe_customer: row.stripe_customer,
        payment_method: row.payment_method,
        alert_armed: row.alert_armed == 1,
        recharge_armed: row.recharge_armed == 1,
        created_at: Timestamp::from_micros(row.created_at),
        updated_at: Timestamp::from_micros(row.updated_at),
    })
}

fn entry(row: EntryRow) -> StoreResult<LedgerEntry> {
    let (id, account_id, kind, amount, held_change, balance_after, held_after, reference, message_id, market, category) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10);
    let (pricing_type, pricing, by, reason, at) = (row.11, row.12, row.13, row.14, row.15);
    Ok(LedgerEntry {
        id,
        account_id,
        kind: EntryKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("entry kind {kind:?}")))?,
        amount: Micros(amount),
        held_change: Micros(held_change),
        balance_after: Micros(balance_after),
        held_after: Micros(held_after),
        reference,
        message_id,
        market,
        category,
        pricing_type,
        pricing: pricing.map(|p| serde_json::from_str(&p)).transpose()?,
        by: by.map(UserId),
        reason,
        created_at: Timestamp::from_micros(at),
    })
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid(parley_core::Invalid::new(code, Some(field.to_owned()), message))
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Locks the account's row (of this workspace) and answers it as it stands.
    pub(crate) async fn lock_fee_account(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        id: i64,
    ) -> StoreResult<FeeAccount> {
        let sql = concat!(
            "UPDATE fee_accounts SET updated_at = updated_at WHERE id = $1 AND workspace_id = $2 RETURNING ",
            account_columns!()
        );
        let row: AccountRow = sqlx::query_as(sql).bind(id).bind(ws.get()).fetch_one(&mut *conn).await?;
        account(row)
    }

    /// The account `id` of the workspace, read in the caller's transaction (not locked).
    pub(crate) async fn fee_account_in(conn: &mut DB::Connection, ws: WorkspaceId, id: i64) -> StoreResult<FeeAccount> {
        let sql = concat!("SELECT ", account_columns!(), " FROM fee_accounts WHERE id = $1 AND workspace_id = $2");
        let row: AccountRow = sqlx::query_as(sql).bind(id).bind(ws.get()).fetch_one(&mut *conn).await?;
        account(row)
    }

    /// Writes `new` on the locked `account`, moving its balance and holds (and `account` with
    /// them); `released`: the hold a charge lets go. The account's watches look at the new
    /// available balance in the same transaction (`fee_watch.rs`).
    pub(crate) async fn write_entry(
        conn: &mut DB::Connection,
        account: &mut FeeAccount,
        new: &NewEntry,
        released: Micros,
        now: Timestamp,
    ) -> StoreResult<LedgerEntry> {
        let moved = effect(new.kind, new.amount, released).map_err(|why| invalid("invalid_amount", "amount", why))?;
        let balance = account.money.balance.0 + moved.balance.0;
        let held = account.money.held.0 + moved.held.0;
        let sql = concat!(
            "INSERT INTO ledger_entries (account_id, kind, amount, held_change, balance_after, held_after, reference,
                message_id, market, category, pricing_type, pricing, by_user, reason, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ",
            entry_columns!()
        );
        let row: EntryRow = sqlx::query_as(sql)
            .bind(account.id)
            .bind(new.kind.as_str().to_owned())
            .bind(moved.balance.0)
            .bind(moved.held.0)
            .bind(balance)
            .bind(held)
            .bind(new.reference.clone())
            .bind(new.message_id)
            .bind(new.market.clone())
            .bind(new.category.clone())
            .bind(new.pricing_type.clone())
            .bind(new.pricing.as_ref().map(|p| p.to_string()))
            .bind(new.by.map(|u| u.get()))
            .bind(new.reason.clone())
            .bind(now.as_micros())
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query("UPDATE fee_accounts SET balance = $1, held = $2, updated_at = $3 WHERE id = $4")
            .bind(balance)
            .bind(held)
            .bind(now.as_micros())
            .bind(account.id)
            .execute(&mut *conn)
            .await?;
        account.money.balance = Micros(balance);
        account.money.held = Micros(held);
        Self::watch_balance(conn, account, now).await?;
        entry(row)
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> Ledger for SqlStore<DB> {
    async fn open_fee_account(&self, ws: WorkspaceId, new: NewFeeAccount, now: Timestamp) -> StoreResult<FeeAccount> {
        if new.credit_limit < Micros::ZERO {
            return Err(invalid("invalid_amount", "credit_limit", "a credit limit is never negative"));
        }
        let mut tx = self.begin_write().await?;
        let numbers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM channels WHERE workspace_id = $1 AND waba_id = $2")
            .bind(ws.get())
            .bind(new.waba_id.clone())
            .fetch_one(&mut *tx)
            .await?;
        if numbers == 0 {
            return Err(invalid(
                "unknown_waba",
                "waba_id",
                "no number of this workspace is in this WhatsApp Business Account",
            ));
        }
        let sql = concat!(
            "INSERT INTO fee_accounts (workspace_id, waba_id, currency, postpaid, credit_limit, balance, held,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $6) RETURNING ",
            account_columns!()
        );
        let row: AccountRow = sqlx::query_as(sql)
            .bind(ws.get())
            .bind(new.waba_id)
            .bind(new.currency.as_str().to_owned())
            .bind(i64::from(new.postpaid))
            .bind(new.credit_limit.0)
            .bind(now.as_micros())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        account(row)
    }

    async fn fee_accounts(&self, ws: WorkspaceId) -> StoreResult<Vec<FeeAccount>> {
        let sql = concat!("SELECT ", account_columns!(), " FROM fee_accounts WHERE workspace_id = $1 ORDER BY id");
        let rows: Vec<AccountRow> = sqlx::query_as(sql).bind(ws.get()).fetch_all(&self.read).await?;
        rows.into_iter().map(account).collect()
    }

    async fn fee_account(&self, ws: WorkspaceId, id: i64) -> StoreResult<FeeAccount> {
        let sql = concat!("SELECT ", account_columns!(), " FROM fee_accounts WHERE id = $1 AND workspace_id = $2");
        let row: AccountRow = sqlx::query_as(sql).bind(id).bind(ws.get()).fetch_one(&self.read).await?;
        account(row)
    }

    async fn update_fee_account(
        &self,
        ws: WorkspaceId,
        id: i64,
        patch: FeeAccountPatch,
        now: Timestamp,
    ) -> StoreResult<FeeAccount> {
        if patch.credit_limit.is_some_and(|c| c < Micros::ZERO) {
            return Err(invalid("invalid_amount", "credit_limit", "a credit limit is never negative"));
        }
        if patch.alert_threshold.flatten().is_some_and(|t| t < Micros::ZERO) {
            return Err(invalid("invalid_amount", "alert_threshold", "a threshold is never negative"));
        }
        if let Some(Some(rule)) = patch.auto_recharge
            && let Some(why) = rule.problem()
        {
            return Err(invalid("invalid_auto_recharge", "auto_recharge", why));
        }
        let mut tx = self.begin_write().await?;
        let current = Self::lock_fee_account(&mut tx, ws, id).await?;
        let alert_threshold = patch.alert_threshold.unwrap_or(current.alerts.threshold);
        let emails = patch.alert_emails.unwrap_or_else(|| current.alerts.emails.clone());
        let recharge = patch.auto_recharge.unwrap_or(current.auto_recharge);
        let sql = concat!(
            "UPDATE fee_accounts SET postpaid = $1, credit_limit = $2, alert_threshold = $3, alert_emails = $4,
                recharge_threshold = $5, recharge_amount = $6, recharge_monthly_cap = $7, alert_armed = $8,
                recharge_armed = $9, updated_at = $10
             WHERE id = $11 RETURNING ",
            account_columns!()
        );
        let row: AccountRow = sqlx::query_as(sql)
            .bind(i64::from(patch.postpaid.unwrap_or(current.money.postpaid)))
            .bind(patch.credit_limit.unwrap_or(current.money.credit_limit).0)
            .bind(alert_threshold.map(|t| t.0))
            .bind(serde_json::to_string(&emails)?)
            .bind(recharge.map(|r| r.threshold.0))
            .bind(recharge.map(|r| r.amount.0))
            .bind(recharge.map(|r| r.monthly_cap.0))
            // New terms re-arm their watch: below a new threshold is a crossing.
            .bind(i64::from(current.alert_armed || alert_threshold != current.alerts.threshold))
            .bind(i64::from(current.recharge_armed || recharge != current.auto_recharge))
            .bind(now.as_micros())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        // The terms are watched at once.
        let mut updated = account(row)?;
        Self::watch_balance(&mut tx, &mut updated, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn record_entry(
        &self,
        ws: WorkspaceId,
        account_id: i64,
        new: NewEntry,
        now: Timestamp,
    ) -> StoreResult<LedgerEntry> {
        let mut tx = self.begin_write().await?;
        let mut account = Self::lock_fee_account(&mut tx, ws, account_id).await?;
        let written = Self::write_entry(&mut tx, &mut account, &new, Micros::ZERO, now).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn ledger_entries(
        &self,
        ws: WorkspaceId,
        account_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.fee_account(ws, account_id).await?;
        let sql = concat!(
            "SELECT ",
            entry_columns!(),
            " FROM ledger_entries WHERE account_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<EntryRow> = sqlx::query_as(sql)
            .bind(account_id)
            .bind(before)
            .bind(clamp_limit(limit, 500))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(entry).collect()
    }

    async fn ledger_totals(
        &self,
        ws: WorkspaceId,
        account_id: i64,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<LedgerTotals> {
        self.fee_account(ws, account_id).await?;
        let balance_before = |at: Timestamp| {
            sqlx::query_scalar::<_, i64>(
                "SELECT balance_after FROM ledger_entries WHERE account_id = $1 AND created_at < $2
                 ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(account_id)
            .bind(at.as_micros())
        };
        let opening = balance_before(from).fetch_optional(&self.read).await?.unwrap_or(0);
        let closing = balance_before(to).fetch_optional(&self.read).await?.unwrap_or(0);
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT kind, COUNT(*), CAST(SUM(amount) AS BIGINT) FROM ledger_entries
             WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY kind ORDER BY kind",
        )
        .bind(account_id)
        .bind(from.as_micros())
        .bind(to.as_micros())
        .fetch_all(&self.read)
        .await?;
        let kinds = rows
            .into_iter()
            .map(|(kind, count, sum)| {
                let kind =
                    EntryKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("entry kind {kind:?}")))?;
                Ok((kind, count, Micros(sum)))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(LedgerTotals { opening: Micros(opening), closing: Micros(closing), kinds })
    }

    async fn fee_markup(&self, ws: WorkspaceId) -> StoreResult<u32> {
        let bp: i64 = sqlx::query_scalar("SELECT fee_markup_bp FROM workspaces WHERE id = $1")
            .bind(ws.get())
            .fetch_one(&self.read)
            .await?;
        Ok(u32::try_from(bp).unwrap_or(0))
    }

    async fn fee_usage(
        &self,
        ws: WorkspaceId,
        account_id: i64,
        from: Timestamp,
        to: Timestamp,
        key: UsageKey,
        now: Timestamp,
    ) -> StoreResult<Vec<UsageRow>> {
        self.fee_account(ws, account_id).await?;
        let day = |t: Timestamp| t.as_micros().div_euclid(86_400_000_000);
        self.usage_by_day(account_id, day(from), day(to), key, now).await
    }

    async fn settle_fees(&self, now: Timestamp, limit: u32) -> StoreResult<u64> {
        self.settle_pending(now, limit).await
    }

    async fn set_fee_markup(&self, ws: WorkspaceId, basis_points: u32) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE workspaces SET fee_markup_bp = $1 WHERE id = $2")
            .bind(i64::from(basis_points))
            .bind(ws.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

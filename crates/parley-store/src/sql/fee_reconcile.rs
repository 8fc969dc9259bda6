//! Reconciliation rows (`reconcile_model.rs`): the day's charges summed per category and
//! pricing type at their base rate (read from each charge's pricing detail, before markup),
//! and each day's comparison kept once per account.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::Micros;
use parley_core::ids::WorkspaceId;
use serde_json::Value;

use super::notifications::notify;
use super::{Engine, SqlStore, clamp_limit};
use crate::error::StoreResult;
use crate::{ChargeTotal, FeeAccount, FeeReconciliations, Ledger, Reconciliation};

const DAY: i64 = 86_400_000_000;

type Row = (i64, i64, i64, String, String, Option<String>, i64);

fn reconciliation(row: Row) -> StoreResult<Reconciliation> {
    let (id, account_id, day, outcome, differences, error, ran_at) = row;
    Ok(Reconciliation {
        id,
        account_id,
        day,
        outcome,
        differences: serde_json::from_str(&differences)?,
        error,
        ran_at: Timestamp::from_micros(ran_at),
    })
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> FeeReconciliations for SqlStore<DB> {
    async fn charge_totals(&self, ws: WorkspaceId, account: i64, day: i64) -> StoreResult<Vec<ChargeTotal>> {
        let account = self.fee_account(ws, account).await?;
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT category, pricing_type, pricing FROM ledger_entries
             WHERE account_id = $1 AND kind = 'charge' AND created_at >= $2 AND created_at < $3",
        )
        .bind(account.id)
        .bind(day * DAY)
        .bind((day + 1) * DAY)
        .fetch_all(&self.read)
        .await?;
        let mut totals: std::collections::BTreeMap<(String, String), (i64, i64)> = Default::default();
        for (category, pricing_type, pricing) in rows {
            let detail: Value = pricing.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
            let rate = detail["rate"].as_str().and_then(|r| Micros::parse(r).ok()).unwrap_or(Micros::ZERO);
            let key = (category.unwrap_or_default(), pricing_type.unwrap_or_else(|| "regular".into()));
            let slot = totals.entry(key).or_default();
            slot.0 += 1;
            slot.1 += rate.0;
        }
        Ok(totals
            .into_iter()
            .map(|((category, pricing_type), (messages, cost))| ChargeTotal {
                category,
                pricing_type,
                messages,
                base_cost: Micros(cost),
            })
            .collect())
    }

    async fn save_reconciliation(
        &self,
        account: &FeeAccount,
        day: i64,
        outcome: &str,
        differences: &Value,
        error: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Reconciliation> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM fee_reconciliations WHERE account_id = $1 AND day = $2")
            .bind(account.id)
            .bind(day)
            .execute(&mut *tx)
            .await?;
        let row: Row = sqlx::query_as(
            "INSERT INTO fee_reconciliations (account_id, day, outcome, differences, error, ran_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, account_id, day, outcome, differences, error, ran_at",
        )
        .bind(account.id)
        .bind(day)
        .bind(outcome.to_owned())
        .bind(differences.to_string())
        .bind(error.map(str::to_owned))
        .bind(now.as_micros())
        .fetch_one(&mut *tx)
        .await?;
        if outcome != "matched" {
            let date = Timestamp::from_micros(day * DAY).to_rfc3339();
            let message = format!(
                "WhatsApp fees account {}: reconciliation of {} with the provider: {outcome}",
                account.waba_id,
                date.get(..10).unwrap_or(&date)
            );
            let payload = serde_json::json!({"account_id": account.id, "day": day, "outcome": outcome});
            notify::<DB>(&mut tx, account.workspace_id, "fees.reconciliation", None, &message, &payload, now).await?;
        }
        tx.commit().await?;
        reconciliation(row)
    }

    async fn reconciliations(&self, ws: WorkspaceId, account: i64, limit: u32) -> StoreResult<Vec<Reconciliation>> {
        let account = self.fee_account(ws, account).await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, account_id, day, outcome, differences, error, ran_at FROM fee_reconciliations
             WHERE account_id = $1 ORDER BY day DESC LIMIT $2",
        )
        .bind(account.id)
        .bind(clamp_limit(limit, 400))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(reconciliation).collect()
    }

    async fn accounts_to_reconcile(
        &self,
        day: i64,
        retry_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<FeeAccount>> {
        let ids: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT a.workspace_id, a.id FROM fee_accounts a
             WHERE NOT EXISTS (SELECT 1 FROM fee_reconciliations r WHERE r.account_id = a.id AND r.day = $1
                                 AND (r.outcome <> 'failed' OR r.ran_at >= $2))
             ORDER BY a.id LIMIT $3",
        )
        .bind(day)
        .bind(retry_before.as_micros())
        .bind(clamp_limit(limit, 100))
        .fetch_all(&self.read)
        .await?;
        let mut accounts = Vec::with_capacity(ids.len());
        for (ws, id) in ids {
            accounts.push(self.fee_account(WorkspaceId(ws), id).await?);
        }
        Ok(accounts)
    }
}

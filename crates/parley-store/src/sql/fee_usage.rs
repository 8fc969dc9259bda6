//! Usage per UTC day and key (`Ledger::fee_usage`): days that are over are read from
//! `fee_usage_days`, summed from the ledger the first time someone asks for them (migration
//! 0049); the days not over yet are summed live. A month's usage at millions of ledger entries
//! is then a few dozen rows read, not the month's charges summed on each request.

use std::collections::HashSet;

use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::Micros;

use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{UsageKey, UsageRow};

const DAY: i64 = 86_400_000_000;
/// A day is summed for good this long after it ends: an entry's transaction that read the
/// clock just before midnight may commit a little after it.
const SETTLED_AFTER: i64 = 3_600_000_000;

impl UsageKey {
    /// The key's name in `fee_usage_days`.
    fn kind(self) -> &'static str {
        match self {
            UsageKey::Category => "category",
            UsageKey::Market => "market",
            UsageKey::PricingType => "pricing_type",
            UsageKey::Channel => "channel",
        }
    }

    /// The key's column in the ledger query, from a closed list (never from input).
    fn column(self) -> &'static str {
        match self {
            UsageKey::Category => "e.category",
            UsageKey::Market => "e.market",
            UsageKey::PricingType => "e.pricing_type",
            UsageKey::Channel => "CAST(m.channel_id AS TEXT)",
        }
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// The account's charges on days `from_day` (inclusive) to `to_day` (exclusive), per day
    /// and key, oldest first (within a day, unknown keys first, then by key).
    pub(crate) async fn usage_by_day(
        &self,
        account: i64,
        from_day: i64,
        to_day: i64,
        key: UsageKey,
        now: Timestamp,
    ) -> StoreResult<Vec<UsageRow>> {
        // The first day that is not over (for good) yet: up to it, the summary table.
        let open_from = (now.as_micros() - SETTLED_AFTER).div_euclid(DAY).clamp(from_day, to_day.max(from_day));
        let mut rows = Vec::new();
        if from_day < open_from {
            self.sum_days(account, from_day, open_from, key).await?;
            let kept: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT day, key, charges, amount FROM fee_usage_days
                 WHERE account_id = $1 AND key_kind = $2 AND day >= $3 AND day < $4",
            )
            .bind(account)
            .bind(key.kind().to_owned())
            .bind(from_day)
            .bind(open_from)
            .fetch_all(&self.read)
            .await?;
            rows.extend(kept.into_iter().map(|(day, key, messages, amount)| UsageRow {
                day,
                key: (!key.is_empty()).then_some(key),
                messages,
                amount: Micros(amount),
            }));
        }
        if open_from < to_day {
            rows.extend(self.usage_from_ledger(account, open_from, to_day, key).await?);
        }
        rows.sort_by(|a, b| (a.day, &a.key).cmp(&(b.day, &b.key)));
        Ok(rows)
    }

    /// Sums the days of `[from_day, to_day)` not summed yet into `fee_usage_days`. Two servers
    /// summing the same day write the same rows: the second's are ignored.
    async fn sum_days(&self, account: i64, from_day: i64, to_day: i64, key: UsageKey) -> StoreResult<()> {
        let summed: Vec<i64> = sqlx::query_scalar(
            "SELECT day FROM fee_usage_summed WHERE account_id = $1 AND key_kind = $2 AND day >= $3 AND day < $4",
        )
        .bind(account)
        .bind(key.kind().to_owned())
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.read)
        .await?;
        let summed: HashSet<i64> = summed.into_iter().collect();
        let missing: Vec<i64> = (from_day..to_day).filter(|d| !summed.contains(d)).collect();
        let (Some(&first), Some(&last)) = (missing.first(), missing.last()) else { return Ok(()) };
        let sums = self.usage_from_ledger(account, first, last + 1, key).await?;
        let mut tx = self.begin_write().await?;
        for row in sums.iter().filter(|r| !summed.contains(&r.day)) {
            sqlx::query(
                "INSERT INTO fee_usage_days (account_id, day, key_kind, key, charges, amount)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(account)
            .bind(row.day)
            .bind(key.kind().to_owned())
            .bind(row.key.clone().unwrap_or_default())
            .bind(row.messages)
            .bind(row.amount.0)
            .execute(&mut *tx)
            .await?;
        }
        for day in missing {
            sqlx::query(
                "INSERT INTO fee_usage_summed (account_id, key_kind, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(account)
            .bind(key.kind().to_owned())
            .bind(day)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The charges of days `[from_day, to_day)` summed from the ledger.
    async fn usage_from_ledger(
        &self,
        account: i64,
        from_day: i64,
        to_day: i64,
        key: UsageKey,
    ) -> StoreResult<Vec<UsageRow>> {
        let column = key.column();
        let sql = format!(
            "SELECT e.created_at / {DAY} AS day, {column} AS k, COUNT(*), CAST(SUM(e.amount) AS BIGINT)
             FROM ledger_entries e LEFT JOIN messages m ON m.id = e.message_id
             WHERE e.account_id = $1 AND e.kind = 'charge' AND e.created_at >= $2 AND e.created_at < $3
             GROUP BY 1, 2"
        );
        let rows: Vec<(i64, Option<String>, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account)
            .bind(from_day * DAY)
            .bind(to_day * DAY)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(day, key, messages, amount)| UsageRow { day, key, messages, amount: Micros(-amount) })
            .collect())
    }
}

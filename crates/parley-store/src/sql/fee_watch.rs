//! An account's watches, applied after every ledger entry inside its transaction (the account's
//! row locked, `ledger.rs`): below the alert threshold, once per crossing, an alert (a row the
//! alerts worker mails, an in-app notification for owners and managers, and the `balance.low`
//! webhook event); below the auto-recharge threshold, once per crossing, a recharge to ask of
//! Stripe (a `requested` top-up the fees worker takes), unless this month's recharges would pass
//! the cap or no card is saved — then an alert says so. Concurrent sends crossing together take
//! turns on the row lock: the first fires, the others find the watch disarmed.

use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::Micros;
use parley_core::fees::watch::watch;
use serde_json::json;

use super::events::NewEvent;
use super::fee_pricing::month_start;
use super::notifications::notify;
use super::{Engine, SqlStore};
use crate::FeeAccount;
use crate::error::StoreResult;

/// What an alert is about.
pub const BALANCE_LOW: &str = "balance_low";
pub const RECHARGE_FAILED: &str = "recharge_failed";
pub const RECHARGE_CAP_REACHED: &str = "recharge_cap_reached";

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Applies the watches to `account` as it now stands (its money already moved).
    pub(crate) async fn watch_balance(
        conn: &mut DB::Connection,
        account: &mut FeeAccount,
        now: Timestamp,
    ) -> StoreResult<()> {
        let available = account.money.available();
        let (was_alert, was_recharge) = (account.alert_armed, account.recharge_armed);
        if let Some(threshold) = account.alerts.threshold {
            let w = watch(threshold, account.alert_armed, available);
            account.alert_armed = w.armed;
            if w.fired {
                Self::raise_fee_alert(conn, account, BALANCE_LOW, Some(threshold), None, now).await?;
            }
        }
        if let Some(rule) = account.auto_recharge {
            let w = watch(rule.threshold, account.recharge_armed, available);
            account.recharge_armed = w.armed;
            if w.fired {
                Self::request_recharge(conn, account, now).await?;
            }
        }
        if (was_alert, was_recharge) != (account.alert_armed, account.recharge_armed) {
            sqlx::query("UPDATE fee_accounts SET alert_armed = $1, recharge_armed = $2 WHERE id = $3")
                .bind(i64::from(account.alert_armed))
                .bind(i64::from(account.recharge_armed))
                .bind(account.id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// A recharge to ask of Stripe, or the alert saying why there is none.
    async fn request_recharge(conn: &mut DB::Connection, account: &FeeAccount, now: Timestamp) -> StoreResult<()> {
        let Some(rule) = account.auto_recharge else { return Ok(()) };
        if account.payment_method.is_none() || account.stripe_customer.is_none() {
            let why = "no card is saved: top up by card once to save one";
            return Self::raise_fee_alert(conn, account, RECHARGE_FAILED, Some(rule.threshold), Some(why), now).await;
        }
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM top_ups WHERE account_id = $1 AND source = 'auto' AND state IN ('requested', 'pending')",
        )
        .bind(account.id)
        .fetch_one(&mut *conn)
        .await?;
        if in_flight > 0 {
            return Ok(());
        }
        let this_month: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM top_ups
             WHERE account_id = $1 AND source = 'auto' AND state <> 'failed' AND created_at >= $2",
        )
        .bind(account.id)
        .bind(month_start(now).as_micros())
        .fetch_one(&mut *conn)
        .await?;
        if !rule.fits(Micros(this_month)) {
            let why = format!("this month's recharges reached the cap of {}", rule.monthly_cap.to_decimal());
            return Self::raise_fee_alert(conn, account, RECHARGE_CAP_REACHED, Some(rule.threshold), Some(&why), now)
                .await;
        }
        sqlx::query(
            "INSERT INTO top_ups (account_id, source, amount, currency, state, next_at, created_at, updated_at)
             VALUES ($1, 'auto', $2, $3, 'requested', $4, $4, $4)",
        )
        .bind(account.id)
        .bind(rule.amount.0)
        .bind(account.currency.as_str().to_owned())
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Records an alert on `account` (mailed later by the alerts worker), notifies owners and
    /// managers in the app, and — for a low balance — appends the event behind `balance.low`.
    pub(crate) async fn raise_fee_alert(
        conn: &mut DB::Connection,
        account: &FeeAccount,
        kind: &str,
        threshold: Option<Micros>,
        detail: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let available = account.money.available();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO fee_alerts (account_id, kind, available, threshold, detail, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(account.id)
        .bind(kind.to_owned())
        .bind(available.0)
        .bind(threshold.map(|t| t.0))
        .bind(detail.map(str::to_owned))
        .bind(now.as_micros())
        .fetch_one(&mut *conn)
        .await?;
        let payload = json!({
            "alert_id": id,
            "alert": kind,
            "account_id": account.id,
            "waba_id": account.waba_id,
            "currency": account.currency.as_str(),
            "available": available.to_decimal(),
            "threshold": threshold.map(Micros::to_decimal),
            "detail": detail,
        });
        let money = |m: Micros| format!("{} {}", m.to_decimal(), account.currency.as_str());
        let message = match kind {
            BALANCE_LOW => format!(
                "WhatsApp fees account {}: {} available, below {}",
                account.waba_id,
                money(available),
                threshold.map(money).unwrap_or_default()
            ),
            _ => format!("WhatsApp fees account {}: auto-recharge: {}", account.waba_id, detail.unwrap_or(kind)),
        };
        notify::<DB>(conn, account.workspace_id, &format!("fees.{kind}"), None, &message, &payload, now).await?;
        if kind == BALANCE_LOW {
            Self::append_event(
                conn,
                account.workspace_id,
                NewEvent::new("fees.balance_low", account.id, &payload),
                now,
            )
            .await?;
        }
        Ok(())
    }
}

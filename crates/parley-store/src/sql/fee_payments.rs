//! Card payments into fees accounts and the alerts to mail (`payments_model.rs`). A payment is
//! credited in one transaction that takes its Stripe event (a replay finds it taken), locks the
//! account's row and writes a `top_up` entry whose reference `stripe:<payment intent>` is unique
//! per account: the Checkout's two events (session completed, payment succeeded) credit once.

use async_trait::async_trait;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::ledger::EntryKind;
use parley_core::fees::{Currency, Micros};
use parley_core::ids::{UserId, WorkspaceId};

use super::fee_watch::RECHARGE_FAILED;
use super::{Engine, SqlStore, clamp_limit};
use crate::error::{StoreError, StoreResult};
use crate::{Credited, FeeAccount, FeeAlert, FeePayments, Ledger, NewEntry, Payment, TopUp, TopUpSource, TopUpState};

const TOP_UP_COLUMNS: &str =
    "id, account_id, source, amount, currency, state, session_id, payment_intent, checkout_url,
    attempts, error, by_user, entry_id, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct TopUpRow {
    id: i64,
    account_id: i64,
    source: String,
    amount: i64,
    currency: String,
    state: String,
    session_id: Option<String>,
    payment_intent: Option<String>,
    checkout_url: Option<String>,
    attempts: i64,
    error: Option<String>,
    by_user: Option<i64>,
    entry_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn top_up(row: TopUpRow) -> StoreResult<TopUp> {
    Ok(TopUp {
        id: row.id,
        account_id: row.account_id,
        source: if row.source == "auto" { TopUpSource::Auto } else { TopUpSource::Checkout },
        amount: Micros(row.amount),
        currency: Currency::parse(&row.currency).map_err(StoreError::Corrupt)?,
        state: TopUpState::read(&row.state)?,
        session_id: row.session_id,
        payment_intent: row.payment_intent,
        checkout_url: row.checkout_url,
        attempts: row.attempts,
        error: row.error,
        by: row.by_user.map(UserId),
        entry_id: row.entry_id,
        created_at: Timestamp::from_micros(row.created_at),
        updated_at: Timestamp::from_micros(row.updated_at),
    })
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid(parley_core::Invalid::new(code, Some(field.to_owned()), message))
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    async fn top_up_in(conn: &mut DB::Connection, id: i64) -> StoreResult<Option<TopUp>> {
        let sql = format!("SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE id = $1");
        let row: Option<TopUpRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
        row.map(top_up).transpose()
    }

    /// The workspace an account belongs to (for the webhooks, which name only the account).
    async fn account_workspace(conn: &mut DB::Connection, account: i64) -> StoreResult<WorkspaceId> {
        let ws: i64 = sqlx::query_scalar("SELECT workspace_id FROM fee_accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&mut *conn)
            .await?;
        Ok(WorkspaceId(ws))
    }

    /// Takes a Stripe event inside the caller's transaction; `false` when taken before.
    async fn take_event_in(conn: &mut DB::Connection, id: &str, kind: &str, now: Timestamp) -> StoreResult<bool> {
        let taken = sqlx::query(
            "INSERT INTO stripe_events (id, kind, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_owned())
        .bind(kind.to_owned())
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await?;
        Ok(DB::rows_affected(&taken) == 1)
    }

    /// Marks a top-up failed; an auto-recharge's failure is alerted.
    async fn fail_top_up_in(conn: &mut DB::Connection, top_up: &TopUp, error: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE top_ups SET state = 'failed', error = $1, next_at = NULL, updated_at = $2 WHERE id = $3")
            .bind(error.to_owned())
            .bind(now.as_micros())
            .bind(top_up.id)
            .execute(&mut *conn)
            .await?;
        if top_up.source == TopUpSource::Auto {
            let ws = Self::account_workspace(conn, top_up.account_id).await?;
            let account = Self::lock_fee_account(conn, ws, top_up.account_id).await?;
            let threshold = account.auto_recharge.map(|r| r.threshold);
            Self::raise_fee_alert(conn, &account, RECHARGE_FAILED, threshold, Some(error), now).await?;
        }
        Ok(())
    }
}

#[apply(engine_bounds!)]
#[async_trait]
impl<DB> FeePayments for SqlStore<DB> {
    async fn begin_top_up(
        &self,
        ws: WorkspaceId,
        account_id: i64,
        amount: Micros,
        by: UserId,
        now: Timestamp,
    ) -> StoreResult<TopUp> {
        if amount <= Micros::ZERO {
            return Err(invalid("invalid_amount", "amount", "a top-up is more than zero"));
        }
        let mut tx = self.begin_write().await?;
        let account = Self::fee_account_in(&mut tx, ws, account_id).await?;
        let sql = format!(
            "INSERT INTO top_ups (account_id, source, amount, currency, state, by_user, created_at, updated_at)
             VALUES ($1, 'checkout', $2, $3, 'pending', $4, $5, $5) RETURNING {TOP_UP_COLUMNS}"
        );
        let row: TopUpRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account.id)
            .bind(amount.0)
            .bind(account.currency.as_str().to_owned())
            .bind(by.get())
            .bind(now.as_micros())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        top_up(row)
    }

    async fn set_stripe_customer(&self, ws: WorkspaceId, account_id: i64, customer: &str) -> StoreResult<FeeAccount> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE fee_accounts SET stripe_customer = COALESCE(stripe_customer, $1) WHERE id = $2 AND workspace_id = $3",
        )
        .bind(customer.to_owned())
        .bind(account_id)
        .bind(ws.get())
        .execute(&mut *tx)
        .await?;
        let account = Self::fee_account_in(&mut tx, ws, account_id).await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn attach_checkout(&self, id: i64, session_id: &str, url: &str, now: Timestamp) -> StoreResult<TopUp> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE top_ups SET session_id = $1, checkout_url = $2, updated_at = $3 WHERE id = $4 RETURNING {TOP_UP_COLUMNS}"
        );
        let row: TopUpRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(session_id.to_owned())
            .bind(url.to_owned())
            .bind(now.as_micros())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        top_up(row)
    }

    async fn top_ups(&self, ws: WorkspaceId, account_id: i64, limit: u32) -> StoreResult<Vec<TopUp>> {
        let account = self.fee_account(ws, account_id).await?;
        let sql = format!("SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE account_id = $1 ORDER BY id DESC LIMIT $2");
        let rows: Vec<TopUpRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account.id)
            .bind(clamp_limit(limit, 200))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(top_up).collect()
    }

    async fn credit_payment(&self, payment: Payment, now: Timestamp) -> StoreResult<Credited> {
        let mut tx = self.begin_write().await?;
        if !Self::take_event_in(&mut tx, &payment.event_id, &payment.event_kind, now).await? {
            return Ok(Credited::EventSeen);
        }
        let Some(found) = Self::top_up_in(&mut tx, payment.top_up).await? else {
            tx.commit().await?;
            return Ok(Credited::Refused(format!("no top-up {}", payment.top_up)));
        };
        let mismatch = if payment.session_id.is_some() && payment.session_id != found.session_id {
            Some("the Checkout Session is not the top-up's")
        } else if payment.amount != found.amount {
            Some("the amount paid is not the top-up's")
        } else if !payment.currency.eq_ignore_ascii_case(found.currency.as_str()) {
            Some("the currency paid is not the top-up's")
        } else {
            None
        };
        if let Some(why) = mismatch {
            sqlx::query("UPDATE top_ups SET error = $1, updated_at = $2 WHERE id = $3")
                .bind(why.to_owned())
                .bind(now.as_micros())
                .bind(found.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Credited::Refused(why.to_owned()));
        }
        let ws = Self::account_workspace(&mut tx, found.account_id).await?;
        if let Some((method, customer)) = &payment.payment_method {
            // Saved only for the account's own customer (a card set up for later use).
            sqlx::query("UPDATE fee_accounts SET payment_method = $1 WHERE id = $2 AND stripe_customer = $3")
                .bind(method.clone())
                .bind(found.account_id)
                .bind(customer.clone())
                .execute(&mut *tx)
                .await?;
        }
        let mut account = Self::lock_fee_account(&mut tx, ws, found.account_id).await?;
        let reference = format!("stripe:{}", payment.payment_intent);
        let before: Option<i64> =
            sqlx::query_scalar("SELECT id FROM ledger_entries WHERE account_id = $1 AND reference = $2")
                .bind(account.id)
                .bind(reference.clone())
                .fetch_optional(&mut *tx)
                .await?;
        if before.is_some() {
            tx.commit().await?;
            return Ok(Credited::Before);
        }
        let entry = NewEntry {
            kind: EntryKind::TopUp,
            amount: found.amount,
            reference: Some(reference),
            message_id: None,
            market: None,
            category: None,
            pricing_type: None,
            pricing: None,
            by: found.by,
            reason: Some(match found.source {
                TopUpSource::Checkout => "card payment (Stripe)".to_owned(),
                TopUpSource::Auto => "auto-recharge (Stripe)".to_owned(),
            }),
        };
        let written = Self::write_entry(&mut tx, &mut account, &entry, Micros::ZERO, now).await?;
        sqlx::query(
            "UPDATE top_ups SET state = 'succeeded', payment_intent = $1, entry_id = $2, error = NULL, next_at = NULL,
                updated_at = $3 WHERE id = $4",
        )
        .bind(payment.payment_intent.clone())
        .bind(written.id)
        .bind(now.as_micros())
        .bind(found.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Credited::Now(Box::new(written)))
    }

    async fn payment_failed(
        &self,
        event_id: &str,
        event_kind: &str,
        top_up_id: i64,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !Self::take_event_in(&mut tx, event_id, event_kind, now).await? {
            return Ok(false);
        }
        if let Some(found) = Self::top_up_in(&mut tx, top_up_id).await?
            && matches!(found.state, TopUpState::Pending | TopUpState::Requested)
        {
            Self::fail_top_up_in(&mut tx, &found, error, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn take_stripe_event(&self, event_id: &str, event_kind: &str, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let taken = Self::take_event_in(&mut tx, event_id, event_kind, now).await?;
        tx.commit().await?;
        Ok(taken)
    }

    async fn claim_recharges(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(TopUp, FeeAccount)>> {
        let due: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM top_ups WHERE state = 'requested' AND next_at <= $1 ORDER BY next_at, id LIMIT $2",
        )
        .bind(now.as_micros())
        .bind(clamp_limit(limit, 100))
        .fetch_all(&self.read)
        .await?;
        let mut claimed = Vec::new();
        for id in due {
            let mut tx = self.begin_write().await?;
            let taken = sqlx::query(
                "UPDATE top_ups SET next_at = $1, attempts = attempts + 1, updated_at = $2
                 WHERE id = $3 AND state = 'requested' AND next_at <= $2",
            )
            .bind(lease_until.as_micros())
            .bind(now.as_micros())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&taken) == 1
                && let Some(found) = Self::top_up_in(&mut tx, id).await?
            {
                let ws = Self::account_workspace(&mut tx, found.account_id).await?;
                let account = Self::fee_account_in(&mut tx, ws, found.account_id).await?;
                claimed.push((found, account));
            }
            tx.commit().await?;
        }
        Ok(claimed)
    }

    async fn recharge_asked(&self, id: i64, payment_intent: &str, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE top_ups SET state = 'pending', payment_intent = $1, next_at = NULL, error = NULL, updated_at = $2
             WHERE id = $3 AND state = 'requested'",
        )
        .bind(payment_intent.to_owned())
        .bind(now.as_micros())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn top_up_not_taken(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let Some(found) = Self::top_up_in(&mut tx, id).await? else { return Ok(()) };
        if !matches!(found.state, TopUpState::Requested | TopUpState::Pending) {
            return Ok(());
        }
        match retry_at.filter(|_| found.state == TopUpState::Requested) {
            Some(at) => {
                sqlx::query("UPDATE top_ups SET error = $1, next_at = $2, updated_at = $3 WHERE id = $4")
                    .bind(error.to_owned())
                    .bind(at.as_micros())
                    .bind(now.as_micros())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            None => Self::fail_top_up_in(&mut tx, &found, error, now).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    async fn alerts_to_mail(&self, since: Timestamp, max_attempts: u32, limit: u32) -> StoreResult<Vec<FeeAlert>> {
        type Row = (i64, i64, String, i64, Option<i64>, Option<String>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, account_id, kind, available, threshold, detail, created_at FROM fee_alerts
             WHERE mailed_at IS NULL AND mail_attempts < $1 AND created_at >= $3 ORDER BY id LIMIT $2",
        )
        .bind(i64::from(max_attempts))
        .bind(clamp_limit(limit, 100))
        .bind(since.as_micros())
        .fetch_all(&self.read)
        .await?;
        let mut alerts = Vec::with_capacity(rows.len());
        let mut conn = self.read.acquire().await?;
        for (id, account_id, kind, available, threshold, detail, at) in rows {
            let ws = Self::account_workspace(&mut conn, account_id).await?;
            let account = Self::fee_account_in(&mut conn, ws, account_id).await?;
            alerts.push(FeeAlert {
                id,
                account,
                kind,
                available: Micros(available),
                threshold: threshold.map(Micros),
                detail,
                created_at: Timestamp::from_micros(at),
            });
        }
        Ok(alerts)
    }

    async fn alert_mailed(&self, alert: i64, outcome: Result<(), String>, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let (mailed_at, error) = match outcome {
            Ok(()) => (Some(now.as_micros()), None),
            Err(e) => (None, Some(e)),
        };
        sqlx::query(
            "UPDATE fee_alerts SET mailed_at = $1, mail_error = $2, mail_attempts = mail_attempts + 1 WHERE id = $3",
        )
        .bind(mailed_at)
        .bind(error)
        .bind(alert)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

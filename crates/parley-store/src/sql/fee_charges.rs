//! Fees on sends (issue 19). Where a send's WhatsApp Business Account has a fee account:
//!
//! - **Queued**: each message is priced by the rate card in force (the category and pricing
//!   type the send rules estimated, the first volume tier — the dearest — and the workspace's
//!   markup). After the messages are written, the account's row is locked (the last lock the
//!   transaction takes: `locks.rs`), the total checked against what is available, and a hold
//!   written per message with a `fee_pending` row; a prepaid account that cannot cover it
//!   refuses the send (`insufficient_balance`) and the transaction is rolled back: nothing is
//!   queued. A dry run shows each message's price.
//! - **Settled** (`settle_fees`, the fees worker): a pending send whose status is final becomes
//!   a charge (delivered or read: priced by the card in force at delivery, with the category and
//!   type WhatsApp reported, its tier by the month's charges so far) or a release (failed). Its
//!   `fee_pending` row is deleted in the same transaction, and each entry's reference
//!   (`charge:<message>`, `release:<message>`) is unique: once, whatever the order or number of
//!   status webhooks. A message without a price (no card in force, no rate for its market) is
//!   held and charged at zero with the reason in its pricing, for the reconciliation to show.
//!
//! Volume tiers are counted by UTC month (Meta counts in the WABA's timezone: at most a few
//! hours apart at a month's turn).

use chrono::Datelike;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::card::{Rate, RateCard};
use parley_core::fees::ledger::EntryKind;
use parley_core::fees::markets::markets_of;
use parley_core::fees::{Category, Micros, Price, PricingModel, PricingType};
use parley_core::ids::WorkspaceId;
use parley_core::rules::{Allowed, Refusal};
use serde_json::{Value, json};

use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{FeeAccount, NewEntry};

/// One message's estimated price, and how it was found.
pub(crate) struct Estimate {
    pub amount: Micros,
    pub category: Category,
    pub pricing_type: PricingType,
    pub market: Option<String>,
    pub detail: Value,
}

/// A send's estimates on its account.
pub(crate) struct SendFees {
    pub account: FeeAccount,
    pub recipient: String,
    pub estimates: Vec<Estimate>,
}

impl SendFees {
    fn total(&self) -> Micros {
        Micros(self.estimates.iter().map(|e| e.amount.0).sum())
    }

    /// Whether the account as read covers the send (the hold checks again, locked).
    pub(crate) fn covered(&self) -> Result<(), Refusal> {
        refusal_unless_covered(&self.account, self.total())
    }
}

fn refusal_unless_covered(account: &FeeAccount, total: Micros) -> Result<(), Refusal> {
    if account.money.covers(total) {
        return Ok(());
    }
    let currency = account.currency.clone();
    Err(Refusal::InsufficientBalance {
        needed: Price { amount: total, currency: currency.clone() },
        available: Price { amount: account.money.available(), currency },
    })
}

fn month_start(at: Timestamp) -> Timestamp {
    let d = at.to_datetime();
    let first = d.date_naive().with_day(1).unwrap_or(d.date_naive());
    Timestamp::from_datetime(first.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// The open fee account of a WABA of the workspace (not locked).
    pub(crate) async fn account_of_waba(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        waba: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM fee_accounts WHERE workspace_id = $1 AND waba_id = $2")
            .bind(ws.get())
            .bind(waba.to_owned())
            .fetch_optional(&mut *conn)
            .await?)
    }

    /// The price of one message to `recipient` by the card in force at `at` in the account's
    /// currency: the `nth` billable of its market and category this month, marked up.
    #[allow(clippy::too_many_arguments)]
    async fn price_in(
        conn: &mut DB::Connection,
        account: &FeeAccount,
        recipient: &str,
        category: Category,
        pricing_type: PricingType,
        nth: u64,
        at: Timestamp,
    ) -> StoreResult<Estimate> {
        let base = json!({"category": category.as_str(), "type": pricing_type.as_str()});
        let estimate = |amount, market, detail| Estimate { amount, category, pricing_type, market, detail };
        if pricing_type.is_free() || category == Category::ReferralConversion {
            return Ok(estimate(Micros::ZERO, None, base));
        }
        let card: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM rate_cards WHERE currency = $1 AND model = 'PMP' AND effective_from <= $2
             ORDER BY effective_from DESC LIMIT 1",
        )
        .bind(account.currency.as_str().to_owned())
        .bind(at.as_micros())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(card) = card else {
            let detail = json!({"category": category.as_str(), "type": pricing_type.as_str(), "unpriced": "no rate card in force"});
            return Ok(estimate(Micros::ZERO, None, detail));
        };
        let mut wanted = vec![category.as_str()];
        let mut c = category;
        while let Some(f) = c.fallback() {
            wanted.push(f.as_str());
            c = f;
        }
        let mut lines = sqlx::QueryBuilder::<DB>::new(
            "SELECT market, category, tier_from, tier_to, rate FROM rate_card_lines WHERE card_id = ",
        );
        lines.push_bind(card).push(" AND category IN (");
        let mut list = lines.separated(", ");
        for w in wanted {
            list.push_bind(w.to_owned());
        }
        lines.push(")");
        let rows: Vec<super::fees::LineRow> = lines.build_query_as().fetch_all(&mut *conn).await?;
        let rates = rows
            .into_iter()
            .filter_map(|(market, cat, from, to, rate)| {
                Some(Rate {
                    market,
                    category: Category::parse(&cat)?,
                    tier_from: from.map(|t| t as u64),
                    tier_to: to.map(|t| t as u64),
                    rate: Micros(rate),
                })
            })
            .collect();
        let card_view = RateCard {
            currency: account.currency.clone(),
            model: PricingModel::PerMessage,
            effective_from: at,
            sample: false,
            source: String::new(),
            rates,
        };
        let markup: i64 = sqlx::query_scalar("SELECT fee_markup_bp FROM workspaces WHERE id = $1")
            .bind(account.workspace_id.get())
            .fetch_one(&mut *conn)
            .await?;
        let markup = u32::try_from(markup).unwrap_or(0);
        match card_view.rate(&markets_of(recipient), category, pricing_type, nth) {
            Ok(priced) => {
                let detail = json!({"category": category.as_str(), "type": pricing_type.as_str(), "card": card,
                    "rated_as": priced.rated_as.map(Category::as_str), "rate": priced.amount.to_decimal(),
                    "markup_bp": markup, "nth": nth});
                Ok(estimate(priced.amount.marked_up(markup), priced.market, detail))
            }
            Err(why) => {
                let detail = json!({"category": category.as_str(), "type": pricing_type.as_str(), "card": card,
                    "unpriced": why.to_string()});
                Ok(estimate(Micros::ZERO, None, detail))
            }
        }
    }

    /// Prices a send's messages when its WABA has a fee account (`None` otherwise), and puts
    /// each price on its decision (what a dry run shows).
    pub(crate) async fn estimate_send(
        conn: &mut DB::Connection,
        ws: WorkspaceId,
        waba: &str,
        recipient: &str,
        decisions: &mut [Allowed],
        now: Timestamp,
    ) -> StoreResult<Option<SendFees>> {
        let Some(id) = Self::account_of_waba(conn, ws, waba).await? else { return Ok(None) };
        let account = Self::fee_account_in(conn, ws, id).await?;
        let mut estimates = Vec::with_capacity(decisions.len());
        for d in decisions.iter_mut() {
            let category = Category::parse(d.category).unwrap_or(Category::Service);
            let estimate = Self::price_in(conn, &account, recipient, category, d.pricing_type, 1, now).await?;
            d.price = Some(Price { amount: estimate.amount, currency: account.currency.clone() });
            estimates.push(estimate);
        }
        Ok(Some(SendFees { account, recipient: recipient.to_owned(), estimates }))
    }

    /// Holds the send's prices on its locked account, with a pending row per message (the
    /// messages are written, in order, as `message_ids`); the refusal when a prepaid account
    /// (or a postpaid one at its limit) cannot cover them — the caller then rolls back.
    pub(crate) async fn hold_send(
        conn: &mut DB::Connection,
        fees: &SendFees,
        message_ids: &[i64],
        now: Timestamp,
    ) -> StoreResult<Result<(), Refusal>> {
        let ws = fees.account.workspace_id;
        let mut account = Self::lock_fee_account(conn, ws, fees.account.id).await?;
        if let Err(refusal) = refusal_unless_covered(&account, fees.total()) {
            return Ok(Err(refusal));
        }
        for (id, estimate) in message_ids.iter().zip(&fees.estimates) {
            let hold = NewEntry {
                kind: EntryKind::Hold,
                amount: estimate.amount,
                reference: Some(format!("hold:{id}")),
                message_id: Some(*id),
                market: estimate.market.clone(),
                category: Some(estimate.category.as_str().to_owned()),
                pricing_type: Some(estimate.pricing_type.as_str().to_owned()),
                pricing: Some(estimate.detail.clone()),
                by: None,
                reason: None,
            };
            Self::write_entry(conn, &account, &hold, Micros::ZERO, now).await?;
            account.money.held = Micros(account.money.held.0 + estimate.amount.0);
            sqlx::query(
                "INSERT INTO fee_pending (message_id, account_id, held, category, pricing_type, recipient)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(*id)
            .bind(account.id)
            .bind(estimate.amount.0)
            .bind(estimate.category.as_str().to_owned())
            .bind(estimate.pricing_type.as_str().to_owned())
            .bind(fees.recipient.clone())
            .execute(&mut *conn)
            .await?;
        }
        Ok(Ok(()))
    }

    /// Settles one pending send whose status is final, if no one did meanwhile.
    async fn settle_one(&self, ws: WorkspaceId, due: &Due, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let account = Self::lock_fee_account(&mut tx, ws, due.account).await?;
        let taken: Option<i64> = sqlx::query_scalar("DELETE FROM fee_pending WHERE message_id = $1 RETURNING held")
            .bind(due.message)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(held) = taken.map(Micros) else { return Ok(false) };
        // A retried message settles again: never a second charge, nor a second release.
        let settled_before = |kind: &str| format!("{kind}:{}", due.message);
        let seen: Option<String> = sqlx::query_scalar(
            "SELECT reference FROM ledger_entries WHERE account_id = $1 AND reference IN ($2, $3) LIMIT 1",
        )
        .bind(account.id)
        .bind(settled_before("charge"))
        .bind(settled_before("release"))
        .fetch_optional(&mut *tx)
        .await?;
        let charged_before = seen.as_deref() == Some(settled_before("charge").as_str());
        let released_before = seen.as_deref() == Some(settled_before("release").as_str());
        if charged_before || (due.status == "failed" && released_before) {
            tx.commit().await?;
            return Ok(true);
        }
        if due.status == "failed" {
            if held > Micros::ZERO {
                let release = NewEntry {
                    kind: EntryKind::Release,
                    amount: held,
                    reference: Some(format!("release:{}", due.message)),
                    message_id: Some(due.message),
                    market: None,
                    category: Some(due.category.clone()),
                    pricing_type: None,
                    pricing: None,
                    by: None,
                    reason: Some("not delivered".to_owned()),
                };
                Self::write_entry(&mut tx, &account, &release, Micros::ZERO, now).await?;
            }
        } else {
            // What WhatsApp reported wins over the estimate.
            let reported: Value =
                due.pricing.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
            let category = reported["category"]
                .as_str()
                .and_then(Category::parse)
                .or_else(|| Category::parse(&due.category))
                .unwrap_or(Category::Service);
            let pricing_type = reported["type"]
                .as_str()
                .and_then(PricingType::parse)
                .or_else(|| PricingType::parse(&due.pricing_type))
                .unwrap_or(PricingType::Regular);
            let at = due.status_at;
            let first = Self::price_in(&mut tx, &account, &due.recipient, category, pricing_type, 1, at).await?;
            let nth = match &first.market {
                Some(market) if first.amount > Micros::ZERO => {
                    let so_far: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM ledger_entries WHERE account_id = $1 AND kind = 'charge' AND category = $2
                           AND market = $3 AND created_at >= $4 AND amount < 0",
                    )
                    .bind(account.id)
                    .bind(category.as_str().to_owned())
                    .bind(market.clone())
                    .bind(month_start(now).as_micros())
                    .fetch_one(&mut *tx)
                    .await?;
                    so_far as u64 + 1
                }
                _ => 1,
            };
            let priced = if nth > 1 {
                Self::price_in(&mut tx, &account, &due.recipient, category, pricing_type, nth, at).await?
            } else {
                first
            };
            let mut detail = priced.detail;
            if let Some(model) = reported["pricing_model"].as_str() {
                detail["model"] = json!(model);
            }
            let charge = NewEntry {
                kind: EntryKind::Charge,
                amount: priced.amount,
                reference: Some(format!("charge:{}", due.message)),
                message_id: Some(due.message),
                market: priced.market,
                category: Some(category.as_str().to_owned()),
                pricing_type: Some(pricing_type.as_str().to_owned()),
                pricing: Some(detail),
                by: None,
                reason: None,
            };
            Self::write_entry(&mut tx, &account, &charge, held, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// A failed message sent again (`requeue_message`) is pending again, without a new hold: its
    /// delivery is charged (once: `charge:<message>` is unique), a new failure releases nothing.
    pub(crate) async fn pend_again(conn: &mut DB::Connection, message: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO fee_pending (message_id, account_id, held, category, pricing_type, recipient)
             SELECT h.message_id, h.account_id, 0, COALESCE(h.category, 'service'), 'regular', o.recipient
             FROM ledger_entries h JOIN outbox o ON o.message_id = h.message_id
             WHERE h.message_id = $1 AND h.kind = 'hold'
               AND NOT EXISTS (SELECT 1 FROM fee_pending p WHERE p.message_id = h.message_id)",
        )
        .bind(message)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// A pending send whose status is final.
struct Due {
    message: i64,
    account: i64,
    category: String,
    pricing_type: String,
    recipient: String,
    status: String,
    pricing: Option<String>,
    status_at: Timestamp,
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Settles up to `limit` pending sends whose status is final (`Ledger::settle_fees`).
    pub(crate) async fn settle_pending(&self, now: Timestamp, limit: u32) -> StoreResult<u64> {
        type Row = (i64, i64, String, String, String, String, Option<String>, Option<i64>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.message_id, p.account_id, p.category, p.pricing_type, p.recipient, m.status, m.pricing,
                    m.status_at, m.workspace_id
             FROM fee_pending p JOIN messages m ON m.id = p.message_id
             WHERE m.status IN ('delivered', 'read', 'failed') ORDER BY p.message_id LIMIT $1",
        )
        .bind(super::clamp_limit(limit, 1000))
        .fetch_all(&self.read)
        .await?;
        let mut settled = 0;
        for (message, account, category, pricing_type, recipient, status, pricing, status_at, ws) in rows {
            let due = Due {
                message,
                account,
                category,
                pricing_type,
                recipient,
                status,
                pricing,
                status_at: status_at.map_or(now, Timestamp::from_micros),
            };
            if self.settle_one(WorkspaceId(ws), &due, now).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }
}

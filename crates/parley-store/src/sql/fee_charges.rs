//! Fees on sends (issue 19). Where a send's WhatsApp Business Account has a fee account:
//!
//! - **Queued**: each message is priced by the rate card in force (the category and pricing
//!   type the send rules estimated, the first volume tier — the dearest — and the workspace's
//!   markup). After the messages are written, the account's row is locked (the last lock the
//!   transaction takes: `locks.rs`), the total checked against what is available, and a hold
//!   written per message with a `fee_pending` row; a prepaid account that cannot cover it
//!   refuses the send (`insufficient_balance`) and the transaction is rolled back: nothing is
//!   queued. A dry run shows each message's price.
//! - **Settled** (`settle_fees`, the fees worker): pending sends whose status is final, one
//!   transaction per account and batch (priced in memory: `fee_pricing.rs`), each becomes a charge (delivered or read: priced by the card in force at delivery, with the category and
//!   type WhatsApp reported, its tier by the month's charges so far) or a release (failed). Its
//!   `fee_pending` row is deleted in the same transaction, and each entry's reference
//!   (`charge:<message>`, `release:<message>`) is unique: once, whatever the order or number of
//!   status webhooks. A message without a price (no card in force, no rate for its market) is
//!   held and charged at zero with the reason in its pricing, for the reconciliation to show.
//!
//! Volume tiers are counted by UTC month (`fee_pricing.rs`; Meta counts in the WABA's
//! timezone: at most a few hours apart at a month's turn).

use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::ledger::EntryKind;
use parley_core::fees::{Category, Micros, Price, PricingType};
use parley_core::ids::WorkspaceId;
use parley_core::rules::{Allowed, Refusal};
use serde_json::{Value, json};

use super::fee_pricing::{CardCache, Estimate, Pricer};
use super::{Engine, SqlStore};
use crate::error::StoreResult;
use crate::{FeeAccount, NewEntry};

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

    /// Prices a send's messages when its WABA has a fee account (`None` otherwise), and puts
    /// each price on its decision (what a dry run shows).
    pub(crate) async fn estimate_send(
        conn: &mut DB::Connection,
        cards: &CardCache,
        ws: WorkspaceId,
        waba: &str,
        recipient: &str,
        decisions: &mut [Allowed],
        now: Timestamp,
    ) -> StoreResult<Option<SendFees>> {
        let Some(id) = Self::account_of_waba(conn, ws, waba).await? else { return Ok(None) };
        let account = Self::fee_account_in(conn, ws, id).await?;
        let mut pricer = Self::pricer(conn, &account, cards).await?;
        let mut estimates = Vec::with_capacity(decisions.len());
        for d in decisions.iter_mut() {
            let category = Category::parse(d.category).unwrap_or(Category::Service);
            let estimate = Self::price(conn, &mut pricer, recipient, (category, d.pricing_type), now, false).await?;
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
            Self::write_entry(conn, &mut account, &hold, Micros::ZERO, now).await?;
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

    /// Settles pending sends of one account whose status is final, in one transaction under
    /// the account's lock (those another server settled meanwhile are skipped); answers how
    /// many it settled.
    async fn settle_group(&self, ws: WorkspaceId, account_id: i64, dues: &[Due], now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut account = Self::lock_fee_account(&mut tx, ws, account_id).await?;
        let mut pricer = Self::pricer(&mut tx, &account, &self.rate_cards).await?;
        let mut settled = 0;
        for due in dues {
            let taken: Option<i64> = sqlx::query_scalar("DELETE FROM fee_pending WHERE message_id = $1 RETURNING held")
                .bind(due.message)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(held) = taken.map(Micros) else { continue };
            settled += 1;
            // A retried message settles again: never a second charge, nor a second release.
            let reference = |kind: &str| format!("{kind}:{}", due.message);
            let seen: Option<String> = sqlx::query_scalar(
                "SELECT reference FROM ledger_entries WHERE account_id = $1 AND reference IN ($2, $3) LIMIT 1",
            )
            .bind(account.id)
            .bind(reference("charge"))
            .bind(reference("release"))
            .fetch_optional(&mut *tx)
            .await?;
            let charged_before = seen.as_deref() == Some(reference("charge").as_str());
            let released_before = seen.as_deref() == Some(reference("release").as_str());
            if charged_before || (due.status == "failed" && released_before) {
                continue;
            }
            let entry = if due.status == "failed" {
                if held <= Micros::ZERO {
                    continue;
                }
                NewEntry {
                    kind: EntryKind::Release,
                    amount: held,
                    reference: Some(reference("release")),
                    message_id: Some(due.message),
                    market: None,
                    category: Some(due.category.clone()),
                    pricing_type: None,
                    pricing: None,
                    by: None,
                    reason: Some("not delivered".to_owned()),
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
                let priced = if reported["pricing_model"] == "CBP" {
                    Self::charge_conversation(&mut tx, &mut pricer, due, &reported, category, now).await?
                } else {
                    Self::price(&mut tx, &mut pricer, &due.recipient, (category, pricing_type), due.status_at, true)
                        .await?
                };
                let mut detail = priced.detail;
                if let Some(model) = reported["pricing_model"].as_str() {
                    detail["model"] = json!(model);
                }
                NewEntry {
                    kind: EntryKind::Charge,
                    amount: priced.amount,
                    reference: Some(reference("charge")),
                    message_id: Some(due.message),
                    market: priced.market,
                    category: Some(category.as_str().to_owned()),
                    pricing_type: Some(pricing_type.as_str().to_owned()),
                    pricing: Some(detail),
                    by: None,
                    reason: None,
                }
            };
            let released = if entry.kind == EntryKind::Charge { held } else { Micros::ZERO };
            Self::write_entry(&mut tx, &mut account, &entry, released, now).await?;
        }
        Self::save_tier_counts(&mut tx, &pricer).await?;
        tx.commit().await?;
        Ok(settled)
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// Under the per-conversation model (`CBP`): the first of a conversation's messages settled
    /// pays for it (the card in force at its delivery, about when the conversation opened);
    /// the conversation's other messages, and a conversation WhatsApp says is not billable,
    /// cost nothing. A status without a conversation id is priced as a conversation of its own.
    async fn charge_conversation(
        conn: &mut DB::Connection,
        pricer: &mut Pricer,
        due: &Due,
        reported: &Value,
        category: Category,
        now: Timestamp,
    ) -> StoreResult<Estimate> {
        let conversation = reported["conversation"]["id"].as_str();
        let free = |why: &str| Estimate {
            amount: Micros::ZERO,
            category,
            pricing_type: PricingType::Regular,
            market: None,
            detail: json!({"category": category.as_str(), "model": "CBP", "conversation": conversation, "free": why}),
        };
        if reported["billable"] == false {
            return Ok(free("not billable"));
        }
        if let Some(id) = conversation {
            let first = sqlx::query(
                "INSERT INTO fee_conversations (account_id, conversation_id, message_id, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, conversation_id) DO NOTHING",
            )
            .bind(pricer.account_id())
            .bind(id.to_owned())
            .bind(due.message)
            .bind(now.as_micros())
            .execute(&mut *conn)
            .await?;
            if DB::rows_affected(&first) == 0 {
                return Ok(free("conversation already charged"));
            }
        }
        let mut priced = Self::price_conversation(conn, pricer, &due.recipient, category, due.status_at).await?;
        priced.detail["conversation"] = json!(conversation);
        Ok(priced)
    }

    /// A send held on a fee account whose status became final can be settled now (in the
    /// transaction that moved the status): the fees worker reads only such rows.
    pub(crate) async fn fee_ready(conn: &mut DB::Connection, message: i64) -> StoreResult<()> {
        sqlx::query("UPDATE fee_pending SET ready = 1 WHERE message_id = $1 AND ready = 0")
            .bind(message)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

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
             WHERE p.ready = 1 AND m.status IN ('delivered', 'read', 'played', 'failed')
             ORDER BY p.account_id, p.message_id LIMIT $1",
        )
        .bind(super::clamp_limit(limit, 1000))
        .fetch_all(&self.read)
        .await?;
        // One transaction per account (rows come ordered by account).
        let mut groups: Vec<(WorkspaceId, i64, Vec<Due>)> = Vec::new();
        for (message, account, category, pricing_type, recipient, status, pricing, status_at, ws) in rows {
            let due = Due {
                message,
                category,
                pricing_type,
                recipient,
                status,
                pricing,
                status_at: status_at.map_or(now, Timestamp::from_micros),
            };
            match groups.last_mut() {
                Some((_, a, dues)) if *a == account => dues.push(due),
                _ => groups.push((WorkspaceId(ws), account, vec![due])),
            }
        }
        let mut settled = 0;
        for (ws, account, dues) in groups {
            settled += self.settle_group(ws, account, &dues, now).await?;
        }
        Ok(settled)
    }
}

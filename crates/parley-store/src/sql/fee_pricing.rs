//! Pricing inside a transaction (`fee_charges.rs`): a [`Pricer`] reads what one account's
//! prices depend on once — the workspace's markup, the headers of the cards of the account's
//! currency — and each card's lines the first time a message needs that card, then prices any
//! number of messages in memory (`parley_core::fees::card::RateCard::rate`). Volume tiers read
//! the month's billable charges of a market and category from their counter row once per key
//! (`fee_tier_counts`), carry the count on in memory, and add to the row before commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Datelike;
use macro_rules_attribute::apply;
use parley_core::Timestamp;
use parley_core::fees::card::RateCard;
use parley_core::fees::markets::markets_of;
use parley_core::fees::{Category, Micros, PricingModel, PricingType};
use serde_json::{Value, json};

use super::{Engine, SqlStore};
use crate::FeeAccount;
use crate::error::StoreResult;

/// One message's price, and how it was found.
pub(crate) struct Estimate {
    pub amount: Micros,
    pub category: Category,
    pub pricing_type: PricingType,
    pub market: Option<String>,
    pub detail: Value,
}

type TierKey = (i64, Category, String);

/// Cards' lines by card id, shared by every pricer of a store: cards are never changed once
/// imported, so what was read once stays true (a new card has a new id).
#[derive(Clone, Default)]
pub(crate) struct CardCache(Arc<Mutex<HashMap<i64, Arc<RateCard>>>>);

impl CardCache {
    fn get(&self, card: i64) -> Option<Arc<RateCard>> {
        self.0.lock().expect("card cache").get(&card).cloned()
    }

    fn keep(&self, card: i64, lines: Arc<RateCard>) {
        self.0.lock().expect("card cache").insert(card, lines);
    }
}

/// What one account's prices depend on, read once per transaction.
pub(crate) struct Pricer {
    account: FeeAccount,
    markup: u32,
    /// The cards of the account's currency: id, start and model, newest first.
    cards: Vec<(i64, Timestamp, PricingModel)>,
    cache: CardCache,
    lines: HashMap<i64, Arc<RateCard>>,
    /// Billable charges per (month, category, market), once read, and how many this pass added
    /// (written back by [`SqlStore::save_tier_counts`] before the pass commits).
    tiers: HashMap<TierKey, (u64, u64)>,
}

pub(crate) fn month_start(at: Timestamp) -> Timestamp {
    let d = at.to_datetime();
    let first = d.date_naive().with_day(1).unwrap_or(d.date_naive());
    Timestamp::from_datetime(first.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

impl Pricer {
    pub(crate) fn account_id(&self) -> i64 {
        self.account.id
    }
}

#[apply(engine_bounds!)]
impl<DB> SqlStore<DB> {
    /// A pricer for `account` (its markup and cards read now).
    pub(crate) async fn pricer(
        conn: &mut DB::Connection,
        account: &FeeAccount,
        cache: &CardCache,
    ) -> StoreResult<Pricer> {
        let markup: i64 = sqlx::query_scalar("SELECT fee_markup_bp FROM workspaces WHERE id = $1")
            .bind(account.workspace_id.get())
            .fetch_one(&mut *conn)
            .await?;
        let cards: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT id, effective_from, model FROM rate_cards WHERE currency = $1 ORDER BY effective_from DESC",
        )
        .bind(account.currency.as_str().to_owned())
        .fetch_all(&mut *conn)
        .await?;
        Ok(Pricer {
            account: account.clone(),
            markup: u32::try_from(markup).unwrap_or(0),
            cards: cards
                .into_iter()
                .filter_map(|(id, from, model)| Some((id, Timestamp::from_micros(from), PricingModel::parse(&model)?)))
                .collect(),
            cache: cache.clone(),
            lines: HashMap::new(),
            tiers: HashMap::new(),
        })
    }

    /// The price of a message to `recipient` delivered (or sent) at `at`, per message. `tiered`:
    /// count the month's charges for its volume tier (a charge); otherwise the first tier, the
    /// dearest (a hold's estimate).
    pub(crate) async fn price(
        conn: &mut DB::Connection,
        pricer: &mut Pricer,
        recipient: &str,
        (category, pricing_type): (Category, PricingType),
        at: Timestamp,
        tiered: bool,
    ) -> StoreResult<Estimate> {
        Self::price_by(conn, pricer, recipient, (category, pricing_type), at, (PricingModel::PerMessage, tiered)).await
    }

    /// An account's billable charges of a month, category and market before this pass: its
    /// counter row, or (none yet) the ledger's count, kept as the row.
    async fn tier_count(conn: &mut DB::Connection, account: i64, key: &TierKey) -> StoreResult<u64> {
        let (month, category, market) = key;
        let kept: Option<i64> = sqlx::query_scalar(
            "SELECT charges FROM fee_tier_counts WHERE account_id = $1 AND month = $2 AND category = $3 AND market = $4",
        )
        .bind(account)
        .bind(*month)
        .bind(category.as_str().to_owned())
        .bind(market.clone())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(n) = kept {
            return Ok(n.max(0) as u64);
        }
        let counted: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ledger_entries WHERE account_id = $1 AND kind = 'charge' AND category = $2
               AND market = $3 AND created_at >= $4 AND amount < 0",
        )
        .bind(account)
        .bind(category.as_str().to_owned())
        .bind(market.clone())
        .bind(*month)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO fee_tier_counts (account_id, month, category, market, charges) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, month, category, market) DO NOTHING",
        )
        .bind(account)
        .bind(*month)
        .bind(category.as_str().to_owned())
        .bind(market.clone())
        .bind(counted)
        .execute(&mut *conn)
        .await?;
        Ok(counted.max(0) as u64)
    }

    /// Adds this pass's billable charges to their counters (in the pass's transaction).
    pub(crate) async fn save_tier_counts(conn: &mut DB::Connection, pricer: &Pricer) -> StoreResult<()> {
        for ((month, category, market), (_, added)) in &pricer.tiers {
            if *added == 0 {
                continue;
            }
            sqlx::query(
                "UPDATE fee_tier_counts SET charges = charges + $1
                 WHERE account_id = $2 AND month = $3 AND category = $4 AND market = $5",
            )
            .bind(*added as i64)
            .bind(pricer.account.id)
            .bind(*month)
            .bind(category.as_str().to_owned())
            .bind(market.clone())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// The price of a conversation opened at `at` with `recipient` (the per-conversation model:
    /// one rate per market and category, no tiers).
    pub(crate) async fn price_conversation(
        conn: &mut DB::Connection,
        pricer: &mut Pricer,
        recipient: &str,
        category: Category,
        at: Timestamp,
    ) -> StoreResult<Estimate> {
        let regular = (category, PricingType::Regular);
        Self::price_by(conn, pricer, recipient, regular, at, (PricingModel::PerConversation, false)).await
    }

    async fn price_by(
        conn: &mut DB::Connection,
        pricer: &mut Pricer,
        recipient: &str,
        (category, pricing_type): (Category, PricingType),
        at: Timestamp,
        (model, tiered): (PricingModel, bool),
    ) -> StoreResult<Estimate> {
        let base = json!({"category": category.as_str(), "type": pricing_type.as_str()});
        let estimate = |amount, market, detail| Estimate { amount, category, pricing_type, market, detail };
        if pricing_type.is_free() || category == Category::ReferralConversion {
            return Ok(estimate(Micros::ZERO, None, base));
        }
        let Some(&(card, _, _)) = pricer.cards.iter().find(|(_, from, m)| *m == model && *from <= at) else {
            let detail = json!({"category": category.as_str(), "type": pricing_type.as_str(), "unpriced": "no rate card in force"});
            return Ok(estimate(Micros::ZERO, None, detail));
        };
        if !pricer.lines.contains_key(&card)
            && let Some(cached) = pricer.cache.get(card)
        {
            pricer.lines.insert(card, cached);
        }
        if !pricer.lines.contains_key(&card) {
            let rows: Vec<super::fees::LineRow> = sqlx::query_as(
                "SELECT market, category, tier_from, tier_to, rate FROM rate_card_lines WHERE card_id = $1",
            )
            .bind(card)
            .fetch_all(&mut *conn)
            .await?;
            let rates = super::fees::rates_of(rows)?;
            let view = RateCard {
                currency: pricer.account.currency.clone(),
                model,
                effective_from: at,
                sample: false,
                source: String::new(),
                rates,
            };
            let view = Arc::new(view);
            pricer.cache.keep(card, view.clone());
            pricer.lines.insert(card, view);
        }
        let markets = markets_of(recipient);
        let rated = pricer.lines[&card].rate(&markets, category, pricing_type, 1);
        let mut priced = match rated {
            Ok(p) => p,
            Err(why) => {
                let detail = json!({"category": category.as_str(), "type": pricing_type.as_str(), "card": card,
                    "unpriced": why.to_string()});
                return Ok(estimate(Micros::ZERO, None, detail));
            }
        };
        let mut nth = 1;
        if tiered
            && priced.amount > Micros::ZERO
            && let Some(market) = priced.market.clone()
        {
            let key: TierKey = (month_start(at).as_micros(), category, market);
            if !pricer.tiers.contains_key(&key) {
                let so_far = Self::tier_count(conn, pricer.account.id, &key).await?;
                pricer.tiers.insert(key.clone(), (so_far, 0));
            }
            let counted = pricer.tiers.get_mut(&key).expect("counted above");
            counted.1 += 1;
            nth = counted.0 + counted.1;
            if nth > 1
                && let Ok(p) = pricer.lines[&card].rate(&markets, category, pricing_type, nth)
            {
                priced = p;
            }
        }
        let detail = json!({"category": category.as_str(), "type": pricing_type.as_str(), "card": card,
            "rated_as": priced.rated_as.map(Category::as_str), "rate": priced.amount.to_decimal(),
            "markup_bp": pricer.markup, "nth": nth});
        Ok(estimate(priced.amount.marked_up(pricer.markup), priced.market, detail))
    }
}

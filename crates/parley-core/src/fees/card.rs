//! Rate cards as data: what one delivered message (or, under the per-conversation model, one
//! conversation) costs per market, category and monthly volume tier, in one currency, from an
//! effective date on. A card is never changed once imported; a new one takes over from its own
//! date, so any past message is priced by the card in force when it was delivered.
//!
//! [`RateCard::rate`] is the whole pricing rule: free types cost nothing; otherwise the first
//! market of the number's chain the card has a rate for, for the category or its fallback
//! (marketing-lite → marketing, authentication-international → authentication, service →
//! utility); a tiered rate by the messages of that market and category already charged this
//! month. Service has no tiers: its utility fallback takes the first tier.

use serde::{Deserialize, Serialize};

use super::{Category, Currency, Micros, PricingModel, PricingType};
use crate::Timestamp;

/// One line of a card: a market and category, optionally a volume tier, and its rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub market: String,
    pub category: Category,
    /// The tier's first message of the month (1-based, inclusive); `None`: no tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_from: Option<u64>,
    /// The tier's last message (inclusive); `None`: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_to: Option<u64>,
    pub rate: Micros,
}

impl Rate {
    fn covers(&self, nth: u64) -> bool {
        self.tier_from.is_none_or(|from| nth >= from) && self.tier_to.is_none_or(|to| nth <= to)
    }
}

/// A card: its currency, model, effective date and lines. `sample` marks a card shipped for
/// trying Parley out: never Meta's prices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateCard {
    pub currency: Currency,
    pub model: PricingModel,
    pub effective_from: Timestamp,
    pub sample: bool,
    /// Where it came from (a file name, "sample").
    pub source: String,
    pub rates: Vec<Rate>,
}

/// Why a message could not be priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unpriced {
    /// The card has no rate for any market of the chain, in this category or its fallback.
    NoRate { category: Category, markets: Vec<String> },
}

impl std::fmt::Display for Unpriced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unpriced::NoRate { category, markets } => {
                write!(f, "no {} rate for {}", category.as_str(), markets.join(" / "))
            }
        }
    }
}

/// What a price was found from (kept with each charge, so a statement can show it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Priced {
    pub amount: Micros,
    /// The market line used (`None` for a free type).
    pub market: Option<String>,
    /// The category whose rate was used (the fallback's, when it was used).
    pub rated_as: Option<Category>,
}

impl RateCard {
    /// The price of the `nth` billable message this month (1-based) of `category` to a number
    /// of `markets` (most particular first, `markets::markets_of`), priced as `pricing`.
    pub fn rate(
        &self,
        markets: &[&str],
        category: Category,
        pricing: PricingType,
        nth: u64,
    ) -> Result<Priced, Unpriced> {
        if pricing.is_free() || category == Category::ReferralConversion {
            return Ok(Priced { amount: Micros::ZERO, market: None, rated_as: None });
        }
        for market in markets {
            let mut wanted = Some(category);
            while let Some(c) = wanted {
                let lines: Vec<&Rate> =
                    self.rates.iter().filter(|r| r.category == c && r.market.eq_ignore_ascii_case(market)).collect();
                // Service is never tiered: priced at the first tier of its fallback.
                let nth = if category == Category::Service { 1 } else { nth.max(1) };
                if let Some(line) = lines.iter().find(|r| r.covers(nth)).or(lines.first()) {
                    return Ok(Priced { amount: line.rate, market: Some(line.market.clone()), rated_as: Some(c) });
                }
                wanted = c.fallback();
            }
        }
        Err(Unpriced::NoRate { category, markets: markets.iter().map(|m| (*m).to_owned()).collect() })
    }

    /// Problems that make a card unusable: no lines, a negative rate, overlapping tiers or a
    /// line given twice.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.rates.is_empty() {
            problems.push("the card has no rates".to_owned());
        }
        for (i, r) in self.rates.iter().enumerate() {
            if r.rate < Micros::ZERO {
                problems.push(format!("{} {}: a rate is never negative", r.market, r.category.as_str()));
            }
            if let (Some(from), Some(to)) = (r.tier_from, r.tier_to)
                && to < from
            {
                problems.push(format!(
                    "{} {}: the tier {from}-{to} ends before it starts",
                    r.market,
                    r.category.as_str()
                ));
            }
            let overlaps = self.rates[..i].iter().any(|o| {
                o.category == r.category
                    && o.market.eq_ignore_ascii_case(&r.market)
                    && o.tier_from.unwrap_or(1) <= r.tier_to.unwrap_or(u64::MAX)
                    && r.tier_from.unwrap_or(1) <= o.tier_to.unwrap_or(u64::MAX)
            });
            if overlaps {
                problems.push(format!("{} {}: two lines cover the same messages", r.market, r.category.as_str()));
            }
        }
        problems
    }
}

/// The card in force at `at` among `cards` of one currency and model: the latest whose
/// effective date is at or before `at`.
pub fn in_force(cards: &[RateCard], at: Timestamp) -> Option<&RateCard> {
    cards.iter().filter(|c| c.effective_from <= at).max_by_key(|c| c.effective_from)
}

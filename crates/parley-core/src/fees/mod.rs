//! WhatsApp fees (PRODUCT.md §7), the pure part: amounts in integer micro-units of a currency
//! ([`Micros`]), what Meta reports about how a message was priced ([`Category`], [`PricingType`],
//! [`PricingModel`]), the market a number belongs to ([`markets`]), rate cards as data with
//! effective dates ([`card`]) and their CSV layouts ([`card_csv`]).
//!
//! Money is never a float: a rate of `0.0625` USD is `62_500` micro-dollars, parsed from its
//! decimal text exactly, and a price is a rate times a markup in basis points, rounded half up.

use serde::{Deserialize, Serialize};

pub mod card;
pub mod card_csv;
pub mod ledger;
pub mod markets;
pub mod watch;

#[cfg(test)]
mod tests;

/// An amount in millionths of a currency unit (micro-dollars for USD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Micros(pub i64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// Reads a decimal amount (`0.0625`, `12`, `-1.5`, `$0.0250`): a point before the decimals,
    /// at most six of them (more only when they are zeros), no exponent, no float on the way. A
    /// comma is refused rather than guessed at: `12,50` is twelve and a half in French and one
    /// thousand two hundred and fifty with a thousands separator.
    pub fn parse(text: &str) -> Result<Micros, String> {
        if text.contains(',') {
            return Err(format!("{text:?}: write the amount with a point and no separators, like 1250.50"));
        }
        let t: String = text.trim().chars().filter(|c| !matches!(c, '$' | '€' | '£')).collect();
        let (negative, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.as_str()),
        };
        let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !(fraction.is_empty() || digits(fraction)) {
            return Err(format!("{text:?} is not an amount like 0.0625"));
        }
        let kept = fraction.trim_end_matches('0');
        if kept.len() > 6 {
            return Err(format!("{text:?} has more than six decimals"));
        }
        let whole: i64 = whole.parse().map_err(|_| format!("{text:?} is too large"))?;
        let fraction: i64 = format!("{kept:0<6}").parse().unwrap_or(0);
        let micros = whole.checked_mul(1_000_000).and_then(|w| w.checked_add(fraction));
        let micros = micros.ok_or_else(|| format!("{text:?} is too large"))?;
        Ok(Micros(if negative { -micros } else { micros }))
    }

    /// The amount as decimal text with six decimals (`0.062500`), for CSV and JSON.
    pub fn to_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }

    /// The amount raised by `basis_points` hundredths of a percent (a reseller's markup: 1,500
    /// is 15 %), rounded half away from zero.
    pub fn marked_up(self, basis_points: u32) -> Micros {
        let scaled = i128::from(self.0) * (10_000 + i128::from(basis_points));
        let rounded = (scaled.abs() + 5_000) / 10_000 * scaled.signum();
        Micros(i64::try_from(rounded).unwrap_or(i64::MAX))
    }
}

/// An amount in a currency, as the API shows it: `{"amount": "0.062500", "currency": "USD"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub amount: Micros,
    pub currency: Currency,
}

impl Serialize for Price {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Price", 2)?;
        out.serialize_field("amount", &self.amount.to_decimal())?;
        out.serialize_field("currency", self.currency.as_str())?;
        out.end()
    }
}

/// A billing currency: three upper-case letters (ISO 4217), such as `USD`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn parse(text: &str) -> Result<Currency, String> {
        let t = text.trim().to_ascii_uppercase();
        if t.len() == 3 && t.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(t))
        } else {
            Err(format!("{text:?} is not a currency code like USD"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

/// What a message is charged as (`pricing.category`; a template's category before it is sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Marketing,
    /// Marketing sent through the Marketing Messages API; priced as marketing unless a card
    /// names it.
    MarketingLite,
    Utility,
    Authentication,
    AuthenticationInternational,
    /// A non-template message (free until 2026-10-01, then at the market's rate).
    Service,
    /// A conversation opened from an ad under the per-conversation model: free.
    ReferralConversion,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Marketing,
        Category::MarketingLite,
        Category::Utility,
        Category::Authentication,
        Category::AuthenticationInternational,
        Category::Service,
        Category::ReferralConversion,
    ];

    /// Reads Meta's spellings: any case, `-` or `_` or a space (`authentication-international`
    /// in its tables, `authentication_international` in webhooks).
    pub fn parse(text: &str) -> Option<Category> {
        let t = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Category::ALL.into_iter().find(|c| c.as_str() == t)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "marketing",
            Category::MarketingLite => "marketing_lite",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
            Category::AuthenticationInternational => "authentication_international",
            Category::Service => "service",
            Category::ReferralConversion => "referral_conversion",
        }
    }

    /// The category whose rate applies when a card has none for this one.
    pub fn fallback(self) -> Option<Category> {
        match self {
            Category::MarketingLite => Some(Category::Marketing),
            Category::AuthenticationInternational => Some(Category::Authentication),
            // Service messages are charged at the market's utility rate (from 2026-10-01).
            Category::Service => Some(Category::Utility),
            _ => None,
        }
    }
}

/// How a delivered message was priced (`pricing.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingType {
    Regular,
    FreeCustomerService,
    FreeEntryPoint,
}

impl PricingType {
    pub fn parse(text: &str) -> Option<PricingType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "regular" => Some(PricingType::Regular),
            "free_customer_service" => Some(PricingType::FreeCustomerService),
            "free_entry_point" => Some(PricingType::FreeEntryPoint),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PricingType::Regular => "regular",
            PricingType::FreeCustomerService => "free_customer_service",
            PricingType::FreeEntryPoint => "free_entry_point",
        }
    }

    pub fn is_free(self) -> bool {
        self != PricingType::Regular
    }
}

/// Per message (`PMP`, since 2025-07-01) or per 24-hour conversation (`CBP`, the seeds' era).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PricingModel {
    #[serde(rename = "PMP")]
    PerMessage,
    #[serde(rename = "CBP")]
    PerConversation,
}

impl PricingModel {
    pub fn parse(text: &str) -> Option<PricingModel> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PMP" => Some(PricingModel::PerMessage),
            "CBP" => Some(PricingModel::PerConversation),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PricingModel::PerMessage => "PMP",
            PricingModel::PerConversation => "CBP",
        }
    }
}

/// The card Parley ships for trying it out (`parley demo`, the sandbox): illustrative figures
/// in USD, marked `sample` wherever it shows — never Meta's prices.
pub const SAMPLE_CARD_CSV: &str = include_str!("sample-rate-card.csv");

//! WhatsApp fees: rate cards as kept (`parley_core::fees::card`).

use async_trait::async_trait;
use parley_core::Timestamp;
use parley_core::fees::card::RateCard;
use parley_core::fees::{Currency, PricingModel};

use crate::error::StoreResult;

/// A card as listed: its header and how many lines it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateCardInfo {
    pub id: i64,
    pub currency: Currency,
    pub model: PricingModel,
    pub effective_from: Timestamp,
    pub sample: bool,
    pub source: String,
    pub imported_at: Timestamp,
    pub lines: i64,
}

#[async_trait]
pub trait Fees {
    /// Keeps a card (checked by the caller: `RateCard::problems`); `Conflict { field:
    /// "effective_from" }` when a card of its currency and model already starts then.
    async fn import_rate_card(&self, card: &RateCard, now: Timestamp) -> StoreResult<RateCardInfo>;
    /// The cards kept, newest effective date first.
    async fn rate_cards(&self) -> StoreResult<Vec<RateCardInfo>>;
    /// The card of `currency` and `model` in force at `at` (the latest started by then), with
    /// its lines.
    async fn rate_card_in_force(
        &self,
        currency: &Currency,
        model: PricingModel,
        at: Timestamp,
    ) -> StoreResult<Option<(RateCardInfo, RateCard)>>;
}

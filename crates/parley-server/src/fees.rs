//! WhatsApp fees in the server (issue 19): rate card files read into cards — for `parley fees
//! rates import` and the API — and the sample card `parley demo` installs.
//!
//! A card's effective date is midnight UTC of the day given (Meta switches at midnight in each
//! WABA's timezone: a few hours apart at most, documented in docs/fees.md).

use parley_core::Timestamp;
use parley_core::fees::card::RateCard;
use parley_core::fees::card_csv::read_rates;
use parley_core::fees::{Currency, PricingModel, SAMPLE_CARD_CSV};
use parley_store::{Fees, RateCardInfo, StoreError};

/// What a card file does not say about itself.
pub struct CardHeader {
    pub currency: Currency,
    pub model: PricingModel,
    pub effective_from: Timestamp,
    pub sample: bool,
    /// Where it came from (the file's name).
    pub source: String,
}

/// `2026-10-01` (midnight UTC) or an RFC 3339 time.
pub fn effective_date(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    if let Ok(day) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        return Ok(Timestamp::from_datetime(midnight));
    }
    Timestamp::parse_rfc3339(t).ok_or_else(|| format!("{text:?} is not a date like 2026-10-01"))
}

/// Reads a card file (Meta's rate card or volume-tier CSV, or Parley's layout: see
/// `parley_core::fees::card_csv`); every problem found, or the card.
pub fn read_card(bytes: &[u8], header: CardHeader) -> Result<RateCard, Vec<String>> {
    let text = std::str::from_utf8(bytes).map_err(|_| vec!["the file is not UTF-8 text".to_owned()])?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_owned).collect::<Vec<_>>()),
            Err(e) => return Err(vec![format!("row {}: {e}", i + 1)]),
        }
    }
    let rates = read_rates(&rows)?;
    let card = RateCard {
        currency: header.currency,
        model: header.model,
        effective_from: header.effective_from,
        sample: header.sample,
        source: header.source,
        rates,
    };
    let problems = card.problems();
    if problems.is_empty() { Ok(card) } else { Err(problems) }
}

/// When the sample card takes effect: the start of per-message pricing.
pub const SAMPLE_FROM: &str = "2025-07-01";

/// The sample card (USD, per message, from 2025-07-01): illustrative figures, not Meta's.
pub fn sample_card() -> RateCard {
    let header = CardHeader {
        currency: Currency::parse("USD").expect("USD"),
        model: PricingModel::PerMessage,
        effective_from: effective_date(SAMPLE_FROM).expect("a date"),
        sample: true,
        source: "sample".to_owned(),
    };
    // The file ships with the code and its own test reads it: it cannot be unreadable.
    read_card(SAMPLE_CARD_CSV.as_bytes(), header).expect("the sample card is sound")
}

/// Installs the sample card unless one is there: for `parley demo`. Never for a real
/// deployment, whose owner imports Meta's card.
pub async fn install_sample_card(store: &dyn Fees, now: Timestamp) -> Result<Option<RateCardInfo>, StoreError> {
    let card = sample_card();
    match store.import_rate_card(&card, now).await {
        Ok(info) => Ok(Some(info)),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_at_midnight_utc_or_times() {
        assert_eq!(effective_date("2026-10-01").unwrap().to_rfc3339(), "2026-10-01T00:00:00.000000Z");
        assert!(effective_date("2026-10-01T06:00:00+07:00").is_ok());
        assert!(effective_date("1 October").is_err());
    }

    #[test]
    fn a_file_with_a_bad_row_or_overlapping_tiers_is_refused_whole() {
        let header = || CardHeader {
            currency: Currency::parse("USD").unwrap(),
            model: PricingModel::PerMessage,
            effective_from: Timestamp::from_secs(0),
            sample: false,
            source: "t.csv".into(),
        };
        let quoted = "Market,Marketing,Utility\n\"Rest of Central & Eastern Europe\",\"$0.0860\",\"$0.0212\"\n";
        let card = read_card(quoted.as_bytes(), header()).unwrap();
        assert_eq!(card.rates.len(), 2);
        assert_eq!(card.rates[0].market, "Rest of Central & Eastern Europe");
        let overlapping =
            "market,category,tier_from,tier_to,rate\nBrazil,utility,1,100,0.01\nBrazil,utility,50,,0.02\n";
        let problems = read_card(overlapping.as_bytes(), header()).unwrap_err();
        assert!(problems[0].contains("two lines cover the same messages"), "{problems:?}");
        assert!(read_card(&[0xff, 0xfe], header()).is_err());
    }
}

//! Rate cards on both engines: imported whole, refused twice for one start, and read by the
//! date they are in force from.

use parley_core::Timestamp;
use parley_core::fees::card::{Rate, RateCard};
use parley_core::fees::card_csv::read_rates;
use parley_core::fees::markets::markets_of;
use parley_core::fees::{Category, Currency, Micros, PricingModel, PricingType, SAMPLE_CARD_CSV};
use parley_store::StoreError;
use parley_store::testing::TestDatabase;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn sample(from: Timestamp) -> RateCard {
    let rows: Vec<Vec<String>> = SAMPLE_CARD_CSV.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect();
    RateCard {
        currency: Currency::parse("USD").unwrap(),
        model: PricingModel::PerMessage,
        effective_from: from,
        sample: true,
        source: "sample".into(),
        rates: read_rates(&rows).unwrap(),
    }
}

#[tokio::test]
async fn cards_are_kept_whole_and_priced_by_the_one_in_force() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let july = Timestamp::parse_rfc3339("2025-07-01T00:00:00Z").unwrap();
        let october = Timestamp::parse_rfc3339("2026-10-01T00:00:00Z").unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert!(store.rate_card_in_force(&usd, PricingModel::PerMessage, NOW).await.unwrap().is_none());

        let first = store.import_rate_card(&sample(july), NOW).await.unwrap();
        assert_eq!((first.lines as usize, first.sample), (sample(july).rates.len(), true), "{}", db.engine());
        let again = store.import_rate_card(&sample(july), NOW).await;
        assert!(matches!(again, Err(StoreError::Conflict { field: "effective_from" })), "{}: {again:?}", db.engine());

        // From October, Brazil's marketing costs more.
        let mut dearer = sample(october);
        dearer.sample = false;
        dearer.source = "meta-2026-10.csv".into();
        dearer.rates = vec![Rate {
            market: "Brazil".into(),
            category: Category::Marketing,
            tier_from: None,
            tier_to: None,
            rate: Micros(70_000),
        }];
        store.import_rate_card(&dearer, NOW).await.unwrap();
        let listed = store.rate_cards().await.unwrap();
        assert_eq!(listed.iter().map(|c| c.effective_from).collect::<Vec<_>>(), [october, july]);

        let brazil = markets_of("5511999990000");
        let price_at = async |at: Timestamp| {
            let (_, card) = store.rate_card_in_force(&usd, PricingModel::PerMessage, at).await.unwrap().unwrap();
            card.rate(&brazil, Category::Marketing, PricingType::Regular, 1).unwrap().amount
        };
        assert_eq!(price_at(october.plus_secs(-1)).await, Micros(62_500), "{}", db.engine());
        assert_eq!(price_at(october).await, Micros(70_000), "{}", db.engine());
        // The tiers come back as imported.
        let (_, july_card) = store.rate_card_in_force(&usd, PricingModel::PerMessage, july).await.unwrap().unwrap();
        let utility = july_card.rate(&brazil, Category::Utility, PricingType::Regular, 300_000).unwrap();
        assert_eq!(utility.amount, Micros(6_400));
        let sorted = |mut rates: Vec<Rate>| {
            rates.sort_by_key(|r| (r.market.clone(), r.category, r.tier_from));
            rates
        };
        assert_eq!(sorted(july_card.rates), sorted(sample(july).rates), "{}: every line as imported", db.engine());
        // Another currency or model has no card.
        let eur = Currency::parse("EUR").unwrap();
        assert!(store.rate_card_in_force(&eur, PricingModel::PerMessage, NOW).await.unwrap().is_none());
        assert!(store.rate_card_in_force(&usd, PricingModel::PerConversation, NOW).await.unwrap().is_none());
    }
}

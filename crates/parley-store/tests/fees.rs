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

fn entry(kind: parley_core::fees::ledger::EntryKind, amount: i64, reference: Option<&str>) -> parley_store::NewEntry {
    parley_store::NewEntry {
        kind,
        amount: Micros(amount),
        reference: reference.map(str::to_owned),
        message_id: None,
        market: None,
        category: None,
        pricing_type: None,
        pricing: None,
        by: None,
        reason: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ledger_keeps_its_balance_with_each_entry_once() {
    use parley_core::fees::ledger::EntryKind;
    use parley_store::{FeeAccountPatch, NewFeeAccount};
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let e = db.engine();
        let (ws, owner, _) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let (other, _, _) = parley_store::testing::workspace_with_channel(store, "globex", NOW).await;
        let new = |waba: &str| NewFeeAccount {
            waba_id: waba.into(),
            currency: Currency::parse("USD").unwrap(),
            postpaid: false,
            credit_limit: Micros::ZERO,
        };
        let unknown = store.open_fee_account(ws, new("NOT-OURS"), NOW).await;
        assert!(matches!(&unknown, Err(StoreError::Invalid(i)) if i.code == "unknown_waba"), "{e}: {unknown:?}");
        let account = store.open_fee_account(ws, new("WABA"), NOW).await.unwrap();
        assert_eq!((account.money.balance, account.money.held), (Micros::ZERO, Micros::ZERO));
        let twice = store.open_fee_account(ws, new("WABA"), NOW).await;
        assert!(matches!(twice, Err(StoreError::Conflict { field: "waba_id" })), "{e}: {twice:?}");

        // A transfer, a correction with its author and reason, a hold then its release.
        let top_up = store.record_entry(ws, account.id, entry(EntryKind::TopUp, 10_000_000, Some("bank:7781")), NOW);
        let top_up = top_up.await.unwrap();
        assert_eq!((top_up.balance_after, top_up.held_after), (Micros(10_000_000), Micros::ZERO));
        let again =
            store.record_entry(ws, account.id, entry(EntryKind::TopUp, 10_000_000, Some("bank:7781")), NOW).await;
        assert!(matches!(again, Err(StoreError::Conflict { field: "reference" })), "{e}: {again:?}");
        let correction = parley_store::NewEntry {
            by: Some(owner),
            reason: Some("double entry on 3 May".into()),
            ..entry(EntryKind::Adjustment, -2_500_000, None)
        };
        let corrected = store.record_entry(ws, account.id, correction, NOW).await.unwrap();
        assert_eq!((corrected.balance_after, corrected.by), (Micros(7_500_000), Some(owner)), "{e}");
        store.record_entry(ws, account.id, entry(EntryKind::Hold, 62_500, Some("hold:1")), NOW).await.unwrap();
        let held = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!((held.money.held, held.money.available()), (Micros(62_500), Micros(7_437_500)), "{e}");
        store.record_entry(ws, account.id, entry(EntryKind::Release, 62_500, Some("release:1")), NOW).await.unwrap();
        let bad = store.record_entry(ws, account.id, entry(EntryKind::TopUp, -5, None), NOW).await;
        assert!(matches!(&bad, Err(StoreError::Invalid(i)) if i.code == "invalid_amount"), "{e}: {bad:?}");

        // Fifty top-ups at once: each sees the balance the one before left.
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = db.store.clone();
                let id = account.id;
                tokio::spawn(
                    async move { store.record_entry(ws, id, entry(EntryKind::TopUp, 1_000_000, None), NOW).await },
                )
            })
            .collect();
        let mut afters = Vec::new();
        for task in tasks {
            afters.push(task.await.unwrap().unwrap().balance_after.0);
        }
        afters.sort_unstable();
        let expected: Vec<i64> = (1..=50).map(|n| 7_500_000 + n * 1_000_000).collect();
        assert_eq!(afters, expected, "{e}: every balance after, once");
        let listed = store.ledger_entries(ws, account.id, None, 500).await.unwrap();
        assert_eq!(listed.len(), 54, "{e}");
        assert_eq!(listed[0].balance_after, Micros(57_500_000), "{e}: newest first");
        let sum: i64 = listed.iter().map(|l| l.amount.0).sum();
        assert_eq!(Micros(sum), store.fee_account(ws, account.id).await.unwrap().money.balance, "{e}: derived");
        let page = store.ledger_entries(ws, account.id, Some(listed[9].id), 5).await.unwrap();
        assert_eq!(page[0].id, listed[10].id);

        // Terms change; another workspace sees nothing.
        let patch = FeeAccountPatch {
            postpaid: Some(true),
            credit_limit: Some(Micros(50_000_000)),
            ..FeeAccountPatch::default()
        };
        let postpaid = store.update_fee_account(ws, account.id, patch, NOW).await.unwrap();
        assert_eq!(postpaid.money.available(), Micros(107_500_000), "{e}");
        assert!(matches!(store.fee_account(other, account.id).await, Err(StoreError::NotFound)));
        assert!(matches!(store.ledger_entries(other, account.id, None, 10).await, Err(StoreError::NotFound)));
        let theirs = store.record_entry(other, account.id, entry(EntryKind::TopUp, 1, None), NOW).await;
        assert!(matches!(theirs, Err(StoreError::NotFound)), "{e}: {theirs:?}");
        assert!(store.fee_accounts(other).await.unwrap().is_empty());
        store.set_fee_markup(ws, 1_500).await.unwrap();
        assert_eq!((store.fee_markup(ws).await.unwrap(), store.fee_markup(other).await.unwrap()), (1_500, 0));
    }
}

//! The pricing rules, one by one.

use super::card::{Rate, RateCard, in_force};
use super::card_csv::read_rates;
use super::markets::markets_of;
use super::*;
use crate::Timestamp;

fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect()
}

fn line(market: &str, category: Category, tier: (Option<u64>, Option<u64>), rate: &str) -> Rate {
    Rate { market: market.into(), category, tier_from: tier.0, tier_to: tier.1, rate: Micros::parse(rate).unwrap() }
}

fn card(from: Timestamp, rates: Vec<Rate>) -> RateCard {
    RateCard {
        currency: Currency::parse("USD").unwrap(),
        model: PricingModel::PerMessage,
        effective_from: from,
        sample: false,
        source: "test".into(),
        rates,
    }
}

#[test]
fn amounts_are_read_exactly_and_marked_up_half_up() {
    assert_eq!(Micros::parse("0.0625"), Ok(Micros(62_500)));
    assert_eq!(Micros::parse("$0.0250"), Ok(Micros(25_000)));
    assert_eq!(Micros::parse("1250.5"), Ok(Micros(1_250_500_000)));
    // A comma is never guessed at: a decimal comma and a thousands separator read alike.
    for ambiguous in ["12,50", "1,250.5", "1 250.5"] {
        assert!(Micros::parse(ambiguous).is_err(), "{ambiguous:?}");
    }
    assert_eq!(Micros::parse("-1.5"), Ok(Micros(-1_500_000)));
    assert_eq!(Micros::parse("0.1000000"), Ok(Micros(100_000)), "trailing zeros past six decimals");
    assert_eq!(Micros::parse("12"), Ok(Micros(12_000_000)));
    for bad in ["", "abc", "0.0000001", "1e-3", "1.2.3", ".5", "NaN", "99999999999999999999"] {
        assert!(Micros::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(Micros(62_500).to_decimal(), "0.062500");
    assert_eq!(Micros(-1_500_000).to_decimal(), "-1.500000");
    // 15 % on 0.0625: 0.071875; on 3 micros: 3.45 → 3; on 5 micros: 5.75 → 6.
    assert_eq!(Micros(62_500).marked_up(1_500), Micros(71_875));
    assert_eq!(Micros(3).marked_up(1_500), Micros(3));
    assert_eq!(Micros(5).marked_up(1_500), Micros(6));
    assert_eq!(Micros(-5).marked_up(1_500), Micros(-6), "a refund is marked up like its charge");
    assert_eq!(Micros(7).marked_up(0), Micros(7));
}

#[test]
fn meta_spellings_are_read() {
    assert_eq!(Category::parse("Authentication-International"), Some(Category::AuthenticationInternational));
    assert_eq!(Category::parse("authentication_international"), Some(Category::AuthenticationInternational));
    assert_eq!(Category::parse(" MARKETING "), Some(Category::Marketing));
    assert_eq!(Category::parse("marketing_lite"), Some(Category::MarketingLite));
    assert_eq!(Category::parse("promo"), None);
    assert_eq!(PricingType::parse("free_entry_point"), Some(PricingType::FreeEntryPoint));
    assert_eq!(PricingModel::parse("cbp"), Some(PricingModel::PerConversation));
    assert!(Currency::parse("usd").is_ok());
    assert!(Currency::parse("US").is_err());
}

#[test]
fn numbers_fall_in_their_country_then_region_then_other() {
    assert_eq!(markets_of("5511999990000"), ["Brazil", "Rest of Latin America", "Other"]);
    assert_eq!(markets_of("14155550100"), ["North America", "Other"]);
    assert_eq!(markets_of("18095550100"), ["Rest of Latin America", "Other"], "Dominican Republic");
    assert_eq!(markets_of("84912345678"), ["Rest of Asia Pacific", "Other"], "Viet Nam");
    assert_eq!(markets_of("33612345678"), ["France", "Rest of Western Europe", "Other"]);
    assert_eq!(markets_of("359888123456"), ["Rest of Central & Eastern Europe", "Other"], "Bulgaria");
    assert_eq!(markets_of("351912345678"), ["Rest of Western Europe", "Other"], "Portugal");
    assert_eq!(markets_of("77011234567"), ["Kazakhstan", "Rest of Central & Eastern Europe", "Other"]);
    assert_eq!(markets_of("79161234567")[0], "Russia");
    assert_eq!(markets_of("212612345678")[0], "Morocco");
    assert_eq!(markets_of("254712345678"), ["Rest of Africa", "Other"], "Kenya");
    assert_eq!(markets_of("971501234567")[0], "United Arab Emirates");
    assert_eq!(markets_of("9605551234"), ["Rest of Asia Pacific", "Other"], "Maldives");
    assert_eq!(markets_of("0"), ["Other"]);
    assert!(markets::known_markets().contains(&"Rest of Middle East"));
}

#[test]
fn a_card_prices_by_market_category_tier_and_fallback() {
    let c = card(
        Timestamp::from_secs(0),
        vec![
            line("Brazil", Category::Marketing, (None, None), "0.0625"),
            line("Brazil", Category::Utility, (Some(1), Some(250_000)), "0.0068"),
            line("Brazil", Category::Utility, (Some(250_001), None), "0.0064"),
            line("India", Category::Authentication, (None, None), "0.0014"),
            line("Other", Category::Marketing, (None, None), "0.0604"),
        ],
    );
    let brazil = markets_of("5511999990000");
    let price = |m: &[&str], cat, kind, nth| c.rate(m, cat, kind, nth).map(|p| p.amount);
    assert_eq!(price(&brazil, Category::Marketing, PricingType::Regular, 1), Ok(Micros(62_500)));
    assert_eq!(price(&brazil, Category::Utility, PricingType::Regular, 250_000), Ok(Micros(6_800)));
    assert_eq!(price(&brazil, Category::Utility, PricingType::Regular, 250_001), Ok(Micros(6_400)), "next tier");
    assert_eq!(
        price(&brazil, Category::Service, PricingType::Regular, 900_000),
        Ok(Micros(6_800)),
        "service: untiered utility"
    );
    assert_eq!(price(&brazil, Category::MarketingLite, PricingType::Regular, 1), Ok(Micros(62_500)));
    assert_eq!(price(&brazil, Category::Utility, PricingType::FreeCustomerService, 1), Ok(Micros::ZERO));
    assert_eq!(price(&brazil, Category::Marketing, PricingType::FreeEntryPoint, 1), Ok(Micros::ZERO));
    let india = markets_of("919812345678");
    let international = c.rate(&india, Category::AuthenticationInternational, PricingType::Regular, 1).unwrap();
    assert_eq!((international.amount, international.rated_as), (Micros(1_400), Some(Category::Authentication)));
    // Viet Nam has no line of its own nor its region's: "Other".
    let vn = markets_of("84912345678");
    let other = c.rate(&vn, Category::Marketing, PricingType::Regular, 1).unwrap();
    assert_eq!((other.amount, other.market.as_deref()), (Micros(60_400), Some("Other")));
    assert!(matches!(c.rate(&vn, Category::Utility, PricingType::Regular, 1), Err(card::Unpriced::NoRate { .. })));
}

#[test]
fn the_card_in_force_is_the_latest_started() {
    let july = Timestamp::parse_rfc3339("2025-07-01T00:00:00Z").unwrap();
    let october = Timestamp::parse_rfc3339("2026-10-01T00:00:00Z").unwrap();
    let cards = vec![
        card(july, vec![line("Other", Category::Marketing, (None, None), "0.05")]),
        card(october, vec![line("Other", Category::Marketing, (None, None), "0.06")]),
    ];
    assert!(in_force(&cards, july.plus_secs(-1)).is_none());
    assert_eq!(in_force(&cards, october.plus_secs(-1)).unwrap().effective_from, july);
    assert_eq!(in_force(&cards, october).unwrap().effective_from, october);
}

#[test]
fn cards_with_holes_or_overlaps_are_refused() {
    let bad = card(
        Timestamp::from_secs(0),
        vec![
            line("Brazil", Category::Utility, (Some(1), Some(100)), "0.01"),
            line("Brazil", Category::Utility, (Some(100), None), "0.02"),
            line("Brazil", Category::Marketing, (Some(10), Some(5)), "0.01"),
            line("Brazil", Category::Service, (None, None), "-0.01"),
        ],
    );
    let problems = bad.problems();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(card(Timestamp::from_secs(0), vec![]).problems().iter().any(|p| p.contains("no rates")));
}

#[test]
fn metas_card_layout_is_read_under_its_titles() {
    let text = "WhatsApp Business Platform rate card,,,,\nEffective October 1 2026,,,,\n\
        Market,Currency,Marketing,Utility,Authentication,Authentication-International,Service\n\
        Brazil,USD,$0.0625,$0.0068,$0.0068,n/a,$0.0068\n\
        India,USD,$0.0118,$0.0014,$0.0014,$0.0280,$0.0014\n,,,,,,\n";
    let rates = read_rates(&rows(text)).unwrap();
    assert_eq!(rates.len(), 9, "{rates:?}");
    assert!(rates.iter().all(|r| r.tier_from.is_none()));
    let intl = rates.iter().find(|r| r.category == Category::AuthenticationInternational).unwrap();
    assert_eq!((intl.market.as_str(), intl.rate), ("India", Micros(28_000)));
}

#[test]
fn metas_tier_layout_and_ours_are_read() {
    let tiers = "Market,Currency,Pricing category,Volume tier,Rate\n\
        Brazil,USD,Utility,0:250000,0.0068\nBrazil,USD,Utility,\"250001 - 1000000\",0.0064\n\
        Brazil,USD,Utility,1000001+,0.0060\n";
    let rates = read_rates(&rows(&tiers.replace('"', ""))).unwrap();
    let spans: Vec<_> = rates.iter().map(|r| (r.tier_from, r.tier_to)).collect();
    assert_eq!(spans, [(Some(1), Some(250_000)), (Some(250_001), Some(1_000_000)), (Some(1_000_001), None)]);
    let sample = SAMPLE_CARD_CSV.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect::<Vec<_>>();
    let rates = read_rates(&sample).unwrap();
    assert!(rates.len() > 30);
    let sample = card(Timestamp::from_secs(0), rates);
    assert_eq!(sample.problems(), Vec::<String>::new(), "the sample card is sound");
    assert!(SAMPLE_CARD_CSV.starts_with("SAMPLE"), "marked as a sample on its first line");
}

#[test]
fn bad_rows_refuse_the_file_with_their_lines() {
    let text =
        "market,category,tier_from,tier_to,rate\nBrazil,promo,,,0.1\nBrazil,utility,x,,0.1\nBrazil,utility,,,1e-2\n";
    let problems = read_rates(&rows(text)).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("row 2:"), "{problems:?}");
    assert!(read_rates(&rows("just,a,table\n1,2,3\n")).unwrap_err()[0].contains("no header"));
    assert!(read_rates(&rows("Market,Notes\nBrazil,x\n")).unwrap_err()[0].contains("no category columns"));
}

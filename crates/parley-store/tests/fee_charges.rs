//! Fees on sends, on both engines: a send on an account is priced and held; a prepaid account
//! that cannot cover it refuses it before anything is queued, exactly at its balance under
//! concurrency; a delivery charges once whatever the webhooks' order and number; a failure
//! releases its hold; a dry run shows the price.

use parley_core::Timestamp;
use parley_core::fees::card::{Rate, RateCard};
use parley_core::fees::ledger::EntryKind;
use parley_core::fees::{Category, Currency, Micros, PricingModel};
use parley_core::message::{DeliveryStatus, InboundEvent, StatusUpdate};
use parley_core::rules::Refusal;
use parley_store::testing::{TestDatabase, send_promo, send_promos_at_once, template_audience, workspace_with_channel};
use parley_store::{NewEntry, NewFeeAccount, RoutedEvent, SendOutcome, UsageKey, UsageRow};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn line(market: &str, category: Category, tier: (Option<u64>, Option<u64>), rate: i64) -> Rate {
    Rate { market: market.into(), category, tier_from: tier.0, tier_to: tier.1, rate: Micros(rate) }
}

/// A USD card of `rates`, in force since the day before.
fn card(rates: Vec<Rate>) -> RateCard {
    RateCard {
        currency: Currency::parse("USD").unwrap(),
        model: PricingModel::PerMessage,
        effective_from: NOW.plus_secs(-86_400),
        sample: false,
        source: "test".into(),
        rates,
    }
}

fn top_up(amount: i64) -> NewEntry {
    NewEntry {
        kind: EntryKind::TopUp,
        amount: Micros(amount),
        reference: None,
        message_id: None,
        market: None,
        category: None,
        pricing_type: None,
        pricing: None,
        by: None,
        reason: None,
    }
}

fn status(pid: &str, status: DeliveryStatus, pricing: Option<serde_json::Value>) -> InboundEvent {
    InboundEvent::Status(StatusUpdate {
        provider_message_id: pid.into(),
        status,
        at: NOW.plus_secs(5),
        recipient: None,
        errors: vec![],
        pricing,
        raw: json!({}),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_are_held_refused_past_the_balance_charged_once_and_released_on_failure() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let e = db.engine();
        let (ws, _, channel) = workspace_with_channel(store, "acme", NOW).await;
        let card = card(vec![
            line("Brazil", Category::Utility, (Some(1), Some(1)), 6_800),
            line("Brazil", Category::Utility, (Some(2), None), 6_000),
            line("Other", Category::Utility, (None, None), 7_700),
        ]);
        store.import_rate_card(&card, NOW).await.unwrap();
        let refs = template_audience(store, ws, "UTILITY", "55119870", 50, NOW).await;

        // Without an account, sends are not accounted for.
        assert!(matches!(send_promo(store, ws, &channel, &refs[49], true, NOW).await, SendOutcome::Allowed(_)));
        let new = NewFeeAccount {
            waba_id: "WABA".into(),
            currency: Currency::parse("USD").unwrap(),
            postpaid: false,
            credit_limit: Micros::ZERO,
        };
        let account = store.open_fee_account(ws, new, NOW).await.unwrap();
        store.record_entry(ws, account.id, top_up(68_000), NOW).await.unwrap();

        // A dry run shows the price (the first tier: the dearest) and holds nothing.
        let SendOutcome::Allowed(allowed) = send_promo(store, ws, &channel, &refs[0], true, NOW).await else {
            panic!("{e}: a dry run")
        };
        let price = serde_json::to_value(allowed[0].price.as_ref().unwrap()).unwrap();
        assert_eq!(price, json!({"amount": "0.006800", "currency": "USD"}), "{e}");

        // Fifty sends at once, a balance for ten: ten queued, forty refused, nothing else kept.
        let outcomes = send_promos_at_once(db.store.clone(), ws, channel.clone(), &refs, NOW).await;
        let (mut queued, mut refused) = (Vec::new(), 0);
        for outcome in outcomes {
            match outcome {
                SendOutcome::Queued(m) => queued.push(m[0].id),
                SendOutcome::Refused { refusal: Refusal::InsufficientBalance { needed, available }, .. } => {
                    assert_eq!((needed.amount, available.amount), (Micros(6_800), Micros(0)), "{e}");
                    refused += 1;
                }
                other => panic!("{e}: {other:?}"),
            }
        }
        assert_eq!((queued.len(), refused), (10, 40), "{e}");
        let held = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!((held.money.balance, held.money.held), (Micros(68_000), Micros(68_000)), "{e}");
        let jobs = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 20).await.unwrap();
        assert_eq!(jobs.len(), 10, "{e}: the refused sends queued nothing");

        // Sent, then statuses: duplicated, out of order, a read before its delivery.
        for (i, job) in jobs.iter().enumerate() {
            store.outbox_sent(job.id, &format!("wamid.F{i}"), NOW).await.unwrap();
        }
        let billed = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"});
        let reports = [
            status("wamid.F0", DeliveryStatus::Read, None),
            status("wamid.F0", DeliveryStatus::Delivered, Some(billed.clone())),
            status("wamid.F0", DeliveryStatus::Delivered, Some(billed.clone())),
            status("wamid.F1", DeliveryStatus::Delivered, Some(billed.clone())),
            status("wamid.F2", DeliveryStatus::Failed, None),
            status("wamid.F3", DeliveryStatus::Sent, Some(billed.clone())),
        ];
        for report in &reports {
            store.apply_inbound(&[RoutedEvent { channel: &channel, event: report }], NOW).await.unwrap();
        }
        assert_eq!(store.settle_fees(NOW.plus_secs(10), 100).await.unwrap(), 3, "{e}: two deliveries, one failure");
        // The same reports again, and another pass: nothing more.
        for report in &reports {
            store.apply_inbound(&[RoutedEvent { channel: &channel, event: report }], NOW).await.unwrap();
        }
        assert_eq!(store.settle_fees(NOW.plus_secs(20), 100).await.unwrap(), 0, "{e}: once");

        let after = store.fee_account(ws, account.id).await.unwrap();
        // Two charges: the month's first utility message in Brazil at tier 1, the second at tier 2.
        assert_eq!(after.money.balance, Micros(68_000 - 6_800 - 6_000), "{e}");
        assert_eq!(after.money.held, Micros(68_000 - 3 * 6_800), "{e}: three holds let go");
        let entries = store.ledger_entries(ws, account.id, None, 100).await.unwrap();
        let charges: Vec<_> = entries.iter().filter(|x| x.kind == EntryKind::Charge).collect();
        assert_eq!(charges.len(), 2, "{e}");
        assert!(
            charges.iter().all(|c| c.market.as_deref() == Some("Brazil") && c.category.as_deref() == Some("utility"))
        );
        let releases = entries.iter().filter(|x| x.kind == EntryKind::Release).count();
        assert_eq!(releases, 1, "{e}");
        let sum: i64 = entries.iter().map(|x| x.amount.0).sum();
        assert_eq!(Micros(sum), after.money.balance, "{e}: the balance is the sum of its entries");
        let held_sum: i64 = entries.iter().map(|x| x.held_change.0).sum();
        assert_eq!(Micros(held_sum), after.money.held, "{e}: and the holds too");

        // The failed one, sent again and delivered: charged once (the month's third: tier 2).
        store.requeue_message(ws, jobs[2].message_id, NOW.plus_secs(30)).await.unwrap();
        let again = store.claim_outbox(channel.id, NOW.plus_secs(30), NOW.plus_secs(90), 10).await.unwrap();
        assert_eq!(again.len(), 1, "{e}");
        store.outbox_sent(again[0].id, "wamid.F2b", NOW.plus_secs(31)).await.unwrap();
        let delivered = status("wamid.F2b", DeliveryStatus::Delivered, Some(billed.clone()));
        for _ in 0..2 {
            store.apply_inbound(&[RoutedEvent { channel: &channel, event: &delivered }], NOW).await.unwrap();
        }
        assert_eq!(store.settle_fees(NOW.plus_secs(40), 100).await.unwrap(), 1, "{e}");
        assert_eq!(store.settle_fees(NOW.plus_secs(41), 100).await.unwrap(), 0, "{e}");
        let retried = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!(retried.money.balance, Micros(after.money.balance.0 - 6_000), "{e}: its delivery is charged");
        assert_eq!(retried.money.held, after.money.held, "{e}: no second hold");

        // Usage: the three charges of the day, by market, category, type and number.
        let day = NOW.as_secs() / 86_400;
        let (from, to) = (NOW.plus_secs(-86_400), NOW.plus_secs(86_400));
        for (key, expected) in [
            (UsageKey::Market, Some("Brazil".to_owned())),
            (UsageKey::Category, Some("utility".to_owned())),
            (UsageKey::PricingType, Some("regular".to_owned())),
            (UsageKey::Channel, Some(channel.id.get().to_string())),
        ] {
            let row = UsageRow { day, key: expected, messages: 3, amount: Micros(6_800 + 6_000 + 6_000) };
            let usage = store.fee_usage(ws, account.id, from, to, key, NOW).await.unwrap();
            assert_eq!(usage, vec![row.clone()], "{e}: {key:?}, summed live while the day is not over");
            // Once the day is over, it is summed once and kept: the same answer, twice.
            let later = NOW.plus_secs(3 * 86_400);
            for _ in 0..2 {
                let kept = store.fee_usage(ws, account.id, from, later, key, later).await.unwrap();
                assert_eq!(kept, vec![row.clone()], "{e}: {key:?}, kept");
            }
        }
        let next_day = to.plus_secs(1);
        assert!(store.fee_usage(ws, account.id, to, next_day, UsageKey::Market, NOW).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn free_deliveries_are_recorded_at_zero_and_postpaid_goes_to_its_limit() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let e = db.engine();
        let (ws, _, channel) = workspace_with_channel(store, "acme", NOW).await;
        let card = card(vec![line("Brazil", Category::Utility, (None, None), 6_800)]);
        store.import_rate_card(&card, NOW).await.unwrap();
        let refs = template_audience(store, ws, "UTILITY", "55119871", 3, NOW).await;
        let new = NewFeeAccount {
            waba_id: "WABA".into(),
            currency: Currency::parse("USD").unwrap(),
            postpaid: true,
            credit_limit: Micros(10_000),
        };
        let account = store.open_fee_account(ws, new, NOW).await.unwrap();
        // Postpaid: below zero down to the limit (one send of 6,800 fits in 10,000, not two).
        assert!(matches!(send_promo(store, ws, &channel, &refs[0], false, NOW).await, SendOutcome::Queued(_)), "{e}");
        let second = send_promo(store, ws, &channel, &refs[1], false, NOW).await;
        assert!(matches!(second, SendOutcome::Refused { refusal: Refusal::InsufficientBalance { .. }, .. }), "{e}");
        // Delivered as free (an entry point): charged at zero, the hold let go.
        let job = store.claim_outbox(channel.id, NOW, NOW.plus_secs(60), 10).await.unwrap().remove(0);
        store.outbox_sent(job.id, "wamid.FREE", NOW).await.unwrap();
        let free = json!({"pricing_model": "PMP", "type": "free_entry_point", "category": "utility"});
        let report = status("wamid.FREE", DeliveryStatus::Delivered, Some(free));
        store.apply_inbound(&[RoutedEvent { channel: &channel, event: &report }], NOW).await.unwrap();
        assert_eq!(store.settle_fees(NOW, 10).await.unwrap(), 1, "{e}");
        let after = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!((after.money.balance, after.money.held), (Micros::ZERO, Micros::ZERO), "{e}");
        let charge = store.ledger_entries(ws, account.id, None, 10).await.unwrap().remove(0);
        assert_eq!((charge.kind, charge.amount), (EntryKind::Charge, Micros::ZERO), "{e}: recorded at zero");
        assert_eq!(charge.pricing.unwrap()["type"], "free_entry_point", "{e}");
    }
}

/// Per-conversation pricing (the 2023 rules): WhatsApp names the conversation each message was
/// charged in; one message of a conversation carries the card's conversation rate, the
/// conversation's others cost nothing, a conversation WhatsApp says is free costs nothing.
#[tokio::test]
async fn per_conversation_pricing_charges_each_conversation_once() {
    let t = Timestamp::parse_rfc3339("2023-09-01T10:00:00Z").unwrap();
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let e = db.engine();
        let (ws, _, channel) = workspace_with_channel(store, "acme", t).await;
        let cbp = RateCard {
            model: PricingModel::PerConversation,
            effective_from: Timestamp::parse_rfc3339("2023-06-01T00:00:00Z").unwrap(),
            ..card(vec![line("Brazil", Category::Marketing, (None, None), 62_500)])
        };
        store.import_rate_card(&cbp, t).await.unwrap();
        // A per-message card of later days prices nothing here.
        store.import_rate_card(&card(vec![line("Brazil", Category::Marketing, (None, None), 1)]), t).await.unwrap();
        let refs = template_audience(store, ws, "MARKETING", "55119872", 2, t).await;
        let new = NewFeeAccount {
            waba_id: "WABA".into(),
            currency: Currency::parse("USD").unwrap(),
            postpaid: false,
            credit_limit: Micros::ZERO,
        };
        let account = store.open_fee_account(ws, new, t).await.unwrap();
        store.record_entry(ws, account.id, top_up(1_000_000), t).await.unwrap();
        for to in [&refs[0], &refs[0], &refs[1], &refs[1]] {
            let queued = send_promo(store, ws, &channel, to, false, t).await;
            assert!(matches!(queued, SendOutcome::Queued(_)), "{e}: {queued:?}");
        }
        // One message per recipient at a time: claimed, sent, then the next.
        let mut jobs = Vec::new();
        while jobs.len() < 4 {
            let claimed = store.claim_outbox(channel.id, t, t.plus_secs(60), 20).await.unwrap();
            assert!(!claimed.is_empty(), "{e}: {} claimed", jobs.len());
            for job in claimed {
                store.outbox_sent(job.id, &format!("wamid.C{}", jobs.len()), t).await.unwrap();
                jobs.push(job);
            }
        }
        let cbp = |conversation: &str, billable: bool| {
            json!({"billable": billable, "pricing_model": "CBP", "category": "marketing",
                "conversation": {"id": conversation, "origin": "marketing"}})
        };
        let reports = [
            status("wamid.C1", DeliveryStatus::Delivered, Some(cbp("CONV-A", true))),
            status("wamid.C0", DeliveryStatus::Delivered, Some(cbp("CONV-A", true))),
            status("wamid.C0", DeliveryStatus::Delivered, Some(cbp("CONV-A", true))),
            status("wamid.C2", DeliveryStatus::Delivered, Some(cbp("CONV-B", false))),
            status("wamid.C3", DeliveryStatus::Delivered, Some(cbp("CONV-C", true))),
        ];
        for report in &reports {
            store.apply_inbound(&[RoutedEvent { channel: &channel, event: report }], t).await.unwrap();
        }
        assert_eq!(store.settle_fees(t.plus_secs(10), 100).await.unwrap(), 4, "{e}");
        assert_eq!(store.settle_fees(t.plus_secs(20), 100).await.unwrap(), 0, "{e}");
        let entries = store.ledger_entries(ws, account.id, None, 100).await.unwrap();
        let charges: Vec<_> = entries.iter().filter(|x| x.kind == EntryKind::Charge).collect();
        assert_eq!(charges.len(), 4, "{e}: each message settled once");
        let mut per_conversation = std::collections::BTreeMap::<String, (i64, i64)>::new();
        for c in &charges {
            let conversation = c.pricing.as_ref().unwrap()["conversation"].as_str().unwrap_or("-").to_owned();
            let slot = per_conversation.entry(conversation).or_default();
            slot.0 += 1;
            slot.1 -= c.amount.0;
        }
        let expected = [("CONV-A", (2, 62_500)), ("CONV-B", (1, 0)), ("CONV-C", (1, 62_500))]
            .map(|(k, v)| (k.to_owned(), v))
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>();
        assert_eq!(per_conversation, expected, "{e}: CONV-A is paid once for its two messages; CONV-B is free");
        let after = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!(after.money.balance, Micros(1_000_000 - 2 * 62_500), "{e}");
    }
}

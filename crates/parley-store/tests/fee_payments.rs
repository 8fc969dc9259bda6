//! Card payments, auto-recharge and alerts on fee accounts, on both engines: a payment is
//! credited once whatever Stripe repeats; concurrent sends crossing a threshold raise one
//! alert and ask one recharge; recharges stop at the monthly cap and their failures alert.

use parley_core::Timestamp;
use parley_core::fees::card::{Rate, RateCard};
use parley_core::fees::ledger::EntryKind;
use parley_core::fees::watch::AutoRecharge;
use parley_core::fees::{Category, Currency, Micros, PricingModel};
use parley_store::testing::{TestDatabase, send_promos_at_once, template_audience, workspace_with_channel};
use parley_store::{
    Credited, FeeAccountPatch, NewEntry, NewFeeAccount, Payment, SendOutcome, Store, TopUpSource, TopUpState,
};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn card() -> RateCard {
    RateCard {
        currency: Currency::parse("USD").unwrap(),
        model: PricingModel::PerMessage,
        effective_from: NOW.plus_secs(-86_400),
        sample: false,
        source: "test".into(),
        rates: vec![Rate {
            market: "Brazil".into(),
            category: Category::Utility,
            tier_from: None,
            tier_to: None,
            rate: Micros(6_800),
        }],
    }
}

fn payment(event: &str, top_up: i64, intent: &str, session: Option<&str>, amount: i64) -> Payment {
    Payment {
        event_id: event.into(),
        event_kind: "payment_intent.succeeded".into(),
        top_up,
        payment_intent: intent.into(),
        session_id: session.map(str::to_owned),
        amount: Micros(amount),
        currency: "usd".into(),
        payment_method: Some(("pm_card".into(), "cus_1".into())),
    }
}

fn adjustment(amount: i64) -> NewEntry {
    NewEntry {
        kind: EntryKind::Adjustment,
        amount: Micros(amount),
        reference: None,
        message_id: None,
        market: None,
        category: None,
        pricing_type: None,
        pricing: None,
        by: None,
        reason: Some("test".into()),
    }
}

/// A day before the alerts: all of them are still news.
const DAY_BEFORE: Timestamp = NOW.plus_secs(-86_400);

async fn alert_kinds(store: &dyn Store) -> Vec<String> {
    store.alerts_to_mail(DAY_BEFORE, 5, 100).await.unwrap().into_iter().map(|a| a.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_credit_once_and_thresholds_fire_once_per_crossing() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let e = db.engine();
        let (ws, owner, channel) = workspace_with_channel(store, "acme", NOW).await;
        store.import_rate_card(&card(), NOW).await.unwrap();
        let refs = template_audience(store, ws, "UTILITY", "55119870", 50, NOW).await;
        let new = NewFeeAccount {
            waba_id: "WABA".into(),
            currency: Currency::parse("USD").unwrap(),
            postpaid: false,
            credit_limit: Micros::ZERO,
        };
        let account = store.open_fee_account(ws, new, NOW).await.unwrap();

        // A Checkout paid: credited once, whichever of Stripe's events says so and however often.
        store.set_stripe_customer(ws, account.id, "cus_1").await.unwrap();
        let top_up = store.begin_top_up(ws, account.id, Micros(68_000), owner, NOW).await.unwrap();
        assert_eq!((top_up.state, top_up.source), (TopUpState::Pending, TopUpSource::Checkout), "{e}");
        store.attach_checkout(top_up.id, "cs_1", "https://pay.example/cs_1", NOW).await.unwrap();
        let wrong_amount = store.credit_payment(payment("evt_0", top_up.id, "pi_1", None, 68_001), NOW).await.unwrap();
        assert!(matches!(wrong_amount, Credited::Refused(_)), "{e}: {wrong_amount:?}");
        let wrong_session =
            store.credit_payment(payment("evt_00", top_up.id, "pi_1", Some("cs_2"), 68_000), NOW).await.unwrap();
        assert!(matches!(wrong_session, Credited::Refused(_)), "{e}: {wrong_session:?}");
        let first = store.credit_payment(payment("evt_1", top_up.id, "pi_1", Some("cs_1"), 68_000), NOW).await.unwrap();
        assert!(matches!(first, Credited::Now(_)), "{e}: {first:?}");
        let replay =
            store.credit_payment(payment("evt_1", top_up.id, "pi_1", Some("cs_1"), 68_000), NOW).await.unwrap();
        assert_eq!(replay, Credited::EventSeen, "{e}");
        let other_event = store.credit_payment(payment("evt_2", top_up.id, "pi_1", None, 68_000), NOW).await.unwrap();
        assert_eq!(other_event, Credited::Before, "{e}");
        let account = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!(account.money.balance, Micros(68_000), "{e}: credited once");
        assert_eq!(account.payment_method.as_deref(), Some("pm_card"), "{e}: the card is saved");
        let listed = store.top_ups(ws, account.id, 10).await.unwrap();
        assert_eq!(listed[0].state, TopUpState::Succeeded, "{e}");

        // Terms: an alert below 0.04, a recharge of 0.10 below 0.03, at most 0.15 a month.
        let rule = AutoRecharge { threshold: Micros(30_000), amount: Micros(100_000), monthly_cap: Micros(150_000) };
        let patch = FeeAccountPatch {
            alert_threshold: Some(Some(Micros(40_000))),
            alert_emails: Some(vec!["billing@acme.example".into()]),
            auto_recharge: Some(Some(rule)),
            ..FeeAccountPatch::default()
        };
        store.update_fee_account(ws, account.id, patch, NOW).await.unwrap();
        assert!(alert_kinds(store).await.is_empty(), "{e}: above both thresholds");

        // Fifty sends at once, a balance for ten: both thresholds crossed together, once each.
        let outcomes = send_promos_at_once(db.store.clone(), ws, channel, &refs, NOW).await;
        let queued = outcomes.iter().filter(|o| matches!(o, SendOutcome::Queued(_))).count();
        assert_eq!(queued, 10, "{e}");
        assert_eq!(alert_kinds(store).await, ["balance_low"], "{e}: one alert for the crossing");
        let later = store.alerts_to_mail(NOW.plus_secs(1), 5, 100).await.unwrap();
        assert!(later.is_empty(), "{e}: past alerts are not mailed by a relay set up later");
        let asked = store.claim_recharges(NOW, NOW.plus_secs(60), 10).await.unwrap();
        assert_eq!(asked.len(), 1, "{e}: one recharge for the crossing");
        assert!(store.claim_recharges(NOW, NOW.plus_secs(60), 10).await.unwrap().is_empty(), "{e}: leased");
        let (recharge, with) = &asked[0];
        assert_eq!((recharge.amount, recharge.source), (Micros(100_000), TopUpSource::Auto), "{e}");
        assert_eq!(with.payment_method.as_deref(), Some("pm_card"), "{e}");

        // Stripe takes it; its webhook credits it: above the thresholds again, both re-armed.
        store.recharge_asked(recharge.id, "pi_2", NOW).await.unwrap();
        let credited = store.credit_payment(payment("evt_3", recharge.id, "pi_2", None, 100_000), NOW).await.unwrap();
        assert!(matches!(credited, Credited::Now(_)), "{e}: {credited:?}");
        for alert in store.alerts_to_mail(DAY_BEFORE, 5, 100).await.unwrap() {
            store.alert_mailed(alert.id, Ok(()), NOW).await.unwrap();
        }
        assert!(alert_kinds(store).await.is_empty(), "{e}: mailed alerts are not mailed again");

        // Down again: a second alert; the second recharge would pass the monthly cap.
        store.record_entry(ws, account.id, adjustment(-80_000), NOW).await.unwrap();
        store.record_entry(ws, account.id, adjustment(-1_000), NOW).await.unwrap();
        assert_eq!(alert_kinds(store).await, ["balance_low", "recharge_cap_reached"], "{e}");
        assert!(store.claim_recharges(NOW.plus_secs(120), NOW.plus_secs(180), 10).await.unwrap().is_empty(), "{e}");

        // A higher cap is a new term: watched at once, a recharge asked; declined, it alerts.
        let higher = AutoRecharge { monthly_cap: Micros(500_000), ..rule };
        let patch = FeeAccountPatch { auto_recharge: Some(Some(higher)), ..FeeAccountPatch::default() };
        store.update_fee_account(ws, account.id, patch, NOW).await.unwrap();
        let asked = store.claim_recharges(NOW.plus_secs(120), NOW.plus_secs(180), 10).await.unwrap();
        assert_eq!(asked.len(), 1, "{e}");
        store.top_up_not_taken(asked[0].0.id, "card declined", None, NOW).await.unwrap();
        let kinds = alert_kinds(store).await;
        assert_eq!(kinds, ["balance_low", "recharge_cap_reached", "recharge_failed"], "{e}");
        let listed = store.top_ups(ws, account.id, 10).await.unwrap();
        assert_eq!((listed[0].state, listed[0].error.as_deref()), (TopUpState::Failed, Some("card declined")), "{e}");
        let account = store.fee_account(ws, account.id).await.unwrap();
        assert_eq!(account.money.balance, Micros(68_000 + 100_000 - 81_000), "{e}: nothing more credited");
    }
}

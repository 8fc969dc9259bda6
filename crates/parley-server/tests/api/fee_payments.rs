//! Card top-ups, auto-recharge and alerts through the real server, on both engines, with the
//! sandbox playing Stripe and a real SMTP server (Python's `aiosmtpd`) receiving the mail: a
//! Checkout paid credits once; forged, altered, missing and replayed webhooks credit nothing;
//! a recharge fires below its threshold and a declined one alerts; each crossing below the
//! alert threshold mails once.

use std::sync::Arc;

use parley_core::ManualClock;
use parley_sandbox::{Sandbox, SandboxConfig, StripeHook};
use parley_server::payments::{Payments, StripeSettings};
use parley_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{START, TestApp, eventually};
use crate::smtp::SmtpServer;

const WEBHOOK_SECRET: &str = "whsec_test_secret";
const SECRET_KEY: &str = "sk_test_parley";

/// The payer's browser, stopped at the way back (to the app's public URL, not served here).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

struct Setup {
    app: TestApp,
    sandbox: Sandbox,
    account: String,
}

async fn setup(db: TestDatabase, smtp: Option<&SmtpServer>) -> Setup {
    // The sandbox signs with its own clock at the app's start (the app's clock moves only
    // where a test says so, and then no new event is signed).
    let sandbox_clock = Arc::new(ManualClock::new(START));
    let sandbox =
        Sandbox::start(SandboxConfig { clock: sandbox_clock, auto_tick: false, ..Default::default() }).await.unwrap();
    let api_base = sandbox.stripe_api_base();
    let port = smtp.map(|s| s.port);
    let app = TestApp::spawn_with(db, "acme", move |state| {
        let settings = StripeSettings {
            secret_key: SECRET_KEY.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            api_base,
            public_url: "http://127.0.0.1".into(),
            ..StripeSettings::default()
        };
        state.payments = Some(Arc::new(Payments::new(&settings, &state.outbound.allow).unwrap()));
        state.mailer = port.map(crate::smtp::mailer);
    })
    .await;
    sandbox.configure_stripe(StripeHook {
        secret_key: SECRET_KEY.into(),
        webhook_url: app.url("/webhooks/stripe"),
        webhook_secret: WEBHOOK_SECRET.into(),
    });
    let (channel, _) = app.connect(&sandbox, "300000000000001", "app-secret-1").await;
    let opened = app.post("/api/v1/fees/accounts", json!({"waba_id": channel["waba_id"]})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    let account = format!("/api/v1/fees/accounts/{}", opened.body["id"]);
    Setup { app, sandbox, account }
}

impl Setup {
    async fn account(&self) -> Value {
        let all = self.app.get("/api/v1/fees/accounts").await.body;
        all.as_array().unwrap()[0].clone()
    }

    async fn balance_is(&self, balance: &str) -> bool {
        let account = self.account().await;
        account["balance"] == balance
    }

    async fn adjust(&self, amount: &str) {
        let body = json!({"kind": "adjustment", "amount": amount, "reason": "test"});
        let r = self.app.post(&format!("{}/entries", self.account), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }

    async fn top_ups(&self) -> Vec<Value> {
        self.app.get(&format!("{}/top-ups", self.account)).await.body.as_array().unwrap().clone()
    }

    async fn post_webhook(&self, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.app.client.post(self.app.url("/webhooks/stripe")).body(body.to_vec());
        if let Some(signature) = signature {
            req = req.header("stripe-signature", signature);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn card_top_ups_credit_once_and_forged_or_replayed_webhooks_credit_nothing() {
    let smtp = SmtpServer::start().await;
    for db in TestDatabase::all().await {
        let s = setup(db, None).await;
        let e = s.app.engine();
        let top_ups = format!("{}/top-ups", s.account);

        // Bad amounts, other roles: refused, nothing begun.
        for (amount, code) in [("5.00", "invalid_amount"), ("50.001", "invalid_amount"), ("50,00", "invalid_amount")] {
            let r = s.app.post(&top_ups, json!({"amount": amount})).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{e}: {amount}");
        }
        let manager = s.app.token_for("manager", "m@acme.example").await;
        let r = s.app.call_as(Some(&manager), Method::POST, &top_ups, Some(json!({"amount": "50.00"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
        assert!(s.top_ups().await.is_empty(), "{e}");

        // An owner begins; pays at the sandbox's page; Stripe's webhooks credit it once.
        let begun = s.app.post(&top_ups, json!({"amount": "50.00"})).await;
        assert_eq!(begun.status, StatusCode::CREATED, "{e}: {:?}", begun.body);
        assert_eq!((begun.body["state"].as_str(), begun.body["amount"].as_str()), (Some("pending"), Some("50.000000")));
        let checkout = begun.body["checkout_url"].as_str().unwrap().to_owned();
        assert!(s.balance_is("0.000000").await, "{e}: nothing before the webhook");
        let page = reqwest::get(&checkout).await.unwrap().text().await.unwrap();
        assert!(page.contains("5000") && page.contains("USD"), "{e}: the page shows 5000 cents: {page}");
        let paid = no_redirects().post(format!("{checkout}/pay")).send().await.unwrap();
        assert_eq!(paid.status(), StatusCode::SEE_OTHER, "{e}");
        let back = paid.headers()["location"].to_str().unwrap().to_owned();
        assert!(back.ends_with(&format!("/inbox?top_up_paid={}#fees", begun.body["id"])), "{e}: {back}");
        assert!(eventually(20, || s.balance_is("50.000000")).await, "{e}: credited: {:?}", s.account().await);
        assert!(
            eventually(20, || async { s.sandbox.stripe_deliveries().iter().all(|d| d.statuses.last() == Some(&200)) })
                .await,
            "{e}: both events acknowledged"
        );
        let deliveries = s.sandbox.stripe_deliveries();
        assert_eq!(deliveries.len(), 2, "{e}: session completed and payment succeeded");
        let listed = s.top_ups().await;
        assert_eq!(listed[0]["state"], "succeeded", "{e}");
        assert_eq!(s.account().await["card_saved"], true, "{e}: the card is saved for auto-recharge");

        // Forged, altered, unsigned, replayed, replayed late: nothing more credited.
        let first = &deliveries[0];
        let forged = format!("t={},v1={}", START.as_secs(), "ab".repeat(32));
        let (status, body) = s.post_webhook(&first.body, Some(&forged)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_signature")));
        let mut altered = first.body.clone();
        let at = altered.len() / 2;
        altered[at] = if altered[at] == b'1' { b'2' } else { b'1' };
        assert_eq!(s.post_webhook(&altered, Some(&first.signature)).await.0, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(s.post_webhook(&first.body, None).await.0, StatusCode::BAD_REQUEST, "{e}");
        let (status, body) = s.post_webhook(&first.body, Some(&first.signature)).await;
        assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("replayed")), "{e}");
        s.app.clock.advance_secs(600);
        let (status, body) = s.post_webhook(&deliveries[1].body, Some(&deliveries[1].signature)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_signature")));
        assert!(s.balance_is("50.000000").await, "{e}: still credited once");
        let entries = s.app.get(&format!("{}/entries", s.account)).await.body;
        let top_up_entries = entries.as_array().unwrap().iter().filter(|x| x["kind"] == "top_up").count();
        assert_eq!(top_up_entries, 1, "{e}");
    }
    drop(smtp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_recharge_and_low_balance_alerts_by_app_mail_and_webhook() {
    let smtp = SmtpServer::start().await;
    let mut mailed = 0;
    for db in TestDatabase::all().await {
        let s = setup(db, smtp.as_ref()).await;
        let e = s.app.engine();
        // A card saved by a first top-up.
        let begun = s.app.post(&format!("{}/top-ups", s.account), json!({"amount": "50.00"})).await;
        let checkout = begun.body["checkout_url"].as_str().unwrap().to_owned();
        let paid = no_redirects().post(format!("{checkout}/pay")).send().await.unwrap();
        assert_eq!(paid.status(), StatusCode::SEE_OTHER, "{e}");
        assert!(eventually(20, || s.balance_is("50.000000")).await, "{e}");

        // Terms: alert below 30, recharge 40 below 20 (at most 100 a month). Bad terms refused.
        let bad = s
            .app
            .patch(&s.account, json!({"auto_recharge": {"threshold": "20", "amount": "0", "monthly_cap": "100"}}))
            .await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_auto_recharge"), "{e}");
        let bad = s.app.patch(&s.account, json!({"alert_emails": ["not an address"]})).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"), "{e}");
        let terms = json!({"alert_threshold": "30", "alert_emails": ["billing@acme.example"],
            "auto_recharge": {"threshold": "20", "amount": "40", "monthly_cap": "100"}});
        let set = s.app.patch(&s.account, terms).await;
        assert_eq!(set.status, StatusCode::OK, "{e}: {:?}", set.body);
        assert_eq!(set.body["auto_recharge"]["amount"], "40.000000", "{e}");

        // Below 30: one alert — in the app, by mail, as a webhook event (not for agents).
        s.adjust("-25").await;
        s.adjust("-1").await;
        let notes = s.app.get("/api/v1/notifications").await.body;
        let low: Vec<&Value> = notes.as_array().unwrap().iter().filter(|n| n["kind"] == "fees.balance_low").collect();
        assert_eq!(low.len(), 1, "{e}: one crossing, one notice: {notes:?}");
        let events = s.app.get("/api/v1/events?limit=1000").await.body;
        let kinds: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|x| x["kind"].as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "fees.balance_low").count(), 1, "{e}");
        let agent = s.app.token_for("agent", "a@acme.example").await;
        let theirs = s.app.call_as(Some(&agent), Method::GET, "/api/v1/events?limit=1000", None).await.body;
        assert!(!theirs.to_string().contains("fees."), "{e}: agents do not read money");
        if let Some(smtp) = &smtp {
            mailed += 1;
            assert!(eventually(30, || async { smtp.subjects().len() == mailed }).await, "{e}: {:?}", smtp.subjects());
        }

        // Below 20: a recharge of 40 asked of Stripe, credited by its webhook.
        s.adjust("-10").await;
        assert!(eventually(30, || s.balance_is("54.000000")).await, "{e}: {:?}", s.account().await);
        let listed = s.top_ups().await;
        assert_eq!((listed[0]["source"].as_str(), listed[0]["state"].as_str()), (Some("auto"), Some("succeeded")));

        // Down again with the card declining: the recharge fails and says so; a second crossing
        // of the alert threshold mails again.
        s.sandbox.decline_stripe(1);
        s.adjust("-40").await;
        let failed = eventually(30, || async { s.top_ups().await[0]["state"] == "failed" }).await;
        assert!(failed, "{e}: {:?}", s.top_ups().await);
        let listed = s.top_ups().await;
        assert!(listed[0]["error"].as_str().unwrap().contains("insufficient funds"), "{e}: {listed:?}");
        assert!(s.balance_is("14.000000").await, "{e}");
        let notes = s.app.get("/api/v1/notifications").await.body;
        let failures = notes.as_array().unwrap().iter().filter(|n| n["kind"] == "fees.recharge_failed").count();
        assert_eq!(failures, 1, "{e}: {notes:?}");
        if let Some(smtp) = &smtp {
            mailed += 2;
            assert!(eventually(30, || async { smtp.subjects().len() == mailed }).await, "{e}: {:?}", smtp.subjects());
            let subjects = smtp.subjects();
            assert_eq!(subjects.iter().filter(|s| s.contains("low balance")).count(), mailed * 2 / 3, "{subjects:?}");
            assert_eq!(subjects.iter().filter(|s| s.contains("failed")).count(), mailed / 3, "{subjects:?}");
        }
    }
}

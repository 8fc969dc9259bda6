//! The fees page (issue 19): an owner opens a fee account for the sandbox number's WABA,
//! records a bank transfer and sees the balance; a reply to a customer is held, delivered and
//! charged by the sample card (marked as a sample on the page), and the ledger shows it; a
//! manager reads the page without its forms; screenshots at desktop and phone width in the
//! three languages.

use parley_core::Clock;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, eventually};
use super::{log_in, sqlite_app};

/// A customer in Brazil writes; a reply goes out, is delivered and charged on `account`.
async fn reply_charged(app: &super::helpers::TestApp, wired: &super::helpers::Wired, account: i64) {
    wired.writes("5511987650000", "oi").await;
    let channel = wired.channel["id"].as_i64().unwrap();
    let reply = serde_json::json!({"channel_id": channel, "to": "phone:+5511987650000", "type": "text", "text": {"body": "Olá!"}});
    assert_eq!(app.post("/api/v1/messages", reply).await.status, reqwest::StatusCode::ACCEPTED);
    let path = format!("/api/v1/fees/accounts/{account}/entries");
    assert!(eventually(20, || async { app.get(&path).await.body[0]["kind"] == "charge" }).await, "charged");
}

#[tokio::test]
async fn an_owner_tops_up_and_watches_a_reply_charged() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    // After 2026-10-01: service replies are charged.
    app.clock.set(parley_core::Timestamp::parse_rfc3339("2026-10-15T09:00:00Z").unwrap());
    let wired = app.wired().await;
    parley_server::fees::install_sample_card(&*app.db.store, app.clock.now()).await.unwrap();
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#fees")).await.unwrap();
    browser.wait_for("#fees-none", "no account yet", async |_: &WebElement| true).await;
    browser.wait_text("#fees-sample", "not Meta's prices").await;
    browser.click_in_page("#fees-open-save").await;

    let account = {
        let mut found = None;
        for _ in 0..50 {
            if let Some(id) = app.get("/api/v1/fees/accounts").await.body[0]["id"].as_i64() {
                found = Some(id);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        found.expect("the account is open")
    };
    let form = format!("fees-{account}-top_up");
    browser.wait_for(&format!("#{form}-amount"), "the transfer form", async |_: &WebElement| true).await;
    let fill = "document.getElementById(arguments[0]).value = arguments[1];";
    browser.driver.execute(fill, vec![format!("{form}-amount").into(), "25".into()]).await.unwrap();
    browser.driver.execute(fill, vec![format!("{form}-note").into(), "TR-2026-10".into()]).await.unwrap();
    browser.click_in_page(&format!("#{form}-save")).await;
    browser.wait_text(&format!("#fees-{account}-balance"), "25").await;

    // A reply, delivered and charged: the ledger shows the charge.
    reply_charged(&app, &wired, account).await;
    for (lang, width, height, charge) in [
        ("en", 1280, 800, "Charge"),
        ("fr", 1280, 800, "Débit"),
        ("vi", 1280, 800, "Phí"),
        ("en", 390, 844, "Charge"),
        ("fr", 390, 844, "Débit"),
        ("vi", 390, 844, "Phí"),
    ] {
        app.patch("/api/v1/me", serde_json::json!({"locale": lang})).await;
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.driver.goto(app.url("/inbox#fees")).await.unwrap();
        browser.wait_text(&format!("#fees-{account}-ledger tr.charge"), charge).await;
        browser.screenshot(&format!("fees-{lang}-{width}")).await;
        let ledger = format!("document.getElementById('fees-{account}-ledger').scrollIntoView()");
        browser.driver.execute(&ledger, vec![]).await.unwrap();
        browser.screenshot(&format!("fees-ledger-{lang}-{width}")).await;
    }

    // A manager reads it all, and has no form to change it.
    let manager = serde_json::json!({"email": "m@acme.example", "name": "Mai", "role": "manager", "password": "manager password 1"});
    assert_eq!(app.post("/api/v1/users", manager).await.status, reqwest::StatusCode::CREATED);
    browser.driver.delete_all_cookies().await.unwrap();
    log_in(&browser, &app, "m@acme.example", "manager password 1").await;
    browser.driver.goto(app.url("/inbox#fees")).await.unwrap();
    browser.wait_text(&format!("#fees-{account}-ledger tr.charge"), "Charge").await;
    let forms: usize = browser
        .driver
        .execute("return document.querySelectorAll('#fees form button.primary').length", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert_eq!(forms, 0, "a manager reads, and changes nothing");
    browser.quit().await;
}

/// An owner pays by card through the sandbox's Stripe checkout: back on the fees page, the
/// balance shows the payment once Stripe's webhook confirms it; a charged reply then shows in
/// the 30-day chart. Screenshots of the card form, the checkout and the chart, three languages,
/// desktop and phone.
#[tokio::test]
async fn an_owner_pays_by_card_and_the_chart_shows_the_charges() {
    use std::sync::Arc;

    let Some(browser) = Browser::start().await else { return };
    let now = parley_core::Timestamp::parse_rfc3339("2026-10-15T09:00:00Z").unwrap();
    let stripe_clock = Arc::new(parley_core::ManualClock::new(now));
    let config = parley_sandbox::SandboxConfig { clock: stripe_clock, auto_tick: false, ..Default::default() };
    let stripe = parley_sandbox::Sandbox::start(config).await.unwrap();
    let api_base = stripe.stripe_api_base();
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let app = super::helpers::TestApp::spawn_knowing_addr(db, "acme", move |state, addr| {
        let settings = parley_server::payments::StripeSettings {
            secret_key: "sk_test_browser".into(),
            webhook_secret: "whsec_browser".into(),
            api_base,
            public_url: format!("http://{addr}"),
            ..Default::default()
        };
        let payments = parley_server::payments::Payments::new(&settings, &state.outbound.allow).unwrap();
        state.payments = Some(Arc::new(payments));
    })
    .await;
    app.clock.set(now);
    stripe.configure_stripe(parley_sandbox::StripeHook {
        secret_key: "sk_test_browser".into(),
        webhook_url: app.url("/webhooks/stripe"),
        webhook_secret: "whsec_browser".into(),
    });
    let wired = app.wired().await;
    parley_server::fees::install_sample_card(&*app.db.store, now).await.unwrap();
    let opened = app.post("/api/v1/fees/accounts", serde_json::json!({"waba_id": wired.channel["waba_id"]})).await;
    let account = opened.body["id"].as_i64().unwrap();

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#fees")).await.unwrap();
    let form = format!("fees-{account}-card");
    browser.wait_for(&format!("#{form}-amount"), "the card form", async |_: &WebElement| true).await;
    browser.screenshot("fees-card-form-en-1280").await;
    let fill = "document.getElementById(arguments[0]).value = arguments[1];";
    browser.driver.execute(fill, vec![format!("{form}-amount").into(), "50".into()]).await.unwrap();
    browser.click_in_page(&format!("#{form}-pay")).await;

    // Stripe's page (played by the sandbox), then back.
    browser.wait_text("#amount", "5000").await;
    browser.screenshot("fees-checkout").await;
    browser.click_in_page("#pay").await;
    browser.wait_text("#fees-payment-return", "").await;
    browser.wait_text(&format!("#fees-{account}-balance"), "50").await;
    browser.wait_text(&format!("#fees-{account}-top-ups tr.succeeded"), "").await;
    browser.wait_text(&format!("#fees-{account}-chart-total"), "messages: 0").await;

    // A reply, delivered and charged: the chart has a bar and says so.
    reply_charged(&app, &wired, account).await;
    for (lang, width, height, messages) in [
        ("en", 1280, 800, "messages: 1"),
        ("fr", 1280, 800, "messages : 1"),
        ("vi", 1280, 800, "số tin nhắn: 1"),
        ("en", 390, 844, "messages: 1"),
        ("fr", 390, 844, "messages : 1"),
        ("vi", 390, 844, "số tin nhắn: 1"),
    ] {
        app.patch("/api/v1/me", serde_json::json!({"locale": lang})).await;
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.driver.goto(app.url("/inbox#fees")).await.unwrap();
        browser.wait_text(&format!("#fees-{account}-chart-total"), messages).await;
        let bars: usize = browser
            .driver
            .execute(&format!("return document.querySelectorAll('#fees-{account}-chart rect').length"), vec![])
            .await
            .unwrap()
            .convert()
            .unwrap();
        assert_eq!(bars, 1, "{lang}: one day, one category");
        let chart = format!("document.getElementById('fees-{account}-chart').scrollIntoView()");
        browser.driver.execute(&chart, vec![]).await.unwrap();
        browser.screenshot(&format!("fees-chart-{lang}-{width}")).await;
        let terms = format!("document.getElementById('fees-{account}-terms').scrollIntoView()");
        browser.driver.execute(&terms, vec![]).await.unwrap();
        browser.screenshot(&format!("fees-terms-{lang}-{width}")).await;
    }
    browser.quit().await;
}

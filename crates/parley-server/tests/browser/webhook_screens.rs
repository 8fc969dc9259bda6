//! Outgoing webhooks on the team page (issue 17): an owner subscribes a URL with the events
//! chosen, sees the secret once, sends a test, reads the delivery log, pauses and resumes, and
//! deletes; a refused URL shows in words and creates nothing.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, Receiver, eventually};
use super::{log_in, sqlite_app};

#[tokio::test]
async fn owners_subscribe_test_read_the_log_pause_and_delete_webhooks() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let receiver = Receiver::start().await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for("#webhook-new", "the subscribe form", async |_: &WebElement| true).await;

    // A private address is refused in words; nothing is created.
    let fill = "document.getElementById('webhook-new-url').value = arguments[0];
        for (const box of document.querySelectorAll('#webhook-new-kinds input')) box.checked = arguments[1].includes(box.value);";
    browser.driver.execute(fill, vec![json!("http://10.1.2.3/hook"), json!(["message.received"])]).await.unwrap();
    browser.click_in_page("#webhook-new-save").await;
    browser.wait_text("#webhook-new-error", "10.1.2.3").await;
    assert!(app.get("/api/v1/webhook-subscriptions").await.body.as_array().unwrap().is_empty());

    // The receiver (on the test allow-list) is subscribed; the secret shows once.
    browser
        .driver
        .execute(fill, vec![json!(receiver.url), json!(["message.received", "contact.created"])])
        .await
        .unwrap();
    browser.click_in_page("#webhook-new-save").await;
    let secret = browser
        .wait_for("#webhook-secret", "the secret", async |e: &WebElement| {
            e.prop("value").await.ok().flatten().is_some_and(|v| v.starts_with("whsec_"))
        })
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let subs = app.get("/api/v1/webhook-subscriptions").await.body;
    let id = subs[0]["id"].as_i64().unwrap();
    assert_eq!(subs[0]["kinds"], json!(["contact.created", "message.received"]));
    browser.screenshot("webhooks-created").await;

    // A test goes out signed with that secret, and shows in the log.
    browser.click_in_page(&format!("#webhook-{id}-ping")).await;
    assert!(eventually(10, || async { !receiver.hits().is_empty() }).await);
    let hit = receiver.hits()[0].clone();
    let header = hit.headers["parley-signature"].to_str().unwrap().to_owned();
    let t: i64 = header.split(',').find_map(|p| p.strip_prefix("t=")).unwrap().parse().unwrap();
    assert_eq!(parley_core::outgoing::signature(secret.as_bytes(), t, &hit.body), header);
    browser.wait_text(&format!("#webhook-{id}-log .deliveries"), "ping").await;
    browser.screenshot("webhooks-log").await;

    // A redraw drops the secret: it is never shown again.
    browser.click_in_page(&format!("#webhook-{id}-pause")).await;
    browser.wait_text(&format!("#webhook-{id}-status"), "Paused").await;
    let shown: bool = browser
        .driver
        .execute("return !!document.getElementById('webhook-secret')", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert!(!shown, "the secret shows only right after the subscription is made");
    assert_eq!(app.get(&format!("/api/v1/webhook-subscriptions/{id}")).await.body["active"], false);
    browser.click_in_page(&format!("#webhook-{id}-resume")).await;
    browser.wait_text(&format!("#webhook-{id}-status"), "Delivering").await;

    // Kinds are changed and saved; then the subscription is deleted after a confirmation.
    let only = "for (const box of document.querySelectorAll(`#webhook-${arguments[0]}-kinds input`)) box.checked = box.value === 'contact.created';";
    browser.driver.execute(only, vec![json!(id)]).await.unwrap();
    browser.click_in_page(&format!("#webhook-{id}-save")).await;
    assert!(
        eventually(10, || async {
            app.get(&format!("/api/v1/webhook-subscriptions/{id}")).await.body["kinds"] == json!(["contact.created"])
        })
        .await
    );
    browser.click_in_page(&format!("#webhook-{id}-delete")).await;
    browser.click_in_page("#confirm-ok").await;
    assert!(
        eventually(10, || async {
            app.get("/api/v1/webhook-subscriptions").await.body.as_array().is_some_and(|a| a.is_empty())
        })
        .await
    );
    browser.quit().await;
}

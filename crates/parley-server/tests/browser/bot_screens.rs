//! Bots in the inbox (issue 17, point 3): the bots' tab lists the conversations bots hold, and a
//! person takes one over from the thread with one click.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, eventually};
use super::{log_in, sqlite_app};

#[tokio::test]
async fn a_person_finds_the_bots_conversations_and_takes_one_over() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let bot = app.post("/api/v1/bots", json!({"name": "Helper"})).await.body["bot"]["id"].as_i64().unwrap();
    let customer = parley_sandbox::Customer::new("33655555555", "Bea");
    let item = wired.sandbox.message(&wired.number.phone_number_id, &customer, &parley_sandbox::Say::text("hi bot"));
    wired.sandbox.deliver(vec![item], parley_sandbox::Batching::default());
    assert!(wired.sandbox.wait_idle(std::time::Duration::from_secs(20)).await);
    let conv = app.get("/api/v1/conversations").await.body["items"][0]["id"].as_i64().unwrap();
    assert!(
        app.post(&format!("/api/v1/conversations/{conv}/assign"), json!({"user_id": bot})).await.status.is_success()
    );

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.click_in_page("#tab-bots").await;
    browser
        .wait_for(
            &format!("#conversations li[data-id=\"{conv}\"]"),
            "the bot's conversation",
            async |_: &WebElement| true,
        )
        .await;
    browser.screenshot("bots-tab").await;
    browser.click_in_page(&format!("#conversations li[data-id=\"{conv}\"]")).await;
    browser
        .wait_for("#take-over", "the take-over button", async |e: &WebElement| e.is_displayed().await.unwrap_or(false))
        .await;
    browser.click_in_page("#take-over").await;
    let owner = app.get("/api/v1/me").await.body["user"]["id"].clone();
    let taken = eventually(10, || async {
        app.get(&format!("/api/v1/conversations/{conv}")).await.body["assignee_id"] == owner
    })
    .await;
    assert!(taken, "the owner holds it now");
    browser
        .wait_for("#take-over", "the button gone", async |e: &WebElement| !e.is_displayed().await.unwrap_or(true))
        .await;
    browser.quit().await;
}

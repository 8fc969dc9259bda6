//! Settings screens for what only the API could set (issue 16, point 14, first part): closing
//! notes' mode and categories, automatic assignment, auto-close — on the team page, saved with
//! their own buttons; a refusal shows in words and changes nothing.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::OWNER_PASSWORD;
use super::{log_in, sqlite_app};

#[tokio::test]
async fn owners_set_how_conversations_are_handled() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for("#closing-notes-form", "the settings", async |_: &WebElement| true).await;

    // A required category without categories is refused, in words, and nothing is saved.
    browser.choose("closing-mode", "category").await;
    browser.click_in_page("#closing-notes-form-save").await;
    browser
        .wait_for("#closing-notes-form-error", "the refusal", async |e| e.is_displayed().await.unwrap_or(false))
        .await;
    assert_eq!(app.get("/api/v1/workspace/closing-notes").await.body["mode"], "off");

    browser.driver.find(By::Id("closing-categories")).await.unwrap().send_keys("Sale\nRefund\n").await.unwrap();
    browser.click_in_page("#closing-notes-form-save").await;
    browser.wait_text(".toast", "Saved").await;
    assert_eq!(
        app.get("/api/v1/workspace/closing-notes").await.body,
        json!({"mode": "category", "categories": ["Sale", "Refund"]})
    );

    browser.choose("assignment-mode", "round_robin").await;
    browser.driver.find(By::Id("assignment-max-open")).await.unwrap().send_keys("5").await.unwrap();
    browser.click_in_page("#assignment-form-save").await;
    assert!(
        super::helpers::eventually(10, || async {
            app.get("/api/v1/workspace/assignment").await.body == json!({"mode": "round_robin", "max_open": 5})
        })
        .await
    );

    browser.click_in_page("#auto-close-on").await;
    let hours = browser.driver.find(By::Id("auto-close-hours")).await.unwrap();
    hours.clear().await.unwrap();
    hours.send_keys("48").await.unwrap();
    browser.click_in_page("#auto-close-form-save").await;
    assert!(
        super::helpers::eventually(10, || async {
            app.get("/api/v1/workspace/auto-close").await.body == json!({"after_hours": 48})
        })
        .await
    );
    browser.screenshot("settings-en").await;

    // Read back as saved, in every language.
    for lang in ["fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.driver.goto(app.url("/inbox#team")).await.unwrap();
        let mode = browser.wait_for("#assignment-mode", "the settings", async |_: &WebElement| true).await;
        assert_eq!(mode.prop("value").await.unwrap().as_deref(), Some("round_robin"));
        let categories = browser.driver.find(By::Id("closing-categories")).await.unwrap().prop("value").await.unwrap();
        assert_eq!(categories.as_deref(), Some("Sale\nRefund"));
        browser.screenshot(&format!("settings-{lang}")).await;
    }
    browser.quit().await;
}

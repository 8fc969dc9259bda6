//! Every screen in English, French and Vietnamese, at 1280×800 and at phone width (issue 16):
//! each one is kept as a screenshot (`target/screenshots/tour-<screen>-<lang>-<size>.png`, a CI
//! artifact), and each is checked for what a longer language breaks — nothing wider than the
//! screen (a page that scrolls sideways, a filter or button cut off at the edge) and no
//! untranslated key left showing.

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, TestApp};
use super::trust::two_customers;
use super::{log_in, sqlite_app};

/// What is wrong with the screen as drawn: elements sticking out past the right edge of the
/// viewport (outside containers that scroll on purpose) and i18n keys shown instead of text.
const PROBLEMS: &str = "
    const out = [];
    const width = document.documentElement.clientWidth;
    const name = (e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`;
    if (document.documentElement.scrollWidth > width + 1) out.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${width})`);
    // What is meant to scroll sideways (wide tables; the phone's thread head, one row by design)
    // or to be cut with an ellipsis.
    const meant = (e) => { for (let p = e; p; p = p.parentElement) {
        if (p.classList.contains('table-scroll') || p.classList.contains('thread-head') || ['hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true; }
      return false; };
    for (const e of document.querySelectorAll('body *')) {
      if (!e.checkVisibility() || ['TEXTAREA', 'PRE'].includes(e.tagName)) continue;
      const style = getComputedStyle(e);
      if (['auto', 'scroll'].includes(style.overflowX) && e.scrollWidth > e.clientWidth + 1 && !meant(e)) {
        out.push(`${name(e)} scrolls sideways (${e.scrollWidth} > ${e.clientWidth})`);
      }
      const r = e.getBoundingClientRect();
      if (r.width && r.right > width + 1 && !meant(e.parentElement)) out.push(`${name(e)} ends at ${Math.round(r.right)}`);
    }
    const text = document.body.innerText;
    for (const m of text.matchAll(/\\b(?:templates|profile|vertical|team|teams|settings|numbers|panel|error|activity|thread|composer|inbox|webhooks)\\.[a-z_]+\\b/g)) out.push(`untranslated key ${m[0]}`);
    return out.slice(0, 10);";

async fn check(browser: &Browser, name: &str, problems: &mut Vec<String>) {
    browser.screenshot(&format!("tour-{name}")).await;
    let found: Value = browser.driver.execute(PROBLEMS, vec![]).await.unwrap().json().clone();
    for p in found.as_array().into_iter().flatten() {
        problems.push(format!("{name}: {}", p.as_str().unwrap_or_default()));
    }
}

async fn open(browser: &Browser, app: &TestApp, path: &str, ready: &str) {
    // Through a blank page: a hash change alone would not load the page again (in its language).
    browser.driver.goto("about:blank").await.unwrap();
    browser.driver.goto(app.url(path)).await.unwrap();
    browser.wait_for(ready, ready, async |_: &WebElement| true).await;
}

#[tokio::test]
async fn every_screen_in_three_languages_at_both_sizes_fits_and_is_translated() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let channel = wired.channel["id"].as_i64().unwrap();
    let (ana, _) = two_customers(&app, &wired).await;
    let template = json!({"name": "order_shipped", "language": "en", "category": "utility", "components": [
        {"type": "body", "text": "Hello {{1}}, order {{2}} is on its way.", "example": {"body_text": [["Ana", "A-1"]]}},
        {"type": "buttons", "buttons": [{"type": "quick_reply", "text": "Talk to us"}]}]});
    assert!(app.post(&format!("/api/v1/channels/{channel}/templates"), template).await.status.is_success());
    // Closing asks for a closing note, so its dialog is a screen too.
    let closing = json!({"mode": "optional", "categories": ["Sale", "Refund"]});
    assert!(app.call(reqwest::Method::PUT, "/api/v1/workspace/closing-notes", Some(closing)).await.status.is_success());
    // A bot: its tab shows in the inbox (and must fit in every language at phone width).
    assert!(app.post("/api/v1/bots", json!({"name": "Helper"})).await.status.is_success());
    // A webhook with a long URL and a delivery in its log.
    let receiver = super::helpers::Receiver::start().await;
    let url = format!("{}?token=a-rather-long-query-string-that-must-wrap-on-a-phone", receiver.url);
    let kinds = json!(["message.received", "conversation.closed", "template.status", "channel.health"]);
    let sub = app.post("/api/v1/webhook-subscriptions", json!({"url": url, "kinds": kinds})).await;
    let sub = sub.body["subscription"]["id"].as_i64().expect("a subscription");
    assert!(app.post(&format!("/api/v1/webhook-subscriptions/{sub}/ping"), json!({})).await.status.is_success());
    let mut problems = Vec::new();

    for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url("/login")).await.unwrap();
        browser.wait_for("#email", "the login form", async |_: &WebElement| true).await;
        check(&browser, &format!("login-{size}"), &mut problems).await;
    }
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    for lang in ["en", "fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
            let at = |screen: &str| format!("{screen}-{lang}-{size}");
            open(&browser, &app, "/inbox", "#conversations li").await;
            check(&browser, &at("inbox"), &mut problems).await;
            browser.driver.find(By::Id("search")).await.unwrap().send_keys("bonjour").await.unwrap();
            browser.wait_for("#search-messages .hit", "a search hit", async |_: &WebElement| true).await;
            check(&browser, &at("search"), &mut problems).await;
            if size == "desktop" {
                browser.click_in_page("#bell").await;
                browser
                    .wait_for("#notifications li", "the notifications", async |e| {
                        e.is_displayed().await.unwrap_or(false)
                    })
                    .await;
                check(&browser, &at("notifications"), &mut problems).await;
            }
            open(&browser, &app, &format!("/inbox#c{ana}"), "#messages li").await;
            browser.wait_for("#composer textarea, #composer select", "the composer", async |_: &WebElement| true).await;
            check(&browser, &at("thread"), &mut problems).await;
            browser.click_in_page("#close-conversation").await;
            browser.wait_for("#close-dialog[open]", "the close dialog", async |_: &WebElement| true).await;
            check(&browser, &at("close-dialog"), &mut problems).await;
            browser.click_in_page("#close-cancel").await;
            browser.choose("status-action", "snooze_until").await;
            browser.wait_for("#snooze-dialog[open]", "the snooze dialog", async |_: &WebElement| true).await;
            check(&browser, &at("snooze-dialog"), &mut problems).await;
            browser.click_in_page("#snooze-cancel").await;
            if size == "phone" {
                browser.click_in_page("#panel-toggle").await;
                browser.wait_attr("#inbox", "data-panel", "open").await;
                check(&browser, &at("panel"), &mut problems).await;
            }
            browser.click_in_page("#shortcuts-button").await;
            browser.wait_for("#shortcuts-help", "the shortcuts", async |_: &WebElement| true).await;
            check(&browser, &at("shortcuts"), &mut problems).await;
            open(&browser, &app, "/inbox#team", "#numbers").await;
            check(&browser, &at("team"), &mut problems).await;
            browser.click_in_page(&format!("#profile-{channel}-section summary")).await;
            browser.wait_for(&format!("#profile-{channel}-about"), "the profile", async |_: &WebElement| true).await;
            browser
                .driver
                .execute(
                    "document.getElementById(arguments[0]).scrollIntoView()",
                    vec![json!(format!("profile-{channel}-section"))],
                )
                .await
                .unwrap();
            check(&browser, &at("profile"), &mut problems).await;
            browser.click_in_page(&format!("#webhook-{sub}-log")).await;
            browser
                .wait_for(&format!("#webhook-{sub}-log .deliveries"), "the delivery log", async |_: &WebElement| true)
                .await;
            browser.driver.execute("document.getElementById('webhooks-title').scrollIntoView()", vec![]).await.unwrap();
            check(&browser, &at("webhooks"), &mut problems).await;
            open(&browser, &app, "/inbox#templates", "#templates-list").await;
            check(&browser, &at("templates"), &mut problems).await;
            browser.click_in_page("#templates-new").await;
            browser.wait_for("#template-preview", "the builder", async |_: &WebElement| true).await;
            browser.choose("template-header-format", "IMAGE").await;
            browser.choose("template-add-button-type", "URL").await;
            browser.click_in_page("#template-add-button").await;
            browser.wait_for("#template-button-0-text", "a button", async |_: &WebElement| true).await;
            check(&browser, &at("builder"), &mut problems).await;
        }
    }
    browser.quit().await;
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

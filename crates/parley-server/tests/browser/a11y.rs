//! The accessibility check (issue 16): axe-core, from npm (`tests/browser/a11y/package.json`,
//! installed by `.ci/run`: `npm ci --prefix crates/parley-server/tests/browser/a11y`), run in the
//! page on the main screens at desktop and phone width. A serious or critical violation fails the
//! test with what axe found and where. Without the package the check is skipped, except in CI.

use std::path::PathBuf;

use parley_core::Clock;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::OWNER_PASSWORD;
use super::trust::two_customers;
use super::{log_in, sqlite_app};

fn axe_source() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/a11y/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) if parley_store::testing::running_in_ci() => {
            panic!("{} is missing: .ci/run installs it with npm", path.display())
        }
        Err(_) => {
            eprintln!(
                "skipping the accessibility check: run `npm ci --prefix crates/parley-server/tests/browser/a11y`"
            );
            None
        }
    }
}

/// Runs axe on the page as it is; answers the serious and critical violations, one line each.
async fn serious_violations(browser: &Browser, axe: &str) -> Vec<String> {
    browser.driver.execute(axe, vec![]).await.unwrap();
    let found = browser
        .driver
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
               .then((r) => done(r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
                 .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join(', ')}`)))
               .catch((e) => done([`axe failed: ${e}`]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value::<Vec<String>>(found.json().clone()).unwrap()
}

#[tokio::test]
async fn the_main_screens_have_no_serious_accessibility_violation() {
    let Some(axe) = axe_source() else { return };
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (ana, _) = two_customers(&app, &wired).await;
    let mut found: Vec<(String, Vec<String>)> = Vec::new();

    browser.driver.goto(app.url("/login")).await.unwrap();
    browser.wait_for("#email", "the login form", async |_: &WebElement| true).await;
    found.push(("login".into(), serious_violations(&browser, &axe).await));

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    for (lang, width, height) in [("en", 1280, 800), ("fr", 1280, 800), ("vi", 390, 844)] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.wait_for("#conversations li", "the list", async |_: &WebElement| true).await;
        found.push((format!("inbox list {lang} {width}px"), serious_violations(&browser, &axe).await));
        browser.click_in_page(&format!("#conversation-{ana}")).await;
        browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;
        found.push((format!("thread {lang} {width}px"), serious_violations(&browser, &axe).await));
    }
    browser.driver.set_window_rect(0, 0, 1280, 800).await.unwrap();
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for("#team:not([hidden])", "the team page", async |_: &WebElement| true).await;
    found.push(("team".into(), serious_violations(&browser, &axe).await));
    let channel = wired.channel["id"].as_i64().unwrap();
    browser.click_in_page(&format!("#profile-{channel}-section summary")).await;
    browser.wait_for(&format!("#profile-{channel}-about"), "the profile", async |_: &WebElement| true).await;
    found.push(("business profile".into(), serious_violations(&browser, &axe).await));
    browser.driver.goto(app.url("/inbox")).await.unwrap();
    browser.driver.goto(app.url("/inbox#templates")).await.unwrap();
    browser.click_in_page("#templates-new").await;
    browser.wait_for("#template-preview", "the template builder", async |_: &WebElement| true).await;
    browser.choose("template-add-button-type", "URL").await;
    browser.click_in_page("#template-add-button").await;
    browser.wait_for("#template-button-0-text", "a button", async |_: &WebElement| true).await;
    found.push(("templates and builder".into(), serious_violations(&browser, &axe).await));
    let branchy = json!({"trigger": {"kind": "message_received"}, "steps": [
        {"id": "hours", "kind": "business_hours", "hours": {"timezone": "UTC", "days": {"mon": ["09:00-18:00"]}},
         "open": "hello", "closed": "away"},
        {"id": "hello", "kind": "send_message", "text": "Hello! support@example.com"},
        {"id": "away", "kind": "add_tags", "tags": ["away"]}]});
    let made = app.post("/api/v1/workflows", json!({"name": "Hours", "definition": branchy})).await;
    browser.driver.goto(app.url("/inbox")).await.unwrap();
    browser.driver.goto(app.url("/inbox#workflows")).await.unwrap();
    browser.click_in_page(&format!("[data-workflow='{}'] .wf-open", made.body["id"])).await;
    browser.wait_for(".wf-branches", "the flow", async |_: &WebElement| true).await;
    browser.click_in_page("#wf-step-hello .wf-edit").await;
    browser.wait_for("#wf-step-hello .wf-form", "a step's form", async |_: &WebElement| true).await;
    found.push(("workflow builder".into(), serious_violations(&browser, &axe).await));
    parley_server::fees::install_sample_card(&*app.db.store, app.clock.now()).await.unwrap();
    app.post("/api/v1/fees/accounts", json!({"waba_id": wired.channel["waba_id"]})).await;
    browser.driver.goto(app.url("/inbox")).await.unwrap();
    browser.driver.goto(app.url("/inbox#fees")).await.unwrap();
    browser.wait_for(".fee-account .figures", "the fees page", async |_: &WebElement| true).await;
    found.push(("fees".into(), serious_violations(&browser, &axe).await));

    let failures: Vec<Value> = found
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(screen, v)| json!({"screen": screen, "violations": v}))
        .collect();
    assert!(failures.is_empty(), "{}", serde_json::to_string_pretty(&failures).unwrap());
    browser.quit().await;
}

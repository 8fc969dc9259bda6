//! The templates page and a number's business profile (issue 16, point 14): a template built with
//! every kind of component, its preview filled as the user types, a refusal shown in words with
//! nothing submitted, a new version, a deletion; the profile changed with a new photo.

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, TestApp, Wired, eventually};
use super::{log_in, sqlite_app};

/// Sets text fields (by id) in the page and tells it each one changed, in one step: the builder
/// redraws itself as fields change, so element handles would go stale.
async fn fill(browser: &Browser, values: Value) {
    let script = "for (const [id, value] of Object.entries(arguments[0])) {
            const input = document.getElementById(id);
            if (!input) throw new Error(`no #${id}`);
            input.focus();
            input.value = value;
            input.dispatchEvent(new Event('input', { bubbles: true }));
        }";
    browser.driver.execute(script, vec![values]).await.unwrap();
}

async fn preview_text(browser: &Browser) -> String {
    let script = "return document.getElementById('template-preview')?.innerText ?? ''";
    browser.driver.execute(script, vec![]).await.unwrap().json().as_str().unwrap_or_default().to_owned()
}

/// A PNG written to a temporary file, for `<input type=file>`.
fn png_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("shop.png");
    std::fs::write(&path, parley_sandbox::samples::photo_png()).unwrap();
    path.display().to_string()
}

/// An owner logged in, with a number wired to the sandbox and a folder for files to upload.
struct Owner {
    browser: Browser,
    app: TestApp,
    wired: Wired,
    channel: i64,
    files: tempfile::TempDir,
}

impl Owner {
    async fn log_in() -> Option<Owner> {
        let browser = Browser::start().await?;
        let app = sqlite_app().await;
        let wired = app.wired().await;
        let channel = wired.channel["id"].as_i64().unwrap();
        log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
        Some(Owner { browser, app, wired, channel, files: tempfile::tempdir().unwrap() })
    }
}

#[tokio::test]
async fn owners_build_version_and_delete_templates_with_a_live_preview() {
    let Some(Owner { browser, app, wired, channel, files }) = Owner::log_in().await else { return };
    browser.driver.goto(app.url("/inbox#templates")).await.unwrap();
    browser.wait_for("#templates-empty", "an empty list", async |_: &WebElement| true).await;
    browser.click_in_page("#templates-new").await;
    browser.wait_for("#template-builder", "the builder", async |_: &WebElement| true).await;

    // The preview follows the typing: variables show their examples.
    fill(
        &browser,
        json!({"template-name": "order_shipped", "template-body": "Hello {{1}}, order *{{2}}* is on its way."}),
    )
    .await;
    browser.wait_for("#template-example-2", "an example per variable", async |_: &WebElement| true).await;
    fill(
        &browser,
        json!({"template-example-1": "Ana", "template-example-2": "A-1001", "template-footer": "Acme shop"}),
    )
    .await;
    let shown = preview_text(&browser).await;
    assert!(shown.contains("Hello Ana, order A-1001 is on its way.") && shown.contains("Acme shop"), "{shown}");

    // An image header: the sample goes to the provider; a link button with a variable at its end.
    browser.choose("template-header-format", "IMAGE").await;
    let file = browser.wait_for("#template-sample", "the sample input", async |_: &WebElement| true).await;
    file.send_keys(png_file(&files)).await.unwrap();
    browser.wait_text("#template-sample-status", "shop.png").await;
    browser.choose("template-add-button-type", "URL").await;
    browser.click_in_page("#template-add-button").await;
    fill(
        &browser,
        json!({"template-button-0-text": "Track it", "template-button-0-url": "https://shop.example/t/{{1}}"}),
    )
    .await;
    browser.wait_for("#template-button-0-example", "the link's example", async |_: &WebElement| true).await;

    // A refusal (the link's example is missing) shows in words; nothing is created.
    browser.click_in_page("#template-submit").await;
    browser.wait_for("#template-builder-error", "the refusal", async |e| e.is_displayed().await.unwrap_or(false)).await;
    assert_eq!(app.get(&format!("/api/v1/channels/{channel}/templates")).await.body, json!([]));
    browser.screenshot("template-builder-refused").await;

    fill(&browser, json!({"template-button-0-example": "A-1001"})).await;
    assert!(preview_text(&browser).await.contains("Track it"));
    browser.click_in_page("#template-submit").await;
    browser
        .wait_for("#templates-list tr[data-template=\"order_shipped/en\"]", "the new row", async |_: &WebElement| true)
        .await;
    let path = format!("/api/v1/channels/{channel}/templates/order_shipped/en");
    let stored = app.get(&path).await.body;
    let components = stored["versions"][0]["components"].to_string();
    let handle = stored["versions"][0]["components"][0]["example"]["header_handle"][0].as_str().unwrap_or_default();
    assert!(wired.sandbox.uploaded_sample(handle).is_some(), "the header example is the uploaded sample: {components}");
    assert!(components.contains("https://shop.example/t/A-1001") && components.contains("Acme shop"), "{components}");

    // Approved by the sandbox: a new version, prefilled, changes the body.
    assert!(eventually(10, || async { app.get(&path).await.body["status"] == "approved" }).await);
    browser.driver.goto(app.url("/inbox")).await.unwrap();
    browser.driver.goto(app.url("/inbox#templates")).await.unwrap();
    browser.click_in_page("tr[data-template=\"order_shipped/en\"] .new-version").await;
    browser
        .wait_for("#template-body", "the prefilled builder", async |e| {
            e.prop("value").await.ok().flatten().is_some_and(|v| v.contains("is on its way"))
        })
        .await;
    fill(&browser, json!({"template-body": "Hi {{1}}, order {{2}} left our shop today."})).await;
    fill(&browser, json!({"template-example-1": "Ana", "template-example-2": "A-1001"})).await;
    browser.click_in_page("#template-submit").await;
    assert!(eventually(10, || async { app.get(&path).await.body["version"] == 2 }).await, "a second version");
    browser.screenshot("templates-en").await;

    // Deleted after a confirmation.
    browser.wait_for("tr[data-template=\"order_shipped/en\"] .delete", "the row", async |_: &WebElement| true).await;
    browser.click_in_page("tr[data-template=\"order_shipped/en\"] .delete").await;
    browser.click_in_page("#confirm-ok").await;
    browser.wait_for("#templates-empty", "the list without it", async |_: &WebElement| true).await;
    assert!(wired.sandbox.template(&wired.number.waba_id, "order_shipped", "en").is_none(), "deleted at the provider");
    browser.quit().await;
}

#[tokio::test]
async fn owners_change_a_numbers_business_profile_and_photo() {
    let Some(Owner { browser, app, channel, files, .. }) = Owner::log_in().await else { return };
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.click_in_page(&format!("#profile-{channel}-section summary")).await;
    browser.wait_for(&format!("#profile-{channel}-about"), "the profile form", async |_: &WebElement| true).await;

    // A wrong email is refused in words; nothing changes at the provider.
    fill(&browser, json!({format!("profile-{channel}-email"): "not an email"})).await;
    browser.click_in_page(&format!("#profile-{channel}-save")).await;
    browser
        .wait_for(&format!("#profile-{channel}-error"), "the refusal", async |e| {
            e.is_displayed().await.unwrap_or(false)
        })
        .await;
    let before = app.get(&format!("/api/v1/channels/{channel}/profile")).await.body;
    assert_ne!(before["email"], "not an email");

    fill(
        &browser,
        json!({format!("profile-{channel}-email"): "help@acme.example",
        format!("profile-{channel}-about"): "We answer within the hour"}),
    )
    .await;
    browser.choose(&format!("profile-{channel}-vertical"), "RETAIL").await;
    let photo = browser
        .wait_for(&format!("#profile-{channel}-photo-file"), "the photo input", async |_: &WebElement| true)
        .await;
    photo.send_keys(png_file(&files)).await.unwrap();
    browser.wait_for(&format!("#profile-{channel}-photo img"), "the new photo", async |_: &WebElement| true).await;
    browser.click_in_page(&format!("#profile-{channel}-save")).await;
    let saved = eventually(10, || async {
        let p = app.get(&format!("/api/v1/channels/{channel}/profile")).await.body;
        p["about"] == "We answer within the hour"
            && p["email"] == "help@acme.example"
            && p["vertical"] == "RETAIL"
            && p["profile_picture_url"].as_str().is_some_and(|u| !u.is_empty())
    })
    .await;
    assert!(saved, "{}", app.get(&format!("/api/v1/channels/{channel}/profile")).await.body);
    // Read again from the provider: the current photo is linked.
    browser
        .wait_for(&format!("#profile-{channel}-photo a[href^=\"http\"]"), "the photo's link", async |_: &WebElement| {
            true
        })
        .await;
    browser.screenshot("profile-en").await;
    browser.quit().await;
}

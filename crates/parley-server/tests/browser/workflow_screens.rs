//! The workflow builder (issue 18): an owner builds the seeds' "Unassign After Conversation
//! Closes" flow in the editor without writing JSON, publishes it and switches it on, watches it
//! run on a sandbox customer's conversation and reads the run's history on the page; a branch is
//! drawn with its ways side by side, a problem shows on its step, a dry run sends nothing;
//! screenshots at desktop and phone width in the three languages.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, eventually};
use super::{log_in, sqlite_app};

#[tokio::test]
async fn an_owner_builds_publishes_and_watches_the_unassign_flow() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#workflows")).await.unwrap();
    browser.wait_for("#wf-new", "the workflows page", async |_: &WebElement| true).await;
    browser.wait_text(".wf-gallery", "Unassign After Conversation Closes").await;
    browser.click_in_page("#wf-new").await;
    browser.wait_for("#wf-flow", "the editor", async |_: &WebElement| true).await;

    // The flow, built with the forms: the trigger, then an unassign step.
    let name = "document.getElementById('wf-name').value = arguments[0]; document.getElementById('wf-name').dispatchEvent(new Event('input'));";
    browser.driver.execute(name, vec![json!("Unassign after close")]).await.unwrap();
    browser.choose("wf-trigger-kind", "conversation_closed").await;
    browser.choose("wf-add-first", "unassign").await;
    browser.wait_for("#wf-step-unassign-1", "the new step", async |_: &WebElement| true).await;
    browser.click_in_page("#wf-save").await;
    let id = {
        let mut found = None;
        for _ in 0..50 {
            let list = app.get("/api/v1/workflows").await.body;
            if let Some(w) = list.as_array().unwrap().iter().find(|w| w["name"] == "Unassign after close") {
                found = w["id"].as_i64();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        found.expect("saved under its name")
    };
    let draft = app.get(&format!("/api/v1/workflows/{id}")).await.body["draft"].clone();
    assert_eq!(
        draft,
        json!({"trigger": {"kind": "conversation_closed"}, "steps": [{"id": "unassign-1", "kind": "unassign"}]})
    );
    browser.click_in_page("#wf-publish").await;
    browser.wait_text("#wf-state", "version 1").await;
    browser.click_in_page("#wf-toggle").await;
    assert!(
        eventually(10, || async { app.get(&format!("/api/v1/workflows/{id}")).await.body["active"] == true }).await
    );
    browser.screenshot("workflow-editor-en-1280").await;

    // It runs on a sandbox customer's conversation: assigned, closed, let go.
    wired.writes("33610000061", "hello").await;
    let conversation = app.conversation_of("33610000061").await;
    let me = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/conversations/{conversation}/assign"), json!({"user_id": me})).await;
    app.post(&format!("/api/v1/conversations/{conversation}/status"), json!({"status": "closed"})).await;
    let path = format!("/api/v1/conversations/{conversation}");
    assert!(eventually(15, || async { app.get(&path).await.body["assignee_id"].is_null() }).await);

    // Its history, read on the page.
    browser.driver.goto(app.url("/inbox")).await.unwrap();
    browser.driver.goto(app.url("/inbox#workflows")).await.unwrap();
    browser.click_in_page(&format!("[data-workflow='{id}'] .wf-open")).await;
    browser.wait_for("#wf-runs .wf-history", "the runs", async |_: &WebElement| true).await;
    browser.click_in_page("#wf-runs .wf-history").await;
    browser.wait_text("#wf-run-history", "unassign-1").await;

    // A dry run on the conversation: what would happen, nothing done.
    let dry = "document.getElementById('wf-dry-conversation').value = arguments[0];";
    browser.driver.execute(dry, vec![json!(conversation)]).await.unwrap();
    browser.click_in_page("#wf-dry-go").await;
    browser.wait_text("#wf-dry-run", "unassign-1").await;

    // A branch after it: its ways side by side; a rule leading nowhere shows on the step.
    browser.choose_in("#wf-step-unassign-1 .wf-add-kind", "branch").await;
    browser.wait_for("#wf-step-branch-1 .wf-form", "the branch's form", async |_: &WebElement| true).await;
    browser.click_in_page("#wf-save").await;
    browser.wait_text("#wf-step-branch-1 .wf-problem", "").await;
    let ways: usize = browser
        .driver
        .execute("return document.querySelectorAll('.wf-branches > .wf-branch').length", vec![])
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert_eq!(ways, 2, "rule 1 and otherwise, side by side");
    browser.screenshot("workflow-branch-en-1280").await;

    for (lang, width, height) in
        [("fr", 1280, 800), ("vi", 1280, 800), ("en", 390, 844), ("fr", 390, 844), ("vi", 390, 844)]
    {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.driver.goto(app.url("/inbox#workflows")).await.unwrap();
        browser.click_in_page(&format!("[data-workflow='{id}'] .wf-open")).await;
        browser.wait_for("#wf-step-branch-1", "the flow", async |_: &WebElement| true).await;
        // The step's problems in the page's language, by their codes.
        let nowhere = match lang {
            "fr" => "qui n'est pas une étape",
            "vi" => "không phải là một bước",
            _ => "which is not a step",
        };
        browser.wait_text("#wf-step-branch-1 .wf-problem", nowhere).await;
        browser.screenshot(&format!("workflow-editor-{lang}-{width}")).await;
    }
    browser.quit().await;
}

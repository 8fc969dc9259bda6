//! Tags in one clear place (issue 16, point 13): the conversation's tags under the thread's head
//! and the contact's in the panel, each named for what it tags; both offer the names in use; the
//! list filters by either.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::OWNER_PASSWORD;
use super::trust::two_customers;
use super::{log_in, sqlite_app};

async fn options(browser: &Browser, list: &str) -> Vec<String> {
    let values = browser
        .driver
        .execute(&format!("return [...document.querySelectorAll('#{list} option')].map((o) => o.value)"), vec![])
        .await
        .unwrap();
    serde_json::from_value(values.json().clone()).unwrap()
}

#[tokio::test]
async fn both_kinds_of_tags_are_named_suggested_and_filter_the_list() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (ana, bao) = two_customers(&app, &wired).await;
    app.post("/api/v1/contacts/phone:+33612345678/tags", json!({"tags": ["vip"]})).await;
    app.post(&format!("/api/v1/conversations/{bao}/tags"), json!({"tags": ["refund"]})).await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.wait_for("#conversations li", "the list", async |_: &WebElement| true).await;

    // The names in use are offered, each kind to its own fields.
    assert_eq!(options(&browser, "tag-names-contact").await, ["vip"]);
    assert_eq!(options(&browser, "tag-names-conversation").await, ["refund"]);
    browser.click_in_page(&format!("#conversation-{ana}")).await;
    browser.wait_for("#conversation-tag-input", "the conversation's tag field", async |_: &WebElement| true).await;
    let label = browser.driver.execute("return document.getElementById('thread-tags-label').textContent", vec![]).await;
    assert_eq!(label.unwrap().json(), &json!("Conversation tags"));
    let field = browser.driver.find(By::Id("conversation-tag-input")).await.unwrap();
    assert_eq!(field.attr("list").await.unwrap().as_deref(), Some("tag-names-conversation"));
    assert_eq!(field.attr("placeholder").await.unwrap().as_deref(), Some("Tag this conversation"));
    let contact_field = browser.wait_for("#tag-input", "the contact's tag field", async |_: &WebElement| true).await;
    assert_eq!(contact_field.attr("list").await.unwrap().as_deref(), Some("tag-names-contact"));
    assert_eq!(contact_field.attr("placeholder").await.unwrap().as_deref(), Some("Tag this contact"));

    // A new conversation tag joins the suggestions.
    field.send_keys("follow-up\n").await.unwrap();
    browser.wait_text("#conversation-tags li", "follow-up").await;
    assert!(
        super::helpers::eventually(10, || async {
            options(&browser, "tag-names-conversation").await == ["follow-up", "refund"]
        })
        .await
    );

    // The list by the contact's tag, then by the conversation's.
    let filter = browser.driver.find(By::Id("filter-contact-tag")).await.unwrap();
    filter.send_keys("vip\n").await.unwrap();
    browser
        .driver
        .execute("document.getElementById('filter-contact-tag').dispatchEvent(new Event('change'))", vec![])
        .await
        .unwrap();
    assert!(
        super::helpers::eventually(10, || async {
            browser.driver.find_all(By::Css("#conversations li")).await.unwrap().len() == 1
        })
        .await,
        "only Ana's conversation: her contact is vip"
    );
    browser.driver.find(By::Id(format!("conversation-{ana}"))).await.unwrap();
    browser.screenshot("tags-filtered").await;
    filter.clear().await.unwrap();
    let tag_filter = browser.driver.find(By::Id("filter-tag")).await.unwrap();
    tag_filter.send_keys("refund").await.unwrap();
    browser
        .driver
        .execute(
            "for (const id of ['filter-tag', 'filter-contact-tag']) document.getElementById(id).dispatchEvent(new Event('change'))",
            vec![],
        )
        .await
        .unwrap();
    // Loads answered out of order never leave an older filter's list on screen.
    assert!(
        super::helpers::eventually(10, || async {
            let shown = browser.driver.find_all(By::Css("#conversations li")).await.unwrap();
            shown.len() == 1
                && shown[0].id().await.ok().flatten().as_deref() == Some(format!("conversation-{bao}").as_str())
        })
        .await,
        "only Bao's conversation: it is tagged refund"
    );
    browser.quit().await;
}

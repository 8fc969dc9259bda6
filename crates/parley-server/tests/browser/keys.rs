//! Working all day from the keyboard, and with fingers on a phone (issue 16, point 11):
//! shortcuts anywhere, their help sheet, suggestions chosen with the arrow keys, @mentions, a
//! focus ring that shows on the green top bar, and touch targets of 44 px at phone width.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, eventually};
use super::trust::two_customers;
use super::{log_in, sqlite_app};

/// Presses keys with nothing in particular focused, as an agent reading a thread does.
async fn press(browser: &Browser, keys: &str) {
    browser.driver.execute("document.activeElement?.blur()", vec![]).await.unwrap();
    browser.driver.action_chain().send_keys(keys).perform().await.unwrap();
}

/// Types into whatever has the focus (modifiers such as Ctrl stay down for what follows them).
async fn type_keys(browser: &Browser, keys: impl Into<TypingData>) {
    browser.driver.active_element().await.unwrap().send_keys(keys).await.unwrap();
}

async fn focused_id(browser: &Browser) -> String {
    let id = browser.driver.execute("return document.activeElement?.id ?? ''", vec![]).await.unwrap();
    id.json().as_str().unwrap_or_default().to_owned()
}

async fn value_of(browser: &Browser, id: &str) -> String {
    browser.driver.find(By::Id(id)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

#[tokio::test]
async fn the_inbox_works_from_the_keyboard() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (ana, bao) = two_customers(&app, &wired).await;
    app.post("/api/v1/users", json!({"email": "zoe@acme.example", "name": "Zoé Martin", "role": "agent"})).await;
    app.post("/api/v1/canned-responses", json!({"shortcut": "hours", "body": "We open at nine."})).await;
    app.post("/api/v1/canned-responses", json!({"shortcut": "hello", "body": "Hello, how can we help?"})).await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.wait_for("#conversations li", "the list", async |_: &WebElement| true).await;

    // `?` opens the sheet of shortcuts; Escape closes it.
    press(&browser, "?").await;
    let sheet =
        browser.wait_for("#shortcuts-help", "the shortcuts", async |e| e.is_displayed().await.unwrap_or(false)).await;
    let text = sheet.text().await.unwrap();
    assert!(text.contains("Next conversation") && text.contains("Write an internal note"), "{text}");
    browser.screenshot("keys-help").await;
    type_keys(&browser, Key::Escape).await;
    assert!(
        eventually(5, || async { browser.driver.find_all(By::Id("shortcuts-help")).await.unwrap().is_empty() }).await,
        "Escape closes the sheet"
    );

    // j opens the first conversation of the list and then the next; k goes back.
    let order: Vec<i64> = app.get("/api/v1/conversations").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order.len(), 2);
    for (keys, expected) in [("j", order[0]), ("j", order[1]), ("k", order[0])] {
        press(&browser, keys).await;
        browser.wait_attr(&format!("#conversation-{expected}"), "aria-selected", "true").await;
    }
    assert!(order.contains(&ana) && order.contains(&bao));
    browser.wait_for("#composer-text", "the thread's composer", async |_: &WebElement| true).await;

    // n: the note, with the focus in it; `@zo` offers Zoé, Enter puts her name in.
    press(&browser, "n").await;
    browser.wait_for("#note-text", "the note", async |_: &WebElement| true).await;
    assert_eq!(focused_id(&browser).await, "note-text");
    type_keys(&browser, "Ask @zo").await;
    browser.wait_text("#mention-list button", "@Zoé Martin").await;
    type_keys(&browser, Key::Enter).await;
    assert_eq!(value_of(&browser, "note-text").await, "Ask @Zoé Martin ");
    type_keys(&browser, "please").await;
    type_keys(&browser, Key::Control + Key::Enter).await;
    browser.wait_text("#messages .note", "Ask @Zoé Martin please").await;

    // r: the reply; `/h` offers both canned replies, ArrowDown and Enter choose the second.
    press(&browser, "r").await;
    browser.wait_for("#composer-text", "the reply", async |_: &WebElement| true).await;
    assert_eq!(focused_id(&browser).await, "composer-text");
    type_keys(&browser, "/h").await;
    browser.wait_for("#canned-list button.active", "a highlighted reply", async |_: &WebElement| true).await;
    let items = browser.driver.find_all(By::Css("#canned-list button")).await.unwrap();
    assert_eq!(items.len(), 2);
    let second = items[1].attr("data-shortcut").await.unwrap().unwrap();
    type_keys(&browser, Key::Down).await;
    type_keys(&browser, Key::Enter).await;
    let expected = if second == "hours" { "We open at nine." } else { "Hello, how can we help?" };
    assert_eq!(value_of(&browser, "composer-text").await, expected);

    // Escape leaves the field; `/` goes to the search; `e` closes the conversation on screen.
    type_keys(&browser, Key::Escape).await;
    assert_eq!(focused_id(&browser).await, "", "Escape leaves the reply");
    press(&browser, "/").await;
    assert_eq!(focused_id(&browser).await, "search");
    let on_screen = order[0];
    press(&browser, "e").await;
    assert!(
        eventually(10, || async {
            app.get(&format!("/api/v1/conversations/{on_screen}")).await.body["status"] == "closed"
        })
        .await,
        "e closed the conversation"
    );

    // The focus ring on the green top bar is white.
    browser.driver.execute("document.activeElement?.blur()", vec![]).await.unwrap();
    browser.driver.find(By::Id("bell")).await.unwrap().focus().await.unwrap();
    let ring = browser
        .driver
        .execute(
            "const s = getComputedStyle(document.getElementById('bell')); return [s.outlineStyle, s.outlineColor];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ring.json(), &json!(["solid", "rgb(255, 255, 255)"]), "the bell's focus ring");
    browser.quit().await;
}

#[tokio::test]
async fn every_control_is_finger_sized_at_phone_width() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (ana, _) = two_customers(&app, &wired).await;
    browser.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    for lang in ["en", "fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.wait_for("#conversations li", "the list", async |_: &WebElement| true).await;
        browser.screenshot(&format!("keys-phone-list-{lang}")).await;
        browser.click_in_page(&format!("#conversation-{ana}")).await;
        browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;
        browser.screenshot(&format!("keys-phone-thread-{lang}")).await;
        let small = browser
            .driver
            .execute(
                "return [...document.querySelectorAll('button, select, input:not([type=checkbox]):not([type=radio]), .conversations li')]
                    .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().height > 0)
                    .filter((e) => e.getBoundingClientRect().height < 44)
                    .map((e) => `${e.id || e.className || e.tagName}: ${Math.round(e.getBoundingClientRect().height)}px`)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(small.json(), &json!([]), "{lang}: controls under 44 px");
        // The thread keeps most of the screen: its messages get at least half the height.
        browser.driver.execute("document.activeElement?.blur()", vec![]).await.unwrap();
        let share = browser
            .driver
            .execute(
                "return document.getElementById('messages').getBoundingClientRect().height / window.innerHeight",
                vec![],
            )
            .await
            .unwrap();
        let share = share.json().as_f64().unwrap();
        assert!(share >= 0.5, "{lang}: the messages get {:.0} % of the screen", share * 100.0);
    }
    browser.quit().await;
}

//! What must never happen in the inbox (issue 16, points 1 and 2): a reply reaching a customer
//! other than the one on screen, and one click (or a retry) sending twice. The page's network is
//! slowed or broken from inside the page, by wrapping `fetch`, the only way the inbox talks to
//! the API.

use std::time::Duration;

use parley_sandbox::{Customer, Say};
use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, TestApp, eventually};
use super::{log_in, sqlite_app};

/// Wraps the page's `fetch`: requests whose URL matches the regular expression `pattern` (and
/// whose method is `method`, when given; not those matching `skip`) wait `delay_ms`, or fail as
/// a network error before leaving (`fail`), or reach the server and then lose their answer
/// (`lose`). `None` puts the real `fetch` back.
async fn network(browser: &Browser, rule: Option<Value>) {
    let script = r#"
        window.__realFetch ??= window.fetch;
        const rule = arguments[0];
        if (!rule) { window.fetch = window.__realFetch; return; }
        window.fetch = async (url, options = {}) => {
            const hit = new RegExp(rule.pattern).test(String(url)) && (!rule.method || (options.method ?? 'GET') === rule.method)
                && !(rule.skip && String(url).includes(rule.skip));
            if (hit && rule.fail) throw new TypeError('simulated network failure');
            if (hit && rule.delay_ms) await new Promise((done) => setTimeout(done, rule.delay_ms));
            const answer = await window.__realFetch(url, options);
            if (hit && rule.lose) throw new TypeError('simulated lost answer');
            return answer;
        };
    "#;
    browser.driver.execute(script, vec![rule.unwrap_or(Value::Null)]).await.unwrap();
}

/// The ids of the conversations of Ana and Bao, who both wrote in.
pub(super) async fn two_customers(app: &TestApp, wired: &super::helpers::Wired) -> (i64, i64) {
    let pnid = &wired.number.phone_number_id;
    wired.sandbox.say(pnid, &Customer::new("33612345678", "Ana Lima"), Say::text("bonjour, Ana here"));
    wired.sandbox.say(pnid, &Customer::new("84901234567", "Bao Tran"), Say::text("xin chào, Bao here"));
    assert!(
        eventually(20, || async {
            app.get("/api/v1/conversations").await.body["items"].as_array().unwrap().len() == 2
        })
        .await
    );
    let items = app.get("/api/v1/conversations").await.body["items"].as_array().unwrap().clone();
    let id_of = |name: &str| {
        items.iter().find(|c| c["contact"]["name"] == name).unwrap_or_else(|| panic!("{name}: {items:?}"))["id"]
            .as_i64()
            .unwrap()
    };
    (id_of("Ana Lima"), id_of("Bao Tran"))
}

/// The texts the business sent in a conversation.
async fn sent_texts(app: &TestApp, conversation: i64) -> Vec<String> {
    let page = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await.body;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .map(|m| m["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The pattern of every request about one conversation (and not another whose id starts alike).
fn thread(id: i64) -> String {
    format!("/conversations/{id}(/|\\?|$)")
}

/// Clicks a conversation of the list (in the page, in one step: see `Browser::click_in_page`).
async fn open(browser: &Browser, id: i64) {
    browser.click_in_page(&format!("#conversation-{id}")).await;
}

/// What is on screen of a conversation right now: its contact's name, whether a composer is
/// there, and the thread's loading mark.
async fn on_screen(browser: &Browser) -> (String, bool, Option<String>) {
    let name = browser.driver.find(By::Id("thread-contact")).await.unwrap().text().await.unwrap();
    let composer = !browser.driver.find_all(By::Css("#composer textarea, #composer button")).await.unwrap().is_empty();
    let loading = browser.driver.find(By::Id("thread")).await.unwrap().attr("data-loading").await.unwrap();
    (name, composer, loading)
}

/// Types a reply and sends it, in the page in one step (a live event may redraw the composer;
/// its draft survives, an element handle would not).
async fn reply(browser: &Browser, text: &str) {
    browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;
    let script = "const area = document.getElementById('composer-text'); area.value = arguments[0];
        area.dispatchEvent(new Event('input')); document.getElementById('composer-send').click();";
    browser.driver.execute(script, vec![json!(text)]).await.unwrap();
}

#[tokio::test]
async fn a_reply_reaches_the_conversation_on_screen_or_nothing() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (ana, bao) = two_customers(&app, &wired).await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    open(&browser, ana).await;
    browser.wait_text("#messages li.message.in", "Ana here").await;
    browser.wait_for("#composer-text", "Ana's composer", async |_: &WebElement| true).await;

    // Bao's thread is slow to come: nothing of Ana's stays on screen meanwhile, and there is no
    // composer to type a reply into.
    network(&browser, Some(json!({"pattern": thread(bao), "delay_ms": 2500}))).await;
    open(&browser, bao).await;
    let (name, composer, loading) = on_screen(&browser).await;
    assert_eq!((name.as_str(), composer, loading.as_deref()), ("", false, Some("yes")), "while Bao's thread loads");
    let shown = browser.driver.find(By::Id("messages")).await.unwrap().text().await.unwrap();
    assert!(!shown.contains("Ana here"), "Ana's messages under a loading thread: {shown}");
    browser.screenshot("trust-loading").await;
    browser.wait_text("#messages li.message.in", "Bao here").await;
    browser.wait_text("#thread-contact", "Bao Tran").await;
    reply(&browser, "for Bao, after a slow load").await;
    browser.wait_text("#messages li.message.out", "for Bao, after a slow load").await;

    // Ana's answer comes after Bao was chosen again: it changes nothing on screen.
    network(&browser, Some(json!({"pattern": thread(ana), "delay_ms": 2000}))).await;
    open(&browser, ana).await;
    open(&browser, bao).await;
    tokio::time::sleep(Duration::from_millis(2600)).await; // Ana's late answers have arrived by now
    browser.wait_text("#thread-contact", "Bao Tran").await;
    let shown = browser.driver.find(By::Id("messages")).await.unwrap().text().await.unwrap();
    assert!(shown.contains("Bao here") && !shown.contains("Ana here"), "{shown}");
    let panel = browser.driver.find(By::Id("panel")).await.unwrap().text().await.unwrap();
    assert!(panel.contains("Bao Tran") && !panel.contains("Ana Lima"), "the panel is Bao's: {panel}");
    reply(&browser, "for Bao again").await;
    browser.wait_text("#messages li.message.out", "for Bao again").await;

    // Ana's thread fails to load: an error and a way to retry, no composer, nothing of Bao's.
    network(&browser, Some(json!({"pattern": thread(ana), "fail": true}))).await;
    open(&browser, ana).await;
    browser.wait_for("#thread-error", "the load error", async |_: &WebElement| true).await;
    let (name, composer, _) = on_screen(&browser).await;
    assert_eq!((name.as_str(), composer), ("", false), "after a failed load");
    let shown = browser.driver.find(By::Id("messages")).await.unwrap().text().await.unwrap();
    assert!(!shown.contains("Bao here"), "{shown}");
    browser.screenshot("trust-load-failed").await;
    network(&browser, None).await;
    // A live event may already have redrawn the thread (the network is back): then there is no
    // button left to press.
    browser.driver.execute("document.getElementById('thread-retry')?.click()", vec![]).await.unwrap();
    browser.wait_text("#messages li.message.in", "Ana here").await;
    reply(&browser, "for Ana").await;
    browser.wait_text("#messages li.message.out", "for Ana").await;

    assert_eq!(sent_texts(&app, ana).await, ["for Ana"]);
    assert_eq!(sent_texts(&app, bao).await, ["for Bao, after a slow load", "for Bao again"]);

    // The failed load at phone width, in French and Vietnamese (screenshots to look at).
    browser.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    for (lang, words) in [("fr", "Réessayer"), ("vi", "Thử lại")] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.wait_for("#conversations li", "the list", async |_: &WebElement| true).await;
        network(&browser, Some(json!({"pattern": thread(ana), "fail": true}))).await;
        open(&browser, ana).await;
        browser.wait_text("#thread-retry", words).await;
        browser.screenshot(&format!("trust-load-failed-phone-{lang}")).await;
    }
    browser.quit().await;
}

#[tokio::test]
async fn a_double_click_or_a_retry_sends_once() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (ana, _) = two_customers(&app, &wired).await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    open(&browser, ana).await;
    browser.wait_text("#messages li.message.in", "Ana here").await;

    // Two clicks and Ctrl+Enter on a slow send: one message.
    network(&browser, Some(json!({"pattern": "/api/v1/messages(\\?|$)", "method": "POST", "delay_ms": 1000}))).await;
    let area = browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;
    area.send_keys("only once").await.unwrap();
    browser
        .driver
        .execute("const b = document.getElementById('composer-send'); b.click(); b.click();", vec![])
        .await
        .unwrap();
    area.send_keys(Key::Control + Key::Enter).await.unwrap();
    browser.wait_text("#messages li.message.out", "only once").await;
    network(&browser, None).await;

    // The send reached Parley but its answer was lost: the draft stays, and sending it again
    // replays the first send instead of making a second message.
    network(
        &browser,
        Some(json!({"pattern": "/api/v1/messages(\\?|$)", "method": "POST", "lose": true, "skip": "dry_run"})),
    )
    .await;
    let area = browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;
    area.send_keys("answer lost").await.unwrap();
    browser.driver.find(By::Id("composer-send")).await.unwrap().click().await.unwrap();
    browser.wait_for("#composer-refusal", "the network error", async |e| e.is_displayed().await.unwrap_or(false)).await;
    let draft = browser.driver.find(By::Id("composer-text")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(draft.as_deref(), Some("answer lost"), "the draft stays");
    network(&browser, None).await;
    browser.driver.find(By::Id("composer-send")).await.unwrap().click().await.unwrap();
    browser
        .wait_for("#composer-text", "the emptied composer", async |e| {
            e.prop("value").await.ok().flatten().is_some_and(|v| v.is_empty())
        })
        .await;

    assert!(eventually(10, || async { wired.sandbox.sent().len() == 2 }).await, "{:?}", wired.sandbox.sent().len());
    assert_eq!(sent_texts(&app, ana).await, ["only once", "answer lost"]);
    browser.quit().await;
}

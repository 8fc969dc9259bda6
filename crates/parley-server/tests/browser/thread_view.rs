//! What the thread must show (issue 16, points 3 and 4): it opens on its newest message, on a
//! desktop and on a phone, and a failed reply says why in words under the bubble, with a Retry
//! button a thumb can press.

use std::time::Duration;

use parley_sandbox::{Customer, Fault, Say};
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, eventually};
use super::{log_in, sqlite_app};

/// How far the thread is from its end, in pixels, and whether its last item is inside the
/// visible part of the list.
async fn distance_from_end(browser: &Browser) -> (i64, bool) {
    let script = r#"
        const list = document.getElementById('messages');
        const last = list.lastElementChild;
        const inside = last.getBoundingClientRect().bottom <= list.getBoundingClientRect().bottom + 1;
        return [Math.round(list.scrollHeight - list.scrollTop - list.clientHeight), inside];
    "#;
    let got = browser.driver.execute(script, vec![]).await.unwrap().json().clone();
    (got[0].as_i64().unwrap(), got[1].as_bool().unwrap())
}

#[tokio::test]
async fn the_thread_opens_at_its_newest_message_on_a_desktop_and_a_phone() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    let ana = Customer::new("33612345678", "Ana Lima");
    for i in 1..=30 {
        wired.sandbox.say(
            &pnid,
            &ana,
            Say::text(&format!("message number {i}, long enough to wrap a little on a phone")),
        );
    }
    assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;

    for (width, height, name) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.wait_text("#conversations li", "Ana Lima").await.click().await.unwrap();
        browser.wait_text("#messages li.message.in", "message number 30,").await;
        browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;
        // Layout settles (the composer is drawn under the thread after the messages).
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (gap, inside) = distance_from_end(&browser).await;
        browser.screenshot(&format!("thread-newest-{name}")).await;
        assert!(gap <= 2 && inside, "{name}: the thread stops {gap} px short of its newest message");
    }
    browser.quit().await;
}

#[tokio::test]
async fn a_failed_reply_says_why_under_the_bubble_and_retries_on_a_phone() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana Lima"), Say::text("is it ready?"));
    browser.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.wait_text("#conversations li", "Ana Lima").await.click().await.unwrap();

    wired.sandbox.inject(&pnid, [Fault::FailLater(131026)]);
    browser
        .wait_for("#composer-text", "the composer", async |_: &WebElement| true)
        .await
        .send_keys("Yes!")
        .await
        .unwrap();
    browser.driver.find(By::Id("composer-send")).await.unwrap().click().await.unwrap();
    browser.wait_text("#messages li.message.out .failure-reason", "131026").await;
    // Read in the page in one step: live events draw the thread again, and an element handle
    // found a moment earlier can be gone by the time it is read.
    let script = "const r = document.querySelector('#messages li.message.out .failure-reason'); \
        const b = document.querySelector('#messages li.message.out button.retry').getBoundingClientRect(); \
        return {shown: r.checkVisibility(), said: r.innerText, width: b.width, height: b.height}";
    let seen = browser.driver.execute(script, vec![]).await.unwrap().json().clone();
    assert_eq!(seen["shown"], true, "the reason is on screen, not only on hover");
    let said = seen["said"].as_str().unwrap();
    assert!(said.starts_with("Not delivered:"), "{said}");
    assert!(said.contains("Could not be delivered"), "WhatsApp's reason in our words, by its code: {said}");
    let (width, height) = (seen["width"].as_f64().unwrap(), seen["height"].as_f64().unwrap());
    assert!(height >= 44.0 && width >= 44.0, "a touch target: {width}x{height}");
    browser.screenshot("thread-failed-phone").await;
    // The same in French and Vietnamese (screenshots to look at), then back to English.
    let id = app.get("/api/v1/conversations").await.body["items"][0]["id"].as_i64().unwrap();
    for (lang, words, why) in [
        ("fr", "Réessayer", "Impossible à remettre"),
        ("vi", "Gửi lại", "Không thể gửi đến"),
        ("en", "Retry", "Could not be delivered"),
    ] {
        app.patch("/api/v1/me", serde_json::json!({"locale": lang})).await;
        // Only the hash changes: the page must be loaded again to take the new language.
        browser.driver.goto(app.url(&format!("/inbox#c{id}"))).await.unwrap();
        browser.driver.refresh().await.unwrap();
        browser.wait_text("#messages li.message.out button.retry", words).await;
        browser.wait_text("#messages li.message.out .failure-reason", why).await;
        if lang != "en" {
            browser.screenshot(&format!("thread-failed-phone-{lang}")).await;
        }
    }
    browser.click_in_page("#messages li.message.out button.retry").await;
    browser.wait_attr("#messages li.message.out", "data-status", "read").await;
    assert!(browser.driver.find_all(By::Css("#messages .failure")).await.unwrap().is_empty(), "the failure is gone");
    // The sandbox keeps the sends it delivered: the failed one is not among them.
    assert!(eventually(10, || async { wired.sandbox.sent().len() == 1 }).await, "sent again, once");
    browser.quit().await;
}

/// Who did what (issue 16, point 5): an agent's reply carries the agent's name, a note its
/// author, and the thread has a line for each change to the conversation — assignment, tags,
/// closing with its closing note, reopening — naming who made it, in each language.
#[tokio::test]
async fn the_thread_says_who_did_what() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana Lima"), Say::text("where is my order?"));
    assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
    let id = app.get("/api/v1/conversations").await.body["items"][0]["id"].as_i64().unwrap();
    let owner = app.user_id(&app.token).await;
    let owner_name = app.get("/api/v1/me").await.body["user"]["name"].as_str().unwrap().to_owned();
    let conversation = format!("/api/v1/conversations/{id}");
    app.post(&format!("{conversation}/assign"), serde_json::json!({"user_id": owner})).await;
    app.post(&format!("{conversation}/tags"), serde_json::json!({"tags": ["vip"]})).await;
    app.post(&format!("{conversation}/notes"), serde_json::json!({"body": "called her back"})).await;
    let reply = serde_json::json!({"channel_id": wired.channel["id"], "to": "phone:+33612345678", "type": "text",
        "text": {"body": "On its way"}});
    assert_eq!(app.post("/api/v1/messages", reply).await.status, reqwest::StatusCode::ACCEPTED);
    app.call(
        reqwest::Method::PUT,
        "/api/v1/workspace/closing-notes",
        Some(serde_json::json!({"mode": "optional", "categories": ["delivery"]})),
    )
    .await;
    let closed = serde_json::json!({"status": "closed", "category": "delivery", "summary": "Tracking number sent"});
    assert_eq!(app.post(&format!("{conversation}/status"), closed).await.status, reqwest::StatusCode::OK);

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    for (width, height, name) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
        browser.driver.goto(app.url(&format!("/inbox#c{id}"))).await.unwrap();
        browser.driver.refresh().await.unwrap();
        let closing = browser.wait_text("#messages li.activity", "Tracking number sent").await;
        let closing_text = closing.text().await.unwrap();
        assert!(closing_text.contains(&format!("{owner_name} closed it")), "{closing_text}");
        assert!(closing_text.contains("delivery"), "{closing_text}");
        browser.wait_text("#messages li.activity", &format!("{owner_name} assigned it to {owner_name}")).await;
        browser.wait_text("#messages li.activity", "+vip").await;
        let out = browser.wait_text("#messages li.message.out", "On its way").await;
        assert!(out.text().await.unwrap().contains(&owner_name), "the reply names its author");
        let note = browser.wait_text("#messages li.note", "called her back").await;
        assert!(note.text().await.unwrap().contains(&owner_name), "the note names its author");
        browser.screenshot(&format!("thread-activity-{name}")).await;
    }
    // The same lines in French and Vietnamese (screenshots to look at), then back to English.
    for (lang, words) in [("fr", "l’a fermée"), ("vi", "đã đóng"), ("en", "closed it")] {
        app.patch("/api/v1/me", serde_json::json!({"locale": lang})).await;
        browser.driver.refresh().await.unwrap();
        browser.wait_text("#messages li.activity", words).await;
        if lang != "en" {
            browser.screenshot(&format!("thread-activity-phone-{lang}")).await;
        }
    }
    browser.quit().await;
}

/// The live connection (issue 16, point 7): when the stream ends the top bar says so and counts
/// down to the next try; the new connection starts after the last event received, so a message
/// that came in meanwhile still reaches the screen. The tab's icon carries the unread count.
#[tokio::test]
async fn a_dropped_connection_shows_and_catches_up() {
    let Some(browser) = Browser::start().await else { return };
    // Streams end every 3 s here (an hour in production): each end is a drop to recover from.
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let app = super::helpers::TestApp::spawn_with(db, "acme", |state| {
        state.streams.max_lifetime = Duration::from_secs(3);
    })
    .await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    let ana = Customer::new("33612345678", "Ana Lima");
    wired.sandbox.say(&pnid, &ana, Say::text("first"));
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.wait_text("#conversations li", "Ana Lima").await;
    let icon = browser.driver.execute("return document.querySelector('link[rel=icon]').dataset.unread", vec![]).await;
    assert_eq!(icon.unwrap().json().as_str(), Some("1"), "the icon counts the unread message");
    browser.wait_text("#conversations li", "Ana Lima").await.click().await.unwrap();
    browser.wait_text("#messages li.message.in", "first").await;
    // An event arrives live, so the page knows where the log stands.
    wired.sandbox.say(&pnid, &ana, Say::text("second"));
    browser.wait_text("#messages li.message.in", "second").await;

    let mut caught_up = false;
    for round in 0..5 {
        let banner = browser.wait_text("#connection", "reconnecting").await;
        browser.screenshot("connection-lost").await;
        assert!(banner.text().await.unwrap().contains("Try now"), "a way to try at once");
        let text = format!("written while offline {round}");
        wired.sandbox.say(&pnid, &ana, Say::text(&text));
        assert!(wired.sandbox.wait_idle(Duration::from_secs(10)).await);
        let still_down = browser
            .driver
            .execute("return !document.getElementById('connection').hidden", vec![])
            .await
            .unwrap()
            .json()
            .as_bool()
            .unwrap();
        browser.wait_text("#messages li.message.in", &text).await;
        browser
            .wait_for("#connection", "the banner gone", async |e: &WebElement| !e.is_displayed().await.unwrap_or(true))
            .await;
        if still_down {
            // Stored while the page was disconnected, shown after: caught up from the last event.
            caught_up = true;
            break;
        }
    }
    assert!(caught_up, "no message landed while the connection was down in five tries");
    browser.quit().await;
}

/// The status menu and the list (issue 16, point 10): the list shows open conversations by
/// default (closed ones hidden) with counts on its tabs; "close and open the next" closes one
/// and opens the next; a snooze takes it out of the open list; pending shows as such.
#[tokio::test]
async fn the_status_menu_closes_snoozes_and_moves_on() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    for (number, name) in [("33612345671", "Ana"), ("33612345672", "Bao"), ("33612345673", "Chloé")] {
        wired.sandbox.say(&pnid, &Customer::new(number, name), Say::text(&format!("hello from {name}")));
        assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
        app.clock.advance_secs(60);
    }
    // A fourth was closed before: the default list does not show it.
    wired.sandbox.say(&pnid, &Customer::new("33612345674", "Dung"), Say::text("thanks, bye"));
    assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
    let all = app.get("/api/v1/conversations").await.body;
    let dung = all["items"].as_array().unwrap().iter().find(|c| c["contact"]["name"] == "Dung").unwrap()["id"].clone();
    app.post(&format!("/api/v1/conversations/{dung}/status"), serde_json::json!({"status": "closed"})).await;
    let owner = app.user_id(&app.token).await;
    let id_of = |name: &str| {
        all["items"].as_array().unwrap().iter().find(|c| c["contact"]["name"] == name).unwrap()["id"].clone()
    };
    let bao = id_of("Bao");
    let open = async |name: &str| browser.click_in_page(&format!("#conversation-{}", id_of(name))).await;
    app.post(&format!("/api/v1/conversations/{bao}/assign"), serde_json::json!({"user_id": owner})).await;

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.find(By::Id("tab-all")).await.unwrap().click().await.unwrap();
    browser.wait_text("#conversations li", "Chloé").await;
    // Read in the page in one step: the list may be drawn again meanwhile (live events), and
    // element handles would go stale.
    let script = "return [...document.querySelectorAll('#conversations li .name')].map((n) => n.textContent)";
    let listed = async || browser.driver.execute(script, vec![]).await.unwrap().json().clone();
    let expected = serde_json::json!(["Chloé", "Bao", "Ana"]);
    assert!(
        super::helpers::eventually(10, || async { listed().await == expected }).await,
        "open ones, newest first; the closed one hidden: {}",
        listed().await
    );
    browser.wait_text("#tab-all .count", "3").await;
    browser.wait_text("#tab-mine .count", "1").await;
    browser.wait_text("#tab-unassigned .count", "2").await;
    // Nothing open yet: the right pane says what it will show.
    browser.wait_text("#panel-none", "The contact of the conversation you open shows here").await;
    browser.screenshot("list-counts").await;

    // Close Chloé and open the next (Bao).
    open("Chloé").await;
    browser.wait_text("#messages li.message.in", "hello from Chloé").await;
    browser.choose("status-action", "close_next").await;
    browser.wait_text("#thread-contact", "Bao").await;
    browser.wait_text("#messages li.message.in", "hello from Bao").await;
    let chloe = app.get("/api/v1/conversations?status=closed").await.body;
    assert!(chloe.to_string().contains("Chloé"), "Chloé is closed: {chloe}");
    browser.wait_text("#tab-all .count", "2").await;

    // Snooze Bao for an hour: out of the open list; then mark Ana pending.
    browser.choose("status-action", "snooze_hour").await;
    browser.wait_attr("#thread-status", "data-status", "snoozed").await;
    browser
        .wait_for("#conversations", "Bao out of the open list", async |e: &WebElement| {
            !e.text().await.unwrap_or_default().contains("Bao")
        })
        .await;
    browser.screenshot("thread-snoozed").await;
    open("Ana").await;
    browser.wait_text("#messages li.message.in", "hello from Ana").await;
    browser.choose("status-action", "pending").await;
    browser.wait_attr("#thread-status", "data-status", "pending").await;
    browser.choose("status-action", "open").await;
    browser.wait_attr("#thread-status", "data-status", "open").await;
    browser.quit().await;
}

/// Hard to take back, so asked first (issue 16, point 9): merging names which contact is kept and
/// what moves, and Cancel changes nothing; "Not a duplicate" dismisses a suggestion; closing
/// offers Undo; deactivating a user asks first.
#[tokio::test]
async fn merging_deactivating_and_closing_ask_or_undo() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    wired.sandbox.say(&pnid, &Customer::new("5491123456789", "Ana Lima"), Say::text("hola"));
    assert!(wired.sandbox.wait_idle(Duration::from_secs(20)).await);
    let variant = serde_json::json!({"name": "Ana B", "phone": "+54 11 2345-6789"});
    assert_eq!(app.post("/api/v1/contacts", variant).await.status, reqwest::StatusCode::CREATED);
    let contacts = || async { app.get("/api/v1/contacts?limit=50").await.body["items"].as_array().unwrap().len() };
    assert_eq!(contacts().await, 2);
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    let id = app.get("/api/v1/conversations").await.body["items"][0]["id"].as_i64().unwrap();
    browser.driver.goto(app.url(&format!("/inbox#c{id}"))).await.unwrap();
    browser.driver.refresh().await.unwrap();
    let click = async |css: &str| browser.click_in_page(css).await;

    // Merge: the dialog says who is kept and what moves; Cancel changes nothing.
    click("#merge-suggestions button.merge").await;
    let dialog = browser.wait_text("#confirm-dialog", "Ana Lima is kept").await;
    assert!(dialog.text().await.unwrap().contains("Ana B's conversations"), "{}", dialog.text().await.unwrap());
    browser.screenshot("merge-confirm").await;
    click("#confirm-cancel").await;
    assert_eq!(contacts().await, 2, "cancelled: nothing merged");
    click("#merge-suggestions button.merge").await;
    browser.wait_text("#confirm-ok", "Merge Ana B into Ana Lima").await;
    click("#confirm-ok").await;
    assert!(eventually(10, || async { contacts().await == 1 }).await, "merged once confirmed");

    // Another look-alike, not the same person: dismissed, gone from the panel.
    let again = serde_json::json!({"name": "Ana C", "phone": "+54 11 2345-6789"});
    assert_eq!(app.post("/api/v1/contacts", again).await.status, reqwest::StatusCode::CREATED);
    browser.driver.refresh().await.unwrap();
    browser.wait_text("#merge-suggestions", "Ana C").await;
    click("#merge-suggestions button.dismiss").await;
    let left = || async { app.get("/api/v1/contacts/merge-suggestions").await.body["items"].as_array().unwrap().len() };
    assert!(eventually(10, || async { left().await == 0 }).await, "dismissed");

    // Closing: done at once, with Undo.
    click("#close-conversation").await;
    browser.wait_attr("#thread-status", "data-status", "closed").await;
    browser.wait_text("#undo-toast", "Conversation closed").await;
    click("#undo").await;
    browser.wait_attr("#thread-status", "data-status", "open").await;

    // Deactivating a user asks; Cancel keeps them.
    let agent = app.token_for("agent", "agent@acme.example").await;
    let agent_id = app.user_id(&agent).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.driver.refresh().await.unwrap();
    click(&format!("tr[data-user='{agent_id}'] button.deactivate")).await;
    browser.wait_text("#confirm-dialog", "Deactivate").await;
    browser.screenshot("deactivate-confirm").await;
    click("#confirm-cancel").await;
    let users = app.get("/api/v1/users").await.body;
    let still = users.as_array().unwrap().iter().find(|u| u["id"] == agent_id).unwrap()["active"].clone();
    assert_eq!(still, serde_json::json!(true), "cancelled: still active");
    browser.quit().await;
}

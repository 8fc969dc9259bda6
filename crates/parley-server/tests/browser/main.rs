//! Browser tests: the web inbox in headless Chromium against the real server (random port, a
//! fresh SQLite database) and the sandbox playing Meta. Screenshots of the main screens go to
//! `target/screenshots/`. They run on SQLite only: the browser sees the same API either way, and
//! every API rule is tested on both engines in `tests/api`.

mod a11y;
mod bot_screens;
mod driver;
mod fee_screens;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod keys;
mod providers;
mod settings;
mod tags;
mod template_screens;
mod thread_relations;
mod thread_view;
mod tour;
mod trust;
mod webhook_screens;
mod workflow_screens;

use parley_sandbox::{Customer, SandboxTemplate, Say};
use parley_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use thirtyfour::prelude::*;

use driver::Browser;
use helpers::{OWNER_PASSWORD, TestApp, eventually};

async fn sqlite_app() -> TestApp {
    TestApp::spawn(TestDatabase::sqlite().await).await
}

async fn log_in(browser: &Browser, app: &TestApp, email: &str, password: &str) {
    browser.driver.goto(app.url("/login")).await.unwrap();
    browser.driver.find(By::Id("email")).await.unwrap().send_keys(email).await.unwrap();
    browser.driver.find(By::Id("password")).await.unwrap().send_keys(password).await.unwrap();
    browser.driver.find(By::Id("login-submit")).await.unwrap().click().await.unwrap();
    browser.wait_text("#me-name", "").await;
    assert!(browser.driver.current_url().await.unwrap().as_str().ends_with("/inbox"));
}

#[tokio::test]
async fn an_owner_works_a_conversation_from_first_message_to_template() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    wired.sandbox.add_template(SandboxTemplate {
        waba_id: wired.number.waba_id.clone(),
        name: "order_update".into(),
        language: "en".into(),
        category: "UTILITY".into(),
        status: "APPROVED".into(),
        components: json!([{"type": "BODY", "text": "Hello {{1}}, your order {{2}} has shipped."}]),
    });
    let sync = app.post(&format!("/api/v1/channels/{}/templates/sync", wired.channel["id"]), json!({})).await;
    assert_eq!(sync.status, StatusCode::OK, "{:?}", sync.body);

    // A wrong password is refused on the page; the right one opens the inbox.
    browser.driver.goto(app.url("/login")).await.unwrap();
    browser.screenshot("login").await;
    browser.driver.find(By::Id("email")).await.unwrap().send_keys("owner@acme.example").await.unwrap();
    browser.driver.find(By::Id("password")).await.unwrap().send_keys("not the password").await.unwrap();
    browser.driver.find(By::Id("login-submit")).await.unwrap().click().await.unwrap();
    browser.wait_text("#login-error", "Wrong email or password").await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.wait_text("#list-empty", "No conversation").await;

    // A customer writes: the conversation appears live, without a reload.
    wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana Lima"), Say::text("Hello, is my *order* ready?"));
    let item = browser.wait_text("#conversations li", "Ana Lima").await;
    assert!(item.text().await.unwrap().contains("is my *order* ready?"), "the list shows the last message");
    browser.wait_text("#conversations li .unread", "1").await;
    let title = browser.driver.title().await.unwrap();
    assert!(title.starts_with("(1) "), "the tab's title counts the unread message: {title}");
    let icon = app.client.get(app.url("/assets/favicon.svg")).send().await.unwrap();
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    browser.screenshot("inbox-list").await;
    item.click().await.unwrap();
    let text = browser.wait_text("#messages li.message.in", "is my").await;
    assert_eq!(text.find(By::Css("strong")).await.unwrap().text().await.unwrap(), "order", "WhatsApp bold is rendered");
    browser.wait_text("#window-state", "Window open").await;

    // A canned response comes in by its /shortcut, then the reply goes out and its tick moves to read.
    app.post("/api/v1/canned-responses", json!({"shortcut": "ships", "body": "Yes, it ships today!"})).await;
    let composer = browser.driver.find(By::Id("composer-text")).await.unwrap();
    composer.send_keys("/shi").await.unwrap();
    browser.wait_attr("#canned-list button", "data-shortcut", "ships").await.click().await.unwrap();
    let typed = browser.driver.find(By::Id("composer-text")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("Yes, it ships today!"));
    browser.driver.find(By::Id("composer-send")).await.unwrap().click().await.unwrap();
    browser.wait_text("#messages li.message.out", "ships today").await;
    browser.wait_attr("#messages li.message.out", "data-status", "read").await;
    browser.wait_attr("#messages li.message.out .tick", "data-status", "read").await;
    assert_eq!(wired.sandbox.sent().len(), 1, "sent once");
    browser.screenshot("thread-read").await;

    // An internal note sits in the thread, apart from the messages, and is never sent.
    browser.driver.find(By::Id("composer-tab-note")).await.unwrap().click().await.unwrap();
    browser.driver.find(By::Id("note-text")).await.unwrap().send_keys("She ordered the blue one.").await.unwrap();
    browser.driver.find(By::Id("note-send")).await.unwrap().click().await.unwrap();
    browser.wait_text("#messages li.note", "She ordered the blue one.").await;
    assert_eq!(wired.sandbox.sent().len(), 1, "a note is not sent");
    browser.driver.find(By::Id("composer-tab-reply")).await.unwrap().click().await.unwrap();
    // A tag on the conversation shows in the thread and in the list.
    browser.driver.find(By::Id("conversation-tag-input")).await.unwrap().send_keys("VIP\n").await.unwrap();
    browser.wait_text("#conversation-tags li", "vip").await;
    browser.wait_text("#conversations li .chip", "vip").await;

    // Assigned to me, then closed: the assignee stays.
    let owner_id = app.get("/api/v1/me").await.body["user"]["id"].as_i64().unwrap();
    browser.choose("assignee", &owner_id.to_string()).await;
    let id = app.get("/api/v1/conversations").await.body["items"][0]["id"].clone();
    let conversation = format!("/api/v1/conversations/{id}");
    assert!(eventually(10, || async { app.get(&conversation).await.body["assignee_id"] == owner_id }).await);
    browser.driver.find(By::Id("close-conversation")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#thread-status", "data-status", "closed").await;
    let closed = app.get(&conversation).await.body;
    assert_eq!((closed["status"].as_str(), closed["assignee_id"].as_i64()), (Some("closed"), Some(owner_id)));
    // Closed: out of the list, which shows open conversations unless asked otherwise.
    browser
        .wait_for("#conversations", "the closed conversation out of the list", async |e: &WebElement| {
            !e.text().await.unwrap_or_default().contains("Ana Lima")
        })
        .await;
    browser.choose("filter-status", "").await;
    browser.wait_text("#conversations li", "Ana Lima").await;
    browser.choose("filter-status", "open").await;
    browser.driver.find(By::Id("reopen-conversation")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#thread-status", "data-status", "open").await;

    // A team made on the team page, with the owner in it; the conversation goes to its queue.
    browser.driver.find(By::Id("team-link")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#team-form input", "name", "name").await.send_keys("Support").await.unwrap();
    browser.driver.find(By::Css("#team-form button")).await.unwrap().click().await.unwrap();
    let team = browser.wait_text("#teams-admin li", "Support").await;
    team.find(By::Css(format!("input[value='{owner_id}']"))).await.unwrap().click().await.unwrap();
    let teams = "/api/v1/teams";
    assert!(eventually(10, || async { app.get(teams).await.body[0]["user_ids"] == json!([owner_id]) }).await);
    browser.screenshot("team-page").await;
    browser.driver.find(By::Css("#team a[href='#']")).await.unwrap().click().await.unwrap();
    let team_id = app.get(teams).await.body[0]["id"].as_i64().unwrap();
    browser.wait_attr("#team-select option", "value", &team_id.to_string()).await;
    browser.choose("team-select", &team_id.to_string()).await;
    assert!(eventually(10, || async { app.get(&conversation).await.body["team_id"] == team_id }).await);
    browser.choose("filter-team", "mine").await;
    browser.wait_text("#conversations li", "Ana Lima").await;
    browser.choose("filter-team", "").await;

    // A day later the window is closed: the composer offers templates, prefilled from the contact.
    app.clock.advance_secs(25 * 3600);
    browser.driver.refresh().await.unwrap();
    browser.wait_attr("#composer", "data-mode", "template").await;
    browser.wait_text("#window-state", "24-hour window is closed").await;
    browser
        .wait_for("#template-select option", "a template to pick", async |e: &WebElement| {
            e.text().await.is_ok_and(|t| t.contains("order_update"))
        })
        .await;
    browser.choose("template-select", "0").await;
    let first = browser.wait_attr("#template-params input", "data-name", "1").await;
    assert_eq!(first.prop("value").await.unwrap().as_deref(), Some("Ana"), "prefilled with the first name");
    let params = browser.driver.find_all(By::Css("#template-params input")).await.unwrap();
    // An empty parameter: Send stays off (even clicked by a script), the preview shows the gap.
    let send = browser.driver.find(By::Id("template-send")).await.unwrap();
    assert!(!send.is_enabled().await.unwrap(), "Send is off while a parameter is empty");
    browser.wait_text("#template-preview", "Hello Ana, your order {{2}} has shipped.").await;
    browser.driver.execute("document.getElementById('template-send').click()", vec![]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(wired.sandbox.sent().len(), 1, "nothing sent with an empty parameter");
    params[1].send_keys("A-1042").await.unwrap();
    browser.wait_text("#template-preview", "Hello Ana, your order A-1042 has shipped.").await;
    assert!(send.is_enabled().await.unwrap());
    browser.screenshot("composer-template").await;
    browser.driver.find(By::Id("template-send")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#messages li.message.out", "data-type", "template").await;
    assert!(eventually(10, || async { wired.sandbox.sent().len() == 2 }).await);
    let sent = &wired.sandbox.sent()[1].body;
    assert_eq!(sent.pointer("/template/components/0/parameters/1/text"), Some(&json!("A-1042")), "{sent}");
    // The thread shows the text the customer received, not only the template's name.
    browser.wait_text("#messages li.message.out .template-text", "Hello Ana, your order A-1042 has shipped.").await;

    // The search box finds the message by the start of its words, whatever the case, marks
    // them, and opens the conversation; Escape brings the list back.
    let search = browser.driver.find(By::Id("search")).await.unwrap();
    search.send_keys("ready ORD").await.unwrap();
    let hit = browser.wait_text("#search-messages .hit", "is my").await;
    let marks = hit.find_all(By::Css("mark")).await.unwrap();
    let mut marked = Vec::new();
    for m in marks {
        marked.push(m.text().await.unwrap());
    }
    assert_eq!(marked, ["order", "ready"]);
    assert!(browser.driver.find(By::Id("conversations")).await.unwrap().attr("hidden").await.unwrap().is_some());
    browser.screenshot("search").await;
    hit.click().await.unwrap();
    browser.wait_text("#thread-contact", "Ana Lima").await;
    search.send_keys(Key::Escape).await.unwrap();
    browser.wait_text("#conversations li", "Ana Lima").await;

    // French, then Vietnamese: saved for the user, every label translated.
    browser.choose("lang", "fr").await;
    browser.wait_text("#tab-mine", "Les miennes").await;
    assert_eq!(app.get("/api/v1/me").await.body["user"]["locale"], "fr");
    // French typography: a no-break space before the colon of composed labels (read from the
    // DOM: WebDriver's text turns no-break spaces into plain ones).
    browser.wait_text("#conversations li .preview", "Vous").await;
    let preview = browser
        .driver
        .execute("return document.querySelector('#conversations li .preview').textContent", vec![])
        .await
        .unwrap();
    let preview = preview.json().as_str().unwrap_or_default().to_owned();
    assert!(preview.starts_with("Vous\u{a0}: "), "{preview:?}");
    browser.screenshot("inbox-fr").await;
    browser.choose("lang", "vi").await;
    browser.wait_text("#tab-mine", "Của tôi").await;
    browser.screenshot("inbox-vi").await;

    // A phone-width screen shows one pane at a time.
    browser.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    browser.choose("lang", "en").await;
    browser.wait_text("#thread-contact", "Ana Lima").await;
    browser.screenshot("thread-phone").await;
    browser.driver.find(By::Id("back")).await.unwrap().click().await.unwrap();
    browser.wait_text("#tab-mine", "Mine").await;
    browser.screenshot("inbox-phone").await;
    browser.quit().await;
}

#[tokio::test]
async fn an_agent_without_access_does_not_see_a_private_channel() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let (private, _) = app.connect(&wired.sandbox, "300000000000002", "app-secret-2").await;
    app.patch(&format!("/api/v1/channels/{}", private["id"]), json!({"visibility": "private"})).await;
    let agent = app
        .post(
            "/api/v1/users",
            json!({"email": "agent@acme.example", "name": "Binh", "role": "agent", "password": "agent password 1"}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{:?}", agent.body);
    wired.sandbox.say(
        &wired.number.phone_number_id,
        &Customer::new("33612345678", "Ana Lima"),
        Say::text("shared hello"),
    );
    wired.sandbox.say("300000000000002", &Customer::new("84912345678", "Bao Tran"), Say::text("private hello"));
    assert!(
        eventually(10, || async {
            app.get("/api/v1/conversations").await.body["items"].as_array().is_some_and(|i| i.len() == 2)
        })
        .await
    );

    log_in(&browser, &app, "agent@acme.example", "agent password 1").await;
    browser.wait_text("#conversations li", "Ana Lima").await;
    let items = browser.driver.find_all(By::Css("#conversations li")).await.unwrap();
    assert_eq!(items.len(), 1, "only the shared channel's conversation");
    assert!(!browser.driver.source().await.unwrap().contains("Bao Tran"));
    let options = browser.driver.find_all(By::Css("#filter-channel option")).await.unwrap();
    assert_eq!(options.len(), 2, "any number, and the shared one");
    assert!(browser.driver.find(By::Id("team-link")).await.unwrap().attr("hidden").await.unwrap().is_some());
    browser.screenshot("agent-inbox").await;

    // Made a member, the agent sees it arrive with the next message.
    let members = format!("/api/v1/channels/{}/members", private["id"]);
    app.call(reqwest::Method::PUT, &members, Some(json!({"user_ids": [agent.body["id"]]}))).await;
    wired.sandbox.say("300000000000002", &Customer::new("84912345678", "Bao Tran"), Say::text("still there?"));
    browser.wait_text("#conversations li", "Bao Tran").await;
    browser.quit().await;
}

#[tokio::test]
async fn an_invited_teammate_chooses_a_password_and_lands_in_the_inbox() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;

    // Added without a password, the teammate gets an invitation link.
    browser.driver.find(By::Id("team-link")).await.unwrap().click().await.unwrap();
    let form = browser.wait_attr("#invite-form input", "name", "name").await;
    form.send_keys("Lan Pham").await.unwrap();
    browser
        .driver
        .find(By::Css("#invite-form input[name=email]"))
        .await
        .unwrap()
        .send_keys("lan@acme.example")
        .await
        .unwrap();
    browser.driver.find(By::Css("#invite-form button")).await.unwrap().click().await.unwrap();
    let link = browser
        .wait_for("#invite-link", "an invitation link", async |e: &WebElement| {
            e.prop("value").await.ok().flatten().is_some_and(|v| v.contains("/invite/"))
        })
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    browser.wait_text("#users tbody", "Lan Pham").await;
    browser.screenshot("team-invite").await;

    // The owner logs out; the teammate opens the link, chooses a password, and is in.
    browser.driver.find(By::Id("logout")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#login-submit", "type", "submit").await;
    browser.driver.goto(&link).await.unwrap();
    browser.wait_text("#invitee-name", "Lan Pham").await;
    browser.driver.find(By::Id("password")).await.unwrap().send_keys("short").await.unwrap();
    browser.driver.find(By::Id("invite-submit")).await.unwrap().click().await.unwrap();
    // The browser checks the length first (minlength); the page stays.
    assert!(browser.driver.current_url().await.unwrap().as_str().contains("/invite/"));
    let password = browser.driver.find(By::Id("password")).await.unwrap();
    password.clear().await.unwrap();
    password.send_keys("lan's own password").await.unwrap();
    browser.screenshot("invite").await;
    browser.driver.find(By::Id("invite-submit")).await.unwrap().click().await.unwrap();
    browser.wait_text("#me-name", "Lan Pham").await;
    assert!(browser.driver.current_url().await.unwrap().as_str().ends_with("/inbox"));
    // The link worked once.
    browser.driver.goto(&link).await.unwrap();
    browser.wait_text("#invite-invalid", "not valid").await;
    browser.quit().await;
}

#[tokio::test]
async fn the_thread_shows_every_kind_of_message_failures_and_the_contacts_warnings() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    let lucia = Customer::new("5491123456789", "Lucía Gómez");
    // Closing asks for a category.
    app.call(
        reqwest::Method::PUT,
        "/api/v1/workspace/closing-notes",
        Some(json!({"mode": "category", "categories": ["sale"]})),
    )
    .await;

    // Every kind of message a customer sends, and another customer below her in the list.
    wired.sandbox.say(&pnid, &Customer::new("33612345678", "Ana Lima"), Say::text("first in, last in the list"));
    let photo = wired.sandbox.add_media(vec![0x89, b'P', b'N', b'G'], "image/png");
    let voice = wired.sandbox.add_media(b"OggS voice".to_vec(), "audio/ogg");
    let pdf = wired.sandbox.add_media(b"%PDF-1.4".to_vec(), "application/pdf");
    let first = wired.sandbox.say(&pnid, &lucia, Say::text("Hola, here is everything"));
    wired.sandbox.say(&pnid, &lucia, Say::media("image", &photo, "image/png").caption("the blue one"));
    wired.sandbox.say(&pnid, &lucia, Say::media("audio", &voice, "audio/ogg"));
    wired.sandbox.say(&pnid, &lucia, Say::media("document", &pdf, "application/pdf"));
    wired.sandbox.say(&pnid, &lucia, Say::location(-34.6037, -58.3816, "Obelisco"));
    wired.sandbox.say(&pnid, &lucia, Say::contacts("Marta Ruiz", "+34699111222"));
    wired.sandbox.say(&pnid, &lucia, Say::button_reply("yes", "Yes, deliver it", &first));
    wired.sandbox.say(&pnid, &lucia, Say::reaction(&first, Some("❤")));
    let both_arrived = eventually(10, || async {
        app.get("/api/v1/conversations").await.body["items"].as_array().is_some_and(|i| i.len() == 2)
    })
    .await;
    assert!(both_arrived);
    // Added afterwards (before, her messages would have found it by the Argentine quirk): a
    // look-alike of her, the same mobile without the 9, suggests a merge.
    let twin = app.post("/api/v1/contacts", json!({"name": "L. Gómez", "phone": "+54 11 2345-6789"})).await;
    assert_eq!(twin.status, StatusCode::CREATED, "{:?}", twin.body);

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.wait_text("#conversations li", "Lucía Gómez").await.click().await.unwrap();
    browser.wait_text("#messages p.text", "here is everything").await;
    browser
        .wait_for("#messages img.image", "the image", async |e: &WebElement| {
            e.attr("src").await.ok().flatten().is_some()
        })
        .await;
    browser.wait_text("#messages p.caption", "the blue one").await;
    browser
        .wait_for("#messages audio", "the voice note", async |e: &WebElement| {
            e.attr("controls").await.ok().flatten().is_some()
        })
        .await;
    browser
        .wait_for("#messages a.document", "the document", async |e: &WebElement| {
            e.attr("href").await.ok().flatten().is_some()
        })
        .await;
    browser.wait_text("#messages p.location", "Obelisco").await;
    browser.wait_text("#messages ul.contact-cards", "Marta Ruiz").await;
    browser.wait_text("#messages p.interactive", "Yes, deliver it").await;
    // The reaction sits on the message it reacts to, not in a bubble of its own.
    browser.wait_text("#messages li.message.in .reactions li", "❤").await;
    assert!(browser.driver.find_all(By::Css("#messages p.reaction")).await.unwrap().is_empty());

    // A reply WhatsApp refuses later: a failed tick that tells why on hover.
    wired.sandbox.inject(&pnid, [parley_sandbox::Fault::FailLater(131026)]);
    browser.driver.find(By::Id("composer-text")).await.unwrap().send_keys("Thanks!").await.unwrap();
    browser.driver.find(By::Id("composer-send")).await.unwrap().click().await.unwrap();
    let tick = browser.wait_attr("#messages li.message.out .tick", "data-status", "failed").await;
    let reason = tick.attr("title").await.unwrap().unwrap_or_default();
    assert!(reason.contains("131026"), "the failure's code on hover: {reason}");
    browser.screenshot("thread-every-kind").await;

    // The merge suggestion in her panel, merged from there.
    browser
        .wait_text("#merge-suggestions li", "L. Gómez")
        .await
        .find(By::Css("button.merge"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // It asks first, naming who is kept.
    browser.wait_text("#confirm-dialog", "L. Gómez").await;
    browser.driver.find(By::Id("confirm-ok")).await.unwrap().click().await.unwrap();
    assert!(
        eventually(10, || async {
            app.get("/api/v1/contacts/merge-suggestions").await.body["items"].as_array().is_some_and(Vec::is_empty)
        })
        .await,
        "merged"
    );

    // She changes her number: the panel warns until someone acknowledges it.
    wired.sandbox.say(&pnid, &lucia, Say::changed_number("5491123456789", "5491187654321"));
    browser.wait_for("#identity-warning", "the identity warning", async |_: &WebElement| true).await;
    // The notice in the thread is Parley's words, by its kind, with the new number.
    browser.wait_text("#messages p.system", "The customer changed their number to +5491187654321.").await;
    browser.screenshot("panel-identity-warning").await;
    // The panel may be redrawn by the change's events meanwhile: click the button there now.
    let clicked = eventually(10, || async {
        match browser.driver.find(By::Id("identity-ack")).await {
            Ok(button) => button.click().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(clicked);
    let gone = eventually(10, || async {
        browser.driver.find_all(By::Css("#identity-warning")).await.is_ok_and(|f| f.is_empty())
    })
    .await;
    assert!(gone, "acknowledged, the warning goes");

    // Keyboard: to the other conversation and back (j goes down the list, k up; both customers
    // wrote within the same second, so either may be on top).
    let names: Vec<String> = {
        let mut out = Vec::new();
        for item in browser.driver.find_all(By::Css("#conversations li .name")).await.unwrap() {
            out.push(item.text().await.unwrap());
        }
        out
    };
    let (to_ana, back) = if names.first().is_some_and(|n| n.contains("Lucía")) { ("j", "k") } else { ("k", "j") };
    browser.driver.find(By::Id("conversations")).await.unwrap().send_keys(to_ana).await.unwrap();
    browser.wait_text("#messages p.text", "first in, last in the list").await;
    browser.driver.find(By::Id("conversations")).await.unwrap().send_keys(back).await.unwrap();
    browser.wait_text("#messages p.location", "Obelisco").await;

    // Closing asks for the category, in the dialog.
    browser.driver.find(By::Id("close-conversation")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#close-category option", "value", "sale").await;
    browser.screenshot("close-dialog").await;
    browser.choose("close-category", "sale").await;
    browser.driver.find(By::Id("close-confirm")).await.unwrap().click().await.unwrap();
    browser.wait_attr("#thread-status", "data-status", "closed").await;
    let listed = app.get("/api/v1/conversations?status=closed").await.body;
    assert_eq!(listed["items"][0]["closing_category"], "sale", "{listed}");
    browser.quit().await;
}

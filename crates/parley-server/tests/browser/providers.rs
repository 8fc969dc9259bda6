//! Three providers in one inbox (issue 20), as the demo shows them: a Meta number, a Twilio
//! number and a MessageBird number, each played by the sandbox. Customers write through each;
//! the inbox lists them together, the thread says which number and provider a conversation is
//! on, and a reply typed in the composer goes out through that conversation's provider only.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, TestApp};
use super::log_in;

const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const MB_CHANNEL: &str = "619747f69cf940a98fb443140ce9aed2";

#[tokio::test]
async fn three_providers_in_one_inbox() {
    let Some(browser) = Browser::start().await else { return };
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let app = TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
    let sandbox = app.sandbox().await;
    let (_, meta) = app.connect(&sandbox, "300000000000001", "app-secret-1").await;
    let twilio = app
        .post(
            "/api/v1/channels",
            json!({"provider": "twilio", "name": "UK line", "phone_number_id": "447700900000", "waba_id": TWILIO_ACCOUNT,
                "display_phone_number": "+44 7700 900000", "access_token": "twilio-token", "graph_base_url": sandbox.twilio_api_base()}),
        )
        .await;
    assert_eq!(twilio.status, reqwest::StatusCode::CREATED, "{:?}", twilio.body);
    sandbox.add_twilio_number(parley_sandbox::TwilioNumber {
        account_sid: TWILIO_ACCOUNT.into(),
        auth_token: "twilio-token".into(),
        number: "447700900000".into(),
        webhook_url: app.url(twilio.body["webhook_path"].as_str().unwrap()),
    });
    sandbox.add_messagebird_channel(parley_sandbox::MessageBirdChannel {
        channel_id: MB_CHANNEL.into(),
        access_key: "mb-key".into(),
        signing_key: "mb-signing".into(),
        number: "31970102600".into(),
        waba_id: "WABA-MB".into(),
        namespace: "ns".into(),
    });
    let messagebird = app
        .post(
            "/api/v1/channels",
            json!({"provider": "messagebird", "name": "Dutch line", "phone_number_id": MB_CHANNEL, "waba_id": "WABA-MB",
                "display_phone_number": "+31 970 102 600", "access_token": "mb-key", "app_secret": "mb-signing",
                "graph_base_url": sandbox.messagebird_api_base()}),
        )
        .await;
    assert_eq!(messagebird.status, reqwest::StatusCode::CREATED, "{:?}", messagebird.body);
    let registered =
        app.post(&format!("/api/v1/channels/{}/webhook/register", messagebird.body["id"]), json!({})).await;
    assert_eq!(registered.status, reqwest::StatusCode::OK, "{:?}", registered.body);

    sandbox.say(
        &meta.phone_number_id,
        &parley_sandbox::Customer::new("34612345678", "Ana Lopez"),
        parley_sandbox::Say::text("Hola, via Meta"),
    );
    sandbox.twilio_say(
        "447700900000",
        &parley_sandbox::Customer::new("447700900123", "Oliver Bennett"),
        "Hello via Twilio",
    );
    sandbox.messagebird_say(
        MB_CHANNEL,
        &parley_sandbox::Customer::new("31612345678", "Sanne de Vries"),
        "Hoi via MessageBird",
        json!({}),
    );

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    for name in ["Ana Lopez", "Oliver Bennett", "Sanne de Vries"] {
        browser.wait_text("#conversations", name).await;
    }
    browser.screenshot("providers-inbox-en-desktop").await;
    // Each conversation: its number and provider in the thread, a reply through that provider.
    let cases = [
        ("Ana Lopez", "Number 300000000000001 · Meta (Cloud API)", "Claro, Ana"),
        ("Oliver Bennett", "UK line · Twilio", "Sure, Oliver"),
        ("Sanne de Vries", "Dutch line · MessageBird", "Natuurlijk, Sanne"),
    ];
    for (customer, header, reply) in cases {
        // The list redraws live (statuses, new messages): the item is found and clicked in the
        // page at once.
        let click = "const li = [...document.querySelectorAll('#conversations li')]
                .find((li) => li.textContent.includes(arguments[0]));
            if (li) li.click();
            return Boolean(li);";
        let clicked = browser.driver.execute(click, vec![json!(customer)]).await.unwrap();
        assert_eq!(clicked.json(), &json!(true), "{customer} is listed");
        browser.wait_text("#thread-channel", header).await;
        browser.wait_text("#messages li.message.in", "via").await;
        browser.driver.find(By::Id("composer-text")).await.unwrap().send_keys(reply).await.unwrap();
        browser.driver.find(By::Id("composer-send")).await.unwrap().click().await.unwrap();
        browser.wait_text("#messages li.message.out", reply).await;
        // Delivered (Meta's sandbox goes on to read).
        browser
            .wait_for("#messages li.message.out", "the reply delivered", async |e: &WebElement| {
                matches!(e.attr("data-status").await.ok().flatten().as_deref(), Some("delivered" | "read"))
            })
            .await;
    }
    // Each reply went through its own provider, once.
    let meta_sent: Vec<_> = sandbox.sent().into_iter().filter(|s| s.to == "34612345678").collect();
    assert_eq!(meta_sent.len(), 1, "Meta: {meta_sent:?}");
    let twilio_sent = sandbox.twilio_sent();
    assert_eq!(twilio_sent.len(), 1);
    assert_eq!(
        (twilio_sent[0].get("To"), twilio_sent[0].get("Body")),
        (Some("whatsapp:+447700900123"), Some("Sure, Oliver"))
    );
    let mb_sent = sandbox.messagebird_sent();
    assert_eq!(mb_sent.len(), 1);
    assert_eq!(mb_sent[0].body["content"]["text"], "Natuurlijk, Sanne");
    browser.screenshot("providers-thread-messagebird-en-desktop").await;
    for lang in ["fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.wait_text("#conversations", "Sanne de Vries").await;
        browser.screenshot(&format!("providers-inbox-{lang}-desktop")).await;
    }
    browser.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    browser.driver.goto(app.url("/inbox")).await.unwrap();
    browser.wait_text("#conversations", "Oliver Bennett").await;
    browser.screenshot("providers-inbox-vi-phone").await;
    browser.quit().await;
}

/// An owner moves a Twilio number to Meta from the team page: first planned for the next day
/// and cancelled, then now; the report says what is left to do (the webhook to set in Meta's
/// dashboard), and the number's card shows both providers on its timeline.
#[tokio::test]
async fn an_owner_moves_a_number_to_another_provider() {
    let Some(browser) = Browser::start().await else { return };
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let app = TestApp::spawn_knowing_addr(db, "acme", |state, addr| state.public_url = format!("http://{addr}")).await;
    let sandbox = app.sandbox().await;
    let twilio = app
        .post(
            "/api/v1/channels",
            json!({"provider": "twilio", "name": "UK line", "phone_number_id": "447700900000", "waba_id": TWILIO_ACCOUNT,
                "display_phone_number": "+44 7700 900000", "access_token": "twilio-token", "graph_base_url": sandbox.twilio_api_base()}),
        )
        .await;
    let id = twilio.body["id"].as_i64().unwrap();
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for(&format!("#move-{id}"), "the move form", async |_: &WebElement| true).await;
    let script = "document.getElementById(arguments[0]).open = true;";
    browser.driver.execute(script, vec![json!(format!("move-{id}"))]).await.unwrap();
    browser.choose(&format!("move-{id}-provider"), "meta").await;
    let values = json!({"phone_number_id": "300000000000009", "waba_id": "WABA-9", "access_token": "meta-token",
        "app_secret": "meta-secret", "verify_token": "meta-verify", "graph_base_url": sandbox.graph_base_url()});
    let fill = "for (const [name, value] of Object.entries(arguments[1])) {
            document.getElementById(`${arguments[0]}-${name}`).value = value;
        }
        document.getElementById(`${arguments[0]}-save`).click();";
    // First planned for the next day: the plan and its webhook are shown, then cancelled.
    let mut planned = values.clone();
    planned["cutover"] = json!("2025-06-16T10:00");
    browser.driver.execute(fill, vec![json!(format!("move-{id}")), planned]).await.unwrap();
    browser.wait_text(&format!("#move-{id}-report"), "The number moves at").await;
    let timeline = browser.wait_text(&format!("#number-{id}-connections"), "planned for").await;
    timeline.scroll_into_view().await.unwrap();
    browser.screenshot("number-move-planned-en-desktop").await;
    assert_eq!(app.get(&format!("/api/v1/channels/{id}")).await.body["provider"], "twilio", "not moved yet");
    browser.click_in_page(&format!("#number-{id}-cancel-move")).await;
    let cancelled = super::helpers::eventually(10, || async {
        app.get(&format!("/api/v1/channels/{id}/move")).await.status == reqwest::StatusCode::NOT_FOUND
    })
    .await;
    assert!(cancelled, "the plan was cancelled");
    browser.driver.execute(script, vec![json!(format!("move-{id}"))]).await.unwrap();
    browser.choose(&format!("move-{id}-provider"), "meta").await;
    browser.driver.execute(fill, vec![json!(format!("move-{id}")), values]).await.unwrap();
    // What is left, in the reader's language: the webhook to set in Meta's dashboard.
    browser.wait_text(&format!("#move-{id}-report"), "Set the number's webhook at the new provider").await;
    let report = browser.wait_text(&format!("#move-{id}-report"), "/webhooks/meta/").await;
    browser.screenshot("number-move-report-en-desktop").await;
    drop(report);
    browser.wait_text(&format!("#number-{id}-connections"), "Twilio").await;
    browser.wait_text(&format!("#number-{id}-connections"), "Meta (Cloud API)").await;
    let channel = app.get(&format!("/api/v1/channels/{id}")).await.body;
    assert_eq!(channel["provider"], "meta", "{channel}");
    for lang in ["en", "fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
            browser.driver.goto(app.url("/inbox")).await.unwrap();
            browser.driver.goto(app.url("/inbox#team")).await.unwrap();
            let timeline = browser.wait_text(&format!("#number-{id}-connections"), "Twilio").await;
            browser.driver.execute(script, vec![json!(format!("move-{id}"))]).await.unwrap();
            timeline.scroll_into_view().await.unwrap();
            browser.screenshot(&format!("number-move-{lang}-{size}")).await;
        }
    }
    browser.quit().await;
}

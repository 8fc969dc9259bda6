//! Settings screens for what only the API could set (issue 16, point 14, first part): closing
//! notes' mode and categories, automatic assignment, auto-close — on the team page, saved with
//! their own buttons; a refusal shows in words and changes nothing.

use serde_json::json;
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::OWNER_PASSWORD;
use super::{log_in, sqlite_app};

#[tokio::test]
async fn owners_set_how_conversations_are_handled() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for("#closing-notes-form", "the settings", async |_: &WebElement| true).await;

    // A required category without categories is refused, in words, and nothing is saved.
    browser.choose("closing-mode", "category").await;
    browser.click_in_page("#closing-notes-form-save").await;
    browser
        .wait_for("#closing-notes-form-error", "the refusal", async |e| e.is_displayed().await.unwrap_or(false))
        .await;
    assert_eq!(app.get("/api/v1/workspace/closing-notes").await.body["mode"], "off");

    browser.driver.find(By::Id("closing-categories")).await.unwrap().send_keys("Sale\nRefund\n").await.unwrap();
    browser.click_in_page("#closing-notes-form-save").await;
    browser.wait_text(".toast", "Saved").await;
    assert_eq!(
        app.get("/api/v1/workspace/closing-notes").await.body,
        json!({"mode": "category", "categories": ["Sale", "Refund"]})
    );

    browser.choose("assignment-mode", "round_robin").await;
    browser.driver.find(By::Id("assignment-max-open")).await.unwrap().send_keys("5").await.unwrap();
    browser.click_in_page("#assignment-form-save").await;
    assert!(
        super::helpers::eventually(10, || async {
            app.get("/api/v1/workspace/assignment").await.body == json!({"mode": "round_robin", "max_open": 5})
        })
        .await
    );

    browser.click_in_page("#auto-close-on").await;
    let hours = browser.driver.find(By::Id("auto-close-hours")).await.unwrap();
    hours.clear().await.unwrap();
    hours.send_keys("48").await.unwrap();
    browser.click_in_page("#auto-close-form-save").await;
    assert!(
        super::helpers::eventually(10, || async {
            app.get("/api/v1/workspace/auto-close").await.body == json!({"after_hours": 48})
        })
        .await
    );
    browser.screenshot("settings-en").await;

    // Read back as saved, in every language.
    for lang in ["fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.driver.goto(app.url("/inbox#team")).await.unwrap();
        browser.wait_for("#assignment-mode", "the settings", async |_: &WebElement| true).await;
        // Read in the page in one step: the team page may be drawn again meanwhile, and an
        // element handle would go stale.
        let script = "return [document.getElementById('assignment-mode')?.value,
            document.getElementById('closing-categories')?.value]";
        assert!(
            super::helpers::eventually(10, || async {
                browser.driver.execute(script, vec![]).await.unwrap().json() == &json!(["round_robin", "Sale\nRefund"])
            })
            .await,
            "{lang}: the saved settings read back"
        );
        browser.screenshot(&format!("settings-{lang}")).await;
    }
    browser.quit().await;
}

/// The numbers on the team page (issue 16, point 14): a number made private to one agent, and a
/// new number connected — a second connection of the same number refused in words.
#[tokio::test]
async fn owners_make_a_number_private_and_connect_another() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let channel = wired.channel["id"].as_i64().unwrap();
    let zoe = app.post("/api/v1/users", json!({"email": "zoe@acme.example", "name": "Zoé", "role": "agent"})).await;
    let zoe = zoe.body["id"].as_i64().unwrap();
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for(&format!("#number-{channel}-visibility"), "the number", async |_: &WebElement| true).await;

    browser.choose(&format!("number-{channel}-visibility"), "private").await;
    browser.click_in_page(&format!("#number-{channel}-members input[value=\"{zoe}\"]")).await;
    browser.click_in_page(&format!("#number-{channel}-save")).await;
    assert!(
        super::helpers::eventually(10, || async {
            app.get(&format!("/api/v1/channels/{channel}")).await.body["visibility"] == "private"
                && app.get(&format!("/api/v1/channels/{channel}/members")).await.body == json!({"user_ids": [zoe]})
        })
        .await,
        "private to Zoé"
    );

    // Connecting the same number again is refused under the form; another one is connected.
    let fill = async |pnid: &str| {
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.driver.goto(app.url("/inbox#team")).await.unwrap();
        browser.wait_for("#connect-number", "the connect form", async |_: &WebElement| true).await;
        // Filled and sent in the page in one step: a redraw of the team page meanwhile would
        // leave element handles stale.
        let values = json!({
            "name": "Sales", "display_phone_number": "+1 555 000 2222", "phone_number_id": pnid,
            "waba_id": "WABA-SALES", "access_token": "token-sales", "app_secret": "secret-sales",
            "verify_token": "verify-sales",
        });
        let script = "for (const [name, value] of Object.entries(arguments[0])) {
                document.getElementById(`connect-${name}`).value = value;
            }
            document.getElementById('connect-number-save').click();";
        browser.driver.execute(script, vec![values]).await.unwrap();
    };
    let taken = wired.channel["phone_number_id"].as_str().unwrap().to_owned();
    fill(&taken).await;
    browser.wait_for("#connect-number-error", "the refusal", async |e| e.is_displayed().await.unwrap_or(false)).await;
    assert_eq!(app.get("/api/v1/channels").await.body.as_array().unwrap().len(), 1);
    fill("300000000000009").await;
    assert!(
        super::helpers::eventually(10, || async {
            app.get("/api/v1/channels").await.body.as_array().unwrap().len() == 2
        })
        .await
    );
    let channels = app.get("/api/v1/channels").await.body;
    let sales = channels.as_array().unwrap().iter().find(|c| c["name"] == "Sales").unwrap().clone();
    assert_eq!(sales["display_phone_number"], "15550002222");
    assert!(!sales.to_string().contains("secret-sales"), "no credential is ever shown back");
    browser
        .wait_for(&format!("#number-{}-save", sales["id"]), "the new number's card", async |_: &WebElement| true)
        .await;
    browser.screenshot("numbers-en").await;
    browser.quit().await;
}

/// Mentions by mail (issue 19, point 6): with a mail relay, the box atop the bell's list turns
/// the user's setting on and off; screenshots in the three languages at both widths.
#[tokio::test]
async fn a_user_asks_for_mentions_by_mail_from_the_bell() {
    let Some(browser) = Browser::start().await else { return };
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let app = super::helpers::TestApp::spawn_with(db, "acme", |state| {
        // A relay nobody listens on: the setting needs one configured; nothing is mailed here.
        let settings = parley_server::mail::MailSettings {
            smtp_url: "smtp://127.0.0.1:9".into(),
            from: "Parley <parley@acme.example>".into(),
        };
        state.mailer = Some(std::sync::Arc::new(parley_server::mail::Mailer::new(&settings).unwrap()));
    })
    .await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    let mut on = false;
    for lang in ["en", "fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
            browser.driver.goto(app.url("/inbox")).await.unwrap();
            browser.wait_text("#me-name", "").await;
            browser.click_in_page("#bell").await;
            let checkbox = browser
                .wait_for("#mail-mentions", "the mail setting", async |e| e.is_displayed().await.unwrap_or(false))
                .await;
            assert_eq!(checkbox.is_selected().await.unwrap(), on, "{lang} {size}: the box shows the setting");
            checkbox.click().await.unwrap();
            on = !on;
            let saved = super::helpers::eventually(10, || async {
                app.get("/api/v1/me").await.body["user"]["mail_mentions"] == json!(on)
            })
            .await;
            assert!(saved, "{lang} {size}: the click is saved");
            browser.screenshot(&format!("mail-mentions-{lang}-{size}")).await;
        }
    }
    browser.quit().await;
}

/// Connecting a Twilio number (issue 20): the form names Twilio's fields and leaves out Meta's
/// app secret and handshake token; the number's card shows its provider and the webhook address
/// to give Twilio. Screenshots of the team page with the form on Twilio, in the three languages
/// at both widths.
#[tokio::test]
async fn owners_connect_a_twilio_number() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for("#connect-number", "the connect form", async |_: &WebElement| true).await;
    browser.choose("connect-provider", "twilio").await;
    for meta_only in ["connect-app_secret", "connect-verify_token"] {
        let shown = browser.driver.find(By::Id(meta_only)).await.unwrap().is_displayed().await.unwrap();
        assert!(!shown, "{meta_only} is Meta's");
    }
    let values = json!({"name": "UK line", "display_phone_number": "+44 7700 900000", "phone_number_id": "447700900000",
        "waba_id": "AC0123456789abcdef0123456789abcdef", "access_token": "twilio-token"});
    let script = "for (const [name, value] of Object.entries(arguments[0])) {
            document.getElementById(`connect-${name}`).value = value;
        }
        document.getElementById('connect-number-save').click();";
    browser.driver.execute(script, vec![values]).await.unwrap();
    let mut id = None;
    for _ in 0..100 {
        let channels = app.get("/api/v1/channels").await.body;
        if let Some(c) = channels.as_array().unwrap().iter().find(|c| c["provider"] == "twilio") {
            id = c["id"].as_i64();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = id.expect("the Twilio number is connected");
    browser.wait_text(&format!("#number-{id}-provider"), "Twilio").await;
    browser.wait_text(&format!("#number-{id}-webhook"), "/webhooks/twilio/").await;
    for lang in ["en", "fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
            browser.driver.goto(app.url("/inbox")).await.unwrap();
            browser.driver.goto(app.url("/inbox#team")).await.unwrap();
            browser.wait_for("#connect-provider", "the connect form", async |_: &WebElement| true).await;
            browser.choose("connect-provider", "twilio").await;
            let card = browser.driver.find(By::Id(format!("number-{id}-webhook"))).await.unwrap();
            card.scroll_into_view().await.unwrap();
            browser.screenshot(&format!("numbers-twilio-{lang}-{size}")).await;
            let hint = browser.driver.find(By::Id("connect-hint")).await.unwrap();
            hint.scroll_into_view().await.unwrap();
            browser.screenshot(&format!("numbers-twilio-form-{lang}-{size}")).await;
        }
    }
    browser.quit().await;
}

/// A 360dialog number connected from the team page: its own fields (the key, an optional
/// partner secret, no handshake token), and its webhook set at 360dialog (the sandbox's) right
/// after, with Parley's secret header token; the card can set it again.
#[tokio::test]
async fn owners_connect_a_360dialog_number_and_its_webhook_is_set() {
    let Some(browser) = Browser::start().await else { return };
    let db = parley_store::testing::TestDatabase::sqlite().await;
    let app = super::helpers::TestApp::spawn_knowing_addr(db, "acme", |state, addr| {
        state.public_url = format!("http://{addr}");
    })
    .await;
    let sandbox = app.sandbox().await;
    let number = parley_sandbox::Number {
        phone_number_id: "360000000000002".into(),
        waba_id: "WABA-360".into(),
        display_phone_number: "4930000002".into(),
        access_token: "unused".into(),
        app_secret: "unused".into(),
        webhook_url: String::new(),
    };
    sandbox.add_360dialog_number(number, "d360-key-browser");
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.driver.goto(app.url("/inbox#team")).await.unwrap();
    browser.wait_for("#connect-number", "the connect form", async |_: &WebElement| true).await;
    browser.choose("connect-provider", "360dialog").await;
    let shown = browser.driver.find(By::Id("connect-verify_token")).await.unwrap().is_displayed().await.unwrap();
    assert!(!shown, "360dialog has no handshake token");
    let values = json!({"name": "Berlin line", "display_phone_number": "+49 30 000002", "phone_number_id": "360000000000002",
        "waba_id": "WABA-360", "access_token": "d360-key-browser", "graph_base_url": sandbox.dialog360_api_base()});
    let script = "for (const [name, value] of Object.entries(arguments[0])) {
            document.getElementById(`connect-${name}`).value = value;
        }
        document.getElementById('connect-number-save').click();";
    browser.driver.execute(script, vec![values]).await.unwrap();
    let mut hook = None;
    for _ in 0..100 {
        hook = sandbox.dialog360_webhook("360000000000002");
        if hook.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let hook = hook.expect("the webhook is set at 360dialog right after connecting");
    let channels = app.get("/api/v1/channels").await.body;
    let channel =
        channels.as_array().unwrap().iter().find(|c| c["provider"] == "360dialog").expect("connected").clone();
    let id = channel["id"].as_i64().unwrap();
    assert_eq!(hook.url, app.url(channel["webhook_path"].as_str().unwrap()));
    assert!(hook.headers.iter().any(|(k, v)| k == "x-parley-webhook-token" && v.len() >= 32), "{hook:?}");
    browser.wait_text(&format!("#number-{id}-provider"), "360dialog").await;
    browser.wait_text(&format!("#number-{id}-webhook"), "/webhooks/360dialog/").await;
    browser.click_in_page(&format!("#number-{id}-register")).await;
    browser.wait_text(".toast", "Webhook set at the provider").await;
    for lang in ["en", "fr", "vi"] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.driver.set_window_rect(0, 0, width, height).await.unwrap();
            browser.driver.goto(app.url("/inbox")).await.unwrap();
            browser.driver.goto(app.url("/inbox#team")).await.unwrap();
            browser.wait_for("#connect-provider", "the connect form", async |_: &WebElement| true).await;
            browser.choose("connect-provider", "360dialog").await;
            let card = browser.driver.find(By::Id(format!("number-{id}-register"))).await.unwrap();
            card.scroll_into_view().await.unwrap();
            browser.screenshot(&format!("numbers-360dialog-{lang}-{size}")).await;
            let hint = browser.driver.find(By::Id("connect-hint")).await.unwrap();
            hint.scroll_into_view().await.unwrap();
            browser.screenshot(&format!("numbers-360dialog-form-{lang}-{size}")).await;
        }
    }
    browser.quit().await;
}

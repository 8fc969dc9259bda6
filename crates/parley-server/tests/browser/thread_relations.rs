//! Messages that speak of other messages, shown as WhatsApp shows them (issue 16, point 6): a
//! reply quotes its message, a reaction sits on the message it reacts to, an edit changes its
//! message (marked "edited", the earlier text on demand) instead of making a second bubble, and
//! a file uploaded by an agent shows as sent.

use parley_sandbox::{Customer, Say};
use reqwest::StatusCode;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::driver::Browser;
use super::helpers::{OWNER_PASSWORD, eventually};
use super::{log_in, sqlite_app};

#[tokio::test]
async fn quotes_reactions_edits_and_uploads_show_on_their_message() {
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    let pnid = wired.number.phone_number_id.clone();
    let ana = Customer::new("33612345678", "Ana Lima");
    let first = wired.sandbox.say(&pnid, &ana, Say::text("is my order ready?"));
    wired.sandbox.say(&pnid, &ana, Say::text("it is order A-1042").reply_to(&first));
    wired.sandbox.say(&pnid, &ana, Say::reaction(&first, Some("👍")));
    wired.sandbox.say(&pnid, &ana, Say::edit(&first, "is my order A-1042 ready?"));
    assert!(eventually(20, || async { app.all_messages().await.len() == 4 }).await);
    let conversation = app.get("/api/v1/conversations").await.body["items"][0]["id"].as_i64().unwrap();

    // An agent sends a photo uploaded through Parley.
    let upload = app
        .client
        .post(app.url(&format!("/api/v1/media?channel_id={}&filename=shelf.png", wired.channel["id"])))
        .bearer_auth(&app.token)
        .header("content-type", "image/png")
        .body(tiny_png())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    let media_id = upload.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let sent = app
        .post(
            "/api/v1/messages",
            json!({"channel_id": wired.channel["id"], "to": "phone:+33612345678", "type": "image",
                "image": {"id": media_id, "caption": "on the shelf"}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.body);

    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.click_in_page(&format!("#conversation-{conversation}")).await;
    browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;

    // Two bubbles from Ana, not four: the reaction and the edit sit on the first message. (Each
    // look goes by selector: a live event may redraw the thread meanwhile.)
    let messages = app.all_messages().await;
    let id_where = |test: &dyn Fn(&Value) -> bool| messages.iter().find(|m| test(m)).unwrap()["id"].as_i64().unwrap();
    let ids = [id_where(&|m| m["provider_message_id"] == first.as_str()), id_where(&|m| !m["context"].is_null())];
    let (original, reply) = (format!("#message-{}", ids[0]), format!("#message-{}", ids[1]));
    browser.wait_text(&format!("{original} .reactions li[data-direction=in]"), "👍").await;
    let bubbles = browser.driver.find_all(By::Css("#messages li.message.in")).await.unwrap();
    assert_eq!(bubbles.len(), 2, "the reaction and the edit are not bubbles of their own");
    browser.wait_text(&format!("{original} .text"), "is my order A-1042 ready?").await;
    // "edited": the earlier text on demand.
    let earlier = format!("{original} details.edited .earlier");
    let hidden = !browser.driver.find(By::Css(&earlier)).await.unwrap().is_displayed().await.unwrap();
    assert!(hidden, "the earlier text waits to be asked for");
    browser.click_in_page(&format!("{original} details.edited summary")).await;
    browser.wait_text(&earlier, "is my order ready?").await;

    // The reply quotes the first message; a click on the quote goes to it.
    let quote = browser.wait_text(&format!("{reply} button.quote"), "Ana Lima").await;
    assert!(quote.text().await.unwrap().contains("is my order A-1042 ready?"));
    browser.click_in_page(&format!("{reply} button.quote")).await;
    browser.wait_for(&format!("{original}.flash"), "the quoted message marked", async |_: &WebElement| true).await;

    // The photo shows as sent, from Parley's copy.
    let image =
        browser.wait_for("#messages li.message.out img.image", "the sent photo", async |_: &WebElement| true).await;
    let loaded = browser
        .driver
        .execute("return arguments[0].complete && arguments[0].naturalWidth > 0", vec![image.to_json().unwrap()])
        .await
        .unwrap();
    assert_eq!(loaded.json(), &json!(true), "the photo loads");
    browser.screenshot("thread-relations").await;

    for (lang, edited_word) in [("fr", "modifié"), ("vi", "đã sửa")] {
        app.patch("/api/v1/me", json!({"locale": lang})).await;
        browser.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
        browser.driver.goto(app.url("/inbox")).await.unwrap();
        browser.wait_for("#conversations li", "the list", async |_: &WebElement| true).await;
        browser.click_in_page(&format!("#conversation-{conversation}")).await;
        browser.wait_text("#messages details.edited summary", edited_word).await;
        browser.screenshot(&format!("thread-relations-phone-{lang}")).await;
    }
    browser.quit().await;
}

/// A 2×2 PNG: a real image the browser can draw.
fn tiny_png() -> Vec<u8> {
    const PNG: &str = "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73\
                       0000000f49444154789c6360a88a012108050016060359101d1e400000000049454e44ae426082";
    (0..PNG.len()).step_by(2).map(|i| u8::from_str_radix(&PNG[i..i + 2], 16).unwrap()).collect()
}

/// Puts files in the composer's file input as a person choosing them would (`[name, type,
/// base64 bytes]` each).
async fn choose_files(browser: &Browser, files: Value) {
    let script = "const dt = new DataTransfer();
        for (const [name, type, b64] of arguments[0]) {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], name, { type }));
        }
        const input = document.getElementById('composer-file');
        input.files = dt.files;
        input.dispatchEvent(new Event('change'));";
    browser.driver.execute(script, vec![files]).await.unwrap();
}

/// Attachments (issue 16, point 12): several files chosen at once wait in the composer with a
/// preview and a caption each, one can be taken back, and Send sends the text then each file
/// with its caption — nothing before Send.
#[tokio::test]
async fn files_wait_with_a_preview_and_a_caption_until_send() {
    use base64::Engine as _;
    let Some(browser) = Browser::start().await else { return };
    let app = sqlite_app().await;
    let wired = app.wired().await;
    wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Ana Lima"), Say::text("photos?"));
    assert!(eventually(20, || async { app.all_messages().await.len() == 1 }).await);
    let conversation = app.get("/api/v1/conversations").await.body["items"][0]["id"].as_i64().unwrap();
    log_in(&browser, &app, "owner@acme.example", OWNER_PASSWORD).await;
    browser.click_in_page(&format!("#conversation-{conversation}")).await;
    browser.wait_for("#composer-text", "the composer", async |_: &WebElement| true).await;

    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    choose_files(
        &browser,
        json!([
            ["front.png", "image/png", b64(&tiny_png())],
            ["invoice.pdf", "application/pdf", b64(b"%PDF-1.4 invoice")],
            ["wrong.pdf", "application/pdf", b64(b"%PDF-1.4 not this one")],
        ]),
    )
    .await;
    browser.wait_for("#attachments li img.thumb", "the picture's preview", async |_: &WebElement| true).await;
    assert_eq!(browser.driver.find_all(By::Css("#attachments li")).await.unwrap().len(), 3);
    browser.click_in_page("#attachments li:nth-child(3) button.remove").await;
    assert_eq!(browser.driver.find_all(By::Css("#attachments li")).await.unwrap().len(), 2);
    browser.driver.find(By::Id("attachment-caption-0")).await.unwrap().send_keys("the front").await.unwrap();
    browser.driver.find(By::Id("attachment-caption-1")).await.unwrap().send_keys("your invoice").await.unwrap();
    browser.driver.find(By::Id("composer-text")).await.unwrap().send_keys("Here they are").await.unwrap();
    browser.screenshot("composer-attachments").await;
    assert!(wired.sandbox.sent().is_empty(), "nothing goes before Send");

    browser.click_in_page("#composer-send").await;
    assert!(eventually(20, || async { wired.sandbox.sent().len() == 3 }).await, "{}", wired.sandbox.sent().len());
    let sent: Vec<Value> = wired.sandbox.sent().iter().map(|s| s.body.clone()).collect();
    assert_eq!(sent[0]["text"]["body"], "Here they are");
    assert_eq!((sent[1]["type"].as_str(), sent[1]["image"]["caption"].as_str()), (Some("image"), Some("the front")));
    assert_eq!(
        (sent[2]["document"]["filename"].as_str(), sent[2]["document"]["caption"].as_str()),
        (Some("invoice.pdf"), Some("your invoice"))
    );
    browser.wait_for("#attachments[hidden]", "the emptied tray", async |_: &WebElement| true).await;
    browser.wait_text("#messages li.message.out p.caption", "the front").await;
    browser.wait_text("#messages li.message.out a.document", "invoice.pdf").await;
    browser.quit().await;
}

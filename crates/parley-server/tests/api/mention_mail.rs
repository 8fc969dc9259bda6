//! Mentions by mail through a real SMTP server (`aiosmtpd`), on both engines: a teammate who
//! asked for it (`PATCH /me {"mail_mentions": true}`) gets one mail per mention, in their
//! language, with the note and a link to the conversation; one who did not, or turned it off,
//! gets none; a server without a mail relay refuses the setting.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, eventually};
use crate::smtp::SmtpServer;

async fn agent(app: &TestApp, name: &str) -> String {
    let email = format!("{}@acme.example", name.to_lowercase());
    let created = app.post("/api/v1/users", json!({"email": email, "name": name, "role": "agent"})).await;
    let token = app.post("/api/v1/tokens", json!({"name": "t", "user_id": created.body["id"]})).await;
    token.body["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn mentions_are_mailed_to_who_asked_in_their_language() {
    let smtp = SmtpServer::start().await;
    for db in parley_store::testing::TestDatabase::all().await {
        let app = TestApp::spawn_knowing_addr(db, "acme", crate::smtp::mail_through(&smtp)).await;
        let e = app.engine();
        let binh = agent(&app, "Binh").await;
        let me = |token: &str, body: serde_json::Value| {
            let token = token.to_owned();
            let app = &app;
            async move { app.call_as(Some(&token), Method::PATCH, "/api/v1/me", Some(body)).await }
        };
        let Some(smtp) = &smtp else { continue };
        let _chi = agent(&app, "Chi").await;
        let eve = agent(&app, "Eve").await;
        let bad = me(&binh, json!({"mail_mentions": "yes"})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}: {:?}", bad.body);
        let on = me(&binh, json!({"mail_mentions": true, "locale": "fr"})).await;
        assert_eq!((on.status, on.body["mail_mentions"].as_bool()), (StatusCode::OK, Some(true)), "{e}");
        assert_eq!(me(&eve, json!({"mail_mentions": true})).await.status, StatusCode::OK);
        let binh_me = app.call_as(Some(&binh), Method::GET, "/api/v1/me", None).await.body;
        assert_eq!(binh_me["user"]["mail_mentions"], true, "{e}");

        let wired = app.wired().await;
        wired.writes("33612345678", "my parcel never came").await;
        let conv = app.conversation_of("33612345678").await;
        let notes = format!("/api/v1/conversations/{conv}/notes");
        // The server's own mails (the same relay serves both engines' runs).
        let link = app.url(&format!("/inbox#c{conv}"));
        let ours = || smtp.mails().into_iter().filter(|m| m.contains(&link)).collect::<Vec<_>>();
        let note = app.post(&notes, json!({"body": "@Binh @Chi @Eve can one of you call her back?"})).await;
        assert_eq!(note.status, StatusCode::CREATED, "{e}: {:?}", note.body);
        assert!(eventually(20, || async { ours().len() == 2 }).await, "{e}: {}", ours().len());
        let mails = ours();
        let to = |who: &str| mails.iter().filter(|m| m.contains(&format!("To: {who}@acme.example"))).count();
        assert_eq!((to("binh"), to("chi"), to("eve")), (1, 0, 1), "{e}: Chi did not ask");
        let binh_mail = mails.iter().find(|m| m.contains("To: binh@acme.example")).unwrap();
        assert!(binh_mail.contains("can one of you call her back?"), "{e}: the note\n{binh_mail}");
        assert!(binh_mail.contains("Ouvrir la conversation"), "{e}: in Bình's French\n{binh_mail}");
        let eve_mail = mails.iter().find(|m| m.contains("To: eve@acme.example")).unwrap();
        assert!(eve_mail.contains("mentioned you in Parley") && eve_mail.contains(&link), "{e}\n{eve_mail}");

        // Bình turns it off: the next mention mails Eve only (mailed in the order written, so
        // Bình's would have come first).
        let off = me(&binh, json!({"mail_mentions": false})).await;
        assert_eq!(off.body["mail_mentions"], false, "{e}");
        app.post(&notes, json!({"body": "@Binh @Eve done, thanks"})).await;
        assert!(eventually(20, || async { ours().len() == 3 }).await, "{e}");
        let mails = ours();
        let binh_mails = mails.iter().filter(|m| m.contains("To: binh@acme.example")).count();
        assert_eq!(binh_mails, 1, "{e}: no mail once turned off");
        assert!(mails.iter().any(|m| m.contains("To: eve@acme.example") && m.contains("done, thanks")), "{e}");
    }
}

/// Without a mail relay the setting is refused and stays off.
#[tokio::test]
async fn mentions_by_mail_need_a_relay() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    let r = app.patch("/api/v1/me", json!({"mail_mentions": true})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "mail_not_configured"), "{:?}", r.body);
    assert_eq!(app.get("/api/v1/me").await.body["user"]["mail_mentions"], false);
    let off = app.patch("/api/v1/me", json!({"mail_mentions": false})).await;
    assert_eq!((off.status, off.body["mail_mentions"].as_bool()), (StatusCode::OK, Some(false)));
}

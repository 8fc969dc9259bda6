//! Cloud API webhooks acknowledged before they are applied (`journal.rs`): a burst posted at
//! once, each post twice, is acknowledged and then applied, each message once, and the journal
//! ends empty; what a stopped server left in its journal is applied by the next start.

use parley_core::Clock;
use parley_providers::meta::signature;
use parley_store::NewJournalEntry;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

fn body(pnid: &str, i: usize) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "33612345678"}],
        "messages": [{"from": "33612345678", "id": format!("wamid.JOURNAL{i}"), "timestamp": "1750000000",
            "type": "text", "text": {"body": format!("m{i}")}}]}}]}]})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_burst_of_webhooks_is_acknowledged_then_each_applied_once() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let url = app.url(wired.channel["webhook_path"].as_str().unwrap());
        let (secret, pnid) = (&wired.number.app_secret, &wired.number.phone_number_id);
        // 40 messages, each posted twice, all at once: more than answer after their application.
        let posts = (0..80).map(|k| {
            let body = body(pnid, k % 40);
            let sig = signature::sign(secret, &body);
            app.client
                .post(&url)
                .header("content-type", "application/json")
                .header(signature::HEADER, sig)
                .body(body)
                .send()
        });
        let answers = futures_util::future::join_all(posts).await;
        for answer in answers {
            assert_eq!(answer.unwrap().status(), StatusCode::OK, "{e}");
        }
        app.state.journal.backlog.settled().await;
        let mut texts: Vec<String> =
            app.all_messages().await.iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect();
        texts.sort();
        let mut expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(texts, expected, "{e}: every message once");
        assert!(app.state.store.journal_pending(0, 10).await.unwrap().is_empty(), "{e}: the journal is empty");
    }
}

#[tokio::test]
async fn webhooks_journaled_before_a_stop_are_applied_by_the_next_start() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let path = wired.channel["webhook_path"].as_str().unwrap();
        let key = path.rsplit('/').next().unwrap();
        let (secret, pnid) = (&wired.number.app_secret, &wired.number.phone_number_id);
        let (one, two) = (body(pnid, 1), body(pnid, 2));
        let (sig_one, sig_two) = (signature::sign(secret, &one), signature::sign(secret, &two));
        let (one, two) = (String::from_utf8(one).unwrap(), String::from_utf8(two).unwrap());
        // As a server stopped between its acknowledgements and their application leaves them,
        // with one for a channel deleted since.
        let store = &app.state.store;
        let entries = [
            NewJournalEntry { webhook_key: key, body: &one, signature: Some(&sig_one) },
            NewJournalEntry { webhook_key: "a-key-of-no-channel", body: &two, signature: Some(&sig_two) },
            NewJournalEntry { webhook_key: key, body: &two, signature: Some(&sig_two) },
        ];
        store.journal_append(&entries, app.clock.now()).await.unwrap();

        let applied = parley_server::journal::recover(&app.state).await.unwrap();
        assert_eq!(applied, 3, "{e}");
        let mut texts: Vec<String> =
            app.all_messages().await.iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect();
        texts.sort();
        assert_eq!(texts, ["m1", "m2"], "{e}");
        assert!(store.journal_pending(0, 10).await.unwrap().is_empty(), "{e}: the journal is empty");
        // Nothing is applied twice by a second start.
        assert_eq!(parley_server::journal::recover(&app.state).await.unwrap(), 0, "{e}");
    }
}

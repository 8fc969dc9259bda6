//! Cloud API webhooks acknowledged before they are applied (`journal.rs`): a burst posted at
//! once, each post twice, is acknowledged and then applied, each message once, and the journal
//! ends empty; while journaled webhooks wait, a new one joins them, and once none waits a
//! webhook is applied before it is answered; what a stopped server left in its journal is applied
//! by the next start, and what a server left there is swept once old enough.

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

/// Message `i`'s webhook, signed, posted to the wired channel's webhook path.
fn signed_post(app: &TestApp, wired: &crate::helpers::Wired, i: usize) -> reqwest::RequestBuilder {
    let url = app.url(wired.channel["webhook_path"].as_str().unwrap());
    let body = body(&wired.number.phone_number_id, i);
    let sig = signature::sign(&wired.number.app_secret, &body);
    app.client.post(url).header("content-type", "application/json").header(signature::HEADER, sig).body(body)
}

/// The texts of every message in the app's inbox, sorted.
async fn sorted_texts(app: &TestApp) -> Vec<String> {
    let mut texts: Vec<String> =
        app.all_messages().await.iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect();
    texts.sort();
    texts
}

#[tokio::test]
async fn a_burst_of_webhooks_is_acknowledged_then_each_applied_once() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        // 40 messages, each posted twice, all at once: more than answer after their application.
        let posts = (0..80).map(|k| signed_post(&app, &wired, k % 40).send());
        let answers = futures_util::future::join_all(posts).await;
        let mut journaled = 0;
        for answer in answers {
            let answer = answer.unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{e}");
            let answer: serde_json::Value = answer.json().await.unwrap();
            // Journaled and answered, or applied and answered: never both, never neither.
            assert_eq!(answer["applied"].as_bool(), answer["journaled"].as_bool().map(|j| !j), "{e}: {answer}");
            journaled += usize::from(answer["journaled"] == true);
        }
        eprintln!("{e}: {journaled} of 80 answered once journaled");
        app.state.journal.backlog.settled().await;
        let texts = sorted_texts(&app).await;
        let mut expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(texts, expected, "{e}: every message once");
        assert!(app.state.store.journal_pending(0, 10).await.unwrap().is_empty(), "{e}: the journal is empty");
    }
}

#[tokio::test]
async fn a_webhook_joins_the_journaled_ones_waiting_and_is_applied_first_when_none_waits() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let post = |k: usize| {
            let request = signed_post(&app, &wired, k);
            async move {
                let answer = request.send().await.unwrap();
                assert_eq!(answer.status(), StatusCode::OK);
                answer.json::<serde_json::Value>().await.unwrap()
            }
        };
        // Something journaled waits (held here): the next webhook is journaled too, answered
        // before it is applied, and applied once nothing holds the backlog.
        let held = parley_server::journal::Pending::new(&app.state.journal.backlog, 1);
        assert_eq!(post(0).await, json!({"journaled": true, "applied": false}), "{e}");
        drop(held);
        app.state.journal.backlog.settled().await;
        assert_eq!(app.all_messages().await.len(), 1, "{e}: applied after the answer");
        // Nothing waits: applied, then answered, with nothing journaled.
        let answer = post(1).await;
        assert_eq!((answer["journaled"].as_bool(), answer["applied"].as_bool()), (Some(false), Some(true)), "{e}");
        assert_eq!(app.all_messages().await.len(), 2, "{e}: in the inbox when answered");
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
        let texts = sorted_texts(&app).await;
        assert_eq!(texts, ["m1", "m2"], "{e}");
        assert!(store.journal_pending(0, 10).await.unwrap().is_empty(), "{e}: the journal is empty");
        // Nothing is applied twice by a second start.
        assert_eq!(parley_server::journal::recover(&app.state).await.unwrap(), 0, "{e}");
    }
}

#[tokio::test]
async fn a_webhook_its_server_left_in_the_journal_is_applied_by_the_sweep_once_old_enough() {
    use parley_server::journal::ORPHANED_AFTER_SECS;
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let key = wired.channel["webhook_path"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let one = body(&wired.number.phone_number_id, 1);
        let sig = signature::sign(&wired.number.app_secret, &one);
        let one = String::from_utf8(one).unwrap();
        // As another server sharing the database journals a webhook and stops before applying it.
        let entry = NewJournalEntry { webhook_key: &key, body: &one, signature: Some(&sig) };
        app.state.store.journal_append(&[entry], app.clock.now()).await.unwrap();
        // Not yet: its own server may still be applying it.
        app.clock.advance_secs(ORPHANED_AFTER_SECS - 1);
        app.timer_passes(2).await;
        assert!(sorted_texts(&app).await.is_empty(), "{e}");
        assert_eq!(app.state.store.journal_pending(0, 10).await.unwrap().len(), 1, "{e}");
        // A minute later, the next sweep applies it, once.
        app.clock.advance_secs(60);
        app.timer_passes(2).await;
        assert_eq!(sorted_texts(&app).await, ["m1"], "{e}");
        assert!(app.state.store.journal_pending(0, 10).await.unwrap().is_empty(), "{e}: the journal is empty");
    }
}

//! Bots' settings on both engines: hand-over settings and the Dialogflow agent belong to a bot
//! of the workspace only (another workspace's bot, or a person, is `NotFound`), the agent is
//! replaced or removed whole, and the worker's list holds every bot with one.

use parley_core::Email;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::bots::HandoverSettings;
use parley_core::dialogflow::{AgentInput, check_agent};
use parley_store::testing::TestDatabase;
use parley_store::{BotDialogflow, NewToken, NewUser, StoreError};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn bot_user(tag: &str) -> NewUser {
    NewUser {
        email: Email::parse(&format!("bot-{tag}@bots.parley.invalid")).unwrap(),
        name: "Helper".into(),
        role: Role::Agent,
        password_hash: None,
    }
}

fn token(tag: &str) -> NewToken {
    NewToken { name: "bot".into(), hash: format!("h-bot-{tag}"), prefix: "p".into() }
}

fn agent(edition: &str, intents: &[&str]) -> BotDialogflow {
    let agent = check_agent(AgentInput {
        edition: edition.into(),
        project: "acme-shop".into(),
        agent: (edition == "cx").then(|| "a1".into()),
        handover_intents: intents.iter().map(|i| i.to_string()).collect(),
        ..AgentInput::default()
    })
    .unwrap();
    BotDialogflow {
        agent,
        client_email: "b@acme-shop.iam.gserviceaccount.com".into(),
        sealed_key: "v1:k".into(),
        updated_at: NOW,
    }
}

#[tokio::test]
async fn a_bots_agent_is_kept_replaced_and_removed_within_its_workspace() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let (ws, owner, _) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let (other_ws, _, _) = parley_store::testing::workspace_with_channel(store, "globex", NOW).await;
        let (bot, _) = store.create_bot(ws, bot_user("a"), token("a"), NOW).await.unwrap();
        let (foreign_bot, _) = store.create_bot(other_ws, bot_user("b"), token("b"), NOW).await.unwrap();
        let settings = HandoverSettings { keywords: vec!["agent".into()], silence_seconds: Some(60), max_turns: None };
        store.set_bot_settings(ws, bot.id, &settings).await.unwrap();
        store.set_bot_settings(other_ws, foreign_bot.id, &settings).await.unwrap();

        assert_eq!(store.bot_dialogflow(ws, bot.id).await.unwrap(), None, "{:?}", db.url);
        let es = agent("es", &["Talk to a person"]);
        store.set_bot_dialogflow(ws, bot.id, Some(&es)).await.unwrap();
        assert_eq!(store.bot_dialogflow(ws, bot.id).await.unwrap(), Some(es.clone()));
        let cx = agent("cx", &[]);
        store.set_bot_dialogflow(ws, bot.id, Some(&cx)).await.unwrap();
        assert_eq!(store.bot_dialogflow(ws, bot.id).await.unwrap(), Some(cx.clone()), "replaced whole");
        assert_eq!(store.dialogflow_bots().await.unwrap(), vec![(bot.id, cx.clone())]);

        // Only a bot of the workspace has one.
        for (w, u) in [(other_ws, bot.id), (ws, foreign_bot.id), (ws, owner)] {
            assert!(matches!(store.bot_dialogflow(w, u).await, Err(StoreError::NotFound)), "{:?}: {u:?}", db.url);
            let refused = store.set_bot_dialogflow(w, u, Some(&es)).await;
            assert!(matches!(refused, Err(StoreError::NotFound)), "{:?}", db.url);
            assert!(matches!(store.set_bot_settings(w, u, &settings).await, Err(StoreError::NotFound)));
        }
        assert_eq!(store.dialogflow_bots().await.unwrap().len(), 1, "nothing written by the refusals");

        // One server at a time answers a message, once.
        let m = parley_core::ids::MessageId(4242);
        let until = NOW.plus_secs(60);
        assert!(store.claim_bot_answer(m, "server-a", NOW, until).await.unwrap(), "{:?}", db.url);
        assert!(!store.claim_bot_answer(m, "server-b", NOW.plus_secs(1), until).await.unwrap(), "a's claim runs");
        store.finish_bot_answer(m, "server-a", false, NOW.plus_secs(2)).await.unwrap();
        assert!(store.claim_bot_answer(m, "server-b", NOW.plus_secs(2), until).await.unwrap(), "let go: b takes it");
        store.finish_bot_answer(m, "server-a", true, NOW.plus_secs(3)).await.unwrap();
        assert!(!store.claim_bot_answer(m, "server-a", NOW.plus_secs(5), until).await.unwrap(), "not a's to end");
        store.finish_bot_answer(m, "server-b", true, NOW.plus_secs(3)).await.unwrap();
        let much_later = NOW.plus_secs(86_400);
        assert!(!store.claim_bot_answer(m, "server-a", much_later, much_later).await.unwrap(), "answered: never again");
        assert_eq!(store.forget_bot_answers(NOW.plus_secs(4)).await.unwrap(), 1);
        assert!(store.claim_bot_answer(m, "server-a", much_later, much_later.plus_secs(60)).await.unwrap());

        store.set_bot_dialogflow(ws, bot.id, None).await.unwrap();
        assert_eq!(store.bot_dialogflow(ws, bot.id).await.unwrap(), None);
        assert!(store.dialogflow_bots().await.unwrap().is_empty());
    }
}

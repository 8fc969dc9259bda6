//! Mentions by mail on both engines: a mail is owed only to a mentioned teammate who asked for
//! mentions by mail, written with the note; the worker's claim holds it for one server until its
//! lease ends; a mail no longer owed (mail turned off, user deactivated, channel made private
//! without them) is closed as skipped; failures come back at their retry time, then give up.

use parley_core::Email;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::Visibility;
use parley_core::ids::{ConversationId, UserId, WorkspaceId};
use parley_core::message::{Content, InboundEvent, InboundMessage, Sender};
use parley_core::whatsapp::WaId;
use parley_store::testing::TestDatabase;
use parley_store::{ChannelPatch, ConversationQuery, NewConversationNote, NewUser, RoutedEvent, Store, Viewer};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_750_000_000);

async fn agent(store: &dyn Store, ws: WorkspaceId, name: &str, mail: bool) -> UserId {
    let new = NewUser {
        email: Email::parse(&format!("{}@acme.example", name.to_lowercase())).unwrap(),
        name: name.into(),
        role: Role::Agent,
        password_hash: None,
    };
    let user = store.create_user(ws, new, NOW).await.unwrap();
    store.set_mail_mentions(ws, user.id, mail).await.unwrap();
    user.id
}

/// A customer's conversation on the workspace's channel.
async fn conversation(store: &dyn Store, ws: WorkspaceId, channel: &parley_core::channel::Channel) -> ConversationId {
    let event = InboundEvent::Message(Box::new(InboundMessage {
        provider_message_id: "wamid.1".into(),
        from: Sender {
            wa_id: Some(WaId::parse("33612345678").unwrap()),
            bsuid: None,
            profile_name: None,
            username: None,
            contact_fields: Vec::new(),
        },
        sent_at: NOW,
        content: Content::Text { body: "hello".into(), preview_url: None },
        context: None,
        referral: None,
        errors: vec![],
        raw: json!({}),
    }));
    store.apply_inbound(&[RoutedEvent { channel, event: &event }], NOW).await.unwrap();
    let list = store.conversations(ws, &ConversationQuery { limit: 1, ..Default::default() }).await.unwrap();
    list.items[0].id
}

async fn note(store: &dyn Store, ws: WorkspaceId, conv: ConversationId, author: UserId, body: &str, to: &[UserId]) {
    let new = NewConversationNote { author, body, mentions: to };
    store.add_conversation_note(ws, conv, Viewer::All, new, NOW).await.unwrap();
}

#[tokio::test]
async fn mention_mails_are_owed_claimed_once_and_closed() {
    for db in TestDatabase::all().await {
        let e = db.engine();
        let store = db.store.as_ref();
        let (ws, owner, channel) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let conv = conversation(store, ws, &channel).await;
        let binh = agent(store, ws, "Binh", true).await;
        let chi = agent(store, ws, "Chi", false).await;
        store.set_locale(ws, binh, Some("fr")).await.unwrap();

        // Owed to Bình only (Chi did not ask, the author is never told).
        note(store, ws, conv, owner, "@Binh @Chi call her back", &[binh, chi, owner]).await;
        let lease = NOW.plus_secs(120);
        let due = store.mention_mails_due(NOW, lease, 20).await.unwrap();
        assert_eq!(due.len(), 1, "{e}: {due:?}");
        let mail = &due[0];
        assert_eq!(
            (mail.to.as_str(), mail.user_name.as_str(), mail.locale.as_deref(), mail.author_name.as_str()),
            ("binh@acme.example", "Binh", Some("fr"), "O"),
            "{e}"
        );
        assert_eq!((mail.conversation_id, mail.note.as_str(), mail.attempts), (conv, "@Binh @Chi call her back", 0));

        // Claimed: nobody else takes it before its lease ends; after, it is owed again.
        assert!(store.mention_mails_due(NOW.plus_secs(60), NOW.plus_secs(180), 20).await.unwrap().is_empty(), "{e}");
        let again = store.mention_mails_due(NOW.plus_secs(121), NOW.plus_secs(240), 20).await.unwrap();
        assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), vec![mail.id], "{e}");

        // A failure comes back at its retry time with one more attempt; a success closes it.
        let t = NOW.plus_secs(130);
        store.mention_mailed(mail.id, Err("relay down".into()), Some(t.plus_secs(60)), t).await.unwrap();
        assert!(store.mention_mails_due(t.plus_secs(59), t.plus_secs(300), 20).await.unwrap().is_empty(), "{e}");
        let retried = store.mention_mails_due(t.plus_secs(61), t.plus_secs(300), 20).await.unwrap();
        assert_eq!((retried.len(), retried[0].attempts), (1, 1), "{e}");
        store.mention_mailed(mail.id, Ok(()), None, t.plus_secs(62)).await.unwrap();
        assert!(store.mention_mails_due(t.plus_secs(999), t.plus_secs(1200), 20).await.unwrap().is_empty(), "{e}");

        // Given up: never owed again.
        note(store, ws, conv, owner, "@Binh again", &[binh]).await;
        let owed = store.mention_mails_due(NOW, lease, 20).await.unwrap();
        assert_eq!(owed.len(), 1, "{e}");
        store.mention_mailed(owed[0].id, Err("refused".into()), None, NOW).await.unwrap();
        assert!(store.mention_mails_due(NOW.plus_secs(9999), NOW.plus_secs(9999), 20).await.unwrap().is_empty());

        // No longer owed by mailing time: mail turned off; deactivated; out of a private channel.
        note(store, ws, conv, owner, "@Binh one", &[binh]).await;
        store.set_mail_mentions(ws, binh, false).await.unwrap();
        assert!(store.mention_mails_due(NOW, lease, 20).await.unwrap().is_empty(), "{e}: mail turned off");
        store.set_mail_mentions(ws, binh, true).await.unwrap();
        assert!(store.mention_mails_due(NOW, lease, 20).await.unwrap().is_empty(), "{e}: closed as skipped");

        let dung = agent(store, ws, "Dung", true).await;
        note(store, ws, conv, owner, "@Dung two", &[dung]).await;
        let patch = ChannelPatch { visibility: Some(Visibility::Private), ..ChannelPatch::default() };
        store.update_channel(ws, channel.id, patch, NOW).await.unwrap();
        assert!(store.mention_mails_due(NOW, lease, 20).await.unwrap().is_empty(), "{e}: no longer sees it");
        store.set_channel_members(ws, channel.id, &[dung], NOW).await.unwrap();
        note(store, ws, conv, owner, "@Dung three", &[dung]).await;
        let off = parley_store::UserPatch { active: Some(false), ..Default::default() };
        store.update_user(ws, dung, off, None, NOW).await.unwrap();
        assert!(store.mention_mails_due(NOW, lease, 20).await.unwrap().is_empty(), "{e}: deactivated");
    }
}

/// Servers claiming at once mail each mention once (PostgreSQL runs at read committed).
#[tokio::test]
async fn concurrent_claims_take_each_mention_once() {
    for db in TestDatabase::all().await {
        let e = db.engine();
        let store = db.store.clone();
        let (ws, owner, channel) = parley_store::testing::workspace_with_channel(store.as_ref(), "acme", NOW).await;
        let conv = conversation(store.as_ref(), ws, &channel).await;
        let mut users = Vec::new();
        for i in 0..30 {
            users.push(agent(store.as_ref(), ws, &format!("User{i}"), true).await);
        }
        for user in &users {
            note(store.as_ref(), ws, conv, owner, "ping", std::slice::from_ref(user)).await;
        }
        let claims = (0..6).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.mention_mails_due(NOW, NOW.plus_secs(120), 10).await.unwrap() })
        });
        let mut taken: Vec<i64> = Vec::new();
        for claim in claims {
            taken.extend(claim.await.unwrap().into_iter().map(|m| m.id));
        }
        // What the racing claims left (each saw at most ten) is still owed, once.
        while let Ok(more) = store.mention_mails_due(NOW, NOW.plus_secs(120), 10).await
            && !more.is_empty()
        {
            taken.extend(more.into_iter().map(|m| m.id));
        }
        let mut unique = taken.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), taken.len(), "{e}: a mention claimed twice");
        assert_eq!(unique.len(), 30, "{e}: every mention claimed once");
    }
}

//! Decisions taken by concurrent writers, on both engines: a rule checked and the write it allows
//! must see the same data even when other transactions commit in between (PostgreSQL runs at
//! read committed; SQLite has one writer).

use std::sync::Arc;

use parley_core::Email;
use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::Channel;
use parley_core::contact::ContactRef;
use parley_core::ids::{UserId, WorkspaceId};
use parley_core::message::{Content, InboundEvent, InboundMessage, Sender};
use parley_core::rules::Refusal;
use parley_core::whatsapp::WaId;
use parley_store::testing::TestDatabase;
use parley_store::{
    ChannelPatch, ConversationQuery, MergeRequest, MessageQuery, NewUser, RoutedEvent, SendOutcome, Store, StoreError,
    UserPatch, Viewer,
};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

async fn setup(store: &dyn Store) -> (WorkspaceId, Channel) {
    let (ws, _, channel) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
    (ws, channel)
}

/// 50 first messages at once to 50 new recipients, 10 slots left: exactly 10 are queued. On
/// PostgreSQL, without a lock around the count, several sends read the same count and all take
/// the last slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_messages_take_exactly_the_slots_left() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        let patch = ChannelPatch { messaging_limit: Some(Some(15)), ..Default::default() };
        let channel = store.update_channel(ws, channel.id, patch, NOW).await.unwrap();
        let refs = parley_store::testing::template_audience(store, ws, "UTILITY", "336123", 55, NOW).await;
        // Five recipients reached already today: ten slots left.
        for to in &refs[..5] {
            assert!(matches!(
                parley_store::testing::send_promo(store, ws, &channel, to, false, NOW).await,
                SendOutcome::Queued(_)
            ));
        }
        let channel = Arc::new(channel);
        let tasks: Vec<_> = refs[5..]
            .iter()
            .cloned()
            .map(|to| {
                let (store, channel) = (Arc::clone(&db.store), Arc::clone(&channel));
                tokio::spawn(
                    async move { parley_store::testing::send_promo(&*store, ws, &channel, &to, false, NOW).await },
                )
            })
            .collect();
        let (mut queued, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                SendOutcome::Queued(_) => queued += 1,
                SendOutcome::Refused { refusal: Refusal::LimitReached { limit: 15 }, .. } => refused += 1,
                other => panic!("{}: {other:?}", db.engine()),
            }
        }
        assert_eq!((queued, refused), (10, 40), "{}", db.engine());
    }
}

async fn add_user(store: &dyn Store, ws: WorkspaceId, name: &str, role: Role) -> UserId {
    let user = NewUser {
        email: Email::parse(&format!("{name}@acme.example")).unwrap(),
        name: name.into(),
        role,
        password_hash: None,
    };
    store.create_user(ws, user, NOW).await.unwrap().id
}

/// A manager changes an agent while an owner makes that agent an owner. In either order the
/// agent ends an owner: first the manager's change then the promotion, or the promotion then the
/// manager's change refused (a manager never touches an owner), never the manager's change
/// written over an owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_managers_change_to_a_user_just_made_an_owner_is_refused() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, _) = setup(store).await;
        let owner = store.users(ws).await.unwrap()[0].id;
        let manager = add_user(store, ws, "m", Role::Manager).await;
        for round in 0..20 {
            let target = add_user(store, ws, &format!("a{round}"), Role::Agent).await;
            let promote = UserPatch { role: Some(Role::Owner), ..Default::default() };
            let demote = UserPatch { role: Some(Role::Manager), ..Default::default() };
            let (by_owner, by_manager) = tokio::join!(
                tokio::spawn({
                    let store = Arc::clone(&db.store);
                    async move { store.update_user(ws, target, promote, Some(owner), NOW).await }
                }),
                tokio::spawn({
                    let store = Arc::clone(&db.store);
                    async move { store.update_user(ws, target, demote, Some(manager), NOW).await }
                }),
            );
            by_owner.unwrap().unwrap();
            match by_manager.unwrap() {
                Ok(_) | Err(StoreError::Forbidden(_)) => {}
                Err(e) => panic!("{}: {e:?}", db.engine()),
            }
            let role = store.user(ws, target).await.unwrap().role;
            assert_eq!(role, Role::Owner, "{} round {round}", db.engine());
        }
    }
}

/// Two owners, each demoting the other at once: one change is refused (the second to run finds
/// its author a manager now), and the workspace keeps an active owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_demoting_each_other_leave_an_owner() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, _) = setup(store).await;
        let mut first = store.users(ws).await.unwrap()[0].id;
        for round in 0..20 {
            let second = add_user(store, ws, &format!("o{round}"), Role::Owner).await;
            let demote = UserPatch { role: Some(Role::Manager), ..Default::default() };
            let (a, b) = tokio::join!(
                tokio::spawn({
                    let (store, demote) = (Arc::clone(&db.store), demote.clone());
                    async move { store.update_user(ws, second, demote, Some(first), NOW).await }
                }),
                tokio::spawn({
                    let store = Arc::clone(&db.store);
                    async move { store.update_user(ws, first, demote, Some(second), NOW).await }
                }),
            );
            let (a, b) = (a.unwrap(), b.unwrap());
            let refused = |r: &Result<_, StoreError>| matches!(r, Err(StoreError::Forbidden(_)));
            assert!(
                refused(&a) != refused(&b) && (a.is_ok() || b.is_ok()),
                "{} round {round}: {a:?} {b:?}",
                db.engine()
            );
            let owners: Vec<_> = store
                .users(ws)
                .await
                .unwrap()
                .into_iter()
                .filter(|u| u.role == Role::Owner && u.deactivated_at.is_none())
                .collect();
            assert_eq!(owners.len(), 1, "{} round {round}", db.engine());
            first = owners[0].id;
        }
    }
}

/// A message from `wa` with provider id `id`, sent a minute ago.
fn message_from(wa: &str, id: &str) -> InboundEvent {
    InboundEvent::Message(Box::new(InboundMessage {
        provider_message_id: id.into(),
        from: Sender::of(WaId::parse(wa).unwrap()),
        sent_at: NOW.plus_secs(-60),
        content: Content::Text { body: "hi".into(), preview_url: None },
        context: None,
        referral: None,
        errors: vec![],
        raw: json!({}),
    }))
}

/// A merge of two contacts who both have a conversation on the channel, while a message from the
/// secondary arrives. Whichever commits first, the message ends in the primary's one thread with
/// the two earlier ones: the merge moves what the webhook committed, or the webhook finds the
/// primary. Before the merge waited for the webhook, PostgreSQL's merge missed the message being
/// written and deleted it with the folded conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_arriving_during_a_merge_is_kept_in_the_merged_thread() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        for round in 0..30 {
            let (primary, secondary) = (format!("336124{round:05}"), format!("336125{round:05}"));
            for wa in [&primary, &secondary] {
                let first = message_from(wa, &format!("first.{wa}"));
                store.apply_inbound(&[RoutedEvent { channel: &channel, event: &first }], NOW).await.unwrap();
            }
            let secondary_id =
                store.contact(ws, &ContactRef::parse(&format!("phone:+{secondary}"), None).unwrap()).await.unwrap().id;
            let request = MergeRequest {
                primary: ContactRef::parse(&format!("phone:+{primary}"), None).unwrap(),
                secondary: ContactRef::Id(secondary_id),
                overrides: Default::default(),
                by: None,
            };
            let late = message_from(&secondary, &format!("late.{secondary}"));
            let start = Arc::new(tokio::sync::Barrier::new(2));
            let merge = tokio::spawn({
                let (store, start) = (Arc::clone(&db.store), Arc::clone(&start));
                async move {
                    start.wait().await;
                    store.merge_contacts(ws, request, NOW).await
                }
            });
            let webhook = tokio::spawn({
                let (store, start, channel) = (Arc::clone(&db.store), Arc::clone(&start), channel.clone());
                async move {
                    start.wait().await;
                    store.apply_inbound(&[RoutedEvent { channel: &channel, event: &late }], NOW).await
                }
            });
            let merged = merge.await.unwrap().unwrap();
            let outcome = webhook.await.unwrap().unwrap();
            assert_eq!(outcome.messages, 1, "{} round {round}", db.engine());

            let query = ConversationQuery {
                viewer: Viewer::All,
                contact: Some(merged.contact.id),
                limit: 10,
                ..Default::default()
            };
            let threads = store.conversations(ws, &query).await.unwrap().items;
            assert_eq!(threads.len(), 1, "{} round {round}: one thread per channel", db.engine());
            let query = MessageQuery { viewer: Viewer::All, limit: 10, cursor: None };
            let mut ids: Vec<String> = store
                .messages(ws, threads[0].id, &query)
                .await
                .unwrap()
                .items
                .into_iter()
                .filter_map(|m| m.provider_message_id)
                .collect();
            ids.sort();
            let expected = vec![format!("first.{primary}"), format!("first.{secondary}"), format!("late.{secondary}")];
            assert_eq!(ids, expected, "{} round {round}", db.engine());
            let found = store.contact(ws, &ContactRef::Id(secondary_id)).await.unwrap();
            assert_eq!(found.id, merged.contact.id, "{} round {round}", db.engine());
        }
    }
}

/// Twenty conversations given at once to the least loaded available agent, two agents under a
/// cap of three open each: six are given, three each, never a seventh. The choice and its write
/// are one transaction; chosen in one and written in another, two choices could read the same
/// loads and pass the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_choices_of_an_available_agent_never_pass_the_cap() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        let agents = [add_user(store, ws, "a", Role::Agent).await, add_user(store, ws, "b", Role::Agent).await];
        let settings = parley_store::AssignmentSettings { mode: parley_store::AutoAssign::Off, max_open: Some(3) };
        store.set_assignment_settings(ws, settings, NOW).await.unwrap();
        for n in 0..20 {
            let event = message_from(&format!("3361230{n:04}"), &format!("m{n}"));
            store.apply_inbound(&[RoutedEvent { channel: &channel, event: &event }], NOW).await.unwrap();
        }
        let query = ConversationQuery { viewer: Viewer::All, limit: 50, ..Default::default() };
        let conversations = store.conversations(ws, &query).await.unwrap().items;
        assert_eq!(conversations.len(), 20);
        let start = Arc::new(tokio::sync::Barrier::new(conversations.len()));
        let tasks: Vec<_> = conversations
            .iter()
            .map(|c| {
                let (store, start, id) = (Arc::clone(&db.store), Arc::clone(&start), c.id);
                tokio::spawn(async move {
                    start.wait().await;
                    store.assign_available(ws, id, None, parley_store::AutoAssign::LeastOpen, None, NOW).await
                })
            })
            .collect();
        let mut given = Vec::new();
        for task in tasks {
            given.extend(task.await.unwrap().unwrap());
        }
        assert_eq!(given.len(), 6, "{}: {given:?}", db.engine());
        for agent in agents {
            assert_eq!(given.iter().filter(|g| **g == agent).count(), 3, "{}", db.engine());
            let query = ConversationQuery {
                viewer: Viewer::All,
                assignee: Some(parley_store::AssigneeFilter::User(agent)),
                limit: 50,
                ..Default::default()
            };
            assert_eq!(store.conversations(ws, &query).await.unwrap().items.len(), 3, "{}: written", db.engine());
        }
    }
}

/// Two servers' timers making the same planned move at once: exactly one moves the number,
/// the other finds the plan taken (`NotFound`); the channel has one past connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_planned_move_is_made_once_by_concurrent_timers() {
    use parley_core::channel::Provider;
    use parley_store::ChannelMove;
    for db in TestDatabase::all().await {
        let e = db.engine();
        let store = &*db.store;
        let (ws, channel) = setup(store).await;
        let to = ChannelMove {
            provider: Provider::Twilio,
            phone_number_id: "14155238886".into(),
            waba_id: "AC0123456789abcdef0123456789abcdef".into(),
            graph_base_url: "https://api.twilio.com".into(),
            sealed_secrets: "sealed".into(),
            webhook_key: "planned-key".into(),
        };
        let cutover = NOW.plus_secs(3600);
        let plan = store.plan_move(ws, channel.id, to, cutover, true, None, NOW).await.unwrap();
        assert!(store.due_planned_moves(NOW, 10).await.unwrap().is_empty(), "{e}: not due yet");
        let planned = store.channel_by_planned_webhook_key("planned-key").await.unwrap().expect("routed");
        assert_eq!((planned.id, planned.provider), (channel.id, Provider::Twilio), "{e}");
        let due = store.due_planned_moves(cutover, 10).await.unwrap();
        assert_eq!(due.iter().map(|p| p.id).collect::<Vec<_>>(), [plan.id], "{e}");
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (store, target) = (Arc::clone(&db.store), due[0].to.clone());
                tokio::spawn(async move { store.move_channel(ws, channel.id, target, Some(plan.id), cutover).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap().map(|(moved, _)| moved.provider));
        }
        let moved = outcomes.iter().filter(|o| matches!(o, Ok(Provider::Twilio))).count();
        let taken = outcomes.iter().filter(|o| matches!(o, Err(StoreError::NotFound))).count();
        assert_eq!((moved, taken), (1, 1), "{e}: {outcomes:?}");
        assert_eq!(store.past_connections(ws, channel.id).await.unwrap().len(), 1, "{e}");
        assert!(store.planned_move(ws, channel.id).await.unwrap().is_none(), "{e}: the plan is gone");
        assert_eq!(store.channel_by_webhook_key("planned-key").await.unwrap().map(|c| c.id), Some(channel.id), "{e}");
    }
}

//! The store contract: the same stories run against SQLite and (when `PARLEY_TEST_DATABASE_URL`
//! is set) PostgreSQL. What passes here behaves the same on both engines.

use parley_core::account::Role;
use parley_core::contact::{ContactInput, ContactPatch, ContactPatchInput, ContactRef, NewContact};
use parley_core::ids::{ContactId, EventId, TokenId, UserId};
use parley_core::{E164, Email, Timestamp};
use parley_store::testing::TestDatabase;
use parley_store::{Bootstrapped, ContactQuery, NewToken, NewUser, Store, StoreError, Viewer, WorkspacePatch};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_750_000_000);

async fn workspace(store: &dyn Store, name: &str) -> Bootstrapped {
    let owner = NewUser {
        email: Email::parse(&format!("owner@{name}.example")).unwrap(),
        name: "Owner".into(),
        role: Role::Owner,
        password_hash: Some("hash".into()),
    };
    let token = NewToken { name: "bootstrap".into(), hash: format!("hash-{name}"), prefix: "pk_x".into() };
    store.bootstrap(name, owner, token, NOW).await.unwrap()
}

fn contact(v: serde_json::Value) -> NewContact {
    NewContact::from_input(serde_json::from_value::<ContactInput>(v).unwrap(), None).unwrap()
}

fn patch(v: serde_json::Value) -> ContactPatch {
    ContactPatch::from_input(serde_json::from_value::<ContactPatchInput>(v).unwrap(), None).unwrap()
}

fn phone(s: &str) -> ContactRef {
    ContactRef::Phone(E164::parse(s).unwrap())
}

#[tokio::test]
async fn bootstrap_creates_workspace_owner_and_token() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let b = workspace(store, "acme").await;
        assert_eq!(b.workspace.name, "acme");
        assert_eq!(b.owner.role, Role::Owner);
        let owner = store.token_owner("hash-acme").await.unwrap().expect("token resolves");
        assert_eq!((owner.workspace_id, owner.user_id, owner.role), (b.workspace.id, b.owner.id, Role::Owner));
        assert!(store.token_owner("unknown").await.unwrap().is_none(), "{}", db.engine());
    }
}

#[tokio::test]
async fn bootstrap_is_all_or_nothing() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        workspace(store, "acme").await;
        // Same owner email again: the user insert fails, so no second workspace may remain.
        let owner = NewUser {
            email: Email::parse("owner@acme.example").unwrap(),
            name: "X".into(),
            role: Role::Owner,
            password_hash: None,
        };
        let token = NewToken { name: "t".into(), hash: "other".into(), prefix: "p".into() };
        let err = store.bootstrap("acme2", owner, token, NOW).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: "email" }), "{}: {err:?}", db.engine());
        assert!(store.token_owner("other").await.unwrap().is_none());
        assert!(
            matches!(store.workspace(parley_core::ids::WorkspaceId(2)).await, Err(StoreError::NotFound)),
            "{}",
            db.engine()
        );
    }
}

#[tokio::test]
async fn users_and_tokens() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let b = workspace(store, "acme").await;
        let ws = b.workspace.id;
        let agent = store
            .create_user(
                ws,
                NewUser {
                    email: Email::parse("Agent@Acme.example").unwrap(),
                    name: "Agent".into(),
                    role: Role::Agent,
                    password_hash: None,
                },
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(agent.email.as_str(), "agent@acme.example");
        let dup = store
            .create_user(
                ws,
                NewUser {
                    email: Email::parse("agent@acme.example").unwrap(),
                    name: "Again".into(),
                    role: Role::Agent,
                    password_hash: None,
                },
                NOW,
            )
            .await
            .unwrap_err();
        assert!(matches!(dup, StoreError::Conflict { field: "email" }), "{}: {dup:?}", db.engine());
        assert_eq!(store.users(ws).await.unwrap().len(), 2);

        let token = store
            .create_token(ws, agent.id, NewToken { name: "ci".into(), hash: "h2".into(), prefix: "pk_2".into() }, NOW)
            .await
            .unwrap();
        assert_eq!(store.token_owner("h2").await.unwrap().unwrap().role, Role::Agent);
        assert_eq!(store.tokens(ws).await.unwrap().len(), 2);
        store.revoke_token(ws, token.id, NOW).await.unwrap();
        assert!(store.token_owner("h2").await.unwrap().is_none(), "revoked token still works on {}", db.engine());
        assert!(matches!(store.revoke_token(ws, TokenId(999), NOW).await, Err(StoreError::NotFound)));

        let (user, hash) = store.user_for_login(&Email::parse("owner@acme.example").unwrap()).await.unwrap().unwrap();
        assert_eq!((user.id, hash.as_deref()), (b.owner.id, Some("hash")));
    }
}

#[tokio::test]
async fn tokens_and_users_never_cross_workspaces() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let a = workspace(store, "a").await;
        let b = workspace(store, "b").await;
        let token = NewToken { name: "x".into(), hash: "hx".into(), prefix: "p".into() };
        assert!(matches!(store.create_token(a.workspace.id, b.owner.id, token, NOW).await, Err(StoreError::NotFound)));
        assert!(matches!(store.user(a.workspace.id, b.owner.id).await, Err(StoreError::NotFound)));
        assert!(matches!(store.revoke_token(a.workspace.id, b.token.id, NOW).await, Err(StoreError::NotFound)));
        assert!(store.token_owner("hash-b").await.unwrap().is_some(), "{}", db.engine());
    }
}

#[tokio::test]
async fn workspace_settings() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let b = workspace(store, "acme").await;
        let patch = WorkspacePatch {
            name: Some("Acme Inc".into()),
            default_region: Some(Some("FR".into())),
            require_opt_in: Some(false),
        };
        let ws = store.update_workspace(b.workspace.id, patch, NOW).await.unwrap();
        assert_eq!(
            (ws.name.as_str(), ws.default_region.as_deref(), ws.require_opt_in),
            ("Acme Inc", Some("FR"), false)
        );
        let ws = store
            .update_workspace(b.workspace.id, WorkspacePatch { default_region: Some(None), ..Default::default() }, NOW)
            .await
            .unwrap();
        assert_eq!((ws.name.as_str(), ws.default_region), ("Acme Inc", None));
    }
}

#[tokio::test]
async fn contact_lifecycle() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let ws = workspace(store, "acme").await.workspace.id;
        let created = store
            .create_contact(ws, contact(json!({"name": "Ana", "phone": "+33 6 12 34 56 78", "email": "Ana@X.com", "fields": {"plan": "gold"}, "tags": ["VIP"]})), NOW)
            .await
            .unwrap();
        assert_eq!(created.phone.as_ref().unwrap().as_str(), "+33612345678");
        assert_eq!(created.tags, vec!["vip"]);

        for by in
            [ContactRef::Id(created.id), phone("0033612345678"), ContactRef::Email(Email::parse("ANA@x.com").unwrap())]
        {
            assert_eq!(store.contact(ws, &by).await.unwrap(), created, "{} {by:?}", db.engine());
        }

        let later = NOW.plus_secs(60);
        let updated = store
            .update_contact(
                ws,
                &ContactRef::Id(created.id),
                &patch(json!({"email": null, "fields": {"plan": null, "seats": 3}, "tags": ["a", "b"]})),
                later,
            )
            .await
            .unwrap();
        assert_eq!(updated.email, None);
        assert_eq!(updated.fields, json!({"seats": 3}).as_object().unwrap().clone());
        assert_eq!(updated.updated_at, later);
        assert_eq!(store.contact(ws, &ContactRef::Id(created.id)).await.unwrap(), updated, "{}", db.engine());

        store.delete_contact(ws, &ContactRef::Id(created.id), later).await.unwrap();
        assert!(matches!(store.contact(ws, &ContactRef::Id(created.id)).await, Err(StoreError::NotFound)));
        assert!(matches!(
            store.delete_contact(ws, &ContactRef::Id(created.id), later).await,
            Err(StoreError::NotFound)
        ));
        // The phone is free again.
        store.create_contact(ws, contact(json!({"phone": "+33612345678"})), later).await.unwrap();
    }
}

#[tokio::test]
async fn identifiers_are_unique_per_workspace() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let a = workspace(store, "a").await.workspace.id;
        let b = workspace(store, "b").await.workspace.id;
        let ana = store
            .create_contact(a, contact(json!({"phone": "0033612345678", "email": "ana@x.com"})), NOW)
            .await
            .unwrap();
        let err = store.create_contact(a, contact(json!({"phone": "+33 6 12 34 56 78"})), NOW).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: "phone" }), "{}: {err:?}", db.engine());
        let err = store.create_contact(a, contact(json!({"email": "ANA@X.COM"})), NOW).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: "email" }), "{}: {err:?}", db.engine());
        // An update cannot take another contact's identifier either.
        let bob = store.create_contact(a, contact(json!({"name": "Bob"})), NOW).await.unwrap();
        let err = store
            .update_contact(a, &ContactRef::Id(bob.id), &patch(json!({"phone": "+33612345678"})), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: "phone" }));
        assert_eq!(store.contact(a, &ContactRef::Id(bob.id)).await.unwrap().phone, None);
        // The other workspace may use the same identifiers, and cannot see workspace a's contact.
        store.create_contact(b, contact(json!({"phone": "+33612345678", "email": "ana@x.com"})), NOW).await.unwrap();
        assert!(matches!(store.contact(b, &ContactRef::Id(ana.id)).await, Err(StoreError::NotFound)));
        assert!(matches!(
            store.update_contact(b, &ContactRef::Id(ana.id), &patch(json!({"name": "x"})), NOW).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(store.delete_contact(b, &ContactRef::Id(ana.id), NOW).await, Err(StoreError::NotFound)));
        assert!(store.contact(a, &ContactRef::Id(ana.id)).await.is_ok());
    }
}

#[tokio::test]
async fn search_filters_and_pages() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let ws = workspace(store, "acme").await.workspace.id;
        let other = workspace(store, "other").await.workspace.id;
        store.create_contact(other, contact(json!({"name": "Nguyễn Văn An"})), NOW).await.unwrap();
        let an = store
            .create_contact(
                ws,
                contact(json!({"name": "Nguyễn Văn An", "phone": "+84 912 345 678", "tags": ["lead"]})),
                NOW,
            )
            .await
            .unwrap();
        let ana = store
            .create_contact(ws, contact(json!({"name": "Ana", "email": "ana@x.com", "tags": ["vip", "lead"]})), NOW)
            .await
            .unwrap();
        for i in 0..5 {
            store.create_contact(ws, contact(json!({"name": format!("Filler {i}")})), NOW).await.unwrap();
        }
        let ids = |q: &str, tag: Option<&str>| {
            let query = ContactQuery { q: Some(q.into()), tag: tag.map(Into::into), limit: 50, before: None };
            async move {
                store.contacts(ws, &query).await.unwrap().items.into_iter().map(|c| c.id).collect::<Vec<ContactId>>()
            }
        };
        assert_eq!(ids("nguyen", None).await, vec![an.id], "{}: accents folded", db.engine());
        assert_eq!(ids("ANA@X", None).await, vec![ana.id]);
        assert_eq!(ids(" Ana@X.com ", None).await, vec![ana.id], "a whole address, any case");
        assert_eq!(ids("bob@x.com", None).await, Vec::<ContactId>::new());
        assert_eq!(ids("912 345", None).await, vec![an.id], "phone digits");
        assert_eq!(ids("", Some("lead")).await, vec![ana.id, an.id]);
        assert_eq!(ids("an", Some("vip")).await, vec![ana.id]);
        assert_eq!(ids("%", None).await, Vec::<ContactId>::new(), "LIKE wildcards are literal");

        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = store.contacts(ws, &ContactQuery { limit: 3, before, ..Default::default() }).await.unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|c| c.id));
            match page.next_cursor {
                Some(c) => before = Some(ContactId(c.parse().unwrap())),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7, "{}: every contact once, none of the other workspace", db.engine());
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    }
}

#[tokio::test]
async fn notes_and_tags_follow_their_contact() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let b = workspace(store, "acme").await;
        let ws = b.workspace.id;
        let c = store.create_contact(ws, contact(json!({"name": "Ana", "tags": ["a"]})), NOW).await.unwrap();
        let by = ContactRef::Id(c.id);
        store.add_note(ws, &by, Some(b.owner.id), "first", NOW).await.unwrap();
        store.add_note(ws, &by, None, "second", NOW.plus_secs(1)).await.unwrap();
        let notes = store.notes(ws, &by).await.unwrap();
        assert_eq!(notes.iter().map(|n| n.body.as_str()).collect::<Vec<_>>(), ["first", "second"]);
        assert_eq!(notes[0].author_id, Some(b.owner.id));
        let other = workspace(store, "other").await.workspace.id;
        assert!(matches!(store.notes(other, &by).await, Err(StoreError::NotFound)));
        assert!(matches!(store.add_note(other, &by, None, "x", NOW).await, Err(StoreError::NotFound)));

        let tagged = ContactPatch { add_tags: vec!["b".into()], remove_tags: vec!["a".into()], ..Default::default() };
        assert_eq!(store.update_contact(ws, &by, &tagged, NOW).await.unwrap().tags, vec!["b"]);
        let query = ContactQuery { tag: Some("a".into()), limit: 10, ..Default::default() };
        assert!(
            store.contacts(ws, &query).await.unwrap().items.is_empty(),
            "{}: removed tag still matches",
            db.engine()
        );

        store.delete_contact(ws, &by, NOW).await.unwrap();
        let query = ContactQuery { tag: Some("b".into()), limit: 10, ..Default::default() };
        assert!(store.contacts(ws, &query).await.unwrap().items.is_empty());
    }
}

#[tokio::test]
async fn changes_append_ordered_events() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let b = workspace(store, "acme").await;
        let ws = b.workspace.id;
        let c = store.create_contact(ws, contact(json!({"name": "Ana"})), NOW).await.unwrap();
        let by = ContactRef::Id(c.id);
        store.update_contact(ws, &by, &patch(json!({"name": "Ana Maria"})), NOW).await.unwrap();
        store.add_note(ws, &by, Some(UserId(b.owner.id.get())), "hello", NOW).await.unwrap();
        store.delete_contact(ws, &by, NOW).await.unwrap();
        // A refused change appends nothing.
        store.update_contact(ws, &by, &patch(json!({"name": "x"})), NOW).await.unwrap_err();

        let events = store.events(ws, Viewer::All, EventId(0), None, 100).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["contact.created", "contact.updated", "contact.note_added", "contact.deleted"],
            "{}",
            db.engine()
        );
        assert!(events.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(events[1].payload["name"], "Ana Maria");
        let after = store.events(ws, Viewer::All, events[1].id, None, 100).await.unwrap();
        assert_eq!(after.len(), 2);
        let other = workspace(store, "other").await.workspace.id;
        assert!(store.events(other, Viewer::All, EventId(0), None, 100).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_ping_works() {
    for db in TestDatabase::all().await {
        db.store.migrate().await.unwrap();
        db.store.ping().await.unwrap();
    }
}

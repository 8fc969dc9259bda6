//! Contacts at scale on both engines: import modes and identifiers, dry runs, batch guards,
//! re-cleaning dirty data, every duplicate reason, and merges that move every related row or
//! nothing at all.

use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::account::Role;
use parley_core::channel::{Channel, Provider, Visibility};
use parley_core::contact::{ContactInput, ContactPatch, ContactRef, NewContact};
use parley_core::contacts_csv::{Identifier, ImportMode, ImportOptions, ImportRow, RowProblem};
use parley_core::dedupe::DuplicateReason;
use parley_core::ids::{ContactId, WorkspaceId};
use parley_core::message::{Content, InboundEvent, InboundMessage, Sender};
use parley_core::outbound::OutboundMessage;
use parley_core::rules::judge;
use parley_core::whatsapp::WaId;
use parley_core::{E164, Email};
use parley_store::testing::TestDatabase;
use parley_store::{
    BatchCounts, DatabaseUrl, Import, ImportBatch, MergeRequest, NewChannel, NewImport, NewOptIn, NewToken, NewUser,
    RoutedEvent, SendOutcome, SendRequest, Store, StoreError, Viewer,
};
use serde_json::{Value, json};
use sqlx::Connection;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

async fn workspace(store: &dyn Store, name: &str) -> WorkspaceId {
    let owner = NewUser {
        email: Email::parse(&format!("o@{name}.example")).unwrap(),
        name: "O".into(),
        role: Role::Owner,
        password_hash: None,
    };
    let token = NewToken { name: "t".into(), hash: format!("h-{name}"), prefix: "p".into() };
    store.bootstrap(name, owner, token, NOW).await.unwrap().workspace.id
}

async fn channel(store: &dyn Store, ws: WorkspaceId) -> Channel {
    let new = NewChannel {
        provider: Provider::Meta,
        name: "Main".into(),
        phone_number_id: format!("PN{}", ws.get()),
        waba_id: "WABA".into(),
        display_phone_number: "15550001111".into(),
        graph_base_url: "http://127.0.0.1:1".into(),
        sealed_secrets: "sealed".into(),
        webhook_key: format!("key{}", ws.get()),
        visibility: Visibility::Shared,
        throughput: 80,
    };
    store.create_channel(ws, new, NOW).await.unwrap()
}

/// A customer writes `text` from `wa`.
async fn inbound(store: &dyn Store, channel: &Channel, wa: &str, id: &str) {
    let event = InboundEvent::Message(Box::new(InboundMessage {
        provider_message_id: id.into(),
        from: Sender::of(WaId::parse(wa).unwrap()),
        sent_at: NOW.plus_secs(-60),
        content: Content::Text { body: "hi".into(), preview_url: None },
        context: None,
        referral: None,
        errors: vec![],
        raw: json!({}),
    }));
    store.apply_inbound(&[RoutedEvent { channel, event: &event }], NOW).await.unwrap();
}

async fn contact(store: &dyn Store, ws: WorkspaceId, body: Value) -> parley_core::contact::Contact {
    let input: ContactInput = serde_json::from_value(body).unwrap();
    store.create_contact(ws, NewContact::from_input(input, None).unwrap(), NOW).await.unwrap()
}

fn row(line: u64, name: Option<&str>, phone: Option<&str>, email: Option<&str>, fields: Value) -> ImportRow {
    ImportRow {
        line,
        id: None,
        name: name.map(str::to_owned),
        phone: phone.map(|p| E164::parse(p).unwrap()),
        email: email.map(|e| Email::parse(e).unwrap()),
        fields: fields.as_object().cloned().unwrap_or_default(),
        tags: vec![],
    }
}

async fn new_import(
    store: &dyn Store,
    ws: WorkspaceId,
    mode: ImportMode,
    identifier: Identifier,
    overwrite: bool,
    dry_run: bool,
) -> Import {
    let options = ImportOptions { mode, identifier, overwrite, ..ImportOptions::default() };
    let new = NewImport {
        filename: "c.csv".into(),
        path: "/nowhere/c.csv".into(),
        options,
        dry_run,
        bytes_total: 100,
        created_by: None,
        held_until: Some(NOW.plus_secs(60)),
    };
    store.create_import(ws, new, NOW).await.unwrap()
}

/// Applies one batch and moves the caller's copy of the import on.
async fn apply(store: &dyn Store, import: &mut Import, rows: &[ImportRow], problems: &[RowProblem]) -> BatchCounts {
    let rows_done = import.rows_done + (rows.len() + problems.len()) as i64;
    let batch = ImportBatch { import, rows, problems, rows_done, bytes_done: 10, dry_run_keys: None, suggest: true };
    let counts = store.import_batch(batch, NOW.plus_secs(60), NOW).await.unwrap();
    import.rows_done = rows_done;
    counts
}

fn counts(created: i64, updated: i64, unchanged: i64, skipped: i64, rejected: i64) -> BatchCounts {
    BatchCounts { created, updated, unchanged, skipped, rejected }
}

/// Raw SQL on the test database, beside the store (dirty data, row counts).
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Raw {
    async fn open(db: &TestDatabase) -> Raw {
        match &db.url {
            DatabaseUrl::Sqlite(path) => {
                Raw::Sqlite(sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap())
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let schema = db.schema.clone().unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Raw::Postgres(conn)
            }
        }
    }

    async fn exec(&mut self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(c) => drop(sqlx::query(sql).execute(c).await.unwrap()),
            Raw::Postgres(c) => drop(sqlx::query(sql).execute(c).await.unwrap()),
        }
    }

    async fn count(&mut self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            Raw::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        }
    }
}

#[tokio::test]
async fn every_import_mode_and_identifier() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let e = db.engine();
        let ws = workspace(store, "acme").await;
        let ana = contact(
            store,
            ws,
            json!({"name": "Ana", "phone": "+33612345678", "email": "ana@x.com", "fields": {"plan": "silver"}}),
        )
        .await;

        // Add: an existing phone is skipped, a new one is added.
        let mut add = new_import(store, ws, ImportMode::Add, Identifier::Phone, true, false).await;
        let got = apply(
            store,
            &mut add,
            &[
                row(2, Some("Ana 2"), Some("+33612345678"), None, json!({})),
                row(3, Some("Bob"), Some("+33611111111"), None, json!({})),
            ],
            &[],
        )
        .await;
        assert_eq!(got, counts(1, 0, 0, 1, 0), "{e}");
        assert_eq!(store.contact(ws, &ContactRef::Id(ana.id)).await.unwrap().name.as_deref(), Some("Ana"));

        // Update by email: the match changes, an unknown email is skipped.
        let mut update = new_import(store, ws, ImportMode::Update, Identifier::Email, true, false).await;
        let got = apply(
            store,
            &mut update,
            &[
                row(2, Some("Ana Souza"), None, Some("ANA@x.com"), json!({})),
                row(3, Some("Zed"), None, Some("zed@x.com"), json!({})),
            ],
            &[],
        )
        .await;
        assert_eq!(got, counts(0, 1, 0, 1, 0), "{e}");
        assert_eq!(store.contact(ws, &ContactRef::Id(ana.id)).await.unwrap().name.as_deref(), Some("Ana Souza"));

        // Upsert without overwriting: gaps are filled, values kept; a repeat in the file is
        // unchanged; a new phone is added.
        let mut upsert = new_import(store, ws, ImportMode::Upsert, Identifier::Phone, false, false).await;
        let got = apply(
            store,
            &mut upsert,
            &[
                row(2, Some("Not Ana"), Some("+33612345678"), None, json!({"plan": "gold", "city": "Lyon"})),
                row(3, Some("Not Ana"), Some("+33612345678"), None, json!({"city": "Lyon"})),
                row(4, Some("Cy"), Some("+33622222222"), None, json!({})),
            ],
            &[],
        )
        .await;
        assert_eq!(got, counts(1, 1, 1, 0, 0), "{e}");
        let now_ana = store.contact(ws, &ContactRef::Id(ana.id)).await.unwrap();
        assert_eq!(now_ana.name.as_deref(), Some("Ana Souza"));
        assert_eq!(Value::Object(now_ana.fields.clone()), json!({"plan": "silver", "city": "Lyon"}));

        // By id, following the row's id.
        let mut by_id = new_import(store, ws, ImportMode::Update, Identifier::Id, true, false).await;
        let mut r = row(2, Some("Ana by id"), None, None, json!({}));
        r.id = Some(ana.id);
        let mut unknown = row(3, Some("Ghost"), None, None, json!({}));
        unknown.id = Some(ContactId(999_999));
        assert_eq!(apply(store, &mut by_id, &[r, unknown], &[]).await, counts(0, 1, 0, 1, 0), "{e}");
        assert_eq!(store.contact(ws, &ContactRef::Id(ana.id)).await.unwrap().name.as_deref(), Some("Ana by id"));

        // Add all: a duplicate on purpose, suggested for merging; a row with nothing to make a
        // contact of is refused with its line.
        let mut all = new_import(store, ws, ImportMode::AddAll, Identifier::Phone, true, false).await;
        let problem = RowProblem::row(5, "invalid_phone", "bad");
        let got = apply(
            store,
            &mut all,
            &[
                row(2, Some("Ana again"), Some("+33612345678"), None, json!({})),
                row(4, None, None, None, json!({"a": "b"})),
            ],
            &[problem],
        )
        .await;
        assert_eq!(got, counts(1, 0, 0, 0, 2), "{e}");
        let rejects = store.import_rejects(ws, all.id, 0, 100).await.unwrap();
        assert_eq!(
            rejects.iter().map(|p| (p.line, p.code.as_str())).collect::<Vec<_>>(),
            [(4, "no_identity"), (5, "invalid_phone")]
        );

        let suggestions = store.merge_suggestions(ws, None, 0, 50).await.unwrap().items;
        assert!(
            suggestions.iter().any(|s| s.contact_a.id == ana.id && s.reason == DuplicateReason::SamePhone),
            "{e}: {suggestions:?}"
        );
        let done = store.finish_import(ws, all.id, None, NOW).await.unwrap();
        assert_eq!((done.created, done.rejected, done.rows_done), (1, 2, 3));
    }
}

#[tokio::test]
async fn a_dry_run_reports_everything_and_writes_no_contact() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let ws = workspace(store, "acme").await;
        contact(store, ws, json!({"name": "Ana", "phone": "+33612345678"})).await;
        let mut raw = Raw::open(&db).await;
        let (contacts, events) =
            (raw.count("SELECT COUNT(*) FROM contacts").await, raw.count("SELECT COUNT(*) FROM events").await);
        let mut import = new_import(store, ws, ImportMode::Upsert, Identifier::Phone, true, true).await;
        let events_after_create = raw.count("SELECT COUNT(*) FROM events").await;
        let mut keys = HashSet::new();
        let rows = [
            row(2, Some("Ana S"), Some("+33612345678"), None, json!({})),
            row(3, Some("Bob"), Some("+33611111111"), None, json!({})),
        ];
        let batch = ImportBatch {
            import: &import,
            rows: &rows,
            problems: &[],
            rows_done: 2,
            bytes_done: 5,
            dry_run_keys: Some(&mut keys),
            suggest: true,
        };
        assert_eq!(store.import_batch(batch, NOW, NOW).await.unwrap(), counts(1, 1, 0, 0, 0));
        import.rows_done = 2;
        // A later batch sees the contact an earlier one would have created.
        let rows = [row(4, Some("Bob B"), Some("+33611111111"), None, json!({}))];
        let batch = ImportBatch {
            import: &import,
            rows: &rows,
            problems: &[],
            rows_done: 3,
            bytes_done: 9,
            dry_run_keys: Some(&mut keys),
            suggest: true,
        };
        assert_eq!(store.import_batch(batch, NOW, NOW).await.unwrap(), counts(0, 1, 0, 0, 0));
        assert_eq!(raw.count("SELECT COUNT(*) FROM contacts").await, contacts, "{}", db.engine());
        assert_eq!(events_after_create, events + 1, "only the import's own record");
        assert_eq!(raw.count("SELECT COUNT(*) FROM events").await, events_after_create);
        assert_eq!(
            store.contact(ws, &ContactRef::Phone(E164::parse("+33612345678").unwrap())).await.unwrap().name.as_deref(),
            Some("Ana")
        );
        let report = store.import(ws, import.id).await.unwrap();
        assert_eq!((report.created, report.updated, report.rows_done, report.bytes_done), (1, 2, 3, 9));
    }
}

#[tokio::test]
async fn a_batch_applies_once_even_when_two_workers_hold_the_import() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let ws = workspace(store, "acme").await;
        let import = new_import(store, ws, ImportMode::Upsert, Identifier::Phone, true, false).await;
        let rows = [row(2, Some("Bob"), Some("+33611111111"), None, json!({}))];
        let first = ImportBatch {
            import: &import,
            rows: &rows,
            problems: &[],
            rows_done: 1,
            bytes_done: 5,
            dry_run_keys: None,
            suggest: true,
        };
        store.import_batch(first, NOW, NOW).await.unwrap();
        // A second worker with the same view of the import (it took over after a lease ran out)
        // cannot apply the same rows again.
        let again = ImportBatch {
            import: &import,
            rows: &rows,
            problems: &[],
            rows_done: 1,
            bytes_done: 5,
            dry_run_keys: None,
            suggest: true,
        };
        match store.import_batch(again, NOW, NOW).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.code, "import_taken_over"),
            other => panic!("{}: {other:?}", db.engine()),
        }
        let mut raw = Raw::open(&db).await;
        assert_eq!(raw.count("SELECT COUNT(*) FROM contacts").await, 1);
        assert_eq!(store.import(ws, import.id).await.unwrap().created, 1);
    }
}

/// Refused rows are read a page at a time (the API and the CLI stream them): by line, and a
/// page never ends inside a line's problems.
#[tokio::test]
async fn rejects_come_in_pages_that_keep_each_line_whole() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let e = db.engine();
        let ws = workspace(store, "acme").await;
        let mut import = new_import(store, ws, ImportMode::AddAll, Identifier::Phone, true, false).await;
        let problems: Vec<RowProblem> = [(7, "a"), (2, "b"), (2, "c"), (3, "d"), (2, "e"), (7, "f")]
            .into_iter()
            .map(|(line, code)| RowProblem::row(line, code, "bad"))
            .collect();
        apply(store, &mut import, &[], &problems).await;
        let lines = |page: &[RowProblem]| page.iter().map(|p| p.line).collect::<Vec<_>>();
        let page = store.import_rejects(ws, import.id, 0, 2).await.unwrap();
        assert_eq!(lines(&page), [2, 2, 2], "{e}");
        let page = store.import_rejects(ws, import.id, 2, 2).await.unwrap();
        assert_eq!(lines(&page), [3, 7, 7], "{e}");
        assert!(store.import_rejects(ws, import.id, 7, 2).await.unwrap().is_empty(), "{e}");
        let mut codes: Vec<_> =
            store.import_rejects(ws, import.id, 0, 100).await.unwrap().into_iter().map(|p| p.code).collect();
        codes.sort();
        assert_eq!(codes, ["a", "b", "c", "d", "e", "f"], "{e}");
        // Another workspace's import is not found.
        let other = workspace(store, "other").await;
        assert!(matches!(store.import_rejects(other, import.id, 0, 10).await, Err(StoreError::NotFound)), "{e}");
    }
}

#[tokio::test]
async fn re_cleaning_fixes_what_it_can_and_keeps_the_rest_aside() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let e = db.engine();
        let ws = workspace(store, "acme").await;
        let clean = contact(store, ws, json!({"name": "Clean", "phone": "+33612345678"})).await;
        let mut raw = Raw::open(&db).await;
        let w = ws.get();
        for (name, phone, email) in [
            ("Spaces", "'+55 11 91234-5678'", "'Ana@X.COM'"),
            ("Zeros", "'0033 6 12 34 56 78'", "NULL"),
            ("Junk", "'call me'", "'not-an-email'"),
        ] {
            raw.exec(&format!(
                "INSERT INTO contacts (workspace_id, name, phone, email, created_at, updated_at) VALUES ({w}, '{name}', {phone}, {email}, 0, 0)"
            ))
            .await;
        }
        let dry = store.normalize_contacts(ws, None, true, NOW).await.unwrap();
        assert_eq!((dry.contacts_seen, dry.cleaned, dry.invalid), (4, 3, 2), "{e}: {dry:?}");
        assert_eq!(
            raw.count("SELECT COUNT(*) FROM contacts WHERE phone = '+5511912345678'").await,
            0,
            "a dry run changes nothing"
        );

        let report = store.normalize_contacts(ws, None, false, NOW).await.unwrap();
        assert_eq!(report.changes, dry.changes);
        assert!(report.changes.iter().any(|c| c.before == "call me" && c.after.is_none()));
        assert_eq!(
            raw.count("SELECT COUNT(*) FROM contacts WHERE phone = '+5511912345678' AND email = 'ana@x.com'").await,
            1
        );
        let junk = store
            .contacts(ws, &parley_store::ContactQuery { q: Some("Junk".into()), tag: None, limit: 10, before: None })
            .await
            .unwrap()
            .items;
        assert_eq!((junk[0].phone.as_ref(), junk[0].invalid_phone.as_deref()), (None, Some("call me")), "{e}");
        assert_eq!(junk[0].invalid_email.as_deref(), Some("not-an-email"));
        // "Zeros" turned out to be Clean's number: now a suggested duplicate.
        let s = store.merge_suggestions(ws, None, 0, 50).await.unwrap().items;
        assert_eq!(s.len(), 1, "{e}: {s:?}");
        assert_eq!((s[0].contact_a.id, s[0].reason), (clean.id, DuplicateReason::SamePhone));
        // Nothing left to clean.
        let again = store.normalize_contacts(ws, None, false, NOW).await.unwrap();
        assert_eq!((again.cleaned, again.invalid), (0, 0));
    }
}

/// Re-cleaning goes a page at a time: a dry run only reads (it finishes while another writer
/// holds the database), a real run's report counts every change but lists the first thousand.
#[tokio::test]
async fn re_cleaning_many_contacts_reads_for_a_dry_run_and_writes_in_pages() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let e = db.engine();
        let ws = workspace(store, "acme").await;
        let mut raw = Raw::open(&db).await;
        let w = ws.get();
        let count = 1_234;
        let rows: Vec<String> = (0..count)
            .map(|i| format!("({w}, 'C{i}', '+33 6 12 {:02} {:02} {:02}', 0, 0)", i / 10_000, (i / 100) % 100, i % 100))
            .collect();
        raw.exec(&format!(
            "INSERT INTO contacts (workspace_id, name, phone, created_at, updated_at) VALUES {}",
            rows.join(", ")
        ))
        .await;

        // Another writer holds the database (SQLite: the write lock; PostgreSQL: every write to
        // contacts): the dry run still answers.
        let mut writer = Raw::open(&db).await;
        match &writer {
            Raw::Sqlite(_) => writer.exec("BEGIN IMMEDIATE").await,
            Raw::Postgres(_) => {
                writer.exec("BEGIN").await;
                writer.exec("LOCK TABLE contacts IN EXCLUSIVE MODE").await;
            }
        }
        let dry =
            tokio::time::timeout(std::time::Duration::from_secs(30), store.normalize_contacts(ws, None, true, NOW))
                .await
                .unwrap_or_else(|_| panic!("{e}: a dry run waited for the writer"))
                .unwrap();
        writer.exec("ROLLBACK").await;
        assert_eq!((dry.contacts_seen, dry.cleaned, dry.invalid), (count as u64, count as u64, 0), "{e}");
        assert_eq!((dry.changes.len(), dry.changes_truncated), (1000, true), "{e}");

        let report = store.normalize_contacts(ws, None, false, NOW).await.unwrap();
        assert_eq!((report.contacts_seen, report.cleaned), (count as u64, count as u64), "{e}");
        assert_eq!(report.changes, dry.changes, "{e}");
        assert_eq!(raw.count("SELECT COUNT(*) FROM contacts WHERE phone LIKE '+336120%'").await, count, "{e}");
        assert_eq!(raw.count("SELECT COUNT(*) FROM events WHERE kind = 'contacts.normalized'").await, 1, "{e}");
    }
}

#[tokio::test]
async fn each_duplicate_reason_is_suggested_and_dismissals_stick() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let e = db.engine();
        let ws = workspace(store, "acme").await;
        let ch = channel(store, ws).await;
        let mut raw = Raw::open(&db).await;
        // Same WhatsApp id: a customer who wrote (known by WhatsApp id) lost their phone on file;
        // the number added later to another contact is theirs.
        inbound(store, &ch, "33612345678", "wamid.1").await;
        let writer = store.contact(ws, &ContactRef::Phone(E164::parse("+33612345678").unwrap())).await.unwrap();
        store
            .update_contact(
                ws,
                &ContactRef::Id(writer.id),
                &ContactPatch { phone: Some(None), name: Some(Some("W".into())), ..Default::default() },
                NOW,
            )
            .await
            .unwrap();
        let typed = contact(store, ws, json!({"name": "Typed", "phone": "+33612345678"})).await;
        // Argentina with and without the mobile 9.
        let ar1 = contact(store, ws, json!({"name": "Ar", "phone": "+5491123456789"})).await;
        let ar2 = contact(store, ws, json!({"name": "Ar2", "phone": "+541123456789"})).await;
        // Same email in another case (entered by raw SQL), found by the full run.
        let mail = contact(store, ws, json!({"name": "Mail", "email": "bo@x.com"})).await;
        raw.exec(&format!("INSERT INTO contacts (workspace_id, name, email, created_at, updated_at) VALUES ({}, 'Mail2', 'BO@X.com', 0, 0)", ws.get())).await;
        // Same phone: an import that adds everything.
        let mut all = new_import(store, ws, ImportMode::AddAll, Identifier::Phone, true, false).await;
        apply(store, &mut all, &[row(2, Some("Ar again"), Some("+5491123456789"), None, json!({}))], &[]).await;

        assert_eq!(
            store.dedupe_all(ws, NOW).await.unwrap(),
            1,
            "{e}: the email pair is the only one not yet suggested"
        );
        let s = store.merge_suggestions(ws, None, 0, 50).await.unwrap().items;
        let got: HashSet<(i64, DuplicateReason)> = s.iter().map(|s| (s.contact_a.id.get(), s.reason)).collect();
        let want: HashSet<(i64, DuplicateReason)> = [
            (writer.id.get(), DuplicateReason::SameWhatsappId),
            (ar1.id.get(), DuplicateReason::PhoneVariant),
            (ar1.id.get(), DuplicateReason::SamePhone),
            (mail.id.get(), DuplicateReason::SameEmail),
        ]
        .into();
        assert_eq!(got, want, "{e}: {s:?}");
        assert!(s.iter().any(|x| x.contact_b.id == typed.id && x.matched == "+33612345678"));
        assert!(s.iter().any(|x| x.contact_b.id == ar2.id));

        let variant = s.iter().find(|x| x.reason == DuplicateReason::PhoneVariant).unwrap();
        store.dismiss_suggestion(ws, variant.id, None, NOW).await.unwrap();
        assert!(matches!(store.dismiss_suggestion(ws, variant.id, None, NOW).await, Err(StoreError::NotFound)));
        assert_eq!(store.dedupe_all(ws, NOW).await.unwrap(), 0, "a dismissed pair is not suggested again");
        assert_eq!(store.merge_suggestions(ws, None, 0, 50).await.unwrap().items.len(), 3);
        let other = workspace(store, "other").await;
        assert!(matches!(store.dismiss_suggestion(other, s[0].id, None, NOW).await, Err(StoreError::NotFound)));
    }
}

const RELATED: [&str; 7] = [
    "SELECT COUNT(*) FROM contact_identities",
    "SELECT COUNT(*) FROM contact_notes",
    "SELECT COUNT(*) FROM opt_ins",
    "SELECT COUNT(*) FROM messages",
    "SELECT COUNT(*) FROM outbox",
    "SELECT COUNT(*) FROM contact_tags",
    "SELECT COUNT(*) FROM conversations",
];

async fn snapshot(raw: &mut Raw) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in RELATED {
        out.push(raw.count(sql).await);
    }
    out.push(raw.count("SELECT COUNT(*) FROM contacts").await);
    out
}

/// Two contacts of one person, each with identities, a conversation on the same channel with
/// messages, notes, tags, fields and an opt-in.
async fn two_of_one_person(store: &dyn Store, ws: WorkspaceId, ch: &Channel) -> (ContactId, ContactId) {
    inbound(store, ch, "33612345678", "wamid.a1").await;
    inbound(store, ch, "33612345678", "wamid.a2").await;
    inbound(store, ch, "33699999999", "wamid.b1").await;
    let a = store.contact(ws, &ContactRef::Phone(E164::parse("+33612345678").unwrap())).await.unwrap().id;
    let b = store.contact(ws, &ContactRef::Phone(E164::parse("+33699999999").unwrap())).await.unwrap().id;
    for (id, tags, fields, note) in [
        (a, vec!["vip"], json!({"plan": "gold"}), "from A"),
        (b, vec!["lead", "vip"], json!({"plan": "silver", "city": "Lyon"}), "from B"),
    ] {
        let patch = ContactPatch {
            tags: Some(tags.into_iter().map(str::to_owned).collect()),
            fields: fields.as_object().unwrap().iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            ..Default::default()
        };
        store.update_contact(ws, &ContactRef::Id(id), &patch, NOW).await.unwrap();
        store.add_note(ws, &ContactRef::Id(id), None, note, NOW).await.unwrap();
    }
    let opt_in =
        NewOptIn { channel_id: None, source: "web".into(), evidence: None, opted_in_at: NOW, recorded_by: None };
    store.record_opt_in(ws, &ContactRef::Id(b), opt_in, NOW).await.unwrap();
    // A reply to B waiting in the outbox: the merge must keep the job and its message.
    let reply = [OutboundMessage { content: Content::Text { body: "to B".into(), preview_url: None }, reply_to: None }];
    let to = ContactRef::Id(b);
    let request = SendRequest {
        ws,
        viewer: Viewer::All,
        channel: ch.id,
        to: &to,
        messages: &reply,
        idempotency_key: None,
        author: None,
        dry_run: false,
        personalize: None,
    };
    let queued = store.queue_send(request, &|facts, m| judge(facts, m, NOW), NOW).await.unwrap();
    assert!(matches!(queued, SendOutcome::Queued(_)), "{queued:?}");
    (a, b)
}

#[tokio::test]
async fn a_merge_moves_every_related_row() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let e = db.engine();
        let ws = workspace(store, "acme").await;
        let ch = channel(store, ws).await;
        let (a, b) = two_of_one_person(store, ws, &ch).await;
        let mut raw = Raw::open(&db).await;
        let before = snapshot(&mut raw).await;
        let of_b = |table: &str| format!("SELECT COUNT(*) FROM {table} WHERE contact_id = {}", b.get());
        assert_eq!(raw.count(&of_b("contact_notes")).await, 1);
        assert_eq!(before[4], 1, "{}: the fixture has an outbox job to keep", db.engine());

        let overrides = ContactPatch { name: Some(Some("Ana Merged".into())), ..Default::default() };
        let request = MergeRequest { primary: ContactRef::Id(a), secondary: ContactRef::Id(b), overrides, by: None };
        let merged = store.merge_contacts(ws, request, NOW).await.unwrap();
        let after = snapshot(&mut raw).await;
        // Identities, notes, opt-ins, messages and outbox jobs all kept; tags are a union (vip
        // once); the two conversations on one channel became one; one contact less.
        assert_eq!(after[..5], before[..5], "{e}");
        assert_eq!((after[5], after[6], after[7]), (before[5] - 1, before[6] - 1, before[7] - 1), "{e}");
        for table in ["contact_identities", "contact_notes", "opt_ins", "conversations", "contact_tags"] {
            assert_eq!(raw.count(&of_b(table)).await, 0, "{e}: {table} left on the secondary");
        }
        assert_eq!(raw.count(&format!("SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = {}", a.get())).await, 4);
        let job_on_a = format!(
            "SELECT COUNT(*) FROM outbox o JOIN messages m ON m.id = o.message_id JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = {}",
            a.get()
        );
        assert_eq!(raw.count(&job_on_a).await, 1, "{e}: the outbox job follows its message");
        let c = &merged.contact;
        assert_eq!(c.name.as_deref(), Some("Ana Merged"));
        assert_eq!(c.tags, vec!["lead", "vip"]);
        assert_eq!(
            Value::Object(c.fields.clone()),
            json!({"plan": "gold", "city": "Lyon"}),
            "the primary's values win"
        );
        assert_eq!(c.phone.as_ref().unwrap().as_str(), "+33612345678");
        // The secondary's id resolves to the primary; the history tells what happened.
        assert_eq!(store.contact(ws, &ContactRef::Id(b)).await.unwrap().id, a);
        let history = store.contact_history(ws, &ContactRef::Id(b)).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].secondary["phone"], "+33699999999");
        assert_eq!(
            (history[0].moved["notes"].as_i64(), history[0].moved["conversations_folded"].as_i64()),
            (Some(1), Some(1))
        );
        assert_eq!(history[0].moved["identities"], 1);
        // Merging it again is merging a contact into itself.
        let again = MergeRequest {
            primary: ContactRef::Id(a),
            secondary: ContactRef::Id(b),
            overrides: ContactPatch::default(),
            by: None,
        };
        assert!(
            matches!(store.merge_contacts(ws, again, NOW).await, Err(StoreError::Invalid(i)) if i.code == "same_contact")
        );
        // Deleting the contact deletes its conversations and their messages (PostgreSQL through
        // a trigger, having no foreign key there): nothing is left pointing nowhere.
        let messages = raw.count("SELECT COUNT(*) FROM messages").await;
        store.delete_contact(ws, &ContactRef::Id(a), NOW).await.unwrap();
        assert_eq!(
            raw.count("SELECT COUNT(*) FROM messages").await,
            messages - 4,
            "{e}: its three messages in and the reply"
        );
        let orphans = "SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = m.conversation_id)";
        assert_eq!(raw.count(orphans).await, 0, "{e}");
    }
}

#[tokio::test]
async fn a_failed_merge_leaves_both_contacts_untouched() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let ws = workspace(store, "acme").await;
        let ch = channel(store, ws).await;
        let (a, b) = two_of_one_person(store, ws, &ch).await;
        // Together they would have more custom fields than allowed: found only once the rows
        // have moved, so everything before must roll back.
        for (id, prefix) in [(a, "a"), (b, "b")] {
            let fields = (0..60).map(|i| (format!("{prefix}{i}"), Some(json!(i)))).collect();
            store
                .update_contact(ws, &ContactRef::Id(id), &ContactPatch { fields, ..Default::default() }, NOW)
                .await
                .unwrap();
        }
        let mut raw = Raw::open(&db).await;
        let before = snapshot(&mut raw).await;
        let (ca, cb) = (
            store.contact(ws, &ContactRef::Id(a)).await.unwrap(),
            store.contact(ws, &ContactRef::Id(b)).await.unwrap(),
        );
        let request = MergeRequest {
            primary: ContactRef::Id(a),
            secondary: ContactRef::Id(b),
            overrides: ContactPatch::default(),
            by: None,
        };
        match store.merge_contacts(ws, request, NOW).await {
            Err(StoreError::Invalid(i)) => assert_eq!(i.code, "too_many_fields"),
            other => panic!("{other:?}"),
        }
        assert_eq!(snapshot(&mut raw).await, before, "{}", db.engine());
        assert_eq!(store.contact(ws, &ContactRef::Id(a)).await.unwrap(), ca);
        assert_eq!(store.contact(ws, &ContactRef::Id(b)).await.unwrap(), cb);
        assert!(store.contact_history(ws, &ContactRef::Id(a)).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn merges_stay_inside_a_workspace() {
    for db in TestDatabase::all().await {
        let store = &*db.store;
        let ws = workspace(store, "acme").await;
        let other = workspace(store, "other").await;
        let mine = contact(store, ws, json!({"name": "Mine", "phone": "+33612345678"})).await;
        let theirs = contact(store, other, json!({"name": "Theirs", "phone": "+33612345678"})).await;
        let mut raw = Raw::open(&db).await;
        let before = snapshot(&mut raw).await;
        let request = MergeRequest {
            primary: ContactRef::Id(mine.id),
            secondary: ContactRef::Id(theirs.id),
            overrides: ContactPatch::default(),
            by: None,
        };
        assert!(matches!(store.merge_contacts(ws, request, NOW).await, Err(StoreError::NotFound)));
        assert_eq!(snapshot(&mut raw).await, before);
        assert_eq!(store.contact(other, &ContactRef::Id(theirs.id)).await.unwrap(), theirs);
        // Same phone in two workspaces is not a duplicate.
        assert!(store.merge_suggestions(ws, None, 0, 50).await.unwrap().items.is_empty());
        assert_eq!(store.dedupe_all(ws, NOW).await.unwrap(), 0);
    }
}

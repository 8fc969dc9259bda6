//! The contacts API end to end.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn create_get_update_delete() {
    for app in TestApp::all().await {
        let e = app.engine();
        let created = app
            .post("/api/v1/contacts", json!({"name": "Ana", "phone": "+33 6 12 34 56 78", "email": "Ana@X.com", "fields": {"plan": "gold"}, "tags": ["VIP"]}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}: {:?}", created.body);
        let c = &created.body;
        assert_eq!((c["phone"].as_str(), c["email"].as_str()), (Some("+33612345678"), Some("ana@x.com")));
        assert_eq!(c["tags"], json!(["vip"]));
        assert_eq!(c["fields"], json!({"plan": "gold"}));
        for key in ["id", "name", "created_at", "updated_at"] {
            assert!(!c[key].is_null(), "{e}: missing {key}");
        }
        let id = c["id"].as_i64().unwrap();

        let got = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!((got.status, &got.body), (StatusCode::OK, c));

        app.clock.advance_secs(60);
        let updated = app
            .patch(
                &format!("/api/v1/contacts/{id}"),
                json!({"name": "Ana Maria", "email": null, "fields": {"seats": 3}}),
            )
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{e}: {:?}", updated.body);
        assert_eq!(updated.body["name"], "Ana Maria");
        assert_eq!(updated.body["email"], json!(null));
        assert_eq!(updated.body["fields"], json!({"plan": "gold", "seats": 3}));
        assert_ne!(updated.body["updated_at"], c["updated_at"]);
        assert_eq!(updated.body["created_at"], c["created_at"]);

        let deleted = app.delete(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        let gone = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!((gone.status, gone.code()), (StatusCode::NOT_FOUND, "not_found"));
    }
}

#[tokio::test]
async fn lookup_by_phone_and_email_in_other_formats() {
    for app in TestApp::all().await {
        let created = app.post("/api/v1/contacts", json!({"phone": "+33 6 12 34 56 78", "email": "ana@x.com"})).await;
        let id = &created.body["id"];
        for r in [
            "phone:0033612345678",
            "phone:33612345678",
            "phone:+33%206%2012%2034%2056%2078",
            "phone:+33(6)12-34-56-78",
            "email:ANA@X.COM",
            "email:%20Ana@x.com",
        ] {
            let got = app.get(&format!("/api/v1/contacts/{r}")).await;
            assert_eq!(got.status, StatusCode::OK, "{}: {r}: {:?}", app.engine(), got.body);
            assert_eq!(&got.body["id"], id, "{r}");
        }
        let missing = app.get("/api/v1/contacts/phone:+84912345678").await;
        assert_eq!(missing.code(), "not_found");
        let bad = app.get("/api/v1/contacts/phone:12").await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone"));
        let bad = app.get("/api/v1/contacts/ana").await;
        assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_request"));
        // PATCH and notes accept the same references.
        let renamed = app.patch("/api/v1/contacts/phone:0033612345678", json!({"name": "Ana"})).await;
        assert_eq!(renamed.body["name"], "Ana");
    }
}

#[tokio::test]
async fn duplicate_identifiers_are_409_not_duplicates() {
    for app in TestApp::all().await {
        app.post("/api/v1/contacts", json!({"phone": "0033612345678", "email": "ana@x.com"})).await;
        let dup = app.post("/api/v1/contacts", json!({"phone": "+33 6 12 34 56 78"})).await;
        assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "identifier_taken"), "{}", app.engine());
        assert_eq!(dup.body["error"]["field"], "phone");
        let dup = app.post("/api/v1/contacts", json!({"email": "ANA@x.com"})).await;
        assert_eq!((dup.status, dup.body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("email")));
        let other = app.post("/api/v1/contacts", json!({"name": "Bob"})).await;
        let taken = app.patch(&format!("/api/v1/contacts/{}", other.body["id"]), json!({"phone": "33612345678"})).await;
        assert_eq!(taken.status, StatusCode::CONFLICT);
        assert_eq!(app.contact_count().await, 2);
    }
}

#[tokio::test]
async fn validation_errors_name_the_field_and_store_nothing() {
    for app in TestApp::all().await {
        let cases = [
            (json!({"phone": "06 12 34 56 78"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone", Some("phone")),
            (json!({"phone": "+33 6 12"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone", Some("phone")),
            (json!({"email": "Ana <ana@x.com>"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_email", Some("email")),
            (
                json!({"name": "A", "fields": {"Bad": 1}}),
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some("fields.Bad"),
            ),
            (json!({"name": "A", "nickname": "B"}), StatusCode::BAD_REQUEST, "invalid_request", None),
            (json!({"name": 42}), StatusCode::BAD_REQUEST, "invalid_request", None),
            (json!({}), StatusCode::BAD_REQUEST, "invalid_request", None),
            (json!([1, 2]), StatusCode::BAD_REQUEST, "invalid_request", None),
        ];
        for (body, status, code, field) in cases {
            let r = app.post("/api/v1/contacts", body.clone()).await;
            assert_eq!((r.status, r.code()), (status, code), "{}: {body}: {:?}", app.engine(), r.body);
            assert_eq!(r.body["error"]["field"].as_str(), field, "{body}");
            assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        // Malformed JSON and a non-JSON content type.
        let raw = app
            .client
            .post(app.url("/api/v1/contacts"))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body("{\"name\": \"Ana\",")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = raw.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
        let raw =
            app.client.post(app.url("/api/v1/contacts")).bearer_auth(&app.token).body("name=Ana").send().await.unwrap();
        assert_eq!(raw.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(app.contact_count().await, 0, "{}: a refused request stored something", app.engine());

        // A refused update changes nothing.
        let c = app.post("/api/v1/contacts", json!({"name": "Ana", "phone": "+33612345678"})).await;
        let path = format!("/api/v1/contacts/{}", c.body["id"]);
        for body in [json!({"phone": "nope"}), json!({"name": "B", "surname": "C"}), json!({"email": "x"})] {
            let r = app.patch(&path, body.clone()).await;
            assert!(r.status.is_client_error(), "{body}");
        }
        let r = app.patch(&path, json!({"name": null, "phone": null})).await;
        assert_eq!(r.code(), "invalid_request", "a contact cannot be left without name, phone or email");
        assert_eq!(app.get(&path).await.body, c.body);
    }
}

#[tokio::test]
async fn search_by_name_phone_email_and_tag_with_cursor() {
    for app in TestApp::all().await {
        let mut ids = Vec::new();
        for (name, phone, tag) in [
            ("Nguyễn An", "+84 912 345 678", "lead"),
            ("Ana Lopez", "+34 612 345 678", "vip"),
            ("Bob", "+44 7911 123456", "lead"),
        ] {
            let r = app.post("/api/v1/contacts", json!({"name": name, "phone": phone, "tags": [tag]})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{name}: {:?}", r.body);
            ids.push(r.body["id"].clone());
        }
        let find = |q: &str| {
            let path = format!("/api/v1/contacts?{q}");
            let app = &app;
            async move { app.get(&path).await }
        };
        let names = |r: &crate::helpers::Reply| {
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&find("q=nguyen").await), ["Nguyễn An"], "{}", app.engine());
        assert_eq!(names(&find("q=ANA").await), ["Ana Lopez"]);
        assert_eq!(names(&find("q=612%20345").await), ["Ana Lopez"]);
        assert_eq!(names(&find("tag=LEAD").await), ["Bob", "Nguyễn An"]);
        assert_eq!(names(&find("q=an&tag=lead").await), ["Nguyễn An"]);

        let first = find("limit=2").await;
        assert_eq!(names(&first), ["Bob", "Ana Lopez"]);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let second = find(&format!("limit=2&cursor={cursor}")).await;
        assert_eq!(names(&second), ["Nguyễn An"]);
        assert!(second.body["next_cursor"].is_null());

        for bad in ["limit=0", "limit=201", "limit=x", "cursor=abc", "colour=red"] {
            let r = find(bad).await;
            assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
        }
    }
}

#[tokio::test]
async fn tags_and_notes() {
    for app in TestApp::all().await {
        let c = app.post("/api/v1/contacts", json!({"name": "Ana", "tags": ["a"]})).await;
        let path = format!("/api/v1/contacts/{}", c.body["id"]);
        let tagged = app.post(&format!("{path}/tags"), json!({"tags": ["B", "c"]})).await;
        assert_eq!(tagged.body["tags"], json!(["a", "b", "c"]), "{}", app.engine());
        let untagged = app.delete(&format!("{path}/tags/B")).await;
        assert_eq!(untagged.body["tags"], json!(["a", "c"]));

        let note = app.post(&format!("{path}/notes"), json!({"body": "  called, wants a demo  "})).await;
        assert_eq!(note.status, StatusCode::CREATED);
        assert_eq!(note.body["body"], "called, wants a demo");
        assert!(note.body["author_id"].is_i64());
        app.post(&format!("{path}/notes"), json!({"body": "second"})).await;
        let notes = app.get(&format!("{path}/notes")).await;
        let bodies: Vec<_> = notes.body.as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["called, wants a demo", "second"]);
        let empty = app.post(&format!("{path}/notes"), json!({"body": "  "})).await;
        assert_eq!(empty.code(), "invalid_request");
        assert_eq!(app.get(&format!("{path}/notes")).await.body.as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn workspace_default_region_reads_national_numbers() {
    for app in TestApp::all().await {
        let refused = app.post("/api/v1/contacts", json!({"phone": "06 12 34 56 78"})).await;
        assert_eq!(refused.code(), "invalid_phone");
        let set = app.patch("/api/v1/workspace", json!({"default_region": "fr"})).await;
        assert_eq!(set.body["default_region"], "FR", "{:?}", set.body);
        let created = app.post("/api/v1/contacts", json!({"phone": "06 12 34 56 78"})).await;
        assert_eq!(created.body["phone"], "+33612345678", "{}", app.engine());
        assert_eq!(app.get("/api/v1/contacts/phone:0612345678").await.status, StatusCode::OK);
        let bad = app.patch("/api/v1/workspace", json!({"default_region": "XX"})).await;
        assert_eq!(bad.code(), "invalid_request");
        app.patch("/api/v1/workspace", json!({"default_region": null})).await;
        assert_eq!(app.post("/api/v1/contacts", json!({"phone": "07 12 34 56 78"})).await.code(), "invalid_phone");
    }
}

#[tokio::test]
async fn another_workspace_sees_not_found() {
    for db in parley_store::testing::TestDatabase::all().await {
        let a = TestApp::spawn_named(db, "a").await;
        // Workspace b in the same database, through the same server.
        let b = parley_server::admin::bootstrap(
            &*a.db.store,
            "b",
            "owner@b.example",
            "another good password".into(),
            crate::helpers::START,
        )
        .await
        .unwrap();
        let c = a.post("/api/v1/contacts", json!({"name": "Ana", "phone": "+33612345678", "email": "ana@x.com"})).await;
        let id = c.body["id"].as_i64().unwrap();
        for path in [
            format!("/api/v1/contacts/{id}"),
            "/api/v1/contacts/phone:+33612345678".into(),
            "/api/v1/contacts/email:ana@x.com".into(),
            format!("/api/v1/contacts/{id}/notes"),
        ] {
            let r = a.call_as(Some(&b.token), Method::GET, &path, None).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{}: {path}", a.engine());
        }
        let r = a
            .call_as(Some(&b.token), Method::PATCH, &format!("/api/v1/contacts/{id}"), Some(json!({"name": "x"})))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = a.call_as(Some(&b.token), Method::DELETE, &format!("/api/v1/contacts/{id}"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = a.call_as(Some(&b.token), Method::GET, "/api/v1/contacts?q=ana", None).await;
        assert_eq!(r.body["items"], json!([]));
        // b may create the same identifiers: uniqueness is per workspace.
        let r =
            a.call_as(Some(&b.token), Method::POST, "/api/v1/contacts", Some(json!({"phone": "+33612345678"}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(a.get(&format!("/api/v1/contacts/{id}")).await.body["name"], "Ana");
    }
}

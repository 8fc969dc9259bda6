//! Phone numbers as people write them (issue 21, point 11), end to end: the spellings address
//! books, spreadsheets and phones produce are read through the contacts API and the CSV import
//! alike, and national numbers, area codes in parentheses and two numbers in one cell are still
//! refused with a reason.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

/// `text` as one URL path segment: every byte but ASCII letters and digits percent-encoded.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn contacts_are_created_and_found_in_exported_spellings() {
    for app in TestApp::all().await {
        let e = app.engine();
        for (spelling, stored) in [
            ("tel:+33-6-12-34-56-78", "+33612345678"),
            ("(+33) 6 11 11 11 11", "+33611111111"),
            ("'+33622222222", "+33622222222"),
            ("=\"+33 6 33 33 33 33\"", "+33633333333"),
            ("+33 (0)6 44 44 44 44", "+33644444444"),
            ("\u{202A}+33\u{202F}6\u{202F}55\u{202F}55\u{202F}55\u{202F}55\u{202C}", "+33655555555"),
            ("\u{FF0B}\u{FF18}\u{FF14} 90 123 45 67", "+84901234567"),
            ("+1 (202) 555-0173 (work)", "+12025550173"),
        ] {
            let created = app.post("/api/v1/contacts", json!({"phone": spelling})).await;
            assert_eq!(created.status, StatusCode::CREATED, "{e}: {spelling:?}: {:?}", created.body);
            assert_eq!(created.body["phone"], stored, "{e}: {spelling:?}");
        }
        // A lookup in another spelling finds the same contact.
        for spelling in ["tel:+33612345678", "\"+33 6 12 34 56 78\"", "(+33)612345678", "\u{200E}+33612345678"] {
            let found = app.get(&format!("/api/v1/contacts/phone:{}", path_segment(spelling))).await;
            assert_eq!(found.status, StatusCode::OK, "{e}: {spelling:?}: {:?}", found.body);
            assert_eq!(found.body["phone"], "+33612345678", "{e}: {spelling:?}");
        }
        // Another spelling of a stored number is the same number: a conflict, not a second contact.
        let dup = app.post("/api/v1/contacts", json!({"phone": "tel:+33611111111"})).await;
        assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "identifier_taken"), "{e}: {:?}", dup.body);

        let count = app.contact_count().await;
        for (spelling, reason) in [
            ("(33) 699999999", "country code"),
            ("tel:06 99 99 99 99", "country code"),
            ("+33699999999, +33698765432", "more than one number"),
            ("tel:+33-6-99-99-99-99;ext=12", "extension"),
            ("+1-800-FLOWERS", "letters"),
        ] {
            let refused = app.post("/api/v1/contacts", json!({"phone": spelling})).await;
            assert_eq!(
                (refused.status, refused.code(), refused.body["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone", Some("phone")),
                "{e}: {spelling:?}"
            );
            let message = refused.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(reason), "{e}: {spelling:?}: {message}");
        }
        assert_eq!(app.contact_count().await, count, "{e}: a refused number stores nothing");
    }
}

#[tokio::test]
async fn an_import_reads_the_spellings_spreadsheets_and_address_books_write() {
    // Each line as a spreadsheet or address-book export writes it; CSV quoting as the csv crate reads.
    let csv = [
        "Name,Phone",
        "Ana,(+33) 6 11 11 11 11",
        "Bob,tel:+33-6-22-22-22-22",
        "Cy,'+33633333333",
        "Dee,\"=\"\"+33644444444\"\"\"",
        "Eve,+33 (0)6 55 55 55 55",
        "Fay,\u{202A}+33\u{00A0}6\u{00A0}66\u{00A0}66\u{00A0}66\u{00A0}66\u{202C}",
        "Gus,+33677777777 (mobile)",
        "Hal,\u{FF0B}\u{FF13}\u{FF13}\u{FF16}\u{FF18}\u{FF18}\u{FF18}\u{FF18}\u{FF18}\u{FF18}\u{FF18}\u{FF18}",
        "Ida,(33) 699999999",
        "Jo,\"+33612121212, +33613131313\"",
        "Kim,06 14 14 14 14",
    ]
    .join("\n");
    for app in TestApp::all().await {
        let e = app.engine();
        let done = app.import_csv(csv.as_bytes(), json!({}), false).await;
        assert_eq!(done["state"], "done", "{e}: {done:?}");
        assert_eq!((done["created"].as_i64(), done["rejected"].as_i64()), (Some(8), Some(3)), "{e}: {done:?}");
        for (name, phone) in [
            ("Ana", "+33611111111"),
            ("Bob", "+33622222222"),
            ("Cy", "+33633333333"),
            ("Dee", "+33644444444"),
            ("Eve", "+33655555555"),
            ("Fay", "+33666666666"),
            ("Gus", "+33677777777"),
            ("Hal", "+33688888888"),
        ] {
            let found = app.get(&format!("/api/v1/contacts/phone:{}", path_segment(phone))).await;
            assert_eq!(found.body["name"], name, "{e}: {phone}: {:?}", found.body);
        }
        let id = done["id"].as_i64().unwrap();
        let rejects = app
            .client
            .get(app.url(&format!("/api/v1/imports/{id}/rejects")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<(String, String)> = csv::Reader::from_reader(rejects.as_bytes())
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_owned(), r[3].to_owned())
            })
            .collect();
        let expected = [("10", "invalid_phone"), ("11", "invalid_phone"), ("12", "invalid_phone")];
        assert_eq!(lines, expected.map(|(l, c)| (l.to_owned(), c.to_owned())), "{e}: {rejects}");
        assert!(rejects.contains("more than one number"), "{e}: {rejects}");
        assert!(rejects.contains("country code"), "{e}: {rejects}");
    }
}

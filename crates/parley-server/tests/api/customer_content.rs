//! What a WhatsApp customer sends cannot run on Parley's origin: a "document" declared as HTML
//! or SVG comes back as an attachment that the browser may not sniff or render; images, audio
//! and video come back inline under their own type. Every response carries the security headers.

use std::time::Duration;

use parley_sandbox::{Batching, Customer, Say};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, eventually};

const SCRIPT_HTML: &[u8] = b"<html><script>fetch('/api/v1/users').then(r=>r.text()).then(alert)</script></html>";
const SCRIPT_SVG: &[u8] = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(document.cookie)</script></svg>";

#[tokio::test]
async fn scriptable_documents_are_served_as_attachments_with_nosniff() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let (sandbox, pnid) = (&wired.sandbox, &wired.number.phone_number_id);
        let customer = Customer::new("33612345678", "Mallory");
        let html = sandbox.add_media(SCRIPT_HTML.to_vec(), "text/html");
        let svg = sandbox.add_media(SCRIPT_SVG.to_vec(), "image/svg+xml");
        let png = sandbox.add_media(b"\x89PNG not really".to_vec(), "image/png");
        let mut html_doc = Say::media("document", &html, "text/html");
        html_doc.body["filename"] = json!("invoice\".html\r\nX-Evil: 1");
        let items = vec![
            sandbox.message(pnid, &customer, &html_doc),
            sandbox.message(pnid, &customer, &Say::media("image", &svg, "image/svg+xml")),
            sandbox.message(pnid, &customer, &Say::media("image", &png, "image/png")),
        ];
        sandbox.deliver(items, Batching::default());
        assert!(sandbox.wait_idle(Duration::from_secs(20)).await, "{e}");
        let ready = eventually(20, || async {
            app.all_messages().await.iter().filter(|m| m["media"]["state"] == "available").count() == 3
        })
        .await;
        assert!(ready, "{e}: media not downloaded");
        let messages = app.all_messages().await;
        let id_of = |mime: &str| {
            messages.iter().find(|m| m["content"]["mime_type"] == mime).unwrap_or_else(|| panic!("{mime}"))["id"]
                .as_i64()
                .unwrap()
        };
        let fetch =
            |id: i64| app.client.get(app.url(&format!("/api/v1/messages/{id}/media"))).bearer_auth(&app.token).send();

        for (mime, bytes) in [("text/html", SCRIPT_HTML), ("image/svg+xml", SCRIPT_SVG)] {
            let got = fetch(id_of(mime)).await.unwrap();
            assert_eq!(got.status(), StatusCode::OK, "{e} {mime}");
            let h = got.headers().clone();
            assert_eq!(h["content-type"], "application/octet-stream", "{e} {mime}");
            let disposition = h["content-disposition"].to_str().unwrap();
            assert!(disposition.starts_with("attachment; filename=\""), "{e} {mime}: {disposition}");
            assert!(!disposition.contains('\r') && !disposition.contains('\n'), "{e}: {disposition}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{e} {mime}");
            assert!(h["content-security-policy"].to_str().unwrap().starts_with("sandbox"), "{e} {mime}");
            assert!(h.get("x-evil").is_none());
            assert_eq!(got.bytes().await.unwrap().as_ref(), bytes, "{e}: the file itself is unchanged");
        }
        let html_disposition = fetch(id_of("text/html")).await.unwrap().headers()["content-disposition"].clone();
        assert_eq!(
            html_disposition.to_str().unwrap(),
            "attachment; filename=\"invoice_.html__X-Evil_ 1\"; filename*=UTF-8''invoice_.html__X-Evil_%201",
            "{e}: the customer's name for the file, made harmless"
        );

        let png = fetch(id_of("image/png")).await.unwrap();
        assert_eq!(png.headers()["content-type"], "image/png", "{e}");
        assert_eq!(png.headers()["content-disposition"], "inline", "{e}");
        assert_eq!(png.headers()["x-content-type-options"], "nosniff", "{e}");
        assert_eq!(png.headers()["accept-ranges"], "bytes", "{e}");

        // Range requests (how audio and video seek): the part asked for, with our headers.
        let media = format!("/api/v1/messages/{}/media", id_of("image/png"));
        let part = app.client.get(app.url(&media)).bearer_auth(&app.token).header("range", "bytes=4-7").send();
        let part = part.await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{e}");
        assert_eq!(part.headers()["content-range"], "bytes 4-7/15", "{e}");
        assert_eq!(part.headers()["content-type"], "image/png", "{e}");
        assert_eq!(part.headers()["x-content-type-options"], "nosniff", "{e}");
        assert_eq!(part.bytes().await.unwrap().as_ref(), b" not", "{e}");
        let beyond = app.client.get(app.url(&media)).bearer_auth(&app.token).header("range", "bytes=100-").send();
        assert_eq!(beyond.await.unwrap().status(), StatusCode::RANGE_NOT_SATISFIABLE, "{e}");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn(parley_store::testing::TestDatabase::sqlite().await).await;
    for path in ["/api/v1/contacts", "/api/v1/no-such-route", "/login", "/assets/app.js", "/api/openapi.json"] {
        let got = app.client.get(app.url(path)).bearer_auth(&app.token).send().await.unwrap();
        let h = got.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(h.contains_key("content-security-policy"), "{path}");
        assert!(h.get("strict-transport-security").is_none(), "{path}: plain HTTP gets no HSTS");
    }
    let api = app.client.get(app.url("/api/v1/contacts")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(api.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'; sandbox");
    let login = app.client.get(app.url("/login")).send().await.unwrap();
    assert!(login.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let behind_tls = app.client.get(app.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert_eq!(behind_tls.headers()["strict-transport-security"], "max-age=31536000");
}

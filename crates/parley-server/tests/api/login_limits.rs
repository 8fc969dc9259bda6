//! The login limits over HTTP on both engines: failures are counted per real client address
//! (read from `X-Forwarded-For` only behind a configured trusted proxy) and email, successes do
//! not count, and a guesser elsewhere cannot lock the account's owner out.

use reqwest::StatusCode;
use reqwest::header::COOKIE;

use parley_server::web::client_ip::TrustedProxies;

use crate::helpers::{OWNER_PASSWORD, TestApp, cookie_of, web_client};
use crate::web::login_form;

const OWNER: &str = "owner@acme.example";

/// Posts the login form as if it came through a proxy that recorded `forwarded_for`.
async fn login_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> reqwest::Response {
    let (cookie, csrf) = login_form(app).await;
    web_client()
        .post(app.url("/login"))
        .header(COOKIE, format!("parley_login={cookie}"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", password), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// A server behind a proxy at 127.0.0.1 (the tests' own address), trusted.
async fn behind_trusted_proxy(db: parley_store::testing::TestDatabase) -> TestApp {
    TestApp::spawn_with(db, "acme", |s| s.trusted_proxies = TrustedProxies::parse(&["127.0.0.1"]).unwrap()).await
}

#[tokio::test]
async fn behind_a_trusted_proxy_failures_are_limited_per_real_address() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app = behind_trusted_proxy(db).await;
        let e = app.engine();
        // One address spends its free failures and then waits.
        for i in 0..5 {
            let r = login_from(&app, "203.0.113.1", OWNER, "guess").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}: failure {i}");
        }
        let waits = login_from(&app, "203.0.113.1", OWNER, "guess").await;
        assert_eq!(waits.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
        // Nineteen other addresses behind the same proxy are each counted on their own (a
        // client's own entry, left of the proxy's, changes nothing).
        for i in 2..=20 {
            let r = login_from(&app, &format!("1.1.1.1, 203.0.113.{i}"), OWNER, "guess").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}: address {i}");
        }
        let still = login_from(&app, "203.0.113.1", OWNER, OWNER_PASSWORD).await;
        assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS, "{e}: the first address still waits");
        let owner = login_from(&app, "198.51.100.7", OWNER, OWNER_PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::SEE_OTHER, "{e}: the owner gets in from their own address");
    }
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies (the default), then proxies that do not include the peer.
    for trusted in [vec![], vec!["10.0.0.0/8", "::1"]] {
        for db in parley_store::testing::TestDatabase::all().await {
            let app =
                TestApp::spawn_with(db, "acme", |s| s.trusted_proxies = TrustedProxies::parse(&trusted).unwrap()).await;
            let e = app.engine();
            // A fresh address in every request does not buy fresh tries: they are all the peer's.
            for i in 1..=5 {
                let r = login_from(&app, &format!("203.0.113.{i}"), OWNER, "guess").await;
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e} {trusted:?}: failure {i}");
            }
            let refused = login_from(&app, "203.0.113.99", OWNER, "guess").await;
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{e} {trusted:?}");
        }
    }
}

#[tokio::test]
async fn successful_logins_do_not_count() {
    for app in TestApp::all().await {
        let e = app.engine();
        for i in 0..12 {
            let r = login_from(&app, "203.0.113.1", OWNER, OWNER_PASSWORD).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{e}: login {i}");
            assert!(cookie_of(&r, "parley_session").is_some());
        }
        // The free failures are all still there.
        for i in 0..5 {
            let r = login_from(&app, "203.0.113.1", OWNER, "typo").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}: failure {i}");
        }
    }
}

#[tokio::test]
async fn a_guesser_elsewhere_cannot_lock_the_owner_out() {
    for db in parley_store::testing::TestDatabase::all().await {
        let app = behind_trusted_proxy(db).await;
        let e = app.engine();
        // Someone guesses the owner's password from three addresses until each is kept waiting,
        // and goes on hammering.
        for attacker in ["203.0.113.66", "203.0.113.67", "203.0.113.68"] {
            for _ in 0..5 {
                let r = login_from(&app, attacker, OWNER, "guess").await;
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}");
            }
            for _ in 0..5 {
                let r = login_from(&app, attacker, OWNER, "guess").await;
                assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
            }
        }
        // The owner, at home, with the right password.
        let owner = login_from(&app, "198.51.100.7", OWNER, OWNER_PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::SEE_OTHER, "{e}");
        assert!(cookie_of(&owner, "parley_session").is_some(), "{e}");
        // The delays grow for the guesser: 1 s after the fifth failure, then 2 s, 4 s.
        app.clock.advance_secs(1);
        let r = login_from(&app, "203.0.113.66", OWNER, "guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}: the first delay ran out");
        let r = login_from(&app, "203.0.113.66", OWNER, "guess").await;
        assert_eq!((r.status(), r.headers()["retry-after"].to_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "2"));
        app.clock.advance_secs(2);
        let r = login_from(&app, "203.0.113.66", OWNER, "guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}");
        let r = login_from(&app, "203.0.113.66", OWNER, "guess").await;
        assert_eq!(r.headers()["retry-after"], "4", "{e}");
    }
}

//! The web inbox's sessions over HTTP on both engines: the login form (its CSRF token, wrong
//! passwords, the attempt limit), the session cookie that the inbox's scripts use for the API
//! (CSRF token required on changes), logging out, and the user's language.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{OWNER_PASSWORD, TestApp, cookie_of, web_client};

/// The login page's cookie and the form's CSRF token.
pub(crate) async fn login_form(app: &TestApp) -> (String, String) {
    let resp = web_client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = cookie_of(&resp, "parley_login").expect("a login cookie");
    let html = resp.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (cookie, csrf)
}

pub(crate) async fn post_login(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    web_client()
        .post(app.url("/login"))
        .header(COOKIE, format!("parley_login={cookie}"))
        .form(&[("email", email), ("password", password), ("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

/// Logs the owner in; the session cookie's secret and the inbox's CSRF token.
pub(crate) async fn session(app: &TestApp) -> (String, String) {
    let (cookie, csrf) = login_form(app).await;
    let resp = post_login(app, &cookie, &csrf, "owner@acme.example", OWNER_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/inbox");
    let raw = resp.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(
        raw.iter().any(|c| c.starts_with("parley_session=") && c.contains("HttpOnly") && c.contains("SameSite=Lax"))
    );
    let secret = cookie_of(&resp, "parley_session").unwrap();
    let page =
        web_client().get(app.url("/inbox")).header(COOKIE, format!("parley_session={secret}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    let csrf = html.split("data-csrf=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (secret, csrf)
}

#[tokio::test]
async fn logging_in_gives_a_session_that_the_api_accepts_with_its_csrf_token() {
    for app in TestApp::all().await {
        let e = app.engine();
        // Without a session the inbox sends to the login page.
        let resp = web_client().get(app.url("/inbox")).send().await.unwrap();
        assert_eq!((resp.status(), resp.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login"));

        let (secret, csrf) = session(&app).await;
        let with_cookie = |method: Method, path: &str| {
            web_client().request(method, app.url(path)).header(COOKIE, format!("parley_session={secret}"))
        };
        let again = with_cookie(Method::GET, "/login").send().await.unwrap();
        assert_eq!((again.status(), again.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/inbox"));
        let me = with_cookie(Method::GET, "/api/v1/me").send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK, "{e}");
        assert_eq!(me.json::<serde_json::Value>().await.unwrap()["user"]["email"], "owner@acme.example");

        // A change made with the cookie needs the CSRF token: another site cannot make one.
        let body = json!({"locale": "vi"});
        let forged = with_cookie(Method::PATCH, "/api/v1/me").json(&body).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{e}");
        assert_eq!(forged.json::<serde_json::Value>().await.unwrap()["error"]["code"], "csrf_failed");
        let wrong = with_cookie(Method::PATCH, "/api/v1/me").header("x-csrf-token", "0".repeat(32)).json(&body).send();
        assert_eq!(wrong.await.unwrap().status(), StatusCode::FORBIDDEN, "{e}");
        let done =
            with_cookie(Method::PATCH, "/api/v1/me").header("x-csrf-token", &csrf).json(&body).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::OK, "{e}");
        assert_eq!(app.get("/api/v1/me").await.body["user"]["locale"], "vi", "{e}");
        let bad = app.patch("/api/v1/me", json!({"locale": "de"})).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{e}");

        // The page now speaks the saved language.
        let page = with_cookie(Method::GET, "/inbox").send().await.unwrap().text().await.unwrap();
        assert!(page.contains("lang=\"vi\"") && page.contains("Cuộc trò chuyện"), "{e}");

        // Logging out ends the session for the page and for the API.
        let out = with_cookie(Method::POST, "/logout").form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::SEE_OTHER, "{e}");
        assert_eq!(with_cookie(Method::GET, "/api/v1/me").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        let resp = with_cookie(Method::GET, "/inbox").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{e}");
    }
}

#[tokio::test]
async fn the_login_form_refuses_wrong_passwords_forged_forms_and_too_many_attempts() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (cookie, csrf) = login_form(&app).await;
        let wrong = post_login(&app, &cookie, &csrf, "owner@acme.example", "not the password").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{e}");
        assert!(cookie_of(&wrong, "parley_session").is_none());
        assert!(wrong.text().await.unwrap().contains("Wrong email or password"));
        // The login page was shown in French (`?lang=fr`): its error answers in French, whatever
        // the browser prefers.
        let in_french = web_client()
            .post(app.url("/login"))
            .header(COOKIE, format!("parley_login={cookie}"))
            .header("accept-language", "en-US,en")
            .form(&[("email", "owner@acme.example"), ("password", "pas le bon"), ("csrf", &csrf), ("lang", "fr")])
            .send()
            .await
            .unwrap();
        assert_eq!(in_french.status(), StatusCode::UNAUTHORIZED, "{e}");
        assert!(in_french.text().await.unwrap().contains("Adresse ou mot de passe incorrect"), "{e}");
        let unknown = post_login(&app, &cookie, &csrf, "nobody@acme.example", OWNER_PASSWORD).await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED, "{e}: an unknown email looks the same");

        // A form posted without the login page's cookie (another site's form) is refused.
        let forged = web_client()
            .post(app.url("/login"))
            .form(&[("email", "owner@acme.example"), ("password", OWNER_PASSWORD), ("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{e}");
        assert!(cookie_of(&forged, "parley_session").is_none());

        // Five failures per address and email are free (two were made above for the owner; the
        // forged form was refused before counting), then each try waits a growing delay: even
        // the right password is refused until it has run out.
        for i in 0..3 {
            let r = post_login(&app, &cookie, &csrf, "owner@acme.example", "guess").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{e}: failure {}", i + 3);
        }
        let refused = post_login(&app, &cookie, &csrf, "owner@acme.example", "guess").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
        assert_eq!(refused.headers()["retry-after"], "1", "{e}");
        let limited = post_login(&app, &cookie, &csrf, "owner@acme.example", OWNER_PASSWORD).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "{e}");
        assert!(cookie_of(&limited, "parley_session").is_none());
        app.clock.advance_secs(1);
        let after_the_wait = post_login(&app, &cookie, &csrf, "owner@acme.example", OWNER_PASSWORD).await;
        assert_eq!(after_the_wait.status(), StatusCode::SEE_OTHER, "{e}");
    }
}

/// Choosing a new password (through an invitation link, which also serves as a reset) ends every
/// session opened with the old one; the new password's session works.
#[tokio::test]
async fn a_new_password_ends_the_users_other_sessions() {
    for app in TestApp::all().await {
        let e = app.engine();
        let made = app
            .post(
                "/api/v1/users",
                json!({"email": "lan@acme.example", "name": "Lan", "role": "agent", "password": "lan's first password"}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{e}: {:?}", made.body);
        let (cookie, csrf) = login_form(&app).await;
        let old = post_login(&app, &cookie, &csrf, "lan@acme.example", "lan's first password").await;
        assert_eq!(old.status(), StatusCode::SEE_OTHER, "{e}");
        let old_session = cookie_of(&old, "parley_session").unwrap();
        let inbox = |secret: String| {
            web_client().get(app.url("/inbox")).header(COOKIE, format!("parley_session={secret}")).send()
        };
        assert_eq!(inbox(old_session.clone()).await.unwrap().status(), StatusCode::OK, "{e}");

        let link = app.post(&format!("/api/v1/users/{}/invite", made.body["id"]), json!({})).await;
        let url = link.body["url"].as_str().unwrap().to_owned();
        let page = web_client().get(app.url(&url)).send().await.unwrap();
        let login_cookie = cookie_of(&page, "parley_login").unwrap();
        let html = page.text().await.unwrap();
        let form_csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let done = web_client()
            .post(app.url(&url))
            .header(COOKIE, format!("parley_login={login_cookie}"))
            .form(&[("password", "lan's second password"), ("csrf", form_csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{e}");
        let new_session = cookie_of(&done, "parley_session").unwrap();

        let ended = inbox(old_session).await.unwrap();
        assert_eq!(ended.status(), StatusCode::SEE_OTHER, "{e}: the old session still opens the inbox");
        assert_eq!(ended.headers()["location"], "/login");
        assert_eq!(inbox(new_session).await.unwrap().status(), StatusCode::OK, "{e}");
    }
}

/// A user changes their own password: the current one is required, every session made with the
/// old one ends, and the browser that made the change gets a new session of its own.
#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions_and_keeps_the_changer_in() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (mine, csrf) = session(&app).await;
        let (elsewhere, _) = session(&app).await;
        let change = |secret: String, csrf: String, body: serde_json::Value| {
            web_client()
                .put(app.url("/api/v1/me/password"))
                .header(COOKIE, format!("parley_session={secret}"))
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
        };
        let wrong = change(
            mine.clone(),
            csrf.clone(),
            json!({"current_password": "guess", "new_password": "a new password 1"}),
        )
        .await
        .unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{e}");
        assert_eq!(wrong.json::<serde_json::Value>().await.unwrap()["error"]["code"], "wrong_password");
        let weak =
            change(mine.clone(), csrf.clone(), json!({"current_password": OWNER_PASSWORD, "new_password": "short"}))
                .await
                .unwrap();
        assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let inbox = |secret: String| {
            web_client().get(app.url("/inbox")).header(COOKIE, format!("parley_session={secret}")).send()
        };
        assert_eq!(inbox(elsewhere.clone()).await.unwrap().status(), StatusCode::OK, "{e}: refusals change nothing");

        let done = change(
            mine.clone(),
            csrf,
            json!({"current_password": OWNER_PASSWORD, "new_password": "the owner's new password"}),
        )
        .await
        .unwrap();
        assert_eq!(done.status(), StatusCode::OK, "{e}");
        let fresh = cookie_of(&done, "parley_session").expect("a new session for the changer");
        let fresh_csrf = done.json::<serde_json::Value>().await.unwrap()["csrf"].as_str().unwrap().to_owned();
        for old in [mine, elsewhere] {
            assert_eq!(inbox(old).await.unwrap().status(), StatusCode::SEE_OTHER, "{e}: an old session still works");
        }
        assert_eq!(inbox(fresh.clone()).await.unwrap().status(), StatusCode::OK, "{e}");
        let patched = web_client()
            .patch(app.url("/api/v1/me"))
            .header(COOKIE, format!("parley_session={fresh}"))
            .header("x-csrf-token", fresh_csrf)
            .json(&json!({"locale": "fr"}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), StatusCode::OK, "{e}: the new CSRF token goes with the new session");

        let (cookie, csrf) = login_form(&app).await;
        let old = post_login(&app, &cookie, &csrf, "owner@acme.example", OWNER_PASSWORD).await;
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "{e}: the old password");
        // With an API token: no session in the answer, and the token keeps working.
        let by_token = app
            .call(
                Method::PUT,
                "/api/v1/me/password",
                Some(json!({"current_password": "the owner's new password", "new_password": "yet another password"})),
            )
            .await;
        assert_eq!((by_token.status, by_token.body["csrf"].clone()), (StatusCode::OK, serde_json::Value::Null), "{e}");
        assert_eq!(inbox(fresh).await.unwrap().status(), StatusCode::SEE_OTHER, "{e}");
        assert_eq!(app.get("/api/v1/me").await.status, StatusCode::OK, "{e}");

        // Guessing the current password is limited like logging in.
        let guess = json!({"current_password": "a guess", "new_password": "whatever password"});
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(app.call(Method::PUT, "/api/v1/me/password", Some(guess.clone())).await.status.as_u16());
        }
        assert_eq!(statuses, [403, 403, 403, 403, 403, 429], "{e}");
    }
}

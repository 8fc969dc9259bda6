//! The web inbox, served by the same binary: the login page, logging out, and the inbox page,
//! which is an HTML shell (askama templates in `templates/`) with our own JavaScript and CSS
//! (`assets/`, embedded). The JavaScript works through the REST API under `/api/v1` with the
//! session cookie (see `auth.rs`), so everything the UI does is in the API too.
//!
//! Decision: the UI lives in this crate rather than a `parley-web` crate of its own (as
//! ARCHITECTURE.md sketched): its pages need the server's state and session auth, and the
//! assets are plain files that rebuild nothing but this crate.

pub mod client_ip;
pub mod demo;
pub mod i18n;
mod invite;
pub mod login_limit;
pub mod session;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use parley_core::Email;
use parley_core::account::User;
use serde::Deserialize;

use crate::password::verify_password;
use crate::state::AppState;
pub use client_ip::ClientIp;
use i18n::{Locale, negotiate};
use session::{LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/inbox", get(inbox_page))
        .route("/invite/{secret}", get(invite::invite_page).post(invite::accept_invite))
        .route("/demo/sign-in/{secret}", get(demo::sign_in))
        .route("/assets/{file}", get(asset))
}

/// The signed-in user of a page, from the session cookie; pages redirect to `/login` without one.
pub struct WebUser {
    pub user: User,
    pub secret: String,
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        signed_in(parts, state).await?.ok_or_else(|| Redirect::to("/login").into_response())
    }
}

impl OptionalFromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        signed_in(parts, state).await
    }
}

/// The session's user; `None` without a live session. A store that fails is a logged 500, not
/// "signed out": sending someone to the login page would only fail again, and hide the cause.
async fn signed_in(parts: &Parts, state: &AppState) -> Result<Option<WebUser>, Response> {
    let Some(secret) = session::cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    match state.store.session_owner(&session::session_hash(&secret), state.clock.now()).await {
        Ok(owner) => Ok(owner.map(|owner| WebUser { user: owner.user, secret })),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a session");
            Err(server_error_page())
        }
    }
}

pub(crate) fn browser_locale(headers: &HeaderMap) -> Locale {
    negotiate(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// Pages are never cached and never framed.
pub(crate) fn page(status: StatusCode, html: String, cookies: &[String]) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page from its template. A template that fails to render is a logged 500: a blank 200
/// would look like a page that loaded.
pub(crate) fn render_page(template: &impl Template, status: StatusCode, cookies: &[String]) -> Response {
    match template.render() {
        Ok(html) => page(status, html, cookies),
        Err(e) => {
            tracing::error!(error = %e, page = std::any::type_name_of_val(template), "a page failed to render");
            server_error_page()
        }
    }
}

/// What a page answers when it cannot be made (a store or a template failed): static HTML,
/// which cannot fail in turn. The details are in the log.
pub(crate) fn server_error_page() -> Response {
    let html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Parley</title></head>\
                <body><h1>Something went wrong</h1><p>The server could not answer; the details are in its log. \
                Try again in a moment.</p></body></html>";
    page(StatusCode::INTERNAL_SERVER_ERROR, html.to_owned(), &[])
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    locale: Locale,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

impl LoginPage<'_> {
    fn t(&self, key: &str) -> &'static str {
        self.locale.t(key)
    }
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn render_login(locale: Locale, email: &str, error: Option<&str>, status: StatusCode, https: bool) -> Response {
    // Each rendering gets a fresh login secret: the form must come back with its CSRF token.
    let secret = session::new_secret();
    let csrf = session::csrf_token(&secret);
    let login = LoginPage { locale, csrf: &csrf, email, error };
    render_page(&login, status, &[session::set_cookie(LOGIN_COOKIE, Some(&secret), 3600, https)])
}

async fn login_page(user: Option<WebUser>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    if user.is_some() {
        return Redirect::to("/inbox").into_response();
    }
    let locale = q.lang.as_deref().and_then(Locale::parse).unwrap_or_else(|| browser_locale(&headers));
    render_login(locale, "", None, StatusCode::OK, session::is_https(&headers))
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    /// The language the login page was shown in (`?lang=` or the browser's): an error page
    /// answers in it, not in whatever the browser prefers.
    lang: Option<String>,
}

/// A hash to verify against when the email is unknown, so both answers take as long.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::password::hash_password_now("not a password of anyone").unwrap_or_default());

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Response {
    let locale = form.lang.as_deref().and_then(Locale::parse).unwrap_or_else(|| browser_locale(&headers));
    let https = session::is_https(&headers);
    let login_secret = session::cookie(&headers, LOGIN_COOKIE);
    if !login_secret.is_some_and(|s| session::csrf_matches(&s, &form.csrf)) {
        let error = locale.t("login.expired");
        return render_login(locale, &form.email, Some(error), StatusCode::FORBIDDEN, https);
    }
    // Counted as a failure from here until the password proves right (see `login_limit.rs`).
    if let Err(wait) = state.login_limiter.begin(ip, &form.email, state.clock.now()) {
        return too_many_attempts(locale, &form.email, wait, https);
    }
    let found = match Email::parse(&form.email) {
        // A store that fails says so: answering "wrong password" would send the user hunting
        // for a password that was right, and hide the outage from the log.
        Ok(email) => match state.store.user_for_login(&email).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a user to log in");
                let error = locale.t("error.server");
                return render_login(locale, &form.email, Some(error), StatusCode::INTERNAL_SERVER_ERROR, https);
            }
        },
        Err(_) => None,
    };
    let (user, hash) = match found {
        Some((user, Some(hash))) => (Some(user), hash),
        _ => (None, DUMMY_HASH.clone()),
    };
    let verified = verify_password(form.password, hash).await;
    if verified && user.is_some() {
        state.login_limiter.succeeded(ip, &form.email);
    }
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!("a login failed");
        let error = locale.t("login.wrong");
        return render_login(locale, &form.email, Some(error), StatusCode::UNAUTHORIZED, https);
    };
    match start_session(&state, &user, https).await {
        Ok(response) => response,
        Err(()) => {
            let error = locale.t("error.server");
            render_login(locale, &form.email, Some(error), StatusCode::INTERNAL_SERVER_ERROR, https)
        }
    }
}

/// The login page with "too many attempts", and when to try again.
fn too_many_attempts(locale: Locale, email: &str, wait_secs: i64, https: bool) -> Response {
    let error = locale.t("login.too_many");
    let mut response = render_login(locale, email, Some(error), StatusCode::TOO_MANY_REQUESTS, https);
    if let Ok(value) = HeaderValue::from_str(&wait_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Logs `user` in: a new session, its cookie, and on to the inbox (the login form's cookie goes).
pub(crate) async fn start_session(state: &AppState, user: &User, https: bool) -> Result<Response, ()> {
    let secret = new_session(state, user).await?;
    tracing::info!(user = user.id.get(), "logged in");
    let mut response = Redirect::to("/inbox").into_response();
    for cookie in [
        session::set_cookie(SESSION_COOKIE, Some(&secret), SESSION_SECS, https),
        session::set_cookie(LOGIN_COOKIE, None, 0, https),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Stores a new session for `user`; the secret for its cookie.
pub(crate) async fn new_session(state: &AppState, user: &User) -> Result<String, ()> {
    let secret = session::new_secret();
    let now = state.clock.now();
    let expires = now.plus_secs(SESSION_SECS);
    if let Err(e) = state.store.create_session(user, &session::session_hash(&secret), expires, now).await {
        tracing::error!(error = %e, "cannot store a session");
        return Err(());
    }
    Ok(secret)
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: WebUser,
    Form(form): Form<LogoutForm>,
) -> Response {
    if !session::csrf_matches(&user.secret, &form.csrf) {
        return (StatusCode::FORBIDDEN, "the form expired: reload the page").into_response();
    }
    if let Err(e) = state.store.end_session(&session::session_hash(&user.secret)).await {
        tracing::error!(error = %e, "cannot end a session");
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(SESSION_COOKIE, None, 0, session::is_https(&headers)))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage<'a> {
    locale: Locale,
    csrf: &'a str,
    /// `{user, workspace, locale, strings}` for the script, as JSON (escaped by askama).
    boot: &'a str,
}

impl InboxPage<'_> {
    fn t(&self, key: &str) -> &'static str {
        self.locale.t(key)
    }
}

async fn inbox_page(State(state): State<AppState>, headers: HeaderMap, user: WebUser) -> Response {
    let locale = user.user.locale.as_deref().and_then(Locale::parse).unwrap_or_else(|| browser_locale(&headers));
    let workspace = match state.store.workspace(user.user.workspace_id).await {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the workspace");
            return server_error_page();
        }
    };
    let boot = serde_json::json!({
        "user": {"id": user.user.id, "name": user.user.name, "email": user.user.email.as_str(), "role": user.user.role.as_str()},
        "workspace": {"id": workspace.id, "name": workspace.name},
        "locale": locale.as_str(),
        // Whether the server can mail (the mentions-by-mail setting shows only then).
        "mail": state.mailer.is_some(),
        "mail_mentions": user.user.mail_mentions,
        // Where providers must post: the webhook addresses shown on the team page.
        "public_url": state.public_url.trim_end_matches('/'),
        "strings": serde_json::from_str::<serde_json::Value>(locale.json()).unwrap_or_default(),
    })
    .to_string();
    let csrf = session::csrf_token(&user.secret);
    render_page(&InboxPage { locale, csrf: &csrf, boot: &boot }, StatusCode::OK, &[])
}

/// Our own scripts and styles, embedded in the binary.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime): (&'static str, &str) = match file.as_str() {
        "app.css" => (include_str!("../../assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (include_str!("../../assets/app.js"), "text/javascript; charset=utf-8"),
        "api.js" => (include_str!("../../assets/api.js"), "text/javascript; charset=utf-8"),
        "thread.js" => (include_str!("../../assets/thread.js"), "text/javascript; charset=utf-8"),
        "live.js" => (include_str!("../../assets/live.js"), "text/javascript; charset=utf-8"),
        "status.js" => (include_str!("../../assets/status.js"), "text/javascript; charset=utf-8"),
        "confirm.js" => (include_str!("../../assets/confirm.js"), "text/javascript; charset=utf-8"),
        "composer.js" => (include_str!("../../assets/composer.js"), "text/javascript; charset=utf-8"),
        "panel.js" => (include_str!("../../assets/panel.js"), "text/javascript; charset=utf-8"),
        "search.js" => (include_str!("../../assets/search.js"), "text/javascript; charset=utf-8"),
        "suggest.js" => (include_str!("../../assets/suggest.js"), "text/javascript; charset=utf-8"),
        "attachments.js" => (include_str!("../../assets/attachments.js"), "text/javascript; charset=utf-8"),
        "numbers.js" => (include_str!("../../assets/numbers.js"), "text/javascript; charset=utf-8"),
        "number_move.js" => (include_str!("../../assets/number_move.js"), "text/javascript; charset=utf-8"),
        "settings.js" => (include_str!("../../assets/settings.js"), "text/javascript; charset=utf-8"),
        "keys.js" => (include_str!("../../assets/keys.js"), "text/javascript; charset=utf-8"),
        "team.js" => (include_str!("../../assets/team.js"), "text/javascript; charset=utf-8"),
        "templates.js" => (include_str!("../../assets/templates.js"), "text/javascript; charset=utf-8"),
        "template_builder.js" => (include_str!("../../assets/template_builder.js"), "text/javascript; charset=utf-8"),
        "profile.js" => (include_str!("../../assets/profile.js"), "text/javascript; charset=utf-8"),
        "webhooks.js" => (include_str!("../../assets/webhooks.js"), "text/javascript; charset=utf-8"),
        "workflows.js" => (include_str!("../../assets/workflows.js"), "text/javascript; charset=utf-8"),
        "workflow_builder.js" => (include_str!("../../assets/workflow_builder.js"), "text/javascript; charset=utf-8"),
        "fees.js" => (include_str!("../../assets/fees.js"), "text/javascript; charset=utf-8"),
        "fee_money.js" => (include_str!("../../assets/fee_money.js"), "text/javascript; charset=utf-8"),
        "favicon.svg" => (include_str!("../../assets/favicon.svg"), "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value that cannot be written, as a template bug or a failing `Display` would be.
    struct Unwritable;

    impl std::fmt::Display for Unwritable {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }

    #[derive(Template)]
    #[template(source = "<p>{{ value }}</p>", ext = "html")]
    struct BrokenPage {
        value: Unwritable,
    }

    #[tokio::test]
    async fn a_page_that_fails_to_render_is_a_500_never_a_blank_200() {
        let response = render_page(&BrokenPage { value: Unwritable }, StatusCode::OK, &[]);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Something went wrong"));
    }
}

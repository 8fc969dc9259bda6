//! `/invite/{secret}`: where an invited user chooses their password (the link an owner or
//! manager made with `POST /api/v1/users/{id}/invite`), then lands in the inbox, logged in. The
//! form carries a CSRF token like the login form; attempts count against the login limits.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use parley_core::account::check_password;
use serde::Deserialize;

use super::i18n::Locale;
use super::session::{self, LOGIN_COOKIE};
use super::{ClientIp, browser_locale, render_page, server_error_page, start_session};
use crate::auth::hash_token;
use crate::password::hash_password;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    locale: Locale,
    csrf: &'a str,
    /// `None`: the link is not (or no longer) valid.
    invitee: Option<(&'a str, &'a str)>,
    action: &'a str,
    error: Option<&'a str>,
}

impl InvitePage<'_> {
    fn t(&self, key: &str) -> &'static str {
        self.locale.t(key)
    }
}

fn render(
    locale: Locale,
    secret: &str,
    invitee: Option<(&str, &str)>,
    error: Option<&str>,
    status: StatusCode,
    https: bool,
) -> Response {
    let form_secret = session::new_secret();
    let csrf = session::csrf_token(&form_secret);
    let action = format!("/invite/{secret}");
    let invite = InvitePage { locale, csrf: &csrf, invitee, action: &action, error };
    render_page(&invite, status, &[session::set_cookie(LOGIN_COOKIE, Some(&form_secret), 3600, https)])
}

pub async fn invite_page(State(state): State<AppState>, headers: HeaderMap, Path(secret): Path<String>) -> Response {
    let locale = browser_locale(&headers);
    let https = session::is_https(&headers);
    match state.store.invitee(&hash_token(&secret), state.clock.now()).await {
        Ok(Some(user)) => render(locale, &secret, Some((&user.name, user.email.as_str())), None, StatusCode::OK, https),
        Ok(None) => render(locale, &secret, None, None, StatusCode::NOT_FOUND, https),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an invitation");
            server_error_page()
        }
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    password: String,
    csrf: String,
}

pub async fn accept_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(secret): Path<String>,
    Form(form): Form<InviteForm>,
) -> Response {
    let locale = browser_locale(&headers);
    let https = session::is_https(&headers);
    let hash = hash_token(&secret);
    let now = state.clock.now();
    let user = match state.store.invitee(&hash, now).await {
        Ok(Some(user)) => user,
        Ok(None) => return render(locale, &secret, None, None, StatusCode::NOT_FOUND, https),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an invitation");
            return server_error_page();
        }
    };
    let invitee = Some((user.name.as_str(), user.email.as_str()));
    let form_ok = session::cookie(&headers, LOGIN_COOKIE).is_some_and(|s| session::csrf_matches(&s, &form.csrf));
    if !form_ok {
        return render(locale, &secret, invitee, Some(locale.t("login.expired")), StatusCode::FORBIDDEN, https);
    }
    // An address kept waiting for this email by failed logins waits here too; accepting counts
    // nothing (the secret in the link is the credential, too long to guess).
    if state.login_limiter.retry_after(ip, user.email.as_str(), now) > 0 {
        let error = locale.t("login.too_many");
        return render(locale, &secret, invitee, Some(error), StatusCode::TOO_MANY_REQUESTS, https);
    }
    if check_password(&form.password).is_err() {
        let error = locale.t("invite.weak_password");
        return render(locale, &secret, invitee, Some(error), StatusCode::UNPROCESSABLE_ENTITY, https);
    }
    let accepted = match hash_password(form.password).await {
        Ok(password_hash) => state.store.accept_invite(&hash, &password_hash, now).await,
        Err(_) => Err(parley_store::StoreError::Config("cannot hash the password".into())),
    };
    match accepted {
        Ok(user) => start_session(&state, &user, https).await.unwrap_or_else(|()| {
            render(locale, &secret, None, Some(locale.t("error.server")), StatusCode::INTERNAL_SERVER_ERROR, https)
        }),
        // Used or expired between the two reads.
        Err(parley_store::StoreError::NotFound) => render(locale, &secret, None, None, StatusCode::NOT_FOUND, https),
        Err(e) => {
            tracing::error!(error = %e, "cannot accept an invitation");
            render(locale, &secret, invitee, Some(locale.t("error.server")), StatusCode::INTERNAL_SERVER_ERROR, https)
        }
    }
}

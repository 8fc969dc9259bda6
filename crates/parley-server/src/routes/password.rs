//! `PUT /api/v1/me/password`: a user changes their own password. The current password is asked
//! for (a session left open on a shared computer must not be enough to take the account), and
//! the change ends every web session of the user: whoever logged in with the old password is
//! out. A browser that made the change through its session gets a new session (cookie and CSRF
//! token) in the answer, so the person who changed it stays in.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::account::check_password;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::password::{hash_password, verify_password};
use crate::state::AppState;
use crate::web::ClientIp;
use crate::web::session::{self, SESSION_COOKIE, SESSION_SECS};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    /// At least 10 characters.
    new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// The new session's CSRF token, when the change came from the web inbox's session (its
    /// cookie is set in the same answer); `null` for API tokens.
    csrf: Option<String>,
}

/// Change your own password. Every web session of yours ends; API tokens stay.
#[utoipa::path(put, path = "/me/password", tag = "accounts", request_body = PasswordChange,
    responses((status = 200, body = PasswordChanged),
        (status = 403, body = ErrorBody, description = "the current password is wrong (`wrong_password`)"),
        (status = 422, body = ErrorBody, description = "the new password is too weak (`weak_password`)"),
        (status = 429, body = ErrorBody, description = "too many wrong passwords (`too_many_attempts`), as for logins")),
    security(("bearer" = [])))]
async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(input): ApiJson<PasswordChange>,
) -> ApiResult<Response> {
    let user = state.store.user(auth.workspace_id, auth.user_id).await?;
    // Guesses at the current password count like failed logins (a stolen session must not
    // become a way to find the password at full speed).
    let limiter_key = user.email.as_str();
    if let Err(wait) = state.login_limiter.begin(ip, limiter_key, state.clock.now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many wrong passwords: try again in {wait} s"),
        ));
    }
    let stored = state.store.user_for_login(&user.email).await?.and_then(|(_, hash)| hash);
    let current_ok = match stored {
        Some(hash) => verify_password(input.current_password, hash).await,
        None => false,
    };
    if current_ok {
        state.login_limiter.succeeded(ip, limiter_key);
    } else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "the current password is not right")
            .with_field("current_password"));
    }
    check_password(&input.new_password).map_err(|e| ApiError::from(e).with_field("new_password"))?;
    let hash = hash_password(input.new_password).await?;
    state.store.set_password(auth.workspace_id, auth.user_id, &hash, state.clock.now()).await?;
    tracing::info!(user = auth.user_id.get(), "password changed; the user's sessions ended");

    // Through the browser's session (no Authorization header): a fresh session for it.
    let by_session = headers.get(header::AUTHORIZATION).is_none();
    if !by_session {
        return Ok(Json(PasswordChanged { csrf: None }).into_response());
    }
    let secret = crate::web::new_session(&state, &user).await.map_err(|()| ApiError::internal())?;
    let mut response = Json(PasswordChanged { csrf: Some(session::csrf_token(&secret)) }).into_response();
    let cookie = session::set_cookie(SESSION_COOKIE, Some(&secret), SESSION_SECS, session::is_https(&headers));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

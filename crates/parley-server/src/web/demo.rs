//! `/demo/sign-in/{secret}`: the link `parley demo` prints (and opens in a browser) so that the
//! demo starts in its inbox, logged in as the demo owner. It exists only in a server that
//! `parley demo` started with a fresh random secret (`AppState::demo_sign_in`); anywhere else the
//! route answers 404. The secret lives in the process only, as a hash, and works once: a link
//! left in a browser's history or a terminal's scrollback opens nothing afterwards (the demo
//! prints the owner's email and password for later sign-ins).

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_core::ids::{UserId, WorkspaceId};
use subtle::ConstantTimeEq;

use super::session;
use super::start_session;
use crate::auth::hash_token;
use crate::state::AppState;

/// Who the demo's link logs in, and the hash of its secret.
pub struct DemoSignIn {
    secret_hash: String,
    workspace: WorkspaceId,
    user: UserId,
    used: AtomicBool,
}

impl DemoSignIn {
    /// A new link for `user`: the state to keep and the secret to put in the URL.
    pub fn new(workspace: WorkspaceId, user: UserId) -> (DemoSignIn, String) {
        let secret = session::new_secret();
        (DemoSignIn { secret_hash: hash_token(&secret), workspace, user, used: AtomicBool::new(false) }, secret)
    }

    fn matches(&self, secret: &str) -> bool {
        bool::from(self.secret_hash.as_bytes().ct_eq(hash_token(secret).as_bytes()))
    }

    /// True the first time the right secret is shown; false for a wrong one and ever after.
    fn redeem(&self, secret: &str) -> bool {
        self.matches(secret) && !self.used.swap(true, Ordering::SeqCst)
    }
}

pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, Path(secret): Path<String>) -> Response {
    let Some(demo) = state.demo_sign_in.as_deref().filter(|d| d.redeem(&secret)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let user = match state.store.user(demo.workspace, demo.user).await {
        Ok(user) if user.deactivated_at.is_none() => user,
        Ok(_) | Err(parley_store::StoreError::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the demo user");
            return super::server_error_page();
        }
    };
    start_session(&state, &user, session::is_https(&headers))
        .await
        .unwrap_or_else(|()| StatusCode::SERVICE_UNAVAILABLE.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_its_own_secret_matches() {
        let (link, secret) = DemoSignIn::new(WorkspaceId(1), UserId(2));
        assert!(link.matches(&secret));
        assert!(!link.matches(&format!("{secret}x")));
        assert!(!link.matches(""));
        let (_, other) = DemoSignIn::new(WorkspaceId(1), UserId(2));
        assert!(!link.matches(&other), "each link has its own secret");
    }

    #[test]
    fn a_link_works_once() {
        let (link, secret) = DemoSignIn::new(WorkspaceId(1), UserId(2));
        assert!(!link.redeem("wrong"), "a wrong secret does not use it up");
        assert!(link.redeem(&secret));
        assert!(!link.redeem(&secret), "used already");
    }
}

//! Who calls the API. With an API token: `pk_` followed by 64 hex digits (256 random bits), of
//! which only the SHA-256 is stored, enough for a secret of that entropy (passwords, with little
//! entropy, get argon2id instead: see `password.rs`). Or, for the web inbox's scripts, with the
//! session cookie: then every state-changing request must carry the session's CSRF token in
//! `X-CSRF-Token` (see `web/session.rs`).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use parley_core::account::Role;
use parley_core::ids::{UserId, WorkspaceId};
use parley_core::phone::{Region, parse_region};
use parley_store::{NewToken, SessionOwner, TokenOwner, Viewer};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::web::session;

const TOKEN_PREFIX: &str = "pk_";
const DISPLAY_PREFIX_CHARS: usize = 10;

/// A freshly generated token: the secret to hand out once, and what the store keeps.
pub struct IssuedToken {
    pub secret: String,
    pub record: NewToken,
}

pub fn issue_token(name: String) -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let record = NewToken { name, hash: hash_token(&secret), prefix: secret[..DISPLAY_PREFIX_CHARS].to_owned() };
    IssuedToken { secret, record }
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The authenticated caller of an API route.
#[derive(Clone, Copy, Debug)]
pub struct Auth {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    /// The workspace's default region for national-format phone numbers, if it set one.
    pub region: Option<Region>,
}

impl Auth {
    /// What the caller may see: owners and managers every channel, agents shared channels and
    /// the private ones they are a member of. Store queries apply it.
    pub fn viewer(&self) -> Viewer {
        Viewer::of(self.user_id, self.role)
    }

    /// Owners and managers only.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role.can_administer() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only owners and managers may do this"))
        }
    }
}

impl From<TokenOwner> for Auth {
    fn from(o: TokenOwner) -> Self {
        Auth {
            workspace_id: o.workspace_id,
            user_id: o.user_id,
            role: o.role,
            region: o.default_region.as_deref().and_then(parse_region),
        }
    }
}

/// How a request proved who it is: the hash of its API token or of its session secret. A
/// long-lived response (an event stream) keeps it to check again, while it runs, that the
/// credential still holds (see `recheck`).
#[derive(Clone, Debug)]
pub enum Credential {
    Token(String),
    Session(String),
}

/// The caller of a request and the credential it came with.
pub struct Authenticated {
    pub auth: Auth,
    pub credential: Credential,
}

impl From<SessionOwner> for Auth {
    fn from(owner: SessionOwner) -> Self {
        Auth {
            workspace_id: owner.user.workspace_id,
            user_id: owner.user.id,
            role: owner.user.role,
            region: owner.default_region.as_deref().and_then(parse_region),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            if let Some(secret) = session::cookie(&parts.headers, session::SESSION_COOKIE) {
                let auth = session_auth(parts, state, &secret).await?;
                return Ok(Authenticated { auth, credential: Credential::Session(session::session_hash(&secret)) });
            }
            return Err(ApiError::unauthorized("send an API token: Authorization: Bearer <token>"));
        };
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX))
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be: Bearer <token>"))?;
        let hash = hash_token(secret);
        let owner = state
            .store
            .token_owner(&hash)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the API token is unknown or revoked"))?;
        Ok(Authenticated { auth: owner.into(), credential: Credential::Token(hash) })
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Authenticated::from_request_parts(parts, state).await?.auth)
    }
}

/// Who `credential` stands for now: `None` once the token is revoked, the session ended or
/// expired, or the user deactivated (the store's lookups refuse all of these).
pub async fn recheck(state: &AppState, credential: &Credential) -> Result<Option<Auth>, parley_store::StoreError> {
    Ok(match credential {
        Credential::Token(hash) => state.store.token_owner(hash).await?.map(Auth::from),
        Credential::Session(hash) => state.store.session_owner(hash, state.clock.now()).await?.map(Auth::from),
    })
}

/// The caller of a request that came with the web inbox's session cookie.
async fn session_auth(parts: &Parts, state: &AppState, secret: &str) -> Result<Auth, ApiError> {
    let owner = state
        .store
        .session_owner(&session::session_hash(secret), state.clock.now())
        .await?
        .ok_or_else(|| ApiError::unauthorized("the session ended: log in again"))?;
    if !parts.method.is_safe() {
        let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !session::csrf_matches(secret, sent) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "send the page's CSRF token in X-CSRF-Token with the session cookie",
            ));
        }
    }
    Ok(owner.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = issue_token("a".into());
        let b = issue_token("b".into());
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), 3 + 64);
        assert_eq!(a.record.hash, hash_token(&a.secret));
        assert!(!a.record.hash.contains(&a.secret[3..]));
        assert_eq!(a.record.prefix, a.secret[..10]);
    }
}

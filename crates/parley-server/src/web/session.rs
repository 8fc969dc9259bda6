//! Browser sessions: the cookie that carries one and the CSRF token derived from it (the limits
//! on login attempts are in `login_limit.rs`).
//!
//! A session secret is `ps_` and 64 hex digits (256 random bits) in an `HttpOnly`, `SameSite=Lax`
//! cookie; the store keeps only its SHA-256. The CSRF token is a second hash of the secret: the
//! page carries it, and every state-changing request made with the cookie must send it back in
//! `X-CSRF-Token` (or the form field `csrf`). A site that cannot read the page cannot know it.

use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "parley_session";
/// The cookie set on the login page, echoed by its form (a login CSRF guard).
pub const LOGIN_COOKIE: &str = "parley_login";
const SESSION_PREFIX: &str = "ps_";
/// How long a session lasts.
pub const SESSION_SECS: i64 = 7 * 24 * 3600;

/// A new random secret for a session or a login form.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SESSION_PREFIX}{}", hex::encode(bytes))
}

/// What the store keeps of a session secret.
pub fn session_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of the session (or login form) with this secret.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"parley csrf\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Whether `sent` is the CSRF token of `secret`, compared in constant time.
pub fn csrf_matches(secret: &str, sent: &str) -> bool {
    let expected = csrf_token(secret);
    expected.len() == sent.len() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers, if it looks like our secret.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| v.starts_with(SESSION_PREFIX) && v.len() == SESSION_PREFIX.len() + 64)
}

/// A `Set-Cookie` value for `name`: HttpOnly, SameSite=Lax, for the whole site; `Secure` when
/// the request came over HTTPS (behind a proxy that says so). `None` clears it.
pub fn set_cookie(name: &str, value: Option<&str>, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// Whether the request reached us over HTTPS through a TLS proxy saying so (`X-Forwarded-Proto`,
/// the first value of a list: the proxy nearest the browser). A forged header only changes what
/// the forger's own browser is told (a `Secure` cookie, HSTS), so any peer is believed here.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_their_csrf_tokens_are_bound_to_them() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert_ne!(session_hash(&a), csrf_token(&a));
        assert!(!session_hash(&a).contains(&a[3..]));
    }

    #[test]
    fn the_session_cookie_is_read_among_others_and_junk_is_ignored() {
        let secret = new_secret();
        let mut headers = HeaderMap::new();
        headers.insert("cookie", format!("theme=dark; {SESSION_COOKIE}={secret}; x=1").parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some(secret));
        headers.insert("cookie", format!("{SESSION_COOKIE}=ps_short").parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
        assert_eq!(cookie(&HeaderMap::new(), SESSION_COOKIE), None);
    }

    #[test]
    fn cookies_are_http_only_and_lax_and_secure_over_https() {
        let c = set_cookie(SESSION_COOKIE, Some("ps_x"), 60, true);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure") && c.contains("Max-Age=60")
        );
        assert!(!set_cookie(SESSION_COOKIE, None, 0, false).contains("Secure"));
    }
}

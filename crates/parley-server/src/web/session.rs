//! Browser sessions: the cookie that carries one, the CSRF token derived from it, and the limit
//! on login attempts.
//!
//! A session secret is `ps_` and 64 hex digits (256 random bits) in an `HttpOnly`, `SameSite=Lax`
//! cookie; the store keeps only its SHA-256. The CSRF token is a second hash of the secret: the
//! page carries it, and every state-changing request made with the cookie must send it back in
//! `X-CSRF-Token` (or the form field `csrf`). A site that cannot read the page cannot know it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
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

/// Whether the request reached us over HTTPS (directly or through a proxy saying so).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Login attempts allowed per address and per email: a burst of 10, then one every 6 seconds.
#[derive(Clone)]
pub struct LoginLimiter {
    by_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    by_email: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(Quota::per_minute(NonZeroU32::new(10).expect("non-zero")))
    }
}

impl LoginLimiter {
    /// A burst of 10 attempts, refilled at `quota`'s pace (tests pick a slow one, so a slow
    /// machine does not refill the limit in the middle of a test).
    pub fn new(quota: Quota) -> Self {
        let quota = quota.allow_burst(NonZeroU32::new(10).expect("non-zero"));
        LoginLimiter { by_ip: Arc::new(RateLimiter::keyed(quota)), by_email: Arc::new(RateLimiter::keyed(quota)) }
    }

    /// Counts an attempt; false when this address or this email tried too often.
    pub fn allow(&self, ip: Option<IpAddr>, email: &str) -> bool {
        let ip_ok = ip.is_none_or(|ip| self.by_ip.check_key(&ip).is_ok());
        let email_ok = self.by_email.check_key(&email.trim().to_lowercase()).is_ok();
        // Forget keys that are whole again, so the maps do not grow without bound.
        if self.by_email.len() > 100_000 {
            self.by_email.retain_recent();
            self.by_ip.retain_recent();
        }
        ip_ok && email_ok
    }
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

    #[test]
    fn login_attempts_are_limited_per_address_and_per_email() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..10 {
            assert!(limiter.allow(Some(ip), &format!("user{i}@acme.example")), "attempt {i}");
        }
        assert!(!limiter.allow(Some(ip), "fresh@acme.example"), "the address is spent");
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        for i in 0..10 {
            assert!(limiter.allow(Some(other), "Same@acme.example"), "attempt {i} on one email");
        }
        assert!(!limiter.allow(Some("127.0.0.3".parse().unwrap()), "same@ACME.example"), "the email is spent");
    }
}

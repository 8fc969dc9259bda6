//! MessageBird's and Bird's request signing (spec `bsp-and-peers.md` §4.2), checked on what
//! arrived, before parsing. Three generations: `MessageBird-Signature-JWT` (below), and two
//! HMACs with `MessageBird-Request-Timestamp` (`HmacScheme`). The JWT header is a JWT signed (HS256, HS384 or HS512) with the account's *signing
//! key* (not its API key) whose claims bind the request: `iss` is `MessageBird`; `nbf` and `exp`
//! bound its life (one second of leeway, on Parley's clock); `url_hash` is the hex SHA-256 of
//! the full URL requested; `payload_hash` the hex SHA-256 of the raw body, present exactly
//! when there is a body; `jti`, when present, names the request once (the server refuses a
//! `jti` it has seen: a replay inside the token's life). Facts cross-checked with MessageBird's
//! own `RequestValidator` (`tests/api/provider_signatures.rs`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parley_core::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const JWT_HEADER: &str = "messagebird-signature-jwt";
pub const ISSUER: &str = "MessageBird";
/// Clock skew allowed on `nbf` and `exp`, in seconds (as MessageBird's own validator).
const LEEWAY_SECS: i64 = 1;

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    pub url_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no MessageBird-Signature-JWT header")]
    Missing,
    #[error("the signature token is not valid: {0}")]
    Token(String),
    #[error("the signature token has expired")]
    Expired,
    #[error("the signature token is not valid yet")]
    NotYet,
    #[error("the signature token was made for another URL")]
    UrlHash,
    #[error("the signature token does not match the body")]
    PayloadHash,
    #[error("the request's timestamp is missing, not a number or not within ten seconds of now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks a request: `url` is the full URL requested (scheme, host, path and query as
/// received), `body` the raw body, `token` the header's value.
pub fn verify(
    signing_key: &str,
    url: &str,
    body: &[u8],
    token: Option<&str>,
    now: Timestamp,
) -> Result<Claims, Refused> {
    let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or(Refused::Missing)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["iss", "nbf", "exp"]);
    // Times are checked below on Parley's clock (the tests move it), not the system's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let key = DecodingKey::from_secret(signing_key.as_bytes()).map_err(|e| Refused::Token(e.to_string()))?;
    let claims =
        jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| Refused::Token(e.to_string()))?.claims;
    let secs = now.as_secs();
    if secs > claims.exp + LEEWAY_SECS {
        return Err(Refused::Expired);
    }
    if claims.nbf > secs + LEEWAY_SECS {
        return Err(Refused::NotYet);
    }
    if !same(&claims.url_hash, &sha256_hex(url.as_bytes())) {
        return Err(Refused::UrlHash);
    }
    match (&claims.payload_hash, body.is_empty()) {
        (None, true) => {}
        (Some(hash), false) if same(hash, &sha256_hex(body)) => {}
        _ => return Err(Refused::PayloadHash),
    }
    Ok(claims)
}

/// The header MessageBird would send for a request to `url` with `body` at `now`, valid for
/// `life_secs` (the sandbox signs with it).
pub fn sign(signing_key: &str, url: &str, body: &[u8], now: Timestamp, life_secs: i64, jti: Option<String>) -> String {
    let claims = Claims {
        iss: ISSUER.to_owned(),
        nbf: now.as_secs(),
        exp: now.as_secs() + life_secs,
        jti,
        url_hash: sha256_hex(url.as_bytes()),
        payload_hash: (!body.is_empty()).then(|| sha256_hex(body)),
    };
    // Any bytes make an HMAC key, and HMAC signing of serialisable claims cannot fail.
    let key = EncodingKey::from_secret(signing_key.as_bytes()).expect("an HMAC key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("an HS256 token")
}

/// The HMAC generations: `MessageBird-Signature` with `MessageBird-Request-Timestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HmacScheme {
    /// MessageBird's older signing: the timestamp, the query's `name=value` pairs sorted and
    /// joined with `&`, and the body's raw SHA-256, on three lines.
    Legacy,
    /// Bird's current signing (from Bird's staff, not a published document): the timestamp, the
    /// full URL, and the body's raw SHA-256, on three lines.
    Bird,
}

pub const HMAC_HEADER: &str = "messagebird-signature";
pub const TIMESTAMP_HEADER: &str = "messagebird-request-timestamp";
/// How far a signed timestamp may be from Parley's clock (MessageBird's SDKs' default).
const HMAC_WINDOW_SECS: i64 = 10;

fn hmac_text(scheme: HmacScheme, url: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let middle = match scheme {
        HmacScheme::Bird => url.to_owned(),
        HmacScheme::Legacy => {
            let query = url.split_once('?').map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
            let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
            pairs.sort_unstable();
            pairs.join("&")
        }
    };
    let mut text = format!("{timestamp}\n{middle}\n").into_bytes();
    text.extend_from_slice(&Sha256::digest(body));
    text
}

fn hmac_sha256(key: &str, text: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

/// The `MessageBird-Signature` value for a request signed at `timestamp` (seconds).
pub fn sign_hmac(signing_key: &str, scheme: HmacScheme, url: &str, body: &[u8], timestamp: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(signing_key, &hmac_text(scheme, url, body, &timestamp.to_string())))
}

/// Checks an HMAC-signed request: its timestamp within ten seconds of `now`, its signature.
pub fn verify_hmac(
    signing_key: &str,
    scheme: HmacScheme,
    url: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: Timestamp,
) -> Result<(), Refused> {
    use base64::Engine as _;
    let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(Refused::Missing)?;
    let timestamp = timestamp.map(str::trim).ok_or(Refused::Stale)?;
    let secs: i64 = timestamp.parse().map_err(|_| Refused::Stale)?;
    if (now.as_secs() - secs).abs() > HMAC_WINDOW_SECS {
        return Err(Refused::Stale);
    }
    let given = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| Refused::Mismatch)?;
    let expected = hmac_sha256(signing_key, &hmac_text(scheme, url, body, timestamp));
    if given.len() == expected.len() && bool::from(given.ct_eq(&expected)) { Ok(()) } else { Err(Refused::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "PlLrKaqvZNRR5zAjm42ZT6q1SQxgbbGd";
    const URL: &str = "https://parley.example.com/webhooks/messagebird/k?example=42";
    const BODY: &[u8] = br#"{"type":"message.created","message":{"id":"m1"}}"#;
    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn a_signed_request_passes_and_any_change_is_refused() {
        let token = sign(KEY, URL, BODY, NOW, 60, Some("j1".into()));
        let claims = verify(KEY, URL, BODY, Some(&token), NOW).unwrap();
        assert_eq!((claims.iss.as_str(), claims.jti.as_deref()), ("MessageBird", Some("j1")));
        assert_eq!(
            verify(KEY, URL, br#"{"type":"message.created","message":{"id":"m2"}}"#, Some(&token), NOW),
            Err(Refused::PayloadHash)
        );
        assert_eq!(verify(KEY, &URL.replace("42", "43"), BODY, Some(&token), NOW), Err(Refused::UrlHash));
        assert_eq!(
            verify(KEY, URL, b"", Some(&token), NOW),
            Err(Refused::PayloadHash),
            "a body the token named is gone"
        );
        assert!(matches!(verify("another-key", URL, BODY, Some(&token), NOW), Err(Refused::Token(_))));
        assert_eq!(verify(KEY, URL, BODY, None, NOW), Err(Refused::Missing));
        assert!(matches!(verify(KEY, URL, BODY, Some("not.a.jwt"), NOW), Err(Refused::Token(_))));
        let mut tampered = token.clone().into_bytes();
        let at = tampered.len() - 3;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(verify(KEY, URL, BODY, Some(&tampered), NOW), Err(Refused::Token(_))));
    }

    #[test]
    fn an_empty_body_has_no_payload_hash() {
        let token = sign(KEY, URL, b"", NOW, 60, None);
        assert!(verify(KEY, URL, b"", Some(&token), NOW).is_ok());
        assert_eq!(
            verify(KEY, URL, BODY, Some(&token), NOW),
            Err(Refused::PayloadHash),
            "a body the token did not name"
        );
    }

    #[test]
    fn the_token_lives_from_nbf_to_exp_with_a_second_of_leeway() {
        let token = sign(KEY, URL, BODY, NOW, 60, None);
        assert!(verify(KEY, URL, BODY, Some(&token), NOW.plus_secs(61)).is_ok(), "leeway");
        assert_eq!(verify(KEY, URL, BODY, Some(&token), NOW.plus_secs(62)), Err(Refused::Expired));
        assert!(verify(KEY, URL, BODY, Some(&token), NOW.plus_secs(-1)).is_ok(), "leeway");
        assert_eq!(verify(KEY, URL, BODY, Some(&token), NOW.plus_secs(-2)), Err(Refused::NotYet));
    }

    #[test]
    fn hmac_signed_requests_pass_within_ten_seconds_and_changes_are_refused() {
        let at = NOW.as_secs().to_string();
        for scheme in [HmacScheme::Legacy, HmacScheme::Bird] {
            let sig = sign_hmac(KEY, scheme, URL, BODY, NOW.as_secs());
            let check = |url: &str, body: &[u8], ts: Option<&str>, now: Timestamp| {
                verify_hmac(KEY, scheme, url, body, Some(&sig), ts, now)
            };
            assert_eq!(check(URL, BODY, Some(&at), NOW), Ok(()), "{scheme:?}");
            assert_eq!(check(URL, BODY, Some(&at), NOW.plus_secs(10)), Ok(()), "{scheme:?}");
            assert_eq!(
                check(URL, BODY, Some(&at), NOW.plus_secs(11)),
                Err(Refused::Stale),
                "{scheme:?}: replayed later"
            );
            assert_eq!(check(URL, BODY, Some(&at), NOW.plus_secs(-11)), Err(Refused::Stale), "{scheme:?}");
            assert_eq!(check(URL, BODY, None, NOW), Err(Refused::Stale), "{scheme:?}");
            assert_eq!(check(URL, BODY, Some("soon"), NOW), Err(Refused::Stale), "{scheme:?}");
            assert_eq!(check(URL, b"{}", Some(&at), NOW), Err(Refused::Mismatch), "{scheme:?}");
            let moved = (NOW.as_secs() + 1).to_string();
            assert_eq!(check(URL, BODY, Some(&moved), NOW), Err(Refused::Mismatch), "{scheme:?}: the time is signed");
            assert_eq!(verify_hmac(KEY, scheme, URL, BODY, None, Some(&at), NOW), Err(Refused::Missing));
            assert_eq!(verify_hmac("other", scheme, URL, BODY, Some(&sig), Some(&at), NOW), Err(Refused::Mismatch));
        }
        // Legacy signs the sorted query, so the order of its pairs does not matter; Bird signs
        // the URL as it is.
        let legacy = sign_hmac(KEY, HmacScheme::Legacy, "https://h/p?b=2&a=1", BODY, NOW.as_secs());
        assert_eq!(
            verify_hmac(KEY, HmacScheme::Legacy, "https://h/p?a=1&b=2", BODY, Some(&legacy), Some(&at), NOW),
            Ok(())
        );
        let bird = sign_hmac(KEY, HmacScheme::Bird, "https://h/p?b=2&a=1", BODY, NOW.as_secs());
        let refused = verify_hmac(KEY, HmacScheme::Bird, "https://h/p?a=1&b=2", BODY, Some(&bird), Some(&at), NOW);
        assert_eq!(refused, Err(Refused::Mismatch));
    }

    #[test]
    fn another_issuer_or_algorithm_is_refused() {
        let claims = Claims {
            iss: "Someone".into(),
            nbf: NOW.as_secs(),
            exp: NOW.as_secs() + 60,
            jti: None,
            url_hash: sha256_hex(URL.as_bytes()),
            payload_hash: Some(sha256_hex(BODY)),
        };
        let key = EncodingKey::from_secret(KEY.as_bytes()).unwrap();
        let other = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(matches!(verify(KEY, URL, BODY, Some(&other), NOW), Err(Refused::Token(_))));
        let messagebird = Claims { iss: ISSUER.into(), ..claims };
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &messagebird, &key).unwrap();
        assert!(verify(KEY, URL, BODY, Some(&hs512), NOW).is_ok(), "HS512 is one of MessageBird's");
    }
}

//! `Stripe-Signature`: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, where each `v1` is the
//! HMAC-SHA256 of `<t>.<raw body>` keyed with the endpoint's signing secret (`whsec_…`). A
//! webhook is taken when one `v1` matches (in constant time) and `t` is within the tolerance
//! of now: a captured request replayed later is refused by its age, and one replayed at once by
//! its event id (the store keeps the ids it took).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "stripe-signature";
/// How old a signature may be, as Stripe's own libraries default to.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header, or one without t= and v1=")]
    Missing,
    #[error("no v1 signature matches the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance (a replay?)")]
    Expired,
}

/// The header Stripe would send for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

/// Checks `header` against `body` at `now` (unix seconds).
pub fn verify(secret: &str, body: &[u8], header: Option<&str>, now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.extend(hex::decode(sig).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return Err(SignatureError::Missing) };
    if signatures.is_empty() {
        return Err(SignatureError::Missing);
    }
    let expected = mac(secret, timestamp, body);
    if !signatures.iter().any(|s| s.len() == expected.len() && bool::from(s.ct_eq(&expected))) {
        return Err(SignatureError::Mismatch);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;

    #[test]
    fn a_signature_of_the_body_within_the_tolerance_is_taken() {
        let header = sign(SECRET, 1_000, BODY);
        assert_eq!(verify(SECRET, BODY, Some(&header), 1_000), Ok(()));
        assert_eq!(verify(SECRET, BODY, Some(&header), 1_300), Ok(()));
        // Several v1 (a secret being rolled): one matching is enough.
        let two = format!("t=1000,v1={},{}", "00".repeat(32), header.split_once(',').unwrap().1);
        assert_eq!(verify(SECRET, BODY, Some(&two), 1_000), Ok(()));
    }

    #[test]
    fn forged_changed_old_or_missing_signatures_are_refused() {
        let header = sign(SECRET, 1_000, BODY);
        assert_eq!(verify("whsec_other", BODY, Some(&header), 1_000), Err(SignatureError::Mismatch));
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert_eq!(verify(SECRET, &changed, Some(&header), 1_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, BODY, Some(&header), 1_301), Err(SignatureError::Expired), "replayed later");
        let moved = header.replace("t=1000", "t=1300");
        assert_eq!(verify(SECRET, BODY, Some(&moved), 1_300), Err(SignatureError::Mismatch), "a new t is signed too");
        assert_eq!(verify(SECRET, BODY, None, 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, BODY, Some("t=1000"), 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, BODY, Some("v1=abcd"), 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, BODY, Some("t=x,v1=zz"), 1_000), Err(SignatureError::Missing));
    }
}

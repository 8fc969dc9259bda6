//! `X-Hub-Signature-256`: `sha256=` + lowercase hex HMAC-SHA256 of the raw body, keyed with the
//! app secret. Verified on the raw bytes, before parsing, in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "x-hub-signature-256";

/// The header value Meta would send for `body`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(app_secret, body)))
}

/// Whether `header` is a valid signature of `body` under `app_secret`.
pub fn verify(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(given) = hex::decode(hex_sig) else { return false };
    let expected = mac(app_secret, body);
    given.len() == expected.len() && bool::from(given.ct_eq(&expected))
}

fn mac(app_secret: &str, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of spec/meta-cloud-api.md §1.2.
    const BODY: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"300000000000001"},"messages":[{"from":"16505550101","id":"wamid.TEST1","timestamp":"1750000000","type":"text","text":{"body":"hi"}}]}}]}]}"#;
    const SIG: &str = "sha256=253798db0492599f0909a691c2b81181a99507ace7241f7abaf369acd369a297";

    #[test]
    fn matches_the_spec_vector() {
        assert_eq!(BODY.len(), 348);
        assert_eq!(sign("test_app_secret", BODY.as_bytes()), SIG);
        assert!(verify("test_app_secret", BODY.as_bytes(), Some(SIG)));
    }

    #[test]
    fn rejects_forgeries() {
        assert!(!verify("other_secret", BODY.as_bytes(), Some(SIG)));
        assert!(!verify("test_app_secret", b"{}", Some(SIG)));
        assert!(!verify("test_app_secret", BODY.as_bytes(), None));
        assert!(!verify("test_app_secret", BODY.as_bytes(), Some("sha1=abc")));
        assert!(!verify("test_app_secret", BODY.as_bytes(), Some("sha256=zz")));
        assert!(!verify("test_app_secret", BODY.as_bytes(), Some(&SIG[..SIG.len() - 2])));
        // Uppercase hex is still the same bytes.
        assert!(verify("test_app_secret", BODY.as_bytes(), Some(&SIG.to_uppercase().replace("SHA256=", "sha256="))));
    }
}

//! `X-Twilio-Signature` (spec `bsp-and-peers.md` §3.3), checked on what arrived, before parsing.
//!
//! The signed text is the URL Twilio requested, then the form's parameters: names in sorted
//! order, and under each name its distinct values in sorted order, each written as name then
//! value. The header is the base64 of its HMAC keyed with the account's Auth Token (SHA-1), or
//! with a SharedKey secret (SHA-256) when `X-Twilio-Webhooks-Signature-Settings` names
//! `HMAC_SHA256`. A JSON body is signed through its URL instead: the URL's `bodySHA256` is the
//! body's hex SHA-256 and the signature covers the URL alone. Twilio does not always write the
//! default port into the URL it signs, so `https://host/x` and `https://host:443/x` both pass.
//! Facts cross-checked with Twilio's own `RequestValidator` (`tests/api/provider_signatures.rs`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const HEADER: &str = "x-twilio-signature";
pub const SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";

/// The HMAC's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Keyed with the Auth Token: every account's default.
    Sha1,
    /// Keyed with a SharedKey secret.
    Sha256,
}

impl Algorithm {
    /// The algorithm the settings header names (`key=…,algorithm=HMAC_SHA256`); SHA-1 when
    /// there is no header or it names none; `None` for one Parley does not know (refused).
    pub fn from_settings(header: Option<&str>) -> Option<Algorithm> {
        let named = header.unwrap_or("").split(',').find_map(|part| {
            let (name, value) = part.split_once('=')?;
            (name.trim() == "algorithm" && !value.trim().is_empty()).then(|| value.trim().to_ascii_uppercase())
        });
        match named.as_deref() {
            None | Some("HMAC_SHA1") => Some(Algorithm::Sha1),
            Some("HMAC_SHA256") => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no X-Twilio-Signature header")]
    Missing,
    #[error("the signature settings name an algorithm Parley does not know")]
    UnknownAlgorithm,
    #[error("a JSON body without bodySHA256 in its URL, or one that does not match it")]
    BodyHash,
    #[error("the signature does not match")]
    Mismatch,
}

/// The body as it arrived: a form (`application/x-www-form-urlencoded`, Twilio's usual) or
/// anything else (JSON), which is signed through the URL's `bodySHA256`.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    Form(&'a [u8]),
    Json(&'a [u8]),
}

/// The header value Twilio would send for a form post of `params` to `url`.
pub fn sign(secret: &str, algorithm: Algorithm, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(secret, algorithm, &signed_text(url, params)))
}

/// The URL Twilio would post a JSON `body` to: `url` with `bodySHA256` added.
pub fn json_url(url: &str, body: &[u8]) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}bodySHA256={}", hex::encode(Sha256::digest(body)))
}

/// Checks a request's signature. `url` is the URL Twilio requested (as configured in Twilio,
/// with its query as received); `settings` is `X-Twilio-Webhooks-Signature-Settings`.
pub fn verify(
    secret: &str,
    url: &str,
    body: Body<'_>,
    signature: Option<&str>,
    settings: Option<&str>,
) -> Result<(), Refused> {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(Refused::Missing)?;
    let algorithm = Algorithm::from_settings(settings).ok_or(Refused::UnknownAlgorithm)?;
    let params = match body {
        Body::Form(form) => form_urlencoded::parse(form).into_owned().collect(),
        Body::Json(json) => {
            let query = url.split_once('?').map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
            let given = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256").map(|(_, v)| v);
            let expected = hex::encode(Sha256::digest(json));
            let matches =
                given.is_some_and(|g| bool::from(g.to_ascii_lowercase().as_bytes().ct_eq(expected.as_bytes())));
            if !matches {
                return Err(Refused::BodyHash);
            }
            Vec::new()
        }
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return Err(Refused::Mismatch);
    };
    let fits = port_spellings(url).iter().any(|candidate| {
        let expected = mac(secret, algorithm, &signed_text(candidate, &params));
        given.len() == expected.len() && bool::from(given.ct_eq(&expected))
    });
    if fits { Ok(()) } else { Err(Refused::Mismatch) }
}

/// The URL followed by each sorted name's sorted distinct values.
fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut text = String::from(url);
    for (name, value) in pairs {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

fn mac(secret: &str, algorithm: Algorithm, text: &str) -> Vec<u8> {
    // HMAC accepts keys of any length: these cannot fail.
    match algorithm {
        Algorithm::Sha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(text.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
            mac.update(text.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// The URL as written, and with its default port added or removed (`:443` for https, `:80`
/// otherwise): the two spellings Twilio may have signed.
fn port_spellings(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else { return vec![url.to_owned()] };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // The host and port come after any user info; an IPv6 host is in brackets.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let port_at = host_port.rfind(':').filter(|&i| !host_port[i..].contains(']'));
    let other = match port_at {
        Some(i) => format!("{scheme}://{}{}{path}", &authority[..host_start], &host_port[..i]),
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
            format!("{scheme}://{authority}:{port}{path}")
        }
    };
    vec![url.to_owned(), other]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(String, String)> {
        [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"), ("From", "+12349013030")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn form(params: &[(String, String)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish().into_bytes()
    }

    #[test]
    fn a_form_post_signed_with_the_auth_token_passes_and_a_changed_byte_does_not() {
        let signature = sign(TOKEN, Algorithm::Sha1, URL, &params());
        let body = form(&params());
        assert_eq!(verify(TOKEN, URL, Body::Form(&body), Some(&signature), None), Ok(()));
        // The order of the form's fields does not matter; their content does.
        let mut reordered = params();
        reordered.reverse();
        assert_eq!(verify(TOKEN, URL, Body::Form(&form(&reordered)), Some(&signature), None), Ok(()));
        let mut changed = body.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(verify(TOKEN, URL, Body::Form(&changed), Some(&signature), None), Err(Refused::Mismatch));
        let other_url = URL.replace("foo=1", "foo=2");
        assert_eq!(verify(TOKEN, &other_url, Body::Form(&body), Some(&signature), None), Err(Refused::Mismatch));
        assert_eq!(verify("54321", URL, Body::Form(&body), Some(&signature), None), Err(Refused::Mismatch));
        assert_eq!(verify(TOKEN, URL, Body::Form(&body), None, None), Err(Refused::Missing));
        assert_eq!(verify(TOKEN, URL, Body::Form(&body), Some("not base64!"), None), Err(Refused::Mismatch));
    }

    #[test]
    fn the_default_port_may_or_may_not_be_in_the_signed_url() {
        let body = form(&params());
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let signed_with = sign(TOKEN, Algorithm::Sha1, with_port, &params());
        let signed_without = sign(TOKEN, Algorithm::Sha1, URL, &params());
        for url in [URL, with_port] {
            for signature in [&signed_with, &signed_without] {
                assert_eq!(verify(TOKEN, url, Body::Form(&body), Some(signature), None), Ok(()), "{url}");
            }
        }
        // Another port is another URL.
        let other = sign(TOKEN, Algorithm::Sha1, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", &params());
        assert_eq!(verify(TOKEN, URL, Body::Form(&body), Some(&other), None), Err(Refused::Mismatch));
        assert_eq!(
            port_spellings("http://u:p@[::1]:80/x"),
            ["http://u:p@[::1]:80/x".to_owned(), "http://u:p@[::1]/x".to_owned()]
        );
        assert_eq!(
            port_spellings("http://[::1]/x?a=b"),
            ["http://[::1]/x?a=b".to_owned(), "http://[::1]:80/x?a=b".to_owned()]
        );
    }

    #[test]
    fn repeated_names_sign_their_distinct_values_in_order() {
        let listed =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let a = listed(&[("MediaUrl", "b"), ("Body", "x"), ("MediaUrl", "a")]);
        assert_eq!(signed_text("u", &a), "uBodyxMediaUrlaMediaUrlb");
        let b = listed(&[("MediaUrl", "a"), ("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "x")]);
        assert_eq!(signed_text("u", &b), signed_text("u", &a), "a value repeated counts once");
    }

    #[test]
    fn json_bodies_are_signed_through_the_url() {
        let body = br#"{"MessageSid":"SM1","MessageStatus":"delivered"}"#;
        let url = json_url("https://parley.example.com/webhooks/twilio/k", body);
        let signature = sign(TOKEN, Algorithm::Sha1, &url, &[]);
        assert_eq!(verify(TOKEN, &url, Body::Json(body), Some(&signature), None), Ok(()));
        let altered = br#"{"MessageSid":"SM1","MessageStatus":"read"}"#;
        assert_eq!(verify(TOKEN, &url, Body::Json(altered), Some(&signature), None), Err(Refused::BodyHash));
        let bare = "https://parley.example.com/webhooks/twilio/k";
        let unhashed = sign(TOKEN, Algorithm::Sha1, bare, &[]);
        assert_eq!(verify(TOKEN, bare, Body::Json(body), Some(&unhashed), None), Err(Refused::BodyHash));
    }

    #[test]
    fn a_shared_key_signs_with_sha256_when_the_settings_say_so() {
        let settings = Some("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256");
        let body = form(&params());
        let signature = sign("shared-secret", Algorithm::Sha256, URL, &params());
        assert_eq!(verify("shared-secret", URL, Body::Form(&body), Some(&signature), settings), Ok(()));
        assert_eq!(verify("shared-secret", URL, Body::Form(&body), Some(&signature), None), Err(Refused::Mismatch));
        let unknown = Some("key=k,algorithm=HMAC_MD5");
        assert_eq!(
            verify("shared-secret", URL, Body::Form(&body), Some(&signature), unknown),
            Err(Refused::UnknownAlgorithm)
        );
        assert_eq!(Algorithm::from_settings(Some("key=k")), Some(Algorithm::Sha1));
    }
}

//! 360dialog, a BSP in front of Meta's Cloud API (spec/bsp-and-peers.md §5). Its sends, media
//! and webhooks are Meta's shapes, so the Cloud API client (`meta::client`, with
//! [`Gateway::Dialog360`](crate::meta::client::Gateway)) and Meta's webhook parser serve it; what
//! differs is here:
//!
//! - the key: `D360-API-KEY`, one per number; paths without the phone number id;
//! - media: the URL Meta answers is fetched through 360dialog's host ([`media_url`]);
//! - templates: `GET|POST /v1/configs/templates`, `DELETE /v1/configs/templates/<name>`;
//! - webhooks: 360dialog does not sign them like Meta. Parley registers the number's webhook
//!   itself (`POST /v1/configs/webhook {url, headers}`) with a secret header token of its own
//!   ([`WEBHOOK_TOKEN_HEADER`]) on top of the secret path; a post without that token is refused.
//!   Where the partner has set up 360dialog's signature (`x-360dialog-signature`, HMAC-SHA256
//!   of the body with the partner's secret), that is required too ([`verify_webhook`]).

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::guard::{AllowList, DIALOG360_HOSTS, Refused, Targets, check_url};
use crate::meta::client::{GraphClient, GraphError, check};
use crate::meta::manage::ManageError;

/// 360dialog's Cloud API, the default base URL of a 360dialog channel.
pub const DEFAULT_API_BASE_URL: &str = "https://waba-v2.360dialog.io";

/// The header carrying a number's API key.
pub const API_KEY_HEADER: &str = "D360-API-KEY";

/// Where a number's templates are listed, created and deleted (relative to the base URL).
pub const TEMPLATES_PATH: &str = "v1/configs/templates";

/// Where a number's webhook is set (relative to the base URL).
pub const WEBHOOK_CONFIG_PATH: &str = "v1/configs/webhook";

/// The header Parley asks 360dialog to send with every webhook: the channel's webhook token.
pub const WEBHOOK_TOKEN_HEADER: &str = "x-parley-webhook-token";

/// 360dialog's partner-level webhook signature: hex HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "x-360dialog-signature";

/// Templates asked per page of the list.
const PAGE: usize = 250;

/// Whether a 360dialog channel's API base URL passes the outbound guard (360dialog's hosts, or
/// one the server allows, such as the sandbox).
pub fn check_api_base_url(base_url: &str, allow: &AllowList) -> Result<(), Refused> {
    check_url(base_url, Targets::Official(DIALOG360_HOSTS), allow).map(|_| ())
}

/// The download URL of a file on 360dialog: the path and query of the URL Meta answered
/// (`https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…&ext=…&hash=…`) on the
/// channel's base URL. The host Meta named is never called with the key.
pub fn media_url(base_url: &str, meta_url: &str) -> Result<String, Refused> {
    let parsed = reqwest::Url::parse(meta_url).map_err(|_| Refused::Malformed)?;
    let mut out = format!("{}{}", base_url.trim_end_matches('/'), parsed.path());
    if let Some(query) = parsed.query() {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Why a webhook post was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefused {
    #[error("missing or wrong x-parley-webhook-token")]
    Token,
    #[error("missing or invalid x-360dialog-signature")]
    Signature,
}

/// Checks a webhook post: the channel's header token (always), and 360dialog's partner
/// signature when the channel has a partner secret (`partner_secret` not empty). Both compared
/// in constant time.
pub fn verify_webhook(
    token: &str,
    partner_secret: &str,
    body: &[u8],
    token_header: Option<&str>,
    signature_header: Option<&str>,
) -> Result<(), WebhookRefused> {
    let token_ok = !token.is_empty() && token_header.is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())));
    if !token_ok {
        return Err(WebhookRefused::Token);
    }
    if partner_secret.is_empty() {
        return Ok(());
    }
    let given = signature_header.map(|s| s.trim().trim_start_matches("sha256=")).and_then(|s| hex::decode(s).ok());
    let mut mac = Hmac::<Sha256>::new_from_slice(partner_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    match given {
        Some(given) if mac.verify_slice(&given).is_ok() => Ok(()),
        _ => Err(WebhookRefused::Signature),
    }
}

/// The partner signature of `body` (for the sandbox and tests).
pub fn sign(partner_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(partner_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl GraphClient {
    /// `GET /v1/configs/templates`, page by page (`limit`, `offset`): the templates as Meta
    /// lists them (`waba_templates`).
    pub(crate) async fn list_360dialog_templates(&self) -> Result<Vec<Value>, GraphError> {
        let mut out = Vec::new();
        for page in 0..100 {
            let url = format!("{}/{TEMPLATES_PATH}?limit={PAGE}&offset={}", self.base_url, page * PAGE);
            let resp = self
                .authorized(self.http.get(&url))
                .send()
                .await
                .map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            let answer: Value =
                check(resp).await?.json().await.map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            let items = answer.get("waba_templates").and_then(Value::as_array).cloned().unwrap_or_default();
            let total = answer.get("total").and_then(Value::as_u64);
            let got = items.len();
            out.extend(items);
            if got < PAGE || total.is_some_and(|t| out.len() as u64 >= t) {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /v1/configs/webhook {url, headers}`: 360dialog posts the number's webhooks to `url`
    /// with Parley's token header. Replaces what was set before.
    pub async fn register_webhook(&self, url: &str, token: &str) -> Result<(), ManageError> {
        let body = json!({"url": url, "headers": {WEBHOOK_TOKEN_HEADER: token}});
        self.call(reqwest::Method::POST, WEBHOOK_CONFIG_PATH, Some(&body)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_fetched_through_the_channels_host_with_metas_query() {
        let meta = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=123&ext=1700000000&hash=AbC-_";
        assert_eq!(
            media_url("https://waba-v2.360dialog.io/", meta).unwrap(),
            "https://waba-v2.360dialog.io/whatsapp_business/attachments/?mid=123&ext=1700000000&hash=AbC-_"
        );
        assert_eq!(media_url("https://waba-v2.360dialog.io", "not a url"), Err(Refused::Malformed));
        // Whatever host Meta's URL names, the request goes to the channel's base URL.
        let elsewhere = media_url("https://waba-v2.360dialog.io", "https://attacker.example/x?y=1").unwrap();
        assert!(elsewhere.starts_with("https://waba-v2.360dialog.io/x"));
    }

    /// reqwest strips `Authorization` when a redirect leaves the host, not `D360-API-KEY`: the
    /// 360dialog client must follow no redirect, so the key never reaches another host.
    #[tokio::test]
    async fn the_key_never_follows_a_redirect_to_another_host() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let elsewhere_addr = elsewhere.local_addr().unwrap();
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_addr = api.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = api.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{elsewhere_addr}/messages\r\nContent-Length: 0\r\n\r\n"
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let allow = AllowList::parse(&["127.0.0.1"]).unwrap();
        let policy = crate::meta::client::OutboundPolicy { allow: allow.clone(), ..Default::default() };
        let http = crate::guard::guarded_client_without_redirects(&allow);
        let client = GraphClient::dialog360(http, &format!("http://{api_addr}"), "the-key", &policy).unwrap();
        let sent = client.send_message("ignored", &json!({"messaging_product": "whatsapp"})).await;
        assert!(sent.is_err(), "a redirect is not a sent message: {sent:?}");
        // A followed redirect would have connected before the send returned: its connection
        // would be waiting in the listener's queue now.
        let pending = tokio::time::timeout(std::time::Duration::from_millis(1), elsewhere.accept()).await;
        assert!(pending.is_err(), "the key went to another host");
    }

    #[test]
    fn only_360dialogs_hosts_are_base_urls_without_the_allow_list() {
        let none = AllowList::default();
        assert!(check_api_base_url(DEFAULT_API_BASE_URL, &none).is_ok());
        assert!(check_api_base_url("https://waba-sandbox.360dialog.io/v1", &none).is_ok());
        assert!(check_api_base_url("https://graph.facebook.com/v24.0", &none).is_err());
        assert!(check_api_base_url("http://waba-v2.360dialog.io", &none).is_err());
        assert!(check_api_base_url("http://127.0.0.1:9000/360dialog", &none).is_err());
        let sandbox = AllowList::parse(&["127.0.0.1:9000"]).unwrap();
        assert!(check_api_base_url("http://127.0.0.1:9000/360dialog", &sandbox).is_ok());
    }

    #[test]
    fn the_token_is_always_needed_and_the_partner_signature_when_set_up() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        assert_eq!(verify_webhook("tok", "", body, Some("tok"), None), Ok(()));
        assert_eq!(verify_webhook("tok", "", body, Some("tok2"), None), Err(WebhookRefused::Token));
        assert_eq!(verify_webhook("tok", "", body, None, None), Err(WebhookRefused::Token));
        // A channel without a token (never registered) refuses everything, even an empty header.
        assert_eq!(verify_webhook("", "", body, Some(""), None), Err(WebhookRefused::Token));
        let signature = sign("partner", body);
        assert_eq!(verify_webhook("tok", "partner", body, Some("tok"), Some(&signature)), Ok(()));
        assert_eq!(verify_webhook("tok", "partner", body, Some("tok"), Some(&format!("sha256={signature}"))), Ok(()));
        assert_eq!(verify_webhook("tok", "partner", body, Some("tok"), None), Err(WebhookRefused::Signature));
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        assert_eq!(
            verify_webhook("tok", "partner", &changed, Some("tok"), Some(&signature)),
            Err(WebhookRefused::Signature)
        );
        assert_eq!(verify_webhook("tok", "partner", body, Some("tok"), Some("zz")), Err(WebhookRefused::Signature));
        // Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}

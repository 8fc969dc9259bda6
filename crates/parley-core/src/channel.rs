//! Channels: one WhatsApp business number connected through one provider (PRODUCT.md §1).
//! The provider's credentials are [`ChannelSecrets`]; the store only ever sees them sealed.

use serde::{Deserialize, Serialize};

use crate::ids::WorkspaceId;
use crate::time::Timestamp;
use crate::validation::Invalid;

/// Meta's default throughput per number, messages per second.
pub const DEFAULT_THROUGHPUT: i64 = 80;
/// The most Meta grants a number.
pub const MAX_THROUGHPUT: i64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Meta's WhatsApp Cloud API, directly.
    Meta,
    /// Twilio's WhatsApp channel (Messages API, form webhooks signed with `X-Twilio-Signature`).
    Twilio,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Meta => "meta",
            Provider::Twilio => "twilio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "meta" => Some(Provider::Meta),
            "twilio" => Some(Provider::Twilio),
            _ => None,
        }
    }

    /// Whether Meta's Graph API serves this provider's sends, media, templates, number health
    /// and profile. Twilio's channels receive through their own webhook; their sends, media and
    /// templates go through Twilio's APIs, which are being connected (issue 20): until then
    /// those calls are refused (`not_supported_by_provider`), never sent to the wrong API.
    pub fn graph_api(self) -> bool {
        matches!(self, Provider::Meta)
    }

    /// Whether Parley can send `content` through this provider. Twilio takes text, media by
    /// link (Twilio fetches it) and templates (by their Content SID); not uploaded media ids,
    /// locations, reactions, contact cards or free-form interactive messages.
    pub fn can_send(self, content: &crate::message::Content) -> bool {
        use crate::message::Content;
        match self {
            Provider::Meta => true,
            Provider::Twilio => match content {
                Content::Text { .. } | Content::Template { .. } => true,
                Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) => m.link.is_some(),
                _ => false,
            },
        }
    }
}

/// Who sees a channel's conversations: every agent (`shared`) or its members (`private`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Shared,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Shared => "shared",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "shared" => Some(Visibility::Shared),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// The provider credentials of a channel. Never serialized into API responses or logs: `Debug`
/// is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSecrets {
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
}

impl std::fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelSecrets { .. }")
    }
}

/// A channel as stored. `sealed_secrets` is the encrypted [`ChannelSecrets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub workspace_id: WorkspaceId,
    pub provider: Provider,
    pub name: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    pub graph_base_url: String,
    pub sealed_secrets: String,
    /// The random path segment of the channel's webhook URL.
    pub webhook_key: String,
    pub visibility: Visibility,
    pub throughput: i64,
    /// Unique business-initiated recipients per rolling 24 h (`None`: unlimited).
    pub messaging_limit: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl Channel {
    /// The URL path to configure at the provider as the webhook callback.
    pub fn webhook_path(&self) -> String {
        format!("/webhooks/{}/{}", self.provider.as_str(), self.webhook_key)
    }
}

pub use crate::ids::ChannelId;

/// Checks a provider id (phone number id, WABA id): 1 to 64 ASCII letters, digits, `_` or `-`.
pub fn check_provider_id(field: &str, value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(Invalid::request(field, "must be 1 to 64 letters, digits, _ or -"));
    }
    Ok(v.to_owned())
}

/// Checks a credential: not empty, at most 4096 bytes, no whitespace inside.
pub fn check_secret(field: &str, value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() || v.len() > 4096 || v.chars().any(char::is_whitespace) {
        return Err(Invalid::request(field, "must be a non-empty token without spaces (at most 4096 bytes)"));
    }
    Ok(v.to_owned())
}

/// Checks a Graph API base URL: `http(s)://host[:port][/path]`, no query or fragment.
pub fn check_base_url(value: &str) -> Result<String, Invalid> {
    let v = value.trim().trim_end_matches('/');
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !v.contains(['?', '#', ' ']) && v.len() <= 512 => {
            Ok(v.to_owned())
        }
        _ => Err(Invalid::request("graph_base_url", "must be an http(s) URL without query or fragment")),
    }
}

/// Checks a throughput setting (messages per second).
pub fn check_throughput(value: i64) -> Result<i64, Invalid> {
    if (1..=MAX_THROUGHPUT).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::request("throughput", format!("must be between 1 and {MAX_THROUGHPUT} messages per second")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_debug_is_redacted() {
        let s =
            ChannelSecrets { access_token: "EAAG-secret".into(), app_secret: "abc".into(), verify_token: "v".into() };
        assert!(!format!("{s:?}").contains("EAAG"));
    }

    #[test]
    fn checks() {
        assert_eq!(check_provider_id("phone_number_id", " 300000000000001 ").unwrap(), "300000000000001");
        assert!(check_provider_id("phone_number_id", "a/b").is_err());
        assert!(check_secret("app_secret", "with space").is_err());
        assert!(check_secret("app_secret", "").is_err());
        assert_eq!(check_base_url("http://127.0.0.1:9000/v24.0/").unwrap(), "http://127.0.0.1:9000/v24.0");
        assert!(check_base_url("ftp://x").is_err());
        assert!(check_base_url("https://x?y=1").is_err());
        assert!(check_base_url("https://").is_err());
        assert!(check_throughput(80).is_ok());
        assert!(check_throughput(0).is_err());
        assert!(check_throughput(1001).is_err());
        assert_eq!(Visibility::parse("private"), Some(Visibility::Private));
        assert_eq!(Provider::parse("twilio"), Some(Provider::Twilio));
        assert_eq!(Provider::parse("messagebird"), None);
        assert!(Provider::Meta.graph_api() && !Provider::Twilio.graph_api());
        use crate::message::{Content, Media};
        let text = Content::Text { body: "hi".into(), preview_url: None };
        let linked = Content::Image(Media { link: Some("https://x.example/a.jpg".into()), ..Media::default() });
        let uploaded = Content::Image(Media { id: Some("123".into()), ..Media::default() });
        let template = Content::Template { name: "t".into(), language: "en".into(), components: vec![] };
        assert!([&text, &linked, &uploaded, &template].iter().all(|c| Provider::Meta.can_send(c)));
        assert!(Provider::Twilio.can_send(&text) && Provider::Twilio.can_send(&linked));
        assert!(Provider::Twilio.can_send(&template));
        let location = Content::Location { latitude: 1.0, longitude: 2.0, name: None, address: None, url: None };
        assert!(!Provider::Twilio.can_send(&uploaded) && !Provider::Twilio.can_send(&location));
    }
}

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
    /// 360dialog's Cloud API proxy: Meta's message and webhook shapes, its own key
    /// (`D360-API-KEY`), paths without the phone number id, and no Meta signature.
    #[serde(rename = "360dialog")]
    Dialog360,
    /// MessageBird's Conversations API (and its successor Bird's signing): JSON posts signed
    /// with `MessageBird-Signature-JWT`, sends by channel id, HSM templates with a namespace.
    #[serde(rename = "messagebird")]
    MessageBird,
}

impl Provider {
    /// Every provider, in the order the docs and the team page list them.
    pub const ALL: [Provider; 4] = [Provider::Meta, Provider::Dialog360, Provider::Twilio, Provider::MessageBird];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Meta => "meta",
            Provider::Twilio => "twilio",
            Provider::Dialog360 => "360dialog",
            Provider::MessageBird => "messagebird",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether Meta's Graph API itself serves this number: number health, the business
    /// profile, template edits and unpausing, sample uploads and `pricing_analytics`. Only for
    /// numbers connected to Meta directly; the others answer `not_supported_by_provider`.
    pub fn graph_api(self) -> bool {
        matches!(self, Provider::Meta)
    }

    /// Whether sends, read receipts and media go as Cloud API requests (Meta's JSON bodies and
    /// answers): Meta's own API and 360dialog's proxy of it.
    pub fn cloud_api(self) -> bool {
        matches!(self, Provider::Meta | Provider::Dialog360)
    }

    /// Whether templates can be created and deleted from Parley (Meta's API or 360dialog's
    /// `/v1/configs/templates`). Twilio's Content templates are made in Twilio's console and
    /// only synced.
    pub fn manages_templates(self) -> bool {
        matches!(self, Provider::Meta | Provider::Dialog360)
    }

    /// Whether Parley can send `content` through this provider. Twilio takes text, media by
    /// link (Twilio fetches it) and templates (by their Content SID); not uploaded media ids,
    /// locations, reactions, contact cards or free-form interactive messages. MessageBird takes
    /// the same and locations. The Cloud API providers take every type.
    pub fn can_send(self, content: &crate::message::Content) -> bool {
        use crate::message::Content;
        // Their templates take text values only (Twilio's numbered variables, MessageBird's
        // `params`): a media header or a currency would go out empty.
        let text_parameters = |components: &[serde_json::Value]| {
            components
                .iter()
                .flat_map(|c| c.get("parameters").and_then(|p| p.as_array()).into_iter().flatten())
                .all(|p| p.get("text").or_else(|| p.get("payload")).is_some_and(serde_json::Value::is_string))
        };
        let by_link = |content: &Content| match content {
            Content::Text { .. } => true,
            Content::Template { components, .. } => text_parameters(components),
            // A file uploaded to Parley for this number goes out by a link Parley signs.
            Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) => {
                m.link.is_some() || m.parley_upload().is_some()
            }
            _ => false,
        };
        match self {
            Provider::Meta | Provider::Dialog360 => true,
            Provider::Twilio => by_link(content),
            Provider::MessageBird => by_link(content) || matches!(content, Content::Location { .. }),
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
        assert!(Provider::Dialog360.can_send(&uploaded) && Provider::Dialog360.can_send(&location));
        assert!(Provider::MessageBird.can_send(&location) && Provider::MessageBird.can_send(&linked));
        assert!(!Provider::MessageBird.can_send(&uploaded));
        // A file uploaded to Parley goes out by Parley's signed link.
        let parley_upload = Content::Document(Media { id: Some("parley-upload-0a1b".into()), ..Media::default() });
        assert!(Provider::ALL.iter().all(|p| p.can_send(&parley_upload)));
        let media_header = Content::Template {
            name: "t".into(),
            language: "en".into(),
            components: vec![
                serde_json::json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.example/a.jpg"}}]}),
            ],
        };
        assert!(!Provider::Twilio.can_send(&media_header) && !Provider::MessageBird.can_send(&media_header));
        assert!(Provider::Meta.can_send(&media_header));
    }

    #[test]
    fn every_provider_reads_back_its_name_and_says_what_it_serves() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(p.as_str()));
        }
        assert_eq!(Provider::parse("360dialog"), Some(Provider::Dialog360));
        assert_eq!(serde_json::from_str::<Provider>("\"360dialog\"").unwrap(), Provider::Dialog360);
        // 360dialog proxies the Cloud API's messages and templates, not Meta's number health.
        assert!(Provider::Dialog360.cloud_api() && Provider::Dialog360.manages_templates());
        assert!(!Provider::Dialog360.graph_api());
        assert!(!Provider::Twilio.cloud_api() && !Provider::Twilio.manages_templates());
        assert!(!Provider::MessageBird.cloud_api() && !Provider::MessageBird.manages_templates());
        assert_eq!(Provider::parse("messagebird"), Some(Provider::MessageBird));
        assert!(Provider::Meta.cloud_api() && Provider::Meta.manages_templates() && Provider::Meta.graph_api());
    }
}

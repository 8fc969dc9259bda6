//! MessageBird (and its successor Bird) as a WhatsApp provider: the Conversations API for sends
//! (`send.rs`, `client.rs`) and inbound (`webhook.rs`, posts signed as `signature.rs` checks),
//! HSM templates with their account's namespace (`templates.rs`).

pub mod client;
pub mod send;
pub mod signature;
pub mod templates;
pub mod webhook;

use crate::guard::{AllowList, Refused, Targets, check_url};

/// MessageBird's Conversations API, the default base URL of a MessageBird channel.
pub const DEFAULT_API_BASE_URL: &str = "https://conversations.messagebird.com/v1";

/// MessageBird's API hosts: the Conversations API, its WhatsApp sandbox, and the Integrations
/// API (templates).
pub const MESSAGEBIRD_HOSTS: &[&str] =
    &["conversations.messagebird.com", "whatsapp-sandbox.messagebird.com", "integrations.messagebird.com"];

/// Where received files are: MessageBird's media host.
pub const MESSAGEBIRD_MEDIA_HOSTS: &[&str] = &["media.messagebird.com"];

/// Whether a MessageBird channel's API base URL passes the outbound guard (MessageBird's hosts,
/// or one the server allows, such as the sandbox).
pub fn check_api_base_url(base_url: &str, allow: &AllowList) -> Result<(), Refused> {
    check_url(base_url, Targets::Official(MESSAGEBIRD_HOSTS), allow).map(|_| ())
}

/// The Integrations API's base for a channel's API base: `integrations.messagebird.com` for
/// MessageBird's own hosts, `<base>/integrations` for another (the sandbox).
pub fn integrations_base(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let official = ["https://conversations.messagebird.com", "https://whatsapp-sandbox.messagebird.com"];
    if official.iter().any(|o| base.starts_with(o)) {
        "https://integrations.messagebird.com".to_owned()
    } else {
        format!("{base}/integrations")
    }
}

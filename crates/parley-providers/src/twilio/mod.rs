//! Twilio's WhatsApp channel: the Messages API for sends (`client.rs`, `send.rs`), status
//! callbacks and inbound messages as form posts signed with `X-Twilio-Signature`
//! (`signature.rs`, `webhook.rs`), templates through the Content API (`content.rs`).

pub mod client;
pub mod content;
pub mod send;
pub mod signature;
pub mod webhook;

use crate::guard::{AllowList, Refused, TWILIO_HOSTS, Targets, check_url};

/// Twilio's REST API, the default base URL of a Twilio channel.
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";

/// Whether a Twilio channel's API base URL passes the outbound guard (Twilio's own host, or a
/// host the server allows, such as the sandbox).
pub fn check_api_base_url(base_url: &str, allow: &AllowList) -> Result<(), Refused> {
    check_url(base_url, Targets::Official(TWILIO_HOSTS), allow).map(|_| ())
}

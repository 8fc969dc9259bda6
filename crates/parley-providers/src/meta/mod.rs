//! Meta's WhatsApp Cloud API (and 360dialog, which speaks the same payloads).

pub mod client;
pub mod forward;
pub mod manage;
pub mod send;
pub mod signature;
pub mod webhook;

/// The Graph API base URL channels use unless told otherwise.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com/v24.0";

//! Twilio's WhatsApp channel (issue 20): the Messages API for sends, status callbacks and
//! inbound messages as form posts, templates through the Content API. Today: the webhook
//! signature (`signature.rs`); parsing, sends and templates come next (see the note).

pub mod signature;

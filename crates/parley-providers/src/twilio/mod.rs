//! Twilio's WhatsApp channel (issue 20): the Messages API for sends, status callbacks and
//! inbound messages as form posts, templates through the Content API. Built so far: the webhook
//! signature (`signature.rs`) and the posts read into core events (`webhook.rs`); sends and
//! templates come next (see the note).

pub mod send;
pub mod signature;
pub mod webhook;

//! MessageBird (and its successor Bird) as a WhatsApp provider (issue 20): the Conversations API
//! for sends and inbound, HSM templates with a namespace, contact metadata. Today: the webhook
//! signature (`signature.rs`); parsing, sends and templates come next (see the note).

pub mod signature;

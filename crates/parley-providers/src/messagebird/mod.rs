//! MessageBird (and its successor Bird) as a WhatsApp provider (issue 20): the Conversations API
//! for sends and inbound, HSM templates with a namespace, contact metadata. Built so far: the
//! webhook signatures (`signature.rs`) and the posts read into core events (`webhook.rs`);
//! sends and templates come next (see the note).

pub mod signature;
pub mod webhook;

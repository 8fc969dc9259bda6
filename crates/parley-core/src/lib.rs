//! `parley-core` — Parley's domain: typed values (`E164`, `Email`, ids, timestamps), workspaces,
//! users and roles, contacts and their validation. Pure: no I/O, no async; time is passed in.

pub mod account;
pub mod bots;
pub mod canned;
pub mod channel;
pub mod contact;
pub mod contacts_csv;
pub mod conversation;
pub mod dedupe;
pub mod dialogflow;
pub mod email;
pub mod fees;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod message;
pub mod note;
pub mod outbound;
pub mod outgoing;
pub mod phone;
pub mod profile;
pub mod rules;
pub mod search;
pub mod serde_util;
pub mod template;
pub mod template_review;
pub mod time;
pub mod validation;
pub mod whatsapp;
pub mod workflow;

pub use email::Email;
pub use phone::E164;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use validation::Invalid;

//! One router per resource; `lib.rs` nests them under `/api/v1`.

pub mod accounts;
pub mod assignment;
pub mod canned;
pub mod channels;
pub mod consents;
pub mod contacts;
pub mod conversation_tags;
pub mod conversations;
pub mod events;
pub mod graph;
pub mod health;
pub mod imports;
pub mod merges;
pub mod messages;
pub mod notes;
pub mod notifications;
pub mod numbers;
pub mod password;
pub mod samples;
pub mod search;
pub mod subscriptions;
pub mod teams;
pub mod templates;
pub mod users;
pub mod webhook_catalog;
pub mod webhooks;

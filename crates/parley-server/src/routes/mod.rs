//! One router per resource; `lib.rs` nests them under `/api/v1`.

pub mod accounts;
pub mod contacts;
pub mod events;
pub mod health;

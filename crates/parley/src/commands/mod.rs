//! One module per top-level command.

pub mod admin;
pub mod bench;
pub mod bench_dispatch;
pub mod bench_inbox;
pub mod bench_webhooks;
pub mod contacts;
pub mod demo;
pub mod phone;
pub mod sandbox;
pub mod serve;

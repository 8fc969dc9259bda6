//! One module per top-level command.

pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod contacts;
pub mod demo;
mod demo_numbers;
pub mod fees;
pub mod phone;
pub mod sandbox;
pub mod serve;

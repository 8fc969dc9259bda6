//! `parley-providers` — one module per WhatsApp provider. A provider module verifies a webhook
//! on its raw bytes, parses it into `parley_core::message::InboundEvent`s, and calls the
//! provider's API (sends, media, templates). Providers never
//! touch the store. `dialogflow` (a bot's brain) and `stripe` (fees top-ups)
//! are not WhatsApp providers but are called the same guarded way.

mod answer;
pub mod dialog360;
pub mod dialogflow;
pub mod guard;
pub mod messagebird;
pub mod meta;
pub mod stripe;
pub mod twilio;

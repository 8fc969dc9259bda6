//! API integration tests: the real server on a random port, over HTTP, against SQLite and (when
//! `PARLEY_TEST_DATABASE_URL` is set) PostgreSQL.

mod accounts;
mod assignment;
mod bot_dialogflow;
mod bots;
mod canned;
mod channels;
mod contacts;
mod customer_content;
mod event_visibility;
mod graph_compat;
mod helpers;
mod http;
mod idempotency;
mod imports;
mod login_limits;
mod no_blocking_io;
mod notes;
mod numbers;
mod outbound;
mod outbound_guard;
mod outgoing_webhooks;
mod path_params;
mod phone_spellings;
mod realtime;
mod samples;
mod search;
mod store_failures;
mod stream_rights;
mod teams;
mod templates;
mod uploads;
mod users;
mod visibility;
mod web;
mod webhooks;

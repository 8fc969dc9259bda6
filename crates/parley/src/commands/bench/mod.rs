//! `parley bench …`: generators and timed runs for the figures in BENCHMARKS.md. Built only
//! with `--features bench` (the scripts in `bench/` pass it), so the benchmark data generator
//! and its extra routes never ship in a production build. Benchmarks live here and in
//! `bench/`, never in tests.

pub mod dispatch;
pub mod inbox;
pub mod inputs;
pub mod outgoing;
mod phone_mix;
pub mod webhooks;
mod webhooks_providers;
pub mod workflows;

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Write COUNT generated phone inputs (mixed formats, some invalid) to stdout.
    PhoneInputs {
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, value_enum, default_value = "standard")]
        mix: inputs::PhoneMix,
    },
    /// Post signed webhook batches to the real server and to a do-nothing endpoint; report
    /// events/s and latency of both.
    Webhooks {
        /// Events per webhook POST.
        #[arg(long, default_value_t = 10)]
        batch: usize,
        #[arg(long, default_value_t = 5000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Benchmark PostgreSQL at this URL (a schema of its own is created and dropped);
        /// SQLite in a temporary directory otherwise.
        #[arg(long)]
        postgres: Option<String>,
        /// Start from the inbox benchmark's data at this size (N contacts with their WhatsApp
        /// ids, N conversations, 10·N messages) instead of an empty database: the customers
        /// writing in are among them.
        #[arg(long, default_value_t = 0)]
        contacts: i64,
        /// With --contacts: store their phones unclean and measure the webhooks while every one
        /// is re-cleaned (`parley contacts normalize`) beside them.
        #[arg(long)]
        normalize: bool,
        /// Distinct customers writing in.
        #[arg(long, default_value_t = 1000)]
        customers: usize,
        /// Also post as many messages as Twilio, 360dialog and MessageBird post them, to a number
        /// of each on the same server, in the same run (one event per post: needs --batch 1).
        #[arg(long)]
        providers: bool,
    },
    /// Deliver outgoing webhooks to receivers on loopback while inbound webhooks arrive at a
    /// steady rate; report delivery lag (one, ten, nine plus one dead receiver) and how fast a
    /// backlog drains.
    Outgoing {
        /// Events in the one-subscription scenario.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Events in each of the four ten-subscription runs and the drain.
        #[arg(long, default_value_t = 20_000)]
        events_ten: usize,
        /// Inbound events per second.
        #[arg(long, default_value_t = 1000)]
        rate: usize,
        /// Inbound events per webhook POST.
        #[arg(long, default_value_t = 10)]
        batch: usize,
        /// Benchmark PostgreSQL at this URL (a schema of its own is created and dropped);
        /// SQLite in a temporary directory otherwise.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Dispatch a full outbox from a real server to the sandbox at a configured rate; report the
    /// achieved rate, the server's CPU time and the busiest second the provider saw.
    Dispatch {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// The channel's throughput, messages per second (up to 1,000).
        #[arg(long, default_value_t = 1000)]
        rate: i64,
        /// How long the sandbox takes to answer each send, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Benchmark PostgreSQL at this URL (a schema of its own is created and dropped);
        /// SQLite in a temporary directory otherwise.
        #[arg(long)]
        postgres: Option<String>,
        /// The sandbox reports sent and delivered statuses while sends go out.
        #[arg(long)]
        statuses: bool,
        /// Fees on: every reply priced, held and charged at delivery (the sample card).
        #[arg(long)]
        fees: bool,
        /// The number's provider: `meta`, `360dialog`, `twilio` or `messagebird` (the sandbox
        /// plays each; `bench/providers.sh` runs them one after the other).
        #[arg(long, default_value = "meta")]
        provider: String,
    },
    /// Open conversations that each start a five-step workflow with a wait (trigger → first step,
    /// runs/s); then ingest with and without a million pending waits in the database.
    Workflows {
        #[arg(long, default_value_t = 10_000)]
        conversations: usize,
        /// Over how many seconds the conversations open.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 1_000_000)]
        waits: i64,
        /// Events in each ingest measurement.
        #[arg(long, default_value_t = 20_000)]
        ingest_events: usize,
        #[arg(long, default_value_t = 10)]
        batch: usize,
        /// Benchmark PostgreSQL at this URL (a schema of its own is created and dropped);
        /// SQLite in a temporary directory otherwise.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Generate a large inbox (contacts, conversations, messages) into a fresh database and
    /// measure the conversation list, opening a thread and searching, through the real server.
    Inbox {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: i64,
        #[arg(long, default_value_t = 1_000_000)]
        conversations: i64,
        #[arg(long, default_value_t = 10_000_000)]
        messages: i64,
        /// Requests measured per scenario.
        #[arg(long, default_value_t = 300)]
        samples: usize,
        /// Keep the generated database (its path or schema is printed) to look at query plans.
        #[arg(long)]
        keep: bool,
        /// Ledger entries of a WhatsApp fees account on the fixture's WABA: adds the fees
        /// scenarios (balances, the ledger's newest page, a month's usage).
        #[arg(long, default_value_t = 0)]
        ledger: i64,
        /// Benchmark PostgreSQL at this URL (a schema of its own is created and dropped);
        /// SQLite in a temporary directory otherwise.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Write a contacts CSV file to stdout: ROWS rows, ~10 % repeating an earlier person in
    /// another format, ~2 % invalid (the import benchmark's input).
    ContactsCsv {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Give new people two tags and returning ones a third (the tags column is empty otherwise).
        #[arg(long)]
        tags: bool,
    },
    /// Normalize phone inputs in memory and report numbers per second.
    Phone {
        /// Read inputs from this file (one per line) instead of generating them.
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// Runs one benchmark command; `log` is the `--log` filter, if given.
pub fn run(command: BenchCommand, log: Option<&str>) -> anyhow::Result<()> {
    match command {
        BenchCommand::PhoneInputs { count, seed, mix } => {
            inputs::phone_inputs(count, seed, mix, std::io::stdout().lock()).or_else(crate::ignore_broken_pipe)
        }
        BenchCommand::ContactsCsv { rows, seed, tags } => {
            inputs::contacts_csv(rows, seed, tags, std::io::stdout().lock()).or_else(crate::ignore_broken_pipe)
        }
        BenchCommand::Phone { input, count, seed } => inputs::phone(input.as_deref(), count, seed),
        BenchCommand::Webhooks {
            batch,
            requests,
            concurrency,
            postgres,
            contacts,
            normalize,
            customers,
            providers,
        } => {
            // sqlx's slow-statement warnings would fill the screen while the data is generated.
            crate::init_logging(log.unwrap_or("warn,sqlx=error"));
            let opts = webhooks::WebhookBench {
                database_url: postgres,
                batch,
                requests,
                concurrency,
                contacts,
                normalize,
                customers,
                providers,
            };
            tokio::runtime::Runtime::new()?.block_on(webhooks::run(opts))
        }
        BenchCommand::Inbox { contacts, conversations, messages, samples, postgres, keep, ledger } => {
            let opts =
                inbox::InboxBench { database_url: postgres, contacts, conversations, messages, samples, keep, ledger };
            tokio::runtime::Runtime::new()?.block_on(inbox::run(opts))
        }
        BenchCommand::Outgoing { events, events_ten, rate, batch, postgres } => {
            crate::init_logging(log.unwrap_or("warn,sqlx=error"));
            let opts = outgoing::OutgoingBench { database_url: postgres, events, events_ten, rate, batch };
            tokio::runtime::Runtime::new()?.block_on(outgoing::run(opts))
        }
        BenchCommand::Workflows { conversations, seconds, waits, ingest_events, batch, postgres } => {
            crate::init_logging(log.unwrap_or("warn,sqlx=error"));
            let opts = workflows::WorkflowBench {
                database_url: postgres,
                conversations,
                seconds,
                waits,
                ingest_events,
                batch,
            };
            tokio::runtime::Runtime::new()?.block_on(workflows::run(opts))
        }
        BenchCommand::Dispatch { messages, rate, latency_ms, postgres, statuses, fees, provider } => {
            crate::init_logging(log.unwrap_or("warn"));
            let opts = dispatch::DispatchBench {
                database_url: postgres,
                messages,
                rate,
                latency: std::time::Duration::from_millis(latency_ms),
                statuses,
                fees,
                provider,
            };
            tokio::runtime::Runtime::new()?.block_on(dispatch::run(opts))
        }
    }
}

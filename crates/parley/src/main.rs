//! `parley` — the one binary: the server, its administration and its tools.

mod commands;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::ConfigArgs;

/// mimalloc: the server allocates many small short-lived buffers on several threads, where it
/// is markedly faster than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Self-hosted WhatsApp Business conversation platform",
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrations are applied on start).
    Serve,
    /// Run Parley with demo data on SQLite in ./parley-demo, and print how to use it.
    Demo,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the Meta Cloud API simulator alone (listens on --listen, default 127.0.0.1:9090).
    Sandbox,
    /// Workspace administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Contacts: CSV import and export, re-cleaning, duplicate suggestions (on the database
    /// directly; with SQLite, stop the server first or use the API).
    Contacts {
        #[command(subcommand)]
        command: ContactsCommand,
    },
    /// Phone number tools.
    Phone {
        #[command(subcommand)]
        command: PhoneCommand,
    },
    /// Benchmarks (figures for BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a workspace, its owner (password read from stdin) and an API token; prints one
    /// JSON line {"workspace_id":…,"user_id":…,"token":"…"}.
    Bootstrap {
        /// The workspace's name.
        #[arg(long)]
        workspace: String,
        /// The owner's email address.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum ContactsCommand {
    /// Import contacts from a CSV file, with a progress bar. Batches of 20,000 rows commit one at
    /// a time; an interrupted import resumes with --resume ID.
    Import {
        /// The CSV file (ignored with --resume).
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        #[arg(long)]
        workspace: i64,
        /// add (new only), update (existing only), upsert (both), add-all (duplicates allowed).
        #[arg(long, value_enum, default_value = "upsert")]
        mode: CliImportMode,
        /// The column that says which contact a row is: id, phone or email.
        #[arg(long, value_enum, default_value = "phone")]
        identifier: CliIdentifier,
        /// COLUMN=TARGET (name, phone, email, tags, id, fields.KEY[:number|:boolean]); COLUMN= ignores it.
        #[arg(long)]
        map: Vec<String>,
        /// In the update modes, only fill values the contact does not have.
        #[arg(long)]
        no_overwrite: bool,
        /// Report what would happen; write no contact.
        #[arg(long)]
        dry_run: bool,
        /// , ; | or \t (guessed from the header otherwise).
        #[arg(long)]
        delimiter: Option<char>,
        /// utf-8 or windows-1252.
        #[arg(long, value_enum, default_value = "utf-8")]
        encoding: CliEncoding,
        /// Write the refused rows (line, column, value, code, reason) to this CSV file.
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Resume the interrupted import with this id (same file, same options).
        #[arg(long)]
        resume: Option<i64>,
    },
    /// Export every contact as CSV (stdout unless --output).
    Export {
        #[arg(long)]
        workspace: i64,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Re-clean stored phones and emails; values that cannot be made valid are kept aside.
    Normalize {
        #[arg(long)]
        workspace: i64,
        #[arg(long)]
        dry_run: bool,
    },
    /// Recompute duplicate suggestions over every contact.
    Dedupe {
        #[arg(long)]
        workspace: i64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliImportMode {
    Add,
    Update,
    Upsert,
    AddAll,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliIdentifier {
    Id,
    Phone,
    Email,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliEncoding {
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "windows-1252")]
    Windows1252,
}

#[derive(Subcommand)]
enum PhoneCommand {
    /// Read one number per line on stdin; write its E.164 form or INVALID<TAB>reason per line.
    Normalize {
        /// Two-letter region for national-format numbers (off by default: a country code is required).
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Write COUNT generated phone inputs (mixed formats, some invalid) to stdout.
    PhoneInputs {
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // Commands that need neither configuration nor a runtime.
        Command::Version => {
            println!("parley {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Phone { command: PhoneCommand::Normalize { region } } => commands::phone::run(region.as_deref()),
        Command::Bench { command: BenchCommand::PhoneInputs { count, seed } } => {
            commands::bench::phone_inputs(count, seed, std::io::stdout().lock()).or_else(ignore_broken_pipe)
        }
        Command::Bench { command: BenchCommand::ContactsCsv { rows, seed, tags } } => {
            commands::bench::contacts_csv(rows, seed, tags, std::io::stdout().lock()).or_else(ignore_broken_pipe)
        }
        Command::Bench { command: BenchCommand::Phone { input, count, seed } } => {
            commands::bench::phone(input.as_deref(), count, seed)
        }
        Command::Bench { command: BenchCommand::Webhooks { batch, requests, concurrency, postgres, contacts } } => {
            // sqlx's slow-statement warnings would fill the screen while the data is generated.
            init_logging(cli.config.log.as_deref().unwrap_or("warn,sqlx=error"));
            let opts = commands::bench_webhooks::WebhookBench {
                database_url: postgres,
                batch,
                requests,
                concurrency,
                contacts,
            };
            tokio::runtime::Runtime::new()?.block_on(commands::bench_webhooks::run(opts))
        }
        Command::Bench {
            command: BenchCommand::Inbox { contacts, conversations, messages, samples, postgres, keep },
        } => {
            let opts = commands::bench_inbox::InboxBench {
                database_url: postgres,
                contacts,
                conversations,
                messages,
                samples,
                keep,
            };
            tokio::runtime::Runtime::new()?.block_on(commands::bench_inbox::run(opts))
        }
        Command::Bench { command: BenchCommand::Dispatch { messages, rate, latency_ms, postgres } } => {
            init_logging(cli.config.log.as_deref().unwrap_or("warn"));
            let opts = commands::bench_dispatch::DispatchBench {
                database_url: postgres,
                messages,
                rate,
                latency: std::time::Duration::from_millis(latency_ms),
            };
            tokio::runtime::Runtime::new()?.block_on(commands::bench_dispatch::run(opts))
        }
        Command::Sandbox => {
            let listen = cli.config.listen.as_deref().unwrap_or(commands::sandbox::DEFAULT_LISTEN);
            let listen = listen.parse().map_err(|_| anyhow::anyhow!("--listen {listen:?} is not HOST:PORT"))?;
            init_logging(cli.config.log.as_deref().unwrap_or("info"));
            tokio::runtime::Runtime::new()?.block_on(commands::sandbox::run(listen))
        }
        command => {
            let mut args = cli.config;
            if matches!(command, Command::Demo) && args.data_dir.is_none() && args.database_url.is_none() {
                args.data_dir = Some(PathBuf::from("./parley-demo"));
            }
            let config = args.resolve()?;
            init_logging(&config.log);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                match command {
                    Command::Serve => commands::serve::serve(&config).await,
                    Command::Demo => commands::demo::run(&config).await,
                    Command::Migrate => commands::serve::migrate(&config).await,
                    Command::Admin { command: AdminCommand::Bootstrap { workspace, email } } => {
                        commands::admin::bootstrap(&config, &workspace, &email).await
                    }
                    Command::Contacts { command } => run_contacts(&config, command).await,
                    Command::Version | Command::Phone { .. } | Command::Bench { .. } | Command::Sandbox => {
                        unreachable!("handled above")
                    }
                }
            })
        }
    }
}

async fn run_contacts(config: &config::Config, command: ContactsCommand) -> anyhow::Result<()> {
    use parley_core::contacts_csv::{Encoding, Identifier, ImportMode};
    match command {
        ContactsCommand::Import {
            file,
            workspace,
            mode,
            identifier,
            map,
            no_overwrite,
            dry_run,
            delimiter,
            encoding,
            rejects,
            resume,
        } => {
            let args = commands::contacts::ImportArgs {
                file: file.unwrap_or_default(),
                workspace,
                mode: match mode {
                    CliImportMode::Add => ImportMode::Add,
                    CliImportMode::Update => ImportMode::Update,
                    CliImportMode::Upsert => ImportMode::Upsert,
                    CliImportMode::AddAll => ImportMode::AddAll,
                },
                identifier: match identifier {
                    CliIdentifier::Id => Identifier::Id,
                    CliIdentifier::Phone => Identifier::Phone,
                    CliIdentifier::Email => Identifier::Email,
                },
                map,
                no_overwrite,
                dry_run,
                delimiter,
                encoding: match encoding {
                    CliEncoding::Utf8 => Encoding::Utf8,
                    CliEncoding::Windows1252 => Encoding::Windows1252,
                },
                rejects,
                resume,
            };
            commands::contacts::import(config, args).await
        }
        ContactsCommand::Export { workspace, output } => {
            commands::contacts::export(config, workspace, output.as_deref()).await
        }
        ContactsCommand::Normalize { workspace, dry_run } => {
            commands::contacts::normalize(config, workspace, dry_run).await
        }
        ContactsCommand::Dedupe { workspace } => commands::contacts::dedupe(config, workspace).await,
    }
}

fn ignore_broken_pipe(e: std::io::Error) -> anyhow::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e.into()) }
}

fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout carries command output (bootstrap's JSON line).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

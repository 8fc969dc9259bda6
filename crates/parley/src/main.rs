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
    /// WhatsApp fees: rate cards.
    Fees {
        #[command(subcommand)]
        command: FeesCommand,
    },
    /// Phone number tools.
    Phone {
        #[command(subcommand)]
        command: PhoneCommand,
    },
    /// Benchmarks (figures for BENCHMARKS.md); only in builds made with `--features bench`.
    #[cfg(feature = "bench")]
    Bench {
        #[command(subcommand)]
        command: commands::bench::BenchCommand,
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
enum FeesCommand {
    /// Rate cards: what each delivered message costs, by market and category.
    Rates {
        #[command(subcommand)]
        command: RatesCommand,
    },
}

#[derive(Subcommand)]
enum RatesCommand {
    /// Import a rate card from a CSV file: Meta's rate card or volume-tier layout, or Parley's
    /// own (market,category,tier_from,tier_to,rate). The whole file or nothing.
    Import {
        file: PathBuf,
        /// The card's billing currency (USD, EUR, INR, …).
        #[arg(long)]
        currency: String,
        /// The day it takes effect (midnight UTC), e.g. 2026-10-01.
        #[arg(long)]
        effective: String,
        /// pmp (per message, since 2025-07-01) or cbp (per conversation, before).
        #[arg(long, default_value = "pmp")]
        model: String,
        /// Mark it as a sample (figures for trying Parley out, not Meta's prices).
        #[arg(long)]
        sample: bool,
    },
    /// List the cards kept, newest first.
    List,
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
        #[cfg(feature = "bench")]
        Command::Bench { command } => commands::bench::run(command, cli.config.log.as_deref()),
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
                    Command::Fees { command: FeesCommand::Rates { command } } => match command {
                        RatesCommand::Import { file, currency, effective, model, sample } => {
                            let import = commands::fees::Import { file, currency, effective, model, sample };
                            commands::fees::import(&config, import).await
                        }
                        RatesCommand::List => commands::fees::list(&config).await,
                    },
                    Command::Version | Command::Phone { .. } | Command::Sandbox => unreachable!("handled above"),
                    #[cfg(feature = "bench")]
                    Command::Bench { .. } => unreachable!("handled above"),
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

#[cfg(feature = "bench")]
pub(crate) fn ignore_broken_pipe(e: std::io::Error) -> anyhow::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e.into()) }
}

pub(crate) fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout carries command output (bootstrap's JSON line).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

//! `parley contacts …`: import and export CSV files, re-clean stored phones and emails, and
//! recompute duplicate suggestions, straight on the database (SQLite allows one process at a
//! time: stop the server first, or upload through `POST /api/v1/imports`).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use parley_core::contacts_csv::{Encoding, Identifier, ImportMode, ImportOptions};
use parley_core::ids::WorkspaceId;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_server::contacts_io::{LEASE, export_csv, rejects_csv, run_import};
use parley_store::{Import, ImportState, NewImport, Store};

use crate::config::Config;

pub struct ImportArgs {
    pub file: std::path::PathBuf,
    pub workspace: i64,
    pub mode: ImportMode,
    pub identifier: Identifier,
    /// `COLUMN=TARGET` or `COLUMN=` to ignore a column.
    pub map: Vec<String>,
    pub no_overwrite: bool,
    pub dry_run: bool,
    pub delimiter: Option<char>,
    pub encoding: Encoding,
    pub rejects: Option<std::path::PathBuf>,
    /// Resume this interrupted import instead of starting one.
    pub resume: Option<i64>,
}

async fn open(
    config: &Config,
    workspace: i64,
) -> anyhow::Result<(std::sync::Arc<dyn Store>, WorkspaceId, Option<parley_core::phone::Region>)> {
    let store = parley_store::open(&config.database).await?;
    let ws = WorkspaceId(workspace);
    let found = store.workspace(ws).await.with_context(|| format!("workspace {workspace}"))?;
    let region = found.default_region.as_deref().and_then(parley_core::phone::parse_region);
    Ok((store, ws, region))
}

pub async fn import(config: &Config, args: ImportArgs) -> anyhow::Result<()> {
    let (store, ws, region) = open(config, args.workspace).await?;
    let clock = SystemClock;
    let held = Timestamp::from_micros(clock.now().as_micros() + LEASE.as_micros() as i64);
    let import = match args.resume {
        Some(id) => {
            let import = store.import(ws, id).await.with_context(|| format!("import {id}"))?;
            if matches!(import.state, ImportState::Done | ImportState::Failed) {
                bail!("import {id} already ended ({:?})", import.state);
            }
            store.start_import(&import, &import.ignored_columns, held, clock.now()).await?;
            import
        }
        None => {
            let mut mapping = std::collections::BTreeMap::new();
            for m in &args.map {
                let (column, target) =
                    m.split_once('=').with_context(|| format!("--map {m:?} is not COLUMN=TARGET"))?;
                mapping.insert(column.to_owned(), (!target.is_empty()).then(|| target.to_owned()));
            }
            let options = ImportOptions {
                mode: args.mode,
                identifier: args.identifier,
                mapping,
                overwrite: !args.no_overwrite,
                delimiter: args.delimiter,
                encoding: args.encoding,
            };
            options.delimiter_byte().map_err(|e| anyhow::anyhow!(e.message))?;
            let path = std::fs::canonicalize(&args.file).with_context(|| format!("{}", args.file.display()))?;
            let size = std::fs::metadata(&path)?.len() as i64;
            let new = NewImport {
                filename: args.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                path: path.to_string_lossy().into_owned(),
                options,
                dry_run: args.dry_run,
                bytes_total: size,
                created_by: None,
                held_until: Some(held),
            };
            store.create_import(ws, new, clock.now()).await?
        }
    };
    eprintln!(
        "import {} of {} ({} bytes){}",
        import.id,
        import.filename,
        import.bytes_total,
        if import.dry_run { ", dry run" } else { "" }
    );
    let bar = ProgressBar::new(import.bytes_total.max(1) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    let started = std::time::Instant::now();
    let first_row = import.rows_done;
    let mut on_batch = |i: &Import| {
        bar.set_position(i.bytes_done.max(0) as u64);
        let rate = (i.rows_done - first_row) as f64 / started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!("{} rows, {rate:.0} rows/s, {} rejected", i.rows_done, i.rejected));
        ControlFlow::Continue(())
    };
    let done = run_import(&*store, &clock, import, region, &mut on_batch).await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string_pretty(&done)?);
    eprintln!(
        "{} rows in {seconds:.1} s ({:.0} rows/s): {} created, {} updated, {} unchanged, {} skipped, {} rejected",
        done.rows_done - first_row,
        (done.rows_done - first_row) as f64 / seconds.max(0.001),
        done.created,
        done.updated,
        done.unchanged,
        done.skipped,
        done.rejected
    );
    if let Some(path) = &args.rejects {
        let file = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let (written, wrote) = tokio::join!(rejects_csv(&*store, ws, done.id, tx), write_chunks(rx, Box::new(file)));
        wrote.with_context(|| format!("{}", path.display()))?;
        eprintln!("{} refused values written to {}", written?, path.display());
    }
    if let Some(error) = &done.error {
        bail!("import failed: {error}");
    }
    Ok(())
}

pub async fn export(config: &Config, workspace: i64, output: Option<&Path>) -> anyhow::Result<()> {
    let (store, ws, _) = open(config, workspace).await?;
    let out: Box<dyn Write + Send> = match output {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("{}", p.display()))?),
        None => Box::new(std::io::stdout()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (written, wrote) = tokio::join!(export_csv(&*store, ws, tx), write_chunks(rx, out));
    wrote?;
    eprintln!("{} contacts exported", written?);
    Ok(())
}

/// Writes the chunks a streaming CSV writer sends (`contacts_io`) to `out`, buffered.
async fn write_chunks(mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>, out: Box<dyn Write + Send>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    while let Some(chunk) = rx.recv().await {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(())
}

pub async fn normalize(config: &Config, workspace: i64, dry_run: bool) -> anyhow::Result<()> {
    let (store, ws, region) = open(config, workspace).await?;
    let report = store.normalize_contacts(ws, region, dry_run, SystemClock.now()).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{} contacts seen: {} values cleaned, {} could not be made valid (kept as invalid_phone / invalid_email){}",
        report.contacts_seen,
        report.cleaned,
        report.invalid,
        if dry_run { " — dry run, nothing changed" } else { "" }
    );
    Ok(())
}

pub async fn dedupe(config: &Config, workspace: i64) -> anyhow::Result<()> {
    let (store, ws, _) = open(config, workspace).await?;
    let started = std::time::Instant::now();
    let added = store.dedupe_all(ws, SystemClock.now()).await?;
    println!("{}", serde_json::json!({"new_suggestions": added, "seconds": started.elapsed().as_secs_f64()}));
    Ok(())
}

//! Contact CSV files in and out. [`run_import`] reads a file on a blocking thread (decoding,
//! column mapping and row validation from `parley_core::contacts_csv`) and hands batches of
//! [`BATCH_ROWS`] rows to the store, which applies each in one transaction with the import's
//! progress; reading the next batch overlaps writing the current one. The import worker and
//! `parley contacts import` both use it. [`export_csv`] writes every contact of a workspace as a
//! file the importer reads back unchanged.
//!
//! Interrupted imports: each batch is all or nothing and records how many rows it consumed, so
//! a resumed import (same file) skips exactly the rows already applied.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use parley_core::contacts_csv::{
    Columns, Encoding, ImportOptions, ImportRow, RowProblem, add_export_fields, detect_delimiter, export_header,
    export_row, finish_export_fields, neutralize_cell, read_row,
};
use parley_core::ids::WorkspaceId;
use parley_core::phone::Region;
use parley_core::{Clock, Timestamp};
use parley_store::{Import, ImportBatch, Store, StoreError};
use tokio::sync::mpsc;

use crate::csv_lines::RecordLines;

/// Rows per batch (one transaction each).
pub const BATCH_ROWS: usize = 20_000;
/// From this file size on (about 50,000 rows), duplicate suggestions are computed once, over the
/// whole workspace, when the import ends, instead of looked up batch by batch.
pub const DEFERRED_DEDUPE_BYTES: i64 = 4 << 20;
/// How long a running import is held by its worker without progress before another may resume it.
pub const LEASE: Duration = Duration::from_secs(30);

/// What the reader thread sends.
enum FromReader {
    Header { ignored: Vec<String> },
    Batch { rows: Vec<ImportRow>, problems: Vec<RowProblem>, rows_done: i64, bytes_done: i64 },
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be imported at all (unreadable, no header, bad mapping): the import is
    /// marked failed with this message.
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Told to stop (shutdown, or the caller's progress callback): the import stays running and
    /// resumes after its last batch.
    #[error("stopped; the import resumes after its last committed batch")]
    Stopped,
}

fn lease_end(clock: &dyn Clock) -> Timestamp {
    Timestamp::from_micros(clock.now().as_micros() + LEASE.as_micros() as i64)
}

/// Runs (or resumes) `import` to its end. `on_batch` sees the import after each batch and may
/// stop it. Answers the finished import (done, or failed with the reason when the file is bad).
pub async fn run_import(
    store: &dyn Store,
    clock: &dyn Clock,
    mut import: Import,
    region: Option<Region>,
    on_batch: &mut (dyn FnMut(&Import) -> ControlFlow<()> + Send),
) -> Result<Import, ImportError> {
    let (tx, mut rx) = mpsc::channel::<Result<FromReader, String>>(2);
    let path = import.path.clone();
    let options = import.options.clone();
    let skip = import.rows_done.max(0) as u64;
    let reader = tokio::task::spawn_blocking(move || read_file(Path::new(&path), &options, region, skip, &tx));
    let mut dry_run_keys: HashSet<String> = HashSet::new();
    let deferred_dedupe = import.bytes_total >= DEFERRED_DEDUPE_BYTES;
    let outcome: Result<(), ImportError> = async {
        while let Some(message) = rx.recv().await {
            match message.map_err(ImportError::File)? {
                FromReader::Header { ignored } => {
                    store.start_import(&import, &ignored, lease_end(clock), clock.now()).await?;
                    import.ignored_columns = ignored;
                }
                FromReader::Batch { rows, problems, rows_done, bytes_done } => {
                    let batch = ImportBatch {
                        import: &import,
                        rows: &rows,
                        problems: &problems,
                        rows_done,
                        bytes_done,
                        dry_run_keys: import.dry_run.then_some(&mut dry_run_keys),
                        suggest: !deferred_dedupe,
                    };
                    let counts = store.import_batch(batch, lease_end(clock), clock.now()).await?;
                    import.rows_done = rows_done;
                    import.bytes_done = bytes_done;
                    import.created += counts.created;
                    import.updated += counts.updated;
                    import.unchanged += counts.unchanged;
                    import.skipped += counts.skipped;
                    import.rejected += counts.rejected;
                    if on_batch(&import).is_break() {
                        return Err(ImportError::Stopped);
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    drop(rx);
    let _ = reader.await;
    match outcome {
        Ok(()) => {
            if deferred_dedupe && !import.dry_run {
                store.dedupe_all(import.workspace_id, clock.now()).await?;
            }
            Ok(store.finish_import(import.workspace_id, import.id, None, clock.now()).await?)
        }
        Err(ImportError::File(reason)) => {
            Ok(store.finish_import(import.workspace_id, import.id, Some(&reason), clock.now()).await?)
        }
        Err(e) => Err(e),
    }
}

/// The blocking half: reads the file and sends the header's outcome, then batches.
fn read_file(
    path: &Path,
    options: &ImportOptions,
    region: Option<Region>,
    skip: u64,
    tx: &mpsc::Sender<Result<FromReader, String>>,
) {
    let send = |m: Result<FromReader, String>| tx.blocking_send(m).is_ok();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            send(Err(format!("cannot open the file: {e}")));
            return;
        }
    };
    let mut input = BufReader::with_capacity(1 << 20, file);
    // A UTF-8 byte order mark (Excel writes one) is not part of the first header.
    let mut offset = 0;
    if let Ok(head) = input.fill_buf()
        && head.starts_with(b"\xEF\xBB\xBF")
    {
        input.consume(3);
        offset = 3;
    }
    let delimiter = match options.delimiter_byte() {
        Ok(Some(d)) => d,
        Ok(None) => detect_delimiter(input.fill_buf().unwrap_or_default()),
        Err(e) => {
            send(Err(e.message));
            return;
        }
    };
    read_records(input, offset, delimiter, options, region, skip, &send);
}

fn read_records(
    input: impl Read,
    offset: i64,
    delimiter: u8,
    options: &ImportOptions,
    region: Option<Region>,
    skip: u64,
    send: &dyn Fn(Result<FromReader, String>) -> bool,
) {
    let mut csv = RecordLines::new(input, delimiter);
    let mut record = csv::ByteRecord::new();
    let header: Vec<String> = match csv.read(&mut record) {
        Ok(Some(_)) => match record.iter().map(|cell| decode(cell, options.encoding)).collect::<Option<Vec<_>>>() {
            Some(cells) => cells.into_iter().map(|c| c.into_owned()).collect(),
            None => {
                send(Err(encoding_hint("the header row", options.encoding)));
                return;
            }
        },
        Ok(None) => {
            send(Err("the file is empty: the first row must name the columns".to_owned()));
            return;
        }
        Err(e) => {
            send(Err(format!("cannot read the header row: {e}")));
            return;
        }
    };
    let columns = match Columns::from_header(&header, options) {
        Ok(c) => c,
        Err(e) => {
            send(Err(format!("{}: {}", e.field.unwrap_or_default(), e.message)));
            return;
        }
    };
    if !send(Ok(FromReader::Header { ignored: columns.ignored() })) {
        return;
    }
    let (mut rows, mut problems) = (Vec::with_capacity(BATCH_ROWS), Vec::new());
    let mut consumed: u64 = 0;
    let mut in_batch = 0;
    loop {
        let line = match csv.read(&mut record) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                send(Err(format!("the file cannot be read past row {}: {e}", consumed + 1)));
                return;
            }
        };
        consumed += 1;
        if consumed <= skip {
            continue;
        }
        match decode_record(&record, &columns, line, options.encoding) {
            Ok(cells) => {
                let cells: Vec<&str> = cells.iter().map(|c| c.as_ref()).collect();
                match read_row(&columns, line, &cells, region) {
                    Ok(row) => rows.push(row),
                    Err(p) => problems.extend(p),
                }
            }
            Err(p) => problems.push(p),
        }
        in_batch += 1;
        if in_batch == BATCH_ROWS {
            let bytes = offset + csv.byte() as i64;
            let batch = FromReader::Batch {
                rows: std::mem::replace(&mut rows, Vec::with_capacity(BATCH_ROWS)),
                problems: std::mem::take(&mut problems),
                rows_done: consumed as i64,
                bytes_done: bytes,
            };
            if !send(Ok(batch)) {
                return;
            }
            in_batch = 0;
        }
    }
    if in_batch > 0 || consumed == 0 {
        let bytes = offset + csv.byte() as i64;
        send(Ok(FromReader::Batch { rows, problems, rows_done: consumed as i64, bytes_done: bytes }));
    }
}

fn decode(cell: &[u8], encoding: Encoding) -> Option<std::borrow::Cow<'_, str>> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(cell).ok().map(std::borrow::Cow::Borrowed),
        Encoding::Windows1252 => {
            let (text, _, had_errors) = encoding_rs::WINDOWS_1252.decode(cell);
            (!had_errors).then_some(text)
        }
    }
}

fn encoding_hint(what: &str, encoding: Encoding) -> String {
    match encoding {
        Encoding::Utf8 => format!(
            "{what} is not valid UTF-8; save the file as UTF-8, or import it with encoding windows-1252 if it comes from Excel"
        ),
        Encoding::Windows1252 => format!("{what} is not valid windows-1252"),
    }
}

fn decode_record<'a>(
    record: &'a csv::ByteRecord,
    columns: &Columns,
    line: u64,
    encoding: Encoding,
) -> Result<Vec<std::borrow::Cow<'a, str>>, RowProblem> {
    record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            decode(cell, encoding).ok_or_else(|| RowProblem {
                line,
                column: columns.headers.get(i).cloned(),
                value: Some(String::from_utf8_lossy(cell).into_owned()),
                code: "bad_encoding".to_owned(),
                reason: encoding_hint("this cell", encoding),
            })
        })
        .collect()
}

/// Writes every contact of `ws` as CSV (see `parley_core::contacts_csv` for the format) into
/// `out`, a chunk per page: a first pass finds the custom fields and their types, the second
/// writes the rows. Answers how many contacts were written.
pub async fn export_csv(store: &dyn Store, ws: WorkspaceId, out: mpsc::Sender<Vec<u8>>) -> Result<u64, ExportError> {
    const PAGE: u32 = 5_000;
    let mut kinds = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store.contacts_after(ws, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id.get();
        for c in &page {
            add_export_fields(&mut kinds, &c.fields);
        }
    }
    let fields = finish_export_fields(kinds);
    let mut csv = CsvChunks::new(out);
    csv.write(export_header(&fields))?;
    let (mut after, mut written) = (0, 0);
    loop {
        let page = store.contacts_after(ws, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id.get();
        for c in &page {
            csv.write(export_row(c, &fields))?;
            written += 1;
        }
        csv.send().await?;
    }
    csv.send().await?;
    Ok(written)
}

/// A CSV file written a page at a time: each page's rows go to `out` as one chunk, so the whole
/// file is never in memory.
struct CsvChunks {
    writer: csv::Writer<Vec<u8>>,
    out: mpsc::Sender<Vec<u8>>,
}

impl CsvChunks {
    fn new(out: mpsc::Sender<Vec<u8>>) -> Self {
        CsvChunks { writer: csv::Writer::from_writer(Vec::with_capacity(1 << 16)), out }
    }

    fn write<I, T>(&mut self, record: I) -> Result<(), ExportError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        Ok(self.writer.write_record(record)?)
    }

    /// Sends what was written since the last chunk (nothing when there is nothing).
    async fn send(&mut self) -> Result<(), ExportError> {
        let full = std::mem::replace(&mut self.writer, csv::Writer::from_writer(Vec::with_capacity(1 << 16)));
        let chunk = full.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
        if !chunk.is_empty() {
            self.out.send(chunk).await.map_err(|_| ExportError::Closed)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the file: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write the file: {0}")]
    Io(#[from] std::io::Error),
    /// Whoever reads the export went away.
    #[error("the export's reader went away")]
    Closed,
}

/// The rejected rows as a CSV file (line, column, value, code, reason), read and sent a page at
/// a time: an import that refused a million rows costs a page of memory. Answers how many
/// problems were written.
pub async fn rejects_csv(
    store: &dyn Store,
    ws: WorkspaceId,
    import: i64,
    out: mpsc::Sender<Vec<u8>>,
) -> Result<u64, ExportError> {
    const PAGE: u32 = 5_000;
    let mut csv = CsvChunks::new(out);
    csv.write(["line", "column", "value", "code", "reason"])?;
    let (mut after, mut written) = (0, 0);
    loop {
        let page = store.import_rejects(ws, import, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.line;
        for p in &page {
            // The refused values are whatever the file held: safe to open in a spreadsheet too.
            csv.write([
                p.line.to_string().as_str(),
                &neutralize_cell(p.column.as_deref().unwrap_or_default()),
                &neutralize_cell(p.value.as_deref().unwrap_or_default()),
                &p.code,
                &neutralize_cell(&p.reason),
            ])?;
            written += 1;
        }
        csv.send().await?;
    }
    csv.send().await?;
    Ok(written)
}

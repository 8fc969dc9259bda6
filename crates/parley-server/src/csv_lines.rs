//! CSV records with the line of the file each starts on, for import reports.
//!
//! The csv reader's own `position().line()` is where it started scanning for a record: it
//! misses the blank lines it skips, is one too low in CRLF files and counts no lone-CR line
//! breaks. [`LineStarts`] sits under the csv reader instead and notes where every line of the
//! file starts; a record begins at the first line start from the scan position on. It keeps
//! only the line starts the csv reader's buffer can hold, so memory does not grow with the
//! file, and no fallback is needed: the start a record needs is never older than that buffer.

use std::collections::VecDeque;
use std::io::Read;

/// The csv reader's buffer: it never holds more than this many bytes past its position.
const CSV_BUFFER: usize = 8 << 10;

/// A csv reader that also answers each record's line.
pub(crate) struct RecordLines<R: Read> {
    csv: csv::Reader<LineStarts<R>>,
}

impl<R: Read> RecordLines<R> {
    pub(crate) fn new(input: R, delimiter: u8) -> Self {
        // The buffer is set, not left to the crate's default: `LineStarts` keeps as many line
        // starts as the csv reader can read ahead.
        let csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(CSV_BUFFER)
            .from_reader(LineStarts::new(input));
        RecordLines { csv }
    }

    /// Reads the next record into `record`; answers the line it starts on, or `None` at the end.
    pub(crate) fn read(&mut self, record: &mut csv::ByteRecord) -> csv::Result<Option<u64>> {
        // Marked before reading, while the bytes from the scan position on are at most a buffer
        // ahead: a record longer than the buffer cannot push its own start out.
        let from = self.csv.position().byte();
        self.csv.get_mut().mark(from);
        if !self.csv.read_byte_record(record)? {
            return Ok(None);
        }
        Ok(Some(self.csv.get_ref().marked_line()))
    }

    /// Bytes of the input consumed so far.
    pub(crate) fn byte(&self) -> u64 {
        self.csv.position().byte()
    }
}

/// Passes `inner` through, noting the offset and line of every line start (a byte that is no
/// line break, first in the file or right after a break). Line breaks are `\n`, `\r\n` and a
/// lone `\r`, as the csv reader ends records.
struct LineStarts<R> {
    inner: R,
    /// Bytes passed on.
    read: u64,
    /// Line breaks among them.
    breaks: u64,
    /// What the last byte passed on was.
    after_break: bool,
    after_cr: bool,
    /// Line starts (offset, line) not yet behind the csv reader's position: no more than
    /// [`CSV_BUFFER`] of them matter, as each takes a byte.
    starts: VecDeque<(u64, u64)>,
    /// The line of the record being read, once its first byte is read; `None` before.
    marked: Option<u64>,
}

impl<R> LineStarts<R> {
    fn new(inner: R) -> Self {
        LineStarts {
            inner,
            read: 0,
            breaks: 0,
            after_break: true,
            after_cr: false,
            starts: VecDeque::new(),
            marked: None,
        }
    }

    /// The csv reader starts scanning for a record at byte `from`, right after the previous
    /// record's end (a CRLF's `\n` may be left); it skips blank lines, so the record starts on
    /// the first line start from `from` on. It may be read already, or is the next one read.
    fn mark(&mut self, from: u64) {
        while self.starts.front().is_some_and(|&(at, _)| at < from) {
            self.starts.pop_front();
        }
        self.marked = self.starts.front().map(|&(_, line)| line);
    }

    /// The line the record read since [`Self::mark`] starts on. Only ever 0 if that record was
    /// read without its first byte passing through here, which the csv reader does not do.
    fn marked_line(&self) -> u64 {
        self.marked.unwrap_or(0)
    }
}

impl<R: Read> Read for LineStarts<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            let is_break = b == b'\r' || b == b'\n';
            if !is_break && self.after_break {
                let line = self.breaks + 1;
                self.marked.get_or_insert(line);
                if self.starts.len() == CSV_BUFFER {
                    // Older than the csv reader's whole buffer: behind its position already.
                    self.starts.pop_front();
                }
                self.starts.push_back((self.read, line));
            }
            // A `\n` right after a `\r` ends the same line.
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.breaks += 1;
            }
            self.after_break = is_break;
            self.after_cr = b == b'\r';
            self.read += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line each record of `file` starts on.
    fn lines(file: &[u8]) -> Vec<u64> {
        let mut reader = RecordLines::new(file, b',');
        let mut record = csv::ByteRecord::new();
        let mut got = Vec::new();
        while let Some(line) = reader.read(&mut record).unwrap() {
            got.push(line);
        }
        got
    }

    /// `file` with its `\n` line breaks as `eol`.
    fn with(file: &str, eol: &str) -> Vec<u8> {
        file.replace('\n', eol).into_bytes()
    }

    #[test]
    fn a_plain_file_numbers_its_lines_with_any_line_break() {
        for eol in ["\n", "\r\n", "\r"] {
            assert_eq!(lines(&with("h1,h2\na,1\nb,2\nc,3", eol)), [1, 2, 3, 4], "{eol:?}");
            assert_eq!(lines(&with("h1,h2\na,1\nb,2\nc,3\n", eol)), [1, 2, 3, 4], "{eol:?}");
        }
    }

    #[test]
    fn multi_line_cells_and_blank_lines_move_the_lines_on() {
        for eol in ["\n", "\r\n", "\r"] {
            let file = with("h1,h2\na,1\n\"b\nb\",2\nc,3\n\nd,4\n", eol);
            assert_eq!(lines(&file), [1, 2, 3, 5, 7], "{eol:?}");
            let file = with("\n\nh1,h2\n\n\n\na,\"x\n\ny\"\n\n\"\nb\",2\n\n", eol);
            assert_eq!(lines(&file), [3, 7, 11], "{eol:?}");
        }
    }

    #[test]
    fn mixed_line_breaks_count_once_each() {
        // A CR LF pair is one break; LF CR is two.
        assert_eq!(lines(b"h\r\na\n\rb\r\rc\r\n\r\nd"), [1, 2, 4, 6, 8]);
    }

    #[test]
    fn lines_stay_right_past_the_buffers() {
        // Records and gaps larger than the csv reader's buffer, and many records.
        let mut file = String::from("h1,h2\r\n");
        let mut want = vec![1];
        let mut line = 2;
        for i in 0..3_000u64 {
            let breaks = if i % 100 == 2 { 3 * CSV_BUFFER as u64 } else { i % 3 };
            file.push_str(&"\r\n".repeat(breaks as usize));
            line += breaks;
            want.push(line);
            if i % 500 == 7 {
                let cell = "x\r\n".repeat(2 * CSV_BUFFER);
                file.push_str(&format!("\"{cell}\",{i}\r\n"));
                line += 2 * CSV_BUFFER as u64 + 1;
            } else {
                file.push_str(&format!("r{i},{i}\r\n"));
                line += 1;
            }
        }
        assert_eq!(lines(file.as_bytes()), want);
    }
}

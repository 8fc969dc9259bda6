//! `parley phone normalize`: one number per input line → its E.164 form or `INVALID<TAB>reason`,
//! streamed, so a file of millions of lines runs in constant memory.

use std::io::{self, BufRead, BufWriter, Write};

use anyhow::{Context, bail};
use parley_core::phone::{Region, normalize, parse_region};

/// Parses `--region` (two letters), or none.
pub fn region_arg(region: Option<&str>) -> anyhow::Result<Option<Region>> {
    match region {
        None => Ok(None),
        Some(code) => match parse_region(code) {
            Some(r) => Ok(Some(r)),
            None => {
                bail!("--region {code:?} is not a two-letter region code with phone numbering rules (e.g. FR, VN, US)")
            }
        },
    }
}

/// Normalizes every line of `input` onto `output`. Lines may end in `\n` or `\r\n`; bytes that
/// are not UTF-8 make the line invalid rather than stopping the stream.
pub fn normalize_stream(input: impl BufRead, output: impl Write, region: Option<Region>) -> io::Result<Counts> {
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let mut input = input;
    let mut line = Vec::with_capacity(128);
    let mut counts = Counts::default();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let mut bytes = line.as_slice();
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = String::from_utf8_lossy(bytes);
        match normalize(&text, region) {
            Ok(number) => {
                counts.valid += 1;
                out.write_all(number.as_str().as_bytes())?;
            }
            Err(reason) => {
                counts.invalid += 1;
                write!(out, "INVALID\t{reason}")?;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(counts)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub valid: u64,
    pub invalid: u64,
}

pub fn run(region: Option<&str>) -> anyhow::Result<()> {
    let region = region_arg(region)?;
    let stdin = io::stdin().lock();
    let stdout = io::stdout().lock();
    match normalize_stream(stdin, stdout, region) {
        Ok(_) => Ok(()),
        // `parley phone normalize < big | head` closes the pipe early: not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("phone normalize"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_output_line_per_input_line() {
        let input = b"+33 6 12 34 56 78\r\n0033612345678\n\nnot a number\n\xff\xfe\n06 12 34 56 78" as &[u8];
        let mut out = Vec::new();
        let counts = normalize_stream(input, &mut out, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "+33612345678");
        assert_eq!(lines[1], "+33612345678");
        assert!(lines[2].starts_with("INVALID\tthe number is empty"));
        assert!(lines[3].starts_with("INVALID\t"));
        assert!(lines[4].starts_with("INVALID\t"));
        assert!(lines[5].starts_with("INVALID\tthe number has no country code"));
        assert_eq!(lines.len(), 6);
        assert_eq!(counts, Counts { valid: 2, invalid: 4 });
    }

    /// The spellings exports and address books write read as on the API and in imports; a byte
    /// order mark at the start of the file does not spoil the first line.
    #[test]
    fn exported_spellings_read_as_everywhere_else() {
        let input = "\u{FEFF}tel:+33-6-12-34-56-78\n(+33) 6 12 34 56 78\n'+33612345678\n=\"+33612345678\"\n\
                     +33 (0)6 12 34 56 78\n\u{202A}+33\u{00A0}6\u{00A0}12345678\u{202C}\n+33612345678 (mobile)\n\
                     (33) 612345678\n+33612345678, +33698765432\n";
        let mut out = Vec::new();
        let counts = normalize_stream(input.as_bytes(), &mut out, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[..7].iter().all(|l| *l == "+33612345678"), "{text}");
        assert!(lines[7].starts_with("INVALID\tthe number has no country code"), "{text}");
        assert!(lines[8].starts_with("INVALID\tthe text holds more than one number"), "{text}");
        assert_eq!(counts, Counts { valid: 7, invalid: 2 });
    }

    #[test]
    fn region_reads_national_numbers() {
        let mut out = Vec::new();
        normalize_stream(b"06 12 34 56 78\n" as &[u8], &mut out, region_arg(Some("fr")).unwrap()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "+33612345678\n");
        assert!(region_arg(Some("France")).is_err());
    }
}

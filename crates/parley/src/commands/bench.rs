//! `parley bench …`: generators and timed runs for the figures in BENCHMARKS.md. Benchmarks live
//! here and in `bench/`, never in tests.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use parley_core::phone::normalize;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// National significant number shapes (X = any digit) with their country codes: mobile ranges of
/// the markets Parley's users work in, so most generated numbers are valid.
const SHAPES: &[(&str, &str)] = &[
    ("33", "6XXXXXXXX"),
    ("33", "7XXXXXXXX"),
    ("84", "9XXXXXXXX"),
    ("84", "3XXXXXXXX"),
    ("1", "2025550XXX"),
    ("1", "4155550XXX"),
    ("44", "7911XXXXXX"),
    ("55", "119XXXXXXXX"),
    ("52", "55XXXXXXXX"),
    ("49", "151XXXXXXXX"),
    ("91", "98XXXXXXXX"),
    ("234", "803XXXXXXX"),
    ("62", "812XXXXXXXX"),
    ("34", "612XXXXXX"),
];

/// One input line in a random format: `+CC …`, `00CC…`, `CC…` with assorted separators, and a
/// few inputs that must be refused (national numbers, letters, too short, empty).
fn random_input(rng: &mut StdRng) -> String {
    let (cc, shape) = SHAPES[rng.random_range(0..SHAPES.len())];
    let nsn: String =
        shape.chars().map(|c| if c == 'X' { char::from(b'0' + rng.random_range(0..10u8)) } else { c }).collect();
    let roll = rng.random_range(0..100u32);
    match roll {
        0..=1 => format!("0{nsn}"),             // national, no country code
        2 => format!("+{cc} {}ABC", &nsn[..4]), // letters
        3 => format!("+{cc} {}", &nsn[..2]),    // too short
        4 => String::new(),                     // empty
        _ => {
            let sep = [" ", "-", ".", "", " "][rng.random_range(0..5usize)];
            let grouped = group(&nsn, sep);
            match rng.random_range(0..5u32) {
                0 => format!("+{cc}{sep}{grouped}"),
                1 => format!("00{cc}{sep}{grouped}"),
                2 => format!("{cc}{grouped}").replace(sep, ""),
                3 => format!("+{cc} ({}) {}", &nsn[..3], group(&nsn[3..], sep)),
                _ => format!("+{cc}{nsn}"),
            }
        }
    }
}

fn group(digits: &str, sep: &str) -> String {
    digits.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect::<Vec<_>>().join(sep)
}

/// `parley bench phone-inputs`: writes `count` inputs, one per line, reproducible from `seed`.
pub fn phone_inputs(count: u64, seed: u64, out: impl Write) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = BufWriter::new(out);
    for _ in 0..count {
        writeln!(out, "{}", random_input(&mut rng))?;
    }
    out.flush()
}

/// `parley bench phone`: normalizes the inputs (from `file`, or `count` generated ones) in memory
/// and reports numbers per second (single thread: what one request or import worker gets).
pub fn phone(file: Option<&Path>, count: u64, seed: u64) -> anyhow::Result<()> {
    let inputs: Vec<String> = match file {
        Some(path) => {
            let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            BufReader::new(f).lines().collect::<io::Result<_>>()?
        }
        None => {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..count).map(|_| random_input(&mut rng)).collect()
        }
    };
    // Warm up libphonenumber's lazily compiled patterns.
    for input in inputs.iter().take(10_000) {
        let _ = normalize(input, None);
    }
    let start = Instant::now();
    let mut valid = 0u64;
    for input in &inputs {
        if normalize(input, None).is_ok() {
            valid += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = inputs.len() as f64;
    println!(
        "{{\"inputs\":{},\"valid\":{valid},\"seconds\":{secs:.3},\"numbers_per_second\":{:.0}}}",
        inputs.len(),
        n / secs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_reproducible_and_mostly_valid() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        phone_inputs(2000, 7, &mut a).unwrap();
        phone_inputs(2000, 7, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        let valid = text.lines().filter(|l| normalize(l, None).is_ok()).count();
        assert_eq!(text.lines().count(), 2000);
        assert!(valid > 1500 && valid < 2000, "{valid} valid of 2000");
    }
}

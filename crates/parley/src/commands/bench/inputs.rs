//! Generated inputs (phone numbers, contact files) and the in-memory phone benchmark.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use parley_core::phone::normalize;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::phone_mix::{digits, group};

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
    let nsn = digits(rng, shape);
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

/// Which phone inputs to generate.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PhoneMix {
    /// Mobile numbers of 14 markets in common formats, 5 % to refuse.
    Standard,
    /// 35 number ranges of 30 countries in the spellings exports hold, about 20 % or more to
    /// refuse for every kind of reason (`phone_mix.rs`).
    Varied,
}

/// `parley bench phone-inputs`: writes `count` inputs, one per line, reproducible from `seed`.
pub fn phone_inputs(count: u64, seed: u64, mix: PhoneMix, out: impl Write) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = BufWriter::new(out);
    for _ in 0..count {
        let input = match mix {
            PhoneMix::Standard => random_input(&mut rng),
            PhoneMix::Varied => super::phone_mix::varied_input(&mut rng),
        };
        writeln!(out, "{input}")?;
    }
    out.flush()
}

/// A valid mobile number of one of the shapes: (country code, national number).
fn valid_number(rng: &mut StdRng) -> (&'static str, String) {
    loop {
        let (cc, shape) = SHAPES[rng.random_range(0..SHAPES.len())];
        let nsn = digits(rng, shape);
        if normalize(&format!("+{cc}{nsn}"), None).is_ok() {
            return (cc, nsn);
        }
    }
}

/// The same number written another way: spaces, dashes, `00`, no `+`, parentheses.
fn formatted(rng: &mut StdRng, cc: &str, nsn: &str) -> String {
    let sep = [" ", "-", ".", ""][rng.random_range(0..4usize)];
    match rng.random_range(0..5u32) {
        0 => format!("+{cc}{sep}{}", group(nsn, sep)),
        1 => format!("00{cc}{sep}{}", group(nsn, sep)),
        2 => format!("{cc}{nsn}"),
        3 => format!("+{cc} ({}) {}", &nsn[..3], group(&nsn[3..], sep)),
        _ => format!("+{cc}{nsn}"),
    }
}

/// `parley bench contacts-csv`: a contact file like the ones users bring: `rows` rows, about
/// 10 % of them repeating an earlier person with the number (and email) written differently,
/// 2 % invalid (a number with letters, too short, or a broken email), the rest new people. With
/// `tags`, new people carry two tags and returning ones a third.
pub fn contacts_csv(rows: u64, seed: u64, tags: bool, out: impl Write) -> io::Result<()> {
    const FIRST: &[&str] = &["Ana", "Bao", "Chloé", "Diego", "Emma", "Fatima", "Giulia", "Hoang", "Inès", "João"];
    const LAST: &[&str] = &["Souza", "Nguyen", "Martin", "García", "Dupont", "Tran", "Silva", "Rossi", "Le", "Costa"];
    const PLANS: &[&str] = &["free", "silver", "gold"];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = BufWriter::new(out);
    writeln!(out, "name,phone,email,tags,plan,city")?;
    let mut people: Vec<(&str, String, u64)> = Vec::with_capacity(rows as usize);
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::with_capacity(rows as usize);
    for i in 0..rows {
        let roll = rng.random_range(0..100u32);
        let name = format!("{} {}", FIRST[rng.random_range(0..FIRST.len())], LAST[rng.random_range(0..LAST.len())]);
        let plan = PLANS[rng.random_range(0..PLANS.len())];
        if roll < 10 && !people.is_empty() {
            let (cc, nsn, n) = people[rng.random_range(0..people.len())].clone();
            let phone = formatted(&mut rng, cc, &nsn);
            let tag = if tags { "returning" } else { "" };
            writeln!(out, "{name},{phone},Person.{n}@Example.com,{tag},{plan},")?;
        } else if roll < 12 {
            let (cc, nsn) = valid_number(&mut rng);
            let line = match rng.random_range(0..3u32) {
                0 => format!("{name},+{cc} {}ABC,,,{plan},", &nsn[..4]),
                1 => format!("{name},+{cc} {},,,{plan},", &nsn[..2]),
                _ => format!("{name},+{cc}{nsn},person.{i}@,,{plan},"),
            };
            writeln!(out, "{line}")?;
        } else {
            // A new person: a number nobody in the file has yet.
            let (cc, nsn) = loop {
                let (cc, nsn) = valid_number(&mut rng);
                if seen.insert(format!("{cc}{nsn}")) {
                    break (cc, nsn);
                }
            };
            let phone = formatted(&mut rng, cc, &nsn);
            let city = ["Paris", "Hà Nội", "São Paulo", "\"Lyon, France\""][rng.random_range(0..4usize)];
            let tag = if tags { format!("\"new,{plan}\"") } else { String::new() };
            writeln!(out, "{name},{phone},person.{i}@example.com,{tag},{plan},{city}")?;
            people.push((cc, nsn, i));
        }
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
        phone_inputs(2000, 7, PhoneMix::Standard, &mut a).unwrap();
        phone_inputs(2000, 7, PhoneMix::Standard, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        let valid = text.lines().filter(|l| normalize(l, None).is_ok()).count();
        assert_eq!(text.lines().count(), 2000);
        assert!(valid > 1500 && valid < 2000, "{valid} valid of 2000");
    }
}

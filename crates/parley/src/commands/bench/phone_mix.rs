//! The "varied" phone mix (`parley bench phone-inputs --mix varied`): inputs the project's own
//! mix does not hold. Numbers of 30 countries, mobile and fixed, spelled as exports, address
//! books and spreadsheets spell them (`tel:` URIs, `="…"`, quotes, `(0)` trunk prefixes,
//! labels, full-width and Arabic-Indic digits, directional marks), and about one input in five
//! to refuse for a reason of every kind — most of them numbers that look right and are not
//! (unassigned ranges, wrong lengths), which libphonenumber must read to the end to refuse.

use rand::Rng;
use rand::rngs::StdRng;

/// National significant number shapes (X = any digit) with their country codes. Random digits
/// make some of them invalid (unassigned ranges), as real files have.
const SHAPES: &[(&str, &str)] = &[
    ("33", "6XXXXXXXX"),
    ("33", "1XXXXXXXX"),
    ("84", "9XXXXXXXX"),
    ("84", "243XXXXXXX"),
    ("1", "2125550XXX"),
    ("1", "XXXXXXXXXX"),
    ("44", "7XXXXXXXXX"),
    ("44", "207XXXXXXX"),
    ("55", "119XXXXXXXX"),
    ("52", "55XXXXXXXX"),
    ("49", "15XXXXXXXXX"),
    ("49", "30XXXXXXX"),
    ("91", "9XXXXXXXXX"),
    ("234", "80XXXXXXXX"),
    ("62", "81XXXXXXXXX"),
    ("34", "6XXXXXXXX"),
    ("39", "3XXXXXXXXX"),
    ("39", "06XXXXXXXX"),
    ("81", "90XXXXXXXX"),
    ("86", "13XXXXXXXXX"),
    ("7", "9XXXXXXXXX"),
    ("61", "4XXXXXXXX"),
    ("27", "82XXXXXXX"),
    ("20", "10XXXXXXXX"),
    ("966", "5XXXXXXXX"),
    ("971", "50XXXXXXX"),
    ("63", "9XXXXXXXXX"),
    ("66", "8XXXXXXXX"),
    ("90", "53XXXXXXXX"),
    ("48", "5XXXXXXXX"),
    ("351", "91XXXXXXX"),
    ("32", "47XXXXXXX"),
    ("41", "7XXXXXXXX"),
    ("212", "6XXXXXXXX"),
    ("880", "17XXXXXXXX"),
];

/// A number of `shape` (X = any digit), with random digits.
pub(super) fn digits(rng: &mut StdRng, shape: &str) -> String {
    shape.chars().map(|c| if c == 'X' { char::from(b'0' + rng.random_range(0..10u8)) } else { c }).collect()
}

/// Digits in pairs joined by `sep`, as people group them.
pub(super) fn group(digits: &str, sep: &str) -> String {
    digits.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect::<Vec<_>>().join(sep)
}

/// The digits written in another script: full-width (0) or Arabic-Indic (1).
fn script(text: &str, which: u32) -> String {
    let zero = if which == 0 { 0xFF10 } else { 0x0660 };
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(zero + d).unwrap_or(c),
            None if which == 0 && c == '+' => '\u{FF0B}',
            None => c,
        })
        .collect()
}

/// One input line of the varied mix.
pub fn varied_input(rng: &mut StdRng) -> String {
    let (cc, shape) = SHAPES[rng.random_range(0..SHAPES.len())];
    let nsn = digits(rng, shape);
    let roll = rng.random_range(0..100u32);
    match roll {
        // To refuse, by construction (16 %; the random ranges above add some more).
        0..=2 => format!("0{}", group(&nsn, " ")),
        3..=5 => format!("+{cc} {}", &nsn[..nsn.len() - 3]),
        6..=7 => format!("+{cc}{nsn}{}", digits(rng, "XXX")),
        8..=9 => format!("+{} {}", ["999", "888", "80", "0", "28"][rng.random_range(0..5usize)], nsn),
        10 => format!("+{cc} {} ext. {}", group(&nsn, " "), rng.random_range(1..999)),
        11 => format!("+{cc}{nsn}, +{cc}{}", digits(rng, shape)),
        12 => format!("+{cc} {}ABC", &nsn[..4]),
        13 => format!("({}) {}", &nsn[..3], group(&nsn[3..], "-")),
        14 => format!("{}", rng.random_range(1..99_999u32)),
        15 => ["", " ", "N/A", "-", "+"][rng.random_range(0..5usize)].to_owned(),
        // Valid-looking numbers in the spellings real files hold.
        _ => {
            let sep = [" ", "-", ".", "", " ", "\u{a0}"][rng.random_range(0..6usize)];
            let grouped = group(&nsn, sep);
            match rng.random_range(0..14u32) {
                0 => format!("+{cc}{sep}{grouped}"),
                1 => format!("00{cc}{sep}{grouped}"),
                2 => format!("{cc}{nsn}"),
                3 => format!("+{cc} (0){grouped}"),
                4 => format!("tel:+{cc}-{}", group(&nsn, "-")),
                5 => format!("=\"+{cc}{nsn}\""),
                6 => format!("'+{cc} {grouped}"),
                7 => format!("\"+{cc} {grouped}\""),
                8 => format!("+{cc} {grouped} (mobile)"),
                9 => script(&format!("+{cc} {grouped}"), rng.random_range(0..2u32)),
                10 => format!("\u{202a}+{cc} {grouped}\u{202c}"),
                11 => format!("(+{cc}) {grouped}"),
                12 => format!("  +{cc}{nsn}\t"),
                _ => format!("+{cc}{nsn}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use parley_core::phone::normalize;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_varied_mix_refuses_about_one_input_in_five() {
        let mut rng = StdRng::seed_from_u64(7);
        let inputs: Vec<String> = (0..5000).map(|_| varied_input(&mut rng)).collect();
        let valid = inputs.iter().filter(|l| normalize(l, None).is_ok()).count();
        assert!((3700..4300).contains(&valid), "{valid} valid of 5000");
        // Every spelling is represented and some of each is read.
        assert!(inputs.iter().any(|l| l.starts_with("tel:") && normalize(l, None).is_ok()));
        assert!(inputs.iter().any(|l| l.starts_with("=\"") && normalize(l, None).is_ok()));
        assert!(inputs.iter().any(|l| l.contains("(0)") && normalize(l, None).is_ok()));
    }
}

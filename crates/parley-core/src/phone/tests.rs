//! Unit and property tests of the phone rule.

use super::*;

#[test]
fn national_digits_drop_the_calling_code() {
    for (number, national) in [
        ("+33612345678", "612345678"),
        ("+14155550123", "4155550123"),
        ("+84912345678", "912345678"),
        ("+5511987654321", "11987654321"),
        ("+971501234567", "501234567"),
        ("+442071838750", "2071838750"),
    ] {
        assert_eq!(E164::parse(number).unwrap().national_digits(), national, "{number}");
    }
}

fn ok(input: &str) -> String {
    normalize(input, None).unwrap_or_else(|e| panic!("{input:?} rejected: {e}")).into_string()
}

fn err(input: &str) -> PhoneError {
    normalize(input, None).expect_err(input)
}

#[test]
fn accepts_common_separators() {
    for input in [
        "+33 6 12 34 56 78",
        "+33-6-12-34-56-78",
        "+33.6.12.34.56.78",
        "+33 (6) 12 34 56 78",
        "+33/612/345/678",
        "  +33612345678  ",
        "+33\u{00A0}6\u{00A0}12\u{00A0}34\u{00A0}56\u{00A0}78",
    ] {
        assert_eq!(ok(input), "+33612345678", "{input}");
    }
}

#[test]
fn double_zero_means_plus() {
    assert_eq!(ok("0033612345678"), "+33612345678");
    assert_eq!(ok("00 84 912 345 678"), "+84912345678");
}

#[test]
fn digits_without_plus_start_with_the_country_code() {
    assert_eq!(ok("33612345678"), "+33612345678");
    assert_eq!(ok("5511912345678"), "+5511912345678");
    assert_eq!(ok("1 (202) 555-0173"), "+12025550173");
}

#[test]
fn national_numbers_need_a_region() {
    assert_eq!(err("06 12 34 56 78"), PhoneError::MissingCountryCode);
    assert_eq!(err("0912345678"), PhoneError::MissingCountryCode);
    let fr = parse_region("fr").unwrap();
    assert_eq!(normalize("06 12 34 56 78", Some(fr)).unwrap().as_str(), "+33612345678");
    // With a region, international input still reads as international.
    assert_eq!(normalize("+84 912 345 678", Some(fr)).unwrap().as_str(), "+84912345678");
    assert_eq!(normalize("84912345678", Some(fr)).unwrap().as_str(), "+84912345678");
    let vn = parse_region("VN").unwrap();
    assert_eq!(normalize("0912 345 678", Some(vn)).unwrap().as_str(), "+84912345678");
}

#[test]
fn explicit_plus_is_never_read_as_national() {
    let fr = parse_region("FR").unwrap();
    assert_eq!(normalize("+0612345678", Some(fr)).unwrap_err(), PhoneError::InvalidCountryCode);
}

#[test]
fn too_short_and_too_long() {
    assert_eq!(err("+33 6"), PhoneError::TooShort);
    assert_eq!(err("+33 6 12 34 56 78 90 12"), PhoneError::TooLong);
    assert_eq!(err("+3361234567890123456789"), PhoneError::TooLong);
    assert_eq!(err(&"1".repeat(200)), PhoneError::TooLong);
}

#[test]
fn letters_are_rejected() {
    assert_eq!(err("+33 6 12 AB 56 78"), PhoneError::InvalidCharacters);
    assert_eq!(err("call me"), PhoneError::InvalidCharacters);
    assert_eq!(err("+1-800-FLOWERS"), PhoneError::InvalidCharacters);
    assert_eq!(err("+33 6 12 34 56 78 +"), PhoneError::InvalidCharacters);
}

#[test]
fn empty_is_rejected() {
    assert_eq!(err(""), PhoneError::Empty);
    assert_eq!(err("   "), PhoneError::Empty);
    assert_eq!(err("+"), PhoneError::Empty);
    assert_eq!(err("( ) - ."), PhoneError::Empty);
    assert_eq!(err("00"), PhoneError::TooShort);
}

#[test]
fn extensions_are_rejected() {
    assert_eq!(err("+1 202 555 0173 ext. 89"), PhoneError::Extension);
    assert_eq!(err("+1 202 555 0173 x89"), PhoneError::Extension);
    assert_eq!(err("+1 202 555 0173 #89"), PhoneError::Extension);
    assert_eq!(err("tel:+1-202-555-0173;ext=89"), PhoneError::Extension);
}

#[test]
fn invalid_country_code_and_invalid_numbers() {
    assert_eq!(err("+999 1234 5678"), PhoneError::InvalidCountryCode);
    // Right length for France, but 0x prefixes after the country code are not allocated.
    assert_eq!(err("+33 0 12 34 56 78"), PhoneError::NotValid);
}

#[test]
fn various_countries() {
    assert_eq!(ok("+44 20 7183 8750"), "+442071838750");
    assert_eq!(ok("+84 90 123 45 67"), "+84901234567");
    assert_eq!(ok("+52 55 1234 5678"), "+525512345678");
    // Mexico dropped the mobile `1` in 2019; WhatsApp ids still carry it (`521…`), which the
    // WhatsApp-id mapping handles, not the E.164 rule.
    assert_eq!(err("+52 1 55 1234 5678"), PhoneError::TooLong);
    assert_eq!(ok("+49 30 901820"), "+4930901820");
}

#[test]
fn regions_of_numbers() {
    assert_eq!(E164::parse("+1 202 555 0173").unwrap().region().as_deref(), Some("US"));
    assert_eq!(E164::parse("+1 416 555 0199").unwrap().region().as_deref(), Some("CA"));
    assert_eq!(E164::parse("+33612345678").unwrap().region().as_deref(), Some("FR"));
}

#[test]
fn digits_are_the_wa_id() {
    assert_eq!(E164::parse("+33 6 12 34 56 78").unwrap().digits(), "33612345678");
}

#[test]
fn regions() {
    assert!(parse_region("FR").is_some());
    assert!(parse_region("zz").is_none());
    assert!(parse_region("").is_none());
    assert!(parse_region("FRA").is_none());
}

/// Spellings that address books, spreadsheets and phones produce, each carrying its country
/// code: all read as the same number.
#[test]
fn accepts_spellings_people_export() {
    for input in [
        // A country code in parentheses, with or without the trunk `(0)` Europeans write.
        "(+33) 6 12 34 56 78",
        "(+33)612345678",
        "+33 (0)6 12 34 56 78",
        "+33(0)612345678",
        "0033 (0)6 12 34 56 78",
        // RFC 3966 `tel:` URIs, as vCards and web pages carry them.
        "tel:+33612345678",
        "TEL:+33-6-12-34-56-78",
        "tel:+33.6.12.34.56.78;phone-context=example.com",
        // Spreadsheet artefacts: the text prefix, Excel's text formula, quotes around the cell.
        "'+33612345678",
        "' +33 6 12 34 56 78",
        "=\"+33612345678\"",
        "=\"+33 6 12 34 56 78\"",
        "\"+33 6 12 34 56 78\"",
        "'+33 6 12 34 56 78'",
        "\u{201C}+33 6 12 34 56 78\u{201D}",
        "\"tel:+33612345678\"",
        // Spaces of every width, and the no-break spaces typographers put in numbers.
        "+33\u{00A0}6\u{00A0}12\u{00A0}34\u{00A0}56\u{00A0}78",
        "+33\u{202F}6\u{202F}12\u{202F}34\u{202F}56\u{202F}78",
        "+33\u{2009}6\u{2009}12\u{2009}34\u{2009}56\u{2009}78",
        "+33\u{3000}6\u{3000}12345678",
        // Full-width digits and plus (East Asian input methods), and other scripts' digits.
        "\u{FF0B}\u{FF13}\u{FF13} \u{FF16} \u{FF11}\u{FF12} \u{FF13}\u{FF14} \u{FF15}\u{FF16} \u{FF17}\u{FF18}",
        "\u{FF08}\u{FF0B}\u{FF13}\u{FF13}\u{FF09}\u{FF16}\u{FF11}\u{FF12}\u{FF0D}\u{FF13}\u{FF14}\u{FF0D}\u{FF15}\u{FF16}\u{FF0D}\u{FF17}\u{FF18}",
        "+\u{0663}\u{0663}\u{0666}\u{0661}\u{0662}\u{0663}\u{0664}\u{0665}\u{0666}\u{0667}\u{0668}",
        "+\u{06F3}\u{06F3}\u{06F6}\u{06F1}\u{06F2}\u{06F3}\u{06F4}\u{06F5}\u{06F6}\u{06F7}\u{06F8}",
        // Dots, and a leading `00` with spaces.
        "+33.6.12.34.56.78",
        "00 33 6 12 34 56 78",
        // Directional and invisible marks that phones copy along with the number.
        "\u{202A}+33 6 12 34 56 78\u{202C}",
        "\u{202B}+33 6 12 34 56 78\u{202C}",
        "\u{202D}+33612345678\u{202E}",
        "\u{200E}+33 6 12 34 56 78",
        "\u{200F}+33 6 12 34 56 78\u{200F}",
        "\u{2066}+33 6 12 34 56 78\u{2069}",
        "\u{2068}+33 6 12 34 56 78\u{2069}",
        "+33\u{200E} 6 12\u{200B}34 56 78",
        "\u{FEFF}+33612345678",
        // A label after the number, in parentheses, as address books export them.
        "+33612345678 (mobile)",
        "+33 6 12 34 56 78 (Büro)",
        "+33 6 12 34 56 78 (next door)",
    ] {
        assert_eq!(ok(input), "+33612345678", "{input:?}");
    }
    assert_eq!(ok("+1 (202) 555-0173"), "+12025550173");
    assert_eq!(ok("tel:+1-202-555-0173"), "+12025550173");
    assert_eq!(ok("+84 90 123 45 67"), "+84901234567");
    assert_eq!(ok("(+84) 90 123 45 67"), "+84901234567");
    assert_eq!(ok("+84 (0)90 123 45 67"), "+84901234567");
    assert_eq!(ok("+44 (0)20 7183 8750"), "+442071838750");
    assert_eq!(ok("+44 (0) 20 7183 8750"), "+442071838750");
    // Italy keeps its leading 0 after the country code: `(0)` there is part of the number.
    assert_eq!(ok("+39 (0)6 6982 1234"), "+390669821234");
}

/// Digits in parentheses at the start, without `+` or `00`, are how North Americans write an
/// area code: no country code can be read from them, so they need the default region.
#[test]
fn leading_parentheses_without_plus_are_an_area_code() {
    assert_eq!(err("(33) 612345678"), PhoneError::MissingCountryCode);
    assert_eq!(err("(202) 555-0173"), PhoneError::MissingCountryCode);
    let us = parse_region("US").unwrap();
    assert_eq!(normalize("(202) 555-0173", Some(us)).unwrap().as_str(), "+12025550173");
    // Once the `+` is there, the parentheses are only decoration.
    assert_eq!(ok("(+1) 202 555 0173"), "+12025550173");
    // Parentheses later in the number are still separators.
    assert_eq!(ok("1 (202) 555-0173"), "+12025550173");
}

#[test]
fn national_spellings_still_need_a_region() {
    assert_eq!(err("tel:0612345678"), PhoneError::MissingCountryCode);
    assert_eq!(err("'06 12 34 56 78"), PhoneError::MissingCountryCode);
    assert_eq!(err("=\"06 12 34 56 78\""), PhoneError::MissingCountryCode);
    assert_eq!(err("06 12 34 56 78 (mobile)"), PhoneError::MissingCountryCode);
    assert_eq!(err("\u{202A}06 12 34 56 78\u{202C}"), PhoneError::MissingCountryCode);
    let fr = parse_region("FR").unwrap();
    assert_eq!(normalize("'06 12 34 56 78", Some(fr)).unwrap().as_str(), "+33612345678");
    assert_eq!(normalize("tel:06-12-34-56-78", Some(fr)).unwrap().as_str(), "+33612345678");
}

#[test]
fn two_numbers_in_one_cell_are_refused() {
    for input in [
        "+33612345678, +33698765432",
        "+33612345678 +33698765432",
        "+33612345678 / +33698765432",
        "+33612345678; +33698765432",
        "+33612345678 | +33698765432",
        "+33612345678\n+33698765432",
        "(+33) 6 12 34 56 78 (+33) 6 98 76 54 32",
    ] {
        assert_eq!(err(input), PhoneError::SeveralNumbers, "{input:?}");
    }
}

#[test]
fn malformed_wrappers_are_refused() {
    // Unbalanced quotes, a formula that is not text, a `tel:` without number, a label with digits.
    assert_eq!(err("\"+33612345678"), PhoneError::InvalidCharacters);
    assert_eq!(err("+33612345678'"), PhoneError::InvalidCharacters);
    assert_eq!(err("=+33612345678"), PhoneError::InvalidCharacters);
    assert_eq!(err("=\"\""), PhoneError::Empty);
    assert_eq!(err("tel:"), PhoneError::Empty);
    assert_eq!(err("\u{202A}\u{202C}"), PhoneError::Empty);
    assert_eq!(err("+33612345678 (mobile 2)"), PhoneError::InvalidCharacters);
    assert_eq!(err("+33612345678 mobile"), PhoneError::InvalidCharacters);
    assert_eq!(err("++33612345678"), PhoneError::InvalidCharacters);
    // Vanity numbers stay refused: letters are not digits, even on a keypad.
    assert_eq!(err("tel:+1-800-FLOWERS"), PhoneError::InvalidCharacters);
}

/// An extension reaches a desk behind a switchboard, which WhatsApp cannot: refused, not
/// dropped, so the contact is not stored under the switchboard's number.
#[test]
fn extensions_in_any_spelling_are_refused() {
    assert_eq!(err("tel:+33-6-12-34-56-78;ext=12"), PhoneError::Extension);
    assert_eq!(err("TEL:+33612345678;EXT=12"), PhoneError::Extension);
    assert_eq!(err("tel:+1-202-555-0173;isub=1411"), PhoneError::Extension);
    assert_eq!(err("\"+1 202 555 0173 x89\""), PhoneError::Extension);
    assert_eq!(err("+1 202 555 0173 (ext 89)"), PhoneError::Extension);
}

#[test]
fn every_refusal_has_a_code_and_a_reason() {
    assert_eq!(PhoneError::SeveralNumbers.code(), "several_numbers");
    assert!(PhoneError::SeveralNumbers.to_string().contains("more than one"));
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    /// Valid numbers as (country code, national significant number).
    const SAMPLES: [(&str, &str); 8] = [
        ("33", "612345678"),
        ("1", "2025550173"),
        ("84", "901234567"),
        ("44", "2071838750"),
        ("55", "11987654321"),
        ("49", "30901820"),
        ("971", "501234567"),
        ("39", "0669821234"),
    ];

    const SPELLINGS: usize = 12;
    const WRAPPERS: usize = 8;

    /// The national number in groups of two to four digits joined by `sep`.
    fn grouped(nsn: &str, sep: &str) -> String {
        let mut out = String::new();
        let mut rest = nsn;
        while !rest.is_empty() {
            let take = if rest.len() <= 4 { rest.len() } else { 3 - rest.len() % 2 };
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(&rest[..take]);
            rest = &rest[take..];
        }
        out
    }

    fn full_width(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap(),
                '+' => '\u{FF0B}',
                c => c,
            })
            .collect()
    }

    /// One spelling of `+{cc}{nsn}`.
    fn spell(spelling: usize, cc: &str, nsn: &str, sep: &str) -> String {
        let groups = grouped(nsn, sep);
        match spelling {
            0 => format!("+{cc}{sep}{groups}"),
            1 => format!("(+{cc}) {groups}"),
            // The trunk `(0)` only where the national number does not itself start with 0.
            2 if !nsn.starts_with('0') => format!("+{cc} (0){groups}"),
            3 => format!("tel:+{cc}-{}", grouped(nsn, "-")),
            4 => format!("00{sep}{cc}{sep}{groups}"),
            5 => format!("{cc}{sep}{groups}"),
            6 => full_width(&format!("+{cc} {groups}")),
            7 => format!("+{cc}.{}", grouped(nsn, ".")),
            8 => format!("+{cc}{sep}{groups} (mobile)"),
            9 => format!("+{cc}\u{200E}{sep}{groups}"),
            10 => format!("+{cc} ({}) {}", &nsn[..3], grouped(&nsn[3..], sep)),
            _ => format!("+{cc}{nsn}"),
        }
    }

    /// The spelling inside a spreadsheet or clipboard artefact.
    fn wrap(wrapper: usize, inner: &str) -> String {
        match wrapper {
            0 => format!("'{inner}"),
            1 => format!("=\"{inner}\""),
            2 => format!("\"{inner}\""),
            3 => format!("\u{202A}{inner}\u{202C}"),
            4 => format!("\u{2068}{inner}\u{2069}"),
            5 => format!("  {inner}\u{00A0}"),
            6 => format!("\u{FEFF}{inner}"),
            _ => inner.to_owned(),
        }
    }

    proptest! {
        /// Normalizing an already-normalized number returns it unchanged.
        #[test]
        fn normalizing_is_idempotent(input in "[+0-9 ().-]{1,24}") {
            if let Ok(first) = normalize(&input, None) {
                let again = normalize(first.as_str(), None).expect("normalized number stays valid");
                prop_assert_eq!(first, again);
            }
        }

        #[test]
        fn never_panics(input in "\\PC{0,80}") {
            let _ = normalize(&input, None);
            let _ = normalize(&input, parse_region("FR"));
        }

        /// Separators never change the result.
        #[test]
        fn separators_do_not_matter(sep in "[ .()/-]{0,2}") {
            let with = format!("+33{sep}6{sep}12{sep}34{sep}56{sep}78");
            prop_assert_eq!(normalize(&with, None).unwrap().into_string(), "+33612345678");
        }

        /// A valid number written in any spelling people export reads as the same E.164.
        #[test]
        fn spellings_do_not_matter(
            number in 0..SAMPLES.len(),
            spelling in 0..SPELLINGS,
            wrapper in 0..WRAPPERS,
            sep in prop::sample::select(vec![" ", "-", ".", "", "\u{00A0}", "\u{202F}", " - "]),
        ) {
            let (cc, nsn) = SAMPLES[number];
            let text = wrap(wrapper, &spell(spelling, cc, nsn, sep));
            let expected = format!("+{cc}{nsn}");
            prop_assert_eq!(normalize(&text, None).map(E164::into_string), Ok(expected), "{:?}", text);
        }
    }
}

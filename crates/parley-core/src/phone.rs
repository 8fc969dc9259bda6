//! Phone numbers in E.164, the only form Parley stores.
//!
//! The rule (PRODUCT.md §2): strip spaces, dashes, dots, parentheses and slashes; a leading `00`
//! means `+`; digits without `+` start with the country code (we prefix `+` and parse with no
//! region, never as a national number); the result must be valid per libphonenumber's rules.
//! A workspace may set a default region: then input that is not valid read internationally is
//! tried as a national number of that region.
//!
//! libphonenumber is `rlibphonenumber`, pinned in the workspace manifest (metadata v9.0.42): it
//! agreed with Google's reference implementation where the older `phonenumber` crate did not.

use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, ParseError, PhoneNumberFormat, ValidationError};
use serde::{Deserialize, Serialize};

pub use rlibphonenumber::Region;

/// Longest input we are willing to look at. E.164 has at most 15 digits; anything much longer is
/// not a phone number, and capping keeps the parser's work bounded.
const MAX_INPUT_CHARS: usize = 64;

/// Every country calling code libphonenumber knows.
static CALLING_CODES: std::sync::LazyLock<std::collections::HashSet<i32>> =
    std::sync::LazyLock::new(|| PHONE_NUMBER_UTIL.get_supported_calling_codes().collect());

/// A valid phone number in E.164 form: `+` followed by the country code and subscriber number.
/// Only [`normalize`] and [`E164::parse`] make one, so holding an `E164` means it is valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    /// Parses a number with no default region (the strict rule).
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        normalize(input, None)
    }

    /// Wraps a number read back from the store, which only ever holds normalized numbers. Not
    /// re-validated: a metadata update must not make stored contacts unreadable.
    pub fn from_stored(stored: String) -> Self {
        E164(stored)
    }

    /// The number with its leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without `+`: the form WhatsApp uses as `wa_id`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The national significant number's digits, without the country calling code
    /// (`+33612345678` → `612345678`, `+14155550123` → `4155550123`): what people type without
    /// the country code. Calling codes are prefix-free, so the first 1–3 digits that are one are
    /// it; no parse needed.
    pub fn national_digits(&self) -> &str {
        let digits = self.digits();
        (1..=3)
            .find(|n| digits.get(..*n).and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| CALLING_CODES.contains(&c)))
            .map_or(digits, |n| &digits[n..])
    }

    /// The two-letter region the number belongs to (`US`, `FR`…), when libphonenumber knows it.
    pub fn region(&self) -> Option<String> {
        let number = PHONE_NUMBER_UTIL.parse(&self.0, None).ok()?;
        number.get_region_code().map(|r| r.as_region_str().to_string())
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        E164::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why an input is not a phone number we accept. `Display` gives the human reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the number is empty")]
    Empty,
    #[error("the number contains letters or symbols other than spaces, dashes, dots, parentheses and slashes")]
    InvalidCharacters,
    #[error("the number has an extension, which WhatsApp cannot reach")]
    Extension,
    #[error("the number has no country code (write it with + or 00 and the country code)")]
    MissingCountryCode,
    #[error("the country code is not assigned")]
    InvalidCountryCode,
    #[error("the number is too short")]
    TooShort,
    #[error("the number is too long")]
    TooLong,
    #[error("the number's length is not valid for its country")]
    InvalidLength,
    #[error("the number is not a valid number for its country")]
    NotValid,
}

impl PhoneError {
    /// A stable snake_case name for reports and CSV outputs.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "empty",
            PhoneError::InvalidCharacters => "invalid_characters",
            PhoneError::Extension => "extension",
            PhoneError::MissingCountryCode => "missing_country_code",
            PhoneError::InvalidCountryCode => "invalid_country_code",
            PhoneError::TooShort => "too_short",
            PhoneError::TooLong => "too_long",
            PhoneError::InvalidLength => "invalid_length",
            PhoneError::NotValid => "not_valid",
        }
    }
}

/// Normalizes `input` to E.164 under Parley's rule; `default_region` enables national input.
pub fn normalize(input: &str, default_region: Option<Region>) -> Result<E164, PhoneError> {
    let cleaned = clean(input)?;
    let international = read_international(&cleaned);
    match (international, default_region) {
        (Ok(number), _) => Ok(number),
        // A leading `+`/`00` is explicit: never reinterpret it as a national number.
        (Err(e), _) if cleaned.explicit_plus => Err(e),
        (Err(e), None) => Err(e),
        (Err(e), Some(region)) => read_national(&cleaned.digits, region).map_err(|national| {
            // Report the national reading's reason unless it tells less than the international one.
            if national == PhoneError::NotValid { e } else { national }
        }),
    }
}

/// The input reduced to digits, and whether it said `+`/`00` explicitly.
struct Cleaned {
    digits: String,
    explicit_plus: bool,
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '-' | '.' | '(' | ')' | '/' | '\u{00A0}' | '\u{202F}' | '\u{2007}' | '\u{2010}'
            ..='\u{2015}' | '\u{2212}'
    )
}

fn clean(input: &str) -> Result<Cleaned, PhoneError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    if trimmed.chars().count() > MAX_INPUT_CHARS {
        return Err(PhoneError::TooLong);
    }
    if has_extension(trimmed) {
        return Err(PhoneError::Extension);
    }
    let mut digits = String::with_capacity(trimmed.len());
    let mut explicit_plus = false;
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' | '\u{FF0B}' if i == 0 => explicit_plus = true,
            c if is_separator(c) => {}
            _ => return Err(PhoneError::InvalidCharacters),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    if !explicit_plus && let Some(rest) = digits.strip_prefix("00") {
        digits = rest.to_owned();
        explicit_plus = true;
    }
    if digits.is_empty() {
        return Err(PhoneError::TooShort);
    }
    Ok(Cleaned { digits, explicit_plus })
}

/// Extensions are written `ext. 12`, `x12`, `#12` or `;ext=12` (RFC 3966).
fn has_extension(s: &str) -> bool {
    let bytes = s.as_bytes();
    // Fast path: most inputs have none of the marker characters.
    if !bytes.iter().any(|b| matches!(b, b'x' | b'X' | b'#' | b';' | b'e' | b'E')) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if lower.contains("ext") || lower.contains('#') || lower.contains(';') {
        return true;
    }
    // `x` followed by digits, after at least one digit: `555-0173 x89`.
    let bytes = lower.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'x'
            && bytes[..i].iter().any(u8::is_ascii_digit)
            && bytes[i + 1..].iter().find(|c| **c != b' ' && **c != b'.').is_some_and(u8::is_ascii_digit)
    })
}

fn read_international(cleaned: &Cleaned) -> Result<E164, PhoneError> {
    if cleaned.digits.starts_with('0') {
        // Country codes never start with 0: this is a national number (trunk prefix 0).
        return Err(if cleaned.explicit_plus {
            PhoneError::InvalidCountryCode
        } else {
            PhoneError::MissingCountryCode
        });
    }
    if cleaned.digits.len() > 17 {
        return Err(PhoneError::TooLong);
    }
    let mut text = String::with_capacity(cleaned.digits.len() + 1);
    text.push('+');
    text.push_str(&cleaned.digits);
    validate(PHONE_NUMBER_UTIL.parse(&text, None))
}

fn read_national(digits: &str, region: Region) -> Result<E164, PhoneError> {
    if digits.len() > 17 {
        return Err(PhoneError::TooLong);
    }
    validate(PHONE_NUMBER_UTIL.parse(digits, Some(region)))
}

fn validate(parsed: Result<rlibphonenumber::PhoneNumber, ParseError>) -> Result<E164, PhoneError> {
    let number = parsed.map_err(|e| match e {
        ParseError::InvalidCountryCode => PhoneError::InvalidCountryCode,
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => PhoneError::TooShort,
        ParseError::TooLongNsn => PhoneError::TooLong,
        ParseError::NotANumber(_) => PhoneError::NotValid,
    })?;
    if number.extension.as_deref().is_some_and(|x| !x.is_empty()) {
        return Err(PhoneError::Extension);
    }
    if number.is_valid() {
        return Ok(E164(number.format_as(PhoneNumberFormat::E164).into_owned()));
    }
    // Only invalid numbers pay for the finer diagnosis.
    Err(match number.is_possible_with_reason() {
        Err(ValidationError::InvalidCountryCode) => PhoneError::InvalidCountryCode,
        Err(ValidationError::TooShort) => PhoneError::TooShort,
        Err(ValidationError::TooLong) => PhoneError::TooLong,
        Err(ValidationError::InvalidLength) => PhoneError::InvalidLength,
        Ok(_) => PhoneError::NotValid,
    })
}

/// Parses a two-letter region code (`FR`, `vn`) for the workspace default region.
pub fn parse_region(code: &str) -> Option<Region> {
    let upper = code.trim().to_ascii_uppercase();
    let region = Region::from_code(&upper).ok()?;
    // Only regions libphonenumber has metadata for are useful as a default.
    PHONE_NUMBER_UTIL.get_country_code_for_region(region).map(|_| region)
}

#[cfg(test)]
mod tests {
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

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

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
        }
    }
}

//! Phone numbers in E.164, the only form Parley stores.
//!
//! The rule (PRODUCT.md §2): strip spaces, dashes, dots, parentheses and slashes; a leading `00`
//! means `+`; digits without `+` start with the country code (we prefix `+` and parse with no
//! region, never as a national number); the result must be valid per libphonenumber's rules.
//! A workspace may set a default region: then input that is not valid read internationally is
//! tried as a national number of that region.
//!
//! Every spelling that carries an unambiguous country code is read, whatever wraps it, so the
//! API, the CLI, imports and webhooks agree (all call [`normalize`]). Each decision:
//!
//! - `(+33) 6 12 34 56 78`: parentheses are decoration once the `+` is there.
//! - `+33 (0)6 12 34 56 78`, `+44 (0)20…`: a `(0)` right after the country code is the trunk
//!   prefix and is dropped, unless the number is only valid with it (`+39 (0)6…`: Italy keeps
//!   its 0). A bare `0` there (`+33 0 6…`) is not a convention and still makes the number invalid.
//! - `tel:+33612345678` (RFC 3966, any case): the scheme goes, and so do parameters such as
//!   `;phone-context=`. An `;ext=` or `;isub=` parameter is **refused**, like `x12` and `ext. 12`:
//!   an extension reaches a desk behind a switchboard, which WhatsApp cannot, and dropping it
//!   would store the contact under the switchboard's number.
//! - Spreadsheet artefacts: the text prefix `'+33…`, Excel's text formula `="+33…"`, and one pair
//!   of quotes around the whole text (`"…"`, `'…'`, `“…”`, `‘…’`, `«…»`). A quote that is not
//!   paired, or a formula that is not text (`=+33…`), is refused as an invalid character.
//! - Spaces of every Unicode width (no-break U+00A0, narrow no-break U+202F, thin, ideographic),
//!   full-width digits, plus, parentheses, dashes and dots (`＋３３…`), and the decimal digits of
//!   Arabic-Indic, Persian, Devanagari, Bengali, Thai and Myanmar script read as ASCII.
//! - Directional and invisible marks that phones copy along with a number (U+200E/U+200F,
//!   U+202A–U+202E, U+2066–U+2069, zero-width spaces and joiners, soft hyphen, byte order mark)
//!   are ignored wherever they stand.
//! - `+33612345678 (mobile)`: a trailing group in parentheses holding letters and no digits is an
//!   address book's label and is dropped. Letters anywhere else are refused, vanity numbers
//!   (`+1-800-FLOWERS`) included: mapping letters to keypad digits guesses at intent.
//! - `(33) 612345678`, `(202) 555-0173`: digits in parentheses at the start without `+` or `00`
//!   are how North Americans write an area code, so no country code can be read from them: they
//!   are refused as missing a country code, or read as a national number of the default region.
//! - National numbers without a country code (`06 12 34 56 78`, `tel:0612345678`) stay refused
//!   with `missing_country_code` unless the workspace has a default region.
//! - Two numbers in one text (a second `+`, or `,` `;` `|` or a line break between digits) are
//!   refused with `several_numbers`.
//!
//! The cleaning is a few prefix and suffix checks, then one pass over the characters: no regex,
//! nothing built per call but the digit string, so refused inputs cost little.
//!
//! libphonenumber is `rlibphonenumber`, pinned in the workspace manifest (metadata v9.0.42): it
//! agreed with Google's reference implementation where the older `phonenumber` crate did not.

use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, ParseError, PhoneNumberFormat, ValidationError};
use serde::{Deserialize, Serialize};

pub use rlibphonenumber::Region;

/// Longest number text we are willing to look at, in visible characters once its wrapping is
/// peeled off. E.164 has at most 15 digits; anything much longer is not a phone number, and
/// capping keeps the parser's work bounded.
const MAX_INPUT_CHARS: usize = 64;

/// Longest raw input, in bytes, wrapping and invisible marks included: bounds the work before
/// the visible characters are counted.
const MAX_INPUT_BYTES: usize = 256;

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
    #[error("the text holds more than one number (give one number per field)")]
    SeveralNumbers,
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
            PhoneError::SeveralNumbers => "several_numbers",
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
    if cleaned.area_code_first {
        // `(202) 555-0173`: the parentheses hold an area code, so only a region can complete it.
        return match default_region {
            None => Err(PhoneError::MissingCountryCode),
            Some(region) => read_national(&cleaned.digits, region),
        };
    }
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

/// The input reduced to ASCII digits, and what its spelling said about them.
struct Cleaned {
    digits: String,
    /// It said `+` or `00`.
    explicit_plus: bool,
    /// It began with digits in parentheses and said neither `+` nor `00`: `(202) 555-0173`.
    area_code_first: bool,
    /// Where in `digits` a `(0)` stood after other digits: the trunk prefix `+33 (0)6…` when the
    /// digits before it are a country calling code.
    trunk_zero: Option<usize>,
}

fn clean(input: &str) -> Result<Cleaned, PhoneError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(PhoneError::TooLong);
    }
    let body = peel(input)?;
    if body.is_empty() {
        return Err(PhoneError::Empty);
    }
    if has_extension(body) {
        return Err(PhoneError::Extension);
    }
    scan(body)
}

/// Takes off what surrounds a number in exports and clipboards, outside in: spaces and invisible
/// marks, Excel's text formula `="…"` or quotes around the whole text, the spreadsheet text
/// prefix `'`, a `tel:` scheme with its parameters, and a trailing `(label)`. Answers the
/// number's own text; refuses a `tel:` URI that names an extension.
fn peel(input: &str) -> Result<&str, PhoneError> {
    let mut s = trim(input);
    if let Some(inner) = s.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')) {
        s = trim(inner);
    } else if let Some(inner) = unquote(s) {
        s = trim(inner);
    }
    if let Some(rest) = s.strip_prefix('\'') {
        s = trim(rest);
    }
    // The first four bytes are ASCII when they match, so slicing after them is on a boundary.
    if s.len() >= 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"tel:") {
        let (number, params) = s[4..].split_once(';').unwrap_or((&s[4..], ""));
        let names_a_line_behind = params.split(';').any(|param| {
            let name = param.split('=').next().unwrap_or("").trim();
            name.eq_ignore_ascii_case("ext") || name.eq_ignore_ascii_case("isub")
        });
        if names_a_line_behind {
            return Err(PhoneError::Extension);
        }
        s = trim(number);
    }
    Ok(without_label(s))
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || is_invisible(c))
}

/// The text inside one pair of quotes around all of `s`, if there is such a pair.
fn unquote(s: &str) -> Option<&str> {
    const PAIRS: [(char, char); 5] =
        [('"', '"'), ('\'', '\''), ('\u{201C}', '\u{201D}'), ('\u{2018}', '\u{2019}'), ('\u{00AB}', '\u{00BB}')];
    let first = s.chars().next()?;
    let (_, close) = PAIRS.iter().find(|(open, _)| *open == first)?;
    s[first.len_utf8()..].strip_suffix(*close)
}

/// `+33612345678 (mobile)` → `+33612345678`: a trailing group in parentheses with letters and
/// no digits, after a number, is an address book's label, not part of the number.
fn without_label(s: &str) -> &str {
    let Some(rest) = s.strip_suffix(')') else { return s };
    let Some(open) = rest.rfind('(') else { return s };
    let (number, label) = (&rest[..open], &rest[open + 1..]);
    let is_label = label.chars().any(char::is_alphabetic) && !label.chars().any(|c| decimal_digit(c).is_some());
    if is_label && number.chars().any(|c| decimal_digit(c).is_some()) { trim(number) } else { s }
}

/// One pass over the number's text: digits of any supported script become ASCII, separators
/// go, and what the punctuation says (`+`, leading or trunk parentheses, a second number) is
/// noted.
fn scan(body: &str) -> Result<Cleaned, PhoneError> {
    let mut digits = String::with_capacity(body.len().min(24));
    let mut explicit_plus = false;
    let mut area_code_first = false;
    let mut open_at: Option<usize> = None;
    let mut trunk_zero = None;
    // Where a `+` or list mark stood after digits: a second number if digits follow it.
    let mut second_at: Option<usize> = None;
    let mut visible = 0;
    for c in body.chars() {
        // Invisible marks are never ASCII: most inputs skip the check.
        if !c.is_ascii() && is_invisible(c) {
            continue;
        }
        visible += 1;
        if visible > MAX_INPUT_CHARS {
            return Err(PhoneError::TooLong);
        }
        if let Some(d) = decimal_digit(c) {
            digits.push(d);
            continue;
        }
        match c {
            '+' | '\u{FF0B}' if digits.is_empty() && !explicit_plus => explicit_plus = true,
            '+' | '\u{FF0B}' | ',' | ';' | '|' | '\n' | '\r' | '\u{FF0C}' if !digits.is_empty() => {
                second_at = second_at.or(Some(digits.len()));
            }
            '(' | '\u{FF08}' => {
                area_code_first |= digits.is_empty() && !explicit_plus;
                open_at = Some(digits.len());
            }
            ')' | '\u{FF09}' => {
                if open_at.take().is_some_and(|at| at > 0 && digits.len() == at + 1 && digits.ends_with('0')) {
                    trunk_zero = Some(digits.len() - 1);
                }
            }
            c if is_separator(c) => {}
            _ => return Err(PhoneError::InvalidCharacters),
        }
    }
    if let Some(at) = second_at {
        return Err(if digits.len() > at { PhoneError::SeveralNumbers } else { PhoneError::InvalidCharacters });
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    if !explicit_plus && digits.starts_with("00") {
        digits.drain(..2);
        explicit_plus = true;
        trunk_zero = trunk_zero.and_then(|at| at.checked_sub(2)).filter(|at| *at > 0);
    }
    if digits.is_empty() {
        return Err(PhoneError::TooShort);
    }
    Ok(Cleaned { digits, explicit_plus, area_code_first: area_code_first && !explicit_plus, trunk_zero })
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '-' | '.' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}' | '\u{FF0E}' | '\u{FF0F}')
}

/// Marks that change how text is shown, not what it says: phones and web pages wrap numbers in
/// directional isolates and embeddings (U+202A–U+202E, U+2066–U+2069), left-to-right and
/// right-to-left marks, zero-width spaces and joiners, soft hyphens and byte order marks.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The ASCII digit a decimal digit stands for, in the scripts people type numbers in: ASCII,
/// full-width (East Asian input), Arabic-Indic, Extended Arabic-Indic (Persian, Urdu),
/// Devanagari, Bengali, Thai and Myanmar.
fn decimal_digit(c: char) -> Option<char> {
    if c.is_ascii() {
        return c.is_ascii_digit().then_some(c);
    }
    const ZEROS: [u32; 7] = [0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1040];
    let code = u32::from(c);
    ZEROS.iter().find_map(|zero| {
        let value = code.wrapping_sub(*zero);
        (value < 10).then(|| char::from(b'0' + value as u8))
    })
}

/// Extensions are written `ext. 12`, `x12` or `#12` (a `tel:` URI's `;ext=12` is read by
/// [`peel`]).
fn has_extension(s: &str) -> bool {
    let bytes = s.as_bytes();
    // Fast path: most inputs have none of the marker characters.
    if !bytes.iter().any(|b| matches!(b, b'x' | b'X' | b'#' | b'e' | b'E')) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if lower.contains("ext") || lower.contains('#') {
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

/// Reads the digits as country code and number. A `(0)` right after the country code is the
/// trunk prefix and is dropped, unless the number is only valid with it (Italy keeps its 0).
fn read_international(cleaned: &Cleaned) -> Result<E164, PhoneError> {
    let digits = &cleaned.digits;
    let Some(at) = cleaned.trunk_zero.filter(|at| is_calling_code(&digits[..*at])) else {
        return read_international_digits(digits, cleaned.explicit_plus);
    };
    let mut without = digits.clone();
    without.remove(at);
    read_international_digits(&without, cleaned.explicit_plus)
        .or_else(|e| read_international_digits(digits, cleaned.explicit_plus).map_err(|_| e))
}

fn is_calling_code(digits: &str) -> bool {
    digits.len() <= 3 && digits.parse::<i32>().is_ok_and(|code| CALLING_CODES.contains(&code))
}

fn read_international_digits(digits: &str, explicit_plus: bool) -> Result<E164, PhoneError> {
    if digits.starts_with('0') {
        // Country codes never start with 0: this is a national number (trunk prefix 0).
        return Err(if explicit_plus { PhoneError::InvalidCountryCode } else { PhoneError::MissingCountryCode });
    }
    if digits.len() > 17 {
        return Err(PhoneError::TooLong);
    }
    let mut text = String::with_capacity(digits.len() + 1);
    text.push('+');
    text.push_str(digits);
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
mod tests;

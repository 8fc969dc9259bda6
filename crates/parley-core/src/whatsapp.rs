//! WhatsApp user identifiers: the `wa_id` (digits, no `+`) and the business-scoped user id
//! (BSUID, 2026), and how a `wa_id` maps to E.164 numbers.
//!
//! WhatsApp ids are not always the number the business has on file (PRODUCT.md §2):
//! - Brazil: older accounts have ids without the mobile ninth digit (`55 11 1234-5678` for
//!   `+55 11 91234-5678`);
//! - Mexico: ids keep the `1` after `52` that Mexico dropped in 2019 (`521 55…` for `+52 55…`);
//! - Argentina: mobile numbers are `+54 9 …` internationally, and appear with or without the `9`.
//!
//! [`phone_candidates`] lists the E.164 numbers a `wa_id` may stand for, the canonical one first;
//! [`equivalent_numbers`] lists the other forms of a stored number.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::phone::{E164, normalize};
use crate::validation::Invalid;

/// A WhatsApp id: 5 to 20 ASCII digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WaId(String);

impl WaId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim().trim_start_matches('+');
        if (5..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(WaId(s.to_owned()))
        } else {
            Err(Invalid::request("wa_id", "a WhatsApp id is 5 to 20 digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `wa_id` of a phone number: its digits.
    pub fn from_phone(phone: &E164) -> Self {
        WaId(phone.digits().to_owned())
    }
}

impl fmt::Display for WaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A business-scoped user id (`US.13491208655302741918`): a two-letter country, a dot and up to
/// 128 letters, digits or dots (the parent form is `CC.ENT.<digits>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bsuid(String);

impl Bsuid {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let good = s.len() >= 4
            && s.len() <= 140
            && s.as_bytes()[..2].iter().all(u8::is_ascii_uppercase)
            && s.as_bytes()[2] == b'.'
            && s[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
        if good { Ok(Bsuid(s.to_owned())) } else { Err(Invalid::request("user_id", "not a business-scoped user id")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The E.164 numbers `wa_id` may stand for, canonical (the one to store) first. Empty when no
/// reading is a valid number.
pub fn phone_candidates(wa_id: &WaId) -> Vec<E164> {
    let digits = wa_id.as_str();
    let mut forms = Vec::with_capacity(2);
    if let Some(alt) = quirk_alternative(digits) {
        // The quirk's preferred form goes first when it is valid.
        forms.push(alt.preferred);
        forms.push(alt.other);
    } else {
        forms.push(digits.to_owned());
    }
    let mut out: Vec<E164> = Vec::with_capacity(2);
    for form in forms {
        if let Ok(number) = normalize(&format!("+{form}"), None)
            && !out.contains(&number)
        {
            out.push(number);
        }
    }
    out
}

/// The other E.164 forms under which the same WhatsApp user may be stored (for duplicate
/// detection and contact lookup): empty for numbers without a quirk.
pub fn equivalent_numbers(phone: &E164) -> Vec<E164> {
    let Some(alt) = quirk_alternative(phone.digits()) else { return Vec::new() };
    [alt.preferred, alt.other]
        .into_iter()
        .filter_map(|d| normalize(&format!("+{d}"), None).ok())
        .filter(|n| n != phone)
        .collect()
}

/// The digit forms of one WhatsApp number, the preferred one first: both forms of a quirky
/// number (Brazil's ninth digit, Mexico's `521`, Argentina's `549`), or the digits alone. Forms
/// need not be valid numbers (old WhatsApp ids are not).
pub fn number_forms(digits: &str) -> Vec<String> {
    match quirk_alternative(digits) {
        Some(alt) => vec![alt.preferred, alt.other],
        None => vec![digits.to_owned()],
    }
}

struct Alternative {
    preferred: String,
    other: String,
}

/// The two digit strings of a quirky number, in preference order; `None` for other countries.
fn quirk_alternative(digits: &str) -> Option<Alternative> {
    if let Some(rest) = digits.strip_prefix("55") {
        // Brazil: 2-digit area code, then 8 digits (old id) or 9 digits starting with 9 (mobile).
        let (area, number) = (rest.get(..2)?, rest.get(2..)?);
        return match number.len() {
            8 if matches!(number.as_bytes()[0], b'6'..=b'9') => {
                Some(Alternative { preferred: format!("55{area}9{number}"), other: digits.to_owned() })
            }
            9 if number.starts_with('9') => {
                Some(Alternative { preferred: digits.to_owned(), other: format!("55{area}{}", &number[1..]) })
            }
            _ => None,
        };
    }
    if let Some(rest) = digits.strip_prefix("52") {
        // Mexico: `521` + 10 digits is the pre-2019 mobile form of `52` + 10 digits.
        return match rest.len() {
            11 if rest.starts_with('1') => {
                Some(Alternative { preferred: format!("52{}", &rest[1..]), other: digits.to_owned() })
            }
            10 => Some(Alternative { preferred: digits.to_owned(), other: format!("521{rest}") }),
            _ => None,
        };
    }
    if let Some(rest) = digits.strip_prefix("54") {
        // Argentina: mobile numbers carry a 9 after the country code internationally.
        return match rest.strip_prefix('9') {
            Some(national) if national.len() == 10 => {
                Some(Alternative { preferred: digits.to_owned(), other: format!("54{national}") })
            }
            None if rest.len() == 10 => Some(Alternative { preferred: format!("549{rest}"), other: digits.to_owned() }),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wa(s: &str) -> WaId {
        WaId::parse(s).unwrap()
    }

    fn strs(v: Vec<E164>) -> Vec<String> {
        v.into_iter().map(E164::into_string).collect()
    }

    #[test]
    fn plain_ids_map_to_their_number() {
        assert_eq!(strs(phone_candidates(&wa("33612345678"))), ["+33612345678"]);
        assert!(phone_candidates(&wa("99912345")).is_empty());
    }

    #[test]
    fn brazil_ninth_digit() {
        // An old id without the ninth digit finds the mobile number (the 8-digit form is no
        // longer a valid number, so it is never a candidate of its own).
        assert_eq!(strs(phone_candidates(&wa("551191234567"))), ["+5511991234567"]);
        assert_eq!(strs(phone_candidates(&wa("5511991234567"))), ["+5511991234567"]);
        // Landlines (area code then 2-5) have no ninth digit.
        assert_eq!(strs(phone_candidates(&wa("551133334444"))), ["+551133334444"]);
    }

    #[test]
    fn mexico_mobile_one() {
        // +52 1 … is no longer a valid number, so only the modern form is a candidate.
        assert_eq!(strs(phone_candidates(&wa("5215512345678"))), ["+525512345678"]);
        assert_eq!(strs(phone_candidates(&wa("525512345678"))), ["+525512345678"]);
        assert!(equivalent_numbers(&E164::parse("+525512345678").unwrap()).is_empty());
    }

    #[test]
    fn argentina_mobile_nine() {
        let with_nine = strs(phone_candidates(&wa("5491123456789")));
        assert_eq!(with_nine[0], "+5491123456789");
        let without = strs(phone_candidates(&wa("541123456789")));
        assert_eq!(without, ["+5491123456789", "+541123456789"]);
        let stored = E164::parse("+54 11 2345-6789").unwrap();
        assert_eq!(strs(equivalent_numbers(&stored)), ["+5491123456789"]);
    }

    #[test]
    fn other_countries_have_no_equivalents() {
        assert!(equivalent_numbers(&E164::parse("+33612345678").unwrap()).is_empty());
    }

    #[test]
    fn ids_parse() {
        assert!(WaId::parse("+33612345678").is_ok());
        assert!(WaId::parse("12ab").is_err());
        assert!(Bsuid::parse("US.13491208655302741918").is_ok());
        assert!(Bsuid::parse("US.ENT.11815799212886844830").is_ok());
        assert!(Bsuid::parse("us.123").is_err());
        assert!(Bsuid::parse("US-123").is_err());
    }
}

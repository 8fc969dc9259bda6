//! Email addresses: trimmed, syntax-checked strictly, stored lowercase (PRODUCT.md §2).

use std::fmt;

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};

/// Longest address we accept (RFC 5321's path limit).
const MAX_LEN: usize = 254;

/// A syntactically valid email address in lowercase. Comparing two `Email`s ignores the case the
/// user typed, so `Ana@X.com` and `ana@x.com` are the same contact.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the email address is not valid: {0}")]
    Syntax(String),
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        // Strict: no display names (`Ana <ana@x.com>`), no bare hosts (`ana@localhost`), no
        // domain literals (`ana@[1.2.3.4]`).
        let options = Options::default().without_display_text().with_required_tld().without_domain_literal();
        let parsed =
            EmailAddress::parse_with_options(trimmed, options).map_err(|e| EmailError::Syntax(e.to_string()))?;
        Ok(Email(parsed.as_str().to_lowercase()))
    }

    /// Wraps an address read back from the store, which only ever holds parsed addresses.
    pub fn from_stored(stored: String) -> Self {
        Email(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_trims() {
        assert_eq!(Email::parse("  Ana@X.com ").unwrap().as_str(), "ana@x.com");
        assert_eq!(Email::parse("ANA.Lopez+news@Example.CO.UK").unwrap().as_str(), "ana.lopez+news@example.co.uk");
    }

    #[test]
    fn same_address_in_other_case_is_equal() {
        assert_eq!(Email::parse("Ana@X.com").unwrap(), Email::parse("ana@x.COM").unwrap());
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in ["ana", "ana@", "@x.com", "ana@@x.com", "ana x@x.com", "ana@x", "ana@localhost", "a..b@x.com"] {
            assert!(matches!(Email::parse(bad), Err(EmailError::Syntax(_))), "{bad} accepted");
        }
    }

    #[test]
    fn rejects_display_names_and_literals() {
        assert!(Email::parse("Ana <ana@x.com>").is_err());
        assert!(Email::parse("<ana@x.com>").is_err());
        assert!(Email::parse("ana@[127.0.0.1]").is_err());
    }

    #[test]
    fn rejects_empty_and_long() {
        assert_eq!(Email::parse("  "), Err(EmailError::Empty));
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}

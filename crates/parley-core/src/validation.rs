//! The one error type for input that breaks a domain rule: a stable `code`, the `field` it is
//! about, and a human message. The server turns it into a 4xx JSON error as is.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Stable snake_case code (`invalid_phone`, `invalid_email`, `invalid_request`, …).
    pub code: &'static str,
    /// The request field at fault, when there is one (`phone`, `fields.plan`, …).
    pub field: Option<String>,
    pub message: String,
}

impl Invalid {
    pub fn new(code: &'static str, field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Invalid { code, field: field.into(), message: message.into() }
    }

    /// A request-shape problem (`invalid_request`) about `field`.
    pub fn request(field: &str, message: impl Into<String>) -> Self {
        Invalid::new("invalid_request", Some(field.to_owned()), message)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Invalid {}

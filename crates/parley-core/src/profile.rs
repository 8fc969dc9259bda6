//! The WhatsApp business profile (spec/meta-cloud-api.md §6.14): what a change may contain,
//! checked against Meta's limits before it goes to the provider.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Email;
use crate::validation::Invalid;

pub const MAX_ABOUT_CHARS: usize = 139;
pub const MAX_ADDRESS_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 512;
pub const MAX_EMAIL_CHARS: usize = 128;
pub const MAX_WEBSITES: usize = 2;
pub const MAX_WEBSITE_CHARS: usize = 256;

/// The industries Meta lets a business pick (`UNDEFINED` and `NOT_A_BIZ` exist but cannot be set).
pub const VERTICALS: &[&str] = &[
    "ALCOHOL",
    "APPAREL",
    "AUTO",
    "BEAUTY",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GOVT",
    "GROCERY",
    "HEALTH",
    "HOTEL",
    "NONPROFIT",
    "ONLINE_GAMBLING",
    "OTC_DRUGS",
    "OTHER",
    "PHYSICAL_GAMBLING",
    "PROF_SERVICES",
    "RESTAURANT",
    "RETAIL",
    "TRAVEL",
];

/// A change to the profile; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub about: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub websites: Option<Vec<String>>,
    /// One of [`VERTICALS`] (any case), or `""` to clear it.
    pub vertical: Option<String>,
    /// A Resumable Upload handle of the new photo.
    pub profile_picture_handle: Option<String>,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid::new("invalid_profile", Some(field.to_owned()), message)
}

fn at_most(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    let n = value.chars().count();
    if n > max { Err(invalid(field, format!("must be at most {max} characters ({n} given)"))) } else { Ok(()) }
}

impl ProfilePatch {
    /// Checks Meta's limits; answers the body to post (without `messaging_product`).
    pub fn validate(&self) -> Result<Value, Invalid> {
        let mut out = Map::new();
        if let Some(about) = &self.about {
            let about = about.trim();
            if about.is_empty() {
                return Err(invalid("about", "cannot be empty"));
            }
            at_most("about", about, MAX_ABOUT_CHARS)?;
            out.insert("about".into(), about.into());
        }
        if let Some(address) = &self.address {
            at_most("address", address.trim(), MAX_ADDRESS_CHARS)?;
            out.insert("address".into(), address.trim().into());
        }
        if let Some(description) = &self.description {
            at_most("description", description.trim(), MAX_DESCRIPTION_CHARS)?;
            out.insert("description".into(), description.trim().into());
        }
        if let Some(email) = &self.email {
            let email = email.trim();
            if !email.is_empty() {
                at_most("email", email, MAX_EMAIL_CHARS)?;
                Email::parse(email).map_err(|_| invalid("email", "is not a valid email address"))?;
            }
            out.insert("email".into(), email.into());
        }
        if let Some(websites) = &self.websites {
            if websites.len() > MAX_WEBSITES {
                return Err(invalid("websites", format!("at most {MAX_WEBSITES} websites")));
            }
            for (i, w) in websites.iter().enumerate() {
                let field = format!("websites[{i}]");
                at_most(&field, w.trim(), MAX_WEBSITE_CHARS)?;
                let rest = w.trim().strip_prefix("https://").or_else(|| w.trim().strip_prefix("http://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                    return Err(invalid(&field, "must be a URL starting with http:// or https://"));
                }
            }
            out.insert("websites".into(), websites.iter().map(|w| w.trim()).collect::<Vec<_>>().into());
        }
        if let Some(vertical) = &self.vertical {
            let v = vertical.trim().to_ascii_uppercase();
            if !v.is_empty() && !VERTICALS.contains(&v.as_str()) {
                return Err(invalid(
                    "vertical",
                    format!("must be one of {} (or empty to clear)", VERTICALS.join(", ")),
                ));
            }
            out.insert("vertical".into(), v.into());
        }
        if let Some(handle) = &self.profile_picture_handle {
            if handle.trim().is_empty() {
                return Err(invalid("profile_picture_handle", "cannot be empty"));
            }
            out.insert("profile_picture_handle".into(), handle.trim().into());
        }
        if out.is_empty() {
            return Err(Invalid::request("profile", "nothing to change"));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(f: impl FnOnce(&mut ProfilePatch)) -> Result<Value, Invalid> {
        let mut p = ProfilePatch::default();
        f(&mut p);
        p.validate()
    }

    fn field_of(r: Result<Value, Invalid>) -> String {
        r.unwrap_err().field.unwrap_or_default()
    }

    #[test]
    fn about() {
        assert!(patch(|p| p.about = Some("x".repeat(139))).is_ok());
        assert_eq!(field_of(patch(|p| p.about = Some("x".repeat(140)))), "about");
        assert_eq!(field_of(patch(|p| p.about = Some("  ".into()))), "about");
    }

    #[test]
    fn address_and_description() {
        assert!(patch(|p| p.address = Some("a".repeat(256))).is_ok());
        assert_eq!(field_of(patch(|p| p.address = Some("a".repeat(257)))), "address");
        assert!(patch(|p| p.description = Some("d".repeat(512))).is_ok());
        assert_eq!(field_of(patch(|p| p.description = Some("d".repeat(513)))), "description");
    }

    #[test]
    fn email() {
        assert!(patch(|p| p.email = Some("help@acme.example".into())).is_ok());
        assert!(patch(|p| p.email = Some(String::new())).is_ok(), "empty clears it");
        assert_eq!(field_of(patch(|p| p.email = Some("not an email".into()))), "email");
        let long = format!("{}@acme.example", "a".repeat(120));
        assert_eq!(field_of(patch(|p| p.email = Some(long))), "email");
    }

    #[test]
    fn websites() {
        assert!(
            patch(|p| p.websites = Some(vec!["https://acme.example".into(), "http://shop.acme.example".into()]))
                .is_ok()
        );
        assert_eq!(field_of(patch(|p| p.websites = Some(vec!["https://a.example".into(); 3]))), "websites");
        assert_eq!(field_of(patch(|p| p.websites = Some(vec!["acme.example".into()]))), "websites[0]");
        let long = format!("https://{}.example", "a".repeat(250));
        assert_eq!(field_of(patch(|p| p.websites = Some(vec!["https://ok.example".into(), long]))), "websites[1]");
    }

    #[test]
    fn vertical_and_photo() {
        assert_eq!(patch(|p| p.vertical = Some("retail".into())).unwrap()["vertical"], "RETAIL");
        assert!(patch(|p| p.vertical = Some(String::new())).is_ok());
        assert_eq!(field_of(patch(|p| p.vertical = Some("NOT_A_BIZ".into()))), "vertical");
        assert_eq!(field_of(patch(|p| p.profile_picture_handle = Some(" ".into()))), "profile_picture_handle");
        assert_eq!(patch(|_| {}).unwrap_err().code, "invalid_request");
    }
}

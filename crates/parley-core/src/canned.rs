//! Canned responses: replies the team saves under a `/shortcut` and inserts in the composer.
//! A shortcut is 1 to 32 lowercase letters, digits, `-` or `_` (typed after `/`); a body is the
//! text of a WhatsApp message (1 to 4,096 characters).

use crate::validation::Invalid;

pub const MAX_SHORTCUT_CHARS: usize = 32;
/// WhatsApp's limit on a text message's body.
pub const MAX_BODY_CHARS: usize = 4096;

/// The shortcut as stored: trimmed, without a leading `/`, lowercase.
pub fn check_shortcut(raw: &str) -> Result<String, Invalid> {
    let s = raw.trim().trim_start_matches('/').to_lowercase();
    if s.is_empty() || s.chars().count() > MAX_SHORTCUT_CHARS {
        return Err(Invalid::new("invalid_shortcut", Some("shortcut".into()), "a shortcut has 1 to 32 characters"));
    }
    if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        return Err(Invalid::new(
            "invalid_shortcut",
            Some("shortcut".into()),
            "a shortcut has only letters a-z, digits, - and _",
        ));
    }
    Ok(s)
}

pub fn check_body(raw: &str) -> Result<String, Invalid> {
    let body = raw.trim();
    let chars = body.chars().count();
    if chars == 0 || chars > MAX_BODY_CHARS {
        return Err(Invalid::new("invalid_body", Some("body".into()), "a canned response has 1 to 4,096 characters"));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_short_lowercase_words() {
        assert_eq!(check_shortcut("/Thanks").unwrap(), "thanks");
        assert_eq!(check_shortcut(" opening-hours_2 ").unwrap(), "opening-hours_2");
        assert_eq!(check_shortcut(&"a".repeat(32)).unwrap().len(), 32);
        for bad in ["", "/", "two words", "café", "a!b", &"a".repeat(33)] {
            assert_eq!(check_shortcut(bad).unwrap_err().code, "invalid_shortcut", "{bad:?}");
        }
    }

    #[test]
    fn bodies_fit_a_whatsapp_message() {
        assert_eq!(check_body("  Thank you! 🙏 ").unwrap(), "Thank you! 🙏");
        assert_eq!(check_body(&"é".repeat(4096)).unwrap().chars().count(), 4096);
        assert!(check_body(&"é".repeat(4097)).is_err());
        assert_eq!(check_body("   ").unwrap_err().code, "invalid_body");
    }
}

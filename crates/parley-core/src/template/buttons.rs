//! Creation checks of a template's BUTTONS component (spec/meta-cloud-api.md §7.2): the button
//! types, how many of each, their labels and type-specific fields, and the grouping of quick
//! replies.
//!
//! Decisions where Meta's rules are vague:
//! - labels (`text`) are required, 1–25 characters, without variables — except COPY_CODE and
//!   OTP buttons, whose labels Meta supplies (an optional `text` is still held to 25);
//! - at most one of each non-repeatable type (PHONE_NUMBER, COPY_CODE, OTP, FLOW, VOICE_CALL,
//!   CATALOG, MPM, SPM); up to 10 quick replies and 2 URLs;
//! - a URL's one variable is always `{{1}}`, even in a named template, and must end the URL
//!   after a non-empty host; its `example` is one full URL beginning with the fixed part;
//! - a phone number is `+` then 6 to 19 digits, nothing else;
//! - ONE_TAP and ZERO_TAP OTP buttons need `supported_apps` (1–5 apps, each a dotted
//!   `package_name` up to 224 characters and an 11-character `signature_hash`); ZERO_TAP also
//!   needs `zero_tap_terms_accepted: true`;
//! - a FLOW button names its flow by exactly one of `flow_id`, `flow_name`, `flow_json`;
//!   `flow_action`, when given, is `navigate` or `data_exchange`;
//! - types not listed here (REQUEST_CONTACT_INFO, …) are refused.

use serde_json::{Map, Value};

use super::draft::{Rules, bad};
use super::placeholder::{Piece, split};
use crate::validation::Invalid;

pub const MAX_BUTTONS: usize = 10;
pub const MAX_BUTTON_LABEL_CHARS: usize = 25;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_PHONE_NUMBER_CHARS: usize = 20;
pub const MAX_COPY_CODE_CHARS: usize = 20;

const FIELD: &str = "components.buttons";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ButtonKind {
    QuickReply,
    Url,
    PhoneNumber,
    CopyCode,
    Otp,
    Flow,
    VoiceCall,
    Catalog,
    Mpm,
    Spm,
}

impl ButtonKind {
    const ALL: [ButtonKind; 10] = [
        ButtonKind::QuickReply,
        ButtonKind::Url,
        ButtonKind::PhoneNumber,
        ButtonKind::CopyCode,
        ButtonKind::Otp,
        ButtonKind::Flow,
        ButtonKind::VoiceCall,
        ButtonKind::Catalog,
        ButtonKind::Mpm,
        ButtonKind::Spm,
    ];

    fn parse(s: &str) -> Option<Self> {
        ButtonKind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s))
    }

    fn name(self) -> &'static str {
        match self {
            ButtonKind::QuickReply => "QUICK_REPLY",
            ButtonKind::Url => "URL",
            ButtonKind::PhoneNumber => "PHONE_NUMBER",
            ButtonKind::CopyCode => "COPY_CODE",
            ButtonKind::Otp => "OTP",
            ButtonKind::Flow => "FLOW",
            ButtonKind::VoiceCall => "VOICE_CALL",
            ButtonKind::Catalog => "CATALOG",
            ButtonKind::Mpm => "MPM",
            ButtonKind::Spm => "SPM",
        }
    }

    fn max(self) -> usize {
        match self {
            ButtonKind::QuickReply => 10,
            ButtonKind::Url => 2,
            _ => 1,
        }
    }
}

/// One button being checked: where it is and how to name it in messages.
struct Button<'a> {
    obj: &'a Map<String, Value>,
    field: String,
    /// "button 3 (URL)", 1-based for people.
    label: String,
}

impl Button<'_> {
    fn bad(&self, message: impl std::fmt::Display) -> Invalid {
        bad(&self.field, format!("{} {message}", self.label))
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.obj.get(key).and_then(Value::as_str)
    }
}

/// Checks a BUTTONS component; upper-cases button `type` (and OTP `otp_type`) in `out`.
pub(crate) fn check_buttons(c: &Map<String, Value>, rules: Rules, out: &mut Value) -> Result<(), Invalid> {
    let list = match c.get("buttons") {
        Some(Value::Array(list)) if (1..=MAX_BUTTONS).contains(&list.len()) => list,
        _ => {
            return Err(bad(
                FIELD,
                format!("the buttons component needs a buttons list of 1 to {MAX_BUTTONS} buttons"),
            ));
        }
    };
    let mut kinds = Vec::with_capacity(list.len());
    for (i, b) in list.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        let n = i + 1;
        let obj = b.as_object().ok_or_else(|| bad(&field, format!("button {n} is not an object")))?;
        let kind = match obj.get("type") {
            Some(Value::String(s)) => {
                ButtonKind::parse(s).ok_or_else(|| bad(&field, format!("button {n} has the unknown type {s:?}")))?
            }
            _ => return Err(bad(&field, format!("button {n} has no type"))),
        };
        let button = Button { obj, field, label: format!("button {n} ({})", kind.name()) };
        if rules.auth() && kind != ButtonKind::Otp {
            return Err(button.bad("cannot be used: an authentication template has only its OTP button"));
        }
        if !rules.auth() && kind == ButtonKind::Otp {
            return Err(button.bad("is only for authentication templates"));
        }
        let otp_type = check_button(&button, kind)?;
        kinds.push(kind);
        let count = kinds.iter().filter(|k| **k == kind).count();
        if count > kind.max() {
            return Err(button.bad(format_args!("is one too many: a template has at most {} of them", kind.max())));
        }
        out["buttons"][i]["type"] = Value::String(kind.name().into());
        if let Some(otp_type) = otp_type {
            out["buttons"][i]["otp_type"] = Value::String(otp_type);
        }
    }
    // Quick replies form one block, first or last: the number of switches between a quick reply
    // and another type along the list is at most one.
    let switches = kinds.windows(2).filter(|w| (w[0] == ButtonKind::QuickReply) != (w[1] == ButtonKind::QuickReply));
    if switches.count() > 1 {
        return Err(bad(FIELD, "quick-reply buttons must be together, all before or all after the other buttons"));
    }
    Ok(())
}

/// Type-specific checks; returns the upper-cased `otp_type` of an OTP button.
fn check_button(b: &Button, kind: ButtonKind) -> Result<Option<String>, Invalid> {
    let label_required = !matches!(kind, ButtonKind::CopyCode | ButtonKind::Otp);
    check_label(b, "text", label_required)?;
    match kind {
        ButtonKind::Url => check_url(b)?,
        ButtonKind::PhoneNumber => {
            let number = b.str("phone_number").ok_or_else(|| b.bad("needs a phone_number"))?;
            let digits = number.strip_prefix('+').unwrap_or_default();
            let ok = number.len() <= MAX_PHONE_NUMBER_CHARS
                && (6..=19).contains(&digits.len())
                && digits.bytes().all(|d| d.is_ascii_digit());
            if !ok {
                return Err(
                    b.bad("has an invalid phone_number: + and the digits with the country code (+5511900000000)")
                );
            }
        }
        ButtonKind::CopyCode => {
            let ok = b.str("example").is_some_and(|e| !e.trim().is_empty() && e.chars().count() <= MAX_COPY_CODE_CHARS);
            if !ok {
                return Err(b.bad(format_args!("needs an example code of 1 to {MAX_COPY_CODE_CHARS} characters")));
            }
        }
        ButtonKind::Otp => return check_otp(b).map(Some),
        ButtonKind::Flow => check_flow(b)?,
        ButtonKind::QuickReply | ButtonKind::VoiceCall | ButtonKind::Catalog | ButtonKind::Mpm | ButtonKind::Spm => {}
    }
    Ok(None)
}

/// A label at `key`: 1–25 characters, no variables.
fn check_label(b: &Button, key: &str, required: bool) -> Result<(), Invalid> {
    match b.obj.get(key) {
        None if !required => Ok(()),
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > MAX_BUTTON_LABEL_CHARS {
                return Err(b.bad(format_args!("has a {key} longer than {MAX_BUTTON_LABEL_CHARS} characters")));
            }
            if s.contains("{{") {
                return Err(b.bad(format_args!("may not have variables in its {key}")));
            }
            Ok(())
        }
        _ => Err(b.bad(format_args!("needs a {key} (its label), 1 to {MAX_BUTTON_LABEL_CHARS} characters"))),
    }
}

fn check_url(b: &Button) -> Result<(), Invalid> {
    let url = b.str("url").ok_or_else(|| b.bad("needs a url"))?;
    if url.chars().count() > MAX_URL_CHARS {
        return Err(b.bad(format_args!("has a url longer than {MAX_URL_CHARS} characters")));
    }
    let lower = url.to_ascii_lowercase();
    let scheme = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err(b.bad("has a url that does not start with http:// or https://"));
    };
    let pieces = split(url).map_err(|e| b.bad(format_args!("has a url that {e}")))?;
    let vars = pieces.iter().filter(|p| matches!(p, Piece::Var(_))).count();
    if vars == 0 {
        if url.len() == scheme {
            return Err(b.bad("has a url with no host"));
        }
        return Ok(());
    }
    let at_end = vars == 1 && pieces.last() == Some(&Piece::Var("1"));
    if !at_end {
        return Err(b.bad("may have one variable in its url, {{1}}, at the very end (https://example.com/t/{{1}})"));
    }
    let fixed = &url[..url.len() - "{{1}}".len()];
    if fixed.len() <= scheme {
        return Err(b.bad("cannot have its url's host as a variable"));
    }
    let example = match b.obj.get("example") {
        Some(Value::Array(list)) if list.len() == 1 => list[0].as_str(),
        _ => None,
    };
    let ok = example.is_some_and(|e| e.len() > fixed.len() && e.starts_with(fixed));
    if !ok {
        return Err(b.bad(format_args!("has a url variable: give example: [\"{fixed}<sample value>\"]")));
    }
    Ok(())
}

fn check_otp(b: &Button) -> Result<String, Invalid> {
    check_label(b, "autofill_text", false)?;
    let otp_type = b.str("otp_type").map(str::to_ascii_uppercase).unwrap_or_default();
    match otp_type.as_str() {
        "COPY_CODE" => {}
        "ONE_TAP" | "ZERO_TAP" => {
            let apps = match b.obj.get("supported_apps") {
                Some(Value::Array(apps)) if (1..=5).contains(&apps.len()) => apps,
                _ => return Err(b.bad(format_args!("needs supported_apps (1 to 5 Android apps) for {otp_type}"))),
            };
            for (i, app) in apps.iter().enumerate() {
                let package = app.get("package_name").and_then(Value::as_str).unwrap_or_default();
                let hash = app.get("signature_hash").and_then(Value::as_str).unwrap_or_default();
                if package.is_empty() || package.len() > 224 || !package.contains('.') {
                    return Err(b.bad(format_args!("needs a package_name such as com.example.app in app {}", i + 1)));
                }
                if hash.chars().count() != 11 {
                    return Err(b.bad(format_args!("needs an 11-character signature_hash in app {}", i + 1)));
                }
            }
            if otp_type == "ZERO_TAP" && b.obj.get("zero_tap_terms_accepted") != Some(&Value::Bool(true)) {
                return Err(b.bad("needs zero_tap_terms_accepted: true for ZERO_TAP"));
            }
        }
        _ => return Err(b.bad("needs an otp_type: COPY_CODE, ONE_TAP or ZERO_TAP")),
    }
    Ok(otp_type)
}

fn check_flow(b: &Button) -> Result<(), Invalid> {
    let given = |key: &str| match b.obj.get(key) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => key == "flow_id",
        _ => false,
    };
    let named = ["flow_id", "flow_name", "flow_json"].into_iter().filter(|k| given(k)).count();
    if named != 1 {
        return Err(b.bad("needs exactly one of flow_id, flow_name or flow_json"));
    }
    if let Some(action) = b.obj.get("flow_action") {
        let ok = action
            .as_str()
            .is_some_and(|a| a.eq_ignore_ascii_case("navigate") || a.eq_ignore_ascii_case("data_exchange"));
        if !ok {
            return Err(b.bad("has a flow_action other than navigate or data_exchange"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

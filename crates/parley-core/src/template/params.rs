//! Template send parameters taken from the recipient's contact: a text parameter written
//! `{{contact.first_name}}` or `{{contact.first_name|there}}` is replaced with that contact's
//! value before the send is checked and queued, so one campaign serves every recipient.
//!
//! Only `text` parameters of header, body and button components are looked at; payloads,
//! coupon codes, currencies and media are taken as written. A reference must be the whole
//! parameter text (surrounding whitespace aside): `Hi {{contact.name}}` is sent as written.

use serde_json::Value;

use crate::contact::Contact;

/// The keys a `{{contact.KEY}}` reference may use, besides `fields.<key>`.
pub const CONTACT_KEYS: [&str; 5] = ["name", "first_name", "last_name", "phone", "email"];

/// A parsed `{{contact.KEY|fallback}}`.
struct Reference<'a> {
    key: &'a str,
    /// `None` without `|`, or when only whitespace follows it: an empty parameter would be
    /// refused by Meta, so an empty fallback is no fallback.
    fallback: Option<&'a str>,
}

/// Reads `{{contact.KEY}}` / `{{contact.KEY|fallback}}` with spaces tolerated inside the braces.
fn reference(text: &str) -> Option<Reference<'_>> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    let rest = inner.trim_start().strip_prefix("contact.")?;
    let (key, fallback) = match rest.split_once('|') {
        Some((key, fallback)) => (key, Some(fallback.trim()).filter(|f| !f.is_empty())),
        None => (rest, None),
    };
    Some(Reference { key: key.trim(), fallback })
}

fn is_known_key(key: &str) -> bool {
    CONTACT_KEYS.contains(&key) || key.strip_prefix("fields.").is_some_and(|k| !k.is_empty())
}

/// Where the text parameters of header, body and button components are: (component index,
/// parameter index, a label naming it such as "body parameter 2" or "button 1 parameter 1").
fn text_params(components: &[Value]) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    for (ci, c) in components.iter().enumerate() {
        let kind = c.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let owner = match kind.as_str() {
            "header" | "body" => kind,
            "button" => match c.get("index") {
                Some(Value::String(s)) => format!("button {s}"),
                Some(Value::Number(n)) => format!("button {n}"),
                _ => "button ?".to_owned(),
            },
            _ => continue,
        };
        for (pi, p) in c.get("parameters").and_then(Value::as_array).into_iter().flatten().enumerate() {
            if p.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("text")) {
                found.push((ci, pi, format!("{owner} parameter {}", pi + 1)));
            }
        }
    }
    found
}

/// Replaces every text parameter whose whole text is `{{contact.KEY}}` or
/// `{{contact.KEY|fallback}}` (spaces inside braces tolerated) with the contact's value; Err(message)
/// names the parameter when the contact has no value and there is no fallback, or KEY is unknown.
/// Parameters before the failing one may already be replaced.
pub fn fill_contact_params(components: &mut [Value], contact: &Contact) -> Result<(), String> {
    for (ci, pi, label) in text_params(components) {
        let param = &mut components[ci]["parameters"][pi];
        let Some(text) = param.get("text").and_then(Value::as_str) else { continue };
        let Some(r) = reference(text) else { continue };
        if !is_known_key(r.key) {
            return Err(format!(
                "{label}: {:?} is not a contact field (name, first_name, last_name, phone, email or fields.<key>)",
                r.key
            ));
        }
        let value = match (contact_value(contact, r.key), r.fallback) {
            (Some(value), _) => value,
            (None, Some(fallback)) => fallback.to_owned(),
            (None, None) => {
                return Err(format!(
                    "{label}: the contact has no {} and no fallback is given ({{{{contact.{}|…}}}})",
                    r.key, r.key
                ));
            }
        };
        param["text"] = Value::String(value);
    }
    Ok(())
}

/// Keys: name, first_name (first word of name, or fields.first_name if set), last_name (rest of
/// name or fields.last_name), phone (E.164 with +), email, fields.<key> (string/number/bool
/// rendered as text). `None` for an unknown key or a missing or blank value.
pub fn contact_value(contact: &Contact, key: &str) -> Option<String> {
    let name = contact.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    match key {
        "name" => name.map(str::to_owned),
        "first_name" => {
            field_text(contact, "first_name").or_else(|| name?.split_whitespace().next().map(str::to_owned))
        }
        "last_name" => field_text(contact, "last_name").or_else(|| {
            let (_, rest) = name?.split_once(char::is_whitespace)?;
            Some(rest.trim().to_owned()).filter(|r| !r.is_empty())
        }),
        "phone" => contact.phone.as_ref().map(|p| p.as_str().to_owned()),
        "email" => contact.email.as_ref().map(|e| e.as_str().to_owned()),
        _ => field_text(contact, key.strip_prefix("fields.")?),
    }
}

fn field_text(contact: &Contact, key: &str) -> Option<String> {
    match contact.fields.get(key)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether any header, body or button text parameter is a `{{contact.…}}` reference (known key
/// or not): such a send must be filled per recipient.
pub fn uses_contact_params(components: &[Value]) -> bool {
    text_params(components)
        .into_iter()
        .any(|(ci, pi, _)| components[ci]["parameters"][pi]["text"].as_str().is_some_and(|t| reference(t).is_some()))
}

#[cfg(test)]
mod tests;

//! Creation checks of a template's text components — HEADER, BODY and FOOTER — and of their
//! variables and examples (spec/meta-cloud-api.md §7.2, §7.3).
//!
//! Decisions where Meta's rules are vague:
//! - variables are numbered `{{1}}` to `{{n}}`, each used once, in any order of appearance
//!   (a translation may reorder them); a repeat or a gap is refused;
//! - named variables are lower-case letters, digits and `_`, starting with a letter, each used
//!   once; `{{1}}` in a named template and `{{name}}` in a positional one are refused;
//! - "may not start or end with a variable" ignores whitespace only: `*{{1}}* is your code` is
//!   accepted;
//! - "not too many variables for the length" (Meta's 2388293): the body must have at least two
//!   words outside its placeholders per variable, a word being a whitespace-separated run with
//!   a letter or digit in it; "Hello {{1}}, your order {{2}} shipped." (4 words, 2 variables)
//!   passes, "Hi {{1}} {{2}} {{3}} ok" does not;
//! - a header text may not contain `*`, `_`, `~` or `` ` `` outside its placeholder, nor a line
//!   break; emojis are not checked;
//! - `GIF` headers belong to the Marketing Messages API, which Parley does not use: refused;
//! - a media header's `example.header_handle` holds exactly one non-empty handle; a LOCATION
//!   header and media headers carry no `text`, a LOCATION header no `example`;
//! - an authentication footer carries only `code_expiration_minutes` (1–90), never text; other
//!   footers only text.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::ParameterFormat;
use super::draft::{Rules, bad};
use super::placeholder::{Piece, is_name, positional, split};
use crate::validation::Invalid;

pub const MAX_HEADER_TEXT_CHARS: usize = 60;
pub const MAX_BODY_CHARS: usize = 1024;
pub const MAX_FOOTER_CHARS: usize = 60;
/// Minimum words outside placeholders per body variable (see the module docs).
pub const WORDS_PER_VARIABLE: usize = 2;

const HEADER: &str = "components.header";
const BODY: &str = "components.body";
const FOOTER: &str = "components.footer";

/// Checks a HEADER component; upper-cases its `format` in `out`.
pub(crate) fn check_header(c: &Map<String, Value>, rules: Rules, out: &mut Value) -> Result<(), Invalid> {
    let format = match c.get("format") {
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return Err(bad(HEADER, "the header's format must be a string")),
        None => return Err(bad(HEADER, "the header needs a format: TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION")),
    };
    match format.as_str() {
        "TEXT" => check_header_text(c, rules)?,
        "IMAGE" | "VIDEO" | "DOCUMENT" => {
            no_text(c, &format)?;
            let handle = c.get("example").and_then(|e| e.get("header_handle")).and_then(Value::as_array);
            let ok = handle.is_some_and(|h| h.len() == 1 && h[0].as_str().is_some_and(|s| !s.trim().is_empty()));
            if !ok {
                return Err(bad(
                    HEADER,
                    format!("the {format} header needs example.header_handle: [\"<handle of an uploaded sample>\"]"),
                ));
            }
        }
        "LOCATION" => {
            no_text(c, &format)?;
            if c.contains_key("example") {
                return Err(bad(HEADER, "the LOCATION header takes no example: the location is given at send"));
            }
        }
        "GIF" => {
            return Err(bad(HEADER, "GIF headers are only for the Marketing Messages API: use IMAGE or VIDEO"));
        }
        other => {
            return Err(bad(
                HEADER,
                format!("the header's format {other:?} is unknown: TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION"),
            ));
        }
    }
    out["format"] = Value::String(format);
    Ok(())
}

fn no_text(c: &Map<String, Value>, format: &str) -> Result<(), Invalid> {
    if c.contains_key("text") {
        return Err(bad(HEADER, format!("the {format} header has no text: only TEXT headers do")));
    }
    Ok(())
}

fn check_header_text(c: &Map<String, Value>, rules: Rules) -> Result<(), Invalid> {
    let text = required_text(c, HEADER, "the header")?;
    if text.chars().count() > MAX_HEADER_TEXT_CHARS {
        return Err(bad(HEADER, format!("the header's text is longer than {MAX_HEADER_TEXT_CHARS} characters")));
    }
    if text.contains(['\n', '\r']) {
        return Err(bad(HEADER, "the header's text must be on one line"));
    }
    let pieces = split(text).map_err(|e| bad(HEADER, format!("the header's text {e}")))?;
    let formatted = pieces.iter().any(|p| matches!(p, Piece::Text(t) if t.contains(['*', '_', '~', '`'])));
    if formatted {
        return Err(bad(HEADER, "the header's text may not use formatting characters (*, _, ~, `)"));
    }
    let vars = check_vars(&pieces, rules.format, HEADER, "the header")?;
    if vars.len() > 1 {
        return Err(bad(HEADER, "the header may have at most one variable"));
    }
    if vars.is_empty() {
        return Ok(());
    }
    match rules.format {
        ParameterFormat::Positional => {
            let example = c.get("example").and_then(|e| e.get("header_text")).and_then(Value::as_array);
            let ok = example.is_some_and(|e| e.len() == 1 && e[0].as_str().is_some_and(|s| !s.trim().is_empty()));
            if !ok {
                return Err(bad(HEADER, "the header has a variable: give example.header_text: [\"sample value\"]"));
            }
            Ok(())
        }
        ParameterFormat::Named => check_named_examples(c, "header_text_named_params", &vars, HEADER, "the header"),
    }
}

/// Checks the BODY of a marketing or utility template.
pub(crate) fn check_body(c: &Map<String, Value>, rules: Rules) -> Result<(), Invalid> {
    let text = required_text(c, BODY, "the body")?;
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(bad(BODY, format!("the body's text is longer than {MAX_BODY_CHARS} characters")));
    }
    let pieces = split(text).map_err(|e| bad(BODY, format!("the body's text {e}")))?;
    let vars = check_vars(&pieces, rules.format, BODY, "the body")?;
    if vars.is_empty() {
        return Ok(());
    }
    let significant: Vec<&Piece> =
        pieces.iter().filter(|p| !matches!(p, Piece::Text(t) if t.trim().is_empty())).collect();
    if matches!(significant.first(), Some(Piece::Var(_))) {
        return Err(bad(BODY, "the body may not start with a variable"));
    }
    if matches!(significant.last(), Some(Piece::Var(_))) {
        return Err(bad(BODY, "the body may not end with a variable"));
    }
    if let Some(pair) = significant.windows(2).find(|w| matches!(w, [Piece::Var(_), Piece::Var(_)])) {
        let (Piece::Var(a), Piece::Var(b)) = (pair[0], pair[1]) else { unreachable!("matched two variables") };
        return Err(bad(
            BODY,
            format!("the body has two variables with no text between them ({{{{{a}}}}} and {{{{{b}}}}})"),
        ));
    }
    let words: usize = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count()),
            Piece::Var(_) => None,
        })
        .sum();
    let needed = WORDS_PER_VARIABLE * vars.len();
    if words < needed {
        return Err(bad(
            BODY,
            format!(
                "the body has too many variables for its length: {} variable(s) need at least {needed} words \
                 of text, it has {words}",
                vars.len()
            ),
        ));
    }
    match rules.format {
        ParameterFormat::Positional => check_body_examples(c, vars.len()),
        ParameterFormat::Named => check_named_examples(c, "body_text_named_params", &vars, BODY, "the body"),
    }
}

fn check_body_examples(c: &Map<String, Value>, n: usize) -> Result<(), Invalid> {
    let shape = format!("the body has {n} variable(s): give example.body_text: [[one sample value per variable]]");
    let Some(rows) = c.get("example").and_then(|e| e.get("body_text")).and_then(Value::as_array) else {
        return Err(bad(BODY, shape));
    };
    let [Value::Array(values)] = rows.as_slice() else {
        return Err(bad(BODY, shape));
    };
    if values.len() != n {
        return Err(bad(
            BODY,
            format!("the body has {n} variable(s) but example.body_text gives {} value(s)", values.len()),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        if v.as_str().is_none_or(|s| s.trim().is_empty()) {
            return Err(bad(BODY, format!("the body's example value {} must be a non-empty string", i + 1)));
        }
    }
    Ok(())
}

/// `example.<key>: [{param_name, example}]` must name each variable exactly once.
fn check_named_examples(
    c: &Map<String, Value>,
    key: &str,
    vars: &[String],
    field: &str,
    what: &str,
) -> Result<(), Invalid> {
    let Some(list) = c.get("example").and_then(|e| e.get(key)).and_then(Value::as_array) else {
        return Err(bad(field, format!("{what} has named variables: give example.{key}: [{{param_name, example}}]")));
    };
    let mut seen = BTreeSet::new();
    for entry in list {
        let name = entry.get("param_name").and_then(Value::as_str);
        let example = entry.get("example").and_then(Value::as_str);
        let (Some(name), Some(example)) = (name, example) else {
            return Err(bad(field, format!("each of {what}'s example.{key} needs a param_name and an example")));
        };
        if !vars.iter().any(|v| v == name) {
            return Err(bad(
                field,
                format!("{what}'s example.{key} names {name:?}, which is not one of its variables"),
            ));
        }
        if !seen.insert(name) {
            return Err(bad(field, format!("{what}'s example.{key} gives {name:?} twice")));
        }
        if example.trim().is_empty() {
            return Err(bad(field, format!("{what}'s example for {name:?} is empty")));
        }
    }
    if let Some(missing) = vars.iter().find(|v| !seen.contains(v.as_str())) {
        return Err(bad(field, format!("{what}'s example.{key} has no example for {missing:?}")));
    }
    Ok(())
}

/// The BODY of an authentication template: Meta writes the text; only the security
/// recommendation is chosen.
pub(crate) fn check_auth_body(c: &Map<String, Value>) -> Result<(), Invalid> {
    if c.contains_key("text") {
        return Err(bad(
            BODY,
            "an authentication template's body is written by Meta: leave out text (add_security_recommendation \
             is allowed)",
        ));
    }
    if c.get("add_security_recommendation").is_some_and(|v| !v.is_boolean()) {
        return Err(bad(BODY, "the body's add_security_recommendation must be true or false"));
    }
    Ok(())
}

pub(crate) fn check_footer(c: &Map<String, Value>, rules: Rules) -> Result<(), Invalid> {
    if rules.auth() {
        if c.contains_key("text") {
            return Err(bad(FOOTER, "an authentication footer has no text: give code_expiration_minutes (1 to 90)"));
        }
        let minutes = c.get("code_expiration_minutes").and_then(Value::as_i64);
        if !minutes.is_some_and(|m| (1..=90).contains(&m)) {
            return Err(bad(FOOTER, "an authentication footer needs code_expiration_minutes, 1 to 90"));
        }
        return Ok(());
    }
    if c.contains_key("code_expiration_minutes") {
        return Err(bad(FOOTER, "code_expiration_minutes is only for authentication templates"));
    }
    let text = required_text(c, FOOTER, "the footer")?;
    if text.chars().count() > MAX_FOOTER_CHARS {
        return Err(bad(FOOTER, format!("the footer's text is longer than {MAX_FOOTER_CHARS} characters")));
    }
    let pieces = split(text).map_err(|e| bad(FOOTER, format!("the footer's text {e}")))?;
    if pieces.iter().any(|p| matches!(p, Piece::Var(_))) {
        return Err(bad(FOOTER, "the footer may not have variables"));
    }
    Ok(())
}

/// The component's `text`: a string with something in it besides whitespace.
fn required_text<'a>(c: &'a Map<String, Value>, field: &str, what: &str) -> Result<&'a str, Invalid> {
    match c.get("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) | None => Err(bad(field, format!("{what}'s text is required"))),
        Some(_) => Err(bad(field, format!("{what}'s text must be a string"))),
    }
}

/// Checks each placeholder against the template's format and the numbering rules; returns the
/// variables in order of appearance.
fn check_vars(pieces: &[Piece], format: ParameterFormat, field: &str, what: &str) -> Result<Vec<String>, Invalid> {
    let mut vars: Vec<String> = Vec::new();
    for piece in pieces {
        let Piece::Var(inner) = piece else { continue };
        let ok = match format {
            ParameterFormat::Positional => positional(inner).is_some(),
            ParameterFormat::Named => is_name(inner),
        };
        if !ok {
            let message = match format {
                ParameterFormat::Positional if is_name(inner) => format!(
                    "{what} uses the named variable {{{{{inner}}}}} but the template's parameter_format is positional"
                ),
                ParameterFormat::Named if positional(inner).is_some() => format!(
                    "{what} uses the positional variable {{{{{inner}}}}} but the template's parameter_format is named"
                ),
                ParameterFormat::Positional => format!(
                    "{what} has an invalid variable {{{{{inner}}}}}: variables are {{{{1}}}}, {{{{2}}}}, … with \
                     nothing else inside the braces"
                ),
                ParameterFormat::Named => format!(
                    "{what} has an invalid variable {{{{{inner}}}}}: named variables are lower-case letters, \
                     digits and _, starting with a letter ({{{{first_name}}}})"
                ),
            };
            return Err(bad(field, message));
        }
        if vars.iter().any(|v| v == inner) {
            return Err(bad(field, format!("{what} uses {{{{{inner}}}}} twice: each variable appears once")));
        }
        vars.push((*inner).to_owned());
    }
    if format == ParameterFormat::Positional {
        let numbers: BTreeSet<usize> = vars.iter().filter_map(|v| positional(v)).collect();
        if let Some(missing) = (1..=vars.len()).find(|n| !numbers.contains(n)) {
            return Err(bad(
                field,
                format!(
                    "{what}'s variables must be numbered {{{{1}}}} to {{{{{}}}}} in sequence: {{{{{missing}}}}} is \
                     missing",
                    vars.len()
                ),
            ));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests;

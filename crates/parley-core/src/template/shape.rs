//! The send-side shape of an approved template (spec/meta-cloud-api.md §6.9): how many
//! parameters each component takes, of which types and under which names, so a send is checked
//! before it is queued. Built from components as Meta lists them, or as our own validation
//! stores them (an authentication BODY without text, an OTP button).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::placeholder::{placeholders, positional};

/// How many parameters each component of a template takes: the header's, the body's, and each
/// button's (by index). Counted from `{{…}}` placeholders in Meta's component JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamShape {
    pub header: usize,
    /// A media or location header needs one parameter of that kind.
    pub header_media: Option<String>,
    pub body: usize,
    /// (button index, parameter count) for buttons that take one (URL suffix, copy code, …).
    pub buttons: Vec<(usize, usize)>,
    /// The header's variable names when it uses named placeholders (`{{order_id}}`), in order
    /// of first appearance; empty for positional ones.
    #[serde(default)]
    pub header_names: Vec<String>,
    /// The body's variable names when it uses named placeholders; empty for positional ones.
    #[serde(default)]
    pub body_names: Vec<String>,
    /// (button index, Meta's button type in upper case: `QUICK_REPLY`, `URL`, `OTP`, …) for every
    /// button, so a send's `sub_type` and parameter types can be checked.
    #[serde(default)]
    pub button_kinds: Vec<(usize, String)>,
}

/// The parameter types a header text or body variable accepts.
const VALUE_TYPES: [&str; 3] = ["text", "currency", "date_time"];

/// The count and, for named placeholders, the distinct names of a text's variables. A text is
/// named when any placeholder is not a number; repeated names are one parameter.
fn text_params(text: &str) -> (usize, Vec<String>) {
    let found = placeholders(text);
    let mut names: Vec<String> = Vec::new();
    for inner in &found {
        let inner = inner.trim();
        if positional(inner).is_none() && !names.iter().any(|n| n == inner) {
            names.push(inner.to_owned());
        }
    }
    if names.is_empty() { (found.len(), names) } else { (names.len(), names) }
}

fn type_of(c: &Value) -> String {
    c.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase()
}

fn parameters(c: &Value) -> &[Value] {
    c.get("parameters").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn param_type(p: &Value) -> &str {
    p.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn index_of(c: &Value) -> Option<usize> {
    match c.get("index") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    }
}

/// The send component `sub_type` that matches a template button type. Meta sends the code of an
/// OTP button as a `url` button.
fn send_sub_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "QUICK_REPLY" => "quick_reply",
        "URL" | "OTP" => "url",
        "COPY_CODE" => "copy_code",
        "FLOW" => "flow",
        "CATALOG" => "catalog",
        "MPM" => "mpm",
        "SPM" => "spm",
        "VOICE_CALL" => "voice_call",
        _ => return None,
    })
}

impl ParamShape {
    /// The shape of a template from its components as Meta lists them
    /// (`[{"type":"HEADER","format":"TEXT","text":"…"},{"type":"BODY","text":"…"},{"type":"BUTTONS","buttons":[…]}]`).
    ///
    /// A BODY without `text` is an authentication body as created (Meta writes "{{1}} is your
    /// verification code."): it takes one parameter, the code.
    pub fn of_components(components: &[Value]) -> Self {
        let mut shape = ParamShape::default();
        for c in components {
            let text = c.get("text").and_then(Value::as_str);
            match type_of(c).as_str() {
                "HEADER" => {
                    let format = c.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_lowercase();
                    if format == "text" {
                        (shape.header, shape.header_names) = text_params(text.unwrap_or_default());
                    } else {
                        shape.header_media = Some(format);
                    }
                }
                "BODY" => match text {
                    Some(text) => (shape.body, shape.body_names) = text_params(text),
                    None => shape.body = 1,
                },
                "BUTTONS" => {
                    for (i, b) in c.get("buttons").and_then(Value::as_array).into_iter().flatten().enumerate() {
                        let kind = type_of(b);
                        let n = match kind.as_str() {
                            "URL" => placeholders(b.get("url").and_then(Value::as_str).unwrap_or_default()).len(),
                            "COPY_CODE" | "OTP" => 1,
                            _ => 0,
                        };
                        if n > 0 {
                            shape.buttons.push((i, n));
                        }
                        shape.button_kinds.push((i, kind));
                    }
                }
                _ => {}
            }
        }
        shape
    }

    /// Compares the parameters of a send (`components` as in the send API) with this shape;
    /// `Err` says what does not match: counts, parameter types, names (named templates), and
    /// button `sub_type`s.
    pub fn check(&self, components: &[Value]) -> Result<(), String> {
        fn of_type<'a>(components: &'a [Value], t: &'static str) -> impl Iterator<Item = &'a Value> + 'a {
            components
                .iter()
                .filter(move |c| c.get("type").and_then(Value::as_str).is_some_and(|k| k.eq_ignore_ascii_case(t)))
        }
        let header: Vec<&Value> = of_type(components, "header").flat_map(parameters).collect();
        let expected_header = self.header + usize::from(self.header_media.is_some());
        if header.len() != expected_header {
            return Err(format!("the header takes {expected_header} parameter(s), {} given", header.len()));
        }
        match &self.header_media {
            Some(media) => {
                if let Some(p) = header.first().filter(|p| !param_type(p).eq_ignore_ascii_case(media)) {
                    return Err(format!("header parameter 1 is `{}`, expected {media}", param_type(p)));
                }
            }
            None => check_values("header", &header, &self.header_names)?,
        }
        let body: Vec<&Value> = of_type(components, "body").flat_map(parameters).collect();
        if body.len() != self.body {
            return Err(format!("the body takes {} parameter(s), {} given", self.body, body.len()));
        }
        check_values("body", &body, &self.body_names)?;
        for (index, expected) in &self.buttons {
            let given: usize = of_type(components, "button")
                .filter(|c| index_of(c) == Some(*index))
                .map(|c| parameters(c).len())
                .sum();
            if given != *expected {
                return Err(format!("button {index} takes {expected} parameter(s), {given} given"));
            }
        }
        for b in of_type(components, "button") {
            self.check_button(b)?;
        }
        Ok(())
    }

    /// One button component of a send: its `sub_type` against the template's button, and the
    /// type of each parameter. Counts of URL, OTP and copy-code buttons are checked by `check`.
    fn check_button(&self, b: &Value) -> Result<(), String> {
        let index = index_of(b);
        let given = parameters(b);
        let kind = index.and_then(|i| self.button_kinds.iter().find(|(k, _)| *k == i)).map(|(_, kind)| kind.as_str());
        let (Some(index), Some(kind)) = (index, kind) else {
            if given.is_empty() {
                return Ok(());
            }
            return Err(format!("button {} takes no parameters", index.map_or("?".into(), |i| i.to_string())));
        };
        let sub_type = b.get("sub_type").and_then(Value::as_str);
        if let (Some(sub_type), Some(expected)) = (sub_type, send_sub_type(kind))
            && !sub_type.eq_ignore_ascii_case(expected)
        {
            return Err(format!("button {index} is a {kind} button, sent with sub_type {sub_type}"));
        }
        let counted = self.buttons.iter().find(|(i, _)| *i == index).map_or(0, |(_, n)| *n);
        // Quick replies may carry a payload and flow/catalog buttons an action without a
        // placeholder; other buttons only take parameters where the template has one.
        let (expected_type, max) = match kind {
            "QUICK_REPLY" => ("payload", 1),
            "URL" | "OTP" => ("text", counted),
            "COPY_CODE" => ("coupon_code", counted),
            "FLOW" | "CATALOG" | "MPM" | "SPM" => ("action", 1),
            _ => ("", 0),
        };
        if given.len() > max {
            if max == 0 {
                return Err(format!("button {index} takes no parameters"));
            }
            return Err(format!("button {index} takes at most {max} parameter(s), {} given", given.len()));
        }
        for (j, p) in given.iter().enumerate() {
            let t = param_type(p);
            if !t.eq_ignore_ascii_case(expected_type) {
                return Err(format!("button {index} parameter {} is `{t}`, expected {expected_type}", j + 1));
            }
        }
        Ok(())
    }
}

/// Header text or body parameters: each a text, currency or date_time; carrying a
/// `parameter_name` exactly when the template's variables are named, and then naming each
/// variable once (the count was checked before, so together they cover every name).
fn check_values(what: &str, params: &[&Value], names: &[String]) -> Result<(), String> {
    for (i, p) in params.iter().enumerate() {
        let t = param_type(p);
        if !VALUE_TYPES.iter().any(|v| v.eq_ignore_ascii_case(t)) {
            return Err(format!("{what} parameter {} is `{t}`, expected text, currency or date_time", i + 1));
        }
        // Meta refuses a template whose text parameter is empty (error 131008): the customer
        // would read "Hello , your order  has shipped".
        if t.eq_ignore_ascii_case("text") && p.get("text").and_then(Value::as_str).is_none_or(|v| v.trim().is_empty()) {
            return Err(format!("{what} parameter {} is empty: every parameter needs a value", i + 1));
        }
    }
    if names.is_empty() {
        if let Some(i) = params.iter().position(|p| p.get("parameter_name").is_some()) {
            return Err(format!(
                "{what} parameter {} has a parameter_name, but the template's variables are positional",
                i + 1
            ));
        }
        return Ok(());
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(name) = p.get("parameter_name").and_then(Value::as_str) else {
            return Err(format!(
                "{what} parameter {} has no parameter_name; the template's variables are named: {}",
                i + 1,
                names.join(", ")
            ));
        };
        if !names.iter().any(|n| n == name) {
            return Err(format!(
                "{what} parameter `{name}` is not one of the template's variables ({})",
                names.join(", ")
            ));
        }
        if seen.contains(&name) {
            return Err(format!("{what} parameter `{name}` is given twice"));
        }
        seen.push(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

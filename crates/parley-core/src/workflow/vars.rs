//! Variables in a workflow's texts: `{{contact.first_name|there}}` is the contact's first name,
//! or "there" when it has none. A variable is a dotted path from one of `ROOTS`:
//!
//! - `contact.name`, `contact.first_name`, `contact.phone`, `contact.email`,
//!   `contact.fields.<key>`;
//! - `conversation.id`, `conversation.channel_id`, `conversation.status`;
//! - `trigger.<key>`: the payload of the event that started the run (`trigger.text`, …);
//! - `answers.<step id>`: the reply an `ask_question` step accepted;
//! - `vars.<name>`: values the run set on its way.
//!
//! Rendering is pure: the runner gathers the context (a JSON object by root) and this fills
//! the text. A path with no value takes its fallback, or nothing. Text between braces that does
//! not start with a root (`{{1}}`, a template's placeholder) is left as written.

use serde_json::Value;

/// Where a variable's path may start.
pub const ROOTS: &[&str] = &["contact", "conversation", "trigger", "answers", "vars"];

/// A variable as written: its path and fallback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable<'a> {
    pub path: &'a str,
    pub fallback: Option<&'a str>,
}

/// The `{{…}}` of `text`, as (byte range, inside).
fn placeholders(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| from + i) {
        let Some(close) = text[open + 2..].find("}}").map(|i| open + 2 + i) else { break };
        found.push((open..close + 2, &text[open + 2..close]));
        from = close + 2;
    }
    found
}

fn read(inside: &str) -> Option<Variable<'_>> {
    let (path, fallback) = match inside.split_once('|') {
        Some((p, f)) => (p.trim(), Some(f.trim())),
        None => (inside.trim(), None),
    };
    let root = path.split('.').next().unwrap_or_default();
    ROOTS.contains(&root).then_some(Variable { path, fallback })
}

/// The variables a text uses.
pub fn variables(text: &str) -> Vec<Variable<'_>> {
    placeholders(text).into_iter().filter_map(|(_, inside)| read(inside)).collect()
}

/// What is wrong with the variables of a text, if anything: a path that is only a root, or has
/// an empty part.
pub fn check(text: &str) -> Option<String> {
    unnamed(text).map(unnamed_message)
}

/// The first variable path of a text that names no value (only a root, or an empty part).
pub fn unnamed(text: &str) -> Option<&str> {
    variables(text).into_iter().map(|v| v.path).find(|path| {
        let parts: Vec<&str> = path.split('.').collect();
        parts.len() < 2 || parts.iter().any(|p| p.is_empty())
    })
}

/// Why the variable `path` ([`unnamed`]) is refused.
pub fn unnamed_message(path: &str) -> String {
    format!("{{{{{path}}}}} names no value: write it as root.name, e.g. contact.first_name")
}

/// The value at `path` in `context`, as text; `None` when absent or empty.
pub fn lookup(context: &Value, path: &str) -> Option<String> {
    let mut at = context;
    for part in path.split('.') {
        at = match at {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    let text = match at {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    (!text.trim().is_empty()).then_some(text)
}

/// `text` with its variables filled from `context`.
pub fn render(text: &str, context: &Value) -> String {
    render_with(text, context, |v| v.to_owned())
}

/// A URL with its variables filled, each value percent-encoded (a value can never change the
/// URL's host, path or query structure: `evil.com#`, `../admin`, `&x=` stay text).
pub fn render_url(text: &str, context: &Value) -> String {
    render_with(text, context, percent_encode)
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn render_with(text: &str, context: &Value, encode: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (range, inside) in placeholders(text) {
        let Some(v) = read(inside) else { continue };
        out.push_str(&text[from..range.start]);
        out.push_str(&encode(&lookup(context, v.path).unwrap_or_else(|| v.fallback.unwrap_or_default().to_owned())));
        from = range.end;
    }
    out.push_str(&text[from..]);
    out
}

/// The first word of a name ("Lan Nguyen" → "Lan").
pub fn first_name(name: &str) -> Option<String> {
    name.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context() -> Value {
        json!({
            "contact": {"name": "Lan Nguyen", "first_name": "Lan", "fields": {"plan": "gold", "empty": ""}},
            "answers": {"ask-email": "lan@example.com"},
            "trigger": {"text": "hello", "tags": ["vip", "new"]},
        })
    }

    #[test]
    fn fills_paths_and_falls_back() {
        let c = context();
        assert_eq!(render("Hi {{contact.first_name|there}}!", &c), "Hi Lan!");
        assert_eq!(render("Hi {{ contact.fields.city | friend }}", &c), "Hi friend");
        assert_eq!(render("Plan {{contact.fields.plan}}, {{contact.fields.empty|none}}", &c), "Plan gold, none");
        assert_eq!(render("{{answers.ask-email}} / {{trigger.tags}}", &c), "lan@example.com / vip, new");
        assert_eq!(render("missing: [{{vars.x}}]", &c), "missing: []");
    }

    #[test]
    fn leaves_what_is_not_a_variable() {
        let c = context();
        assert_eq!(render("Template {{1}} and {{ unknown.x }}", &c), "Template {{1}} and {{ unknown.x }}");
        assert_eq!(render("unclosed {{contact.name", &c), "unclosed {{contact.name");
        assert_eq!(render("", &c), "");
        assert_eq!(render("{{contact.name}}{{contact.first_name}}", &c), "Lan NguyenLan");
    }

    #[test]
    fn checks_paths() {
        assert!(check("Hi {{contact.first_name}}").is_none());
        assert!(check("Hi {{contact}}").is_some());
        assert!(check("Hi {{contact..name}}").is_some());
        assert!(check("Hi {{2}}").is_none());
        assert_eq!(unnamed("{{contact.name}} {{vars.}}"), Some("vars."));
        assert_eq!(check("{{vars.}}").as_deref(), Some(unnamed_message("vars.").as_str()));
        assert_eq!(variables("{{a.b}} {{vars.x|y}}"), vec![Variable { path: "vars.x", fallback: Some("y") }]);
    }

    #[test]
    fn url_values_are_encoded() {
        let c = json!({"contact": {"fields": {"shop": "evil.com#", "q": "a b&x=1/../admin"}}});
        let url = render_url("https://crm.example/shops/{{contact.fields.shop}}?q={{contact.fields.q}}", &c);
        assert_eq!(url, "https://crm.example/shops/evil.com%23?q=a%20b%26x%3D1%2F..%2Fadmin");
        assert_eq!(percent_encode("Lan-2_ok.~"), "Lan-2_ok.~");
    }

    #[test]
    fn first_names() {
        assert_eq!(first_name("  Lan Nguyen ").as_deref(), Some("Lan"));
        assert_eq!(first_name(" "), None);
    }
}

//! The `http_request` step: a call to another system (a CRM, a shop) whose JSON answer fills
//! the run's variables. Pure here: the settings and their check, the body with its variables
//! filled leaf by leaf (a quote in a customer's name can never break the JSON), and the values
//! picked from the answer. The server's runner sends it through the outbound-URL guard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Problem, vars};

/// Retries at most, after the first try.
pub const MAX_RETRIES: u32 = 3;
/// Variables one step may keep.
const MAX_SAVED: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// An `http_request` step's settings. Headers are kept in the workflow's definition, which
/// owners and managers can read: an API key put there is visible to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpCall {
    pub method: Method,
    /// Variables allowed (`https://crm.example/customers?phone={{contact.phone}}`).
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON sent as the body; variables allowed in its texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Variables to keep: name → JSON pointer into the answer (`/customer/tier`); then
    /// `{{vars.<name>}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub save: BTreeMap<String, String>,
    /// Tries again after a timeout, 429 or 5xx.
    #[serde(default)]
    pub retries: u32,
    /// The step after a failed call; none fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
}

const FORBIDDEN_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len()) && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl HttpCall {
    pub(super) fn check(&self, id: &str, problems: &mut Vec<Problem>) {
        let fixed = self.url.split("{{").next().unwrap_or_default();
        if !(fixed.starts_with("https://") || fixed.starts_with("http://")) || self.url.len() > 2048 {
            let message = "the URL starts with https:// (at most 2,048 characters)";
            problems.push(Problem::at(id, "url", message).with("max", 2048));
        } else if self.url.contains("{{") && !fixed.split_once("://").is_some_and(|(_, rest)| rest.contains('/')) {
            // Variables fill the path and query only: the host is written out.
            let message = "variables may fill the URL's path and query, not its host";
            problems.push(Problem::at(id, "url_host_variable", message));
        }
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                let message = format!("{name:?} is not a header name");
                problems.push(Problem::at(id, "header_name", message).with("header", name.as_str()));
            } else if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
                let message = format!("the header {name} is set by Parley");
                problems.push(Problem::at(id, "header_reserved", message).with("header", name.as_str()));
            }
            if value.contains(['\r', '\n']) || value.len() > 4096 {
                let message = format!("the header {name} has a value of one line, at most 4,096 bytes");
                problems.push(Problem::at(id, "header_value", message).with("header", name.as_str()).with("max", 4096));
            }
        }
        if self.body.as_ref().is_some_and(|b| b.to_string().len() > 16 * 1024) {
            problems.push(Problem::at(id, "body_size", "the body is at most 16 KiB").with("max_kib", 16));
        }
        if self.body.is_some() && matches!(self.method, Method::Get | Method::Delete) {
            let method = self.method.as_str();
            problems.push(Problem::at(id, "body_not_sent", "GET and DELETE send no body").with("method", method));
        }
        if self.save.len() > MAX_SAVED {
            let message = format!("at most {MAX_SAVED} values are kept");
            problems.push(Problem::at(id, "saved_count", message).with("max", MAX_SAVED));
        }
        for (name, pointer) in &self.save {
            if !valid_name(name) {
                let message = format!("{name:?}: a variable is 1 to 40 lower-case letters, digits or _");
                problems.push(Problem::at(id, "variable_name", message).with("name", name.as_str()).with("max", 40));
            }
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                let message = format!("{pointer:?} is not a JSON pointer like /customer/tier");
                problems.push(Problem::at(id, "json_pointer", message).with("pointer", pointer.as_str()));
            }
        }
        if self.retries > MAX_RETRIES {
            let message = format!("a call is tried again at most {MAX_RETRIES} times");
            problems.push(Problem::at(id, "call_retries", message).with("max", MAX_RETRIES));
        }
    }

    /// The texts that may hold variables (URL and headers; the body's are in [`body_texts`]).
    pub(super) fn texts(&self) -> Vec<&str> {
        std::iter::once(self.url.as_str())
            .chain(self.headers.values().map(String::as_str))
            .chain(body_texts(self.body.as_ref()))
            .collect()
    }
}

fn body_texts(body: Option<&Value>) -> Vec<&str> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(b) = body {
        walk(b, &mut out);
    }
    out
}

/// The body with the variables of its texts filled from `context`.
pub fn fill_body(body: &Value, context: &Value) -> Value {
    match body {
        Value::String(s) => Value::String(vars::render(s, context)),
        Value::Array(items) => Value::Array(items.iter().map(|i| fill_body(i, context)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), fill_body(v, context))).collect()),
        other => other.clone(),
    }
}

/// The values `save` names, picked from an answer (`Null` where the pointer finds nothing).
pub fn pick(save: &BTreeMap<String, String>, answer: &Value) -> Map<String, Value> {
    save.iter().map(|(name, pointer)| (name.clone(), answer.pointer(pointer).cloned().unwrap_or(Value::Null))).collect()
}

/// Whether a failed call is worth trying again: no answer, too many requests, a server error.
pub fn retryable(status: Option<u16>) -> bool {
    status.is_none_or(|s| s == 429 || s >= 500)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call() -> HttpCall {
        HttpCall {
            method: Method::Post,
            url: "https://crm.example/lookup?phone={{contact.phone}}".into(),
            headers: [("Authorization".to_owned(), "Bearer k".to_owned())].into(),
            body: Some(json!({"name": "{{contact.name}}", "n": 3, "tags": ["{{contact.fields.plan|none}}"]})),
            save: [("tier".to_owned(), "/customer/tier".to_owned())].into(),
            retries: 1,
            on_error: None,
        }
    }

    #[test]
    fn checks_settings() {
        let codes = |c: &HttpCall| {
            let mut p = Vec::new();
            c.check("h", &mut p);
            assert!(p.iter().all(|p| p.step.as_deref() == Some("h")), "{p:?}");
            p.iter().map(|p| p.code).collect::<Vec<_>>()
        };
        assert_eq!(codes(&call()), Vec::<&str>::new());
        let mut bad = call();
        bad.url = "ftp://x".into();
        bad.headers.insert("Host".into(), "x".into());
        bad.headers.insert("X-Evil".into(), "a\r\nb".into());
        bad.headers.insert("Bad Header".into(), "x".into());
        bad.save.insert("Bad Name".into(), "customer".into());
        bad.retries = 9;
        assert_eq!(
            codes(&bad),
            ["url", "header_name", "header_reserved", "header_value", "variable_name", "json_pointer", "call_retries"]
        );
        let mut host = call();
        host.url = "https://{{contact.fields.shop}}/api".into();
        assert_eq!(codes(&host), ["url_host_variable"], "a variable in the host");
        let mut get = call();
        get.method = Method::Get;
        assert_eq!(codes(&get), ["body_not_sent"], "GET with a body");
        let mut big = call();
        big.body = Some(json!({"x": "x".repeat(17 * 1024)}));
        big.save = (0..=MAX_SAVED).map(|i| (format!("v{i}"), "/x".to_owned())).collect();
        assert_eq!(codes(&big), ["body_size", "saved_count"]);

        let mut p = Vec::new();
        bad.check("h", &mut p);
        let params: Vec<_> = p.iter().map(|p| &p.params).collect();
        assert_eq!(params[1]["header"], "Bad Header");
        assert_eq!(params[2]["header"], "Host");
        assert_eq!((&params[4]["name"], &params[5]["pointer"]), (&json!("Bad Name"), &json!("customer")));
        assert_eq!(params[6]["max"], MAX_RETRIES);
    }

    #[test]
    fn fills_the_body_leaf_by_leaf_and_picks_the_answer() {
        let context = json!({"contact": {"name": "Ana \"the boss\"", "fields": {}}});
        let body = fill_body(call().body.as_ref().unwrap(), &context);
        assert_eq!(body, json!({"name": "Ana \"the boss\"", "n": 3, "tags": ["none"]}));
        let answer = json!({"customer": {"tier": "gold", "since": 2019}});
        let save = [("tier".to_owned(), "/customer/tier".to_owned()), ("x".to_owned(), "/nope".to_owned())].into();
        assert_eq!(Value::Object(pick(&save, &answer)), json!({"tier": "gold", "x": null}));
        assert!(retryable(None) && retryable(Some(503)) && retryable(Some(429)));
        assert!(!retryable(Some(404)) && !retryable(Some(200)));
        assert_eq!(call().texts().len(), 4);
    }
}

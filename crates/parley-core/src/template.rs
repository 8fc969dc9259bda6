//! Message templates as the send rules need them: category, review status, and the shape of
//! their placeholders, so a send can be checked against the approved template before it is
//! queued (spec/meta-cloud-api.md §6.9, §7).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
        }
    }

    /// Meta writes categories in capitals; we accept any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "marketing" => Some(TemplateCategory::Marketing),
            "utility" => Some(TemplateCategory::Utility),
            "authentication" => Some(TemplateCategory::Authentication),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Pending,
    Approved,
    Rejected,
    Paused,
    Disabled,
    InAppeal,
    PendingDeletion,
    Deleted,
    Archived,
    LimitExceeded,
    Locked,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Pending => "pending",
            TemplateStatus::Approved => "approved",
            TemplateStatus::Rejected => "rejected",
            TemplateStatus::Paused => "paused",
            TemplateStatus::Disabled => "disabled",
            TemplateStatus::InAppeal => "in_appeal",
            TemplateStatus::PendingDeletion => "pending_deletion",
            TemplateStatus::Deleted => "deleted",
            TemplateStatus::Archived => "archived",
            TemplateStatus::LimitExceeded => "limit_exceeded",
            TemplateStatus::Locked => "locked",
        }
    }

    /// Meta's `APPROVED`, `IN_APPEAL`, … in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "pending" => TemplateStatus::Pending,
            "approved" => TemplateStatus::Approved,
            "rejected" => TemplateStatus::Rejected,
            "paused" => TemplateStatus::Paused,
            "disabled" => TemplateStatus::Disabled,
            "in_appeal" => TemplateStatus::InAppeal,
            "pending_deletion" => TemplateStatus::PendingDeletion,
            "deleted" => TemplateStatus::Deleted,
            "archived" => TemplateStatus::Archived,
            "limit_exceeded" => TemplateStatus::LimitExceeded,
            "locked" => TemplateStatus::Locked,
            _ => return None,
        })
    }
}

/// A template as synced from the provider (Meta's names, kept as given: `MARKETING`, `APPROVED`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Value,
    pub provider_template_id: Option<String>,
}

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
}

/// Counts `{{1}}` / `{{name}}` placeholders in a text.
pub fn count_placeholders(text: &str) -> usize {
    let mut count = 0;
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        match rest[start + 2..].find("}}") {
            Some(end) => {
                count += 1;
                rest = &rest[start + 2 + end + 2..];
            }
            None => break,
        }
    }
    count
}

impl ParamShape {
    /// The shape of a template from its components as Meta lists them
    /// (`[{"type":"HEADER","format":"TEXT","text":"…"},{"type":"BODY","text":"…"},{"type":"BUTTONS","buttons":[…]}]`).
    pub fn of_components(components: &[Value]) -> Self {
        let mut shape = ParamShape::default();
        for c in components {
            let kind = c.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
            let text = c.get("text").and_then(Value::as_str).unwrap_or_default();
            match kind.as_str() {
                "HEADER" => {
                    let format = c.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_lowercase();
                    if format == "text" {
                        shape.header = count_placeholders(text);
                    } else {
                        shape.header_media = Some(format);
                    }
                }
                "BODY" => shape.body = count_placeholders(text),
                "BUTTONS" => {
                    for (i, b) in c.get("buttons").and_then(Value::as_array).into_iter().flatten().enumerate() {
                        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
                        let n = match kind.as_str() {
                            "URL" => count_placeholders(b.get("url").and_then(Value::as_str).unwrap_or_default()),
                            "COPY_CODE" | "OTP" => 1,
                            _ => 0,
                        };
                        if n > 0 {
                            shape.buttons.push((i, n));
                        }
                    }
                }
                _ => {}
            }
        }
        shape
    }

    /// Compares the parameters of a send (`components` as in the send API) with this shape;
    /// `Err` says what does not match.
    pub fn check(&self, components: &[Value]) -> Result<(), String> {
        let params = |c: &Value| c.get("parameters").and_then(Value::as_array).map_or(0, Vec::len);
        fn of_type<'a>(components: &'a [Value], t: &'static str) -> impl Iterator<Item = &'a Value> + 'a {
            components
                .iter()
                .filter(move |c| c.get("type").and_then(Value::as_str).is_some_and(|k| k.eq_ignore_ascii_case(t)))
        }
        let header: usize = of_type(components, "header").map(params).sum();
        let expected_header = self.header + usize::from(self.header_media.is_some());
        if header != expected_header {
            return Err(format!("the header takes {expected_header} parameter(s), {header} given"));
        }
        let body: usize = of_type(components, "body").map(params).sum();
        if body != self.body {
            return Err(format!("the body takes {} parameter(s), {body} given", self.body));
        }
        for (index, expected) in &self.buttons {
            let given: usize = of_type(components, "button")
                .filter(|c| match c.get("index") {
                    Some(Value::String(s)) => s.parse::<usize>().ok() == Some(*index),
                    Some(Value::Number(n)) => n.as_u64() == Some(*index as u64),
                    _ => false,
                })
                .map(params)
                .sum();
            if given != *expected {
                return Err(format!("button {index} takes {expected} parameter(s), {given} given"));
            }
        }
        let known_buttons: Vec<usize> = self.buttons.iter().map(|(i, _)| *i).collect();
        // Quick replies may carry a payload without a placeholder; other buttons only take
        // parameters where the template has one.
        for b in
            of_type(components, "button").filter(|b| b.get("sub_type").and_then(Value::as_str) != Some("quick_reply"))
        {
            let index = match b.get("index") {
                Some(Value::String(s)) => s.parse::<usize>().ok(),
                Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
                _ => None,
            };
            if params(b) > 0 && !index.is_some_and(|i| known_buttons.contains(&i)) {
                return Err(format!("button {} takes no parameters", index.map_or("?".into(), |i| i.to_string())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_update() -> Vec<Value> {
        vec![
            json!({"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"}),
            json!({"type": "BODY", "text": "Hi {{1}}, order {{2}} is on its way."}),
            json!({"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Help"}, {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}"}]}),
        ]
    }

    #[test]
    fn placeholders() {
        assert_eq!(count_placeholders("Hi {{1}}, order {{2}}"), 2);
        assert_eq!(count_placeholders("Hi {{first_name}}"), 1);
        assert_eq!(count_placeholders("no {{ end"), 0);
        assert_eq!(count_placeholders(""), 0);
    }

    #[test]
    fn shape_of_components() {
        let shape = ParamShape::of_components(&order_update());
        assert_eq!(shape, ParamShape { header: 1, header_media: None, body: 2, buttons: vec![(1, 1)] });
        let media = ParamShape::of_components(&[
            json!({"type": "HEADER", "format": "IMAGE"}),
            json!({"type": "BODY", "text": "Hi"}),
        ]);
        assert_eq!(media.header_media.as_deref(), Some("image"));
    }

    #[test]
    fn checks_params() {
        let shape = ParamShape::of_components(&order_update());
        let good = [
            json!({"type": "header", "parameters": [{"type": "text", "text": "4411"}]}),
            json!({"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "4411"}]}),
            json!({"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "4411"}]}),
        ];
        assert_eq!(shape.check(&good), Ok(()));
        assert!(shape.check(&good[..2]).unwrap_err().contains("button 1"));
        assert!(shape.check(&good[1..]).unwrap_err().contains("header"));
        let mut extra = good.to_vec();
        extra[1]["parameters"].as_array_mut().unwrap().push(json!({"type": "text", "text": "x"}));
        assert!(shape.check(&extra).unwrap_err().contains("body takes 2"));
        let mut payload = good.to_vec();
        payload.push(json!({"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "P"}]}));
        assert_eq!(shape.check(&payload), Ok(()), "quick replies may carry a payload");
        let mut wrong_button = good.to_vec();
        wrong_button.push(
            json!({"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "P"}]}),
        );
        assert!(shape.check(&wrong_button).unwrap_err().contains("button 0"));
    }

    #[test]
    fn names_parse_in_any_case() {
        assert_eq!(TemplateStatus::parse("APPROVED"), Some(TemplateStatus::Approved));
        assert_eq!(TemplateStatus::parse("IN_APPEAL"), Some(TemplateStatus::InAppeal));
        assert_eq!(TemplateCategory::parse("MARKETING"), Some(TemplateCategory::Marketing));
        assert_eq!(TemplateCategory::parse("service"), None);
    }
}

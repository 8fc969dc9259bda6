//! What providers report about a template after it was submitted (spec/meta-cloud-api.md
//! §5.1–§5.4): review decisions, pauses and disables, quality scores, category changes. Parsed
//! from webhook values here; the store applies them to the stored template at once.

use serde::Serialize;
use serde_json::Value;

use crate::health::QualityRating;
use crate::template::{TemplateCategory, TemplateStatus};

/// A template as the provider lists it (a sync).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Value,
    pub provider_template_id: Option<String>,
    pub quality: Option<String>,
    pub rejected_reason: Option<String>,
    pub parameter_format: Option<String>,
}

/// One report about one template (a name in one language).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateUpdate {
    /// Meta's template id (an integer in webhooks, kept as text).
    pub provider_template_id: Option<String>,
    pub name: String,
    pub language: String,
    pub change: TemplateChange,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TemplateChange {
    /// A new review status. `reason` is Meta's (`INVALID_FORMAT`, `NONE`…); `detail` the
    /// rejection's explanation or the pause's title (`FIRST_PAUSE`, `UNPAUSE`…).
    Status {
        status: TemplateStatus,
        reason: Option<String>,
        detail: Option<String>,
        category: Option<TemplateCategory>,
    },
    /// A quality warning that changes no status (`FLAGGED`): kept as an event.
    Flagged,
    Quality {
        previous: Option<QualityRating>,
        score: QualityRating,
    },
    /// The category changed.
    Category {
        category: TemplateCategory,
        previous: Option<TemplateCategory>,
    },
    /// The category will change (about a day ahead), at `at` (Unix seconds) when Meta says.
    CategoryNotice {
        category: TemplateCategory,
        current: Option<TemplateCategory>,
        at: Option<i64>,
    },
    /// The components changed outside Parley (edited in WhatsApp Manager): a sync picks them up.
    Components,
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A webhook `field` and `value` as a template update, when the field is about templates and
/// names one (name and language); `None` otherwise.
pub fn template_update(field: &str, value: &Value) -> Option<TemplateUpdate> {
    let name = text(value, "message_template_name")?.to_owned();
    let language = text(value, "message_template_language")?.to_owned();
    let provider_template_id = value.get("message_template_id").and_then(id_text);
    let change = match field {
        "message_template_status_update" => {
            let event = text(value, "event")?.to_ascii_uppercase();
            let status = match event.as_str() {
                "FLAGGED" => {
                    return Some(TemplateUpdate {
                        provider_template_id,
                        name,
                        language,
                        change: TemplateChange::Flagged,
                    });
                }
                // Back from a pause or a ban: sendable again.
                "REINSTATED" | "UNPAUSED" | "UNPAUSE" => TemplateStatus::Approved,
                other => TemplateStatus::parse(other)?,
            };
            let detail = value
                .pointer("/rejection_info/reason")
                .and_then(Value::as_str)
                .or_else(|| value.pointer("/other_info/title").and_then(Value::as_str))
                .map(str::to_owned);
            TemplateChange::Status {
                status,
                reason: text(value, "reason").map(str::to_owned),
                detail,
                category: text(value, "message_template_category").and_then(TemplateCategory::parse),
            }
        }
        "message_template_quality_update" => TemplateChange::Quality {
            previous: text(value, "previous_quality_score").and_then(QualityRating::parse),
            score: text(value, "new_quality_score").and_then(QualityRating::parse)?,
        },
        "template_category_update" => {
            // The notice a day ahead names the future category `correct_category` (and, oddly,
            // the current one `new_category`); the change itself has `previous_category`.
            match (text(value, "correct_category"), value.get("category_update_timestamp").and_then(Value::as_i64)) {
                (Some(future), at) => TemplateChange::CategoryNotice {
                    category: TemplateCategory::parse(future)?,
                    current: text(value, "new_category").and_then(TemplateCategory::parse),
                    at,
                },
                (None, _) => TemplateChange::Category {
                    category: text(value, "new_category").and_then(TemplateCategory::parse)?,
                    previous: text(value, "previous_category").and_then(TemplateCategory::parse),
                },
            }
        }
        "message_template_components_update" => TemplateChange::Components,
        _ => return None,
    };
    Some(TemplateUpdate { provider_template_id, name, language, change })
}

/// Whether two component lists say the same thing: types, formats, texts and buttons, ignoring
/// examples, key order and the case of type names (a provider lists what it was sent in its own
/// spelling; a sync must not take that for an edit).
pub fn same_content(a: &Value, b: &Value) -> bool {
    fn upper(v: &Value, key: &str) -> String {
        v.get(key).and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase()
    }
    fn plain(v: &Value, key: &str) -> String {
        v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
    }
    fn gist(components: &Value) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = components
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mut g = vec![upper(c, "type"), upper(c, "format"), plain(c, "text")];
                for b in c.get("buttons").and_then(Value::as_array).into_iter().flatten() {
                    g.extend([upper(b, "type"), plain(b, "text"), plain(b, "url"), plain(b, "phone_number")]);
                }
                g
            })
            .collect();
        out.sort();
        out
    }
    gist(a) == gist(b)
}

/// Whether an approved template may be edited now: Meta allows one edit per 24 h and ten per
/// 30 days (spec §7.3); rejected and paused templates may be edited freely, others not at all.
/// `recent` are the times (Unix seconds) of the edits submitted while it was approved.
pub fn edit_allowed(status: TemplateStatus, recent: &[i64], now: i64) -> Result<(), String> {
    match status {
        TemplateStatus::Rejected | TemplateStatus::Paused => Ok(()),
        TemplateStatus::Approved => {
            if recent.iter().any(|t| now - t < 24 * 3600) {
                Err("an approved template can be edited once per 24 hours".into())
            } else if recent.iter().filter(|t| now - **t < 30 * 24 * 3600).count() >= 10 {
                Err("an approved template can be edited at most 10 times in 30 days".into())
            } else {
                Ok(())
            }
        }
        other => {
            Err(format!("a {} template cannot be edited (only approved, rejected or paused ones)", other.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(extra: Value) -> Value {
        let mut v = json!({"message_template_id": 1689556908129835_i64, "message_template_name": "abandoned_cart",
            "message_template_language": "en"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    }

    #[test]
    fn review_decisions() {
        let u = template_update(
            "message_template_status_update",
            &named(json!({"event": "REJECTED", "reason": "INVALID_FORMAT", "message_template_category": "MARKETING",
                "rejection_info": {"reason": "Variables are adjacent", "recommendation": "Add words"}})),
        )
        .unwrap();
        assert_eq!(u.provider_template_id.as_deref(), Some("1689556908129835"));
        assert_eq!(
            u.change,
            TemplateChange::Status {
                status: TemplateStatus::Rejected,
                reason: Some("INVALID_FORMAT".into()),
                detail: Some("Variables are adjacent".into()),
                category: Some(TemplateCategory::Marketing),
            }
        );
        let paused = template_update(
            "message_template_status_update",
            &named(json!({"event": "PAUSED", "reason": "NONE", "other_info": {"title": "FIRST_PAUSE", "description": "3 hours"}})),
        )
        .unwrap();
        assert!(
            matches!(paused.change, TemplateChange::Status { status: TemplateStatus::Paused, detail: Some(ref d), .. } if d == "FIRST_PAUSE")
        );
        let back = template_update("message_template_status_update", &named(json!({"event": "REINSTATED"}))).unwrap();
        assert!(matches!(back.change, TemplateChange::Status { status: TemplateStatus::Approved, .. }));
        let flagged = template_update("message_template_status_update", &named(json!({"event": "FLAGGED"}))).unwrap();
        assert_eq!(flagged.change, TemplateChange::Flagged);
        assert!(template_update("message_template_status_update", &named(json!({"event": "EXPLODED"}))).is_none());
        assert!(template_update("message_template_status_update", &json!({"event": "APPROVED"})).is_none(), "no name");
    }

    #[test]
    fn content_comparison_ignores_spelling_and_examples() {
        let ours = json!([{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Ana"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.test/{{1}}", "example": ["https://x.test/1"]}]}]);
        let listed = json!([{"type": "buttons", "buttons": [{"type": "url", "url": "https://x.test/{{1}}", "text": "Go"}]},
            {"type": "body", "text": "Hi {{1}}"}]);
        assert!(same_content(&ours, &listed));
        let edited = json!([{"type": "BODY", "text": "Hello {{1}}"}, {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.test/{{1}}"}]}]);
        assert!(!same_content(&ours, &edited));
    }

    #[test]
    fn edit_limits() {
        let day = 24 * 3600;
        let now = 100 * day;
        assert!(edit_allowed(TemplateStatus::Approved, &[], now).is_ok());
        assert!(edit_allowed(TemplateStatus::Approved, &[now - day + 1], now).unwrap_err().contains("24 hours"));
        assert!(edit_allowed(TemplateStatus::Approved, &[now - day], now).is_ok(), "24:00:00 later is fine");
        let ten: Vec<i64> = (1..=10).map(|i| now - i * 2 * day).collect();
        assert!(edit_allowed(TemplateStatus::Approved, &ten[..9], now).is_ok());
        assert!(edit_allowed(TemplateStatus::Approved, &ten, now).unwrap_err().contains("10 times"));
        assert!(edit_allowed(TemplateStatus::Rejected, &[now - 1], now).is_ok());
        assert!(edit_allowed(TemplateStatus::Paused, &[now - 1], now).is_ok());
        assert!(edit_allowed(TemplateStatus::Pending, &[], now).is_err());
        assert!(edit_allowed(TemplateStatus::Disabled, &[], now).is_err());
    }

    #[test]
    fn quality_and_category() {
        let q = template_update(
            "message_template_quality_update",
            &named(json!({"previous_quality_score": "GREEN", "new_quality_score": "RED"})),
        )
        .unwrap();
        assert_eq!(
            q.change,
            TemplateChange::Quality { previous: Some(QualityRating::Green), score: QualityRating::Red }
        );
        let done = template_update(
            "template_category_update",
            &named(json!({"previous_category": "UTILITY", "new_category": "MARKETING"})),
        )
        .unwrap();
        assert_eq!(
            done.change,
            TemplateChange::Category {
                category: TemplateCategory::Marketing,
                previous: Some(TemplateCategory::Utility),
            }
        );
        let notice = template_update(
            "template_category_update",
            &named(json!({"new_category": "UTILITY", "correct_category": "MARKETING", "category_update_timestamp": 1_750_086_400})),
        )
        .unwrap();
        assert_eq!(
            notice.change,
            TemplateChange::CategoryNotice {
                category: TemplateCategory::Marketing,
                current: Some(TemplateCategory::Utility),
                at: Some(1_750_086_400)
            }
        );
        let untimed = template_update(
            "template_category_update",
            &named(json!({"new_category": "UTILITY", "correct_category": "MARKETING"})),
        )
        .unwrap();
        assert!(matches!(untimed.change, TemplateChange::CategoryNotice { at: None, .. }), "still a notice");
        assert!(template_update("messages", &named(json!({}))).is_none());
    }
}

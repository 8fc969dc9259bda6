//! Template lifecycle (spec §7, §10 item 6): the templates of every account, Meta's review
//! (scripted by a [`ReviewPolicy`] or decided by hand), edits and their limits, deletion and the
//! 30-day name cooldown, quality scores and the pauses they cause (3 h, 6 h, then disabled),
//! recategorisation, and the `message_template_status_update`, `message_template_quality_update`
//! and `template_category_update` webhooks. The Graph endpoints, the review scheduling and the
//! `Sandbox` methods are in `template_api.rs`.
//!
//! Where Meta documents no error code, the sandbox chose:
//! - a name whose approved (or paused) template was deleted less than 30 days ago: 100 / 2388023
//!   (the cooldown is per name, all languages);
//! - more than 100 creations per WABA in a rolling hour: 80008;
//! - a second edit of an approved template within 24 h, or an 11th within 30 days: 100 / 2388068.
//!
//! Other choices: creating or editing a template emits no `PENDING` webhook (the answer says so);
//! deleting one emits `DELETED` with `reason: null`; a rejection always carries `rejection_info`;
//! when a pause ends (by time or `unpause`) the quality score goes back to `UNKNOWN` (Meta resets
//! it from fresh feedback), with a `message_template_quality_update`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{Value, json};

use crate::graph::GraphError;
use crate::{ControlError, Item, SandboxTemplate};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const APPROVED: &str = "APPROVED";
const PENDING: &str = "PENDING";
const REJECTED: &str = "REJECTED";
const PAUSED: &str = "PAUSED";
const DISABLED: &str = "DISABLED";
const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];

/// How Meta's review decides submitted templates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewMode {
    /// Approve — except names containing `reject`, always rejected with `INVALID_FORMAT` (so a
    /// demo can show a rejection without changing the policy).
    Approve,
    /// Reject every submission with this reason (`INVALID_FORMAT`, `PROMOTIONAL`, …).
    Reject { reason: String },
    /// Leave submissions PENDING until [`Sandbox::review_template`] decides.
    Manual,
}

/// The sandbox-wide review: its mode and how long it takes (real time: reviews are not part of
/// the clock-driven rules, and tests use zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewPolicy {
    pub mode: ReviewMode,
    pub delay: Duration,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy { mode: ReviewMode::Approve, delay: Duration::ZERO }
    }
}

/// A reviewer's decision on a pending template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// Rejected with this reason (Meta's words: `INVALID_FORMAT`, `PROMOTIONAL`, `SCAM`, …).
    Reject(String),
}

/// A template as Meta keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pub id: u64,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Value,
    pub parameter_format: Option<String>,
    pub ttl: Option<i64>,
    pub quality: String,
    pub quality_date: i64,
    pub rejected_reason: Option<String>,
    pub previous_category: Option<String>,
    /// How many times a RED score paused it (the third time disables it).
    pub pauses: u32,
    pub paused_until: Option<i64>,
    /// When it was edited while approved (the 24 h and 30-day edit limits count these).
    pub approved_edits: Vec<i64>,
    /// Bumped at every submission, so a delayed review only decides the submission it was for.
    pub submission: u64,
}

impl Template {
    /// The Graph object (`GET /<TEMPLATE_ID>`, list entries).
    pub fn json(&self) -> Value {
        let mut v = json!({"id": self.id.to_string(), "name": self.name, "language": self.language,
            "status": self.status, "category": self.category, "components": self.components,
            "quality_score": {"score": self.quality, "date": self.quality_date}});
        if let Some(f) = &self.parameter_format {
            v["parameter_format"] = json!(f);
        }
        if let Some(r) = &self.rejected_reason {
            v["rejected_reason"] = json!(r);
        }
        if let Some(ttl) = self.ttl {
            v["message_send_ttl_seconds"] = json!(ttl);
        }
        if let Some(p) = &self.previous_category {
            v["previous_category"] = json!(p);
        }
        v
    }

    pub fn as_sandbox_template(&self) -> SandboxTemplate {
        SandboxTemplate {
            waba_id: self.waba_id.clone(),
            name: self.name.clone(),
            language: self.language.clone(),
            category: self.category.clone(),
            status: self.status.clone(),
            components: self.components.clone(),
        }
    }

    fn change(&self, field: &str, value: Value) -> Item {
        Item::Change { waba_id: self.waba_id.clone(), field: field.to_owned(), value }
    }

    /// A `message_template_status_update` (spec §5.1); the id is a JSON integer, like Meta's.
    fn status_update(&self, event: &str, reason: Value, extra: Value) -> Item {
        let mut value = json!({"event": event, "message_template_id": self.id, "message_template_name": self.name,
            "message_template_language": self.language, "message_template_category": self.category, "reason": reason});
        if let (Some(v), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        self.change("message_template_status_update", value)
    }

    /// Sets the score; a `message_template_quality_update` when it changed.
    fn set_quality(&mut self, score: &str, now: i64, items: &mut Vec<Item>) {
        if self.quality != score {
            items.push(self.change(
                "message_template_quality_update",
                json!({"previous_quality_score": self.quality, "new_quality_score": score,
                    "message_template_id": self.id, "message_template_name": self.name,
                    "message_template_language": self.language}),
            ));
        }
        self.quality = score.to_owned();
        self.quality_date = now;
    }

    /// Back to APPROVED after a pause, its quality to be measured again.
    fn resume(&mut self, now: i64, items: &mut Vec<Item>) {
        self.status = APPROVED.into();
        self.paused_until = None;
        let description = "Your template is no longer paused and can be sent again.";
        items.push(self.status_update(
            APPROVED,
            json!("NONE"),
            json!({"other_info": {"title": "UNPAUSE", "description": description}}),
        ));
        self.set_quality("UNKNOWN", now, items);
    }
}

/// Every account's templates, and what the account-level rules remember.
#[derive(Default)]
pub(crate) struct TemplateBook {
    list: Vec<Template>,
    /// (WABA, name) of approved templates deleted → when (clock seconds).
    deleted: HashMap<(String, String), i64>,
    /// WABA → its recent creations (clock seconds), for the 100-per-hour limit.
    created: HashMap<String, VecDeque<i64>>,
    pub policy: ReviewPolicy,
}

impl TemplateBook {
    pub fn find(&self, waba: &str, name: &str, language: &str) -> Option<&Template> {
        self.list.iter().find(|t| t.waba_id == waba && t.name == name && t.language == language)
    }

    pub fn find_mut(&mut self, waba: &str, name: &str, language: &str) -> Result<&mut Template, ControlError> {
        self.list
            .iter_mut()
            .find(|t| t.waba_id == waba && t.name == name && t.language == language)
            .ok_or_else(|| ControlError::NotFound(format!("template {name} ({language}) of {waba}")))
    }

    pub fn by_id(&self, id: u64) -> Option<&Template> {
        self.list.iter().find(|t| t.id == id)
    }

    fn by_id_mut(&mut self, id: u64) -> Result<&mut Template, GraphError> {
        self.list.iter_mut().find(|t| t.id == id).ok_or_else(GraphError::no_object)
    }

    /// The account's templates, in creation order.
    pub fn of(&self, waba: &str) -> impl Iterator<Item = &Template> {
        self.list.iter().filter(move |t| t.waba_id == waba)
    }

    /// `Sandbox::add_template`: as given, replacing (and keeping the id of) the same name+language.
    pub fn put(&mut self, t: SandboxTemplate, id: u64, now: i64) {
        if let Ok(existing) = self.find_mut(&t.waba_id, &t.name, &t.language) {
            existing.category = t.category;
            existing.status = t.status;
            existing.components = t.components;
            return;
        }
        self.list.push(Template {
            id,
            waba_id: t.waba_id,
            name: t.name,
            language: t.language,
            category: t.category,
            status: t.status,
            components: t.components,
            parameter_format: None,
            ttl: None,
            quality: "UNKNOWN".into(),
            quality_date: now,
            rejected_reason: None,
            previous_category: None,
            pauses: 0,
            paused_until: None,
            approved_edits: Vec::new(),
            submission: 0,
        });
    }

    /// `POST /<WABA_ID>/message_templates` (spec §7.2): Meta's checks, then a PENDING template.
    pub fn create(&mut self, waba: &str, body: &Value, id: u64, now: i64) -> Result<&Template, GraphError> {
        let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty()
            || name.len() > 512
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(GraphError::invalid(
                "Invalid parameter: name may only hold lowercase letters, digits and underscores (at most 512)",
            ));
        }
        let category = body.get("category").map(parse_category).unwrap_or_else(|| Err(missing("category")))?;
        let language = body.get("language").and_then(Value::as_str).unwrap_or_default();
        if language.trim().is_empty() {
            return Err(missing("language"));
        }
        let components = check_components(body.get("components"), &category)?;
        let parameter_format = match body.get("parameter_format") {
            None | Some(Value::Null) => Some("POSITIONAL".to_owned()),
            Some(Value::String(f)) if ["positional", "named"].contains(&f.to_ascii_lowercase().as_str()) => {
                Some(f.to_ascii_uppercase())
            }
            Some(_) => return Err(GraphError::invalid("Invalid parameter: parameter_format")),
        };
        let ttl = parse_ttl(body)?;
        if self.find(waba, name, language).is_some() {
            return Err(GraphError::invalid(format!(
                "Content in this language already exists: {name} ({language}) is already a template"
            ))
            .subcode(2388024));
        }
        if self.deleted.get(&(waba.to_owned(), name.to_owned())).is_some_and(|at| now - at < 30 * DAY) {
            return Err(GraphError::invalid(format!(
                "{name} was deleted less than 30 days ago: the name can't be used again yet"
            ))
            .subcode(2388023));
        }
        if self.of(waba).count() >= 250 {
            return Err(
                GraphError::invalid("Message template limit exceeded: at most 250 per account").subcode(2388019)
            );
        }
        let created = self.created.entry(waba.to_owned()).or_default();
        while created.front().is_some_and(|t| now - t >= HOUR) {
            created.pop_front();
        }
        if created.len() >= 100 {
            return Err(GraphError::bad(80008, "Too many template creations: at most 100 per account per hour"));
        }
        created.push_back(now);
        self.list.push(Template {
            id,
            waba_id: waba.to_owned(),
            name: name.to_owned(),
            language: language.to_owned(),
            category,
            status: PENDING.into(),
            components,
            parameter_format,
            ttl,
            quality: "UNKNOWN".into(),
            quality_date: now,
            rejected_reason: None,
            previous_category: None,
            pauses: 0,
            paused_until: None,
            approved_edits: Vec::new(),
            submission: 1,
        });
        Ok(self.list.last().expect("just pushed"))
    }

    /// `POST /<TEMPLATE_ID>` (spec §7.3 "Editing"): back to PENDING, to be reviewed again.
    pub fn edit(&mut self, id: u64, body: &Value, now: i64) -> Result<(), GraphError> {
        let t = self.by_id_mut(id)?;
        if ![APPROVED, REJECTED, PAUSED].contains(&t.status.as_str()) {
            return Err(GraphError::invalid(format!(
                "A template can only be edited when approved, rejected or paused; this one is {}",
                t.status
            )));
        }
        let category = body.get("category").filter(|c| !c.is_null()).map(parse_category).transpose()?;
        let after = category.clone().unwrap_or_else(|| t.category.clone());
        let components =
            body.get("components").filter(|c| !c.is_null()).map(|c| check_components(Some(c), &after)).transpose()?;
        let ttl = parse_ttl(body)?;
        if category.is_none() && components.is_none() && ttl.is_none() {
            return Err(GraphError::invalid("Nothing to edit: give components, category or message_send_ttl_seconds"));
        }
        if t.status == APPROVED {
            if category.as_ref().is_some_and(|c| *c != t.category) {
                return Err(GraphError::invalid("The category of an approved template cannot be changed"));
            }
            t.approved_edits.retain(|at| now - at < 30 * DAY);
            let last_day = t.approved_edits.iter().filter(|at| now - **at < DAY).count();
            if last_day >= 1 || t.approved_edits.len() >= 10 {
                return Err(GraphError::invalid(
                    "Edit limit reached: an approved template can be edited once per 24 hours and 10 times per 30 days",
                )
                .subcode(2388068));
            }
            t.approved_edits.push(now);
        }
        if let Some(c) = category {
            t.category = c;
        }
        if let Some(c) = components {
            t.components = c;
        }
        if ttl.is_some() {
            t.ttl = ttl;
        }
        t.status = PENDING.into();
        t.rejected_reason = None;
        t.paused_until = None;
        t.submission += 1;
        Ok(())
    }

    /// `DELETE /<WABA_ID>/message_templates?name=…[&hsm_id=…]`: every language, or the one id.
    pub fn delete(&mut self, waba: &str, name: &str, id: Option<u64>, now: i64) -> Result<Vec<Item>, GraphError> {
        let hit = |t: &Template| t.waba_id == waba && t.name == name && id.is_none_or(|id| t.id == id);
        if !self.list.iter().any(hit) {
            return Err(GraphError::invalid(format!("Message template not found: {name}")));
        }
        // All or nothing, like Meta's batch deletes.
        if self.list.iter().any(|t| hit(t) && t.status == DISABLED) {
            return Err(GraphError::invalid("A disabled template cannot be deleted"));
        }
        let mut items = Vec::new();
        for t in self.list.iter().filter(|t| hit(t)) {
            if t.status == APPROVED || t.status == PAUSED {
                self.deleted.insert((waba.to_owned(), name.to_owned()), now);
            }
            items.push(t.status_update("DELETED", Value::Null, json!({})));
        }
        self.list.retain(|t| !hit(t));
        Ok(items)
    }

    /// `POST /<TEMPLATE_ID>/unpause`.
    pub fn unpause(&mut self, id: u64, now: i64) -> Result<Vec<Item>, GraphError> {
        let t = self.by_id_mut(id)?;
        if t.status != PAUSED {
            return Err(GraphError::invalid(format!(
                "Only a paused template can be unpaused; this one is {}",
                t.status
            )));
        }
        let mut items = Vec::new();
        t.resume(now, &mut items);
        Ok(items)
    }

    /// The review's decision on a PENDING template (`submission`: only that submission).
    pub fn decide(&mut self, id: u64, submission: Option<u64>, decision: Decision) -> Result<Vec<Item>, ControlError> {
        let t = self.list.iter_mut().find(|t| t.id == id).ok_or_else(|| ControlError::NotFound(id.to_string()))?;
        if t.status != PENDING || submission.is_some_and(|s| s != t.submission) {
            return Err(ControlError::Invalid(format!("{} ({}) is {}, not pending", t.name, t.language, t.status)));
        }
        Ok(vec![match decision {
            Decision::Approve => {
                t.status = APPROVED.into();
                t.status_update(APPROVED, json!("NONE"), json!({}))
            }
            Decision::Reject(reason) => {
                t.status = REJECTED.into();
                t.rejected_reason = Some(reason.clone());
                let info = json!({"rejection_info": {"reason": format!("The template was rejected: {reason}"),
                    "recommendation": "Review the template guidelines, edit the template and submit it again."}});
                t.status_update(REJECTED, json!(reason), info)
            }
        }])
    }

    /// A new quality score; RED pauses an approved template (3 h, then 6 h, then disables it).
    pub fn set_quality(
        &mut self,
        (waba, name, language): (&str, &str, &str),
        score: &str,
        now: i64,
    ) -> Result<Vec<Item>, ControlError> {
        let score = score.to_ascii_uppercase();
        if !["GREEN", "YELLOW", "RED", "UNKNOWN"].contains(&score.as_str()) {
            return Err(ControlError::Invalid(format!("quality score {score}: GREEN, YELLOW, RED or UNKNOWN")));
        }
        let t = self.find_mut(waba, name, language)?;
        let mut items = Vec::new();
        t.set_quality(&score, now, &mut items);
        if score == "RED" && t.status == APPROVED {
            t.pauses += 1;
            let pause = match t.pauses {
                1 => Some((3, "FIRST_PAUSE")),
                2 => Some((6, "SECOND_PAUSE")),
                _ => None,
            };
            match pause {
                Some((hours, title)) => {
                    t.status = PAUSED.into();
                    t.paused_until = Some(now + hours * HOUR);
                    let description =
                        format!("Your template has been paused for {hours} hours because of its low quality rating.");
                    items.push(t.status_update(
                        PAUSED,
                        json!("NONE"),
                        json!({"other_info": {"title": title, "description": description}}),
                    ));
                }
                None => {
                    t.status = DISABLED.into();
                    t.paused_until = None;
                    let description = "Your template has been disabled: its quality rating was low a third time.";
                    items.push(t.status_update(
                        DISABLED,
                        json!("NONE"),
                        json!({"disable_info": {"disable_date": now},
                            "other_info": {"title": "DISABLED", "description": description}}),
                    ));
                }
            }
        }
        Ok(items)
    }

    /// Meta changed the category (spec §5.4, the completed shape).
    pub fn recategorize(&mut self, key: (&str, &str, &str), new_category: &str) -> Result<Vec<Item>, ControlError> {
        let category = parse_category(&json!(new_category)).map_err(|_| {
            ControlError::Invalid(format!("category {new_category}: MARKETING, UTILITY or AUTHENTICATION"))
        })?;
        let t = self.find_mut(key.0, key.1, key.2)?;
        if t.category == category {
            return Ok(Vec::new());
        }
        let previous = std::mem::replace(&mut t.category, category);
        let item = t.change(
            "template_category_update",
            json!({"message_template_id": t.id, "message_template_name": t.name,
                "message_template_language": t.language, "previous_category": previous, "new_category": t.category}),
        );
        t.previous_category = Some(previous);
        Ok(vec![item])
    }

    /// Pauses that ran out end; old bookkeeping is dropped.
    pub fn tick(&mut self, now: i64) -> Vec<Item> {
        let mut items = Vec::new();
        for t in self.list.iter_mut().filter(|t| t.status == PAUSED && t.paused_until.is_some_and(|u| now >= u)) {
            t.resume(now, &mut items);
        }
        self.deleted.retain(|_, at| now - *at < 30 * DAY);
        for created in self.created.values_mut() {
            created.retain(|t| now - t < HOUR);
        }
        self.created.retain(|_, c| !c.is_empty());
        items
    }
}

fn missing(field: &str) -> GraphError {
    GraphError::invalid(format!("Invalid parameter: {field} is required"))
}

fn parse_category(v: &Value) -> Result<String, GraphError> {
    let c = v.as_str().unwrap_or_default().to_ascii_uppercase();
    match CATEGORIES.contains(&c.as_str()) {
        true => Ok(c),
        false => Err(GraphError::invalid("Invalid parameter: category must be MARKETING, UTILITY or AUTHENTICATION")),
    }
}

fn parse_ttl(body: &Value) -> Result<Option<i64>, GraphError> {
    match body.get("message_send_ttl_seconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| GraphError::invalid("Invalid parameter: message_send_ttl_seconds")),
    }
}

/// An array of component objects with one BODY (with text, except for authentication templates,
/// whose body Meta writes); component types come back upper case, like Meta lists them.
fn check_components(components: Option<&Value>, category: &str) -> Result<Value, GraphError> {
    let Some(list) = components.and_then(Value::as_array) else {
        return Err(GraphError::invalid("Invalid parameter: components must be an array"));
    };
    let mut out = Vec::with_capacity(list.len());
    let mut bodies = 0;
    for c in list {
        let Some(kind) = c.get("type").and_then(Value::as_str).map(str::to_ascii_uppercase) else {
            return Err(GraphError::invalid("Invalid parameter: every component needs a type"));
        };
        if kind == "BODY" {
            bodies += 1;
            let text = c.get("text").and_then(Value::as_str).unwrap_or_default();
            if category != "AUTHENTICATION" && (text.trim().is_empty() || text.chars().count() > 1024) {
                return Err(GraphError::invalid("Invalid parameter: the BODY needs a text of 1 to 1024 characters"));
            }
        }
        let mut c = c.clone();
        c["type"] = json!(kind);
        out.push(c);
    }
    if bodies != 1 {
        return Err(GraphError::invalid("Invalid parameter: components need exactly one BODY"));
    }
    Ok(Value::Array(out))
}

//! Workflows (PRODUCT.md §6): a trigger, conditions on it, and a graph of steps, as owners and
//! managers write them (JSON, or the builder that writes the same JSON). Pure: what a
//! definition is, how it is checked before it is published, which paths lack a way to a person
//! (`paths.rs`), and which happenings start a run (`triggers.rs`). The store keeps versions and
//! runs; the server's runner executes steps through the actions.
//!
//! A definition's first step is where a run starts; each step names the next (`next`), a branch
//! names one per rule; a run ends at a step with no next. Loops are allowed only through a
//! `jump` step, which counts its passes (`max_times`): a run never spins.

pub mod ask;
pub mod gallery;
pub mod hours;
pub mod http;
pub mod paths;
pub mod triggers;
pub mod vars;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use ask::{Asking, Expect, Question};
pub use hours::Hours;
pub use http::HttpCall;
pub use triggers::{Happening, OpenedBy, Silent, Trigger};

/// Steps a definition may hold.
pub const MAX_STEPS: usize = 100;
/// The longest wait: 90 days.
pub const MAX_WAIT_SECS: i64 = 90 * 24 * 3600;
/// How many times a `jump` may be taken in one run, at most.
pub const MAX_JUMPS: u32 = 100;

/// A workflow as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub trigger: Trigger,
    /// All must hold for a happening to start a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    pub steps: Vec<Step>,
}

impl Definition {
    /// Whether its conditions keep it to another number than `channel_id`.
    pub fn kept_to_another_channel(&self, channel_id: i64) -> bool {
        let here = channel_id.to_string();
        self.conditions.iter().any(|c| {
            c.subject == "conversation.channel_id" && c.op == Op::Equals && c.value.as_deref() != Some(here.as_str())
        })
    }
}

/// One step: what it does, and where the run goes after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
    /// The step after this one; none ends the run (a branch names its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Inside the customer's 24-hour window the text; outside it the template, when one is
    /// given (else the step fails visibly: never a refused send).
    SendMessage {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<TemplateChoice>,
        /// An image, video or document sent with the text as its caption (or as the header of
        /// the buttons).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaChoice>,
        /// Up to three reply buttons under the text.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<String>,
    },
    Assign {
        to: AssignTo,
    },
    Unassign,
    Close {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Reopen,
    AddTags {
        tags: Vec<String>,
    },
    RemoveTags {
        tags: Vec<String>,
    },
    AddNote {
        text: String,
    },
    /// Sets a custom field of the contact (an empty value removes it).
    SetField {
        field: String,
        value: String,
    },
    /// Starts another workflow's published version on the same conversation (it runs beside
    /// this one; the run goes on at once).
    RunWorkflow {
        workflow_id: i64,
    },
    /// Sends a question and waits for the customer's answer (`ask.rs`); `next` follows a
    /// valid answer.
    AskQuestion(Question),
    /// A satisfaction survey: `ask_question` with a satisfaction scale saved to `csat`.
    Csat(ask::Csat),
    /// Waits `seconds`.
    Wait {
        seconds: i64,
    },
    /// Waits until the clock in `timezone` next shows `time` (`"09:00"`).
    WaitUntil {
        time: String,
        timezone: String,
    },
    /// Goes to `open` inside the opening hours, else to `closed` (either left out ends the run).
    BusinessHours {
        hours: Hours,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        open: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closed: Option<String>,
    },
    /// Calls another system and keeps values of its answer (`http.rs`).
    HttpRequest(HttpCall),
    /// The first rule whose conditions all hold names the next step; else `otherwise`.
    Branch {
        rules: Vec<Rule>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        otherwise: Option<String>,
    },
    /// Goes to `to`, at most `max_times` times in a run; after that, to `next`.
    Jump {
        to: String,
        max_times: u32,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::SendMessage { .. } => "send_message",
            Action::Assign { .. } => "assign",
            Action::Unassign => "unassign",
            Action::Close { .. } => "close",
            Action::Reopen => "reopen",
            Action::AddTags { .. } => "add_tags",
            Action::RemoveTags { .. } => "remove_tags",
            Action::AddNote { .. } => "add_note",
            Action::SetField { .. } => "set_field",
            Action::RunWorkflow { .. } => "run_workflow",
            Action::AskQuestion(_) => "ask_question",
            Action::Csat(_) => "csat",
            Action::Wait { .. } => "wait",
            Action::WaitUntil { .. } => "wait_until",
            Action::BusinessHours { .. } => "business_hours",
            Action::HttpRequest(_) => "http_request",
            Action::Branch { .. } => "branch",
            Action::Jump { .. } => "jump",
        }
    }
}

/// A file a `send_message` step sends, by its public link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaChoice {
    /// `image`, `video` or `document`.
    pub kind: String,
    /// An https link the provider downloads it from.
    pub link: String,
    /// A document's file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// What a `send_message` step sends inside the window: the text; with `media`, the file with
/// the text as its caption; with `buttons`, an interactive message (the file as its header).
/// Checked like any message the API sends.
pub fn message_content(
    text: &str,
    media: Option<&MediaChoice>,
    buttons: &[String],
) -> Result<crate::message::Content, crate::validation::Invalid> {
    use crate::outbound::content_of;
    use serde_json::json;
    let file = |m: &MediaChoice| {
        let mut v = json!({"link": m.link});
        if let Some(name) = &m.filename {
            v["filename"] = json!(name);
        }
        v
    };
    if !buttons.is_empty() {
        let reply: Vec<Value> = buttons
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"type": "reply", "reply": {"id": format!("button-{}", i + 1), "title": b}}))
            .collect();
        let mut v = json!({"type": "button", "body": {"text": text}, "action": {"buttons": reply}});
        if let Some(m) = media {
            v["header"] = json!({"type": m.kind});
            v["header"][m.kind.as_str()] = file(m);
        }
        return content_of("interactive", &v);
    }
    match media {
        Some(m) if matches!(m.kind.as_str(), "image" | "video" | "document") => {
            let mut v = file(m);
            v["caption"] = json!(text);
            content_of(&m.kind, &v)
        }
        Some(m) => Err(crate::validation::Invalid::new(
            "invalid_message",
            Some("media.kind".to_owned()),
            format!("{:?} is not image, video or document", m.kind),
        )),
        None => content_of("text", &json!({"body": text})),
    }
}

/// An approved template to send when the window is closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    pub name: String,
    pub language: String,
    /// Body parameters, in order; `{{contact.first_name|there}}` takes the contact's value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

impl TemplateChoice {
    /// The message it sends: its parameters (filled already) as the body's, in order.
    pub fn content(&self) -> crate::message::Content {
        let parameters: Vec<Value> =
            self.parameters.iter().map(|p| serde_json::json!({"type": "text", "text": p})).collect();
        let components = if parameters.is_empty() {
            vec![]
        } else {
            vec![serde_json::json!({"type": "body", "parameters": parameters})]
        };
        crate::message::Content::Template { name: self.name.clone(), language: self.language.clone(), components }
    }
}

/// Whom an `assign` step gives the conversation to: an available agent (of a team, when
/// given) in turn or the least loaded, a user (a bot's user hands the conversation to the bot),
/// or a team's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AssignTo {
    Available {
        available: Pick,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_id: Option<i64>,
    },
    User {
        user_id: i64,
    },
    Team {
        team_id: i64,
    },
}

/// How an available agent is picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// In turn: the agent given a conversation the longest ago.
    RoundRobin,
    /// The agent with the fewest conversations not closed.
    LeastOpen,
}

/// A branch's rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub when: Vec<Condition>,
    pub next: String,
}

/// A test on what the run knows: `subject` is `message.text`, `contact.tags`,
/// `contact.fields.<name>`, `conversation.tags` or `conversation.channel_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub subject: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    Exists,
    NotExists,
}

/// What went wrong with a definition, and where: a stable `code` with the values it names
/// (`params`) for the builder to say it in the user's language, and `message`, in English, for
/// API users. Every code is in [`PROBLEM_CODES`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The step at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Stable snake_case code: `unknown_target`, `question_length`, `loop_without_jump`, …
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "unknown_target"))]
    pub code: &'static str,
    /// The values the message names (`max`, `target`, `field`, …), by name; left out when none.
    #[serde(skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: Map<String, Value>,
    pub message: String,
}

/// Every code a [`Problem`] may carry (the builder translates each as `wf.problem.<code>`).
pub const PROBLEM_CODES: &[&str] = &[
    // Reading the definition.
    "unreadable",
    "trigger_unknown_field",
    "step_unknown_field",
    "assign_user_or_team",
    // The whole workflow and its steps' ids.
    "steps_count",
    "step_id",
    "duplicate_step_id",
    "needs_conversation",
    "unknown_target",
    "loop_without_jump",
    // Conditions and variables.
    "condition_subject",
    "condition_value",
    "variable_path",
    // Steps.
    "text_length",
    "message_content",
    "template_name_language",
    "tags",
    "note_length",
    "field_name",
    "field_value_length",
    "closing_note_length",
    "wait_duration",
    "time_of_day",
    "branch_rules",
    "jump_times",
    // Questions (`ask.rs`).
    "question_length",
    "options_count",
    "options_without_choice",
    "option_length",
    "option_twice",
    "answer_timeout",
    "answer_retries",
    "retry_text_length",
    // HTTP requests (`http.rs`).
    "url",
    "url_host_variable",
    "header_name",
    "header_reserved",
    "header_value",
    "body_size",
    "body_not_sent",
    "saved_count",
    "variable_name",
    "json_pointer",
    "call_retries",
    // Time (`hours.rs`).
    "timezone",
    "hours_day",
    "hours_interval",
    "closed_date",
    "schedule_fields",
    "schedule_syntax",
    // Triggers (`triggers.rs`).
    "trigger_tag",
    "trigger_keywords",
    "pattern_length",
    "pattern_syntax",
    "ad_source_id",
    "inactivity_hours",
    "webhook_pointers",
    "webhook_fields_count",
    "segment_tags",
];

impl Problem {
    /// A problem of the whole definition (not of one step).
    fn whole(code: &'static str, message: impl Into<String>) -> Problem {
        debug_assert!(PROBLEM_CODES.contains(&code), "{code} is not in PROBLEM_CODES");
        Problem { step: None, code, params: Map::new(), message: message.into() }
    }

    /// A problem of the step `step`.
    fn at(step: &str, code: &'static str, message: impl Into<String>) -> Problem {
        Problem::whole(code, message).in_step(step)
    }

    /// The same problem, of the step `step`.
    fn in_step(mut self, step: &str) -> Problem {
        self.step = Some(step.to_owned());
        self
    }

    /// With the value `name` named by the message.
    fn with(mut self, name: &str, value: impl Into<Value>) -> Problem {
        self.params.insert(name.to_owned(), value.into());
        self
    }
}

/// Custom field keys as [`crate::contact::check_field_key`] allows them.
fn field_name_problem(key: &str) -> Option<Problem> {
    crate::contact::check_field_key(key).err().map(|e| {
        Problem::whole("field_name", e.message).with("field", key).with("max", crate::contact::MAX_FIELD_KEY_CHARS)
    })
}

/// The fields of `raw` that `read` (what it was read as, written back) does not have: fields
/// no variant knows, which `flatten` and unit variants would otherwise let through. Empty
/// values (`null`, `[]`, `false`) are defaults a writer may spell out.
fn unknown_fields(raw: &Value, read: &Value) -> Vec<String> {
    let empty = |v: &Value| v.is_null() || v == &Value::Bool(false) || v.as_array().is_some_and(Vec::is_empty);
    raw.as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(name, v)| !empty(v) && read.get(name.as_str()).is_none())
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a definition strictly: a field no step kind has (a typo) is refused, not ignored.
pub fn parse(json: &Value) -> Result<Definition, Vec<Problem>> {
    let definition: Definition = serde_json::from_value(json.clone())
        .map_err(|e| vec![Problem::whole("unreadable", e.to_string()).with("detail", e.to_string())])?;
    let mut problems = Vec::new();
    let trigger = serde_json::to_value(&definition.trigger).unwrap_or(Value::Null);
    for name in unknown_fields(&json["trigger"], &trigger) {
        problems.push(
            Problem::whole("trigger_unknown_field", format!("the trigger has no field {name:?}")).with("field", name),
        );
    }
    let given = json.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    for (step, raw) in definition.steps.iter().zip(&given) {
        let read = serde_json::to_value(step).unwrap_or(Value::Null);
        for name in unknown_fields(raw, &read) {
            let kind = step.action.kind();
            problems.push(
                Problem::at(&step.id, "step_unknown_field", format!("a {kind} step has no field {name:?}"))
                    .with("kind", kind)
                    .with("field", name),
            );
        }
        if let Action::Assign { .. } = step.action
            && !unknown_fields(&raw["to"], &read["to"]).is_empty()
        {
            problems.push(Problem::at(&step.id, "assign_user_or_team", "assign to a user_id or a team_id, not both"));
        }
    }
    if problems.is_empty() { Ok(definition) } else { Err(problems) }
}

fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

const SUBJECTS: &[&str] = &["message.text", "contact.tags", "conversation.tags", "conversation.channel_id"];
/// Subjects naming a value of the run's memory: `answers.<step>`, `vars.<name>`, `trigger.<key>`,
/// `last.outcome` (the last step's).
const MEMORY_SUBJECTS: &[&str] = &["answers.", "vars.", "trigger.", "last."];

fn check_condition(step: Option<&str>, c: &Condition, problems: &mut Vec<Problem>) {
    let known = SUBJECTS.contains(&c.subject.as_str())
        || ["contact.fields."]
            .iter()
            .chain(MEMORY_SUBJECTS)
            .any(|p| c.subject.strip_prefix(p).is_some_and(|f| !f.is_empty()));
    let at = |p: Problem| match step {
        Some(id) => p.in_step(id),
        None => p,
    };
    if !known {
        let message = format!("{:?} is not something a condition can test", c.subject);
        problems.push(at(Problem::whole("condition_subject", message).with("subject", c.subject.as_str())));
    }
    let needs_value = !matches!(c.op, Op::Exists | Op::NotExists);
    if needs_value && c.value.as_deref().is_none_or(str::is_empty) {
        let message = format!("the condition on {} needs a value", c.subject);
        problems.push(at(Problem::whole("condition_value", message).with("subject", c.subject.as_str())));
    }
}

/// Every step a step may lead to, with whether the edge is a jump's.
pub fn edges(step: &Step) -> Vec<(&str, bool)> {
    let mut out: Vec<(&str, bool)> = step.next.iter().map(|n| (n.as_str(), false)).collect();
    match &step.action {
        Action::Branch { rules, otherwise } => {
            out.extend(rules.iter().map(|r| (r.next.as_str(), false)));
            out.extend(otherwise.iter().map(|n| (n.as_str(), false)));
        }
        Action::Jump { to, .. } => out.push((to.as_str(), true)),
        Action::AskQuestion(q) => {
            out.extend(q.on_timeout.iter().chain(&q.on_invalid).map(|n| (n.as_str(), false)));
        }
        Action::BusinessHours { open, closed, .. } => {
            out.extend(open.iter().chain(closed).map(|n| (n.as_str(), false)))
        }
        Action::HttpRequest(call) => out.extend(call.on_error.iter().map(|n| (n.as_str(), false))),
        _ => {}
    }
    out
}

/// Checks a definition before it is published: errors prevent publishing.
pub fn validate(d: &Definition) -> Vec<Problem> {
    let mut problems = Vec::new();
    if d.steps.is_empty() || d.steps.len() > MAX_STEPS {
        problems.push(
            Problem::whole("steps_count", format!("a workflow has 1 to {MAX_STEPS} steps")).with("max", MAX_STEPS),
        );
        return problems;
    }
    let mut seen = HashSet::new();
    for step in &d.steps {
        if !valid_id(&step.id) {
            problems.push(
                Problem::at(&step.id, "step_id", "a step id is 1 to 40 lower-case letters, digits, - or _")
                    .with("max", 40),
            );
        }
        if !seen.insert(step.id.as_str()) {
            problems.push(Problem::at(&step.id, "duplicate_step_id", "two steps have this id"));
        }
    }
    d.trigger.check(&mut problems);
    for c in &d.conditions {
        check_condition(None, c, &mut problems);
    }
    for step in &d.steps {
        let id = step.id.as_str();
        let flow_only = matches!(
            step.action,
            Action::Wait { .. }
                | Action::WaitUntil { .. }
                | Action::BusinessHours { .. }
                | Action::HttpRequest(_)
                | Action::Branch { .. }
                | Action::Jump { .. }
                | Action::SetField { .. }
        );
        if !d.trigger.has_conversation() && !flow_only {
            problems.push(Problem::at(
                id,
                "needs_conversation",
                "this trigger starts runs without a conversation to act on",
            ));
        }
        for (target, _) in edges(step) {
            if !seen.contains(target) {
                problems.push(
                    Problem::at(id, "unknown_target", format!("leads to {target:?}, which is not a step"))
                        .with("target", target),
                );
            }
        }
        for text in texts(&step.action) {
            if let Some(path) = vars::unnamed(text) {
                let variable = format!("{{{{{path}}}}}");
                problems.push(Problem::at(id, "variable_path", vars::unnamed_message(path)).with("variable", variable));
            }
        }
        match &step.action {
            Action::AskQuestion(q) => q.check(id, &mut problems),
            Action::Csat(c) => c.question().check(id, &mut problems),
            Action::HttpRequest(call) => call.check(id, &mut problems),
            Action::BusinessHours { hours, .. } => {
                if let Some(problem) = hours.problem() {
                    problems.push(problem.in_step(id));
                }
            }
            Action::WaitUntil { time, timezone } => {
                if let Err(problem) = hours::timezone(timezone) {
                    problems.push(problem.in_step(id));
                }
                if chrono::NaiveTime::parse_from_str(time, "%H:%M").is_err() {
                    let message = format!("{time:?} is not a time of day like 09:00");
                    problems.push(Problem::at(id, "time_of_day", message).with("time", time.as_str()));
                }
            }
            Action::SendMessage { text, template, media, buttons } => {
                if text.trim().is_empty() || text.chars().count() > 4096 {
                    problems
                        .push(Problem::at(id, "text_length", "the text is 1 to 4,096 characters").with("max", 4096));
                } else if let Err(e) = message_content(text, media.as_ref(), buttons) {
                    let field = e.field.unwrap_or_default();
                    problems.push(
                        Problem::at(id, "message_content", format!("{field}: {}", e.message))
                            .with("field", field)
                            .with("detail", e.message),
                    );
                }
                if let Some(t) = template
                    && (t.name.trim().is_empty() || t.language.trim().is_empty())
                {
                    problems.push(Problem::at(
                        id,
                        "template_name_language",
                        "the template needs its name and language",
                    ));
                }
            }
            Action::AddTags { tags } | Action::RemoveTags { tags }
                if tags.is_empty() || tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 64) =>
            {
                problems.push(Problem::at(id, "tags", "tags are 1 to 64 characters, at least one").with("max", 64));
            }
            Action::AddNote { text } if text.trim().is_empty() || text.chars().count() > 4096 => {
                problems.push(Problem::at(id, "note_length", "the note is 1 to 4,096 characters").with("max", 4096));
            }
            Action::SetField { field, value } => {
                if let Some(problem) = field_name_problem(field) {
                    problems.push(problem.in_step(id));
                }
                if value.chars().count() > 1024 {
                    let message = "a field's value is at most 1,024 characters";
                    problems.push(Problem::at(id, "field_value_length", message).with("max", 1024));
                }
            }
            Action::Close { note: Some(note) } if note.chars().count() > 4096 => {
                let message = "the closing note is at most 4,096 characters";
                problems.push(Problem::at(id, "closing_note_length", message).with("max", 4096));
            }
            Action::Wait { seconds } if !(1..=MAX_WAIT_SECS).contains(seconds) => {
                problems.push(Problem::at(id, "wait_duration", "a wait is 1 second to 90 days"));
            }
            Action::Branch { rules, .. } => {
                if rules.is_empty() {
                    problems.push(Problem::at(id, "branch_rules", "a branch has at least one rule"));
                }
                for c in rules.iter().flat_map(|r| &r.when) {
                    check_condition(Some(id), c, &mut problems);
                }
            }
            Action::Jump { max_times, .. } if !(1..=MAX_JUMPS).contains(max_times) => {
                let message = format!("a jump is taken 1 to {MAX_JUMPS} times");
                problems.push(Problem::at(id, "jump_times", message).with("max", MAX_JUMPS));
            }
            _ => {}
        }
    }
    if problems.is_empty()
        && let Some(step) = loop_without_jump(d)
    {
        let message = "this step is on a loop without a jump step (which limits the passes)";
        problems.push(Problem::at(&step, "loop_without_jump", message));
    }
    problems
}

/// The texts of a step that may hold variables.
fn texts(action: &Action) -> Vec<&str> {
    match action {
        Action::SendMessage { text, template, .. } => std::iter::once(text.as_str())
            .chain(template.iter().flat_map(|t| t.parameters.iter().map(String::as_str)))
            .collect(),
        Action::AskQuestion(q) => std::iter::once(q.text.as_str())
            .chain(q.retry_text.as_deref())
            .chain(q.template.iter().flat_map(|t| t.parameters.iter().map(String::as_str)))
            .collect(),
        Action::Csat(c) => c.text.as_deref().into_iter().collect(),
        Action::AddNote { text } => vec![text],
        Action::AddTags { tags } => tags.iter().map(String::as_str).collect(),
        Action::HttpRequest(call) => call.texts(),
        Action::SetField { value, .. } => vec![value],
        Action::Close { note: Some(note) } => vec![note],
        _ => vec![],
    }
}

/// What a run carries from step to step, kept as JSON with the run: the trigger's payload, the
/// answers its questions accepted, values it set, and the question it waits on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default)]
    pub trigger: Value,
    #[serde(default)]
    pub answers: Map<String, Value>,
    #[serde(default)]
    pub vars: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asking: Option<Asking>,
    /// The last step taken: `{"step", "outcome"}` (branches test `last.outcome`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub last: Value,
}

impl Memory {
    /// Reads a run's memory; what does not read starts empty (a run's memory is written only here).
    pub fn read(v: &Value) -> Memory {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A step on a cycle that no jump step is part of, if any.
fn loop_without_jump(d: &Definition) -> Option<String> {
    let by_id: HashMap<&str, &Step> = d.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(id: &'a str, by_id: &HashMap<&'a str, &'a Step>, state: &mut HashMap<&'a str, u8>) -> Option<String> {
        match state.get(id) {
            Some(1) => return Some(id.to_owned()),
            Some(2) => return None,
            _ => {}
        }
        state.insert(id, 1);
        if let Some(step) = by_id.get(id) {
            for (target, jump) in edges(step) {
                if !jump && let Some(found) = visit(target, by_id, state) {
                    return Some(found);
                }
            }
        }
        state.insert(id, 2);
        None
    }
    d.steps.iter().find_map(|s| visit(&s.id, &by_id, &mut state))
}

/// What a condition is tested against.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub message_text: Option<String>,
    pub contact_tags: Vec<String>,
    pub contact_fields: HashMap<String, String>,
    pub conversation_tags: Vec<String>,
    pub channel_id: Option<i64>,
    /// The run's memory (`answers`, `vars`, `trigger`), as JSON.
    pub memory: Value,
}

impl Facts {
    fn values(&self, subject: &str) -> Vec<String> {
        match subject {
            "message.text" => self.message_text.iter().cloned().collect(),
            "contact.tags" => self.contact_tags.clone(),
            "conversation.tags" => self.conversation_tags.clone(),
            "conversation.channel_id" => self.channel_id.iter().map(i64::to_string).collect(),
            other if MEMORY_SUBJECTS.iter().any(|p| other.starts_with(p)) => {
                vars::lookup(&self.memory, other).into_iter().collect()
            }
            other => other
                .strip_prefix("contact.fields.")
                .and_then(|f| self.contact_fields.get(f))
                .filter(|v| !v.is_empty())
                .cloned()
                .into_iter()
                .collect(),
        }
    }
}

/// Whether a condition holds; text compares without regard to case.
pub fn holds(c: &Condition, facts: &Facts) -> bool {
    let values: Vec<String> = facts.values(&c.subject).iter().map(|v| v.to_lowercase()).collect();
    let wanted = c.value.as_deref().unwrap_or_default().to_lowercase();
    // Lists (tags) contain an item; a text contains a part of itself.
    let is_list = c.subject.ends_with(".tags");
    let contains = || if is_list { values.contains(&wanted) } else { values.iter().any(|v| v.contains(&wanted)) };
    match c.op {
        Op::Equals => values.contains(&wanted),
        Op::NotEquals => !values.contains(&wanted),
        Op::Contains => contains(),
        Op::NotContains => !contains(),
        Op::Exists => !values.is_empty(),
        Op::NotExists => values.is_empty(),
    }
}

/// Where a run goes after `step`: a branch decides by its rules, a jump by how often it was
/// taken already (`jumps_taken`), any other step by its `next`.
pub fn next_after(step: &Step, facts: &Facts, jumps_taken: u32) -> Option<String> {
    match &step.action {
        Action::Branch { rules, otherwise } => rules
            .iter()
            .find(|r| r.when.iter().all(|c| holds(c, facts)))
            .map(|r| r.next.clone())
            .or_else(|| otherwise.clone()),
        Action::Jump { to, max_times } if jumps_taken < *max_times => Some(to.clone()),
        _ => step.next.clone(),
    }
}

#[cfg(test)]
mod tests;

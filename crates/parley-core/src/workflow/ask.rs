//! The `ask_question` step: a question sent to the customer, then a wait for the answer. Pure
//! here: what a question is, how it is checked before publishing, the message that asks it
//! (buttons for up to three options, a list for up to ten, else text), and how a reply is
//! judged. The runner (`workers/workflows/ask.rs` in the server) keeps the wait in the run's
//! memory ([`Asking`]) and wakes the run when the customer writes.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{MAX_WAIT_SECS, Problem, field_name_problem};
use crate::email::Email;
use crate::message::Content;
use crate::phone::{self, Region};

/// Retries at most.
pub const MAX_RETRIES: u32 = 5;
/// The shortest wait for an answer.
pub const MIN_TIMEOUT_SECS: i64 = 60;
/// Options at most (a WhatsApp list holds ten rows).
pub const MAX_OPTIONS: usize = 10;

/// What an answer must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Any text.
    #[default]
    Text,
    /// A number (`12`, `-3.5`, `1 200,50`).
    Number,
    Email,
    /// A phone number, read in the channel's country when it has no `+`.
    Phone,
    /// A date, day first (`31/12/2026`, `31-12-2026`, `31.12.2026`) or ISO (`2026-12-31`).
    Date,
    /// One of `options`: tapped, typed, or given by its number.
    Choice,
}

/// An `ask_question` step's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The question; variables allowed.
    pub text: String,
    #[serde(default)]
    pub expect: Expect,
    /// The offered answers (`expect: choice`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// A contact field the accepted answer is stored in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_to: Option<String>,
    /// How long the answer is waited for.
    pub timeout_seconds: i64,
    /// How many times an invalid answer is asked again.
    #[serde(default)]
    pub retries: u32,
    /// What is sent after an invalid answer (else the question again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_text: Option<String>,
    /// The step after no answer in time; none ends the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<String>,
    /// The step after the last invalid answer; none ends the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_invalid: Option<String>,
    /// By default a person writing in the conversation while the question waits stops the run
    /// (the person has taken over); true keeps waiting for the customer.
    #[serde(default)]
    pub keep_after_person_replies: bool,
    /// Sent instead when the customer's window is closed: an approved template whose quick
    /// replies are the options (a tap is judged like a typed answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<super::TemplateChoice>,
}

/// A `csat` step: a satisfaction question with sensible defaults, asked like `ask_question`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Csat {
    /// Default: "How did we do?".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Default: Great, Okay, Poor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// The contact field the answer goes to; default `csat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_to: Option<String>,
    /// Default: a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Sent when the window is closed (a utility template with the options as quick replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<super::TemplateChoice>,
}

impl Csat {
    /// The question it asks.
    pub fn question(&self) -> Question {
        Question {
            text: self.text.clone().unwrap_or_else(|| "How did we do?".to_owned()),
            expect: Expect::Choice,
            options: self.options.clone().unwrap_or_else(|| vec!["Great".into(), "Okay".into(), "Poor".into()]),
            save_to: Some(self.save_to.clone().unwrap_or_else(|| "csat".to_owned())),
            timeout_seconds: self.timeout_seconds.unwrap_or(24 * 3600),
            retries: 0,
            retry_text: None,
            on_timeout: None,
            on_invalid: None,
            keep_after_person_replies: false,
            template: self.template.clone(),
        }
    }
}

/// A question waiting for its answer, kept in the run's memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asking {
    /// The ask step.
    pub step: String,
    /// Messages after this one are replies.
    pub since_message: i64,
    /// Invalid answers so far.
    pub attempts: u32,
    /// When the wait ends (Unix seconds).
    pub deadline: i64,
}

impl Question {
    pub(super) fn check(&self, id: &str, problems: &mut Vec<Problem>) {
        let choice = self.expect == Expect::Choice;
        let buttons = choice && self.options.len() <= 3;
        let max_text = if buttons { 1024 } else { 4096 };
        if self.text.trim().is_empty() || self.text.chars().count() > max_text {
            let message = format!("the question is 1 to {max_text} characters");
            problems.push(Problem::at(id, "question_length", message).with("max", max_text));
        }
        if choice && !(1..=MAX_OPTIONS).contains(&self.options.len()) {
            let message = format!("a choice offers 1 to {MAX_OPTIONS} options");
            problems.push(Problem::at(id, "options_count", message).with("max", MAX_OPTIONS));
        }
        if !choice && !self.options.is_empty() {
            problems.push(Problem::at(id, "options_without_choice", "options are for expect: choice"));
        }
        let max_option = if buttons { 20 } else { 24 };
        let mut seen: Vec<String> = Vec::new();
        for option in &self.options {
            if option.trim().is_empty() || option.chars().count() > max_option {
                let message = format!("each option is 1 to {max_option} characters");
                problems.push(Problem::at(id, "option_length", message).with("max", max_option));
            }
            let key = option.trim().to_lowercase();
            if seen.contains(&key) {
                let message = format!("the option {option:?} is offered twice");
                problems.push(Problem::at(id, "option_twice", message).with("option", option.as_str()));
            }
            seen.push(key);
        }
        if !(MIN_TIMEOUT_SECS..=MAX_WAIT_SECS).contains(&self.timeout_seconds) {
            problems.push(Problem::at(id, "answer_timeout", "the answer is waited for 1 minute to 90 days"));
        }
        if self.retries > MAX_RETRIES {
            let message = format!("an answer is asked again at most {MAX_RETRIES} times");
            problems.push(Problem::at(id, "answer_retries", message).with("max", MAX_RETRIES));
        }
        if self.retry_text.as_deref().is_some_and(|t| t.trim().is_empty() || t.chars().count() > 1024) {
            let message = "the retry text is 1 to 1,024 characters";
            problems.push(Problem::at(id, "retry_text_length", message).with("max", 1024));
        }
        if let Some(problem) = self.save_to.as_deref().and_then(field_name_problem) {
            problems.push(problem.in_step(id));
        }
    }

    /// The message that asks it, `text` being the question with its variables filled.
    pub fn message(&self, text: &str) -> Content {
        if self.expect != Expect::Choice {
            return Content::Text { body: text.to_owned(), preview_url: None };
        }
        let id = |i: usize| format!("option-{}", i + 1);
        let interactive = if self.options.len() <= 3 {
            let buttons: Vec<Value> = self
                .options
                .iter()
                .enumerate()
                .map(|(i, o)| json!({"type": "reply", "reply": {"id": id(i), "title": o}}))
                .collect();
            json!({"type": "button", "body": {"text": text}, "action": {"buttons": buttons}})
        } else {
            let rows: Vec<Value> =
                self.options.iter().enumerate().map(|(i, o)| json!({"id": id(i), "title": o})).collect();
            json!({"type": "list", "body": {"text": text}, "action": {"button": "☰", "sections": [{"rows": rows}]}})
        };
        Content::InteractiveMessage { interactive }
    }

    /// Judges a reply: the answer as stored (an option as offered, an email in lower case, a
    /// phone in E.164, a date as `YYYY-MM-DD`), or why it is not one.
    pub fn judge(&self, reply: &str, region: Option<Region>) -> Result<String, &'static str> {
        let reply = reply.trim();
        if reply.is_empty() {
            return Err("no text");
        }
        match self.expect {
            Expect::Text if reply.chars().count() > 1024 => Err("longer than 1,024 characters"),
            Expect::Text => Ok(reply.to_owned()),
            Expect::Number => number(reply).ok_or("not a number"),
            Expect::Email => Email::parse(reply).map(Email::into_string).map_err(|_| "not an email address"),
            Expect::Phone => phone::normalize(reply, region).map(|p| p.into_string()).map_err(|_| "not a phone number"),
            Expect::Date => date(reply).ok_or("not a date (day/month/year)"),
            Expect::Choice => {
                let by_number = reply.trim_end_matches('.').parse::<usize>().ok().filter(|n| *n >= 1).map(|n| n - 1);
                let by_name = self.options.iter().position(|o| o.trim().to_lowercase() == reply.to_lowercase());
                by_name
                    .or(by_number)
                    .and_then(|i| self.options.get(i))
                    .map(|o| o.trim().to_owned())
                    .ok_or("not one of the options")
            }
        }
    }
}

/// `1 200,50` → `1200.50`; `None` when not a finite number.
fn number(reply: &str) -> Option<String> {
    let cleaned: String = reply.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}').collect();
    let cleaned = if cleaned.contains(',') && !cleaned.contains('.') {
        cleaned.replace(',', ".")
    } else {
        cleaned.replace(',', "")
    };
    let n: f64 = cleaned.parse().ok()?;
    n.is_finite().then_some(cleaned)
}

fn date(reply: &str) -> Option<String> {
    let iso = NaiveDate::parse_from_str(reply, "%Y-%m-%d").ok();
    let found = iso.or_else(|| {
        ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"].iter().find_map(|f| NaiveDate::parse_from_str(reply, f).ok())
    })?;
    Some(found.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(expect: Expect, options: &[&str]) -> Question {
        Question {
            text: "Which one?".into(),
            expect,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            save_to: None,
            timeout_seconds: 3600,
            retries: 1,
            retry_text: None,
            on_timeout: None,
            on_invalid: None,
            keep_after_person_replies: false,
            template: None,
        }
    }

    #[test]
    fn judges_each_kind() {
        let q = |e| question(e, &[]);
        assert_eq!(q(Expect::Text).judge("  hello ", None), Ok("hello".into()));
        assert!(q(Expect::Text).judge("   ", None).is_err());
        assert_eq!(q(Expect::Number).judge("1 200,50", None), Ok("1200.50".into()));
        assert_eq!(q(Expect::Number).judge("-3.5", None), Ok("-3.5".into()));
        assert_eq!(q(Expect::Number).judge("1,234.5", None), Ok("1234.5".into()));
        assert!(q(Expect::Number).judge("twelve", None).is_err());
        assert!(q(Expect::Number).judge("inf", None).is_err());
        assert_eq!(q(Expect::Email).judge("Lan@Example.COM", None), Ok("lan@example.com".into()));
        assert!(q(Expect::Email).judge("lan@localhost", None).is_err());
        assert_eq!(q(Expect::Phone).judge("+84 912 345 678", None), Ok("+84912345678".into()));
        let vn = phone::parse_region("VN");
        assert_eq!(q(Expect::Phone).judge("0912 345 678", vn), Ok("+84912345678".into()));
        assert!(q(Expect::Phone).judge("0912 345 678", None).is_err());
        assert_eq!(q(Expect::Date).judge("31/12/2026", None), Ok("2026-12-31".into()));
        assert_eq!(q(Expect::Date).judge("2026-02-03", None), Ok("2026-02-03".into()));
        assert_eq!(q(Expect::Date).judge("03.02.2026", None), Ok("2026-02-03".into()));
        assert!(q(Expect::Date).judge("31/02/2026", None).is_err());
        assert!(q(Expect::Date).judge("tomorrow", None).is_err());
    }

    #[test]
    fn a_choice_is_tapped_typed_or_numbered() {
        let q = question(Expect::Choice, &["Sales", "Support", "Billing"]);
        assert_eq!(q.judge("support", None), Ok("Support".into()));
        assert_eq!(q.judge("3", None), Ok("Billing".into()));
        assert_eq!(q.judge("1.", None), Ok("Sales".into()));
        assert!(q.judge("4", None).is_err());
        assert!(q.judge("0", None).is_err());
        assert!(q.judge("Marketing", None).is_err());
    }

    #[test]
    fn asks_with_buttons_a_list_or_text() {
        let three = question(Expect::Choice, &["A", "B", "C"]).message("Pick");
        let Content::InteractiveMessage { interactive } = three else { panic!("buttons") };
        assert_eq!(interactive["type"], "button");
        assert_eq!(interactive["action"]["buttons"][2]["reply"]["title"], "C");
        let many: Vec<String> = (1..=5).map(|i| format!("Option {i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let Content::InteractiveMessage { interactive } = question(Expect::Choice, &refs).message("Pick") else {
            panic!("list")
        };
        assert_eq!(interactive["type"], "list");
        assert_eq!(interactive["action"]["sections"][0]["rows"].as_array().map(Vec::len), Some(5));
        assert!(matches!(question(Expect::Email, &[]).message("Email?"), Content::Text { .. }));
    }

    #[test]
    fn checks_settings() {
        let codes = |q: &Question| {
            let mut p = Vec::new();
            q.check("ask", &mut p);
            assert!(p.iter().all(|p| p.step.as_deref() == Some("ask")), "{p:?}");
            p.iter().map(|p| p.code).collect::<Vec<_>>()
        };
        assert_eq!(codes(&question(Expect::Choice, &["A", "B"])), Vec::<&str>::new());
        assert_eq!(codes(&question(Expect::Choice, &[])), ["options_count"]);
        assert_eq!(codes(&question(Expect::Choice, &["A", "a"])), ["option_twice"]);
        assert_eq!(codes(&question(Expect::Choice, &["A twenty-one letters!"])), ["option_length"]);
        assert_eq!(codes(&question(Expect::Text, &["A"])), ["options_without_choice"]);
        let mut q = question(Expect::Text, &[]);
        q.timeout_seconds = 10;
        q.retries = 9;
        q.save_to = Some("Bad Key!".into());
        assert_eq!(codes(&q), ["answer_timeout", "answer_retries", "field_name"]);
        q.text = " ".into();
        q.retry_text = Some(" ".into());
        assert_eq!(
            codes(&q),
            ["question_length", "answer_timeout", "answer_retries", "retry_text_length", "field_name"]
        );

        // The values a message names are its params.
        let mut p = Vec::new();
        question(Expect::Choice, &["Yes", "yes"]).check("ask", &mut p);
        assert_eq!(p[0].params["option"], "yes");
        let mut p = Vec::new();
        question(Expect::Choice, &[]).check("ask", &mut p);
        assert_eq!(p[0].params["max"], MAX_OPTIONS);
        let mut q = question(Expect::Text, &[]);
        q.text = "x".repeat(5000);
        let mut p = Vec::new();
        q.check("ask", &mut p);
        assert_eq!((p[0].code, &p[0].params["max"]), ("question_length", &json!(4096)));
    }
}

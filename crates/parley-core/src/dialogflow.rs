//! A Dialogflow agent as a bot's brain (issue 17, point 3): which agent a bot asks, checked
//! before it is stored, and what the bot does with an answer. Pure: the HTTP calls are in
//! `parley-providers/src/dialogflow.rs`, the loop in `parley-server/src/workers/bot_answers.rs`.
//!
//! The bot hands the conversation over when the matched intent is one of its hand-over intents
//! (compared without regard to case), when a CX agent answers with a live-agent hand-off, or when
//! the agent has nothing to say (no text at all): a customer is never left with a bot that stays
//! silent.

use serde::{Deserialize, Serialize};

use crate::bots::Handover;
use crate::validation::Invalid;

/// Dialogflow's two products: ES (API v2, one agent per project) and CX (API v3, agents by id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    Es,
    Cx,
}

impl Edition {
    pub fn as_str(self) -> &'static str {
        match self {
            Edition::Es => "es",
            Edition::Cx => "cx",
        }
    }

    pub fn parse(s: &str) -> Option<Edition> {
        match s {
            "es" => Some(Edition::Es),
            "cx" => Some(Edition::Cx),
            _ => None,
        }
    }
}

/// The agent a bot asks, as checked by [`check_agent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogflowAgent {
    pub edition: Edition,
    /// The Google Cloud project id.
    pub project: String,
    /// `global` or a region (`europe-west1`); CX agents always live in one.
    pub location: String,
    /// The CX agent's id; ES has one agent per project.
    pub agent: Option<String>,
    /// The language queries are made in (`en`, `fr`, `vi`, `pt-BR`).
    pub language: String,
    /// Intents (display names) after which the bot hands the conversation over.
    pub handover_intents: Vec<String>,
    /// Where the API is reached when not at Google's own host for the location (a sandbox, a
    /// private endpoint); it goes through the outbound-URL guard like every URL.
    pub endpoint: Option<String>,
}

/// The agent as typed by an owner, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct AgentInput {
    pub edition: String,
    pub project: String,
    pub location: Option<String>,
    pub agent: Option<String>,
    pub language: Option<String>,
    pub handover_intents: Vec<String>,
    pub endpoint: Option<String>,
}

/// Google's project ids: 6 to 30 lower-case letters, digits and hyphens, starting with a letter
/// (older projects may carry a `domain.com:` prefix).
fn valid_project(p: &str) -> bool {
    let id = p.rsplit_once(':').map_or(p, |(domain, id)| if domain.is_empty() { "" } else { id });
    (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A location goes into a host name (`<location>-dialogflow.googleapis.com`): letters, digits
/// and inner hyphens only.
fn valid_location(l: &str) -> bool {
    (1..=40).contains(&l.len())
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_language(l: &str) -> bool {
    let mut parts = l.split('-');
    let first = parts.next().unwrap_or_default();
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// An agent setting that cannot be: `invalid_dialogflow_agent` about `field`.
fn bad(field: &str, what: &str) -> Invalid {
    Invalid::new("invalid_dialogflow_agent", Some(field.to_owned()), format!("{field} {what}"))
}

/// Checks what an owner typed; the error names the field.
pub fn check_agent(input: AgentInput) -> Result<DialogflowAgent, Invalid> {
    let edition = Edition::parse(input.edition.trim()).ok_or_else(|| bad("edition", "must be \"es\" or \"cx\""))?;
    let project = input.project.trim().to_owned();
    if !valid_project(&project) {
        return Err(bad("project", "is not a Google Cloud project id"));
    }
    let location = input.location.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or("global").to_owned();
    if !valid_location(&location) {
        return Err(bad("location", "is not a Dialogflow location (\"global\", \"europe-west1\", …)"));
    }
    let agent = input.agent.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned);
    match (edition, &agent) {
        (Edition::Cx, None) => return Err(bad("agent", "a CX bot names its agent's id")),
        (Edition::Es, Some(_)) => return Err(bad("agent", "an ES project has one agent: leave it out")),
        (_, Some(a)) if a.len() > 64 || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            return Err(bad("agent", "is not a Dialogflow agent id"));
        }
        _ => {}
    }
    let language = input.language.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or("en").to_owned();
    if !valid_language(&language) {
        return Err(bad("language", "is not a language code (\"en\", \"fr\", \"pt-BR\")"));
    }
    if input.handover_intents.len() > 100
        || input.handover_intents.iter().any(|i| i.trim().is_empty() || i.chars().count() > 200)
    {
        return Err(bad("handover_intents", "up to 100 intent names of 1 to 200 characters"));
    }
    let handover_intents = input.handover_intents.iter().map(|i| i.trim().to_owned()).collect();
    let endpoint = input.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned);
    Ok(DialogflowAgent { edition, project, location, agent, language, handover_intents, endpoint })
}

/// What an agent answered to one query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The matched intent's display name, if one matched.
    pub intent: Option<String>,
    /// The texts to send the customer, in order.
    pub texts: Vec<String>,
    /// A CX `liveAgentHandoff` response message.
    pub live_agent_handoff: bool,
}

/// What the bot does with a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotStep {
    /// Send these texts (one message each), in one send.
    Answer(Vec<String>),
    /// Send these texts first (they may be empty), then hand over.
    HandOver(Vec<String>, Handover),
}

/// The longest text WhatsApp takes in one message.
const MAX_TEXT: usize = 4096;

/// Decides what the bot does with a reply (see the module's doc).
pub fn next_step(reply: &Reply, agent: &DialogflowAgent) -> BotStep {
    let texts: Vec<String> = reply
        .texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(MAX_TEXT).collect())
        .take(10)
        .collect();
    let handover_intent = reply
        .intent
        .as_deref()
        .filter(|name| agent.handover_intents.iter().any(|h| h.to_lowercase() == name.to_lowercase()));
    if let Some(name) = handover_intent {
        return BotStep::HandOver(texts, Handover::Intent(name.to_owned()));
    }
    if reply.live_agent_handoff {
        let name = reply.intent.clone().unwrap_or_else(|| "live agent hand-off".into());
        return BotStep::HandOver(texts, Handover::Intent(name));
    }
    if texts.is_empty() {
        return BotStep::HandOver(vec![], Handover::CannotAnswer("the agent had no answer".into()));
    }
    BotStep::Answer(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(edition: &str) -> AgentInput {
        AgentInput {
            edition: edition.into(),
            project: "acme-shop-42".into(),
            agent: (edition == "cx").then(|| "4f1c2e0a-77b1-4c3e-9d3e-0a1b2c3d4e5f".into()),
            ..AgentInput::default()
        }
    }

    #[test]
    fn an_agent_is_checked_field_by_field() {
        let es = check_agent(input("es")).unwrap();
        assert_eq!((es.location.as_str(), es.language.as_str(), es.agent.as_deref()), ("global", "en", None));
        let cx = check_agent(AgentInput { location: Some("europe-west1".into()), ..input("cx") }).unwrap();
        assert_eq!(cx.edition, Edition::Cx);
        let field = |i: AgentInput| check_agent(i).unwrap_err().field.unwrap();
        assert_eq!(field(input("lex")), "edition");
        assert_eq!(field(AgentInput { project: "Acme".into(), ..input("es") }), "project");
        assert_eq!(field(AgentInput { project: "a-b".into(), ..input("es") }), "project");
        assert!(check_agent(AgentInput { project: "example.com:acme-shop".into(), ..input("es") }).is_ok());
        assert_eq!(field(AgentInput { location: Some("evil.com/x".into()), ..input("es") }), "location");
        assert_eq!(field(AgentInput { location: Some("-x".into()), ..input("es") }), "location");
        assert_eq!(field(AgentInput { agent: None, ..input("cx") }), "agent");
        assert_eq!(field(AgentInput { agent: Some("x".into()), ..input("es") }), "agent");
        assert_eq!(field(AgentInput { agent: Some("a/../b".into()), ..input("cx") }), "agent");
        assert_eq!(field(AgentInput { language: Some("english!".into()), ..input("es") }), "language");
        assert!(check_agent(AgentInput { language: Some("pt-BR".into()), ..input("es") }).is_ok());
        assert_eq!(field(AgentInput { handover_intents: vec![" ".into()], ..input("es") }), "handover_intents");
    }

    #[test]
    fn a_reply_is_answered_or_handed_over() {
        let agent =
            DialogflowAgent { handover_intents: vec!["Talk to a person".into()], ..check_agent(input("es")).unwrap() };
        let reply = |intent: &str, texts: &[&str]| Reply {
            intent: Some(intent.into()),
            texts: texts.iter().map(|t| t.to_string()).collect(),
            live_agent_handoff: false,
        };
        assert_eq!(
            next_step(&reply("hours", &["We open at 9.", "  "]), &agent),
            BotStep::Answer(vec!["We open at 9.".into()])
        );
        assert_eq!(
            next_step(&reply("talk to a PERSON", &["One moment."]), &agent),
            BotStep::HandOver(vec!["One moment.".into()], Handover::Intent("talk to a PERSON".into()))
        );
        let handoff = Reply { live_agent_handoff: true, ..reply("refund", &[]) };
        assert_eq!(next_step(&handoff, &agent), BotStep::HandOver(vec![], Handover::Intent("refund".into())));
        assert!(
            matches!(next_step(&reply("x", &[]), &agent), BotStep::HandOver(t, Handover::CannotAnswer(_)) if t.is_empty())
        );
        let long = "é".repeat(5000);
        let BotStep::Answer(texts) = next_step(&reply("x", &[&long]), &agent) else { panic!() };
        assert_eq!(texts[0].chars().count(), MAX_TEXT);
    }
}

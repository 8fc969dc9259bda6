//! When a bot hands a conversation over to the team: the customer asked for a person (a
//! hand-over keyword), the bot left the customer's message unanswered too long (silence), or it
//! has answered as many times as it may (turns). Pure: the timers worker gathers the facts and
//! acts (`parley-server/src/workers/handover.rs`).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::Timestamp;

/// Words that ask for a person, in the three languages Parley ships; a bot's own list replaces them.
pub const DEFAULT_HANDOVER_KEYWORDS: &[&str] =
    &["agent", "human", "person", "operator", "humain", "conseiller", "người thật", "nhân viên", "tư vấn viên"];

/// A bot's hand-over settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverSettings {
    pub keywords: Vec<String>,
    /// Hand over when the customer's last message waits this long for the bot.
    pub silence_seconds: Option<i64>,
    /// Hand over when the customer writes again after this many answers from the bot.
    pub max_turns: Option<i64>,
}

impl HandoverSettings {
    /// Whether the bot hands conversations to a person by itself (a keyword, a silence or a turn
    /// limit): WhatsApp requires automated chats to offer a person.
    pub fn hands_over(&self) -> bool {
        !self.keywords.is_empty() || self.silence_seconds.is_some() || self.max_turns.is_some()
    }
}

/// A conversation assigned to a bot, as the worker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotConversation {
    /// The customer's latest message (its id in Parley).
    pub last_in_id: Option<i64>,
    /// The text of the customer's latest message.
    pub last_in_text: Option<String>,
    pub last_in_at: Option<Timestamp>,
    /// The bot's latest answer.
    pub last_bot_at: Option<Timestamp>,
    /// How many messages the bot sent in the conversation.
    pub bot_turns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handover {
    /// The customer asked for a person with this keyword.
    Keyword(String),
    Silence,
    Turns,
    /// The bot's Dialogflow agent matched one of its hand-over intents (or asked for a live agent).
    Intent(String),
    /// The bot could not answer (its agent failed or had nothing to say, or the send was refused).
    CannotAnswer(String),
}

impl Handover {
    /// What the hand-over note says.
    pub fn note(&self) -> String {
        match self {
            Handover::Keyword(k) => {
                format!("Handed over to the team: the customer asked for a person (\u{201c}{k}\u{201d}).")
            }
            Handover::Silence => "Handed over to the team: the bot left the customer without an answer.".into(),
            Handover::Turns => "Handed over to the team: the bot reached its number of answers.".into(),
            Handover::Intent(name) => {
                format!("Handed over to the team: the customer\u{2019}s request matched \u{201c}{name}\u{201d}.")
            }
            Handover::CannotAnswer(why) => format!("Handed over to the team: the bot could not answer ({why})."),
        }
    }
}

/// Lower case, compatibility-normalized, so `AGENT`, `Agent` and composed or decomposed
/// Vietnamese letters compare equal.
fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

/// The keyword `text` contains as whole words, if any.
pub fn asks_for_person(text: &str, keywords: &[String]) -> Option<String> {
    let words: Vec<String> =
        fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect();
    keywords
        .iter()
        .find(|k| {
            let k_words: Vec<String> =
                fold(k).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect();
            !k_words.is_empty() && words.windows(k_words.len()).any(|w| w == k_words.as_slice())
        })
        .cloned()
}

/// Whether the bot owes the customer an answer (their latest message came after its last one):
/// while it does, the customer sees WhatsApp's typing indicator.
pub fn owes_answer(c: &BotConversation) -> bool {
    c.last_in_at.is_some_and(|last_in| c.last_bot_at.is_none_or(|b| b < last_in))
}

/// Whether (and why) the bot hands the conversation over at `now`. Only a customer message the
/// bot has not answered yet counts.
pub fn handover(settings: &HandoverSettings, c: &BotConversation, now: Timestamp) -> Option<Handover> {
    let last_in = c.last_in_at?;
    if !owes_answer(c) {
        return None;
    }
    if let Some(k) = c.last_in_text.as_deref().and_then(|t| asks_for_person(t, &settings.keywords)) {
        return Some(Handover::Keyword(k));
    }
    if settings.max_turns.is_some_and(|max| c.bot_turns >= max) {
        return Some(Handover::Turns);
    }
    if settings.silence_seconds.is_some_and(|s| now.as_micros() - last_in.as_micros() >= s.saturating_mul(1_000_000)) {
        return Some(Handover::Silence);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_HANDOVER_KEYWORDS.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn keywords_match_whole_words_in_any_case_and_form() {
        let k = defaults();
        assert_eq!(asks_for_person("I want a HUMAN please", &k), Some("human".into()));
        assert_eq!(asks_for_person("Je veux un humain !", &k), Some("humain".into()));
        assert_eq!(asks_for_person("cho tôi gặp người thật", &k), Some("người thật".into()));
        // Decomposed Vietnamese (NFD) still matches.
        let nfd: String = "người thật".nfd().collect();
        assert_eq!(asks_for_person(&format!("gặp {nfd} đi"), &k), Some("người thật".into()));
        assert_eq!(asks_for_person("my travel agency", &k), None, "agent is not agency");
        assert_eq!(asks_for_person("", &k), None);
    }

    #[test]
    fn a_bot_hands_over_on_a_keyword_silence_or_turns_only_when_it_owes_an_answer() {
        let t0 = Timestamp::from_secs(1_000);
        let settings = HandoverSettings { keywords: defaults(), silence_seconds: Some(60), max_turns: Some(3) };
        let waiting = BotConversation {
            last_in_id: Some(1),
            last_in_text: Some("hello".into()),
            last_in_at: Some(t0),
            last_bot_at: None,
            bot_turns: 0,
        };
        assert_eq!(handover(&settings, &waiting, t0.plus_secs(59)), None);
        assert_eq!(handover(&settings, &waiting, t0.plus_secs(60)), Some(Handover::Silence));
        let answered = BotConversation { last_bot_at: Some(t0.plus_secs(1)), ..waiting.clone() };
        assert_eq!(handover(&settings, &answered, t0.plus_secs(600)), None, "the bot answered");
        let asks = BotConversation { last_in_text: Some("an agent please".into()), ..waiting.clone() };
        assert_eq!(handover(&settings, &asks, t0), Some(Handover::Keyword("agent".into())));
        let many = BotConversation { bot_turns: 3, last_bot_at: Some(t0.plus_secs(-5)), ..waiting.clone() };
        assert_eq!(handover(&settings, &many, t0), Some(Handover::Turns));
        let off = HandoverSettings { keywords: vec![], silence_seconds: None, max_turns: None };
        assert_eq!(handover(&off, &asks, t0.plus_secs(10_000)), None);
        let nothing =
            BotConversation { last_in_id: None, last_in_text: None, last_in_at: None, last_bot_at: None, bot_turns: 0 };
        assert_eq!(handover(&settings, &nothing, t0), None);
        assert!(owes_answer(&waiting) && !owes_answer(&answered) && !owes_answer(&nothing));
        assert!(settings.hands_over() && !off.hands_over());
        assert!(HandoverSettings { silence_seconds: Some(5), ..off.clone() }.hands_over());
    }
}

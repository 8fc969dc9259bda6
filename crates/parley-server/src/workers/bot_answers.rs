//! Bots whose answers come from a Dialogflow agent (`routes/bot_dialogflow.rs`): on the timers
//! pass, each conversation such a bot owes an answer is asked of the agent (one Dialogflow
//! session per conversation, `parley-<conversation id>`), and the agent's texts go out as the
//! bot's messages — one send, judged by the same rules as any, with an idempotency key made of
//! the customer's message id, so two passes or two servers never answer one message twice.
//! What the agent's reply means (answer, hand over) is `parley_core::dialogflow::next_step`.
//!
//! The customer's latest message is the one asked: when several came before the pass, the
//! agent hears the last (earlier ones are in the inbox for the person who may take over).

use parley_core::bots::Handover;
use parley_core::contact::ContactRef;
use parley_core::dialogflow::{BotStep, next_step};
use parley_core::message::Content;
use parley_core::outbound::OutboundMessage;
use parley_store::{AssignedToBot, BotDialogflow, SendOutcome};

use crate::AppState;
use crate::actions::messages::Send;
use crate::actions::{self, Actor};
use crate::routes::bot_dialogflow::open_key;

/// Why a bot could not answer this time.
#[derive(Debug)]
pub struct Failure {
    /// Worth trying again on the next pass (Google or the store was unavailable).
    pub transient: bool,
    pub why: String,
}

impl Failure {
    fn permanent(why: impl Into<String>) -> Self {
        Failure { transient: false, why: why.into() }
    }
}

/// Answers the customer's latest message in `a`; `Some` when the bot hands over after it.
pub async fn answer(state: &AppState, a: &AssignedToBot, brain: &BotDialogflow) -> Result<Option<Handover>, Failure> {
    let (Some(message_id), Some(text)) = (a.facts.last_in_id, a.facts.last_in_text.as_deref()) else {
        return Ok(Some(Handover::CannotAnswer("the customer's message has no text".into())));
    };
    if text.trim().is_empty() {
        return Ok(Some(Handover::CannotAnswer("the customer's message has no text".into())));
    }
    let key = open_key(state, brain).map_err(|_| Failure::permanent("its key cannot be opened"))?;
    let session = format!("parley-{}", a.conversation_id.get());
    let reply = state
        .dialogflow()
        .detect_intent(&brain.agent, &key, &session, text)
        .await
        .map_err(|e| Failure { transient: e.is_transient(), why: e.to_string() })?;
    let (texts, handover) = match next_step(&reply, &brain.agent) {
        BotStep::Answer(texts) => (texts, None),
        BotStep::HandOver(texts, why) => (texts, Some(why)),
    };
    if texts.is_empty() {
        return Ok(handover);
    }
    let bot = Actor::user(a.workspace_id, a.bot, parley_core::account::Role::Agent);
    let store_error = |e: crate::error::ApiError| Failure { transient: e.status.is_server_error(), why: e.message };
    let conversation = state
        .store
        .conversation(a.workspace_id, a.conversation_id, bot.viewer())
        .await
        .map_err(|e| store_error(e.into()))?;
    let messages: Vec<OutboundMessage> = texts
        .into_iter()
        .map(|body| OutboundMessage { content: Content::Text { body, preview_url: None }, reply_to: None })
        .collect();
    let to = ContactRef::Id(conversation.contact_id);
    let key = format!("dialogflow-{message_id}");
    let send = Send {
        channel: conversation.channel_id,
        to: &to,
        messages: &messages,
        idempotency_key: Some(&key),
        dry_run: false,
    };
    match actions::messages::send(state, &bot, send).await.map_err(store_error)? {
        SendOutcome::Refused { refusal, .. } => Ok(Some(Handover::CannotAnswer(refusal.message()))),
        _ => Ok(handover),
    }
}

//! Idempotency keys of sends: whose a key is, and what makes a replay the same request.
//!
//! A key names one request of one sender. Keys are scoped so that guessing another user's key
//! (`order-42`) finds nothing of theirs, and a replay must be the request the key was first used
//! for: a different request under a used key is a client's mistake, refused rather than answered
//! with messages that are not what it asked for.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::contact::ContactRef;
use crate::ids::{ChannelId, UserId};
use crate::outbound::OutboundMessage;

/// The key as stored: a user's keys are theirs alone; a send no user made (the demo, a worker)
/// keys per channel.
pub fn scoped_key(author: Option<UserId>, channel: ChannelId, key: &str) -> String {
    match author {
        Some(user) => format!("user:{}:{key}", user.get()),
        None => format!("channel:{}:{key}", channel.get()),
    }
}

/// What identifies a send request (channel, recipient as written, messages in order): a
/// SHA-256 of its canonical JSON, in hex. Replays compare it with the first request's.
pub fn request_fingerprint(channel: ChannelId, to: &ContactRef, messages: &[OutboundMessage]) -> String {
    let to = match to {
        ContactRef::Id(id) => format!("id:{}", id.get()),
        ContactRef::Phone(phone) => format!("phone:{phone}"),
        ContactRef::Email(email) => format!("email:{email}"),
    };
    let messages: Vec<Value> = messages.iter().map(|m| json!({"content": m.content, "reply_to": m.reply_to})).collect();
    let canonical = json!({"channel": channel.get(), "to": to, "messages": messages}).to_string();
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ContactId;
    use crate::message::Content;

    fn text(body: &str) -> OutboundMessage {
        OutboundMessage { content: Content::Text { body: body.into(), preview_url: None }, reply_to: None }
    }

    #[test]
    fn keys_belong_to_their_user_or_else_their_channel() {
        let (ana, bao) = (Some(UserId(1)), Some(UserId(2)));
        assert_eq!(scoped_key(ana, ChannelId(7), "order-42"), "user:1:order-42");
        assert_ne!(scoped_key(ana, ChannelId(7), "order-42"), scoped_key(bao, ChannelId(7), "order-42"));
        assert_eq!(scoped_key(ana, ChannelId(7), "k"), scoped_key(ana, ChannelId(8), "k"), "one user, one key");
        assert_eq!(scoped_key(None, ChannelId(7), "order-42"), "channel:7:order-42");
        assert_ne!(scoped_key(None, ChannelId(7), "k"), scoped_key(None, ChannelId(8), "k"));
    }

    #[test]
    fn the_same_request_has_the_same_fingerprint_and_any_change_another() {
        let to = ContactRef::parse("phone:+33 6 12 34 56 78", None).unwrap();
        let same_person = ContactRef::parse("phone:+33612345678", None).unwrap();
        let base = request_fingerprint(ChannelId(1), &to, &[text("a"), text("b")]);
        assert_eq!(base.len(), 64);
        assert_eq!(base, request_fingerprint(ChannelId(1), &same_person, &[text("a"), text("b")]));
        for other in [
            request_fingerprint(ChannelId(2), &to, &[text("a"), text("b")]),
            request_fingerprint(ChannelId(1), &ContactRef::Id(ContactId(5)), &[text("a"), text("b")]),
            request_fingerprint(ChannelId(1), &to, &[text("b"), text("a")]),
            request_fingerprint(ChannelId(1), &to, &[text("a")]),
            request_fingerprint(
                ChannelId(1),
                &to,
                &[text("a"), OutboundMessage { reply_to: Some("wamid.1".into()), ..text("b") }],
            ),
        ] {
            assert_ne!(other, base);
        }
    }
}

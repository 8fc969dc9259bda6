//! Outgoing webhooks, as rules: the public event catalog (which internal event goes out under
//! which stable kind), the signature receivers check, and what happens after a failed delivery
//! (retry with exponential backoff and jitter, pause after 24 h of failures, give an event up
//! after 3 days). Pure: the delivery worker (`parley-server/src/workers/outgoing.rs`) does the
//! I/O.
//!
//! **Envelope** (version 1): `{"id": "evt_<event id>", "kind", "version": 1, "occurred_at",
//! "workspace_id", "data"}`. `data` is the event's payload as the event log holds it; its fields
//! per kind are documented in the OpenAPI document's `webhooks`. Receivers deduplicate on `id`:
//! one event goes out at most under one kind, so an id names one delivery's content.
//!
//! **Signature**: header `Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<raw body>"` with the subscription's secret. A receiver recomputes it on the raw bytes,
//! compares in constant time, and refuses a `t` older than a few minutes (replays).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::Timestamp;

/// The envelope's version; a change that removes or renames a field makes a new one.
pub const VERSION: u32 = 1;

/// Every kind a subscription may ask for, with what it tells.
pub const KINDS: &[(&str, &str)] = &[
    ("message.received", "a customer's message arrived"),
    ("message.sent", "the provider accepted a message Parley sent"),
    ("message.status", "a sent message was delivered, read, failed (with the provider's error) or is unknown"),
    ("conversation.opened", "a conversation began"),
    ("conversation.assigned", "a conversation was assigned"),
    ("conversation.unassigned", "a conversation lost its assignee"),
    ("conversation.closed", "a conversation was closed (with its closing note)"),
    ("conversation.reopened", "a closed or snoozed conversation opened again"),
    ("contact.created", "a contact was created"),
    ("contact.updated", "a contact's fields, tags or identifiers changed"),
    ("contact.merged", "two contacts became one"),
    ("contact.deleted", "a contact was deleted"),
    ("note.created", "an internal note was left on a conversation or a contact"),
    ("template.status", "a template's review status changed"),
    ("template.quality", "a template's quality rating changed or it was flagged"),
    ("template.category", "a template's category changed"),
    ("channel.health", "a number's quality, status or messaging limit changed"),
    ("balance.low", "a WhatsApp fees account's available balance fell below its alert threshold"),
];

/// The test ping's kind: sent on demand, never from the log.
pub const PING: &str = "ping";

/// Whether `kind` is in the catalog.
pub fn is_kind(kind: &str) -> bool {
    KINDS.iter().any(|(k, _)| *k == kind)
}

/// Under which public kind an event of the log goes out, if any.
pub fn public_kind(internal: &str, payload: &Value) -> Option<&'static str> {
    let field = |name: &str| payload.get(name).and_then(Value::as_str);
    Some(match internal {
        "message.received" => "message.received",
        "message.sent" => "message.sent",
        "message.status" => match field("status") {
            Some("sent") => "message.sent",
            // A retry put back in the queue is not news for a receiver.
            Some("queued") | Some("sending") | None => return None,
            Some(_) => "message.status",
        },
        "conversation.opened" => "conversation.opened",
        "conversation.assigned" => "conversation.assigned",
        "conversation.unassigned" => "conversation.unassigned",
        "conversation.reopened" => "conversation.reopened",
        "conversation.status_changed" => match field("status") {
            Some("closed") => "conversation.closed",
            Some("open") => "conversation.reopened",
            _ => return None,
        },
        "contact.created" => "contact.created",
        "contact.updated" => "contact.updated",
        "contact.merged" => "contact.merged",
        "contact.deleted" => "contact.deleted",
        "conversation.note_added" | "contact.note_added" => "note.created",
        "template.submitted" => "template.status",
        "template.updated" => template_kind(payload)?,
        "channel.health_changed" => "channel.health",
        "fees.balance_low" => "balance.low",
        _ => return None,
    })
}

/// A template change from a webhook names its `change.kind`; one found by a sync has `before`
/// and `after` (status first: a status change is the news even when the rest moved too).
fn template_kind(payload: &Value) -> Option<&'static str> {
    if let Some(change) = payload.get("change") {
        return match change.get("kind").and_then(Value::as_str)? {
            "status" => Some("template.status"),
            "quality" | "flagged" => Some("template.quality"),
            "category" => Some("template.category"),
            _ => None,
        };
    }
    let (before, after) = (payload.get("before")?, payload.get("after")?);
    ["status", "quality", "category"].into_iter().find(|f| before.get(f) != after.get(f)).map(|f| match f {
        "status" => "template.status",
        "quality" => "template.quality",
        _ => "template.category",
    })
}

/// Checks a subscription's kinds: known ones, at least one, each once (sorted).
pub fn check_kinds(kinds: &[String]) -> Result<Vec<String>, String> {
    if kinds.is_empty() {
        return Err("name at least one event kind".into());
    }
    if let Some(unknown) = kinds.iter().find(|k| !is_kind(k)) {
        return Err(format!("{unknown:?} is not an event kind (see the catalog: GET /webhook-subscriptions/kinds)"));
    }
    let mut kinds = kinds.to_vec();
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// The envelope as it goes out.
pub fn envelope(event_id: i64, kind: &str, occurred_at: Timestamp, workspace_id: i64, data: &Value) -> Value {
    serde_json::json!({
        "id": format!("evt_{event_id}"),
        "kind": kind,
        "version": VERSION,
        "occurred_at": occurred_at.to_rfc3339(),
        "workspace_id": workspace_id,
        "data": data,
    })
}

/// `Parley-Signature` for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex_lower(&mac.finalize().into_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long failures may last before the subscription is paused (and its owners told).
pub const PAUSE_AFTER_SECS: i64 = 24 * 3600;
/// How long one event is retried before it is given up (logged, replayable).
pub const GIVE_UP_AFTER_SECS: i64 = 3 * 24 * 3600;
const FIRST_DELAY_SECS: i64 = 10;
const MAX_DELAY_SECS: i64 = 3600;

/// What follows a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    /// Failing for 24 h straight: stop until a person resumes it. The event stays first in line.
    Pause,
    /// This event has failed for 3 days: log it as given up, go on with the next.
    GiveUp,
}

/// Failures so far: since when the subscription fails (reset by a success or a resume), since
/// when the event at the head fails, and how many attempts it had (this one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failing {
    pub since: Timestamp,
    pub event_since: Timestamp,
    pub attempts: u32,
}

/// Decides after a failure at `now`. `jitter` in [0, 1) spreads retries of many subscriptions
/// (each waits between half and all of the exponential delay: 10 s, 20 s, 40 s … capped at 1 h).
pub fn after_failure(failing: Failing, now: Timestamp, jitter: f64) -> AfterFailure {
    let elapsed = |since: Timestamp| (now.as_micros() - since.as_micros()) / 1_000_000;
    if elapsed(failing.event_since) >= GIVE_UP_AFTER_SECS {
        return AfterFailure::GiveUp;
    }
    if elapsed(failing.since) >= PAUSE_AFTER_SECS {
        return AfterFailure::Pause;
    }
    AfterFailure::RetryAt(now.plus_micros(retry_delay_micros(failing.attempts, jitter)))
}

/// The wait after `attempts` failed attempts.
pub fn retry_delay_micros(attempts: u32, jitter: f64) -> i64 {
    let exponent = attempts.saturating_sub(1).min(20);
    let full = (FIRST_DELAY_SECS << exponent).min(MAX_DELAY_SECS) * 1_000_000;
    let jitter = jitter.clamp(0.0, 1.0);
    full / 2 + ((full / 2) as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn internal_events_map_to_one_public_kind_or_none() {
        assert_eq!(public_kind("message.received", &json!({})), Some("message.received"));
        assert_eq!(public_kind("message.status", &json!({"status": "sent"})), Some("message.sent"));
        assert_eq!(public_kind("message.status", &json!({"status": "delivered"})), Some("message.status"));
        assert_eq!(public_kind("message.status", &json!({"status": "failed"})), Some("message.status"));
        assert_eq!(public_kind("message.status", &json!({"status": "queued", "retry": true})), None);
        assert_eq!(
            public_kind("conversation.status_changed", &json!({"status": "closed"})),
            Some("conversation.closed")
        );
        assert_eq!(
            public_kind("conversation.status_changed", &json!({"status": "open"})),
            Some("conversation.reopened")
        );
        assert_eq!(public_kind("conversation.status_changed", &json!({"status": "snoozed"})), None);
        assert_eq!(public_kind("conversation.note_added", &json!({})), Some("note.created"));
        assert_eq!(public_kind("contact.note_added", &json!({})), Some("note.created"));
        assert_eq!(public_kind("channel.health_changed", &json!({})), Some("channel.health"));
        assert_eq!(public_kind("user.joined", &json!({})), None);
        assert_eq!(public_kind("message.queued", &json!({})), None);
        // Every public kind the mapping yields is in the catalog.
        for internal in ["message.received", "contact.merged", "template.submitted", "conversation.opened"] {
            assert!(is_kind(public_kind(internal, &json!({})).unwrap()));
        }
    }

    #[test]
    fn template_changes_go_out_by_what_changed() {
        let webhook = |kind: &str| json!({"change": {"kind": kind}});
        assert_eq!(public_kind("template.updated", &webhook("status")), Some("template.status"));
        assert_eq!(public_kind("template.updated", &webhook("quality")), Some("template.quality"));
        assert_eq!(public_kind("template.updated", &webhook("flagged")), Some("template.quality"));
        assert_eq!(public_kind("template.updated", &webhook("category")), Some("template.category"));
        assert_eq!(public_kind("template.updated", &webhook("components")), None);
        let sync = |b: Value, a: Value| json!({"before": b, "after": a});
        let s = sync(json!({"status": "pending", "quality": null}), json!({"status": "approved", "quality": "green"}));
        assert_eq!(public_kind("template.updated", &s), Some("template.status"));
        let q =
            sync(json!({"status": "approved", "quality": "green"}), json!({"status": "approved", "quality": "red"}));
        assert_eq!(public_kind("template.updated", &q), Some("template.quality"));
        let c = sync(json!({"category": "utility"}), json!({"category": "marketing"}));
        assert_eq!(public_kind("template.updated", &c), Some("template.category"));
    }

    #[test]
    fn kinds_are_checked() {
        assert!(check_kinds(&[]).is_err());
        assert!(check_kinds(&["message.nope".into()]).unwrap_err().contains("message.nope"));
        let ok = check_kinds(&["message.status".into(), "message.received".into(), "message.status".into()]).unwrap();
        assert_eq!(ok, ["message.received", "message.status"]);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_ne!(signature(b"other", 1_700_000_000, br#"{"a":1}"#), sig);
        assert_ne!(signature(b"whsec_test", 1_700_000_001, br#"{"a":1}"#), sig);
    }

    #[test]
    fn retries_back_off_exponentially_within_their_jitter() {
        assert_eq!(retry_delay_micros(1, 0.0), 5_000_000);
        assert_eq!(retry_delay_micros(1, 1.0), 10_000_000);
        assert_eq!(retry_delay_micros(3, 1.0), 40_000_000);
        assert_eq!(retry_delay_micros(30, 1.0), 3_600_000_000);
        assert!(retry_delay_micros(4, 0.5) > retry_delay_micros(4, 0.1));
    }

    #[test]
    fn failures_pause_after_a_day_and_give_an_event_up_after_three() {
        let t0 = Timestamp::from_secs(1_000_000);
        let failing = Failing { since: t0, event_since: t0, attempts: 1 };
        assert_eq!(after_failure(failing, t0, 1.0), AfterFailure::RetryAt(t0.plus_secs(10)));
        let day = 24 * 3600;
        assert!(matches!(after_failure(failing, t0.plus_secs(day - 1), 0.0), AfterFailure::RetryAt(_)));
        assert_eq!(after_failure(failing, t0.plus_secs(day), 0.0), AfterFailure::Pause);
        // Resumed an hour ago: the pause clock starts again, the event's does not.
        let resumed = Failing { since: t0.plus_secs(3 * day - 3600), ..failing };
        assert!(matches!(after_failure(resumed, t0.plus_secs(3 * day - 1), 0.0), AfterFailure::RetryAt(_)));
        assert_eq!(after_failure(resumed, t0.plus_secs(3 * day), 0.0), AfterFailure::GiveUp);
    }
}

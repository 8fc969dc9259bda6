//! The business side of the sandbox (part 2): `POST /<version>/<phone number id>/messages` as
//! Meta answers it — validation, the 24 h window (131047), throughput (130429), the pair rate
//! limit (131056), marketing opt-outs (131050), templates (132000/132001), injected failures —
//! and the status lifecycle (sent → delivered → read, with pricing) posted back as webhooks.
//! Templates are checked against the template book (`templates.rs`), and business-initiated
//! template sends are counted for the messaging limit tiers (`numbers.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Batching, Inner, Item};

/// How one number behaves.
#[derive(Clone, Debug)]
pub struct NumberPolicy {
    /// Messages per second before 130429.
    pub throughput: usize,
    /// Messages to one user within `pair_window` before 131056.
    pub pair_burst: usize,
    pub pair_window: Duration,
    /// Emit sent → delivered → read on their own, `status_delay` apart. Off: tests drive them.
    pub auto_status: bool,
    pub status_delay: Duration,
    /// Read receipts on (otherwise statuses stop at delivered).
    pub read_receipts: bool,
    /// How long the Graph API takes to answer a send (it has accepted the message meanwhile):
    /// Meta's answers take a few hundred milliseconds, so sends are in flight at any moment.
    pub send_latency: Duration,
}

impl Default for NumberPolicy {
    fn default() -> Self {
        NumberPolicy {
            throughput: 80,
            pair_burst: 45,
            pair_window: Duration::from_secs(6),
            auto_status: true,
            status_delay: Duration::from_millis(50),
            read_receipts: true,
            send_latency: Duration::ZERO,
        }
    }
}

/// A failure to inject into the next send of a number.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and Graph error code (`None`: no JSON body).
    Http { status: u16, code: Option<i64>, retry_after: Option<u64> },
    /// Accept the request but never answer (the client times out).
    Hang,
    /// Accept (200), then report `failed` with this code.
    FailLater(i64),
}

/// A template to put in the sandbox as is (`Sandbox::add_template`), or as it stands now
/// (`Sandbox::template`).
#[derive(Clone, Debug)]
pub struct SandboxTemplate {
    pub waba_id: String,
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `PAUSED`, …
    pub status: String,
    pub components: Value,
}

/// One accepted send, for tests to inspect.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub phone_number_id: String,
    pub to: String,
    pub message_id: String,
    pub body: Value,
}

/// What the business side remembers.
#[derive(Default)]
pub(crate) struct BusinessState {
    pub policies: HashMap<String, NumberPolicy>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    /// (phone number id, wa_id) → the user's last message (clock seconds).
    pub last_inbound: HashMap<(String, String), i64>,
    /// (phone number id, wa_id) that stopped marketing messages.
    pub marketing_stopped: Vec<(String, String)>,
    /// Every call to the send endpoint (accepted or not), by number, for rate checks.
    pub calls: HashMap<String, VecDeque<Instant>>,
    pub pair_calls: HashMap<(String, String), VecDeque<Instant>>,
    /// When `pair_calls` was last cleared of users with no call in their window: kept small, it
    /// never has to grow (and rehash under the lock, stalling every send) during a long run.
    pub pairs_pruned_at: Option<Instant>,
    /// Boxed, so growing the list moves pointers, not records (no stall at 65,536 sends).
    #[allow(clippy::vec_box)]
    pub sent: Vec<Box<Sent>>,
    /// Inbound message ids the sandbox generated (mark-as-read checks them).
    pub inbound_ids: std::collections::HashSet<String>,
    /// Read receipts asked for: (message id, with the typing indicator).
    pub reads: Vec<(String, bool)>,
    /// Under the per-conversation model: (number, customer, category) → (conversation id, expiry).
    pub conversations: HashMap<(String, String, String), (String, i64)>,
}

fn graph_error(code: i64, title: &str, details: &str) -> Value {
    json!({"error": {"message": format!("(#{code}) {title}"), "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details}, "fbtrace_id": "SANDBOX"}})
}

/// The answer to a send: HTTP status and body (or a hang).
pub(crate) enum Answer {
    Reply(u16, Value, Option<u64>),
    Hang,
}

impl Inner {
    /// The number's answer delay for sends.
    pub(crate) fn send_latency(&self, phone_number_id: &str) -> Duration {
        let state = self.business.lock().expect("business state");
        state.policies.get(phone_number_id).map_or(Duration::ZERO, |p| p.send_latency)
    }

    pub(crate) fn handle_send(self: &Arc<Self>, phone_number_id: &str, body: &Value) -> Answer {
        let now = Instant::now();
        let clock_now = self.clock.now().as_secs();
        let mut state = self.business.lock().expect("business state");
        let policy = state.policies.get(phone_number_id).cloned().unwrap_or_default();

        // Mark as read is a send-endpoint call too, but no message.
        if body.get("status").and_then(Value::as_str) == Some("read") {
            let id = body.get("message_id").and_then(Value::as_str).unwrap_or_default();
            return if state.inbound_ids.contains(id) {
                let typing = body.pointer("/typing_indicator/type").and_then(Value::as_str) == Some("text");
                state.reads.push((id.to_owned(), typing));
                Answer::Reply(200, json!({"success": true}), None)
            } else {
                Answer::Reply(
                    400,
                    graph_error(131009, "Parameter value is not valid", "message_id is not a message of this number"),
                    None,
                )
            };
        }
        if let Some(fault) = state.faults.get_mut(phone_number_id).and_then(VecDeque::pop_front) {
            match fault {
                Fault::Http { status, code, retry_after } => {
                    let body = code.map_or(json!("Service Unavailable"), |c| {
                        graph_error(c, "Injected failure", "injected by the test")
                    });
                    return Answer::Reply(status, body, retry_after);
                }
                Fault::Hang => return Answer::Hang,
                Fault::FailLater(code) => {
                    let to = body.get("to").and_then(Value::as_str).unwrap_or_default().to_owned();
                    let id = self.message_id();
                    drop(state);
                    self.report(phone_number_id, &id, &to, "failed", Some(code));
                    return Answer::Reply(200, accepted(&to, &id), None);
                }
            }
        }
        // Throughput: calls in the last second, on this number.
        let calls = state.calls.entry(phone_number_id.to_owned()).or_default();
        while calls.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            calls.pop_front();
        }
        if calls.len() >= policy.throughput {
            return Answer::Reply(
                400,
                graph_error(130429, "Rate limit hit", "too many messages from this number in a short period"),
                Some(1),
            );
        }
        calls.push_back(now);

        let to = body.get("to").and_then(Value::as_str).unwrap_or_default().trim_start_matches('+').to_owned();
        if let Err((code, title)) = validate(body) {
            return Answer::Reply(400, graph_error(code, title, title), None);
        }
        if state.pairs_pruned_at.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            state.pairs_pruned_at = Some(now);
            let window =
                state.policies.values().map(|p| p.pair_window).max().unwrap_or_default().max(policy.pair_window);
            state.pair_calls.retain(|_, calls| calls.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let pair = state.pair_calls.entry((phone_number_id.to_owned(), to.clone())).or_default();
        while pair.front().is_some_and(|t| now.duration_since(*t) >= policy.pair_window) {
            pair.pop_front();
        }
        if pair.len() >= policy.pair_burst {
            return Answer::Reply(
                400,
                graph_error(
                    131056,
                    "(Business Account, Consumer Account) pair rate limit hit",
                    "too many messages to this user",
                ),
                None,
            );
        }
        pair.push_back(now);

        let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
        let mut category = "service";
        if kind == "template" {
            match self.template_for(phone_number_id, body) {
                Ok(c) => category = c,
                Err((code, title)) => return Answer::Reply(400, graph_error(code, title, title), None),
            }
        }
        let id = self.message_id();
        let window_open = state
            .last_inbound
            .get(&(phone_number_id.to_owned(), to.clone()))
            .is_some_and(|t| clock_now - t < 24 * 3600);
        state.sent.push(Box::new(Sent {
            at: now,
            phone_number_id: phone_number_id.to_owned(),
            to: to.clone(),
            message_id: id.clone(),
            body: body.clone(),
        }));
        let stopped = state.marketing_stopped.contains(&(phone_number_id.to_owned(), to.clone()));
        drop(state);
        if kind == "template" && !window_open {
            // Business-initiated: it counts toward the messaging limit (spec §9.4).
            self.record_reach(phone_number_id, &to, clock_now);
        }

        // Meta reports these asynchronously, as a failed status.
        let failure = if kind != "template" && !window_open {
            Some(131047)
        } else if category == "marketing" && stopped {
            Some(131050)
        } else if to.ends_with("0001") {
            Some(131026)
        } else {
            None
        };
        // Per-message pricing (spec §9.2): service replies and utility templates inside the
        // window were free until 2026-10-01; from then on only an entry point is free. Before
        // 2025-07-01, per conversation: the first message of a category to a customer opens a
        // 24-hour conversation, charged once; the status names it.
        let per_conversation = clock_now < parley_core::rules::PER_MESSAGE_FROM.as_secs();
        let extra = if per_conversation {
            let (conversation, expires, opened) = self.conversation(phone_number_id, &to, category, clock_now);
            if failure.is_none() {
                self.count_priced(phone_number_id, &to, category, "regular", opened);
            }
            json!({"pricing": {"billable": true, "pricing_model": "CBP", "category": category},
                "conversation": {"id": conversation, "expiration_timestamp": expires.to_string(),
                    "origin": {"type": category}}})
        } else {
            let service_free = clock_now < parley_core::rules::SERVICE_CHARGED_FROM.as_secs();
            let free = service_free && window_open && matches!(category, "service" | "utility");
            let pricing_type = if free { "free_customer_service" } else { "regular" };
            if failure.is_none() {
                self.count_priced(phone_number_id, &to, category, pricing_type, !free);
            }
            json!({"pricing": {"billable": !free, "pricing_model": "PMP", "category": category, "type": pricing_type}})
        };
        match failure {
            Some(code) => self.report(phone_number_id, &id, &to, "failed", Some(code)),
            None if policy.auto_status => {
                let stages: &[&str] = match (kind, policy.read_receipts) {
                    ("reaction", _) => &["sent"],
                    (_, true) => &["sent", "delivered", "read"],
                    (_, false) => &["sent", "delivered"],
                };
                let (me, pnid, mid, to) = (self.clone(), phone_number_id.to_owned(), id.clone(), to.clone());
                let stages: Vec<&'static str> = stages.to_vec();
                tokio::spawn(async move {
                    for stage in stages {
                        tokio::time::sleep(policy.status_delay).await;
                        me.report_with(&pnid, &mid, &to, stage, None, (stage != "read").then(|| extra.clone()));
                    }
                });
            }
            None => {}
        }
        Answer::Reply(200, accepted(&to, &id), None)
    }

    /// The open 24-hour conversation of this category with this customer (opened now if none
    /// is): its id, when it expires (clock seconds), and whether it opened now.
    fn conversation(&self, phone_number_id: &str, to: &str, category: &str, now: i64) -> (String, i64, bool) {
        let mut state = self.business.lock().expect("business");
        let key = (phone_number_id.to_owned(), to.to_owned(), category.to_owned());
        match state.conversations.get(&key) {
            Some((id, expires)) if *expires > now => (id.clone(), *expires, false),
            _ => {
                let id = format!("CONV-sbx{}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                state.conversations.insert(key, (id.clone(), now + 24 * 3600));
                (id, now + 24 * 3600, true)
            }
        }
    }

    /// The template's category, or the error Meta would give.
    fn template_for(&self, phone_number_id: &str, body: &Value) -> Result<&'static str, (i64, &'static str)> {
        let waba =
            self.numbers.lock().expect("numbers").get(phone_number_id).map(|n| n.waba_id.clone()).unwrap_or_default();
        let name = body.pointer("/template/name").and_then(Value::as_str).unwrap_or_default();
        let language = body.pointer("/template/language/code").and_then(Value::as_str).unwrap_or_default();
        let book = self.templates.lock().expect("templates");
        let t = book.find(&waba, name, language).ok_or((132001, "Template name does not exist in the translation"))?;
        match t.status.as_str() {
            "APPROVED" => {}
            "PAUSED" => return Err((132015, "Template is paused")),
            "DISABLED" => return Err((132016, "Template is disabled")),
            _ => return Err((132001, "Template name does not exist in the translation")),
        }
        let shape =
            parley_core::template::ParamShape::of_components(t.components.as_array().map_or(&[][..], Vec::as_slice));
        let given = body.pointer("/template/components").and_then(Value::as_array).cloned().unwrap_or_default();
        shape
            .check(&given)
            .map_err(|_| (132000, "Number of parameters does not match the expected number of params"))?;
        Ok(match t.category.as_str() {
            "MARKETING" => "marketing",
            "AUTHENTICATION" => "authentication",
            _ => "utility",
        })
    }

    /// Posts a status webhook for a sent message.
    pub(crate) fn report(&self, phone_number_id: &str, message_id: &str, to: &str, status: &str, error: Option<i64>) {
        self.report_with(phone_number_id, message_id, to, status, error, None);
    }

    fn report_with(
        &self,
        phone_number_id: &str,
        message_id: &str,
        to: &str,
        status: &str,
        error: Option<i64>,
        extra: Option<Value>,
    ) {
        let mut s = json!({"id": message_id, "status": status, "timestamp": self.clock.now().as_secs().to_string(), "recipient_id": to});
        if let Some(code) = error {
            s["errors"] = json!([graph_error(code, "Message failed", "reported by the sandbox")["error"].clone()]);
        }
        // `pricing`, and `conversation` under the per-conversation model.
        if let Some(Value::Object(fields)) = extra {
            for (name, value) in fields {
                s[name.as_str()] = value;
            }
        }
        let item = Item::Status { phone_number_id: phone_number_id.to_owned(), status: s };
        let deliveries = self.build(&[item], 1, false);
        self.emitter.enqueue(deliveries, Batching::default().delay);
    }
}

fn accepted(to: &str, id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": id, "message_status": "accepted"}]})
}

/// Meta's request checks (spec §6): what every body needs, and the main field limits.
fn validate(body: &Value) -> Result<(), (i64, &'static str)> {
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err((131008, "Required parameter is missing: messaging_product"));
    }
    let to = body.get("to").and_then(Value::as_str).unwrap_or_default();
    if to.is_empty() || !to.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) {
        return Err((131009, "Parameter value is not valid: to"));
    }
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text");
    let object = body.get(kind).ok_or((131008, "Required parameter is missing"))?;
    let chars = |p: &str| object.pointer(p).and_then(Value::as_str).map(|s| s.chars().count());
    match kind {
        "text" if chars("/body").is_none_or(|n| n == 0 || n > 4096) => Err((100, "Invalid parameter: text.body")),
        "image" | "video" | "document" if chars("/caption").is_some_and(|n| n > 1024) => {
            Err((100, "Invalid parameter: caption"))
        }
        "image" | "audio" | "video" | "document" | "sticker"
            if object.get("id").is_none() && object.get("link").is_none() =>
        {
            Err((131008, "Required parameter is missing: id or link"))
        }
        "interactive" if object.pointer("/action/buttons").and_then(Value::as_array).is_some_and(|b| b.len() > 3) => {
            Err((131009, "Parameter value is not valid: buttons"))
        }
        "text" | "image" | "audio" | "video" | "document" | "sticker" | "location" | "contacts" | "interactive"
        | "reaction" | "template" => Ok(()),
        _ => Err((131051, "Unsupported message type")),
    }
}

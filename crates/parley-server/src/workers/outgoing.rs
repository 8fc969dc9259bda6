//! Outgoing webhooks: one delivery task per active subscription, each reading the event log
//! from the subscription's durable cursor and sending, in order, the events its creator may see
//! and it asked for (`parley_core::outgoing` says which kind each event goes out as, how it is
//! signed and what follows a failure).
//!
//! - **At least once, in order.** An event is sent, then the cursor moves in the transaction
//!   recording the 2xx. A crash between the two sends the event again (receivers deduplicate on
//!   its id); nothing is ever skipped. A failed event holds back the ones after it (so a
//!   conversation's events arrive in order) and is retried with backoff until the pause (24 h)
//!   or, after a resume, until it has failed for 3 days (then logged `given_up`, replayable).
//! - **Isolated.** Each subscription has its own task and a short timeout: a slow or dead
//!   receiver holds back only its own subscription, never the inbox or other workspaces.
//! - **One server each.** On PostgreSQL several servers run this worker; a lease on the
//!   subscription row keeps each subscription on one of them.
//! - **Holes.** Event ids come from one sequence but commit out of order on PostgreSQL: the task
//!   stops before a missing id until it appears or `hole_wait` passes (a rolled-back transaction
//!   leaves a hole that never fills), as the live event stream does.
//! - **Replays** (one event or a time range) go out beside the cursor, once each, into the log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parley_core::Timestamp;
use parley_core::ids::EventId;
use parley_core::outgoing::{self, AfterFailure, Failing, PING};
use parley_providers::meta::forward;
use parley_store::{Attempt, CursorMove, Delivery, Event, Subscription};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::event_log::before_hole;

#[derive(Clone, Debug)]
pub struct OutgoingConfig {
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// How often an idle subscription looks for new events.
    pub poll: Duration,
    /// How long a hole in the event ids is waited for.
    pub hole_wait: Duration,
    /// How long a server keeps a subscription without renewing its lease.
    pub lease: Duration,
    /// How long the delivery log is kept.
    pub keep_log: Duration,
}

impl Default for OutgoingConfig {
    fn default() -> Self {
        OutgoingConfig {
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(100),
            hole_wait: Duration::from_secs(10),
            lease: Duration::from_secs(30),
            keep_log: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// The least time between two rounds of one subscription.
const LINGER: Duration = Duration::from_millis(10);

/// How often replays are looked for.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Taken deliveries recorded per transaction, at most.
const RECORD_EVERY: usize = 100;

/// Longest answer excerpt kept in the delivery log.
const EXCERPT_CHARS: usize = 512;

/// Starts and stops a delivery task per active subscription until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let holder = state.server_id.clone();
    // Each task with the sealed secret it signs with: a rotation starts a fresh task at once.
    let mut tasks: HashMap<i64, (String, JoinHandle<()>)> = HashMap::new();
    let mut pruned_at: Option<Instant> = None;
    loop {
        match state.store.active_subscriptions().await {
            Ok(active) => {
                tasks.retain(|id, (sealed, task)| {
                    let same = |s: &&Subscription| s.id == *id && s.sealed_secret == *sealed;
                    let keep = !task.is_finished() && active.iter().any(|s| same(&s));
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for sub in active {
                    tasks.entry(sub.id).or_insert_with(|| {
                        let sealed = sub.sealed_secret.clone();
                        (sealed, tokio::spawn(follow(state.clone(), sub, holder.clone(), shutdown.clone())))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list webhook subscriptions; trying again"),
        }
        if pruned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            pruned_at = Some(Instant::now());
            let keep = i64::try_from(state.outgoing.keep_log.as_micros()).unwrap_or(i64::MAX);
            if let Err(e) = state.store.prune_deliveries(state.clock.now().plus_micros(-keep)).await {
                tracing::warn!(error = %e, "cannot prune the webhook delivery log");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(state.outgoing.poll * 5) => {}
            _ = state.outgoing_wakeup.notified() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            for (_, task) in tasks.values() {
                task.abort();
            }
            return;
        }
    }
}

/// What one subscription's task keeps between rounds.
struct Follower {
    state: AppState,
    sub: Subscription,
    secret: Vec<u8>,
    holder: String,
    leased_until: Option<Instant>,
    hole_since: Option<Instant>,
    /// When replays were last looked for.
    checked_at: Option<Instant>,
}

/// Delivers one subscription until it is paused, deleted, leased elsewhere for good, or the
/// server stops.
async fn follow(state: AppState, sub: Subscription, holder: String, mut shutdown: watch::Receiver<bool>) {
    let secret = match state.secrets.open(&sub.sealed_secret) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(subscription = sub.id, error = %e, "cannot open a webhook secret; not delivering");
            return;
        }
    };
    let mut appended = state.events_appended.subscribe();
    let mut f = Follower { state, sub, secret, holder, leased_until: None, hole_since: None, checked_at: None };
    loop {
        let wait = match f.round().await {
            Ok(Some(wait)) => wait,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(subscription = f.sub.id, error = %e, "webhook delivery round failed; trying again");
                f.state.outgoing.poll * 10
            }
        };
        // Rounds are at least `LINGER` apart, so a burst of commits is taken in one round; new
        // events wake it then, unless a retry or a lease is what it waits for.
        tokio::time::sleep(LINGER.min(wait)).await;
        let wait = wait.saturating_sub(LINGER);
        let woken_by_events = wait <= f.state.outgoing.poll && f.sub.next_attempt_at.is_none();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Ok(()) = appended.changed(), if woken_by_events => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

impl Follower {
    /// One round: read the subscription again, hold its lease, send what is due. Answers how
    /// long to wait before the next round, or `None` when the task should end.
    async fn round(&mut self) -> Result<Option<Duration>, parley_store::StoreError> {
        let poll = self.state.outgoing.poll;
        // Read again each round: a pause, a rotated secret or its creator's new role (what it
        // may send) applies to the next event.
        let sub = match self.state.store.subscription(self.sub.workspace_id, self.sub.id).await {
            Ok(sub) => sub,
            Err(parley_store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !sub.active || sub.sealed_secret != self.sub.sealed_secret {
            // Paused, or its secret rotated: the supervisor starts a fresh task when due.
            return Ok(None);
        }
        self.sub = sub;
        if !self.sub.creator_active {
            // Its creator was deactivated: it stops until an owner or manager resumes it.
            let patch = parley_store::SubscriptionPatch { active: Some(false), ..Default::default() };
            let now = self.state.clock.now();
            self.state.store.update_subscription(self.sub.workspace_id, self.sub.id, patch, now).await?;
            return Ok(None);
        }
        if self.checked_at.is_none_or(|t| t.elapsed() >= CHECK_EVERY) && self.hold_lease().await? {
            self.checked_at = Some(Instant::now());
            self.replay_some().await?;
        }
        if !self.hold_lease().await? {
            return Ok(Some(self.state.outgoing.lease / 2));
        }
        let now = self.state.clock.now();
        if let Some(at) = self.sub.next_attempt_at.filter(|at| *at > now) {
            let micros = u64::try_from(at.as_micros() - now.as_micros()).unwrap_or(0);
            return Ok(Some(Duration::from_micros(micros).min(poll)));
        }
        let sent = self.deliver_due().await?;
        if !self.sub.active {
            // Paused by a day of failures.
            return Ok(None);
        }
        Ok(Some(if sent { Duration::ZERO } else { poll }))
    }

    async fn hold_lease(&mut self) -> Result<bool, parley_store::StoreError> {
        let lease = self.state.outgoing.lease;
        if self.leased_until.is_some_and(|until| until > Instant::now() + lease / 2) {
            return Ok(true);
        }
        let now = self.state.clock.now();
        let until = now.plus_micros(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
        let held = self.state.store.lease_subscription(self.sub.id, &self.holder, until, now).await?;
        self.leased_until = held.then(|| Instant::now() + lease);
        Ok(held)
    }

    /// Sends the events after the cursor, in order, until one fails. Answers whether it sent
    /// or skipped anything (then the next round comes at once).
    async fn deliver_due(&mut self) -> Result<bool, parley_store::StoreError> {
        let cursor = self.sub.cursor_event_id;
        let ids = self.state.store.event_ids_after(EventId(cursor), 500).await?;
        let waited = self.hole_since.is_some_and(|t| t.elapsed() >= self.state.outgoing.hole_wait);
        let (ready, held) = before_hole(cursor, &ids, waited);
        self.hole_since = match (held, waited) {
            (true, true) => Some(Instant::now()),
            (true, false) => self.hole_since.or(Some(Instant::now())),
            (false, _) => None,
        };
        if ready == 0 {
            return Ok(false);
        }
        let upto = ids[ready - 1];
        let store = self.state.store.clone();
        let events =
            store.events(self.sub.workspace_id, self.sub.viewer(), EventId(cursor), Some(EventId(upto)), 1000).await?;
        // Taken events are recorded together (one transaction per round, or per
        // `RECORD_EVERY`): a crash before the write sends them again, never skips them.
        let mut taken: Vec<Attempt> = Vec::new();
        let mut last = cursor;
        for event in &events {
            let Some(kind) = self.wanted(event).await? else { continue };
            let Some(attempt) = self.send(event, kind).await? else { continue };
            if attempt.status_code.is_some_and(|c| (200..300).contains(&c)) {
                taken.push(attempt);
                last = event.id.get();
                if taken.len() >= RECORD_EVERY {
                    self.record_taken(&mut taken, last).await?;
                }
                continue;
            }
            self.record_taken(&mut taken, last).await?;
            let now = self.state.clock.now();
            let mv = self.after_failure(now);
            self.sub = store.record_attempt(&self.sub, attempt, mv, now).await?;
            if mv != CursorMove::GiveUp {
                return Ok(false);
            }
            last = event.id.get();
        }
        // Up to `upto`, the rest are events this subscription does not see or want.
        self.record_taken(&mut taken, upto).await?;
        Ok(true)
    }

    /// Records the taken attempts and moves the cursor to `to` (nothing to write when neither
    /// changed anything).
    async fn record_taken(&mut self, taken: &mut Vec<Attempt>, to: i64) -> Result<(), parley_store::StoreError> {
        if taken.is_empty() && to <= self.sub.cursor_event_id {
            return Ok(());
        }
        let now = self.state.clock.now();
        self.state.store.record_delivered(&self.sub, taken, EventId(to), now).await?;
        if !taken.is_empty() {
            self.sub.attempts = 0;
            self.sub.failing_since = None;
            self.sub.event_failing_since = None;
            self.sub.next_attempt_at = None;
        }
        self.sub.cursor_event_id = self.sub.cursor_event_id.max(to);
        taken.clear();
        Ok(())
    }

    fn after_failure(&self, now: Timestamp) -> CursorMove {
        let failing = Failing {
            since: self.sub.failing_since.unwrap_or(now),
            event_since: self.sub.event_failing_since.unwrap_or(now),
            attempts: self.sub.attempts + 1,
        };
        match outgoing::after_failure(failing, now, rand::rng().random::<f64>()) {
            AfterFailure::RetryAt(at) => CursorMove::RetryAt(at),
            AfterFailure::Pause => CursorMove::Pause,
            AfterFailure::GiveUp => CursorMove::GiveUp,
        }
    }

    /// The public kind `event` goes out as, when the subscription asked for it (and, for a
    /// bot's subscription, when it is about a conversation assigned to that bot).
    async fn wanted(&self, event: &Event) -> Result<Option<&'static str>, parley_store::StoreError> {
        let Some(kind) =
            outgoing::public_kind(&event.kind, &event.payload).filter(|k| self.sub.kinds.iter().any(|w| w == k))
        else {
            return Ok(None);
        };
        if self.sub.creator_bot && !self.bot_concerned(event).await? {
            return Ok(None);
        }
        Ok(Some(kind))
    }

    /// Whether an event concerns the bot that made the subscription: its assignment, or a
    /// conversation the bot held when the event happened (not when it is delivered: a message
    /// that came before the bot was assigned is not the bot's, however late it goes out).
    async fn bot_concerned(&self, event: &Event) -> Result<bool, parley_store::StoreError> {
        let bot = self.sub.created_by;
        if event.kind == "conversation.assigned" {
            return Ok(event.payload.get("to").and_then(serde_json::Value::as_i64) == Some(bot.get()));
        }
        let Some(id) = event.payload.get("conversation_id").and_then(serde_json::Value::as_i64) else {
            return Ok(false);
        };
        let conversation = parley_core::ids::ConversationId(id);
        Ok(self.state.store.assignee_at(self.sub.workspace_id, conversation, event.id).await? == Some(bot))
    }

    /// Sends the replays' next events (a hundred per round), once each, into the log.
    async fn replay_some(&mut self) -> Result<(), parley_store::StoreError> {
        let store = self.state.store.clone();
        for replay in store.replays(self.sub.id).await? {
            let from = EventId(replay.next_event_id - 1);
            let to = EventId(replay.to_event_id);
            let events = store.events(self.sub.workspace_id, self.sub.viewer(), from, Some(to), 100).await?;
            for event in &events {
                if let Some(kind) = self.wanted(event).await?
                    && let Some(attempt) = self.send(event, kind).await?
                {
                    store.record_side_attempt(self.sub.id, attempt, true, self.state.clock.now()).await?;
                }
            }
            let next = events.last().map_or(to.get() + 1, |e| e.id.get() + 1);
            let next = if events.len() < 100 { to.get() + 1 } else { next };
            store.advance_replay(replay.id, EventId(next)).await?;
        }
        Ok(())
    }

    /// Sends one event; `None` when it has nothing to forward in the subscription's format.
    async fn send(&self, event: &Event, kind: &str) -> Result<Option<Attempt>, parley_store::StoreError> {
        let Some(post) = post_for(&self.state, &self.sub, &self.secret, Some(event), kind).await? else {
            return Ok(None);
        };
        Ok(Some(deliver(&self.state, &self.sub, post, Some(event), kind).await))
    }
}

/// A post ready to go: its body and the headers that sign and name it.
struct Post {
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// The post for one event (or a ping when `event` is `None`) in the subscription's format;
/// `None` when the event has nothing to forward in that format.
async fn post_for(
    state: &AppState,
    sub: &Subscription,
    secret: &[u8],
    event: Option<&Event>,
    kind: &str,
) -> Result<Option<Post>, parley_store::StoreError> {
    let now = state.clock.now();
    if sub.format == "meta" {
        let body = match event {
            Some(e) => match meta_body(state, sub, e, kind).await? {
                Some(body) => body,
                None => return Ok(None),
            },
            // Meta has no ping: an envelope with nothing in it, signed like the rest.
            None => serde_json::json!({"object": "whatsapp_business_account", "entry": []}),
        };
        let body = body.to_string().into_bytes();
        let signature = forward::sign(&String::from_utf8_lossy(secret), &body);
        let headers = vec![("content-type", "application/json".to_owned()), ("x-hub-signature-256", signature)];
        return Ok(Some(Post { body, headers }));
    }
    let body = match event {
        Some(e) => outgoing::envelope(e.id.get(), kind, e.created_at, sub.workspace_id.get(), &e.payload),
        None => serde_json::json!({"id": format!("ping_{}", now.as_micros()), "kind": PING,
            "version": outgoing::VERSION, "occurred_at": now.to_rfc3339(), "workspace_id": sub.workspace_id.get(),
            "data": {"subscription_id": sub.id}}),
    };
    let body = body.to_string().into_bytes();
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        ("parley-signature", outgoing::signature(secret, now.as_secs(), &body)),
        ("parley-event-id", event.map_or_else(|| "ping".to_owned(), |e| format!("evt_{}", e.id.get()))),
        ("parley-event-kind", kind.to_owned()),
    ];
    Ok(Some(Post { body, headers }))
}

/// A message or a status as Meta's webhook would have it: an inbound message as the provider
/// sent it, a status of a message Parley sent under the id the compatible endpoint answered.
async fn meta_body(
    state: &AppState,
    sub: &Subscription,
    event: &Event,
    kind: &str,
) -> Result<Option<serde_json::Value>, parley_store::StoreError> {
    let Some(message_id) = event.payload.get("message_id").and_then(serde_json::Value::as_i64) else { return Ok(None) };
    let Some(facts) = state.store.forward_facts(sub.workspace_id, message_id).await? else { return Ok(None) };
    let number = forward::NumberMeta {
        waba_id: &facts.waba_id,
        phone_number_id: &facts.phone_number_id,
        display_phone_number: &facts.display_phone_number,
    };
    if kind == "message.received" {
        // Meta's and 360dialog's messages go out as they arrived; Twilio's and MessageBird's
        // JSON is not Meta's: theirs are written in Meta's shape from Parley's content.
        let raw = facts.raw.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
        if let Some(as_arrived) =
            raw.as_ref().filter(|raw| forward::is_meta_message(raw)).and_then(|raw| forward::inbound(&number, raw))
        {
            return Ok(Some(as_arrived));
        }
        let Ok(content) = serde_json::from_str::<parley_core::message::Content>(&facts.content) else {
            return Ok(None);
        };
        let received = forward::Received {
            message_id,
            provider_message_id: facts.provider_message_id.as_deref().unwrap_or_default(),
            from: facts.wa_id.as_deref(),
            from_user_id: facts.bsuid.as_deref(),
            // The name the customer gave WhatsApp, as the provider passed it on (never the
            // team's name for the contact).
            profile_name: raw.as_ref().and_then(forward::profile_name_in),
            timestamp: facts.sent_at.as_secs(),
            content: &content,
        };
        return Ok(forward::inbound_from_content(&number, &received));
    }
    let status = event.payload.get("status").and_then(serde_json::Value::as_str).unwrap_or("sent");
    if facts.direction != "out" || !forward::is_meta_status(status) {
        return Ok(None);
    }
    let at =
        event.payload.get("at").and_then(serde_json::Value::as_str).and_then(parley_core::Timestamp::parse_rfc3339);
    let error = (status == "failed").then(|| forward::error(facts.error_code, facts.error_title.as_deref()));
    let pricing = facts.pricing.as_deref().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
    let id = forward::compat_message_id(message_id);
    let report = forward::StatusReport {
        id: &id,
        status,
        timestamp: at.unwrap_or(event.created_at).as_secs(),
        recipient_id: facts.wa_id.as_deref(),
        recipient_user_id: facts.bsuid.as_deref(),
        error: error.as_ref(),
        pricing: pricing.as_ref(),
    };
    Ok(Some(forward::status(&number, &report)))
}

/// Posts to the subscription's URL.
async fn deliver(state: &AppState, sub: &Subscription, post: Post, event: Option<&Event>, kind: &str) -> Attempt {
    let started = Instant::now();
    let mut request = state.webhook_http.post(&sub.url);
    for (name, value) in post.headers {
        request = request.header(name, value);
    }
    let answer = request.body(post.body).send().await;
    let mut attempt = Attempt {
        event_id: event.map(|e| e.id.get()),
        kind: kind.to_owned(),
        status_code: None,
        error: None,
        latency_ms: 0,
        response_excerpt: None,
    };
    match answer {
        Ok(mut response) => {
            attempt.status_code = Some(response.status().as_u16());
            attempt.response_excerpt = Some(excerpt(&mut response).await);
            if !response.status().is_success() {
                attempt.error = Some(format!("the receiver answered {}", response.status()));
            }
        }
        Err(e) => {
            let why = if e.is_timeout() { "no answer in time".to_owned() } else { without_url(e) };
            attempt.error = Some(why);
        }
    }
    attempt.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    attempt
}

/// The start of an answer, read no further than needed.
async fn excerpt(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).chars().take(EXCERPT_CHARS).collect()
}

/// An error's text without the URL (it may hold a token the receiver put in its path).
fn without_url(e: reqwest::Error) -> String {
    let connect = e.is_connect();
    let text = e.without_url().to_string();
    if connect { format!("cannot connect: {text}") } else { text }
}

/// Sends a test ping now and logs it.
pub async fn ping(state: &AppState, sub: &Subscription) -> Result<Delivery, crate::error::ApiError> {
    let secret = state.secrets.open(&sub.sealed_secret).map_err(|e| {
        tracing::error!(subscription = sub.id, error = %e, "cannot open a webhook secret");
        crate::error::ApiError::internal()
    })?;
    let post = post_for(state, sub, &secret, None, PING).await?.ok_or_else(crate::error::ApiError::internal)?;
    let attempt = deliver(state, sub, post, None, PING).await;
    Ok(state.store.record_side_attempt(sub.id, attempt, false, state.clock.now()).await?)
}

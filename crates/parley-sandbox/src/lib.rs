//! `parley-sandbox` — a stand-in for Meta's WhatsApp Cloud API (PRODUCT.md §9), in-process for
//! tests and as `parley sandbox` for people. It plays:
//! - part 1: business numbers, customers who write any message type, signed webhook deliveries
//!   with batching, duplicates, reordering, delays and retries until acknowledged, and media
//!   served like the Graph API serves it;
//! - part 2: the send endpoint as Meta answers it, and the status lifecycle;
//! - part 3: template management (create, review, edit, delete, quality, pauses), the phone
//!   number node, the business profile, and messaging limit tiers under the current (per
//!   portfolio) or the 2023 (per number) rules.
//!
//! Time-based transitions (pause expiry, tier upgrades, flagged numbers) read the injected
//! [`Clock`] and happen in [`Sandbox::tick`], which a background task calls every second; tests
//! with a `ManualClock` advance it and call `tick()` themselves.
//!
//! - `customer.rs` — Meta-shaped inbound messages.
//! - `emitter.rs` — signed webhook posts with retries.
//! - `business.rs` — the send endpoint and status lifecycle.
//! - `templates.rs`, `template_api.rs` — template lifecycle and its Graph endpoints.
//! - `numbers.rs`, `profile.rs` — number state, quality, tiers; the business profile.
//! - `resumable.rs` — the Resumable Upload API (handles for template samples and photos).
//! - `graph.rs`, `control.rs` — the Graph API router and the HTTP control API.
//! - `dialogflow/` — Google's token endpoint and Dialogflow's `detectIntent`, for bots.
//! - `stripe.rs` — Stripe's few endpoints fees top-ups use, its payment page and signed events.
//! - `analytics.rs` — `pricing_analytics`: what the sandbox charged, per day, for reconciliation.
//! - `twilio.rs` — Twilio's Messages API, status callbacks and customers writing through Twilio.
//! - `dialog360.rs` — 360dialog's proxy of the Cloud API (its key, paths and webhook set-up).
//! - `messagebird.rs` — MessageBird's Conversations API, its signed posts and template list.

mod analytics;
mod business;
mod control;
pub mod customer;
mod dialog360;
mod dialogflow;
pub mod emitter;
mod graph;
mod messagebird;
mod numbers;
mod profile;
mod resumable;
pub mod samples;
mod stripe;
mod template_api;
mod templates;
mod twilio;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use parley_core::{Clock, SystemClock};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use business::{Fault, NumberPolicy, SandboxTemplate, Sent};
pub use customer::{Customer, Say};
pub use dialog360::Dialog360Webhook;
pub use dialogflow::DialogflowQuery;
pub use emitter::{Delivery, EmitterConfig, EmitterStats, Signing};
pub use messagebird::{MessageBirdChannel, MessageBirdSent};
pub use numbers::LimitRules;
pub use resumable::UploadedSample;
pub use stripe::{StripeDelivery, StripeHook};
pub use templates::{Decision, ReviewMode, ReviewPolicy};
pub use twilio::{TwilioNumber, TwilioSent};

use crate::emitter::Emitter;

/// The Graph API version the sandbox answers under.
pub const GRAPH_VERSION: &str = "v24.0";

/// Why a control call (review, quality, tier…) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// No such template, number or account.
    NotFound(String),
    /// The value or the current state does not allow it.
    Invalid(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NotFound(what) => write!(f, "not found: {what}"),
            ControlError::Invalid(why) => write!(f, "invalid: {why}"),
        }
    }
}

impl std::error::Error for ControlError {}

/// A business number registered with the sandbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Number {
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    pub access_token: String,
    pub app_secret: String,
    /// Where webhooks go (the app's callback URL).
    pub webhook_url: String,
}

/// One update to put in a webhook.
#[derive(Clone, Debug)]
pub enum Item {
    Message {
        phone_number_id: String,
        customer: Customer,
        message: Value,
    },
    Status {
        phone_number_id: String,
        status: Value,
    },
    /// Any other field (`message_template_status_update`, `user_preferences`, …) with its value.
    Change {
        waba_id: String,
        field: String,
        value: Value,
    },
}

impl Item {
    fn id(&self) -> Option<String> {
        match self {
            Item::Message { message, .. } => message.get("id").and_then(Value::as_str).map(str::to_owned),
            Item::Status { status, .. } => Some(format!(
                "{}:{}",
                status["id"].as_str().unwrap_or_default(),
                status["status"].as_str().unwrap_or_default()
            )),
            Item::Change { .. } => None,
        }
    }
}

/// How a list of items becomes posts.
#[derive(Clone, Debug)]
pub struct Batching {
    /// Items per post (Meta: up to 1,000).
    pub per_post: usize,
    /// Post every batch twice.
    pub duplicate: bool,
    /// Post the batches in reverse order.
    pub reverse: bool,
    pub delay: Duration,
    /// Sign with the wrong secret.
    pub forge: bool,
}

impl Default for Batching {
    fn default() -> Self {
        Batching { per_post: 1000, duplicate: false, reverse: false, delay: Duration::ZERO, forge: false }
    }
}

/// The `messages` change of one number inside a webhook being built.
struct NumberChange {
    number: Number,
    contacts: Vec<Value>,
    messages: Vec<Value>,
    statuses: Vec<Value>,
}

#[derive(Clone)]
struct StoredMedia {
    bytes: Vec<u8>,
    mime_type: String,
}

pub(crate) struct Inner {
    numbers: Mutex<HashMap<String, Number>>,
    media: Mutex<HashMap<String, StoredMedia>>,
    /// Download token → (media id, expiry in clock seconds).
    urls: Mutex<HashMap<String, (String, i64)>>,
    /// Media id → how many more downloads fail with a 500.
    media_failures: Mutex<HashMap<String, u32>>,
    emitter: Arc<Emitter>,
    clock: Arc<dyn Clock>,
    next_id: AtomicU64,
    base_url: String,
    business: Mutex<business::BusinessState>,
    /// Lock order: `business` may be held while taking `templates`, `accounts` or `numbers`;
    /// `templates` and `accounts` are never held together.
    templates: Mutex<templates::TemplateBook>,
    accounts: Mutex<numbers::Accounts>,
    uploads: Mutex<resumable::Uploads>,
    dialogflow: Mutex<dialogflow::Fake>,
    stripe: Mutex<stripe::FakeStripe>,
    analytics: Mutex<analytics::Analytics>,
    twilio: Mutex<twilio::FakeTwilio>,
    dialog360: Mutex<dialog360::FakeDialog360>,
    messagebird: Mutex<messagebird::FakeMessageBird>,
}

/// A running sandbox.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

pub struct SandboxConfig {
    pub listen: SocketAddr,
    pub clock: Arc<dyn Clock>,
    pub emitter: EmitterConfig,
    /// Call [`Sandbox::tick`] every second by itself (on by default). Tests that decide when
    /// time-driven changes (pauses ending, tier upgrades) happen turn it off.
    pub auto_tick: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            clock: Arc::new(SystemClock),
            emitter: EmitterConfig::default(),
            auto_tick: true,
        }
    }
}

impl Sandbox {
    /// Starts the sandbox's HTTP server (Graph API + control API) and its webhook emitter.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            numbers: Mutex::default(),
            media: Mutex::default(),
            urls: Mutex::default(),
            media_failures: Mutex::default(),
            emitter: Emitter::start(config.emitter),
            clock: config.clock,
            next_id: AtomicU64::new(1),
            base_url: format!("http://{addr}"),
            business: Mutex::default(),
            templates: Mutex::default(),
            accounts: Mutex::default(),
            uploads: Mutex::default(),
            dialogflow: Mutex::default(),
            stripe: Mutex::default(),
            analytics: Mutex::default(),
            twilio: Mutex::default(),
            dialog360: Mutex::default(),
            messagebird: Mutex::default(),
        });
        let app = graph::router(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        // People using the real clock get pauses and tiers moving on their own; weak, so the
        // task ends with the sandbox.
        let weak = Arc::downgrade(&inner);
        let auto_tick = config.auto_tick;
        tokio::spawn(async move {
            if !auto_tick {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match weak.upgrade() {
                    Some(inner) => inner.tick(),
                    None => break,
                }
            }
        });
        Ok(Sandbox { inner, addr })
    }

    /// Stripe's API base for Parley's `[stripe] api_base` (the key and where events go are set
    /// with [`Sandbox::configure_stripe`]).
    pub fn stripe_api_base(&self) -> String {
        format!("{}/stripe", self.inner.base_url)
    }

    pub fn configure_stripe(&self, hook: StripeHook) {
        self.inner.configure_stripe(hook);
    }

    /// The next `times` off-session charges are declined (insufficient funds).
    pub fn decline_stripe(&self, times: u32) {
        self.inner.decline_stripe(times);
    }

    /// The rate card the sandbox charges by in `pricing_analytics` (none: everything at zero).
    pub fn set_rate_card(&self, card: parley_core::fees::card::RateCard) {
        self.inner.analytics.lock().expect("analytics").card = Some(card);
    }

    /// Makes `pricing_analytics` disagree: one more message of `category` charged `cost` on
    /// `waba_id` now (a planted difference for reconciliation tests).
    pub fn plant_priced_message(&self, waba_id: &str, category: &str, cost: parley_core::fees::Micros) {
        let at = self.inner.clock.now().as_secs();
        self.inner.analytics.lock().expect("analytics").priced.push(analytics::Priced {
            at,
            waba_id: waba_id.to_owned(),
            country: "BR".into(),
            category: category.to_owned(),
            pricing_type: "regular".into(),
            cost,
        });
    }

    /// Every webhook the sandbox's Stripe posted, oldest first.
    pub fn stripe_deliveries(&self) -> Vec<StripeDelivery> {
        self.inner.stripe.lock().expect("stripe").deliveries.clone()
    }

    /// What a channel's `graph_base_url` should be to talk to this sandbox.
    pub fn graph_base_url(&self) -> String {
        format!("{}/{GRAPH_VERSION}", self.inner.base_url)
    }

    /// The sandbox service account's key file (JSON), for a Dialogflow bot: its token URI is
    /// this sandbox's fake of Google's token endpoint; its project is `parley-sandbox`.
    pub fn dialogflow_key(&self) -> String {
        dialogflow::service_account_key(&self.inner.base_url).to_string()
    }

    /// What a bot's Dialogflow `endpoint` should be to reach this sandbox.
    pub fn dialogflow_endpoint(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Every `detectIntent` call the fake agent heard (failed ones too), in order.
    pub fn dialogflow_queries(&self) -> Vec<DialogflowQuery> {
        self.inner.dialogflow_queries()
    }

    /// Makes every `detectIntent` call take this long (the query is heard at once).
    pub fn slow_dialogflow(&self, latency: Duration) {
        self.inner.slow_dialogflow(latency);
    }

    /// Makes the next `times` `detectIntent` calls fail with a 503.
    pub fn fail_dialogflow(&self, times: u32) {
        self.inner.fail_dialogflow(times);
    }

    /// Registers a number (its quality, status, tier and profile start at their defaults).
    pub fn add_number(&self, number: Number) {
        self.inner.add_number(number);
    }

    /// Runs the time-based transitions now: paused templates whose pause ran out are approved
    /// again, messaging limits are upgraded (or, under the 2023 rules, flagged numbers
    /// downgraded), with their webhooks.
    pub fn tick(&self) {
        self.inner.tick();
    }

    pub fn number(&self, phone_number_id: &str) -> Option<Number> {
        self.inner.numbers.lock().expect("numbers").get(phone_number_id).cloned()
    }

    /// Stores a file customers can send; returns its media id.
    pub fn add_media(&self, bytes: Vec<u8>, mime_type: &str) -> String {
        self.inner.add_media(bytes, mime_type)
    }

    /// Meta's checksum of a stored file (base64 SHA-256).
    pub fn media_sha256(&self, media_id: &str) -> Option<String> {
        self.inner
            .media
            .lock()
            .expect("media")
            .get(media_id)
            .map(|m| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&m.bytes)))
    }

    /// Makes the next `times` downloads of this media fail with a 500.
    pub fn fail_media(&self, media_id: &str, times: u32) {
        self.inner.media_failures.lock().expect("failures").insert(media_id.to_owned(), times);
    }

    /// A fresh `wamid.…`.
    pub fn message_id(&self) -> String {
        self.inner.message_id()
    }

    /// The customer's message as an item, stamped now.
    pub fn message(&self, phone_number_id: &str, customer: &Customer, say: &Say) -> Item {
        self.message_at(phone_number_id, customer, say, self.inner.clock.now().as_secs())
    }

    /// The customer's message as an item, with a given provider timestamp (Unix seconds). The
    /// sandbox remembers it: the 24 h window of this user opens, and the id can be marked read.
    pub fn message_at(&self, phone_number_id: &str, customer: &Customer, say: &Say, timestamp: i64) -> Item {
        let id = self.message_id();
        {
            let mut b = self.inner.business.lock().expect("business state");
            b.inbound_ids.insert(id.clone());
            if let Some(wa) = &customer.wa_id {
                let last = b.last_inbound.entry((phone_number_id.to_owned(), wa.clone())).or_insert(timestamp);
                *last = (*last).max(timestamp);
            }
        }
        Item::Message {
            phone_number_id: phone_number_id.to_owned(),
            customer: customer.clone(),
            message: say.message_json(customer, &id, timestamp),
        }
    }

    /// A status report for a message the business sent.
    pub fn status(
        &self,
        phone_number_id: &str,
        message_id: &str,
        status: &str,
        recipient: &str,
        errors: Option<Value>,
    ) -> Item {
        let mut s = json!({"id": message_id, "status": status, "timestamp": self.inner.clock.now().as_secs().to_string(), "recipient_id": recipient});
        if let Some(e) = errors {
            s["errors"] = e;
        }
        Item::Status { phone_number_id: phone_number_id.to_owned(), status: s }
    }

    /// The customer writes: one webhook, delivered now. Returns the message id.
    pub fn say(&self, phone_number_id: &str, customer: &Customer, say: Say) -> String {
        let item = self.message(phone_number_id, customer, &say);
        let id = item.id().unwrap_or_default();
        self.deliver(vec![item], Batching::default());
        id
    }

    /// Turns `items` into signed posts and queues them.
    pub fn deliver(&self, items: Vec<Item>, batching: Batching) {
        let mut deliveries = self.inner.build(&items, batching.per_post.max(1), batching.forge);
        if batching.reverse {
            deliveries.reverse();
        }
        if batching.duplicate {
            deliveries = deliveries.into_iter().flat_map(|d| [d.clone(), d]).collect();
        }
        self.inner.emitter.enqueue(deliveries, batching.delay);
    }

    /// How this number behaves (throughput, pair limit, automatic statuses…).
    pub fn set_policy(&self, phone_number_id: &str, policy: NumberPolicy) {
        self.inner.business.lock().expect("business state").policies.insert(phone_number_id.to_owned(), policy);
    }

    /// Makes the next sends on this number fail as given, in order.
    pub fn inject(&self, phone_number_id: &str, faults: impl IntoIterator<Item = Fault>) {
        self.inner
            .business
            .lock()
            .expect("business state")
            .faults
            .entry(phone_number_id.to_owned())
            .or_default()
            .extend(faults);
    }

    /// Puts a template in its account as is (no review, no webhook), replacing one of the same
    /// name and language. It gets an id and is listed and sent like created ones.
    pub fn add_template(&self, template: SandboxTemplate) {
        let now = self.inner.clock.now().as_secs();
        let id = self.inner.template_id();
        self.inner.templates.lock().expect("templates").put(template, id, now);
    }

    /// The user pressed "stop promotions" for this number (no webhook: see `Item::Change`).
    pub fn stop_marketing(&self, phone_number_id: &str, wa_id: &str) {
        self.inner
            .business
            .lock()
            .expect("business state")
            .marketing_stopped
            .push((phone_number_id.to_owned(), wa_id.to_owned()));
    }

    /// Every accepted send, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.inner.business.lock().expect("business state").sent.iter().map(|s| Sent::clone(s)).collect()
    }

    /// Read receipts asked for, in order: (message id, with the typing indicator).
    pub fn reads(&self) -> Vec<(String, bool)> {
        self.inner.business.lock().expect("business state").reads.clone()
    }

    /// How many sends were accepted so far (cheaper than `sent()` for progress).
    pub fn sent_count(&self) -> usize {
        self.inner.business.lock().expect("business state").sent.len()
    }

    /// Posts a status webhook for a message the business sent (tests driving statuses by hand).
    pub fn report(&self, phone_number_id: &str, message_id: &str, to: &str, status: &str, error: Option<i64>) {
        self.inner.report(phone_number_id, message_id, to, status, error);
    }

    pub fn stats(&self) -> EmitterStats {
        self.inner.emitter.stats()
    }

    /// Webhook posts queued or in flight.
    pub fn pending_webhooks(&self) -> usize {
        self.inner.emitter.pending()
    }

    /// Webhook posts sent and not answered yet.
    pub fn webhooks_in_flight(&self) -> usize {
        self.inner.emitter.in_flight()
    }

    /// Waits until every delivery was acknowledged (or given up); false on timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.inner.emitter.wait_idle(timeout).await
    }
}

impl Inner {
    fn message_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("wamid.SBX{:016X}{}", n, rand::random::<u32>())
    }

    pub(crate) fn add_number(&self, number: Number) {
        self.accounts.lock().expect("accounts").register(&number.phone_number_id);
        self.numbers.lock().expect("numbers").insert(number.phone_number_id.clone(), number);
    }

    fn tick(&self) {
        let mut items = self.tick_templates();
        items.extend(self.tick_limits());
        self.emit(items);
    }

    /// Posts account-level changes now: one post per run of items of the same WABA, so the
    /// changes of one event (a quality drop and the pause it causes) arrive together, in order.
    pub(crate) fn emit(&self, items: Vec<Item>) {
        let waba = |item: &Item| match item {
            Item::Change { waba_id, .. } => Some(waba_id.clone()),
            _ => None,
        };
        let mut start = 0;
        while start < items.len() {
            let key = waba(&items[start]);
            let len = items[start..].iter().take_while(|i| waba(i) == key).count();
            let deliveries = self.build(&items[start..start + len], len, false);
            self.emitter.enqueue(deliveries, Duration::ZERO);
            start += len;
        }
    }

    /// A fresh template id: numeric like Meta's, in a range apart from media ids.
    pub(crate) fn template_id(&self) -> u64 {
        1_600_000_000_000_000 + self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn add_media(&self, bytes: Vec<u8>, mime_type: &str) -> String {
        let id = format!("{}", 1_000_000_000_000u64 + self.next_id.fetch_add(1, Ordering::Relaxed));
        self.media.lock().expect("media").insert(id.clone(), StoredMedia { bytes, mime_type: mime_type.to_owned() });
        id
    }

    fn number_for(&self, item: &Item) -> Option<Number> {
        let numbers = self.numbers.lock().expect("numbers");
        match item {
            Item::Message { phone_number_id, .. } | Item::Status { phone_number_id, .. } => {
                numbers.get(phone_number_id).cloned()
            }
            Item::Change { waba_id, .. } => numbers.values().find(|n| &n.waba_id == waba_id).cloned(),
        }
    }

    /// Posts of at most `per_post` items; each goes to the URL of its first item's number.
    fn build(&self, items: &[Item], per_post: usize, forge: bool) -> Vec<Delivery> {
        items
            .chunks(per_post)
            .filter_map(|chunk| {
                let first = self.number_for(&chunk[0])?;
                // A number behind 360dialog posts where 360dialog was told to, as it signs.
                let (url, signing) = match self.dialog360_hook(&first.phone_number_id) {
                    Some(hook) => hook?,
                    None => (first.webhook_url.clone(), Signing::Meta { app_secret: first.app_secret.clone() }),
                };
                Some(Delivery {
                    url,
                    signing,
                    body: self.webhook_body(chunk).to_string().into_bytes(),
                    item_ids: chunk.iter().filter_map(Item::id).collect(),
                    forge,
                })
            })
            .collect()
    }

    /// The webhook JSON for `items`: an entry per WABA, a change per number (and per raw change).
    fn webhook_body(&self, items: &[Item]) -> Value {
        let mut entries: Vec<(String, Vec<Value>)> = Vec::new();
        // Account and template fields carry `entry[].time`; `messages` ones do not (spec §2.1).
        let mut timed: Vec<String> = Vec::new();
        let mut push = |waba: &str, change: Value| match entries.iter_mut().find(|(w, _)| w == waba) {
            Some((_, changes)) => changes.push(change),
            None => entries.push((waba.to_owned(), vec![change])),
        };
        let mut by_number: Vec<NumberChange> = Vec::new();
        for item in items {
            match item {
                Item::Change { waba_id, field, value } => {
                    timed.push(waba_id.clone());
                    push(waba_id, json!({"field": field, "value": value}))
                }
                _ => {
                    let Some(number) = self.number_for(item) else { continue };
                    let slot = match by_number.iter().position(|c| c.number.phone_number_id == number.phone_number_id) {
                        Some(i) => i,
                        None => {
                            by_number.push(NumberChange {
                                number,
                                contacts: vec![],
                                messages: vec![],
                                statuses: vec![],
                            });
                            by_number.len() - 1
                        }
                    };
                    let NumberChange { contacts, messages, statuses, .. } = &mut by_number[slot];
                    match item {
                        Item::Message { customer, message, .. } => {
                            let c = customer.contact_json();
                            if !contacts.contains(&c) {
                                contacts.push(c);
                            }
                            messages.push(message.clone());
                        }
                        Item::Status { status, .. } => statuses.push(status.clone()),
                        Item::Change { .. } => {}
                    }
                }
            }
        }
        for NumberChange { number, contacts, messages, statuses } in by_number {
            let mut value = json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": number.display_phone_number, "phone_number_id": number.phone_number_id},
            });
            if !messages.is_empty() {
                value["contacts"] = json!(contacts);
                value["messages"] = json!(messages);
            }
            if !statuses.is_empty() {
                value["statuses"] = json!(statuses);
            }
            push(&number.waba_id, json!({"field": "messages", "value": value}));
        }
        let now = self.clock.now().as_secs();
        let entry: Vec<Value> = entries
            .into_iter()
            .map(|(id, changes)| match timed.contains(&id) {
                true => json!({"id": id, "time": now, "changes": changes}),
                false => json!({"id": id, "changes": changes}),
            })
            .collect();
        json!({"object": "whatsapp_business_account", "entry": entry})
    }
}

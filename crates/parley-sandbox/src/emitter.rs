//! The webhook emitter: signs batches with the number's app secret and posts them to the app
//! under test, retrying with backoff until it answers 200 (Meta retries for 7 days; here the
//! schedule is scaled down and configurable). Batches can be duplicated, reordered and delayed.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_providers::meta::signature;
use rand::Rng;
use tokio::sync::{Notify, Semaphore};

/// How the emitter retries and how many posts it has in flight.
#[derive(Clone, Debug)]
pub struct EmitterConfig {
    /// First retry delay; doubles each attempt up to `max_retry_delay`.
    pub retry_base: Duration,
    pub max_retry_delay: Duration,
    /// Give up on a batch after this long (Meta: 7 days).
    pub give_up_after: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
}

impl Default for EmitterConfig {
    fn default() -> Self {
        EmitterConfig {
            retry_base: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(5),
            give_up_after: Duration::from_secs(7 * 24 * 3600),
            concurrency: 4,
            timeout: Duration::from_secs(10),
        }
    }
}

/// One POST to make.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub url: String,
    pub signing: Signing,
    pub body: Vec<u8>,
    /// Ids of the messages and statuses inside (for "was it acknowledged?" questions).
    pub item_ids: Vec<String>,
    /// Send with a wrong signature (to test that forgeries are refused).
    pub forge: bool,
}

/// How a post proves where it comes from, as each provider does it.
#[derive(Clone, Debug)]
pub enum Signing {
    /// Meta's JSON, signed with the app secret in `X-Hub-Signature-256`.
    Meta { app_secret: String },
    /// Twilio's form, signed with the Auth Token in `X-Twilio-Signature`.
    Twilio { auth_token: String },
    /// 360dialog: Meta's JSON with the headers set by `/v1/configs/webhook`, and the partner's
    /// `x-360dialog-signature` when a partner secret is set.
    Dialog360 { headers: Vec<(String, String)>, partner_secret: Option<String> },
    /// MessageBird's JSON, signed in `MessageBird-Signature-JWT` with the signing key: a fresh
    /// token (its own `jti`) on every attempt, valid five minutes from `issued_at`.
    MessageBird { signing_key: String, issued_at: i64 },
}

struct Pending {
    delivery: Delivery,
    attempts: u32,
    first_try: Instant,
    not_before: Instant,
}

/// What happened so far.
#[derive(Clone, Debug, Default)]
pub struct EmitterStats {
    pub posts: u64,
    pub acked: u64,
    pub refused: u64,
    pub errors: u64,
    pub given_up: u64,
    /// Status code of each answered post, in order (for tests about rejections).
    pub statuses: Vec<u16>,
    /// Items (message/status ids) inside at least one acknowledged post.
    pub acked_items: HashSet<String>,
}

pub struct Emitter {
    http: reqwest::Client,
    config: EmitterConfig,
    queue: Mutex<VecDeque<Pending>>,
    in_flight: Mutex<usize>,
    wakeup: Notify,
    idle: Notify,
    stats: Mutex<EmitterStats>,
}

impl Emitter {
    pub fn start(config: EmitterConfig) -> Arc<Emitter> {
        let http = reqwest::Client::builder().timeout(config.timeout).build().unwrap_or_default();
        let emitter = Arc::new(Emitter {
            http,
            config,
            queue: Mutex::new(VecDeque::new()),
            in_flight: Mutex::new(0),
            wakeup: Notify::new(),
            idle: Notify::new(),
            stats: Mutex::new(EmitterStats::default()),
        });
        tokio::spawn(Emitter::run(emitter.clone()));
        emitter
    }

    /// Queues deliveries, each after `delay`.
    pub fn enqueue(&self, deliveries: Vec<Delivery>, delay: Duration) {
        let now = Instant::now();
        let mut queue = self.queue.lock().expect("emitter queue");
        for delivery in deliveries {
            queue.push_back(Pending { delivery, attempts: 0, first_try: now, not_before: now + delay });
        }
        drop(queue);
        self.wakeup.notify_one();
    }

    pub fn stats(&self) -> EmitterStats {
        self.stats.lock().expect("emitter stats").clone()
    }

    /// Posts sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        *self.in_flight.lock().expect("in flight")
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().expect("emitter queue").len() + *self.in_flight.lock().expect("in flight")
    }

    /// Waits until every queued delivery was acknowledged or given up; false on timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.pending() == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), self.idle.notified()).await;
        }
    }

    async fn run(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        loop {
            let next = {
                let mut queue = self.queue.lock().expect("emitter queue");
                let now = Instant::now();
                match queue.iter().position(|p| p.not_before <= now) {
                    Some(i) => queue.remove(i),
                    None => None,
                }
            };
            let Some(pending) = next else {
                let wait = self.next_due().unwrap_or(Duration::from_millis(200));
                let _ = tokio::time::timeout(wait, self.wakeup.notified()).await;
                continue;
            };
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            *self.in_flight.lock().expect("in flight") += 1;
            let this = self.clone();
            tokio::spawn(async move {
                this.post(pending).await;
                *this.in_flight.lock().expect("in flight") -= 1;
                drop(permit);
                this.idle.notify_waiters();
                this.wakeup.notify_one();
            });
        }
    }

    fn next_due(&self) -> Option<Duration> {
        let queue = self.queue.lock().expect("emitter queue");
        let now = Instant::now();
        queue.iter().map(|p| p.not_before.saturating_duration_since(now)).min()
    }

    async fn post(&self, mut pending: Pending) {
        let d = &pending.delivery;
        let request = match &d.signing {
            Signing::Meta { app_secret } => {
                let secret = if d.forge { "not-the-app-secret" } else { app_secret.as_str() };
                let sig = signature::sign(secret, &d.body);
                self.http.post(&d.url).header("content-type", "application/json").header(signature::HEADER, sig)
            }
            Signing::Dialog360 { headers, partner_secret } => {
                let mut request = self.http.post(&d.url).header("content-type", "application/json");
                for (name, value) in headers {
                    request = request.header(name, if d.forge { "not-the-token" } else { value.as_str() });
                }
                if let Some(secret) = partner_secret {
                    let sig = parley_providers::dialog360::sign(secret, &d.body);
                    request = request.header(parley_providers::dialog360::SIGNATURE_HEADER, sig);
                }
                request
            }
            Signing::MessageBird { signing_key, issued_at } => {
                use parley_providers::messagebird::signature as messagebird;
                let key = if d.forge { "not-the-signing-key" } else { signing_key.as_str() };
                let now = parley_core::Timestamp::from_secs(*issued_at);
                let jti = format!("{:032x}", rand::random::<u128>());
                let token = messagebird::sign(key, &d.url, &d.body, now, 300, Some(jti));
                self.http.post(&d.url).header("content-type", "application/json").header(messagebird::JWT_HEADER, token)
            }
            Signing::Twilio { auth_token: token } => {
                use parley_providers::twilio::signature as twilio;
                let token = if d.forge { "not-the-auth-token" } else { token.as_str() };
                let form: Vec<(String, String)> = form_urlencoded::parse(&d.body).into_owned().collect();
                let sig = twilio::sign(token, twilio::Algorithm::Sha1, &d.url, &form);
                self.http
                    .post(&d.url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header(twilio::HEADER, sig)
            }
        };
        let result = request.body(d.body.clone()).send().await;
        let mut stats = self.stats.lock().expect("emitter stats");
        stats.posts += 1;
        match result {
            Ok(resp) if resp.status().is_success() => {
                stats.acked += 1;
                stats.statuses.push(resp.status().as_u16());
                stats.acked_items.extend(d.item_ids.iter().cloned());
                return;
            }
            Ok(resp) => {
                stats.refused += 1;
                stats.statuses.push(resp.status().as_u16());
            }
            Err(_) => stats.errors += 1,
        }
        // A forged post is refused on purpose: do not retry it.
        if d.forge {
            return;
        }
        pending.attempts += 1;
        if pending.first_try.elapsed() >= self.config.give_up_after {
            stats.given_up += 1;
            return;
        }
        drop(stats);
        let base =
            self.config.retry_base.saturating_mul(1 << pending.attempts.min(16)).min(self.config.max_retry_delay);
        let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 4);
        pending.not_before = Instant::now() + base + Duration::from_millis(jitter);
        self.queue.lock().expect("emitter queue").push_back(pending);
    }
}

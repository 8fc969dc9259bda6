//! The dispatcher (ARCHITECTURE.md "Out"): claims queued messages from the outbox (only the
//! oldest unfinished one of each conversation, so order is kept), paces each channel at its
//! throughput and each recipient at Meta's pair limit, sends outside any transaction, and records
//! the outcome: `sent` with the provider id, a retry later (throughput, overload, 5xx) with
//! exponential backoff and jitter (honouring `Retry-After`), `failed` with Meta's code and title,
//! or `unknown` when the request may have been sent (timeouts, a crash: never resent by itself).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::Timestamp;
use parley_core::channel::{Channel, ChannelSecrets};
use parley_core::ids::ChannelId;
use parley_core::message::ProviderError;
use parley_providers::meta::client::GraphClient;
use parley_providers::meta::send::{SendError, message_body};
use parley_store::OutboxJob;
use rand::Rng;
use tokio::sync::{Semaphore, watch};

use crate::AppState;

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// A send without an answer after this long is `unknown` (it may have been delivered).
    pub send_timeout: Duration,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Give up retrying after this many attempts.
    pub max_attempts: i64,
    /// Pace a little under the configured throughput, so network jitter cannot push a
    /// one-second window over it.
    pub pacing_margin: f64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig { send_timeout: Duration::from_secs(30), concurrency: 64, max_attempts: 8, pacing_margin: 0.97 }
    }
}

/// Meta's pair rate limit: about one message every 6 s to the same user, bursts of up to 45.
const PAIR_BURST: f64 = 45.0;
const PAIR_REFILL_SECS: f64 = 6.0;
const BATCH: u32 = 200;

/// Spacing between sends on one channel.
struct Pacer {
    next: Instant,
}

/// A token bucket per recipient.
struct Bucket {
    tokens: f64,
    at: Instant,
}

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let config = state.dispatch.clone();
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut pacers: HashMap<ChannelId, Pacer> = HashMap::new();
    let mut buckets: HashMap<(ChannelId, String), Bucket> = HashMap::new();
    let mut channels: HashMap<ChannelId, (Instant, Channel, ChannelSecrets)> = HashMap::new();
    let mut last_expiry = Instant::now() - Duration::from_secs(60);
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Jobs whose process died mid-send become unknown (first thing after a restart).
        if last_expiry.elapsed() > Duration::from_secs(5) {
            last_expiry = Instant::now();
            if let Err(e) = state.store.expire_outbox_leases(state.clock.now()).await {
                tracing::warn!(error = %e, "dispatcher: lease expiry failed");
            }
        }
        let now = state.clock.now();
        let lease = lease_for(&config);
        let jobs = match state.store.claim_outbox(now, now.plus_secs(lease), BATCH).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "dispatcher: claim failed");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = state.dispatch_wakeup.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let claimed_at = Instant::now();
        for job in jobs {
            // A job that waited half its lease for its turn goes back to the queue unsent, so its
            // lease cannot run out while it is still about to be sent.
            if claimed_at.elapsed() > Duration::from_secs(lease as u64 / 2) {
                let now = state.clock.now();
                let _ = state.store.outbox_retry(job.id, "waited too long for its turn; queued again", now, now).await;
                continue;
            }
            let Some((channel, secrets)) = channel_for(&state, &mut channels, &job).await else { continue };
            // The recipient's bucket: too many messages to one person waits its turn.
            let bucket = buckets
                .entry((job.channel_id, job.recipient.clone()))
                .or_insert(Bucket { tokens: PAIR_BURST, at: Instant::now() });
            let elapsed = bucket.at.elapsed().as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed / PAIR_REFILL_SECS).min(PAIR_BURST);
            bucket.at = Instant::now();
            if bucket.tokens < 1.0 {
                let wait = ((1.0 - bucket.tokens) * PAIR_REFILL_SECS).ceil() as i64;
                let _ = state
                    .store
                    .outbox_retry(
                        job.id,
                        "paced: pair rate limit",
                        state.clock.now().plus_secs(wait.max(1)),
                        state.clock.now(),
                    )
                    .await;
                continue;
            }
            bucket.tokens -= 1.0;
            // The channel's pace.
            let spacing = Duration::from_secs_f64(1.0 / (channel.throughput.max(1) as f64 * config.pacing_margin));
            let pacer = pacers.entry(channel.id).or_insert(Pacer { next: Instant::now() });
            let at = pacer.next.max(Instant::now());
            pacer.next = at + spacing;
            tokio::time::sleep_until(at.into()).await;
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let (state, config) = (state.clone(), config.clone());
            let (channel, secrets) = (channel.clone(), secrets.clone());
            tokio::spawn(async move {
                deliver(&state, &config, &channel, &secrets, job).await;
                drop(permit);
            });
        }
    }
}

fn lease_for(config: &DispatchConfig) -> i64 {
    // Longer than a send can take (the timeout bounds it), so a live dispatcher never sees its
    // own job expire.
    config.send_timeout.as_secs() as i64 + 10
}

/// The job's channel and its credentials, cached for a minute.
async fn channel_for(
    state: &AppState,
    cache: &mut HashMap<ChannelId, (Instant, Channel, ChannelSecrets)>,
    job: &OutboxJob,
) -> Option<(Channel, ChannelSecrets)> {
    if let Some((at, c, s)) = cache.get(&job.channel_id)
        && at.elapsed() < Duration::from_secs(60)
    {
        return Some((c.clone(), s.clone()));
    }
    let now = state.clock.now();
    let loaded = async {
        let channel =
            state.store.channel(job.workspace_id, job.channel_id).await.ok().filter(|c| c.deleted_at.is_none())?;
        let secrets = state.channel_secrets(&channel).ok()?;
        Some((channel, secrets))
    }
    .await;
    match loaded {
        Some((c, s)) => {
            cache.insert(job.channel_id, (Instant::now(), c.clone(), s.clone()));
            Some((c, s))
        }
        None => {
            let error = ProviderError {
                code: 0,
                title: "the channel cannot be used (deleted, or its credentials cannot be opened)".into(),
                details: None,
            };
            let _ = state.store.outbox_failed(job.id, error, now).await;
            None
        }
    }
}

/// Sends one job and records what happened.
async fn deliver(
    state: &AppState,
    config: &DispatchConfig,
    channel: &Channel,
    secrets: &ChannelSecrets,
    job: OutboxJob,
) {
    // The last check before the request leaves: the job must still be ours. If its lease ran out
    // (this process stalled) it may already be queued elsewhere, and it must not go out twice.
    match state.store.outbox_sending(job.id, state.clock.now()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(message = job.message_id.get(), "send skipped: the job's lease ran out before it went out");
            return;
        }
        Err(e) => {
            tracing::warn!(message = job.message_id.get(), error = %e, "send skipped: cannot mark it as sending");
            return;
        }
    }
    let client = GraphClient::new(state.http.clone(), &channel.graph_base_url, &secrets.access_token);
    let mut body = message_body(&job.recipient, &job.content, job.reply_to.as_deref());
    // Echoed in status webhooks; also lets a provider (or the sandbox) spot a duplicate send.
    body["biz_opaque_callback_data"] = serde_json::json!(format!("parley:{}", job.message_id));
    let result =
        match tokio::time::timeout(config.send_timeout, client.send_message(&channel.phone_number_id, &body)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Ambiguous(format!("no answer within {:?}", config.send_timeout))),
        };
    let now = state.clock.now();
    let recorded = match result {
        Ok(provider_id) => state.store.outbox_sent(job.id, &provider_id, now).await,
        Err(SendError::Permanent { code, title, details }) => {
            state.store.outbox_failed(job.id, ProviderError { code, title, details }, now).await
        }
        Err(SendError::Ambiguous(reason)) => state.store.outbox_unknown(job.id, &reason, now).await,
        Err(SendError::Retry { code, title, .. }) if job.attempts >= config.max_attempts => {
            let error = ProviderError {
                code: code.unwrap_or(0),
                title: format!("gave up after {} attempts: {title}", job.attempts),
                details: None,
            };
            state.store.outbox_failed(job.id, error, now).await
        }
        Err(SendError::Retry { code, title, after }) => {
            let at = retry_at(now, job.attempts, code, after);
            tracing::info!(message = job.message_id.get(), attempts = job.attempts, ?code, %title, "send will be retried");
            state.store.outbox_retry(job.id, &title, at, now).await
        }
    };
    if let Err(e) = recorded {
        // The lease will expire and the message become unknown: never sent twice.
        tracing::error!(message = job.message_id.get(), error = %e, "cannot record a send's outcome");
    }
}

/// When to try again: exponential backoff with jitter from 1 s, at least what the provider asked
/// (`Retry-After`), and 4^n seconds for the pair rate limit (131056) as Meta recommends.
pub fn retry_at(now: Timestamp, attempts: i64, code: Option<i64>, after: Option<Duration>) -> Timestamp {
    let n = attempts.clamp(1, 16) - 1;
    let base_ms: i64 = if code == Some(131_056) { 1000 * 4i64.pow(n.min(6) as u32) } else { 1000i64 << n.min(10) };
    let jitter = rand::rng().random_range(0..=base_ms / 4);
    let wait_ms = (base_ms + jitter).max(after.map_or(0, |a| a.as_millis() as i64)).min(3_600_000);
    now.plus_micros(wait_ms * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off() {
        let now = Timestamp::from_secs(0);
        let secs = |t: Timestamp| t.as_micros() as f64 / 1e6;
        let first = secs(retry_at(now, 1, Some(130_429), None));
        assert!((1.0..=1.25).contains(&first), "{first}");
        let fourth = secs(retry_at(now, 4, None, None));
        assert!((8.0..=10.0).contains(&fourth), "{fourth}");
        let pair = secs(retry_at(now, 3, Some(131_056), None));
        assert!((16.0..=20.0).contains(&pair), "4^2 s for the pair limit: {pair}");
        let told = secs(retry_at(now, 1, None, Some(Duration::from_secs(30))));
        assert!(told >= 30.0, "Retry-After is honoured: {told}");
        assert!(secs(retry_at(now, 40, None, None)) <= 3600.0);
    }
}

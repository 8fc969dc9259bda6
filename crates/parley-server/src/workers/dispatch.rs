//! The dispatcher (ARCHITECTURE.md "Out"). A supervisor starts one lane per channel with due
//! messages. A lane claims its channel's due jobs (only the oldest unfinished one of each
//! conversation, so order is kept), paces them at the channel's throughput and each recipient at
//! Meta's pair limit, marks each short wave `sending` just before it leaves, and sends outside
//! any transaction. The recorder writes outcomes in groups: `sent` with the provider id, a retry
//! later (throughput, overload, 5xx) with exponential backoff and jitter (honouring
//! `Retry-After`), `failed` with Meta's code and title, or `unknown` when the request may have
//! been sent (timeouts, a crash: never resent by itself).
//!
//! Lanes keep channels independent: a slow channel does not hold back a fast one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_core::Timestamp;
use parley_core::channel::{Channel, ChannelSecrets, Provider};
use parley_core::ids::ChannelId;
use parley_core::message::ProviderError;
use parley_providers::messagebird::send as messagebird_send;
use parley_providers::meta::send::{SendError, message_body};
use parley_providers::twilio::send as twilio_send;
use parley_store::{JobOutcome, OutboxJob, Viewer};
use rand::Rng;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::pacing::{Pace, Pacer, PairLimits};
use crate::AppState;

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// A send without an answer after this long is `unknown` (it may have been delivered).
    pub send_timeout: Duration,
    /// Sends in flight at once, all channels together.
    pub concurrency: usize,
    /// Give up retrying after this many attempts.
    pub max_attempts: i64,
    /// Pace a little under the configured throughput (95 %), so catching up and network
    /// jitter cannot push a one-second window over it.
    pub pacing_margin: f64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        // 1,000 messages/s with Graph answering in up to half a second needs 500 sends in flight.
        DispatchConfig { send_timeout: Duration::from_secs(30), concurrency: 512, max_attempts: 8, pacing_margin: 0.95 }
    }
}

/// Jobs a lane claims at once.
const BATCH: u32 = 200;
/// A wave: the jobs whose turns come within this time are marked `sending` together. A crash
/// leaves at most one wave `unknown` that had not actually left yet.
const WAVE: Duration = Duration::from_millis(50);
/// Outcomes written in one transaction at most.
const MAX_OUTCOMES_PER_COMMIT: usize = 500;
/// How long the recorder lets outcomes gather before writing them. A crash loses at most this
/// much of outcomes: those sends become `unknown` when their lease runs out, never resent.
const RECORD_LINGER: Duration = Duration::from_millis(20);

/// What the supervisor shares with its lanes and their sends.
struct Shared {
    slots: Arc<Semaphore>,
    pair_limits: Mutex<PairLimits>,
    /// Each channel's pacer outlives its lanes, so a new lane continues the old one's pace.
    pacers: Mutex<HashMap<ChannelId, Pacer>>,
    recorder: Recorder,
}

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let config = state.dispatch.clone();
    let (recorder, recorder_task) = Recorder::start(state.clone());
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
        pair_limits: Mutex::new(PairLimits::default()),
        pacers: Mutex::new(HashMap::new()),
        recorder,
    });
    let mut lanes: HashMap<ChannelId, JoinHandle<()>> = HashMap::new();
    let mut last_expiry = Instant::now() - Duration::from_secs(60);
    while !*shutdown.borrow() {
        // Jobs whose process died mid-send become unknown (first thing after a restart), and
        // claims that ran out go back to the queue.
        if last_expiry.elapsed() > Duration::from_secs(5) {
            last_expiry = Instant::now();
            if let Err(e) = state.store.expire_outbox_leases(state.clock.now()).await {
                tracing::warn!(error = %e, "dispatcher: lease expiry failed");
            }
        }
        lanes.retain(|_, lane| !lane.is_finished());
        match state.store.due_channels(state.clock.now()).await {
            Ok(channels) => {
                for channel in channels {
                    lanes.entry(channel).or_insert_with(|| {
                        tokio::spawn(lane(state.clone(), shared.clone(), channel, shutdown.clone()))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "dispatcher: cannot look for due messages"),
        }
        if lanes.is_empty() && shared.slots.available_permits() == config.concurrency.max(1) {
            state.dispatch_idle_passes.send_modify(|passes| *passes += 1);
        }
        tokio::select! {
            _ = state.dispatch_wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Stopping: lanes stop claiming; sends in flight finish (bounded by the send timeout) and
    // their outcomes are written before the process ends.
    for (_, lane) in lanes {
        let _ = lane.await;
    }
    let all = u32::try_from(config.concurrency.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(config.send_timeout + Duration::from_secs(1), shared.slots.acquire_many(all)).await;
    drop(shared);
    let _ = tokio::time::timeout(Duration::from_secs(10), recorder_task).await;
}

fn lease_for(config: &DispatchConfig) -> i64 {
    // Longer than a send can take (the timeout bounds it), so a live dispatcher never sees its
    // own job expire.
    config.send_timeout.as_secs() as i64 + 10
}

/// Sends one channel's due messages until there are none (or the process stops).
async fn lane(state: AppState, shared: Arc<Shared>, channel_id: ChannelId, shutdown: watch::Receiver<bool>) {
    let lease = lease_for(&state.dispatch);
    let mut pacer = shared.pacers.lock().expect("pacers").remove(&channel_id).unwrap_or(Pacer::new(Instant::now()));
    while !*shutdown.borrow() {
        let now = state.clock.now();
        let jobs = match state.store.claim_outbox(channel_id, now, now.plus_secs(lease), BATCH).await {
            Ok(jobs) if !jobs.is_empty() => jobs,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(channel = channel_id.get(), error = %e, "dispatcher: claim failed");
                break;
            }
        };
        // The channel is read again for every batch: a new throughput applies within a batch.
        let Some((channel, secrets)) = usable_channel(&state, &jobs[0]).await else {
            let error = ProviderError {
                code: 0,
                title: "the channel cannot be used (deleted, or its credentials cannot be opened)".into(),
                details: None,
            };
            for job in jobs {
                shared.recorder.record(JobOutcome::Failed { job: job.id, error: error.clone() }).await;
            }
            continue;
        };
        let batch = Batch { channel, secrets, claimed_at: Instant::now(), lease };
        send_batch(&state, &shared, &batch, jobs, &mut pacer, &shutdown).await;
    }
    shared.pacers.lock().expect("pacers").insert(channel_id, pacer);
}

/// A batch of one channel's jobs, claimed together.
struct Batch {
    channel: Channel,
    secrets: ChannelSecrets,
    claimed_at: Instant,
    /// Seconds the claim lasts.
    lease: i64,
}

/// Sends a claimed batch, a wave at a time, each send at its turn of the channel's pace.
async fn send_batch(
    state: &AppState,
    shared: &Arc<Shared>,
    batch: &Batch,
    jobs: Vec<OutboxJob>,
    pacer: &mut Pacer,
    shutdown: &watch::Receiver<bool>,
) {
    let pace = Pace::new(batch.channel.throughput, state.dispatch.pacing_margin);
    let wave_len = ((WAVE.as_secs_f64() / pace.spacing.as_secs_f64()).ceil() as usize).clamp(1, BATCH as usize);
    let mut jobs = jobs.into_iter();
    loop {
        let wave: Vec<OutboxJob> = jobs.by_ref().take(wave_len).collect();
        if wave.is_empty() {
            break;
        }
        if *shutdown.borrow() {
            // Never started: straight back to the queue.
            for job in wave.into_iter().chain(jobs.by_ref()) {
                release(shared, state, job.id, "the dispatcher stopped; queued again", 0).await;
            }
            break;
        }
        let ready = admit(state, shared, batch, wave).await;
        for job in start(state, &batch.channel, ready).await {
            let at = pacer.reserve(Instant::now(), &pace);
            if at > Instant::now() {
                tokio::time::sleep_until(at.into()).await;
            }
            let Ok(permit) = shared.slots.clone().acquire_owned().await else { break };
            let (state, shared) = (state.clone(), shared.clone());
            let (channel, secrets) = (batch.channel.clone(), batch.secrets.clone());
            tokio::spawn(async move {
                let outcome = deliver(&state, &state.dispatch, &channel, &secrets, &job).await;
                shared.recorder.record(outcome).await;
                drop(permit);
            });
        }
    }
}

/// The jobs of a wave that may go now; the others go back to the queue: those that waited half
/// their lease for their turn (so a lease cannot run out while its job is about to be sent), and
/// those whose recipient's pair limit asks to wait.
async fn admit(state: &AppState, shared: &Shared, batch: &Batch, wave: Vec<OutboxJob>) -> Vec<OutboxJob> {
    let mut ready = Vec::with_capacity(wave.len());
    for job in wave {
        if batch.claimed_at.elapsed() > Duration::from_secs(batch.lease as u64 / 2) {
            release(shared, state, job.id, "waited too long for its turn; queued again", 0).await;
            continue;
        }
        let wait =
            shared.pair_limits.lock().expect("pair limits").take(batch.channel.id, &job.recipient, Instant::now());
        match wait {
            Ok(()) => ready.push(job),
            Err(wait) => {
                let secs = wait.as_secs_f64().ceil() as i64;
                release(shared, state, job.id, "paced: pair rate limit", secs.max(1)).await;
            }
        }
    }
    ready
}

/// Marks the jobs `sending`, the last check before their requests leave; answers those still
/// ours. Jobs that cannot be marked stay claimed and return to the queue when the claim runs out.
async fn start(state: &AppState, channel: &Channel, ready: Vec<OutboxJob>) -> Vec<OutboxJob> {
    if ready.is_empty() {
        return ready;
    }
    let ids: Vec<i64> = ready.iter().map(|j| j.id).collect();
    let started: HashSet<i64> = match state.store.outbox_start(&ids, state.clock.now()).await {
        Ok(started) => started.into_iter().collect(),
        Err(e) => {
            tracing::warn!(channel = channel.id.get(), error = %e, "dispatcher: cannot mark sends as started");
            HashSet::new()
        }
    };
    ready.into_iter().filter(|j| started.contains(&j.id)).collect()
}

/// Puts a claimed job back in the queue, due in `after_secs`.
async fn release(shared: &Shared, state: &AppState, job: i64, why: &str, after_secs: i64) {
    let at = state.clock.now().plus_secs(after_secs);
    shared.recorder.record(JobOutcome::Retry { job, error: why.to_owned(), at }).await;
}

/// The job's channel and its credentials, unless it was deleted or its secrets cannot be opened.
async fn usable_channel(state: &AppState, job: &OutboxJob) -> Option<(Channel, ChannelSecrets)> {
    let channel = state
        .store
        .channel(job.workspace_id, job.channel_id, Viewer::All)
        .await
        .ok()
        .filter(|c| c.deleted_at.is_none())?;
    let secrets = state.channel_secrets(&channel).ok()?;
    Some((channel, secrets))
}

/// A template's provider id from the last sync (Twilio's Content SID, MessageBird's namespace);
/// `None` for a message that is not a template. An unknown template fails the job; a database
/// error retries it.
async fn template_provider_id(
    state: &AppState,
    channel: &Channel,
    job: &OutboxJob,
) -> Result<Option<String>, Box<JobOutcome>> {
    let parley_core::message::Content::Template { name, language, .. } = &job.content else { return Ok(None) };
    match state.store.template(job.workspace_id, &channel.waba_id, name, language).await {
        Ok(t) => Ok(t.provider_template_id),
        Err(parley_store::StoreError::NotFound) => Err(Box::new(JobOutcome::Failed {
            job: job.id,
            error: ProviderError {
                code: 0,
                title: format!("the template {name} ({language}) is not known"),
                details: None,
            },
        })),
        // The database, not the template: try again like a busy provider.
        Err(e) => {
            let at = retry_at(state.clock.now(), job.attempts, None, None);
            Err(Box::new(JobOutcome::Retry { job: job.id, error: format!("reading the template: {e}"), at }))
        }
    }
}

/// Sends one job; what became of it.
async fn deliver(
    state: &AppState,
    config: &DispatchConfig,
    channel: &Channel,
    secrets: &ChannelSecrets,
    job: &OutboxJob,
) -> JobOutcome {
    let failed =
        |title: String| JobOutcome::Failed { job: job.id, error: ProviderError { code: 0, title, details: None } };
    // A file Parley keeps goes out as a signed link to it (any provider takes a link).
    let linked = match crate::routes::public_media::with_links(state, (channel.workspace_id, channel.id), &job.content)
    {
        Ok(linked) => linked,
        Err(why) => return failed(why),
    };
    let content = linked.as_ref().unwrap_or(&job.content);
    let sending = match channel.provider {
        Provider::Meta | Provider::Dialog360 => {
            let client = match state.cloud_api_client(channel, secrets) {
                Ok(client) => client,
                // Nothing was sent: the channel's URL is no longer allowed (the setting changed).
                Err(refused) => return failed(format!("the channel's provider URL is not allowed: {refused}")),
            };
            let mut body = message_body(&job.recipient, content, job.reply_to.as_deref());
            // Echoed in status webhooks; also lets a provider (or the sandbox) spot a duplicate send.
            body["biz_opaque_callback_data"] = serde_json::json!(format!("parley:{}", job.message_id));
            tokio::time::timeout(config.send_timeout, async move {
                client.send_message(&channel.phone_number_id, &body).await
            })
            .await
        }
        Provider::Twilio => {
            let client = match state.twilio_client(channel, secrets) {
                Ok(client) => client,
                Err(refused) => return failed(format!("the channel's provider URL is not allowed: {refused}")),
            };
            // Statuses come back to the channel's webhook, at the URL Twilio will sign.
            let callback = format!("{}{}", state.public_url.trim_end_matches('/'), channel.webhook_path());
            // A template goes by its Content SID, from the last sync of the account's templates.
            let content_sid = match template_provider_id(state, channel, job).await {
                Ok(id) => id,
                Err(outcome) => return *outcome,
            };
            let at = twilio_send::Addressing {
                from: &channel.phone_number_id,
                to: &job.recipient,
                content_sid: content_sid.as_deref(),
                status_callback: Some(&callback),
            };
            let form = match twilio_send::message_form(at, content) {
                Ok(form) => form,
                // Refused before queueing; a job that got here anyway fails visibly, unsent.
                Err(unsupported) => return failed(unsupported.to_string()),
            };
            tokio::time::timeout(config.send_timeout, async move { client.send_message(&form).await }).await
        }
        Provider::MessageBird => {
            let client = match state.messagebird_client(channel, secrets) {
                Ok(client) => client,
                Err(refused) => return failed(format!("the channel's provider URL is not allowed: {refused}")),
            };
            let report_url = format!("{}{}", state.public_url.trim_end_matches('/'), channel.webhook_path());
            // An HSM names its account's namespace, kept from the last sync of the templates.
            let namespace = match template_provider_id(state, channel, job).await {
                Ok(id) => id,
                Err(outcome) => return *outcome,
            };
            let at = messagebird_send::Addressing {
                channel_id: &channel.phone_number_id,
                to: &job.recipient,
                namespace: namespace.as_deref(),
                report_url: Some(&report_url),
            };
            let body = match messagebird_send::message_body(at, content) {
                Ok(body) => body,
                Err(unsupported) => return failed(unsupported.to_string()),
            };
            tokio::time::timeout(config.send_timeout, async move { client.send_message(&body).await }).await
        }
    };
    let result = match sending {
        Ok(r) => r,
        Err(_) => Err(SendError::Ambiguous(format!("no answer within {:?}", config.send_timeout))),
    };
    match result {
        Ok(provider_message_id) => JobOutcome::Sent { job: job.id, provider_message_id },
        Err(SendError::Permanent { code, title, details }) => {
            JobOutcome::Failed { job: job.id, error: ProviderError { code, title, details } }
        }
        Err(SendError::Ambiguous(reason)) => JobOutcome::Unknown { job: job.id, reason },
        Err(SendError::Retry { code, title, .. }) if job.attempts >= config.max_attempts => {
            let title = format!("gave up after {} attempts: {title}", job.attempts);
            JobOutcome::Failed { job: job.id, error: ProviderError { code: code.unwrap_or(0), title, details: None } }
        }
        Err(SendError::Retry { code, title, after }) => {
            let at = retry_at(state.clock.now(), job.attempts, code, after);
            tracing::info!(message = job.message_id.get(), attempts = job.attempts, ?code, %title, "send will be retried");
            JobOutcome::Retry { job: job.id, error: title, at }
        }
    }
}

/// Writes outcomes in groups: whatever waits when the previous group committed goes in the next
/// transaction. If a group fails, each outcome is written on its own.
#[derive(Clone)]
struct Recorder {
    outcomes: mpsc::Sender<JobOutcome>,
}

impl Recorder {
    fn start(state: AppState) -> (Recorder, JoinHandle<()>) {
        let (outcomes, mut queue) = mpsc::channel::<JobOutcome>(4096);
        let task = tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                // Let the group fill for a moment: at a thousand sends a second, writing each
                // outcome as it comes made hundreds of small transactions a second.
                tokio::time::sleep(RECORD_LINGER).await;
                let mut group = vec![first];
                while group.len() < MAX_OUTCOMES_PER_COMMIT
                    && let Ok(more) = queue.try_recv()
                {
                    group.push(more);
                }
                let now = state.clock.now();
                if let Err(e) = state.store.outbox_record(&group, now).await {
                    tracing::warn!(error = %e, outcomes = group.len(), "recording outcomes together failed; one by one");
                    for outcome in &group {
                        if let Err(e) = state.store.outbox_record(std::slice::from_ref(outcome), now).await {
                            // The lease will expire and the message become unknown: never sent twice.
                            tracing::error!(?outcome, error = %e, "cannot record a send's outcome");
                        }
                    }
                }
            }
        });
        (Recorder { outcomes }, task)
    }

    async fn record(&self, outcome: JobOutcome) {
        if self.outcomes.send(outcome).await.is_err() {
            tracing::error!("the outcome recorder stopped; the send's lease will expire");
        }
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

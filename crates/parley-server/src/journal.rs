//! Ack fast (spec/meta-cloud-api.md §1.3: "persist raw body + headers to a durable queue,
//! return 200, process async"), for bursts. A Cloud API webhook whose signature and shape are
//! right (`webhook::check`, which refuses exactly what the parser refuses) is appended to the
//! inbound journal through a group commit like the ingest's, then parsed, routed and applied by a task
//! of its own through the ingest (`ingest.rs`), whose transaction takes its journal row: applied
//! once, whatever crashes. A server applies what its journal holds before it serves
//! ([`recover`]), and every minute applies what another server sharing the database left there
//! ([`sweep`], for webhooks [`ORPHANED_AFTER_SECS`] old).
//!
//! Which webhooks are journaled ([`Backlog::answer_early`]):
//! - none while the ingest keeps up (fewer than [`EARLY_ANSWER_FROM`] other webhooks being
//!   received or applied, and none journaled and waiting): the handler applies its webhook and
//!   answers after that commit, which is as durable as a journal row; what was acknowledged is in
//!   the inbox, and the journal's write is saved;
//! - under a burst (more arriving, or any journaled one waiting: a new webhook joins them rather
//!   than overtake them), each is answered after the journal's commit: a burst is acknowledged at
//!   the rate of durable appends, and applied, in arrival order, as fast as the ingest goes;
//! - none again once the backlog holds [`MAX_BACKLOG_BYTES`]: back pressure, so the lag and the
//!   memory the waiting bodies take stay bounded.
//!
//! While webhooks are being acknowledged, journaled webhooks wait for a gap before they are
//! parsed and applied (at most [`MAX_YIELD`]; the ingest's transactions go at once for a handler
//! applying its own): acknowledging is what the provider waits for; applying can come a moment
//! later.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parley_core::{Clock, Timestamp};
use parley_store::{NewJournalEntry, Store, StoreError};
use tokio::sync::{Mutex, Notify, Semaphore, SemaphorePermit, mpsc, oneshot, watch};

/// From this many other webhooks being received or applied by their handlers (or while journaled
/// ones wait to be applied), a new one is journaled and answered then. Below it, handlers apply
/// their webhook and answer after that: a server that keeps up answers as it did without the
/// journal (the sandbox and the tests post up to four at a time).
pub const EARLY_ANSWER_FROM: usize = 8;
/// Bodies journaled and not applied yet past which handlers apply their webhook again:
/// 64 MiB, about half a million events of Meta's, a few tens of seconds of ingest.
pub const MAX_BACKLOG_BYTES: usize = 64 << 20;
/// How long application waits for a gap in acknowledgements at most, before it goes on for one
/// transaction: what a burst of webhooks may delay the inbox by, while it is acknowledged at the
/// rate of durable appends.
pub const MAX_YIELD: Duration = Duration::from_secs(1);
/// How long no acknowledgement must be under way for application to go on (see
/// `Backlog::quiet_for`).
const QUIET_MS: u64 = 10;
/// How long application goes on once it has waited [`MAX_YIELD`] for a gap.
const TURN_MS: u64 = 100;
/// Webhooks waiting for the journal's group commit before handlers wait to enqueue.
const QUEUE: usize = 1_024;
/// Bodies being parsed and applied at once, in bytes: the rest of the backlog waits as received,
/// in order, instead of as events (ten times larger, and parsed while acknowledgements go on).
const APPLYING_BYTES: usize = 1 << 20;

/// The inbound journal's writer and what it holds that is not applied yet.
#[derive(Clone)]
pub struct Journal {
    appends: mpsc::Sender<Append>,
    pub backlog: Arc<Backlog>,
}

struct Append {
    key: Arc<str>,
    body: Arc<str>,
    signature: Option<String>,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

/// Journaled webhooks not applied yet, acknowledgements under way, and the gate that lets
/// application go on between them.
pub struct Backlog {
    webhooks: watch::Sender<usize>,
    bytes: AtomicUsize,
    acknowledging: AtomicUsize,
    /// Handlers waiting for their webhook's application (not journaled), any provider's.
    waiting: AtomicUsize,
    /// The most webhooks the backlog held at once (the benchmark reports it).
    peak: AtomicUsize,
    /// When the last acknowledgement ended, in milliseconds since `started`.
    last_acknowledged: AtomicU64,
    /// When a webhook last passed the gate, in milliseconds since `started`.
    last_turn: AtomicU64,
    started: Instant,
    /// Notified when the gate may have opened.
    gap: Notify,
    /// Bytes of bodies being parsed and applied ([`APPLYING_BYTES`]); taken in arrival order.
    applying: Semaphore,
    /// Webhooks past the semaphore wait for the gate one at a time, in order: one task watches
    /// the gate instead of every waiting one waking at each pause.
    gate: Mutex<()>,
}

impl Backlog {
    pub(crate) fn new() -> Backlog {
        Backlog {
            webhooks: watch::channel(0).0,
            bytes: AtomicUsize::new(0),
            acknowledging: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            last_turn: AtomicU64::new(0),
            last_acknowledged: AtomicU64::new(0),
            started: Instant::now(),
            gap: Notify::new(),
            applying: Semaphore::new(APPLYING_BYTES),
            gate: Mutex::new(()),
        }
    }

    /// Journaled webhooks not applied yet.
    pub fn webhooks(&self) -> usize {
        *self.webhooks.borrow()
    }

    /// The most webhooks the backlog held at once since the server started.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    fn full(&self) -> bool {
        self.bytes.load(Ordering::Acquire) >= MAX_BACKLOG_BYTES
    }

    /// Whether a webhook being received (itself counted as acknowledging) is journaled and
    /// answered then, rather than applied first: when many others are being received or applied
    /// by their handlers at once, or wait to be applied, unless the backlog is full.
    pub fn answer_early(&self) -> bool {
        let others =
            self.acknowledging.load(Ordering::Acquire).saturating_sub(1) + self.waiting.load(Ordering::Acquire);
        // While journaled webhooks wait, a new one joins them rather than overtake them.
        let busy = others >= EARLY_ANSWER_FROM || self.webhooks() > 0;
        busy && !self.full()
    }

    /// Returns once nothing journaled waits to be applied (tests, the benchmark).
    pub async fn settled(&self) {
        let mut rx = self.webhooks.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether application may go on now: no acknowledgement under way, or a full backlog; for
    /// a transaction (`for_transaction`), also when a handler waits for its webhook's.
    fn open(&self, for_transaction: bool) -> bool {
        self.quiet_for() >= QUIET_MS || (for_transaction && self.waiting.load(Ordering::Acquire) > 0) || self.full()
    }

    /// How long no acknowledgement has been under way, in milliseconds (0 while one is). The
    /// group commit answers its handlers together, so a stream of webhooks has instants with
    /// none under way: only a pause of [`QUIET_MS`] counts as a gap.
    fn quiet_for(&self) -> u64 {
        if self.acknowledging.load(Ordering::Acquire) > 0 {
            return 0;
        }
        self.millis().saturating_sub(self.last_acknowledged.load(Ordering::Acquire))
    }

    /// Waits for the turn of a journaled webhook of `bytes` to be parsed and applied: in arrival
    /// order, a megabyte at a time, when the gate lets it.
    pub async fn turn_to_apply(&self, bytes: usize) -> Option<SemaphorePermit<'_>> {
        let bytes = u32::try_from(bytes.clamp(1, APPLYING_BYTES)).unwrap_or(u32::MAX);
        let permit = self.applying.acquire_many(bytes).await.ok();
        let _watching = self.gate.lock().await;
        self.gap(false).await;
        permit
    }

    /// Before an ingest transaction: returns when the gate lets it (see [`Backlog::gap`]).
    pub async fn gap_for_transaction(&self) {
        self.gap(true).await;
    }

    /// Returns when application may go on (see [`gate`]), woken when the last acknowledgement
    /// ends and then after the quiet period.
    async fn gap(&self, for_transaction: bool) {
        let entered = self.millis();
        loop {
            let gap = self.gap.notified();
            let now = self.millis();
            let last_turn = self.last_turn.load(Ordering::Acquire);
            let wait = match gate(now, last_turn, entered, self.open(for_transaction)) {
                Gate::Pass => return,
                Gate::StartTurn => {
                    self.last_turn.fetch_max(now, Ordering::AcqRel);
                    return;
                }
                Gate::Wait(at_most) => match self.quiet_for() {
                    0 => at_most,
                    quiet => QUIET_MS.saturating_sub(quiet).min(at_most),
                },
            };
            let _ = tokio::time::timeout(Duration::from_millis(wait.max(1)), gap).await;
        }
    }

    /// Handlers waiting for their webhook's application (`Ingest::apply`).
    pub fn handlers_waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Counts a handler as waiting for its webhook's application until the guard is dropped:
    /// the gate opens for the ingest's transactions.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.gap.notify_waiters();
        Waiting(self)
    }
}

/// What the gate says, at `now`, to a webhook (or transaction) that began waiting at `entered`
/// (milliseconds since the server started).
#[derive(Debug, PartialEq)]
enum Gate {
    /// Go on: a turn is under way.
    Pass,
    /// Go on, and everything waiting goes with it for [`TURN_MS`].
    StartTurn,
    /// Wait, at most this many milliseconds before asking again.
    Wait(u64),
}

/// The gate: open (no acknowledgement for a while, see [`Backlog::open`]) or shut for
/// [`MAX_YIELD`] since this waiter began waiting, or since the last turn, whichever is later,
/// starts a turn of [`TURN_MS`] during which everything passes. So application never stops for
/// longer than that under a steady stream of webhooks, and the first webhook of a burst after a
/// quiet spell waits like the others.
fn gate(now: u64, last_turn: u64, entered: u64, open: bool) -> Gate {
    let max_yield = u64::try_from(MAX_YIELD.as_millis()).unwrap_or(u64::MAX);
    let waited = now.saturating_sub(last_turn.max(entered));
    if open || waited >= max_yield {
        Gate::StartTurn
    } else if now.saturating_sub(last_turn) < TURN_MS {
        Gate::Pass
    } else {
        Gate::Wait(max_yield - waited)
    }
}

/// A handler applying its webhook.
pub struct Waiting<'a>(&'a Backlog);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A webhook being acknowledged: counted until dropped.
pub struct Acknowledging<'a>(&'a Backlog);

impl Drop for Acknowledging<'_> {
    fn drop(&mut self) {
        self.0.last_acknowledged.fetch_max(self.0.millis(), Ordering::AcqRel);
        if self.0.acknowledging.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.gap.notify_waiters();
        }
    }
}

/// A journaled webhook not applied yet: in the backlog until dropped.
pub struct Pending {
    backlog: Arc<Backlog>,
    bytes: usize,
}

impl Pending {
    pub fn new(backlog: &Arc<Backlog>, bytes: usize) -> Pending {
        backlog.webhooks.send_modify(|n| {
            *n += 1;
            backlog.peak.fetch_max(*n, Ordering::AcqRel);
        });
        if backlog.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes >= MAX_BACKLOG_BYTES {
            backlog.gap.notify_waiters();
        }
        Pending { backlog: backlog.clone(), bytes }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.backlog.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.backlog.webhooks.send_modify(|n| *n -= 1);
    }
}

impl Journal {
    /// Starts the journal's writers (as many as the ingest has tasks); they end when every
    /// `Journal` handle is dropped.
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Journal {
        let (appends, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..crate::ingest::workers_for(store.engine()) {
            tokio::spawn(write(queue.clone(), store.clone(), clock.clone()));
        }
        Journal { appends, backlog: Arc::new(Backlog::new()) }
    }

    /// Counts a webhook as being acknowledged until the guard is dropped.
    pub fn acknowledging(&self) -> Acknowledging<'_> {
        self.backlog.acknowledging.fetch_add(1, Ordering::AcqRel);
        Acknowledging(&self.backlog)
    }

    /// Appends the webhook as received; returns its journal id after the commit.
    /// The journal holds text: a handler refuses a body that is not UTF-8 before it gets here.
    pub async fn append(&self, key: Arc<str>, body: Arc<str>, signature: Option<String>) -> Result<i64, StoreError> {
        let stopped = || StoreError::Config("the journal's writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.appends.send(Append { key, body, signature, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One writer: appends what is waiting in one transaction, answers each after the commit.
async fn write(queue: Arc<Mutex<mpsc::Receiver<Append>>>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) {
    while let Some((waiting, _)) = crate::ingest::take_waiting(&queue, |_: &Append| 1).await {
        let entries: Vec<NewJournalEntry> = waiting
            .iter()
            .map(|a| NewJournalEntry { webhook_key: &a.key, body: &a.body, signature: a.signature.as_deref() })
            .collect();
        match store.journal_append(&entries, clock.now()).await {
            Ok(ids) => {
                for (append, id) in waiting.into_iter().zip(ids) {
                    let _ = append.reply.send(Ok(id));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, webhooks = waiting.len(), "journaling webhooks failed");
                let text = e.to_string();
                for append in waiting {
                    let _ = append.reply.send(Err(StoreError::Config(text.clone())));
                }
            }
        }
    }
}

/// Journaled webhooks received this long ago are applied by any server's sweep ([`sweep`]).
/// Their own server applies them within seconds, or within tens of seconds under a burst that
/// fills the backlog; one this old was left by a server that stopped before applying it. On
/// PostgreSQL the servers sharing a database share the journal, and such a webhook would
/// otherwise wait for some server's next start.
pub const ORPHANED_AFTER_SECS: i64 = 300;

/// Applies what the journal holds (webhooks acknowledged before a crash or a stop), before the
/// server serves; several at a time, so they share the ingest's transactions. A webhook that
/// cannot be applied stays for the next start (logged).
pub async fn recover(state: &crate::AppState) -> Result<u64, StoreError> {
    let applied = apply_journaled(state, None).await?;
    if applied > 0 {
        tracing::info!(webhooks = applied, "applied the webhooks journaled before this start");
    }
    Ok(applied)
}

/// Applies the journaled webhooks received [`ORPHANED_AFTER_SECS`] or more before `now` (the
/// timers worker calls it every minute). Applying takes a webhook's row, so one its own server
/// is applying at the same moment is applied once all the same.
pub async fn sweep(state: &crate::AppState, now: Timestamp) -> Result<u64, StoreError> {
    let cutoff = Timestamp::from_secs(now.as_secs() - ORPHANED_AFTER_SECS);
    let applied = apply_journaled(state, Some(cutoff)).await?;
    if applied > 0 {
        tracing::warn!(webhooks = applied, "applied journaled webhooks that their server left (it stopped?)");
    }
    Ok(applied)
}

/// Applies the journal's webhooks (those received at `received_by` or earlier, when given);
/// answers how many were applied.
async fn apply_journaled(state: &crate::AppState, received_by: Option<Timestamp>) -> Result<u64, StoreError> {
    use futures_util::StreamExt;
    let mut after = 0;
    let mut applied = 0;
    loop {
        let page = match received_by {
            Some(by) => state.store.journal_received_by(by, after, 512).await?,
            None => state.store.journal_pending(after, 512).await?,
        };
        let Some(last) = page.last() else { break };
        after = last.id;
        let results: Vec<bool> = futures_util::stream::iter(page)
            .map(|entry| async move {
                let id = entry.id;
                match crate::routes::webhooks::apply_journal_entry(state, entry).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(journal_id = id, error = ?e, "a journaled webhook could not be applied; kept for the next sweep or start");
                        false
                    }
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        applied += results.iter().filter(|ok| **ok).count() as u64;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_answered_early_only_when_many_arrive_or_some_wait_and_the_backlog_has_room() {
        let backlog = Arc::new(Backlog::new());
        assert!(!backlog.answer_early(), "nothing else under way: applied, then answered");
        let mut pending = vec![Pending::new(&backlog, 100)];
        assert!(backlog.answer_early(), "one journaled webhook waits: the next joins it");
        let big = Pending::new(&backlog, MAX_BACKLOG_BYTES);
        assert!(!backlog.answer_early(), "a full backlog: back pressure");
        drop(big);
        assert!(backlog.answer_early());
        pending.clear();
        assert_eq!((backlog.webhooks(), backlog.bytes.load(Ordering::Acquire)), (0, 0));
        assert_eq!(backlog.peak(), 2);
        // Many others received at once count as busy too (the asking handler is one of them).
        let acknowledge = || {
            backlog.acknowledging.fetch_add(1, Ordering::AcqRel);
            Acknowledging(&backlog)
        };
        let mut acknowledging: Vec<_> = (0..EARLY_ANSWER_FROM).map(|_| acknowledge()).collect();
        assert!(!backlog.answer_early(), "itself and {} others", EARLY_ANSWER_FROM - 1);
        acknowledging.push(acknowledge());
        assert!(backlog.answer_early(), "itself and {EARLY_ANSWER_FROM} others");
        acknowledging.pop();
        let applying = backlog.waiting();
        assert!(backlog.answer_early(), "a handler applying its own webhook is one of the others");
        drop((applying, acknowledging));
        assert!(!backlog.answer_early());
    }

    #[test]
    fn a_shut_gate_passes_during_a_turn_and_starts_one_after_a_yield_of_its_own_waiter() {
        let max_yield = u64::try_from(MAX_YIELD.as_millis()).unwrap();
        let start = 100_000;
        // Idle for long, then a burst: its first webhook waits; the last turn is long past.
        assert_eq!(gate(start, 0, start, false), Gate::Wait(max_yield));
        assert_eq!(gate(start + 400, 0, start, false), Gate::Wait(max_yield - 400));
        assert_eq!(gate(start + max_yield, 0, start, false), Gate::StartTurn, "it waited a whole yield");
        // The turn under way lets everything through, whenever it began waiting.
        let turn = start + max_yield;
        assert_eq!(gate(turn + TURN_MS - 1, turn, start + 1, false), Gate::Pass);
        assert_eq!(gate(turn + TURN_MS - 1, turn, turn + 50, false), Gate::Pass);
        // After the turn, waiting starts again, counted from the turn.
        assert_eq!(gate(turn + TURN_MS, turn, start + 1, false), Gate::Wait(max_yield - TURN_MS));
        assert_eq!(gate(turn + max_yield, turn, start + 1, false), Gate::StartTurn);
        // An open gate always starts a turn.
        assert_eq!(gate(start, 0, start, true), Gate::StartTurn);
        assert_eq!(gate(turn + TURN_MS, turn, turn + TURN_MS, true), Gate::StartTurn);
    }

    #[test]
    fn the_gate_opens_with_no_acknowledgement_under_way_a_waiting_handler_or_a_full_backlog() {
        let mut backlog = Backlog::new();
        backlog.started -= Duration::from_secs(1);
        let backlog = Arc::new(backlog);
        assert!(backlog.open(false) && backlog.open(true));
        backlog.acknowledging.fetch_add(1, Ordering::AcqRel);
        let acknowledging = Acknowledging(&backlog);
        assert!(!backlog.open(false) && !backlog.open(true), "acknowledging comes first");
        let waiting = backlog.waiting();
        assert!(backlog.open(true), "a handler waits for its application: the next transaction goes");
        assert!(!backlog.open(false), "other webhooks still wait to be parsed");
        drop(waiting);
        let full = Pending::new(&backlog, MAX_BACKLOG_BYTES);
        assert!(backlog.open(false) && backlog.open(true), "a full backlog");
        drop(full);
        assert!(!backlog.open(true));
        drop(acknowledging);
        assert!(!backlog.open(false), "an instant between acknowledgements is not a gap");
        let quiet_since = backlog.millis() - QUIET_MS;
        backlog.last_acknowledged.store(quiet_since, Ordering::Release);
        assert!(backlog.open(false) && backlog.open(true), "quiet for {QUIET_MS} ms");
    }
}

//! Group commit for webhooks. Handlers verify and parse a webhook, then hand its routed events to
//! an ingest task (four on PostgreSQL, one on SQLite), which applies everything that is waiting in
//! one store transaction and answers each handler after the commit. Under load, many small
//! webhooks share one transaction (and the store's batched statements); alone, a webhook is
//! applied at once. If a shared transaction fails, each webhook is retried on its own so one bad
//! batch cannot fail the others. A journaled webhook (`journal.rs`) carries its journal id: the
//! transaction that applies it takes its row.

use std::sync::Arc;

use parley_core::Clock;
use parley_core::channel::Channel;
use parley_core::message::InboundEvent;
use parley_store::{InboundOutcome, InboundWebhook, RoutedEvent, Store, StoreError};
use tokio::sync::{Mutex, Notify, mpsc, oneshot, watch};

use crate::journal::Backlog;

/// How many events one transaction takes at most.
const MAX_EVENTS_PER_COMMIT: usize = 2_000;
/// Webhooks waiting for the ingest task before handlers wait to enqueue.
const QUEUE: usize = 1_024;
/// Ingest tasks per process on PostgreSQL (SQLite has one writer, so one task there). Several
/// transactions at once keep the server busy while others wait on the network or their commit;
/// they take their locks in one global order (the store's `sql/locks.rs`), mostly the
/// conversation rows, locked last, so one waits at most for another's commit. Four, since
/// webhooks share their contact locks: at 5,000 customers on 8 connections, 10,200–10,600
/// events/s with two against 10,600–13,800 with four, in alternating runs (eight: 9,600–12,800).
const POSTGRES_WORKERS: usize = 4;

/// One webhook's events, each with the channel it goes to, and its journal row if it has one.
pub struct Batch {
    pub events: Vec<(Arc<Channel>, InboundEvent)>,
    pub journal_id: Option<i64>,
}

impl Batch {
    fn routed(&self) -> Vec<RoutedEvent<'_>> {
        self.events.iter().map(|(channel, event)| RoutedEvent { channel, event }).collect()
    }
}

struct Job {
    batch: Batch,
    reply: oneshot::Sender<Answer>,
}

/// The outcome, and the batch handed back: the handler frees its events, not the ingest task,
/// whose time bounds the ingest (freeing a commit's events took 2 % of it).
type Answer = (Result<InboundOutcome, StoreError>, Batch);

#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
    backlog: Arc<Backlog>,
}

impl Ingest {
    /// Starts the ingest tasks; they end when every `Ingest` handle is dropped.
    /// `appended` counts the commits, for followers of the event log (outgoing webhooks) to
    /// wake at once instead of at their next poll.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        media_wakeup: Arc<Notify>,
        appended: Arc<watch::Sender<u64>>,
        backlog: Arc<Backlog>,
    ) -> Ingest {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers_for(store.engine()) {
            let worker = Worker {
                store: store.clone(),
                clock: clock.clone(),
                media_wakeup: media_wakeup.clone(),
                appended: appended.clone(),
                backlog: backlog.clone(),
            };
            tokio::spawn(worker.run(queue.clone()));
        }
        Ingest { jobs, backlog }
    }

    /// Stores `batch`; returns after the commit (or with the store's error). A batch without a
    /// journal row is one a webhook's handler waits for (any provider's): it counts as waiting,
    /// so the journal's gate lets the ingest's transactions go at once.
    pub async fn apply(&self, batch: Batch) -> Result<InboundOutcome, StoreError> {
        let _waiting = batch.journal_id.is_none().then(|| self.backlog.waiting());
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { batch, reply }).await.map_err(|_| StoreError::Config("the ingest task stopped".into()))?;
        let (result, _events) = answer.await.map_err(|_| StoreError::Config("the ingest task stopped".into()))?;
        result
    }
}

/// Ingest tasks for an engine: four on PostgreSQL, one on SQLite.
pub fn workers_for(engine: &str) -> usize {
    if engine == "postgres" { POSTGRES_WORKERS } else { 1 }
}

/// Takes what is waiting (at least one job; `None` once every sender is gone), up to
/// [`MAX_EVENTS_PER_COMMIT`] events as `weight` counts them, then lets another worker take the
/// rest. Public for the webhook benchmark's durable ceiling, which commits the same way.
pub async fn take_waiting<J>(
    queue: &Mutex<mpsc::Receiver<J>>,
    weight: impl Fn(&J) -> usize,
) -> Option<(Vec<J>, usize)> {
    let mut queue = queue.lock().await;
    let first = queue.recv().await?;
    let mut events = weight(&first);
    let mut jobs = vec![first];
    while events < MAX_EVENTS_PER_COMMIT {
        match queue.try_recv() {
            Ok(job) => {
                events += weight(&job);
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    Some((jobs, events))
}

/// What an ingest task needs.
struct Worker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    media_wakeup: Arc<Notify>,
    appended: Arc<watch::Sender<u64>>,
    backlog: Arc<Backlog>,
}

impl Worker {
    async fn run(self, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
        loop {
            // Acknowledging webhooks comes first (`journal.rs`).
            self.backlog.gap_for_transaction().await;
            let Some((mut jobs, events)) = take_waiting(&queue, |job: &Job| job.batch.events.len()).await else {
                return;
            };
            let result = {
                let routed: Vec<Vec<RoutedEvent>> = jobs.iter().map(|j| j.batch.routed()).collect();
                let webhooks: Vec<InboundWebhook> = jobs
                    .iter()
                    .zip(&routed)
                    .map(|(j, events)| InboundWebhook { journal_id: j.batch.journal_id, events })
                    .collect();
                self.apply(&webhooks).await
            };
            match result {
                Ok(outcome) => {
                    tracing::debug!(
                        webhooks = jobs.len(),
                        events,
                        messages = outcome.messages,
                        duplicates = outcome.duplicates,
                        "committed"
                    );
                    for job in jobs {
                        let _ = job.reply.send((Ok(outcome), job.batch));
                    }
                }
                Err(shared) if jobs.len() > 1 => {
                    tracing::warn!(error = %shared, webhooks = jobs.len(), "shared commit failed; applying webhooks one by one");
                    for job in jobs {
                        let events = job.batch.routed();
                        let result =
                            self.apply(&[InboundWebhook { journal_id: job.batch.journal_id, events: &events }]).await;
                        drop(events);
                        let _ = job.reply.send((result, job.batch));
                    }
                }
                Err(e) => {
                    // A single webhook: its own error.
                    if let Some(job) = jobs.pop() {
                        let _ = job.reply.send((Err(e), job.batch));
                    }
                }
            }
        }
    }

    /// One transaction; wakes the media worker and the event log's followers after it.
    async fn apply(&self, webhooks: &[InboundWebhook<'_>]) -> Result<InboundOutcome, StoreError> {
        let outcome = self.store.apply_webhooks(webhooks, self.clock.now()).await?;
        if outcome.messages > 0 {
            self.media_wakeup.notify_one();
        }
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ingest with no task: the test takes its jobs.
    fn detached() -> (Ingest, mpsc::Receiver<Job>, Arc<Backlog>) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let backlog = Arc::new(Backlog::new());
        (Ingest { jobs, backlog: backlog.clone() }, queue, backlog)
    }

    #[tokio::test]
    async fn a_handler_waiting_for_its_batch_opens_the_gate_and_a_journaled_batch_does_not() {
        let (ingest, mut queue, backlog) = detached();
        for (journal_id, waiting) in [(None, 1), (Some(7), 0)] {
            let applying = tokio::spawn({
                let ingest = ingest.clone();
                async move { ingest.apply(Batch { events: Vec::new(), journal_id }).await }
            });
            let job = queue.recv().await.expect("a job");
            assert_eq!(backlog.handlers_waiting(), waiting, "journal id {journal_id:?}, while applied");
            let _ = job.reply.send((Ok(InboundOutcome::default()), job.batch));
            applying.await.unwrap().unwrap();
            assert_eq!(backlog.handlers_waiting(), 0, "journal id {journal_id:?}, once answered");
        }
    }
}

//! The delivery worker: claims due outbox rows with a lease (at most `concurrency` in
//! flight), sends them at the configured pace, and records each outcome. A crash
//! leaves claimed rows `sending`; the next start releases them, so only messages that
//! were in flight are sent again, with their Message-ID.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::retry::RetryPolicy;
use super::{Compose, FailureKind, Mailer};
use crate::clock::Clock;
use crate::model::Status;
use crate::store::{Content, OutboxRow, Store, StoreError};
use crate::tokens::Signer;

/// Message bodies kept in memory by the worker.
const CONTENT_CACHE: usize = 64;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    /// Messages per second; 0 for no limit.
    pub rate_per_second: f64,
    pub policy: RetryPolicy,
    /// How long a claim lasts before another worker may take the row over.
    pub lease_secs: i64,
    /// How often to look for due rows when nobody wakes the worker.
    pub poll: Duration,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
}

#[derive(Clone)]
pub struct Worker {
    store: Store,
    mailer: Arc<dyn Mailer>,
    composer: Arc<dyn Compose>,
    clock: Arc<dyn Clock>,
    signer: Signer,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    pace: Arc<Pace>,
    contents: Arc<Mutex<HashMap<i64, Arc<Content>>>>,
    outcome: Arc<Mutex<Outcome>>,
}

/// The shared pace of sending: a minimum gap between messages, and a pause that
/// throttling replies impose on everyone.
struct Pace {
    gap: Option<Duration>,
    state: tokio::sync::Mutex<PaceState>,
}

struct PaceState {
    next_slot: Instant,
    paused_until: Instant,
    throttle_backoff: Duration,
}

impl Pace {
    async fn wait_turn(&self) {
        let at = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let at = state.next_slot.max(state.paused_until).max(now);
            if let Some(gap) = self.gap {
                state.next_slot = at + gap;
            }
            at
        };
        tokio::time::sleep_until(at).await;
    }

    async fn throttled(&self) -> Duration {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        // Sends in flight together are throttled together: one pause for all of them,
        // longer only when the server still complains after a pause.
        if now >= state.paused_until {
            state.throttle_backoff =
                (state.throttle_backoff * 2).clamp(Duration::from_secs(2), Duration::from_secs(60));
            state.paused_until = now + state.throttle_backoff;
        }
        state.paused_until - now
    }

    async fn succeeded(&self) {
        let mut state = self.state.lock().await;
        state.throttle_backoff = Duration::from_secs(1);
    }
}

/// Forgets a finished send. A send that panicked keeps its row marked in flight, so
/// this process never sends it again; a restart re-queues it.
fn finished(done: Result<i64, tokio::task::JoinError>, in_flight: &mut HashSet<i64>) {
    match done {
        Ok(id) => {
            in_flight.remove(&id);
        }
        Err(e) => tracing::error!("a send stopped abnormally: {e}"),
    }
}

/// Writes "sent" for many messages at once: every send that finished while the
/// previous batch was being written goes into the next statement (a group commit).
/// Each sender waits until its own row is written before it frees its connection, so
/// at most `concurrency` messages are ever sent but not yet recorded.
#[derive(Clone)]
struct Recorder {
    queue: mpsc::UnboundedSender<(i64, oneshot::Sender<()>)>,
}

impl Recorder {
    fn start(store: Store, clock: Arc<dyn Clock>) -> Recorder {
        let (queue, mut rx) = mpsc::unbounded_channel::<(i64, oneshot::Sender<()>)>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 1024).await > 0 {
                let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
                if let Err(e) = store.mark_sent_many(&ids, clock.now()).await {
                    tracing::error!(messages = ids.len(), "sent, but cannot record it: {e}");
                }
                for (_, done) in batch.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Recorder { queue }
    }

    /// Returns once the row is recorded as sent (or recording failed and was logged).
    async fn sent(&self, id: i64) {
        let (done, written) = oneshot::channel();
        if self.queue.send((id, done)).is_ok() {
            let _ = written.await;
        }
    }
}

impl Worker {
    pub fn new(
        store: Store,
        mailer: Arc<dyn Mailer>,
        composer: Arc<dyn Compose>,
        clock: Arc<dyn Clock>,
        signer: Signer,
        settings: WorkerSettings,
    ) -> Worker {
        let gap = (settings.rate_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / settings.rate_per_second));
        let now = Instant::now();
        Worker {
            store,
            mailer,
            composer,
            clock,
            signer,
            settings,
            wake: Arc::new(Notify::new()),
            pace: Arc::new(Pace {
                gap,
                state: tokio::sync::Mutex::new(PaceState {
                    next_slot: now,
                    paused_until: now,
                    throttle_backoff: Duration::from_secs(1),
                }),
            }),
            contents: Arc::new(Mutex::new(HashMap::new())),
            outcome: Arc::new(Mutex::new(Outcome::default())),
        }
    }

    /// A handle that wakes the worker when new mail is queued.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    pub fn mailer(&self) -> &Arc<dyn Mailer> {
        &self.mailer
    }

    /// Totals since the worker started.
    pub fn outcome(&self) -> Outcome {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs until `stop` turns true, then lets sends in flight finish for up to `grace`.
    pub async fn run(self, stop: watch::Receiver<bool>, grace: Duration) {
        match self.store.release_in_flight().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                messages = n,
                concurrency = self.settings.concurrency,
                "crier stopped with messages claimed; they are queued again, and the few that \
                 were being sent (at most `concurrency`) go again with the same Message-ID"
            ),
            Err(e) => tracing::error!("cannot release in-flight messages: {e}"),
        }
        let mut tasks = self.pump(Some(stop)).await;
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(in_flight, "letting sends in flight finish");
            let finished =
                tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                    .await;
            if finished.is_err() {
                tracing::warn!(
                    left = tasks.len(),
                    "sends still in flight at the shutdown timeout; they will be retried after a restart"
                );
                tasks.abort_all();
            }
        }
    }

    /// Sends everything that is due now, then returns (for `crier digest send` and tests).
    pub async fn drain(&self) -> Outcome {
        let before = self.outcome();
        let mut tasks = self.pump(None).await;
        while tasks.join_next().await.is_some() {}
        let after = self.outcome();
        Outcome {
            sent: after.sent - before.sent,
            retried: after.retried - before.retried,
            failed: after.failed - before.failed,
        }
    }

    /// How many rows one claim takes: enough to keep every connection busy between
    /// claims, few enough that a claimed row is sent well within its lease.
    fn claim_size(&self) -> usize {
        let concurrency = self.settings.concurrency.max(1);
        let mut size = (concurrency * 16).min(512);
        if self.settings.rate_per_second > 0.0 {
            let in_half_a_lease =
                self.settings.rate_per_second * self.settings.lease_secs as f64 / 2.0;
            size = size.min(in_half_a_lease as usize);
        }
        size.max(concurrency)
    }

    /// Claims due rows in batches and sends them, at most `concurrency` at a time.
    /// With `stop`, it waits for new mail until `stop` turns true; without, it returns
    /// once nothing is due. Returns the sends still in flight.
    async fn pump(&self, mut stop: Option<watch::Receiver<bool>>) -> JoinSet<i64> {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let recorder = Recorder::start(self.store.clone(), Arc::clone(&self.clock));
        // Each task returns its row's id; a row stays here until its task ends.
        let mut tasks: JoinSet<i64> = JoinSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        'claiming: loop {
            if stop.as_ref().is_some_and(|s| *s.borrow()) {
                break;
            }
            while let Some(done) = tasks.try_join_next() {
                finished(done, &mut in_flight);
            }
            let mut rows = match self
                .store
                .claim_due(
                    self.clock.now(),
                    self.settings.lease_secs,
                    self.claim_size(),
                )
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!("cannot read the outbox: {e}");
                    Vec::new()
                }
            };
            // A row whose lease ran out while it waited here (a long throttling pause)
            // comes back from the claim; it is still being sent, so not a second time.
            rows.retain(|row| !in_flight.contains(&row.id));
            if rows.is_empty() {
                match stop.as_mut() {
                    Some(stop) => tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(self.settings.poll) => {}
                        _ = stop.changed() => {}
                        Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                            finished(done, &mut in_flight);
                        }
                    },
                    None => match tasks.join_next().await {
                        Some(done) => finished(done, &mut in_flight),
                        None => break,
                    },
                }
                continue;
            }
            let statuses = match self.statuses(&rows).await {
                Ok(statuses) => statuses,
                Err(e) => {
                    // Nothing can be checked, so nothing is sent: the rows go back.
                    tracing::error!("cannot read subscriber statuses: {e}");
                    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                    if let Err(e) = self.store.release(&ids).await {
                        tracing::error!("cannot release claimed messages: {e}");
                    }
                    if stop.is_none() {
                        break;
                    }
                    tokio::time::sleep(self.settings.poll).await;
                    continue;
                }
            };
            let mut rows = rows.into_iter();
            while let Some(row) = rows.next() {
                let permit = match stop.as_mut() {
                    Some(stop) => tokio::select! {
                        permit = Arc::clone(&permits).acquire_owned() => permit,
                        () = async { drop(stop.wait_for(|stopped| *stopped).await) } => {
                            // Not started: back in the queue, not counted as in flight.
                            let unsent: Vec<i64> = std::iter::once(row.id).chain(rows.map(|r| r.id)).collect();
                            if let Err(e) = self.store.release(&unsent).await {
                                tracing::error!("cannot release claimed messages: {e}");
                            }
                            break 'claiming;
                        }
                    },
                    None => Arc::clone(&permits).acquire_owned().await,
                };
                let Ok(permit) = permit else { break 'claiming };
                let status = row.subscriber_id.and_then(|id| statuses.get(&id).copied());
                let worker = self.clone();
                let recorder = recorder.clone();
                in_flight.insert(row.id);
                tasks.spawn(async move {
                    let id = row.id;
                    worker.pace.wait_turn().await;
                    worker.deliver(row, status, &recorder).await;
                    drop(permit);
                    id
                });
            }
        }
        tasks
    }

    /// The current status of the subscribers the digest rows go to, in one query.
    async fn statuses(&self, rows: &[OutboxRow]) -> Result<HashMap<i64, Status>, StoreError> {
        let ids: Vec<i64> = rows
            .iter()
            .filter(|r| r.kind == "digest")
            .filter_map(|r| r.subscriber_id)
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.store.subscriber_statuses(&ids).await
    }

    async fn content(&self, id: i64) -> Option<Arc<Content>> {
        if let Some(found) = self
            .contents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Some(Arc::clone(found));
        }
        let content = Arc::new(self.store.content(id).await.ok()??);
        let mut cache = self.contents.lock().unwrap_or_else(|e| e.into_inner());
        // Rows that share a body are queued together, so a small cache holds the
        // bodies in use; a full cache starts over instead of growing.
        if cache.len() >= CONTENT_CACHE {
            cache.clear();
        }
        cache.insert(id, Arc::clone(&content));
        Some(content)
    }

    fn count(&self, f: impl FnOnce(&mut Outcome)) {
        f(&mut self.outcome.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Sends one row. `status` is its subscriber's status, read when the row was
    /// claimed.
    async fn deliver(&self, row: OutboxRow, status: Option<Status>, recorder: &Recorder) {
        // Digests go only to active subscribers, whatever happened since they were
        // queued (a retry of an old failure, a status changed by an admin).
        if row.kind == "digest" && row.subscriber_id.is_some() && status != Some(Status::Active) {
            let status = status.map_or("erased", Status::as_str);
            self.fail(&row, &format!("not sent: the subscriber is {status}"))
                .await;
            return;
        }
        let Some(content) = self.content(row.content_id).await else {
            self.fail(&row, "its frozen content is missing").await;
            return;
        };
        let message = match self.composer.compose(&row, &content) {
            Ok(message) => message,
            Err(e) => {
                self.fail(&row, &e).await;
                return;
            }
        };
        let result = self.mailer.send(&message).await;
        let now = self.clock.now();
        match result {
            Ok(()) => {
                self.pace.succeeded().await;
                recorder.sent(row.id).await;
                self.count(|o| o.sent += 1);
                metrics::counter!("crier_sends_total", "result" => "sent").increment(1);
            }
            Err(e) if e.kind == FailureKind::Permanent => {
                tracing::warn!(id = row.id, recipient = %row.recipient, "permanent failure: {e}");
                self.fail(&row, &e.message).await;
                if let Some(subscriber) = row.subscriber_id {
                    let hash = self.signer.email_hash(&row.recipient);
                    if let Err(e) = self
                        .store
                        .end_subscription(subscriber, &hash, Status::Bounced, "smtp", now)
                        .await
                    {
                        tracing::error!(subscriber, "cannot mark the subscriber bounced: {e}");
                    }
                    metrics::counter!("crier_bounces_total").increment(1);
                }
            }
            Err(e) => {
                if e.kind == FailureKind::Throttled {
                    let pause = self.pace.throttled().await;
                    tracing::warn!(
                        pause_ms = pause.as_millis() as u64,
                        "the server asks us to slow down: {e}"
                    );
                    metrics::counter!("crier_sends_total", "result" => "throttled").increment(1);
                } else {
                    metrics::counter!("crier_sends_total", "result" => "deferred").increment(1);
                }
                self.retry_or_fail(&row, &e.message, now).await;
            }
        }
    }

    async fn retry_or_fail(&self, row: &OutboxRow, error: &str, now: DateTime<Utc>) {
        let jitter = getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
        match self
            .settings
            .policy
            .next_attempt(row.attempts, row.created_at, now, jitter)
        {
            Some(at) => {
                tracing::info!(id = row.id, attempts = row.attempts, retry_at = %at, "delivery deferred: {error}");
                if let Err(e) = self.store.reschedule(row.id, at, error).await {
                    tracing::error!(id = row.id, "cannot reschedule: {e}");
                }
                self.count(|o| o.retried += 1);
            }
            None => {
                let reason = format!("gave up after {} attempts: {error}", row.attempts);
                self.fail(row, &reason).await;
            }
        }
    }

    async fn fail(&self, row: &OutboxRow, error: &str) {
        tracing::error!(id = row.id, recipient = %row.recipient, "delivery failed: {error}");
        if let Err(e) = self.store.mark_failed(row.id, error).await {
            tracing::error!(id = row.id, "cannot record the failure: {e}");
        }
        self.count(|o| o.failed += 1);
        metrics::counter!("crier_sends_total", "result" => "failed").increment(1);
    }
}

//! The delivery worker: claims due outbox rows with a lease and queues them for
//! `concurrency` senders, which send them at the configured pace and record each
//! outcome. A crash leaves claimed rows `sending`; the next start first records as
//! sent those its sent journal holds, then releases the rest, so only messages that
//! were in flight are sent again, with their Message-ID. Its heartbeat and totals
//! go to a [`DeliveryHealth`] for the health checks.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::retry::RetryPolicy;
use super::{AddressLog, Compose, FailureKind, Gate, Mailer, replace_address};
use crate::clock::Clock;
use crate::health::DeliveryHealth;
use crate::model::{Content, OutboxRow, Status};
use crate::recent::Recent;
use crate::store::{SentJournal, Store, StoreError};
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
    /// How a failed delivery's log line names its recipient.
    pub log_addresses: AddressLog,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// Of the failed: messages that could not be built or that crashed their sender.
    pub poisoned: u64,
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
    contents: Arc<Recent<Content>>,
    outcome: Arc<Mutex<Outcome>>,
    /// What the health checks read. Its heartbeat beats when a message is finished
    /// and when nothing is due: silent for a lease while `run` runs means mail waits
    /// and none goes out.
    health: Arc<DeliveryHealth>,
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
        let (at, now) = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let at = state.next_slot.max(state.paused_until).max(now);
            if let Some(gap) = self.gap {
                state.next_slot = at + gap;
            }
            (at, now)
        };
        // A turn that is already due is taken at once. Tokio's timer rounds a deadline
        // up to its next millisecond tick and fires it on a later turn of its driver, so
        // sleeping until "now" held every message back by up to a millisecond.
        if at > now {
            tokio::time::sleep_until(at).await;
        }
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

/// Records that messages were sent. A sender hands over its next message only once
/// its last one is on record (see [`Gate`]), so at most `concurrency` messages are
/// ever sent but not recorded.
///
/// The record goes to the sent journal first ([`SentJournal`]): one write for every
/// send that finished while the previous write was under way. A task beside the
/// sending moves the records into the outbox table, [`MOVE_EVERY`] at a time or
/// whatever waited [`MOVE_AFTER`], and the journal is emptied whenever the table
/// holds all of it. Without a journal (it cannot be opened or written), each batch of
/// records is committed to the table directly, as before the journal existed.
#[derive(Clone)]
struct Recorder {
    queue: mpsc::UnboundedSender<(i64, watch::Sender<bool>)>,
    /// Rows sent and in the journal, not yet marked sent in the table. Their leases
    /// could run out before they are (a database that stays unreachable, a clock that
    /// jumps), and a claim must not hand them to a sender again.
    unmoved: Arc<Mutex<HashSet<i64>>>,
}

/// Records moved from the journal into the outbox table at once, at most.
const MOVE_EVERY: usize = 1024;
/// How long records wait in the journal alone when few are sent.
const MOVE_AFTER: Duration = Duration::from_millis(200);

impl Recorder {
    /// Opens the journal, which first moves into the table what a previous run left
    /// there, and starts recording. The task ends once every clone of the recorder is
    /// gone and its records are in the table (or, if the table is out of reach, left
    /// in the journal for the next start).
    async fn start(store: Store, clock: Arc<dyn Clock>) -> (Recorder, JoinHandle<()>) {
        let journal = match store.sent_journal().await {
            Ok(journal) => Some(journal),
            Err(e) => {
                tracing::error!("{e}; each send is recorded in the database instead");
                None
            }
        };
        let (queue, rx) = mpsc::unbounded_channel();
        let unmoved = Arc::new(Mutex::new(HashSet::new()));
        let records = Records {
            store,
            journal,
            waiting: Vec::new(),
            moving: None,
            unmoved: Arc::clone(&unmoved),
        };
        let task = tokio::spawn(records.run(rx, clock));
        (Recorder { queue, unmoved }, task)
    }

    /// Leaves out the rows that are sent but not yet marked sent in the table.
    fn keep_unsent(&self, rows: &mut Vec<OutboxRow>) {
        let unmoved = self.unmoved.lock().unwrap_or_else(|e| e.into_inner());
        rows.retain(|row| !unmoved.contains(&row.id));
    }

    /// Queues the row to be recorded as sent; the gate opens once it is (or once
    /// recording failed and was logged).
    fn sent(&self, id: i64) -> Gate {
        let (written, gate) = Gate::closed();
        let _ = self.queue.send((id, written));
        gate
    }
}

type SentRecord = (i64, DateTime<Utc>);
/// A move of records into the outbox table; it hands its records back, moved or not.
type Move = JoinHandle<Result<Vec<SentRecord>, (StoreError, Vec<SentRecord>)>>;

/// The recording task's state.
struct Records {
    store: Store,
    journal: Option<SentJournal>,
    /// In the journal, not yet in the table, and not being moved.
    waiting: Vec<SentRecord>,
    /// The move under way.
    moving: Option<Move>,
    /// The ids in the journal that the table does not have yet (see [`Recorder`]):
    /// those waiting, those being moved, and those of a move that failed or ended
    /// abnormally. The journal can be emptied when there are none.
    unmoved: Arc<Mutex<HashSet<i64>>>,
}

impl Records {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<(i64, watch::Sender<bool>)>,
        clock: Arc<dyn Clock>,
    ) {
        let mut batch = Vec::new();
        let mut tick = tokio::time::interval(MOVE_AFTER);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let idle = tokio::select! {
                received = rx.recv_many(&mut batch, MOVE_EVERY) => {
                    if received == 0 {
                        break;
                    }
                    false
                }
                _ = tick.tick(), if !self.waiting.is_empty() || self.moving.is_some() => true,
            };
            if !batch.is_empty() {
                let now = clock.now();
                let records: Vec<SentRecord> = batch.iter().map(|(id, _)| (*id, now)).collect();
                self.write(records).await;
                for (_, written) in batch.drain(..) {
                    let _ = written.send(true);
                }
            }
            if idle || self.waiting.len() >= MOVE_EVERY {
                self.start_move().await;
            }
            if self.moving.as_ref().is_some_and(|m| m.is_finished()) {
                self.settle().await;
            }
            self.clear();
        }
        self.start_move().await;
        self.settle().await;
        self.clear();
        if let Some(journal) = &self.journal
            && !self.unmoved().is_empty()
        {
            tracing::warn!(
                journal = %journal.path().display(),
                "some sent records are only in the journal; the next start records them"
            );
        }
    }

    async fn write(&mut self, records: Vec<SentRecord>) {
        if let Some(journal) = &mut self.journal {
            match journal.append(&records) {
                Ok(()) => {
                    self.unmoved().extend(records.iter().map(|(id, _)| *id));
                    self.waiting.extend(records);
                    return;
                }
                Err(e) => {
                    tracing::error!("{e}; each send is recorded in the database instead");
                    self.journal = None;
                }
            }
        }
        if let Err(e) = self.store.mark_sent_at(&records).await {
            tracing::error!(messages = records.len(), "sent, but cannot record it: {e}");
        }
    }

    /// Waits for the move under way, then starts moving everything waiting.
    async fn start_move(&mut self) {
        self.settle().await;
        if self.waiting.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.waiting);
        let store = self.store.clone();
        self.moving = Some(tokio::spawn(async move {
            match store.mark_sent_at(&records).await {
                Ok(()) => Ok(records),
                Err(e) => Err((e, records)),
            }
        }));
    }

    /// Waits for the move under way; what it could not move waits for the next one.
    async fn settle(&mut self) {
        let Some(moving) = self.moving.take() else {
            return;
        };
        match moving.await {
            Ok(Ok(records)) => {
                let mut unmoved = self.unmoved();
                for (id, _) in &records {
                    unmoved.remove(id);
                }
            }
            Ok(Err((e, records))) => {
                tracing::error!(
                    messages = records.len(),
                    "cannot move sent records from the journal into the database: {e}"
                );
                self.waiting.extend(records);
            }
            // Its ids stay unmoved, so the journal keeps them for the next start.
            Err(e) => tracing::error!("moving sent records from the journal stopped: {e}"),
        }
    }

    fn unmoved(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.unmoved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Empties the journal when the table holds everything in it. Records join the
    /// unmoved set as they are written, so this happens once each time the moves
    /// catch up with the sending.
    fn clear(&mut self) {
        if !self.unmoved().is_empty() {
            return;
        }
        if let Some(journal) = &mut self.journal
            && let Err(e) = journal.clear()
        {
            tracing::error!("{e}");
        }
    }
}

/// A claimed row on its way to a sender, with its subscriber's status at claim time.
struct Claimed {
    row: OutboxRow,
    status: Option<Status>,
}

/// What the claimer and the senders share.
struct Queue {
    rows: flume::Receiver<Claimed>,
    /// Rows claimed and not yet finished. A send that panicked keeps its row here, so
    /// this process never sends it again; a restart re-queues it.
    in_flight: Mutex<HashSet<i64>>,
    /// Wakes the claimer: the queue runs low, or a row finished while it was empty.
    refill: Notify,
    low_water: usize,
}

impl Queue {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Resolves when `stop` changes; never without one.
async fn changed(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(stop) => {
            if stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
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
        // A claimed message should be sent well within its lease (see `claim_size`):
        // a lease without any finished is a stall.
        let health = DeliveryHealth::new(
            Duration::from_secs(settings.lease_secs.max(1) as u64),
            Arc::clone(&clock),
        );
        Worker {
            store,
            mailer,
            composer,
            clock,
            signer,
            wake: Arc::new(Notify::new()),
            pace: Arc::new(Pace {
                gap,
                state: tokio::sync::Mutex::new(PaceState {
                    next_slot: now,
                    paused_until: now,
                    throttle_backoff: Duration::from_secs(1),
                }),
            }),
            contents: Arc::new(Recent::new(CONTENT_CACHE)),
            outcome: Arc::new(Mutex::new(Outcome::default())),
            health,
            settings,
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

    /// What the worker publishes for the health checks and metrics. Its liveness is
    /// stalled when, for a whole lease, mail was due or in flight and no message was
    /// finished.
    pub fn health(&self) -> Arc<DeliveryHealth> {
        Arc::clone(&self.health)
    }

    /// Runs until `stop` turns true, then lets sends in flight finish for up to `grace`.
    pub async fn run(self, stop: watch::Receiver<bool>, grace: Duration) {
        let _running = self.health.heartbeat.running();
        let (recorder, recording) = self.recover().await;
        let mut tasks = self.pump(Some(stop), recorder).await;
        if !tasks.is_empty() {
            // Each sender finishes the message it holds, if any, and stops.
            tracing::info!(senders = tasks.len(), "waiting for the senders to stop");
            let finished =
                tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                    .await;
            if finished.is_err() {
                tracing::warn!(
                    senders = tasks.len(),
                    "senders still busy at the shutdown timeout; their messages go again after a restart"
                );
                tasks.abort_all();
            }
        }
        // With the senders gone, the recorder moves its last records and ends.
        if tokio::time::timeout(grace, recording).await.is_err() {
            tracing::warn!(
                "the last sent records stay in the journal; the next start records them"
            );
        }
    }

    /// Takes over from a process that died: first records as sent what its journal
    /// holds, then queues again the rows it had claimed. Only the holder of the
    /// single-instance lock may call this (through `run` or `drain`), so no live
    /// process has claims of its own.
    async fn recover(&self) -> (Recorder, JoinHandle<()>) {
        // The journal first: a row it records as sent must not be queued again.
        let started = Recorder::start(self.store.clone(), Arc::clone(&self.clock)).await;
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
        started
    }

    /// Sends everything that is due now, then returns (for `crier digest send` and
    /// tests). Like `run`, it first takes over what a dead process left claimed.
    pub async fn drain(&self) -> Outcome {
        let before = self.outcome();
        let (recorder, recording) = self.recover().await;
        let mut tasks = self.pump(None, recorder).await;
        while tasks.join_next().await.is_some() {}
        if let Err(e) = recording.await {
            tracing::error!("recording sends stopped abnormally: {e}");
        }
        let after = self.outcome();
        Outcome {
            sent: after.sent - before.sent,
            retried: after.retried - before.retried,
            failed: after.failed - before.failed,
            poisoned: after.poisoned - before.poisoned,
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

    /// Claims due rows in batches and queues them for `concurrency` senders, claiming
    /// again whenever the queue runs low. With `stop`, it waits for new mail until
    /// `stop` turns true; without, it returns once nothing is due. Unstarted rows go
    /// back to the outbox; the senders still finishing theirs are returned.
    async fn pump(
        &self,
        mut stop: Option<watch::Receiver<bool>>,
        recorder: Recorder,
    ) -> JoinSet<()> {
        let batch = self.claim_size();
        let (queue, rows) = flume::unbounded();
        let shared = Arc::new(Queue {
            rows,
            in_flight: Mutex::default(),
            refill: Notify::new(),
            low_water: batch / 2,
        });
        let mut senders = JoinSet::new();
        let spawn = |senders: &mut JoinSet<()>| {
            senders.spawn(self.clone().sender(Arc::clone(&shared), recorder.clone()));
        };
        for _ in 0..self.settings.concurrency.max(1) {
            spawn(&mut senders);
        }
        // A sender only ends early by panicking; another takes its place.
        let replace = |ended: Result<(), tokio::task::JoinError>, senders: &mut JoinSet<()>| {
            if let Err(e) = ended {
                tracing::error!("a sender stopped abnormally: {e}");
            }
            spawn(senders);
        };
        loop {
            if stop.as_ref().is_some_and(|s| *s.borrow()) {
                break;
            }
            if shared.rows.len() > shared.low_water {
                tokio::select! {
                    () = shared.refill.notified() => {}
                    Some(ended) = senders.join_next() => replace(ended, &mut senders),
                    () = changed(&mut stop) => {}
                }
                continue;
            }
            let room = batch - shared.rows.len();
            let mut rows = match self
                .store
                .claim_due(self.clock.now(), self.settings.lease_secs, room)
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
            // Nor is one that was sent and is on its way into the table.
            {
                let in_flight = shared.in_flight();
                rows.retain(|row| !in_flight.contains(&row.id));
            }
            recorder.keep_unsent(&mut rows);
            self.give_up_on_crashed(&mut rows).await;
            if rows.is_empty() && shared.in_flight().is_empty() {
                // Caught up: nothing due, nothing being sent.
                self.health.heartbeat.beat();
            }
            if rows.is_empty() {
                if stop.is_some() {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(self.settings.poll) => {}
                        () = changed(&mut stop) => {}
                        Some(ended) = senders.join_next() => replace(ended, &mut senders),
                    }
                } else if shared.in_flight().is_empty() {
                    break;
                } else {
                    // Draining: once the rows in hand are done, look once more.
                    tokio::select! {
                        () = shared.refill.notified() => {}
                        Some(ended) = senders.join_next() => replace(ended, &mut senders),
                    }
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
            shared.in_flight().extend(rows.iter().map(|row| row.id));
            for row in rows {
                let status = row.subscriber_id.and_then(|id| statuses.get(&id).copied());
                // Cannot fail: `shared` holds a receiver.
                let _ = queue.send(Claimed { row, status });
            }
        }
        // Not started: back in the outbox. Nothing claims any more, so the in-flight
        // set is not consulted again.
        let unsent: Vec<i64> = shared.rows.drain().map(|c| c.row.id).collect();
        if !unsent.is_empty()
            && let Err(e) = self.store.release(&unsent).await
        {
            tracing::error!("cannot release claimed messages: {e}");
        }
        // The senders finish the rows they hold, wait for their records, and end.
        drop(queue);
        senders
    }

    /// Takes rows from the queue and sends them, one at a time, until the queue closes.
    async fn sender(self, queue: Arc<Queue>, recorder: Recorder) {
        let mut recorded = Gate::default();
        while let Ok(Claimed { row, status }) = queue.rows.recv_async().await {
            if queue.rows.len() <= queue.low_water {
                queue.refill.notify_one();
            }
            self.pace.wait_turn().await;
            // A message that panics anywhere on its way (composing, formatting, the
            // transport) fails alone and for good: the sender lives on, and the row
            // never comes back to panic again.
            let delivery = AssertUnwindSafe(self.deliver(&row, status, &recorder, &recorded))
                .catch_unwind()
                .await;
            match delivery {
                Ok(Some(gate)) => recorded = gate,
                Ok(None) => {}
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    self.poisoned(&row, &format!("crier crashed while sending it ({what})"))
                        .await;
                }
            }
            queue.in_flight().remove(&row.id);
            self.health.heartbeat.beat();
            if queue.rows.is_empty() {
                queue.refill.notify_one();
            }
        }
        recorded.wait().await;
    }

    /// Fails the rows claimed more often than `max_attempts` allows. A claim counts an
    /// attempt, and only a crash (a process killed, or one that dies on this very
    /// message) brings a row back without a recorded outcome; `max_attempts` bounds
    /// those as it bounds refusals, so no message can take crier down forever.
    async fn give_up_on_crashed(&self, rows: &mut Vec<OutboxRow>) {
        let max = self.settings.policy.max_attempts;
        let (over, keep): (Vec<OutboxRow>, Vec<OutboxRow>) = std::mem::take(rows)
            .into_iter()
            .partition(|r| r.attempts > max);
        *rows = keep;
        for row in over {
            let reason = format!(
                "gave up after {max} attempts that ended without an outcome (crier stopped while sending it)"
            );
            self.poisoned(&row, &reason).await;
        }
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
        if let Some(found) = self.contents.get(id) {
            return Some(found);
        }
        let content = self.store.content(id).await.ok()??;
        Some(self.contents.insert(id, content))
    }

    fn count(&self, f: impl FnOnce(&mut Outcome)) {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut outcome);
        self.health.counted(outcome.sent, outcome.poisoned);
    }

    /// Sends one row, handing it over once `recorded` (the sender's last message on
    /// record) opens. `status` is its subscriber's status, read when the row was
    /// claimed. Returns the gate of this row's own record when it was sent.
    async fn deliver(
        &self,
        row: &OutboxRow,
        status: Option<Status>,
        recorder: &Recorder,
        recorded: &Gate,
    ) -> Option<Gate> {
        // Digests go only to active subscribers, whatever happened since they were
        // queued (a retry of an old failure, a status changed by an admin).
        if row.kind == "digest" && row.subscriber_id.is_some() && status != Some(Status::Active) {
            let status = status.map_or("erased", Status::as_str);
            self.fail(row, &format!("not sent: the subscriber is {status}"))
                .await;
            return None;
        }
        let Some(content) = self.content(row.content_id).await else {
            self.poisoned(row, "its frozen content is missing").await;
            return None;
        };
        let message = match self.composer.compose(row, &content) {
            Ok(message) => message,
            Err(e) => {
                self.poisoned(row, &format!("cannot build the message: {e}"))
                    .await;
                return None;
            }
        };
        let result = self.mailer.send_after(&message, recorded).await;
        let now = self.clock.now();
        match result {
            Ok(()) => {
                let gate = recorder.sent(row.id);
                self.pace.succeeded().await;
                self.count(|o| o.sent += 1);
                metrics::counter!("crier_sends_total", "result" => "sent").increment(1);
                return Some(gate);
            }
            Err(e) if e.kind == FailureKind::Permanent => {
                // `fail` logs it, once, with the recipient as the settings show it.
                self.fail(row, &e.message).await;
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
                        "the server asks us to slow down: {}",
                        self.logged(row, &e.message).1
                    );
                    metrics::counter!("crier_sends_total", "result" => "throttled").increment(1);
                } else {
                    metrics::counter!("crier_sends_total", "result" => "deferred").increment(1);
                }
                self.retry_or_fail(row, &e.message, now).await;
            }
        }
        None
    }

    async fn retry_or_fail(&self, row: &OutboxRow, error: &str, now: DateTime<Utc>) {
        let jitter = getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
        match self
            .settings
            .policy
            .next_attempt(row.attempts, row.created_at, now, jitter)
        {
            Some(at) => {
                tracing::info!(id = row.id, attempts = row.attempts, retry_at = %at, "delivery deferred: {}", self.logged(row, error).1);
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

    /// A message that can never be sent as it is: failed at once, with the reason,
    /// and counted apart so that health checks and metrics show it.
    async fn poisoned(&self, row: &OutboxRow, error: &str) {
        self.count(|o| o.poisoned += 1);
        metrics::counter!("crier_poison_messages_total").increment(1);
        self.fail(row, error).await;
    }

    /// How the log shows `row`'s recipient, and `text` (which may be a server's reply
    /// that echoes the address) as it may be logged: see [`AddressLog`]. The outbox
    /// row keeps the text as it was, for `crier deliveries`.
    fn logged(&self, row: &OutboxRow, text: &str) -> (String, String) {
        match self.settings.log_addresses {
            AddressLog::Plain => (row.recipient.clone(), text.to_string()),
            AddressLog::Hashed => {
                let hash = self.signer.email_hash(&row.recipient);
                let shown = format!("hash:{}", &hash[..16]);
                let text = replace_address(text, &row.recipient, &shown);
                (shown, text)
            }
        }
    }

    async fn fail(&self, row: &OutboxRow, error: &str) {
        let (recipient, shown_error) = self.logged(row, error);
        tracing::error!(id = row.id, %recipient, "delivery failed: {shown_error}");
        if let Err(e) = self.store.mark_failed(row.id, error).await {
            tracing::error!(id = row.id, "cannot record the failure: {e}");
        }
        self.count(|o| o.failed += 1);
        metrics::counter!("crier_sends_total", "result" => "failed").increment(1);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    fn pace(gap: Option<Duration>) -> Pace {
        let now = Instant::now();
        Pace {
            gap,
            state: tokio::sync::Mutex::new(PaceState {
                next_slot: now,
                paused_until: now,
                throttle_backoff: Duration::from_secs(1),
            }),
        }
    }

    /// Polls once, as a sender's first look at its turn.
    fn ready_at_once(future: impl Future<Output = ()>) -> bool {
        let mut future = pin!(future);
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[tokio::test]
    async fn an_unpaced_sender_never_waits_for_the_timer() {
        let unpaced = pace(None);
        for _ in 0..100 {
            assert!(ready_at_once(unpaced.wait_turn()));
        }
        // With a rate, the first turn is due now and the next one a gap later.
        let paced = pace(Some(Duration::from_secs(1)));
        assert!(ready_at_once(paced.wait_turn()));
        assert!(!ready_at_once(paced.wait_turn()));
    }

    #[tokio::test]
    async fn a_throttling_pause_holds_every_sender() {
        let shared = pace(None);
        let pause = shared.throttled().await;
        assert!(pause >= Duration::from_secs(1), "{pause:?}");
        assert!(!ready_at_once(shared.wait_turn()));
        shared.succeeded().await;
        // Success resets the backoff, not a pause already under way.
        assert!(!ready_at_once(shared.wait_turn()));
    }
}

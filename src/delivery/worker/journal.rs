//! The record of what was sent: the [`Recorder`] that senders hand their sent rows to,
//! and the task behind it that writes them to the sent journal at once and moves them
//! into the outbox table in batches. It decides nothing about sending; it makes sure a
//! message on record as sent is never sent again, across a crash too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::delivery::Gate;
use crate::model::OutboxRow;
use crate::store::{SentJournal, Store, StoreError};

/// Records that messages were sent. A sender hands over its next message only once
/// its last one is on record (see [`Gate`]), so at most `concurrency` messages are
/// ever sent but not recorded.
///
/// The record goes to the sent journal first ([`SentJournal`]): one write for every
/// send that finished while the previous write was under way. A task beside the
/// sending moves the records into the outbox table, [`MOVE_EVERY`] at a time or
/// whatever waited [`MOVE_AFTER`], and the journal is emptied whenever the table
/// holds all of it. Without a journal (on a database several instances share, or one
/// that cannot be opened or written), each batch of records is committed to the table
/// directly, as before the journal existed.
#[derive(Clone)]
pub(super) struct Recorder {
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
    pub(super) async fn start(store: Store, clock: Arc<dyn Clock>) -> (Recorder, JoinHandle<()>) {
        let journal = match store.sent_journal().await {
            // On a database several instances share, a record kept in this instance's
            // file until it is moved would be lost to the others if this instance never
            // came back, and they would send its messages again once their leases ran
            // out. So each record goes to the database before its sender goes on (what
            // a previous run left in the file was moved in when it was opened), and at
            // most `concurrency` messages are ever sent but not on record there.
            Ok(_) if store.is_shared() => None,
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
    pub(super) fn keep_unsent(&self, rows: &mut Vec<OutboxRow>) {
        let unmoved = self.unmoved.lock().unwrap_or_else(|e| e.into_inner());
        rows.retain(|row| !unmoved.contains(&row.id));
    }

    /// Queues the row to be recorded as sent; the gate opens once it is (or once
    /// recording failed and was logged).
    pub(super) fn sent(&self, id: i64) -> Gate {
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

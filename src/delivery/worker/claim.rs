//! The claimer: takes due rows from the outbox in batches under a lease, leaves out
//! those already in hand or already sent, gives up on rows that crashed their sender
//! too often, reads their subscribers' statuses, and queues them for the senders,
//! claiming again whenever the queue runs low. What happens to a row after that is
//! `send`'s and `outcome`'s.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::Worker;
use super::journal::Recorder;
use crate::model::{OutboxRow, Status};
use crate::store::StoreError;

/// A claimed row on its way to a sender, with its subscriber's status at claim time.
pub(super) struct Claimed {
    pub(super) row: OutboxRow,
    pub(super) status: Option<Status>,
}

/// What the claimer and the senders share.
pub(super) struct Queue {
    pub(super) rows: flume::Receiver<Claimed>,
    /// Rows claimed and not yet finished. A send that panicked keeps its row here, so
    /// this process never sends it again; a restart re-queues it.
    pub(super) in_flight: Mutex<HashSet<i64>>,
    /// Wakes the claimer: the queue runs low, or a row finished while it was empty.
    pub(super) refill: Notify,
    pub(super) low_water: usize,
}

impl Queue {
    pub(super) fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
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
    /// How many rows one claim takes: enough to keep every connection busy between
    /// claims, few enough that a claimed row is sent well within its lease at this
    /// instance's current share of the rate.
    fn claim_size(&self) -> usize {
        let concurrency = self.settings.concurrency.max(1);
        let mut size = (concurrency * 16).min(512);
        let rate = self.pace.rate();
        if rate > 0.0 {
            let in_half_a_lease = rate * self.settings.lease_secs as f64 / 2.0;
            size = size.min(in_half_a_lease as usize);
        }
        size.max(concurrency)
    }

    /// Claims due rows in batches and queues them for `concurrency` senders, claiming
    /// again whenever the queue runs low. With `stop`, it waits for new mail until
    /// `stop` turns true; without, it returns once nothing is due. Unstarted rows go
    /// back to the outbox; the senders still finishing theirs are returned.
    pub(super) async fn pump(
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
            // The batch follows this instance's share of the rate, which changes as
            // instances join or leave: a row must not wait past its lease here.
            let room = self.claim_size().saturating_sub(shared.rows.len());
            if shared.rows.len() > shared.low_water || room == 0 {
                tokio::select! {
                    () = shared.refill.notified() => {}
                    Some(ended) = senders.join_next() => replace(ended, &mut senders),
                    () = changed(&mut stop) => {}
                }
                continue;
            }
            let mut rows = match self
                .store
                .claim_due(
                    self.clock.now(),
                    self.settings.lease_secs,
                    room,
                    self.claimer(),
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
}

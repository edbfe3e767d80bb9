//! The delivery worker: claims due outbox rows with a lease and queues them for
//! `concurrency` senders, which send them at the configured pace and record each
//! outcome. A crash leaves claimed rows `sending`; the next start first records as
//! sent those its sent journal holds, then releases the rest, so only messages that
//! were in flight are sent again, with their Message-ID. Its heartbeat and totals
//! go to a [`DeliveryHealth`] for the health checks.
//!
//! This file holds the [`Worker`], its settings and totals, and what it does from
//! start to stop (`run`, `drain`, taking over after a crash). Each job it does along
//! the way has a file of its own: `claim` takes due rows from the outbox and queues
//! them, `send` hands each to the mailer, `pace` spaces the sends and pauses them when
//! a server asks, `journal` records what was sent, and `outcome` decides and records
//! what becomes of a message that was not sent (a retry, a failure, a poisoned row).

mod claim;
mod journal;
mod outcome;
mod pace;
mod send;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::retry::RetryPolicy;
use super::{Compose, Mailer};
use crate::clock::Clock;
use crate::health::DeliveryHealth;
use crate::model::{AddressLog, Content};
use crate::recent::Recent;
use crate::store::{NameHold, Store};
use crate::tokens::Signer;
use journal::Recorder;
use pace::Pace;
pub use pace::{Pacer, share};

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
    /// This instance's name on a shared database, held while the worker lives: its
    /// claims carry the name, and its start gives back the claims left in it.
    name: Option<Arc<NameHold>>,
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
            // Alone until the heartbeat loop says otherwise.
            pace: Arc::new(Pace::new(settings.rate_per_second)),
            contents: Arc::new(Recent::new(CONTENT_CACHE)),
            outcome: Arc::new(Mutex::new(Outcome::default())),
            health,
            settings,
            name: None,
        }
    }

    /// The worker claims in `name`, which this process holds (see
    /// [`Store::hold_name`]), and gives back what a dead holder of it left claimed.
    pub fn with_name(mut self, name: NameHold) -> Worker {
        self.name = Some(Arc::new(name));
        self
    }

    /// The name this worker claims in, if any.
    pub(super) fn claimer(&self) -> Option<&str> {
        self.name.as_deref().map(NameHold::name)
    }

    /// A handle that sets this worker's share of `rate_per_second`, the deployment's
    /// total, when the number of live instances changes.
    pub fn pacer(&self) -> Pacer {
        Pacer {
            pace: Arc::clone(&self.pace),
            total: self.settings.rate_per_second,
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
    /// process has claims of its own; on a shared database, only the rows claimed in
    /// this worker's name, which it holds.
    async fn recover(&self) -> (Recorder, JoinHandle<()>) {
        // The journal first: a row it records as sent must not be queued again.
        let started = Recorder::start(self.store.clone(), Arc::clone(&self.clock)).await;
        match self.store.release_in_flight(self.name.as_deref()).await {
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
}

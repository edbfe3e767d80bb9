//! What the long-running parts say about themselves, for the health checks and the
//! metrics. The delivery worker and the scheduler each own a report here and write
//! into it as they go; `http` only reads. So the HTTP layer needs neither the worker
//! nor the scheduler, only these few shared values, and asking costs a few atomic
//! loads or a short lock, never I/O.
//!
//! The one check that does need I/O, the mail transport's, comes in as a [`Probe`]
//! that `delivery` implements; `http` runs it and caches its [`ProbeError`].
//!
//! The instances sharing the database are published here too (a [`Cluster`]), by
//! `app`'s heartbeat loop.
//!
//! Owns plain state only: it must not use the store, delivery, the scheduler or
//! http, so that all of them can use it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alive::{Heartbeat, Liveness};
use crate::clock::Clock;
use crate::model::Instance;

/// What the delivery worker publishes.
#[derive(Debug)]
pub struct DeliveryHealth {
    /// Beats when a message is finished and when nothing is due.
    pub heartbeat: Arc<Heartbeat>,
    sent: AtomicU64,
    poisoned: AtomicU64,
}

impl DeliveryHealth {
    /// A report whose loop counts as stalled after `stale_after` without a beat,
    /// measured on `clock` (the worker's, so that a test can move it past a lease).
    pub fn new(stale_after: Duration, clock: Arc<dyn Clock>) -> Arc<DeliveryHealth> {
        Arc::new(DeliveryHealth {
            heartbeat: Heartbeat::with_clock(stale_after, clock),
            sent: AtomicU64::new(0),
            poisoned: AtomicU64::new(0),
        })
    }

    /// Publishes the worker's totals since it started.
    pub fn counted(&self, sent: u64, poisoned: u64) {
        self.sent.store(sent, Relaxed);
        self.poisoned.store(poisoned, Relaxed);
    }

    pub fn liveness(&self) -> Liveness {
        self.heartbeat.liveness()
    }

    /// Messages sent since the worker started (for the send rate).
    pub fn sent(&self) -> u64 {
        self.sent.load(Relaxed)
    }

    /// Messages that could not be built or crashed their sender, since the start.
    pub fn poisoned(&self) -> u64 {
        self.poisoned.load(Relaxed)
    }
}

/// What the scheduler publishes.
#[derive(Debug)]
pub struct SchedulerHealth {
    /// Beats at each turn of the daemon's loop.
    pub heartbeat: Arc<Heartbeat>,
    /// Digest → (failed attempts in a row, last error). Sorted, so reports are stable.
    failing: Mutex<BTreeMap<String, (u32, String)>>,
}

impl SchedulerHealth {
    /// A report whose loop counts as stalled after `stale_after` without a beat.
    pub fn new(stale_after: Duration) -> Arc<SchedulerHealth> {
        Arc::new(SchedulerHealth {
            heartbeat: Heartbeat::new(stale_after),
            failing: Mutex::default(),
        })
    }

    pub fn liveness(&self) -> Liveness {
        self.heartbeat.liveness()
    }

    /// `digest` ran: it no longer counts as failing.
    pub fn ran(&self, digest: &str) {
        lock(&self.failing).remove(digest);
    }

    /// `digest` failed `attempts` times in a row, the last time with `error`.
    pub fn failed(&self, digest: &str, attempts: u32, error: &str) {
        lock(&self.failing).insert(digest.to_string(), (attempts, error.to_string()));
    }

    /// The digests whose last run failed: name, failed attempts in a row, last error,
    /// by name.
    pub fn failing(&self) -> Vec<(String, u32, String)> {
        lock(&self.failing)
            .iter()
            .map(|(name, (n, e))| (name.clone(), *n, e.clone()))
            .collect()
    }
}

/// The instances sharing the database, as this one's heartbeat loop last saw them:
/// this instance's id, and every instance whose heartbeat is recent (this one among
/// them once its first beat is in).
#[derive(Debug)]
pub struct Cluster {
    this: String,
    live: Mutex<Vec<Instance>>,
}

impl Cluster {
    pub fn new(this: &str) -> Arc<Cluster> {
        Arc::new(Cluster {
            this: this.to_string(),
            live: Mutex::default(),
        })
    }

    /// This instance's id.
    pub fn this(&self) -> &str {
        &self.this
    }

    /// The heartbeat loop read these instances as live.
    pub fn seen(&self, live: Vec<Instance>) {
        *lock(&self.live) = live;
    }

    /// The live instances, oldest first.
    pub fn live(&self) -> Vec<Instance> {
        lock(&self.live).clone()
    }
}

pub type UpcomingFuture<'a> =
    Pin<Box<dyn Future<Output = Vec<(String, Option<DateTime<Utc>>)>> + Send + 'a>>;

/// Each digest's next firing on any subscriber's clock (`None` for one that never
/// fires again), worked out when asked: the metrics want the schedule as of the
/// scrape, and working it out reads the subscribers' time zones, which the loop
/// should not do every turn for a gauge nobody may read. Implemented by the
/// scheduler, handed to `http` by `app`.
pub trait Upcoming: Send + Sync {
    fn upcoming(&self) -> UpcomingFuture<'_>;
}

/// A writer that panicked leaves whole values behind, so its poison is ignored.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why the mail transport is not ready. Cloned into every answer a cached probe
/// result serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The transport answered, and not well.
    #[error("{transport} transport: {reason}")]
    Refused {
        transport: &'static str,
        reason: String,
    },
    /// The transport did not answer in time.
    #[error("{transport} transport: no answer within {} s", within.as_secs())]
    Silent {
        transport: &'static str,
        within: Duration,
    },
}

pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ProbeError>> + Send + 'a>>;

/// The mail transport as the readiness check sees it: a name and a check that
/// opens a connection. Implemented in `delivery`, handed to `http` by `app`.
pub trait Probe: Send + Sync {
    /// A short name for reports (`smtp`, `file`, …).
    fn name(&self) -> &'static str;

    /// Whether the transport is usable right now. May take a while; the caller
    /// bounds it.
    fn check(&self) -> ProbeFuture<'_>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_that_ran_stops_failing_and_failures_list_by_name() {
        let health = SchedulerHealth::new(Duration::from_secs(60));
        health.failed("weekly", 2, "the disk is full");
        health.failed("daily", 1, "locked");
        assert_eq!(
            health.failing(),
            [
                ("daily".to_string(), 1, "locked".to_string()),
                ("weekly".to_string(), 2, "the disk is full".to_string()),
            ]
        );
        health.ran("daily");
        assert_eq!(health.failing().len(), 1);
    }

    #[test]
    fn probe_errors_name_the_transport() {
        let silent = ProbeError::Silent {
            transport: "smtp",
            within: Duration::from_secs(10),
        };
        assert_eq!(silent.to_string(), "smtp transport: no answer within 10 s");
        let refused = ProbeError::Refused {
            transport: "file",
            reason: "read-only".into(),
        };
        assert_eq!(refused.to_string(), "file transport: read-only");
    }
}

//! The daemon's schedule loop: every digest once at start, then whenever its schedule
//! fires on a subscriber's clock, each through [`DigestJobs::run`]. This file owns the
//! marks, the retry pause, the missed-firings count and the loop's health; the metrics
//! and health it publishes are all here (`tracing`/`metrics` calls and the
//! [`SchedulerHealth`] the health checks read).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{DigestJobs, JobError, Late};
use crate::clock::Clock;
use crate::config::Digest;
use crate::health::{SchedulerHealth, Upcoming, UpcomingFuture};

#[derive(Clone)]
pub struct DigestRunner {
    jobs: Arc<dyn DigestJobs>,
    digests: Arc<Vec<Digest>>,
    clock: Arc<dyn Clock>,
    /// What the health checks read: the loop's heartbeat (a beat each turn), the
    /// digests whose last run in the loop failed.
    health: Arc<SchedulerHealth>,
}

/// A turn of the loop is due every tick (seconds), but one turn may plan a digest for
/// a long list; this long without a turn is a hang, not a big list.
const STALLED_AFTER: StdDuration = StdDuration::from_secs(15 * 60);

impl DigestRunner {
    pub fn new(
        jobs: Arc<dyn DigestJobs>,
        digests: Vec<Digest>,
        clock: Arc<dyn Clock>,
    ) -> DigestRunner {
        DigestRunner {
            jobs,
            digests: Arc::new(digests),
            clock,
            health: SchedulerHealth::new(STALLED_AFTER),
        }
    }

    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    /// Runs one digest for its latest firing as of `now`, counting the firings too
    /// late to send as missed.
    async fn run_digest(&self, digest: &Digest, now: DateTime<Utc>) -> Result<(), JobError> {
        let missed = |late: Late<'_>| {
            for (subscriber, period) in late.iter().take(5) {
                tracing::warn!(digest = %digest.name, subscriber, missed = %period, "skipped a digest run older than max_lateness");
            }
            if !late.is_empty() {
                metrics::counter!("crier_digest_missed_total", "digest" => digest.name.clone())
                    .increment(late.len() as u64);
            }
        };
        self.jobs.run(digest, now, &missed).await
    }

    /// Whether a schedule fired on any subscriber's clock in `(since, now]`.
    async fn fired(
        &self,
        digest: &Digest,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, JobError> {
        let zones = self.jobs.timezones(&digest.name).await?;
        Ok(zones
            .iter()
            .filter_map(|z| z.parse::<chrono_tz::Tz>().ok())
            .any(|zone| {
                digest
                    .cron
                    .last_at_or_before(now, &zone)
                    .is_some_and(|t| t > since)
            }))
    }

    /// The next firing of each digest on any subscriber's clock, for the metrics.
    pub async fn next_runs(&self, now: DateTime<Utc>) -> Vec<(String, Option<DateTime<Utc>>)> {
        let mut out = Vec::new();
        for digest in self.digests.iter() {
            let zones = self.jobs.timezones(&digest.name).await.unwrap_or_default();
            let zones: Vec<chrono_tz::Tz> = if zones.is_empty() {
                vec![chrono_tz::UTC]
            } else {
                zones.iter().filter_map(|z| z.parse().ok()).collect()
            };
            let next = zones
                .iter()
                .filter_map(|z| digest.cron.next_after(now, z))
                .min();
            out.push((digest.name.clone(), next));
        }
        out
    }

    /// The daemon's loop: every digest once at start (to catch runs missed while down),
    /// then whenever a schedule fires, until `stop`. A digest's mark moves on only when
    /// its run succeeded: a run that failed (a locked or full database) is tried again
    /// with a growing pause, and planning a firing late is safe (the outbox keeps one
    /// message per subscriber and period). A retry past `max_lateness` plans nothing
    /// for that firing and counts it as missed, like any other late run.
    pub async fn run(self, mut stop: watch::Receiver<bool>, tick: StdDuration) {
        let mut marks: Vec<Mark> = self.digests.iter().map(|_| Mark::default()).collect();
        let _running = self.health.heartbeat.running();
        loop {
            self.health.heartbeat.beat();
            let now = self.clock.now();
            for (digest, mark) in self.digests.iter().zip(&mut marks) {
                if mark.retry_at.is_some_and(|at| Instant::now() < at) {
                    continue;
                }
                match self.step(digest, mark.since, now).await {
                    Ok(()) => {
                        if mark.failures > 0 {
                            tracing::info!(digest = %digest.name, "digest run succeeded after {} failed attempts", mark.failures);
                        }
                        *mark = Mark {
                            since: Some(now),
                            ..Mark::default()
                        };
                        self.health.ran(&digest.name);
                    }
                    Err(e) => {
                        mark.failures += 1;
                        let pause = retry_pause(tick, mark.failures);
                        mark.retry_at = Some(Instant::now() + pause);
                        tracing::error!(
                            digest = %digest.name,
                            attempt = mark.failures,
                            retry_in_secs = pause.as_secs(),
                            "digest run failed; it is tried again: {e}"
                        );
                        metrics::counter!("crier_digest_run_failures_total", "digest" => digest.name.clone())
                            .increment(1);
                        self.health
                            .failed(&digest.name, mark.failures, &e.to_string());
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }

    /// Runs `digest` if it fired since `since` (always when it never ran here).
    async fn step(
        &self,
        digest: &Digest,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        let due = match since {
            None => true,
            Some(since) => self.fired(digest, since, now).await?,
        };
        if due {
            self.run_digest(digest, now).await?;
        }
        Ok(())
    }

    /// The digests whose last run failed: name, failed attempts in a row, last error.
    pub fn failing(&self) -> Vec<(String, u32, String)> {
        self.health.failing()
    }

    /// What the loop publishes for the health checks and metrics.
    pub fn health(&self) -> Arc<SchedulerHealth> {
        Arc::clone(&self.health)
    }
}

/// Where one digest stands in the daemon's loop.
#[derive(Debug, Default)]
struct Mark {
    /// Firings up to this time are planned; `None` until the first run succeeds.
    since: Option<DateTime<Utc>>,
    /// Failed runs in a row, and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
}

/// The pause before the next try after `failures` failed runs: the loop's tick,
/// doubled each time, at most five minutes.
fn retry_pause(tick: StdDuration, failures: u32) -> StdDuration {
    let doubled = tick.saturating_mul(1 << failures.min(16));
    doubled.min(StdDuration::from_secs(300)).max(tick)
}

impl Upcoming for DigestRunner {
    fn upcoming(&self) -> UpcomingFuture<'_> {
        Box::pin(async move { self.next_runs(self.clock.now()).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_pause_longer_each_time_up_to_five_minutes() {
        let tick = StdDuration::from_secs(5);
        assert_eq!(retry_pause(tick, 1), StdDuration::from_secs(10));
        assert_eq!(retry_pause(tick, 2), StdDuration::from_secs(20));
        assert_eq!(retry_pause(tick, 40), StdDuration::from_secs(300));
        let fast = StdDuration::from_millis(10);
        assert_eq!(retry_pause(fast, 3), StdDuration::from_millis(80));
    }
}

//! One planner per digest run, however many instances' schedulers fire it. A run is
//! the digest and its latest firing on any subscriber's clock; its planning and
//! queueing happen under a lease on that run (renewed while the work lasts), and a
//! run that was queued is marked done for [`DONE_SECS`], so that an instance whose
//! scheduler comes to it later, or starts later, does not plan it again. An instance
//! that finds the run being planned waits: when the planner finishes it has nothing
//! to do, and when the planner died its lease runs out within [`LEASE_SECS`] and the
//! waiting instance takes the run over. The outbox's unique key per subscriber and
//! period still forbids a second queueing if two plans ever overlap.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Digests, RunError};
use crate::config::Digest;

/// How long a planner's lease lasts unless renewed; it is renewed every third of it.
pub const LEASE_SECS: i64 = 60;
/// How long a queued run stays marked done. The mark only has to outlive the run's
/// being the latest firing; a restart after that plans again and finds nothing new.
const DONE_SECS: i64 = 2 * 24 * 60 * 60;
/// How often an instance waiting for another's planning looks again.
const WAIT: Duration = Duration::from_secs(2);

/// The leases of one run: held while planning, and the mark that it was queued.
pub(super) struct RunKeys {
    pub(super) run: String,
    done: String,
}

/// Whether this instance plans the run.
pub(super) enum Turn {
    Mine,
    /// Another instance planned and queued it.
    DoneElsewhere,
}

/// The lease key of the run of `digest` that a scheduler firing at `now` is for:
/// the digest and its latest firing on any of `zones`' clocks (UTC's when it has no
/// subscriber), such as `digest:weekly:1795417200`.
pub fn run_key(digest: &Digest, zones: &[String], now: DateTime<Utc>) -> String {
    run_keys(digest, zones, now).run
}

pub(super) fn run_keys(digest: &Digest, zones: &[String], now: DateTime<Utc>) -> RunKeys {
    let mut zones: Vec<chrono_tz::Tz> = zones.iter().filter_map(|z| z.parse().ok()).collect();
    if zones.is_empty() {
        zones.push(chrono_tz::UTC);
    }
    let firing = zones
        .iter()
        .filter_map(|zone| digest.cron.last_at_or_before(now, zone))
        .max()
        .map_or(0, |t| t.timestamp());
    let run = format!("digest:{}:{firing}", digest.name);
    RunKeys {
        done: format!("{run}:done"),
        run,
    }
}

impl Digests {
    /// Waits until this instance may plan the run, or another has queued it.
    pub(super) async fn take_turn(&self, keys: &RunKeys) -> Result<Turn, RunError> {
        let mut waited = false;
        loop {
            if self.done_elsewhere(keys).await? {
                return Ok(Turn::DoneElsewhere);
            }
            let now = self.clock.now();
            if self
                .store
                .try_lease(&keys.run, &self.holder, now, LEASE_SECS)
                .await?
            {
                // A planner that finished between the look above and this lease
                // marked the run done before it let the lease go.
                if self.done_elsewhere(keys).await? {
                    self.release(keys).await;
                    return Ok(Turn::DoneElsewhere);
                }
                return Ok(Turn::Mine);
            }
            if !waited {
                tracing::info!(run = %keys.run, "another instance is planning this digest run; waiting for it");
                waited = true;
            }
            tokio::time::sleep(WAIT).await;
        }
    }

    async fn done_elsewhere(&self, keys: &RunKeys) -> Result<bool, RunError> {
        let holder = self
            .store
            .lease_holder(&keys.done, self.clock.now())
            .await?;
        Ok(holder.is_some_and(|h| *h != *self.holder))
    }

    /// Does `work` under the run's lease, renewing it; marks the run done when the
    /// work succeeded, and lets the lease go either way. A lease lost to another
    /// instance (this one stalled past it) stops the work before it queues.
    pub(super) async fn holding<T>(
        &self,
        keys: &RunKeys,
        work: impl Future<Output = Result<T, RunError>>,
    ) -> Result<T, RunError> {
        let renew = async {
            loop {
                tokio::time::sleep(Duration::from_secs(LEASE_SECS as u64 / 3)).await;
                let renewed = self
                    .store
                    .try_lease(&keys.run, &self.holder, self.clock.now(), LEASE_SECS)
                    .await;
                match renewed {
                    Ok(true) => {}
                    Ok(false) => return RunError::LeaseLost(keys.run.clone()),
                    // The lease still runs; the next renewal tries again.
                    Err(e) => {
                        tracing::warn!(run = %keys.run, "cannot renew the digest run's lease: {e}")
                    }
                }
            }
        };
        let result = tokio::select! {
            result = work => result,
            lost = renew => Err(lost),
        };
        if result.is_ok() {
            let marked = self
                .store
                .try_lease(&keys.done, &self.holder, self.clock.now(), DONE_SECS)
                .await;
            if let Err(e) = marked {
                tracing::warn!(run = %keys.run, "cannot mark the digest run done: {e}");
            }
        }
        self.release(keys).await;
        result
    }

    async fn release(&self, keys: &RunKeys) {
        if let Err(e) = self.store.release_lease(&keys.run, &self.holder).await {
            tracing::warn!(run = %keys.run, "cannot release the digest run's lease (it runs out): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily_seven() -> Digest {
        Digest {
            name: "daily".into(),
            cron: crate::cron::CronSchedule::parse("0 7 * * *").unwrap(),
            subject: None,
            lookback: chrono::Duration::days(7),
            max_lateness: chrono::Duration::hours(6),
            max_articles: 20,
            archive: true,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_run_is_the_latest_firing_on_any_subscribers_clock() {
        let digest = daily_seven();
        let zones = ["Europe/Berlin".to_string(), "America/New_York".to_string()];
        // 07:00 in Berlin is 06:00 UTC; in New York, 12:00 UTC.
        let key = |now| run_keys(&digest, &zones, at(now)).run;
        let berlin = at("2026-12-03T06:00:00Z").timestamp();
        let new_york = at("2026-12-03T12:00:00Z").timestamp();
        assert_eq!(
            key("2026-12-03T06:00:30Z"),
            format!("digest:daily:{berlin}")
        );
        assert_eq!(
            key("2026-12-03T11:59:59Z"),
            format!("digest:daily:{berlin}")
        );
        assert_eq!(
            key("2026-12-03T12:00:05Z"),
            format!("digest:daily:{new_york}")
        );
        let utc = at("2026-12-03T07:00:00Z").timestamp();
        assert_eq!(
            run_keys(&digest, &[], at("2026-12-03T08:00:00Z")).run,
            format!("digest:daily:{utc}"),
            "no subscriber: UTC's clock"
        );
    }
}

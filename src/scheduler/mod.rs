//! Scheduling: *when* digests run. The loop looks every few seconds whether a digest's
//! `cron` schedule fired on any subscriber's wall clock, keeps each digest's mark,
//! pauses before retrying a run that failed, counts the firings too late to send, and
//! reports its health. What a run *does* (plan, render, queue) is the digests
//! service's, reached only through [`DigestJobs`]: the scheduler must not use `store`,
//! `email`, `subscriptions`, `digest`, `templates` or `http`.

pub mod runner;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use crate::config::Digest;

pub use runner::DigestRunner;

/// Why a job failed. The loop only logs it and reports it as the digest's health, so
/// any error will do.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

pub type JobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JobError>> + Send + 'a>>;

/// Firings planned too late to send: subscriber id and the period.
pub type Late<'a> = &'a [(i64, DateTime<Utc>)];

/// What the loop asks of the digests service. `app` implements it over
/// `digests::Digests`; tests may implement it to drive the loop alone.
pub trait DigestJobs: Send + Sync {
    /// The time zones of the digest's subscribers, as stored: the clocks its schedule
    /// fires on.
    fn timezones<'a>(&'a self, digest: &'a str) -> JobFuture<'a, Vec<String>>;

    /// Runs the digest for its latest firing as of `now`. The firings too late to send
    /// go to `late` as soon as they are known, before anything is queued.
    fn run<'a>(
        &'a self,
        digest: &'a Digest,
        now: DateTime<Utc>,
        late: &'a (dyn Fn(Late<'_>) + Send + Sync),
    ) -> JobFuture<'a, ()>;
}

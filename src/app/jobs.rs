//! Joins the scheduler to the digests service: the scheduler asks through its own
//! narrow trait, so that it knows nothing of the store, the templates or the planner,
//! and the service knows nothing of the scheduler. Only `app` sees both.

use chrono::{DateTime, Utc};

use crate::config::Digest;
use crate::digests::Digests;
use crate::scheduler::{DigestJobs, JobFuture, Late};

impl DigestJobs for Digests {
    fn timezones<'a>(&'a self, digest: &'a str) -> JobFuture<'a, Vec<String>> {
        Box::pin(async move { Ok(Digests::timezones(self, digest).await?) })
    }

    fn run<'a>(
        &'a self,
        digest: &'a Digest,
        now: DateTime<Utc>,
        late: &'a (dyn Fn(Late<'_>) + Send + Sync),
    ) -> JobFuture<'a, ()> {
        Box::pin(async move {
            Digests::run(self, digest, now, late).await?;
            Ok(())
        })
    }
}

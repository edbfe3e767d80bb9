//! The digests service: one digest run is *plan → render → queue*. Planning is pure
//! and lives in `digest`; this service hands it the library, the subscribers and
//! their previous runs, renders each distinct body once (`email`), and queues one
//! outbox row per subscriber and period in a single transaction (`store`). It also
//! previews one subscriber's digest, and tries a run out (`trial`): a dry run that
//! plans without queueing, and a test send of one digest to any address.
//!
//! The daemon's scheduler (through the narrow `scheduler::DigestJobs`, joined to this
//! service in `app`), `crier digest plan|preview|send` and the admin console all call
//! this one service. It decides nothing about *when*: that is the scheduler's. It must
//! not use `scheduler`, `http` or `delivery`; queueing wakes delivery through the
//! `Notify` it is given, and nothing more.

mod lease;
mod queue;
pub mod reach;
mod render;
mod trial;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::articles::Library;
use crate::clock::Clock;
use crate::config::Digest;
use crate::digest::{FirstSeen, PlanInput, Planner, Planning, plan};
use crate::email::fill;
use crate::model::{Article, NewContent, Subscriber};
use crate::store::{Store, StoreError};
use crate::subscriptions::Subscriptions;
use crate::templates::{TemplateError, Templates};

/// How many subscribers planning reads at a time, so that a large list is never held
/// whole beside its plans (at 100,000 subscribers the run's peak RSS fell from 132.7
/// to 126.1 MB; BENCHMARKS.md, issue #22).
const PLAN_PAGE: i64 = 10_000;

pub use lease::{LEASE_SECS, run_key};
pub use trial::{DryRun, TestError, TestSent};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("rendering stopped: {0}")]
    Render(String),
    #[error(
        "this instance's lease on the digest run {0} ran out and another instance took the run over"
    )]
    LeaseLost(String),
}

/// What a run queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub planned: usize,
    pub queued: usize,
    pub contents: usize,
    pub empty: usize,
    pub late: usize,
    /// Another instance planned and queued this run; nothing was done here.
    pub planned_elsewhere: bool,
}

/// Which firing a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firing {
    /// Each subscriber's latest firing of the schedule, within the digest's lateness.
    Scheduled,
    /// A run for `now` itself, however late (`crier digest send`, a preview).
    Manual,
}

#[derive(Clone)]
pub struct Digests {
    store: Store,
    subscriptions: Subscriptions,
    templates: Arc<Templates>,
    library: watch::Receiver<Arc<Library>>,
    digests: Arc<Vec<Digest>>,
    clock: Arc<dyn Clock>,
    /// The From address, for the `mailto:` unsubscribe alternative.
    from_address: String,
    /// Wakes the delivery worker when a run queued something (none in a command that
    /// drains the outbox itself).
    wake: Option<Arc<Notify>>,
    /// The checkpoint started after the last run was queued (see [`Self::enqueue`]).
    checkpoint: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// The last library whose articles were all recorded (see [`Self::record_articles`]).
    recorded: Arc<std::sync::Mutex<Weak<Library>>>,
    /// Who this process is when it holds a digest run's lease (see `lease`).
    holder: Arc<str>,
    /// Told whenever a run has written editions to the archive.
    editions_written: Arc<Notify>,
}

impl Digests {
    pub fn new(
        subscriptions: Subscriptions,
        templates: Arc<Templates>,
        library: watch::Receiver<Arc<Library>>,
        digests: Vec<Digest>,
        clock: Arc<dyn Clock>,
        from_address: String,
        wake: Option<Arc<Notify>>,
    ) -> Digests {
        Digests {
            store: subscriptions.store().clone(),
            subscriptions,
            templates,
            library,
            digests: Arc::new(digests),
            clock,
            from_address,
            wake,
            checkpoint: Arc::default(),
            recorded: Arc::default(),
            holder: format!("process {}", std::process::id()).into(),
            editions_written: Arc::default(),
        }
    }

    /// Names the holder of this service's digest-run leases: the instance's id, so
    /// that two instances never take each other for the holder.
    pub fn with_holder(mut self, holder: &str) -> Digests {
        self.holder = holder.into();
        self
    }

    /// Told (`notify_one`) whenever a run has written editions to the archive, so
    /// that what serves the archive reads it again.
    pub fn editions_written(&self) -> Arc<Notify> {
        Arc::clone(&self.editions_written)
    }

    pub fn digest(&self, name: &str) -> Option<&Digest> {
        self.digests.iter().find(|d| d.name == name)
    }

    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    /// Waits for the checkpoint a run started, so that a command that exits next
    /// leaves the database file complete.
    pub async fn settle(&self) {
        let pending = self
            .checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(pending) = pending {
            let _ = pending.await;
        }
    }

    /// Notes the articles crier has not seen before. A library already recorded (the
    /// same one, still held by the weak pointer) is not written again: first-seen rows
    /// are never deleted, so its articles are all there, and a preview or a plan then
    /// takes no write transaction (the daemon records each new library as it loads).
    pub async fn record_articles(&self, library: &Arc<Library>) -> Result<usize, StoreError> {
        let recorded = |r: &Weak<Library>| std::ptr::eq(r.as_ptr(), Arc::as_ptr(library));
        if recorded(&self.recorded.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(0);
        }
        let slugs: Vec<&str> = library.articles().iter().map(|a| a.slug.as_str()).collect();
        let added = self
            .store
            .record_first_seen(&slugs, self.clock.now())
            .await?;
        *self.recorded.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(library);
        Ok(added)
    }

    /// The time zones of the digest's subscribers, as stored: the clocks its schedule
    /// fires on.
    pub async fn timezones(&self, digest: &str) -> Result<Vec<String>, StoreError> {
        self.store.subscriber_timezones(digest).await
    }

    /// Plans a digest as of `now`, for all its active subscribers or `only` one. For
    /// one, it reads only that subscriber's previous digest and the articles first seen
    /// since, not everyone's history.
    pub async fn plan(
        &self,
        digest: &Digest,
        now: DateTime<Utc>,
        firing: Firing,
        only: Option<&Subscriber>,
    ) -> Result<Planning, RunError> {
        let manual = firing == Firing::Manual;
        // Cloned out at once: a borrow held across the awaits below would stall the
        // watcher's next send.
        let library = Arc::clone(&self.library.borrow());
        self.record_articles(&library).await?;
        let (subscribers, previous, first_seen, seen_after) = match only {
            Some(subscriber) => {
                let last = self
                    .store
                    .digest_period(&digest.name, subscriber.id)
                    .await?;
                let previous: HashMap<_, _> =
                    last.map(|l| (subscriber.id, l)).into_iter().collect();
                // Every article of the library is recorded above, so the ones not
                // first seen after their previous digest was planned were not new.
                let (seen, after) = match last {
                    Some((_, planned)) => {
                        (self.store.first_seen_after(planned).await?, Some(planned))
                    }
                    None => (HashMap::new(), None),
                };
                (Some(vec![subscriber.clone()]), previous, seen, after)
            }
            // Everyone: read a page at a time on the planning thread, below.
            None => (
                None,
                self.store.digest_periods(&digest.name).await?,
                self.store.first_seen().await?,
                None,
            ),
        };
        let store = self.store.clone();
        let runtime = tokio::runtime::Handle::current();
        let base = self.subscriptions.settings().base_url.clone();
        let digest = digest.clone();
        // Planning is pure and, for a large list, seconds of CPU: it runs on a
        // blocking thread, so the daemon's HTTP and delivery threads keep serving.
        let planned = tokio::task::spawn_blocking(move || {
            let schedule = &digest.cron;
            let last_firing = |tz: &str| -> Option<DateTime<Utc>> {
                let zone: chrono_tz::Tz = tz.parse().ok()?;
                if manual {
                    Some(now)
                } else {
                    schedule.last_at_or_before(now, &zone)
                }
            };
            let article_url = |a: &Article| {
                base.join(&format!("articles/{}", a.slug))
                    .map_or_else(|_| String::new(), String::from)
            };
            let input = PlanInput {
                digest: &digest.name,
                library: &library,
                previous: &previous,
                first_seen: match seen_after {
                    Some(after) => FirstSeen::After {
                        after,
                        seen: &first_seen,
                    },
                    None => FirstSeen::All(&first_seen),
                },
                now,
                lookback: digest.lookback,
                max_lateness: if manual {
                    chrono::Duration::days(36500)
                } else {
                    digest.max_lateness
                },
                max_articles: digest.max_articles,
                last_firing: &last_firing,
                article_url: &article_url,
            };
            if let Some(subscribers) = subscribers {
                return Ok(plan(&input, subscribers));
            }
            let mut planner = Planner::default();
            // Each page is planned and dropped before the next is read: the
            // subscribers of a large list never sit in memory together.
            let mut after = 0;
            loop {
                let page = runtime.block_on(store.active_subscribers_page(
                    &digest.name,
                    after,
                    PLAN_PAGE,
                ))?;
                let Some(last) = page.last() else { break };
                after = last.id;
                let full = page.len() as i64 == PLAN_PAGE;
                planner.add(&input, page);
                if !full {
                    break;
                }
            }
            Ok::<_, StoreError>(planner.finish())
        })
        .await;
        Ok(planned.map_err(|e| RunError::Render(format!("planning stopped: {e}")))??)
    }

    /// A scheduled run: plans each subscriber's latest firing as of `now`, hands the
    /// firings too late to send (subscriber, period) to `late` before anything is
    /// queued, then renders and queues the rest. All of it under the run's lease, so
    /// that of several instances one plans it (see `lease`); the others wait for it
    /// and return a report that says so.
    pub async fn run(
        &self,
        digest: &Digest,
        now: DateTime<Utc>,
        late: impl FnOnce(&[(i64, DateTime<Utc>)]),
    ) -> Result<RunReport, RunError> {
        let zones = self.timezones(&digest.name).await?;
        let keys = lease::run_keys(digest, &zones, now);
        if let lease::Turn::DoneElsewhere = self.take_turn(&keys).await? {
            tracing::info!(digest = %digest.name, run = %keys.run, "digest run planned by another instance");
            return Ok(RunReport {
                planned_elsewhere: true,
                ..RunReport::default()
            });
        }
        let report = self
            .holding(&keys, async {
                let planning = self.plan(digest, now, Firing::Scheduled, None).await?;
                late(&planning.late);
                self.enqueue(digest, &planning).await
            })
            .await?;
        if report.queued > 0 || report.late > 0 {
            tracing::info!(
                digest = %digest.name,
                queued = report.queued,
                contents = report.contents,
                empty = report.empty,
                late = report.late,
                "digest planned"
            );
        }
        Ok(report)
    }

    /// What `subscriber` would get from `digest` now, with their own links filled in;
    /// `None` when there is nothing new for them.
    pub async fn preview(
        &self,
        digest: &Digest,
        subscriber: &Subscriber,
    ) -> Result<Option<NewContent>, RunError> {
        let Some(content) = self.render_now(digest, subscriber).await? else {
            return Ok(None);
        };
        let links = self.subscriptions.links(subscriber.id);
        Ok(Some(personal(
            content,
            subscriber.name.as_deref(),
            &links.unsubscribe_url,
            &links.preferences_url,
        )))
    }

    /// The body `subscriber` would get from `digest` now, its per-recipient markers
    /// still in; `None` when there is nothing new for them.
    async fn render_now(
        &self,
        digest: &Digest,
        subscriber: &Subscriber,
    ) -> Result<Option<NewContent>, RunError> {
        let planning = self
            .plan(digest, self.clock.now(), Firing::Manual, Some(subscriber))
            .await?;
        let Some(plan) = planning.plans.first() else {
            return Ok(None);
        };
        let zone: chrono_tz::Tz = plan.timezone.parse().unwrap_or(chrono_tz::UTC);
        Ok(Some(self.renderer(digest).render(&render::Body {
            groups: Arc::clone(&plan.groups),
            local_date: plan.period.with_timezone(&zone).date_naive(),
            more: plan.more,
            more_in: Arc::clone(&plan.more_in),
        })?))
    }
}

/// A rendered body with one reader's greeting and links filled in.
fn personal(
    content: NewContent,
    name: Option<&str>,
    unsubscribe_url: &str,
    preferences_url: &str,
) -> NewContent {
    let vars = serde_json::json!({
        "greeting": queue::greeting(name),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    });
    let vars = vars.as_object().cloned().unwrap_or_default();
    NewContent {
        subject: content.subject,
        text: fill(&content.text, &vars, false),
        html: fill(&content.html, &vars, true),
    }
}

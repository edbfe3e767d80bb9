//! Running digests: plan (pure, in `digest`), render the frozen contents once per
//! distinct content, and queue one outbox row per subscriber and period in a single
//! transaction. The daemon's loop looks every few seconds whether a schedule fired on
//! any subscriber's clock; the CLI calls the same steps by hand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::alive::{Heartbeat, Liveness};
use crate::articles::Library;
use crate::clock::Clock;
use crate::config::Digest;
use crate::digest::{PlanInput, Planning, plan};
use crate::email::render::{self, DigestParts, EmailContext};
use crate::model::{Article, Subscriber};
use crate::store::{NewContent, NewMessage, Store, StoreError};
use crate::subscriptions::Subscriptions;
use crate::templates::{TemplateError, Templates};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("rendering stopped: {0}")]
    Render(String),
}

/// One distinct digest body to render.
#[derive(Clone)]
struct Body {
    groups: Arc<Vec<crate::digest::Group>>,
    local_date: chrono::NaiveDate,
    more: usize,
}

/// What rendering a digest body needs, shared by the rendering threads.
struct BodyRenderer {
    templates: Arc<Templates>,
    ctx: EmailContext,
    name: String,
    subject: Option<String>,
    site_url: String,
}

impl BodyRenderer {
    fn render(&self, body: &Body) -> Result<NewContent, TemplateError> {
        let parts = DigestParts {
            name: &self.name,
            subject: self.subject.as_deref(),
            local_date: body.local_date,
            groups: &body.groups,
            more: body.more,
            site_url: &self.site_url,
        };
        render::digest(&self.templates, &self.ctx, &parts)
    }

    /// Renders the bodies in order, split over the machine's cores.
    fn render_all(&self, bodies: &[Body]) -> Result<Vec<NewContent>, RunError> {
        let threads = crate::work::cores();
        let per_thread = bodies.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let parts: Vec<_> = bodies
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|body| self.render(body))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(bodies.len());
            for part in parts {
                let rendered = part
                    .join()
                    .map_err(|_| RunError::Render("a rendering thread panicked".into()))??;
                all.extend(rendered);
            }
            Ok(all)
        })
    }
}

/// Makes the outbox rows of a planned run.
struct Messages<'a> {
    planning: &'a Planning,
    subscriptions: &'a Subscriptions,
    digest: &'a str,
    list_id: &'a str,
    mailto: &'a str,
}

impl Messages<'_> {
    /// The message for plan `i`, whose frozen body is `content_id`.
    fn make(&self, i: usize, content_id: i64) -> NewMessage {
        let plan = &self.planning.plans[i];
        let links = self.subscriptions.links(plan.subscriber_id);
        let greeting = match &plan.name {
            Some(name) => format!("Hello {name}."),
            None => "Hello.".to_string(),
        };
        let vars = serde_json::json!({
            "name": plan.name,
            "greeting": greeting,
            "unsubscribe_url": links.unsubscribe_url,
            "preferences_url": links.preferences_url,
            "list_id": self.list_id,
            "unsubscribe_mailto": self.mailto,
        });
        NewMessage {
            dedup_key: plan.dedup_key(self.digest),
            kind: "digest".into(),
            subscriber_id: Some(plan.subscriber_id),
            recipient: plan.email.clone(),
            content_id,
            vars: vars.to_string(),
            digest: Some((self.digest.to_string(), plan.period)),
        }
    }
}

/// What a run queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub planned: usize,
    pub queued: usize,
    pub contents: usize,
    pub empty: usize,
    pub late: usize,
}

#[derive(Clone)]
pub struct DigestRunner {
    store: Store,
    subscriptions: Subscriptions,
    templates: Arc<Templates>,
    library: watch::Receiver<Arc<Library>>,
    digests: Arc<Vec<Digest>>,
    clock: Arc<dyn Clock>,
    /// The From address, for the `mailto:` unsubscribe alternative.
    from_address: String,
    wake: Option<Arc<Notify>>,
    /// The checkpoint started after the last run was queued (see [`Self::enqueue`]).
    checkpoint: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// The digests whose last run in the daemon's loop failed.
    health: Arc<RunHealth>,
    /// Beats at each turn of the daemon's loop.
    heartbeat: Arc<Heartbeat>,
}

/// A turn of the loop is due every tick (seconds), but one turn may plan a digest for
/// a long list; this long without a turn is a hang, not a big list.
const STALLED_AFTER: StdDuration = StdDuration::from_secs(15 * 60);

impl DigestRunner {
    pub fn new(
        subscriptions: Subscriptions,
        templates: Arc<Templates>,
        library: watch::Receiver<Arc<Library>>,
        digests: Vec<Digest>,
        clock: Arc<dyn Clock>,
        from_address: String,
    ) -> DigestRunner {
        DigestRunner {
            store: subscriptions.store().clone(),
            subscriptions,
            templates,
            library,
            digests: Arc::new(digests),
            clock,
            from_address,
            wake: None,
            checkpoint: Arc::default(),
            health: Arc::default(),
            heartbeat: Heartbeat::new(STALLED_AFTER),
        }
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

    pub fn with_waker(mut self, wake: Arc<Notify>) -> DigestRunner {
        self.wake = Some(wake);
        self
    }

    pub fn digest(&self, name: &str) -> Option<&Digest> {
        self.digests.iter().find(|d| d.name == name)
    }

    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    /// Notes the articles crier has not seen before.
    pub async fn record_articles(&self, library: &Library) -> Result<usize, StoreError> {
        let slugs: Vec<&str> = library.articles().iter().map(|a| a.slug.as_str()).collect();
        self.store.record_first_seen(&slugs, self.clock.now()).await
    }

    /// Plans a digest as of `now`. `manual` plans a run for `now` itself instead of the
    /// schedule's latest firing (for `crier digest send`), with no lateness limit.
    pub async fn plan(
        &self,
        digest: &Digest,
        now: DateTime<Utc>,
        manual: bool,
        only: Option<&Subscriber>,
    ) -> Result<Planning, RunError> {
        // Cloned out at once: a borrow held across the awaits below would stall the
        // watcher's next send.
        let library = Arc::clone(&self.library.borrow());
        self.record_articles(&library).await?;
        let subscribers = match only {
            Some(subscriber) => vec![subscriber.clone()],
            None => self.store.active_subscribers(&digest.name).await?,
        };
        let previous = self.store.digest_periods(&digest.name).await?;
        let first_seen = self.store.first_seen().await?;
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
                subscribers: &subscribers,
                previous: &previous,
                first_seen: &first_seen,
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
            plan(&input)
        })
        .await;
        planned.map_err(|e| RunError::Render(format!("planning stopped: {e}")))
    }

    /// Renders and queues planned digests. Planning the same period again queues nothing.
    pub async fn enqueue(
        &self,
        digest: &Digest,
        planning: &Planning,
    ) -> Result<RunReport, RunError> {
        let settings = self.subscriptions.settings();
        let ctx = EmailContext {
            site_title: settings.site_title.clone(),
            postal_address: settings.postal_address.clone(),
            confirm_hours: settings.confirm_hours,
        };
        let site_url = settings.base_url.to_string();
        let list_id = format!(
            "{} digest <{}.{}>",
            digest.name, digest.name, settings.email_domain
        );
        let mailto = format!("mailto:{}?subject=unsubscribe", self.from_address);
        // Each distinct body (the same groups on the same local date) is rendered once.
        let now = self.clock.now();
        let mut index: HashMap<(usize, chrono::NaiveDate), usize> = HashMap::new();
        let mut bodies: Vec<Body> = Vec::new();
        let mut content_of = Vec::with_capacity(planning.plans.len());
        for plan in &planning.plans {
            let zone: chrono_tz::Tz = plan.timezone.parse().unwrap_or(chrono_tz::UTC);
            let local_date = plan.period.with_timezone(&zone).date_naive();
            let key = (Arc::as_ptr(&plan.groups) as usize, local_date);
            let next = index.len();
            let content = *index.entry(key).or_insert(next);
            if content == next {
                bodies.push(Body {
                    groups: Arc::clone(&plan.groups),
                    local_date,
                    more: plan.more,
                });
            }
            content_of.push(content);
        }
        drop(index);
        let renderer = Arc::new(BodyRenderer {
            templates: Arc::clone(&self.templates),
            ctx,
            name: digest.name.clone(),
            subject: digest.subject.clone(),
            site_url,
        });
        // Recipients of the same body are queued next to each other, so the delivery
        // worker finds each body in its small cache, and a body's recipients can be
        // queued as soon as the body is saved.
        let mut order: Vec<usize> = (0..planning.plans.len()).collect();
        order.sort_by_key(|&i| content_of[i]);
        let messages = Messages {
            planning,
            subscriptions: &self.subscriptions,
            digest: &digest.name,
            list_id: &list_id,
            mailto: &mailto,
        };

        // One transaction freezes the bodies and queues the messages. Bodies are
        // rendered a chunk at a time on every core, outside the async runtime; while
        // one chunk renders, the one before it is saved and its recipients queued. A
        // large run never holds thousands of rendered digests in memory.
        let render = |chunk: &[Body]| {
            let chunk = chunk.to_vec();
            let renderer = Arc::clone(&renderer);
            tokio::task::spawn_blocking(move || renderer.render_all(&chunk))
        };
        let mut queue = self.store.queue(&settings.email_domain, now).await?;
        let mut content_ids: Vec<i64> = Vec::with_capacity(bodies.len());
        let mut recipients = order.as_slice();
        let mut chunks = bodies.chunks(64);
        let mut next = chunks.next().map(render);
        while let Some(rendering) = next.take() {
            let rendered = rendering
                .await
                .map_err(|e| RunError::Render(e.to_string()))??;
            next = chunks.next().map(render);
            content_ids.extend(queue.save_contents(&rendered).await?);
            let ready = recipients.partition_point(|&i| content_of[i] < content_ids.len());
            let (now_ready, rest) = recipients.split_at(ready);
            recipients = rest;
            let ids = &content_ids;
            let of = &content_of;
            let messages = &messages;
            queue
                .add(
                    now_ready
                        .iter()
                        .copied()
                        .map(move |i| messages.make(i, ids[of[i]])),
                )
                .await?;
        }
        let queued = queue.commit().await?;
        if queued > 0 {
            // The bodies just frozen go from the write-ahead log into the database
            // file beside the sending, not before it.
            let store = self.store.clone();
            let pending = tokio::spawn(async move {
                if let Err(e) = store.checkpoint().await {
                    tracing::warn!("cannot checkpoint the database: {e}");
                }
            });
            *self.checkpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(pending);
            if let Some(wake) = &self.wake {
                wake.notify_one();
            }
        }
        Ok(RunReport {
            planned: planning.plans.len(),
            queued,
            contents: content_ids.len(),
            empty: planning.empty,
            late: planning.late.len(),
        })
    }

    /// Plans and queues one digest as of now, logging what it did.
    pub async fn run_digest(
        &self,
        digest: &Digest,
        now: DateTime<Utc>,
    ) -> Result<RunReport, RunError> {
        let planning = self.plan(digest, now, false, None).await?;
        for (subscriber, period) in planning.late.iter().take(5) {
            tracing::warn!(digest = %digest.name, subscriber, missed = %period, "skipped a digest run older than max_lateness");
        }
        if !planning.late.is_empty() {
            metrics::counter!("crier_digest_missed_total", "digest" => digest.name.clone())
                .increment(planning.late.len() as u64);
        }
        let report = self.enqueue(digest, &planning).await?;
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

    /// Whether a schedule fired on any subscriber's clock in `(since, now]`.
    async fn fired(
        &self,
        digest: &Digest,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let zones = self.store.subscriber_timezones(&digest.name).await?;
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

    /// The next firing of each digest on any subscriber's clock (for metrics).
    pub async fn next_runs(&self, now: DateTime<Utc>) -> Vec<(String, Option<DateTime<Utc>>)> {
        let mut out = Vec::new();
        for digest in self.digests.iter() {
            let zones = self
                .store
                .subscriber_timezones(&digest.name)
                .await
                .unwrap_or_default();
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
        let _running = self.heartbeat.running();
        loop {
            self.heartbeat.beat();
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
                        self.health.ok(&digest.name);
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
    ) -> Result<(), RunError> {
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

    /// Whether the daemon's loop (`run`) runs and turns.
    pub fn liveness(&self) -> Liveness {
        self.heartbeat.liveness()
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

/// The digests whose runs are failing, for the health check.
#[derive(Debug, Default)]
struct RunHealth(std::sync::Mutex<HashMap<String, (u32, String)>>);

impl RunHealth {
    fn ok(&self, digest: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(digest);
    }

    fn failed(&self, digest: &str, failures: u32, error: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_string(), (failures, error.to_string()));
    }

    fn failing(&self) -> Vec<(String, u32, String)> {
        let mut all: Vec<_> = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, (n, e))| (name.clone(), *n, e.clone()))
            .collect();
        all.sort();
        all
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

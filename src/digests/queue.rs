//! Queueing a planned run: the frozen bodies and one outbox row per subscriber and
//! period, in one transaction, so that a run that fails part-way leaves nothing and
//! the next one queues it all.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::Digest;
use crate::digest::Planning;
use crate::email::render::EmailContext;
use crate::model::{
    EVERYTHING, EVERYTHING_RANK, Edition, EditionArticle, NewMessage, UNKNOWN_RANK,
};
use crate::subscriptions::Subscriptions;

use super::render::{Body, BodyRenderer};
use super::{Digests, RunError, RunReport};

/// How a digest greets its reader.
pub(super) fn greeting(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("Hello {name}."),
        None => "Hello.".to_string(),
    }
}

/// The distinct bodies of a planned run (the same groups on the same local date make
/// one body, rendered once), and which of them each plan gets.
pub(super) fn distinct_bodies(planning: &Planning) -> (Vec<Body>, Vec<usize>) {
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
                more_in: Arc::clone(&plan.more_in),
            });
        }
        content_of.push(content);
    }
    (bodies, content_of)
}

/// The archive's editions of a planned run: one per day its plans fired on (on each
/// subscriber's clock), each with every (audience, article) any of them listed.
/// Nothing about the subscribers goes in.
pub(super) fn editions(
    digest: &str,
    planning: &Planning,
    position: impl Fn(&str) -> Option<usize>,
    now: DateTime<Utc>,
) -> Vec<Edition> {
    let mut by_day: std::collections::BTreeMap<NaiveDate, Edition> = Default::default();
    let mut seen: std::collections::HashSet<(NaiveDate, usize)> = Default::default();
    // (day, audience, article) already in an edition: a large run has thousands of
    // distinct contents that list the same few articles.
    let mut listed_in: std::collections::HashSet<(NaiveDate, &str, &str)> = Default::default();
    for plan in &planning.plans {
        let zone: chrono_tz::Tz = plan.timezone.parse().unwrap_or(chrono_tz::UTC);
        let date = plan.period.with_timezone(&zone).date_naive();
        let edition = by_day.entry(date).or_insert_with(|| Edition {
            digest: digest.to_string(),
            date,
            period_start: plan.period,
            period_end: plan.period,
            queued_at: now,
            articles: Vec::new(),
        });
        edition.period_start = edition.period_start.min(plan.period);
        edition.period_end = edition.period_end.max(plan.period);
        // Plans that share their groups share the work.
        if !seen.insert((date, Arc::as_ptr(&plan.groups) as usize)) {
            continue;
        }
        for group in plan.groups.iter() {
            let rank = match position(&group.slug) {
                Some(position) => position as i64,
                None if group.slug == EVERYTHING => EVERYTHING_RANK,
                None => UNKNOWN_RANK,
            };
            for listed in &group.articles {
                if !listed_in.insert((date, &group.slug, &listed.slug)) {
                    continue;
                }
                edition.articles.push(EditionArticle {
                    audience: group.slug.clone(),
                    audience_name: group.name.clone(),
                    audience_rank: rank,
                    slug: listed.slug.clone(),
                    title: listed.title.clone(),
                    url: listed.url.clone(),
                    published: listed.published.clone(),
                    summary: listed.summary.clone(),
                    category: listed.category.clone(),
                    subject: listed.subject.clone(),
                    reading_minutes: listed.reading_minutes,
                    also: listed.also.clone(),
                });
            }
        }
    }
    by_day.into_values().collect()
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
        let vars = serde_json::json!({
            "name": plan.name,
            "greeting": greeting(plan.name.as_deref()),
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

impl Digests {
    /// Renders and queues planned digests. Planning the same period again queues nothing.
    pub async fn enqueue(
        &self,
        digest: &Digest,
        planning: &Planning,
    ) -> Result<RunReport, RunError> {
        let settings = self.subscriptions.settings();
        let list_id = format!(
            "{} digest <{}.{}>",
            digest.name, digest.name, settings.email_domain
        );
        let mailto = format!("mailto:{}?subject=unsubscribe", self.from_address);
        let now = self.clock.now();
        let (bodies, content_of) = distinct_bodies(planning);
        let renderer = Arc::new(self.renderer(digest));
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
        let mut queue = self
            .store
            .queue(&self.subscriptions.message_ids(), now)
            .await?;
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
        // The archive's editions land with the messages, or neither does.
        let editions = if digest.archive {
            let library = Arc::clone(&self.library.borrow());
            let taxonomy = library.taxonomy();
            editions(&digest.name, planning, |slug| taxonomy.position(slug), now)
        } else {
            Vec::new()
        };
        for edition in &editions {
            queue.record_edition(edition).await?;
        }
        let queued = queue.commit().await?;
        if !editions.is_empty() {
            self.editions_written.notify_one();
        }
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
            empty: planning.empty.len(),
            late: planning.late.len(),
            planned_elsewhere: false,
        })
    }

    /// What renders this digest's bodies, from the site's settings.
    pub(super) fn renderer(&self, digest: &Digest) -> BodyRenderer {
        let settings = self.subscriptions.settings();
        BodyRenderer {
            templates: Arc::clone(&self.templates),
            ctx: EmailContext {
                site_title: settings.site_title.clone(),
                postal_address: settings.postal_address.clone(),
                confirm_hours: settings.confirm_hours,
            },
            name: digest.name.clone(),
            subject: digest.subject.clone(),
            site_url: settings.base_url.to_string(),
            archive: digest.archive,
        }
    }
}

//! Trying a digest out before it goes: a dry run of the whole run (planned and
//! counted, never queued), a sample reader, the schedule's next firings on a chosen
//! clock, and a test send of one digest to any address.
//!
//! A test send takes the same outbox and worker as a real digest, but it is nobody's
//! digest: its key starts with `test:` and is new each time, it names no subscriber
//! and no digest period (so the planner's marks, read from the outbox by digest and
//! period, never see it), its kind is `test`, and its subject starts with "[Test]".
//! Its links lead to the site's unsubscribe and preferences pages without a token, so
//! whoever receives it cannot change the subscription of the reader it was drawn for.

use chrono::{DateTime, Utc};

use crate::config::Digest;
use crate::model::{
    AddressError, Consent, NewMessage, Source, Status, Subscriber, hex, normalize_email,
};
use crate::store::StoreError;

use super::{Digests, Firing, RunError, personal, queue};

/// A whole run planned as of `at` and not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub at: DateTime<Utc>,
    /// Digests that would be queued, one per subscriber.
    pub digests: usize,
    /// Distinct bodies among them, each rendered once.
    pub contents: usize,
    /// Subscribers with nothing new, who would get nothing.
    pub nothing_new: usize,
    /// The addresses of the first of them, in the planner's order.
    pub nothing_new_first: Vec<String>,
    /// Subscribers already sent this period's digest.
    pub already_planned: usize,
    /// Subscribers whose time zone gives the schedule no firing.
    pub unschedulable: usize,
}

/// A test digest queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSent {
    pub to: String,
    pub subject: String,
    pub dedup_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The address is refused by the same check as a sign-up's.
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl From<StoreError> for TestError {
    fn from(e: StoreError) -> Self {
        TestError::Run(e.into())
    }
}

impl Digests {
    /// The service's clock, read once.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The next `n` firings of a digest after now, on the clock of `zone`.
    pub fn next_firings(
        &self,
        digest: &Digest,
        zone: &chrono_tz::Tz,
        n: usize,
    ) -> Vec<DateTime<chrono_tz::Tz>> {
        digest
            .cron
            .firings_after(self.clock.now(), zone)
            .take(n)
            .map(|t| t.with_timezone(zone))
            .collect()
    }

    /// The clocks worth showing a schedule on: every time zone an active subscriber
    /// reads their digests in, UTC and the default for new subscribers, sorted, each
    /// a zone chrono-tz knows.
    pub async fn clocks(&self) -> Result<Vec<String>, StoreError> {
        let mut zones = self.store.active_timezones().await?;
        zones.push("UTC".into());
        zones.push(self.subscriptions.settings().default_timezone.clone());
        zones.retain(|z| z.parse::<chrono_tz::Tz>().is_ok());
        zones.sort();
        zones.dedup();
        Ok(zones)
    }

    /// A subscriber by id (all digits) or by address; `None` when there is none.
    pub async fn subscriber(&self, key: &str) -> Result<Option<Subscriber>, StoreError> {
        let key = key.trim();
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            return match key.parse::<i64>() {
                Ok(id) => self.store.subscriber_by_id(id).await,
                Err(_) => Ok(None),
            };
        }
        match normalize_email(key) {
            Ok(email) => self.store.subscriber_by_email(&email).await,
            Err(_) => Ok(None),
        }
    }

    /// A reader who never had this digest and follows every audience: what a new
    /// subscriber to everything would get. Never stored; its id, 0, is no row's.
    pub fn sample_subscriber(&self, digest: &Digest) -> Subscriber {
        let settings = self.subscriptions.settings();
        let now = self.clock.now();
        let audiences = self
            .subscriptions
            .taxonomy()
            .audiences()
            .iter()
            .map(|a| a.slug.clone())
            .collect();
        Subscriber {
            id: 0,
            email: format!("sample@{}", settings.email_domain),
            name: None,
            status: Status::Active,
            audiences,
            frequency: digest.name.clone(),
            timezone: settings.default_timezone.clone(),
            created_at: now,
            confirmed_at: Some(now),
            unsubscribed_at: None,
            consent: Consent {
                at: now,
                source: Source::Cli,
                ip: None,
                user_agent: None,
                text_version: settings.consent_version.clone(),
            },
        }
    }

    /// The run `crier digest send` would queue now, planned and counted but not
    /// queued; the addresses of up to `show` subscribers with nothing new.
    pub async fn dry_run(&self, digest: &Digest, show: usize) -> Result<DryRun, RunError> {
        let at = self.clock.now();
        let planning = self.plan(digest, at, Firing::Manual, None).await?;
        let (bodies, _) = queue::distinct_bodies(&planning);
        let mut nothing_new_first = Vec::with_capacity(show.min(planning.empty.len()));
        for &id in planning.empty.iter().take(show) {
            if let Some(subscriber) = self.store.subscriber_by_id(id).await? {
                nothing_new_first.push(subscriber.email);
            }
        }
        Ok(DryRun {
            at,
            digests: planning.plans.len(),
            contents: bodies.len(),
            nothing_new: planning.empty.len(),
            nothing_new_first,
            already_planned: planning.done,
            unschedulable: planning.unschedulable.len(),
        })
    }

    /// Queues one test of `digest` to `to`: what `subscriber` (a real one or the
    /// [sample](Self::sample_subscriber)) would get now. `None`, and nothing queued,
    /// when there is nothing new for them. See the module's notes for what marks it
    /// as a test.
    pub async fn send_test(
        &self,
        digest: &Digest,
        subscriber: &Subscriber,
        to: &str,
    ) -> Result<Option<TestSent>, TestError> {
        let to = normalize_email(to)?;
        let Some(content) = self.render_now(digest, subscriber).await? else {
            return Ok(None);
        };
        let settings = self.subscriptions.settings();
        let page = |path: &str| {
            settings
                .base_url
                .join(path)
                .map_or_else(|_| settings.base_url.to_string(), String::from)
        };
        let mut content = personal(
            content,
            subscriber.name.as_deref(),
            &page("unsubscribe"),
            &page("preferences"),
        );
        content.subject = format!("[Test] {}", content.subject);
        let now = self.clock.now();
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)
            .map_err(|e| RunError::Render(format!("no randomness for a test's key: {e}")))?;
        let dedup_key = format!(
            "test:{}:{}:{}",
            digest.name,
            now.timestamp_millis(),
            hex(&nonce)
        );
        let mut queue = self
            .store
            .queue(&self.subscriptions.message_ids(), now)
            .await?;
        let ids = queue.save_contents(std::slice::from_ref(&content)).await?;
        queue
            .add([NewMessage {
                dedup_key: dedup_key.clone(),
                kind: "test".into(),
                subscriber_id: None,
                recipient: to.clone(),
                content_id: ids[0],
                vars: "{}".into(),
                digest: None,
            }])
            .await?;
        queue.commit().await?;
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
        Ok(Some(TestSent {
            to,
            subject: content.subject,
            dedup_key,
        }))
    }
}

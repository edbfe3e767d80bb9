//! The bounce use case: a returned message, a complaint or a provider's event comes
//! in through one of several doors (`crier bounces ingest`, the IMAP mailbox, the
//! Maildir, the webhooks); [`Bounces::ingest`] and [`Bounces::record`] find the
//! message and subscriber it is about, record a bounce event, and apply the policy:
//!
//! - a hard bounce makes the subscriber bounced and suppresses the address;
//! - a complaint makes them complained and suppresses the address at once;
//! - soft bounces are counted: `soft_limit` of them within `soft_window_days`, with
//!   no delivery between them, make the subscriber bounced;
//! - a message to a signed `unsubscribe+{token}` address unsubscribes its subscriber;
//! - auto-replies and messages no rule recognises are recorded and change nothing.
//!
//! Attribution, most exact first: the signed VERP token of the address the report
//! was delivered to (one outbox row, whatever the report's body says), then the
//! Message-ID the report carries, then the recipient address it names.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::bounce::{self, Finding, Kind, Report, verp};
use crate::clock::Clock;
use crate::config;
use crate::model::{NewBounceEvent, OutboxRow, Status, Subscriber, normalize_email};
use crate::store::{Store, StoreError};
use crate::tokens::{Signer, Verp};

/// Where a report came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The SMTP server's own refusal while crier sent.
    Smtp,
    /// `crier bounces ingest`: a pipe from the MTA, or a file.
    Pipe,
    Imap,
    Maildir,
    Ses,
    Postmark,
    Sendgrid,
    Mailgun,
}

impl Source {
    /// A provider's webhook, whose requests are verified before they are read.
    pub fn verified(self) -> bool {
        matches!(
            self,
            Source::Ses | Source::Postmark | Source::Sendgrid | Source::Mailgun
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Pipe => "pipe",
            Source::Imap => "imap",
            Source::Maildir => "maildir",
            Source::Ses => "ses",
            Source::Postmark => "postmark",
            Source::Sendgrid => "sendgrid",
            Source::Mailgun => "mailgun",
        }
    }
}

/// What one finding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The subscriber is now bounced (a hard bounce, or the soft limit reached).
    Bounced,
    /// The subscriber is now complained.
    Complained,
    /// A soft bounce, counted; the number is the count now.
    Counted,
    Unsubscribed,
    /// An auto-reply or an unrecognised message: recorded only.
    Ignored,
    /// No subscriber could be found for it: recorded only.
    Unmatched,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Bounced => "bounced",
            Action::Complained => "complained",
            Action::Counted => "counted",
            Action::Unsubscribed => "unsubscribed",
            Action::Ignored => "ignored",
            Action::Unmatched => "unmatched",
        }
    }
}

/// The result of one finding, as `crier bounces ingest --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub event_id: i64,
    pub kind: Kind,
    pub action: Action,
    pub subscriber_id: Option<i64>,
    pub outbox_id: Option<i64>,
    /// How it was attributed: `verp`, `message-id`, `recipient` or `none`.
    pub matched_by: &'static str,
    /// Soft bounces counted, for a soft bounce.
    pub soft_count: Option<u32>,
    pub status: Option<String>,
    pub reason: String,
}

#[derive(Clone)]
pub struct Bounces {
    store: Store,
    signer: Signer,
    clock: Arc<dyn Clock>,
    settings: Arc<config::Bounces>,
}

/// The message and subscriber a finding is about.
struct Target {
    row: Option<OutboxRow>,
    subscriber: Option<Subscriber>,
    matched_by: &'static str,
    /// A signed unsubscribe address was among the report's recipients.
    unsubscribe: bool,
}

impl Bounces {
    pub fn new(
        store: Store,
        signer: Signer,
        clock: Arc<dyn Clock>,
        settings: config::Bounces,
    ) -> Bounces {
        Bounces {
            store,
            signer,
            clock,
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &config::Bounces {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Classifies one raw message and records what it says.
    pub async fn ingest(&self, source: Source, raw: &[u8]) -> Result<Vec<Outcome>, StoreError> {
        let report = bounce::classify(raw);
        self.record(source, report).await
    }

    /// Records every finding of a report and applies the policy to each.
    pub async fn record(&self, source: Source, report: Report) -> Result<Vec<Outcome>, StoreError> {
        let mut findings = report.findings;
        if findings.is_empty() {
            findings.push(Finding {
                kind: Kind::Unknown,
                recipient: None,
                message_id: None,
                status: None,
                reason: "no finding".into(),
            });
        }
        let mut outcomes = Vec::with_capacity(findings.len());
        for finding in findings {
            let target = self.target(&report.delivered_to, &finding).await?;
            outcomes.push(self.apply(source, finding, target).await?);
        }
        Ok(outcomes)
    }

    /// The outbox row a signed token among `delivered_to` names, with its use.
    fn token(&self, delivered_to: &[String]) -> Option<(i64, Verp)> {
        let uses = [
            (self.settings.address.as_ref(), Verp::Bounce),
            (self.settings.unsubscribe.as_ref(), Verp::Unsubscribe),
        ];
        for address in delivered_to {
            for (base, which) in uses {
                let Some(base) = base else { continue };
                if let Some(token) = verp::token_in(address, &base.local, &base.domain)
                    && let Ok(id) = self.signer.verify_verp(token, which)
                {
                    return Some((id, which));
                }
            }
        }
        None
    }

    async fn target(
        &self,
        delivered_to: &[String],
        finding: &Finding,
    ) -> Result<Target, StoreError> {
        let mut target = Target {
            row: None,
            subscriber: None,
            matched_by: "none",
            unsubscribe: false,
        };
        if let Some((id, which)) = self.token(delivered_to) {
            target.unsubscribe = which == Verp::Unsubscribe;
            target.row = self.store.outbox_row(id).await?;
            target.matched_by = "verp";
        }
        if target.row.is_none()
            && let Some(message_id) = &finding.message_id
        {
            target.row = self.store.outbox_by_message_id(message_id).await?;
            if target.row.is_some() {
                target.matched_by = "message-id";
            }
        }
        if let Some(id) = target.row.as_ref().and_then(|r| r.subscriber_id) {
            target.subscriber = self.store.subscriber_by_id(id).await?;
        }
        // A token names its row even when the row was pruned; the recipient is the
        // last resort, and only when no token or Message-ID named a row.
        if target.subscriber.is_none()
            && target.row.is_none()
            && target.matched_by == "none"
            && let Some(email) = finding
                .recipient
                .as_deref()
                .and_then(|r| normalize_email(r).ok())
        {
            target.subscriber = self.store.subscriber_by_email(&email).await?;
            if target.subscriber.is_some() {
                target.matched_by = "recipient";
            }
        }
        Ok(target)
    }

    async fn apply(
        &self,
        source: Source,
        finding: Finding,
        target: Target,
    ) -> Result<Outcome, StoreError> {
        let now = self.clock.now();
        // Mail to a signed unsubscribe address is a request, unless it is a bounce or
        // an automatic answer to it.
        let kind = match finding.kind {
            Kind::Unknown | Kind::Unsubscribe if target.unsubscribe => Kind::Unsubscribe,
            // A provider's own unsubscribe event (its link, its list-unsubscribe
            // handling) comes through a webhook whose signature was verified.
            Kind::Unsubscribe if source.verified() => Kind::Unsubscribe,
            // A mailed request needs the signed address: a message that only claims
            // to be one changes nothing.
            Kind::Unsubscribe => Kind::Unknown,
            kind => kind,
        };
        let email_hash = target
            .subscriber
            .as_ref()
            .map(|s| self.signer.email_hash(&s.email))
            .or_else(|| {
                target
                    .row
                    .as_ref()
                    .filter(|r| r.recipient != "[erased]")
                    .map(|r| self.signer.email_hash(&r.recipient))
            });
        let planned = match (&target.subscriber, kind) {
            (_, Kind::AutoReply | Kind::Unknown) => Action::Ignored,
            (None, _) => Action::Unmatched,
            (Some(_), Kind::Hard) => Action::Bounced,
            (Some(_), Kind::Complaint) => Action::Complained,
            (Some(_), Kind::Soft) => Action::Counted,
            (Some(_), Kind::Unsubscribe) => Action::Unsubscribed,
        };
        let sent_at = target.row.as_ref().and_then(|r| r.sent_at);
        let event_id = self
            .store
            .record_bounce(&NewBounceEvent {
                subscriber_id: target.subscriber.as_ref().map(|s| s.id),
                outbox_id: target.row.as_ref().map(|r| r.id),
                email_hash: email_hash.clone(),
                kind: kind.as_str().into(),
                source: source.as_str().into(),
                status_code: finding.status.clone(),
                reason: bounce::one_line(&finding.reason),
                action: planned.as_str().into(),
                sent_at,
                at: now,
            })
            .await?;
        let mut action = planned;
        let mut soft_count = None;
        if let Some(subscriber) = &target.subscriber {
            let hash = email_hash.clone().unwrap_or_default();
            let channel = source.as_str();
            match planned {
                Action::Bounced => {
                    self.end(subscriber, &hash, Status::Bounced, channel, now)
                        .await?;
                }
                Action::Complained => {
                    self.end(subscriber, &hash, Status::Complained, channel, now)
                        .await?;
                }
                Action::Unsubscribed => {
                    if subscriber.status != Status::Unsubscribed {
                        self.store
                            .unsubscribe_subscriber(subscriber.id, &hash, "mailto", now)
                            .await?;
                        metrics::counter!("crier_unsubscribes_total").increment(1);
                    }
                }
                Action::Counted => {
                    let since = now - Duration::days(i64::from(self.settings.soft_window_days));
                    let count = self
                        .store
                        .soft_bounces(subscriber.id, since, sent_at.unwrap_or(now))
                        .await?;
                    soft_count = Some(count);
                    if count >= self.settings.soft_limit {
                        action = Action::Bounced;
                        self.store
                            .set_bounce_action(event_id, action.as_str())
                            .await?;
                        self.end(subscriber, &hash, Status::Bounced, channel, now)
                            .await?;
                    }
                }
                Action::Ignored | Action::Unmatched => {}
            }
        }
        metrics::counter!(
            "crier_bounce_events_total",
            "kind" => kind.as_str(),
            "source" => source.as_str(),
            "action" => action.as_str()
        )
        .increment(1);
        Ok(Outcome {
            event_id,
            kind,
            action,
            subscriber_id: target.subscriber.as_ref().map(|s| s.id),
            outbox_id: target.row.as_ref().map(|r| r.id),
            matched_by: target.matched_by,
            soft_count,
            status: finding.status,
            reason: bounce::one_line(&finding.reason),
        })
    }

    /// Ends a subscription for a bounce or complaint. A subscriber already ended the
    /// same way stays as they are; a complaint after a bounce still records the
    /// stronger status, since a complaint is what mailbox providers count.
    async fn end(
        &self,
        subscriber: &Subscriber,
        hash: &str,
        status: Status,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if subscriber.status == status || subscriber.status == Status::Complained {
            return Ok(());
        }
        self.store
            .end_subscription(subscriber.id, hash, status, channel, now)
            .await?;
        Ok(())
    }
}

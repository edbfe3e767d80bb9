//! The subscription use cases shared by the web pages, the admin API and the CLI:
//! checking what people ask for against the taxonomy and the config, deciding what a
//! sign-up does to an address crier knows, changing the store, and queueing the
//! confirmation email through the outbox. The store only reads and writes rows; the
//! rules live here and in `model` (the pure part, [`Status::on_sign_up`]). The
//! taxonomy is the current library's, read from the same watch channel as every other
//! part that needs the library, so a changed `audiences.toml` reaches sign-ups when it
//! reaches the site.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::clock::Clock;
use crate::email::render::{self, EmailContext};
use crate::model::{
    Consent, MessageIds, NewContent, NewMessage, OnConfirm, OnSignUp, Source, Status, Subscriber,
    clean_name, normalize_email,
};
use crate::store::{
    NewSubscriber, Registration, Store, StoreError, SubscriberChanges, Suppression,
};
use crate::templates::{TemplateError, Templates};
use crate::tokens::{Purpose, Signer, TokenError};

mod bulk;
mod export;
mod import;
mod links;
mod problem;

pub use bulk::BulkAction;
pub use export::{spreadsheet_safe, write_csv};
pub use import::{COLUMNS, ImportReport, Mapping, Preview, RowError, preview_csv};
pub use links::Link as OpenedLink;
pub use problem::Problem;

/// How long unsubscribe and preference links in emails keep working.
pub const LINK_DAYS: i64 = 400;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// What the person typed, field by field.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("this link is not valid: {0}")]
    Token(#[from] TokenError),
    #[error("no such subscriber")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// What a sign-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUp {
    /// A new pending subscriber.
    Created(Subscriber),
    /// Already pending: the new choices wait for the confirmation; one may be sent again.
    StillPending(Subscriber),
    /// Already active: nothing changed (a web form may not change someone's choices).
    AlreadyActive(Subscriber),
    /// Had left: the record stays as it is, and the new choices wait for the
    /// confirmation.
    Renewed(Subscriber),
    /// Bounced or complained: nothing is stored and no mail goes out.
    Refused(Subscriber),
}

impl SignUp {
    /// What a sign-up does to the record of an address crier knows: the rule is
    /// [`Status::on_sign_up`]; this names the outcome.
    fn for_known(known: Subscriber) -> SignUp {
        match known.status.on_sign_up() {
            OnSignUp::Nothing => SignUp::AlreadyActive(known),
            OnSignUp::Refuse => SignUp::Refused(known),
            OnSignUp::HoldUntilConfirmed if known.status == Status::Pending => {
                SignUp::StillPending(known)
            }
            OnSignUp::HoldUntilConfirmed => SignUp::Renewed(known),
        }
    }

    pub fn subscriber(&self) -> &Subscriber {
        match self {
            SignUp::Created(s)
            | SignUp::StillPending(s)
            | SignUp::AlreadyActive(s)
            | SignUp::Renewed(s)
            | SignUp::Refused(s) => s,
        }
    }
}

/// What someone asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub email: String,
    pub name: Option<String>,
    pub audiences: Vec<String>,
    pub frequency: Option<String>,
    pub timezone: Option<String>,
    pub source: Option<Source>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Settings the use cases need, taken from the config by `app`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: url::Url,
    pub site_title: String,
    pub postal_address: String,
    pub email_domain: String,
    pub frequencies: Vec<String>,
    pub default_frequency: String,
    pub default_timezone: String,
    pub consent_version: String,
    pub confirm_hours: u32,
}

/// The signed links of one subscriber.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub unsubscribe_url: String,
    pub preferences_url: String,
}

#[derive(Clone)]
pub struct Subscriptions {
    store: Store,
    signer: Signer,
    templates: Arc<Templates>,
    clock: Arc<dyn Clock>,
    library: watch::Receiver<Arc<Library>>,
    settings: Arc<Settings>,
    wake: Option<Arc<Notify>>,
}

impl Subscriptions {
    pub fn new(
        store: Store,
        signer: Signer,
        templates: Arc<Templates>,
        clock: Arc<dyn Clock>,
        library: watch::Receiver<Arc<Library>>,
        settings: Settings,
    ) -> Subscriptions {
        Subscriptions {
            store,
            signer,
            templates,
            clock,
            library,
            settings: Arc::new(settings),
            wake: None,
        }
    }

    /// Wakes the delivery worker whenever a message is queued.
    pub fn with_waker(mut self, wake: Arc<Notify>) -> Subscriptions {
        self.wake = Some(wake);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How this deployment names the messages it queues.
    pub fn message_ids(&self) -> MessageIds {
        self.signer.message_ids(&self.settings.email_domain)
    }

    pub fn taxonomy(&self) -> Arc<Taxonomy> {
        self.library.borrow().taxonomy_arc()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn url(&self, path: &str, token: &str) -> String {
        let mut url = self
            .settings
            .base_url
            .join(path)
            .unwrap_or_else(|_| self.settings.base_url.clone());
        url.query_pairs_mut().append_pair("token", token);
        url.to_string()
    }

    fn email_context(&self) -> EmailContext {
        EmailContext {
            site_title: self.settings.site_title.clone(),
            postal_address: self.settings.postal_address.clone(),
            confirm_hours: self.settings.confirm_hours,
        }
    }

    /// Signed links for emails and pages.
    pub fn links(&self, id: i64) -> Links {
        let expires = self.now() + Duration::days(LINK_DAYS);
        Links {
            unsubscribe_url: self.url(
                "unsubscribe",
                &self.signer.sign(id, Purpose::Unsubscribe, expires),
            ),
            preferences_url: self.url(
                "preferences",
                &self.signer.sign(id, Purpose::Preferences, expires),
            ),
        }
    }

    /// Checks a request and normalises it into a subscriber record.
    pub fn check(
        &self,
        request: &Request,
        status: Status,
    ) -> Result<NewSubscriber, SubscriptionError> {
        self.check_each(request, status)
            .map_err(|problems| SubscriptionError::Invalid(problem::texts(&problems)))
    }

    /// [`Self::check`], with what is wrong as typed [`Problem`]s.
    pub fn check_each(
        &self,
        request: &Request,
        status: Status,
    ) -> Result<NewSubscriber, Vec<Problem>> {
        let mut problems = Vec::new();
        let email = normalize_email(&request.email)
            .map_err(|e| problems.push(Problem::Address(e)))
            .unwrap_or_default();
        let taxonomy = self.taxonomy();
        let mut audiences: Vec<String> = request
            .audiences
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        audiences.sort();
        audiences.dedup();
        for unknown in audiences.iter().filter(|a| !taxonomy.is_choice(a)) {
            problems.push(Problem::UnknownAudience(unknown.clone()));
        }
        if audiences.is_empty() {
            problems.push(Problem::NoAudience);
        }
        let frequency = request
            .frequency
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .unwrap_or(&self.settings.default_frequency)
            .to_string();
        if !self.settings.frequencies.contains(&frequency) {
            problems.push(Problem::UnknownFrequency {
                given: frequency.clone(),
                allowed: self.settings.frequencies.clone(),
            });
        }
        let timezone = request
            .timezone
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.settings.default_timezone)
            .to_string();
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push(Problem::UnknownTimezone(timezone.clone()));
        }
        let name = clean_name(request.name.as_deref())
            .map_err(|e| problems.push(Problem::Name(e)))
            .unwrap_or_default();
        if !problems.is_empty() {
            return Err(problems);
        }
        let source = request.source.unwrap_or(Source::Cli);
        Ok(NewSubscriber {
            email_hash: self.signer.email_hash(&email),
            email,
            name,
            audiences,
            frequency,
            timezone,
            status,
            consent: Consent {
                at: self.now(),
                source,
                ip: request.ip.clone(),
                user_agent: request
                    .user_agent
                    .as_deref()
                    .map(|ua| ua.chars().take(400).collect()),
                text_version: self.settings.consent_version.clone(),
            },
        })
    }

    /// A sign-up that needs confirming (web form, API, CLI without `--active`). The
    /// answer does not depend on whether the address was known.
    ///
    /// A sign-up for an address crier knows changes nothing in its record: the new
    /// choices wait until the owner confirms them from the mail, which describes them.
    /// Bounced and complained addresses get no mail at all.
    pub async fn sign_up(&self, request: &Request) -> Result<SignUp, SubscriptionError> {
        let new = self.check(request, Status::Pending)?;
        self.sign_up_checked(&new).await
    }

    /// [`Self::sign_up`] for a request already checked (as pending).
    pub async fn sign_up_checked(&self, new: &NewSubscriber) -> Result<SignUp, SubscriptionError> {
        let outcome = match self.store.sign_up(new, self.now()).await? {
            Registration::Created(created) => SignUp::Created(created),
            Registration::Known(known) => {
                // Decided while the store holds the record, so it cannot change first.
                let outcome = SignUp::for_known(known.subscriber().clone());
                match known.subscriber().status.on_sign_up() {
                    OnSignUp::HoldUntilConfirmed => known.hold().await?,
                    OnSignUp::Nothing | OnSignUp::Refuse => known.leave().await?,
                };
                outcome
            }
        };
        match &outcome {
            SignUp::AlreadyActive(_) | SignUp::Refused(_) => {}
            SignUp::Created(created) => {
                self.send_confirmations(std::slice::from_ref(created))
                    .await?;
            }
            SignUp::StillPending(known) | SignUp::Renewed(known) => {
                let asked = Subscriber {
                    name: new.name.clone(),
                    audiences: new.audiences.clone(),
                    frequency: new.frequency.clone(),
                    timezone: new.timezone.clone(),
                    status: Status::Pending,
                    ..known.clone()
                };
                self.send_confirmations(std::slice::from_ref(&asked))
                    .await?;
            }
        }
        Ok(outcome)
    }

    /// An admin adds someone directly: active at once when `active` (unless the address
    /// is suppressed), otherwise pending with a confirmation email.
    pub async fn add(
        &self,
        request: &Request,
        active: bool,
    ) -> Result<Subscriber, SubscriptionError> {
        let new = self.check(
            request,
            if active {
                Status::Active
            } else {
                Status::Pending
            },
        )?;
        if active && self.store.is_suppressed(&new.email_hash).await? {
            return Err(SubscriptionError::Invalid(vec![format!(
                "{} unsubscribed or was erased; only a new sign-up with confirmation can bring it back",
                new.email
            )]));
        }
        let created = self.store.add_subscriber(&new, self.now()).await?;
        if !active {
            self.send_confirmations(std::slice::from_ref(&created))
                .await?;
        }
        Ok(created)
    }

    /// Queues confirmation emails, at most one per subscriber every ten minutes.
    pub async fn send_confirmations(
        &self,
        subscribers: &[Subscriber],
    ) -> Result<usize, SubscriptionError> {
        let now = self.now();
        let taxonomy = self.taxonomy();
        let ctx = self.email_context();
        let pending: Vec<i64> = subscribers
            .iter()
            .filter(|s| s.status == Status::Pending)
            .map(|s| s.id)
            .collect();
        let allowed: std::collections::HashSet<i64> = self
            .store
            .note_confirmation_sent(&pending, now, now - Duration::minutes(10))
            .await?
            .into_iter()
            .collect();
        let recipients: Vec<&Subscriber> = subscribers
            .iter()
            .filter(|s| allowed.contains(&s.id))
            .collect();
        // One body per frequency and choice of audiences, saved first; each message
        // then only adds its recipient's link.
        let mut contents: Vec<NewContent> = Vec::new();
        let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut content_of = Vec::with_capacity(recipients.len());
        for subscriber in &recipients {
            let mut chosen: Vec<&String> = subscriber.audiences.iter().collect();
            chosen.sort_by_key(|slug| taxonomy.position(slug).unwrap_or(usize::MAX));
            let names: Vec<String> = chosen.iter().map(|s| taxonomy.choice_name(s)).collect();
            let key = format!("{}|{}", subscriber.frequency, names.join("|"));
            let index = match by_key.get(&key) {
                Some(&index) => index,
                None => {
                    contents.push(render::confirmation(
                        &self.templates,
                        &ctx,
                        &subscriber.frequency,
                        &names,
                    )?);
                    by_key.insert(key, contents.len() - 1);
                    contents.len() - 1
                }
            };
            content_of.push(index);
        }
        let content_ids = self.store.save_contents(&contents, now).await?;
        // Indices, not references, go through the iterator: the future stays `Send`.
        let messages = (0..recipients.len()).map(|i| {
            let subscriber = recipients[i];
            let token = self.signer.sign(
                subscriber.id,
                Purpose::Confirm,
                now + Duration::hours(i64::from(self.settings.confirm_hours)),
            );
            let greeting = match &subscriber.name {
                Some(name) => format!("Hello {name},"),
                None => "Hello,".to_string(),
            };
            let vars = serde_json::json!({
                "name": subscriber.name,
                "greeting": greeting,
                "confirm_url": self.url("confirm", &token),
            });
            NewMessage {
                dedup_key: format!("confirm:{}:{}", subscriber.id, now.timestamp()),
                kind: "confirmation".into(),
                subscriber_id: Some(subscriber.id),
                recipient: subscriber.email.clone(),
                content_id: content_ids[content_of[i]],
                vars: vars.to_string(),
                digest: None,
            }
        });
        let queued = self
            .store
            .enqueue(messages, &self.message_ids(), now)
            .await?;
        if queued > 0
            && let Some(wake) = &self.wake
        {
            wake.notify_one();
        }
        Ok(queued)
    }

    /// The subscriber a token stands for.
    pub async fn subscriber_for(
        &self,
        token: &str,
        purpose: Purpose,
    ) -> Result<Subscriber, SubscriptionError> {
        let id = self.signer.verify(token, purpose, self.now())?;
        self.store
            .subscriber_by_id(id)
            .await?
            .ok_or(SubscriptionError::Gone)
    }

    pub async fn confirm(
        &self,
        token: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Subscriber, SubscriptionError> {
        let subscriber = self.subscriber_for(token, Purpose::Confirm).await?;
        let hash = self.signer.email_hash(&subscriber.email);
        let confirmation = self
            .store
            .confirmation(subscriber.id)
            .await?
            .ok_or(SubscriptionError::Gone)?;
        // Decided while the store holds the record, so it cannot change first.
        let current = confirmation.subscriber();
        match current.status.on_confirm(confirmation.has_held_sign_up()) {
            OnConfirm::Nothing => Ok(confirmation.leave().await?),
            OnConfirm::Activate => confirmation
                .activate(&hash, ip, user_agent, self.now())
                .await?
                .ok_or(SubscriptionError::Gone),
            OnConfirm::Refuse => {
                confirmation.leave().await?;
                Err(SubscriptionError::Gone)
            }
        }
    }

    /// Unsubscribes the subscriber a token names (one-click or the page's button),
    /// even when the link is past its date (see [`Self::subscriber_for_leaving`]).
    pub async fn unsubscribe(
        &self,
        token: &str,
        channel: &str,
    ) -> Result<Subscriber, SubscriptionError> {
        let link = self.subscriber_for_leaving(token).await?;
        self.unsubscribe_subscriber(&link.subscriber, channel).await
    }

    pub async fn unsubscribe_subscriber(
        &self,
        subscriber: &Subscriber,
        channel: &str,
    ) -> Result<Subscriber, SubscriptionError> {
        let hash = self.signer.email_hash(&subscriber.email);
        let after = self
            .store
            .unsubscribe_subscriber(subscriber.id, &hash, channel, self.now())
            .await?
            .ok_or(SubscriptionError::Gone)?;
        metrics::counter!("crier_unsubscribes_total").increment(1);
        Ok(after)
    }

    /// Changes choices, checked like a sign-up.
    pub async fn update(
        &self,
        subscriber: &Subscriber,
        changes: SubscriberChanges,
    ) -> Result<Subscriber, SubscriptionError> {
        let request = Request {
            email: subscriber.email.clone(),
            name: changes.name.clone().unwrap_or(subscriber.name.clone()),
            audiences: changes
                .audiences
                .clone()
                .unwrap_or(subscriber.audiences.clone()),
            frequency: changes
                .frequency
                .clone()
                .or(Some(subscriber.frequency.clone())),
            timezone: changes
                .timezone
                .clone()
                .or(Some(subscriber.timezone.clone())),
            ..Request::default()
        };
        let checked = self.check(&request, subscriber.status)?;
        if changes.status == Some(Status::Active)
            && subscriber.status != Status::Active
            && self.store.is_suppressed(&checked.email_hash).await?
        {
            return Err(SubscriptionError::Invalid(vec![format!(
                "{} unsubscribed or was erased; only a new sign-up with confirmation can bring it back",
                subscriber.email
            )]));
        }
        let normalised = SubscriberChanges {
            name: Some(checked.name),
            audiences: Some(checked.audiences),
            frequency: Some(checked.frequency),
            timezone: Some(checked.timezone),
            status: changes.status,
        };
        self.store
            .update_subscriber(subscriber.id, &normalised, &checked.email_hash, self.now())
            .await?
            .ok_or(SubscriptionError::Gone)
    }

    /// An address's keyed hash (as the suppression list keeps it) and its entry on
    /// that list, if any.
    pub async fn suppression_of(
        &self,
        email: &str,
    ) -> Result<(String, Option<Suppression>), SubscriptionError> {
        let email =
            normalize_email(email).map_err(|e| SubscriptionError::Invalid(vec![e.to_string()]))?;
        let hash = self.signer.email_hash(&email);
        let found = self.store.suppression(&hash).await?;
        Ok((hash, found))
    }

    /// Lifts the suppression of a keyed hash. Returns whether there was one. The
    /// subscriber's status stays; the address may then be added or activated again.
    pub async fn lift_suppression(&self, email_hash: &str) -> Result<bool, SubscriptionError> {
        Ok(self.store.lift_suppression(email_hash, self.now()).await?)
    }

    /// Queues every failed delivery again (as `crier deliveries retry --failed`
    /// does) and wakes the delivery worker. Returns how many.
    pub async fn retry_failed_deliveries(&self) -> Result<u64, SubscriptionError> {
        let requeued = self.store.retry_failed(self.now()).await?;
        if requeued > 0
            && let Some(wake) = &self.wake
        {
            wake.notify_one();
        }
        Ok(requeued)
    }

    /// Erases a subscriber, keeping only the suppression hash.
    pub async fn erase(&self, subscriber: &Subscriber) -> Result<(), SubscriptionError> {
        let hash = self.signer.email_hash(&subscriber.email);
        self.store
            .erase_subscriber(subscriber.id, &hash, self.now())
            .await?;
        metrics::counter!("crier_unsubscribes_total").increment(1);
        Ok(())
    }
}

/// Everything crier keeps about a subscriber, for the "download my data" button.
pub fn data_export(subscriber: &Subscriber) -> serde_json::Value {
    serde_json::json!({
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "audiences": subscriber.audiences,
        "frequency": subscriber.frequency,
        "timezone": subscriber.timezone,
        "created_at": subscriber.created_at,
        "confirmed_at": subscriber.confirmed_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
        "consent": subscriber.consent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(status: Status) -> Subscriber {
        Subscriber {
            id: 7,
            email: "ada@example.org".into(),
            name: None,
            status,
            audiences: vec!["hr".into()],
            frequency: "weekly".into(),
            timezone: "UTC".into(),
            created_at: DateTime::<Utc>::default(),
            confirmed_at: None,
            unsubscribed_at: None,
            consent: Consent {
                at: DateTime::<Utc>::default(),
                source: Source::Form,
                ip: None,
                user_agent: None,
                text_version: "1".into(),
            },
        }
    }

    #[test]
    fn a_sign_up_for_a_known_address_follows_its_status() {
        for (status, expected) in [
            (
                Status::Pending,
                SignUp::StillPending(known(Status::Pending)),
            ),
            (Status::Active, SignUp::AlreadyActive(known(Status::Active))),
            (
                Status::Unsubscribed,
                SignUp::Renewed(known(Status::Unsubscribed)),
            ),
            (Status::Bounced, SignUp::Refused(known(Status::Bounced))),
            (
                Status::Complained,
                SignUp::Refused(known(Status::Complained)),
            ),
        ] {
            assert_eq!(SignUp::for_known(known(status)), expected, "{status:?}");
        }
    }
}

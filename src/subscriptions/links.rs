//! Getting back in: a link that is past its date still lets its owner leave, and
//! someone who lost their emails can ask for a fresh link to their preferences by
//! typing their address. What an address gets is decided here ([`Status::may_be_sent_a_link`]
//! in `model`), never by the page, which gives the same answer for every address.

use chrono::Duration;

use super::{SubscriptionError, Subscriptions};
use crate::email::render;
use crate::model::{NewMessage, Subscriber, normalize_email};
use crate::tokens::Purpose;

/// The subscriber an unsubscribe or preferences link names, and whether the link
/// is past its date.
#[derive(Debug, Clone)]
pub struct Link {
    pub subscriber: Subscriber,
    pub expired: bool,
}

/// At most one mail that a stranger's form can make crier send to an address in
/// this window: a confirmation or a preferences link (they share the record's
/// `confirmation_sent_at`).
const ONE_MAIL_PER: i64 = 10;

impl Subscriptions {
    /// The subscriber of an unsubscribe or preferences link, genuine but perhaps
    /// expired. Mailbox providers expect unsubscribe links to keep working, so
    /// leaving never needs a fresh link; every other use of an expired link is
    /// refused by its caller.
    pub async fn subscriber_for_leaving(&self, token: &str) -> Result<Link, SubscriptionError> {
        let (id, expired) = self.signer.verify_any_allowing_expired(
            token,
            &[Purpose::Unsubscribe, Purpose::Preferences],
            self.now(),
        )?;
        let subscriber = self
            .store
            .subscriber_by_id(id)
            .await?
            .ok_or(SubscriptionError::Gone)?;
        Ok(Link {
            subscriber,
            expired,
        })
    }

    /// Mails a fresh link to the preferences of the subscriber with this address, if
    /// there is one who may get mail ([`crate::model::Status::may_be_sent_a_link`]) and
    /// no such mail or confirmation went to it in the last ten minutes. Returns
    /// whether a message was queued; a caller that answers strangers must not let
    /// that show.
    pub async fn send_preferences_link(&self, email: &str) -> Result<bool, SubscriptionError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(false);
        };
        let Some(subscriber) = self.store.subscriber_by_email(&email).await? else {
            return Ok(false);
        };
        if !subscriber.status.may_be_sent_a_link() {
            return Ok(false);
        }
        let now = self.now();
        let allowed = self
            .store
            .note_confirmation_sent(&[subscriber.id], now, now - Duration::minutes(ONE_MAIL_PER))
            .await?;
        if allowed.is_empty() {
            return Ok(false);
        }
        let content = render::preferences_link(&self.templates, &self.email_context())?;
        let content_ids = self.store.save_contents(&[content], now).await?;
        let greeting = match &subscriber.name {
            Some(name) => format!("Hello {name},"),
            None => "Hello,".to_string(),
        };
        let vars = serde_json::json!({
            "name": subscriber.name,
            "greeting": greeting,
            "preferences_url": self.links(subscriber.id).preferences_url,
        });
        let message = NewMessage {
            dedup_key: format!("preferences-link:{}:{}", subscriber.id, now.timestamp()),
            kind: "preferences-link".into(),
            subscriber_id: Some(subscriber.id),
            recipient: subscriber.email.clone(),
            content_id: content_ids[0],
            vars: vars.to_string(),
            digest: None,
        };
        let queued = self
            .store
            .enqueue(std::iter::once(message), &self.message_ids(), now)
            .await?;
        if queued > 0
            && let Some(wake) = &self.wake
        {
            wake.notify_one();
        }
        Ok(queued > 0)
    }
}

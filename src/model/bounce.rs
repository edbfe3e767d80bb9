//! Bounce events as the store keeps them: what a returned message, a complaint or a
//! provider's event said, which message and subscriber it was about, and what it did.
//! Kinds, sources and actions are the words `bounces` writes (`hard`, `imap`,
//! `bounced`, …); the store keeps them as text and decides nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A bounce event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBounceEvent {
    pub subscriber_id: Option<i64>,
    pub outbox_id: Option<i64>,
    /// The keyed hash of the address it was about, when known.
    pub email_hash: Option<String>,
    pub kind: String,
    pub source: String,
    pub status_code: Option<String>,
    pub reason: String,
    pub action: String,
    /// When the message it names was sent (its outbox row's `sent_at`), if known.
    pub sent_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// A recorded bounce event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BounceEvent {
    pub id: i64,
    pub subscriber_id: Option<i64>,
    pub outbox_id: Option<i64>,
    pub kind: String,
    pub source: String,
    pub status_code: Option<String>,
    pub reason: String,
    pub action: String,
    pub at: DateTime<Utc>,
}

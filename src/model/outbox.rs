//! The outbox's rows as plain data: a frozen body ([`Content`]), a message to queue
//! ([`NewMessage`]) and a queued one ([`OutboxRow`]). Planning, rendering and delivery
//! all speak in these; only `store` turns them into SQL. No I/O here.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Queued,
    Sending,
    Sent,
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Queued => "queued",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    /// Reads a stored status; anything unknown is queued, so it is tried again.
    pub fn parse(s: &str) -> OutboxStatus {
        match s {
            "sending" => OutboxStatus::Sending,
            "sent" => OutboxStatus::Sent,
            "failed" => OutboxStatus::Failed,
            _ => OutboxStatus::Queued,
        }
    }
}

/// A frozen message body, shared by every recipient of the same content. Bodies may
/// hold placeholders that each row's `vars` fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub id: i64,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Content to freeze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Unique per message: the same key again is ignored.
    pub dedup_key: String,
    pub kind: String,
    pub subscriber_id: Option<i64>,
    pub recipient: String,
    /// The id of its frozen body ([`Content`]).
    pub content_id: i64,
    /// JSON object of placeholder values for this recipient.
    pub vars: String,
    /// For digests: the schedule's name and the period this message covers.
    pub digest: Option<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub dedup_key: String,
    pub kind: String,
    pub subscriber_id: Option<i64>,
    pub recipient: String,
    pub content_id: i64,
    pub vars: String,
    /// `<…@domain>`, a keyed hash of the dedup key ([`MessageIds`]): the same on every
    /// attempt.
    pub message_id: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Why an outbox row cannot become a message. Each is about the row itself, so a
/// retry would fail the same way. It lives here because the composer (in `email`)
/// makes it and delivery's `Compose` trait hands it on, and neither may use the other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("bad recipient values in outbox row {row}: {reason}")]
    Vars { row: i64, reason: String },
    #[error("bad recipient {recipient}: {reason}")]
    Recipient { recipient: String, reason: String },
    #[error("cannot build message {row}: {reason}")]
    Build { row: i64, reason: String },
}

/// How one deployment names its messages: `<hex@domain>`, the hex an HMAC-SHA256 of
/// the row's dedup key under a key of the deployment's own (derived from its secret by
/// `tokens::Signer::message_ids`). The same row gets the same Message-ID on every
/// attempt; two deployments (staging and production, say) never share one, though
/// their dedup keys (`digest:{name}:{subscriber}:{period}`) may well be equal.
#[derive(Clone)]
pub struct MessageIds {
    domain: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for MessageIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageIds")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl MessageIds {
    pub fn new(domain: &str, key: &[u8]) -> MessageIds {
        MessageIds {
            domain: domain.to_string(),
            key: key.to_vec(),
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The Message-ID of the message queued under `dedup_key`.
    pub fn for_key(&self, dedup_key: &str) -> String {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(dedup_key.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("<{}@{}>", hex(&digest[..16]), self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::MessageIds;

    #[test]
    fn message_ids_follow_the_dedup_key_and_the_key() {
        let ids = MessageIds::new("news.example.test", b"one deployment");
        let id = ids.for_key("confirm:1:2");
        assert_eq!(id, ids.for_key("confirm:1:2"));
        assert_ne!(id, ids.for_key("confirm:1:3"));
        let other = MessageIds::new("news.example.test", b"another deployment");
        assert_ne!(id, other.for_key("confirm:1:2"));
        assert!(
            id.starts_with('<') && id.ends_with("@news.example.test>"),
            "{id}"
        );
        assert_eq!(id.len(), "<@news.example.test>".len() + 32, "{id}");
    }
}

//! The mail providers' webhooks, without the HTTP: each provider's check that a
//! request comes from it (given the body, the headers' values and the configured keys
//! or a fetched certificate as bytes) and its events read into [`Finding`]s.
//!
//! - [`ses`]: Amazon SES through SNS; the SNS message's RSA signature over the
//!   canonical string AWS documents, made with the certificate its `SigningCertURL`
//!   names.
//! - [`sendgrid`]: the signed event webhook, ECDSA P-256 over the timestamp and body.
//! - [`mailgun`]: HMAC-SHA256 of the timestamp and token under the signing key.
//! - [`postmark`]: HTTP basic auth with the configured user and password.
//!
//! What the providers mean by each event, and the kinds chosen for them, is written
//! beside each parser. Across providers, a soft bounce is a message the relay gave up
//! on for a temporary reason; the relay's own retries along the way are not findings.
//! Events that say nothing about deliverability (deliveries, opens, clicks) give no
//! finding.

pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod ses;

use std::collections::{HashSet, VecDeque};

use super::{Finding, Kind, one_line, status_code};

/// How far a signed timestamp may be from now, either way, in seconds: the replay
/// window of SendGrid's and Mailgun's signatures.
pub const REPLAY_WINDOW_SECS: i64 = 600;

/// Why a request was refused before anything was recorded: 401, except
/// [`Refused::Key`], which is the configuration's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A header or field that carries the signature or credentials is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// The signature, or the message that carries it, cannot be read.
    #[error("{0} cannot be read")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// The signed timestamp is outside the replay window.
    #[error("the signed timestamp is outside the replay window")]
    Stale,
    /// A signed token or message seen before.
    #[error("the request was seen before")]
    Replayed,
    /// The certificate or subscription URL is not one the provider would use.
    #[error("the URL {0} is not accepted")]
    Url(&'static str),
    /// The signing certificate cannot be read, or holds no RSA key.
    #[error("the signing certificate cannot be read")]
    Certificate,
    /// A topic the configuration does not list.
    #[error("the topic is not accepted")]
    Topic,
    /// Wrong user or password.
    #[error("the credentials are wrong")]
    Credentials,
    /// The configured key is not one (`[bounces.sendgrid] public_key`).
    #[error("the configured key cannot be read")]
    Key,
}

impl Refused {
    /// A label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Refused::Missing(_) => "missing",
            Refused::Malformed(_) => "malformed",
            Refused::Signature => "signature",
            Refused::Stale => "stale",
            Refused::Replayed => "replayed",
            Refused::Url(_) => "url",
            Refused::Certificate => "certificate",
            Refused::Topic => "topic",
            Refused::Credentials => "credentials",
            Refused::Key => "key",
        }
    }
}

/// A signed payload whose events cannot be read: 400, with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPayload(pub String);

impl From<serde_json::Error> for BadPayload {
    fn from(e: serde_json::Error) -> Self {
        BadPayload(format!("the events are not the JSON expected: {e}"))
    }
}

/// Whether `timestamp` (Unix seconds) is within [`REPLAY_WINDOW_SECS`] of `now`.
pub fn fresh(timestamp: i64, now: i64) -> bool {
    timestamp.abs_diff(now) <= REPLAY_WINDOW_SECS.unsigned_abs()
}

/// The last few tokens or message ids seen, to refuse a request replayed while it is
/// remembered: for `window` seconds, and at most `limit` of them (past that the
/// oldest is forgotten first).
#[derive(Debug)]
pub struct Seen {
    limit: usize,
    window: i64,
    order: VecDeque<(i64, String)>,
    known: HashSet<String>,
}

impl Seen {
    pub fn new(limit: usize, window: i64) -> Seen {
        Seen {
            limit: limit.max(1),
            window,
            order: VecDeque::new(),
            known: HashSet::new(),
        }
    }

    /// Remembers `id`, seen at `now`; false if it was already known. Entries older
    /// than the window are forgotten first.
    pub fn first_time(&mut self, id: &str, now: i64) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_sub(*at) <= self.window && self.order.len() < self.limit {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.known.remove(&old);
            }
        }
        if !self.known.insert(id.to_string()) {
            return false;
        }
        self.order.push_back((now, id.to_string()));
        true
    }

    /// Forgets `id`, as if it had never been seen.
    pub fn forget(&mut self, id: &str) {
        if self.known.remove(id) {
            self.order.retain(|(_, known)| known != id);
        }
    }
}

/// A finding from a provider's fields: the recipient trimmed and lower-cased, the
/// Message-ID in angle brackets, the status code only when it is an enhanced one
/// (RFC 3463), the reason in one line.
pub(crate) fn finding(
    kind: Kind,
    recipient: Option<&str>,
    message_id: Option<&str>,
    status: Option<&str>,
    reason: &str,
) -> Finding {
    let recipient = recipient
        .map(|r| r.trim().to_lowercase())
        .filter(|r| !r.is_empty());
    let reason = one_line(reason);
    Finding {
        kind,
        recipient,
        message_id: message_id.and_then(angle),
        status: status
            .and_then(status_code)
            .or_else(|| status_code(&reason)),
        reason,
    }
}

/// `id` in angle brackets, as a Message-ID header writes it.
pub fn angle(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| format!("<{id}>"))
}

/// The text at `path` in a JSON value: a string, or a number written out.
pub(crate) fn text<'a>(
    value: &'a serde_json::Value,
    path: &[&str],
) -> Option<std::borrow::Cow<'a, str>> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    match at {
        serde_json::Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        serde_json::Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_found_in_text() {
        assert_eq!(status_code("5.1.1").as_deref(), Some("5.1.1"));
        assert_eq!(
            status_code("smtp; 550 5.1.1 <a@b.example>: user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            status_code("452 4.2.2 Mailbox full.").as_deref(),
            Some("4.2.2")
        );
        assert_eq!(status_code("version 1.2.3 of 550"), None);
        assert_eq!(status_code("5.1234.1"), None);
        assert_eq!(status_code(""), None);
        // An SMTP server's reply, as the delivery worker records it.
        assert_eq!(
            status_code("550 5.1.1 <a@example.org>: Recipient address rejected").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(status_code("554 Transaction failed"), None);
        assert_eq!(
            status_code("552-5.2.2 The mailbox is full").as_deref(),
            Some("5.2.2")
        );
    }

    #[test]
    fn message_ids_get_their_brackets() {
        assert_eq!(angle("abc@x.example").as_deref(), Some("<abc@x.example>"));
        assert_eq!(
            angle(" <abc@x.example> ").as_deref(),
            Some("<abc@x.example>")
        );
        assert_eq!(angle("<>"), None);
        assert_eq!(angle("a b"), None);
    }

    #[test]
    fn findings_are_normalised() {
        let f = finding(
            Kind::Hard,
            Some(" Ann@Example.ORG "),
            Some("id@x"),
            None,
            "550 5.1.1\n  no such user",
        );
        assert_eq!(f.recipient.as_deref(), Some("ann@example.org"));
        assert_eq!(f.message_id.as_deref(), Some("<id@x>"));
        assert_eq!(f.status.as_deref(), Some("5.1.1"));
        assert_eq!(f.reason, "550 5.1.1 no such user");
        let f = finding(Kind::Soft, Some(""), None, Some("nonsense"), "");
        assert_eq!(f.recipient, None);
        assert_eq!(f.status, None);
    }

    #[test]
    fn the_window_holds_both_ways() {
        assert!(fresh(1000, 1000));
        assert!(fresh(1000 - 600, 1000));
        assert!(fresh(1000 + 600, 1000));
        assert!(!fresh(1000 - 601, 1000));
        assert!(!fresh(1000 + 601, 1000));
        assert!(!fresh(i64::MIN, 1000));
    }

    #[test]
    fn seen_refuses_a_repeat_and_forgets_old_and_excess_ids() {
        let mut seen = Seen::new(2, REPLAY_WINDOW_SECS);
        assert!(seen.first_time("a", 0));
        assert!(!seen.first_time("a", 10));
        assert!(seen.first_time("b", 10));
        // Full: the oldest goes to make room.
        assert!(seen.first_time("c", 20));
        assert!(seen.first_time("a", 20));
        // Past the window, everything older is forgotten.
        let mut seen = Seen::new(100, REPLAY_WINDOW_SECS);
        assert!(seen.first_time("a", 0));
        assert!(seen.first_time("a", REPLAY_WINDOW_SECS + 1));
    }
}

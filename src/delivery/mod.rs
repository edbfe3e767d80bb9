//! Delivery: claims outbox rows, turns each into a message through an injected
//! [`Compose`], sends it through a [`Mailer`] (SMTP, file outbox or sendmail), and
//! writes the outcome back. Failures are typed so the worker can retry, slow down or
//! give up. The worker publishes its health in a
//! [`DeliveryHealth`](crate::health::DeliveryHealth), and the transport's check goes
//! to the health checks as a [`TransportProbe`]: nothing outside `app` holds the
//! worker or the mailer to ask them.

pub mod probe;
pub mod retry;
pub mod smtp;
pub mod transport;
pub mod worker;

use std::future::Future;
use std::pin::Pin;

use lettre::address::Envelope;
use tokio::sync::watch;

use crate::model::{ComposeError, Content, OutboxRow};

pub use probe::TransportProbe;
pub use smtp::{SmtpMailer, SmtpSetupError};
pub use transport::{FileMailer, OutboxFolderError, SendmailMailer};
pub use worker::{Pacer, Worker, WorkerSettings, share};

/// A message ready for the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub envelope: Envelope,
    pub raw: Vec<u8>,
}

/// Builds the message for an outbox row. `app` implements it over the email module's
/// composer and hands it in, so delivery never renders anything itself.
pub trait Compose: Send + Sync {
    fn compose(&self, row: &OutboxRow, content: &Content) -> Result<Outgoing, ComposeError>;
}

/// `text` with each occurrence of `address`, in any letter case (servers echo it as
/// they like), replaced by `by`.
pub fn replace_address(text: &str, address: &str, by: &str) -> String {
    if address.is_empty() {
        return text.to_string();
    }
    // ASCII lowercasing keeps byte offsets, so matches in `lower` are matches in `text`.
    let lower = text.to_ascii_lowercase();
    let needle = address.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[from..at]);
        out.push_str(by);
        from = at + needle.len();
    }
    out.push_str(&text[from..]);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Try again later: 4xx replies, timeouts, dropped connections.
    Transient,
    /// The server asks us to slow down (421, 450, 451, 454): retry, and send slower.
    Throttled,
    /// Never going to work for this recipient: 5xx.
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub kind: FailureKind,
    pub message: String,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> SendError {
        SendError {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Opens once a sender's previous message is on record as sent. A transport waits for
/// it just before it hands a message over for good (the SMTP body, the file, the
/// sendmail pipe). So a crash leaves at most one message per sender sent but not
/// recorded, while the record of one message overlaps the start of the next.
#[derive(Debug, Clone, Default)]
pub struct Gate(Option<watch::Receiver<bool>>);

/// A gate that is always open.
static OPEN: Gate = Gate(None);

impl Gate {
    /// A gate and the switch that opens it.
    pub fn closed() -> (watch::Sender<bool>, Gate) {
        let (open, gate) = watch::channel(false);
        (open, Gate(Some(gate)))
    }

    /// Returns once the gate is open, or its switch is gone.
    pub async fn wait(&self) {
        if let Some(gate) = &self.0 {
            let _ = gate.clone().wait_for(|open| *open).await;
        }
    }
}

/// Something that delivers messages.
pub trait Mailer: Send + Sync {
    /// Sends `message`, waiting for `gate` just before it hands the message over.
    fn send_after<'a>(&'a self, message: &'a Outgoing, gate: &'a Gate) -> SendFuture<'a>;

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        self.send_after(message, &OPEN)
    }

    /// Whether the transport is usable right now (for health checks).
    fn check(&self) -> SendFuture<'_>;

    /// A short name for logs.
    fn name(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_replaced_in_any_letter_case() {
        assert_eq!(
            replace_address(
                "550 5.1.1 <Ada@Example.org>: no such user ada@example.org",
                "ada@example.org",
                "hash:0123"
            ),
            "550 5.1.1 <hash:0123>: no such user hash:0123"
        );
        assert_eq!(
            replace_address("nothing here", "ada@example.org", "x"),
            "nothing here"
        );
        assert_eq!(replace_address("ünïcode ok", "", "x"), "ünïcode ok");
    }
}

//! What becomes of a message that was not sent: retried with backoff under the retry
//! policy, or failed for good with its reason, counted apart when it is poisoned (it
//! can never be sent as it is). Also the worker's totals, and how a log line names a
//! recipient. Sending itself is `send`'s.

use chrono::{DateTime, Utc};

use super::{Outcome, Worker};
use crate::delivery::replace_address;
use crate::model::{AddressLog, OutboxRow};

impl Worker {
    pub(super) fn count(&self, f: impl FnOnce(&mut Outcome)) {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut outcome);
        self.health.counted(outcome.sent, outcome.poisoned);
    }

    pub(super) async fn retry_or_fail(&self, row: &OutboxRow, error: &str, now: DateTime<Utc>) {
        let jitter = getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
        match self
            .settings
            .policy
            .next_attempt(row.attempts, row.created_at, now, jitter)
        {
            Some(at) => {
                tracing::info!(id = row.id, attempts = row.attempts, retry_at = %at, "delivery deferred: {}", self.logged(row, error).1);
                if let Err(e) = self.store.reschedule(row.id, at, error).await {
                    tracing::error!(id = row.id, "cannot reschedule: {e}");
                }
                self.count(|o| o.retried += 1);
            }
            None => {
                let reason = format!("gave up after {} attempts: {error}", row.attempts);
                self.fail(row, &reason).await;
            }
        }
    }

    /// A message that can never be sent as it is: failed at once, with the reason,
    /// and counted apart so that health checks and metrics show it.
    pub(super) async fn poisoned(&self, row: &OutboxRow, error: &str) {
        self.count(|o| o.poisoned += 1);
        metrics::counter!("crier_poison_messages_total").increment(1);
        self.fail(row, error).await;
    }

    /// How the log shows `row`'s recipient, and `text` (which may be a server's reply
    /// that echoes the address) as it may be logged: see [`AddressLog`]. The outbox
    /// row keeps the text as it was, for `crier deliveries`.
    pub(super) fn logged(&self, row: &OutboxRow, text: &str) -> (String, String) {
        match self.settings.log_addresses {
            AddressLog::Plain => (row.recipient.clone(), text.to_string()),
            AddressLog::Hashed => {
                let hash = self.signer.email_hash(&row.recipient);
                let shown = format!("hash:{}", &hash[..16]);
                let text = replace_address(text, &row.recipient, &shown);
                (shown, text)
            }
        }
    }

    pub(super) async fn fail(&self, row: &OutboxRow, error: &str) {
        let (recipient, shown_error) = self.logged(row, error);
        tracing::error!(id = row.id, %recipient, "delivery failed: {shown_error}");
        if let Err(e) = self.store.mark_failed(row.id, error).await {
            tracing::error!(id = row.id, "cannot record the failure: {e}");
        }
        self.count(|o| o.failed += 1);
        metrics::counter!("crier_sends_total", "result" => "failed").increment(1);
    }
}

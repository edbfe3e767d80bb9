//! The senders: each takes claimed rows from the queue one at a time, waits its turn
//! in the pace, composes the message, hands it to the mailer once its previous
//! message is on record, and records the send. A message that panics fails alone.
//! Every other outcome (a refusal, a bounce, a message that cannot be built) goes to
//! `outcome`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use super::Worker;
use super::claim::{Claimed, Queue};
use super::journal::Recorder;
use crate::delivery::{FailureKind, Gate};
use crate::model::{Content, NewBounceEvent, OutboxRow, Status};

impl Worker {
    /// Takes rows from the queue and sends them, one at a time, until the queue closes.
    pub(super) async fn sender(self, queue: Arc<Queue>, recorder: Recorder) {
        let mut recorded = Gate::default();
        while let Ok(Claimed { row, status }) = queue.rows.recv_async().await {
            if queue.rows.len() <= queue.low_water {
                queue.refill.notify_one();
            }
            self.pace.wait_turn().await;
            // A message that panics anywhere on its way (composing, formatting, the
            // transport) fails alone and for good: the sender lives on, and the row
            // never comes back to panic again.
            let delivery = AssertUnwindSafe(self.deliver(&row, status, &recorder, &recorded))
                .catch_unwind()
                .await;
            match delivery {
                Ok(Some(gate)) => recorded = gate,
                Ok(None) => {}
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    self.poisoned(&row, &format!("crier crashed while sending it ({what})"))
                        .await;
                }
            }
            queue.in_flight().remove(&row.id);
            self.health.heartbeat.beat();
            if queue.rows.is_empty() {
                queue.refill.notify_one();
            }
        }
        recorded.wait().await;
    }

    async fn content(&self, id: i64) -> Option<Arc<Content>> {
        if let Some(found) = self.contents.get(id) {
            return Some(found);
        }
        let content = self.store.content(id).await.ok()??;
        Some(self.contents.insert(id, content))
    }

    /// Sends one row, handing it over once `recorded` (the sender's last message on
    /// record) opens. `status` is its subscriber's status, read when the row was
    /// claimed. Returns the gate of this row's own record when it was sent.
    async fn deliver(
        &self,
        row: &OutboxRow,
        status: Option<Status>,
        recorder: &Recorder,
        recorded: &Gate,
    ) -> Option<Gate> {
        // Digests go only to active subscribers, whatever happened since they were
        // queued (a retry of an old failure, a status changed by an admin).
        if row.kind == "digest" && row.subscriber_id.is_some() && status != Some(Status::Active) {
            let status = status.map_or("erased", Status::as_str);
            self.fail(row, &format!("not sent: the subscriber is {status}"))
                .await;
            return None;
        }
        let Some(content) = self.content(row.content_id).await else {
            self.poisoned(row, "its frozen content is missing").await;
            return None;
        };
        let message = match self.composer.compose(row, &content) {
            Ok(message) => message,
            Err(e) => {
                self.poisoned(row, &format!("cannot build the message: {e}"))
                    .await;
                return None;
            }
        };
        let result = self.mailer.send_after(&message, recorded).await;
        let now = self.clock.now();
        match result {
            Ok(()) => {
                let gate = recorder.sent(row.id);
                self.pace.succeeded().await;
                self.count(|o| o.sent += 1);
                metrics::counter!("crier_sends_total", "result" => "sent").increment(1);
                return Some(gate);
            }
            Err(e) if e.kind == FailureKind::Permanent => {
                // `fail` logs it, once, with the recipient as the settings show it.
                self.fail(row, &e.message).await;
                if let Some(subscriber) = row.subscriber_id {
                    let hash = self.signer.email_hash(&row.recipient);
                    if let Err(e) = self
                        .store
                        .end_subscription(subscriber, &hash, Status::Bounced, "smtp", now)
                        .await
                    {
                        tracing::error!(subscriber, "cannot mark the subscriber bounced: {e}");
                    }
                    // The same record a returned message would leave, so `crier bounces
                    // list`, the API and the console show every bounce in one place.
                    let event = NewBounceEvent {
                        subscriber_id: Some(subscriber),
                        outbox_id: Some(row.id),
                        email_hash: Some(hash),
                        kind: "hard".into(),
                        source: "smtp".into(),
                        status_code: crate::bounce::status_code(&e.message),
                        reason: e.message.chars().take(500).collect(),
                        action: "bounced".into(),
                        sent_at: None,
                        at: now,
                    };
                    if let Err(e) = self.store.record_bounce(&event).await {
                        tracing::error!(subscriber, "cannot record the bounce: {e}");
                    }
                    metrics::counter!("crier_bounces_total").increment(1);
                }
            }
            Err(e) => {
                if e.kind == FailureKind::Throttled {
                    let pause = self.pace.throttled().await;
                    tracing::warn!(
                        pause_ms = pause.as_millis() as u64,
                        "the server asks us to slow down: {}",
                        self.logged(row, &e.message).1
                    );
                    metrics::counter!("crier_sends_total", "result" => "throttled").increment(1);
                } else {
                    metrics::counter!("crier_sends_total", "result" => "deferred").increment(1);
                }
                self.retry_or_fail(row, &e.message, now).await;
            }
        }
        None
    }
}

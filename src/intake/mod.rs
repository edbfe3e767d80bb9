//! The long-running doors returned mail comes in by: the IMAP mailbox
//! (`[bounces] imap_url`, [`imap::Mailbox`]) and the Maildir (`[bounces] maildir`,
//! [`maildir::Maildir`]). Each reads raw messages, hands every one to
//! [`Bounces::ingest`](crate::bounces::Bounces::ingest), and only once it is recorded
//! moves the message out of the way. A message the database could not take stays
//! where it is for the next round.
//!
//! Neither loop ever ends the daemon: an error is logged (never a password, never a
//! message), counted, and retried after a pause that doubles up to a cap. `app`
//! starts them and stops them through the daemon's stop signal.
//!
//! Uses `bounces` and `config` only: what a message means and what it does to a
//! subscriber is the service's business.

pub mod imap;
pub mod maildir;

use std::time::Duration;

use tokio::sync::watch;

/// The largest message read; a bounce quoting a huge message is cut there, as
/// `crier bounces ingest` cuts it (the report's parts come first).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// The first pause after an error, doubled at each error in a row up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

/// The pause before the next try after an error, doubling up to a cap.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_MIN)
    }

    /// The pause to wait now; the next one is twice as long.
    fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        now
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
}

/// Whether the daemon is stopping (its stop sender said so, or is gone).
fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Waits `pause`, or less if the daemon stops meanwhile. True when it stops.
async fn pause_or_stop(stop: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    if stopping(stop) {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(pause) => {}
        () = stopped(stop) => {}
    }
    stopping(stop)
}

/// Resolves once the daemon stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Counts one message recorded from `source`.
fn count_message(source: &'static str) {
    metrics::counter!("crier_bounce_intake_messages_total", "source" => source).increment(1);
}

/// Counts one failed round (or one message that could not be read) of `source`.
fn count_error(source: &'static str) {
    metrics::counter!("crier_bounce_intake_errors_total", "source" => source).increment(1);
}

/// The actions of a message's findings, for the log: `bounced`, `ignored,counted`.
fn actions(outcomes: &[crate::bounces::Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| o.action.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_starts_over_when_reset() {
        let mut b = Backoff::new();
        let pauses: Vec<u64> = (0..9).map(|_| b.next().as_secs()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        b.reset();
        assert_eq!(b.next().as_secs(), 5);
    }

    #[tokio::test]
    async fn a_pause_ends_early_when_the_daemon_stops() {
        let (tx, mut rx) = watch::channel(false);
        let started = std::time::Instant::now();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(true).unwrap();
            tx
        });
        assert!(pause_or_stop(&mut rx, Duration::from_secs(60)).await);
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(stopper.await.unwrap());
        // A dropped sender counts as a stop too.
        assert!(pause_or_stop(&mut rx, Duration::from_secs(60)).await);
    }
}

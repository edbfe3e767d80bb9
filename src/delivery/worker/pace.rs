//! The pace of sending, shared by every sender of a worker: a minimum gap between
//! messages (this instance's share of the configured rate), and one pause for all of
//! them when a server replies that we send too fast, growing while it keeps saying so.
//! It decides only when a sender may go; it sends nothing and touches no store.
//!
//! `[delivery] rate_per_second` is the whole deployment's: each of the instances
//! alive on the database sends at an equal share of it ([`share`]), changed by the
//! heartbeat loop in `app` through a [`Pacer`] whenever the number of live instances
//! changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// The shared pace of sending: a minimum gap between messages, and a pause that
/// throttling replies impose on everyone.
pub(super) struct Pace {
    /// The minimum gap between messages in nanoseconds; 0 for none.
    gap: AtomicU64,
    pub(super) state: tokio::sync::Mutex<PaceState>,
}

pub(super) struct PaceState {
    pub(super) next_slot: Instant,
    pub(super) paused_until: Instant,
    pub(super) throttle_backoff: Duration,
}

/// Messages per second for one of `live` instances when the deployment may send
/// `total` (0 for no limit, which stays 0): an equal share. An instance that sees no
/// live instance, not even itself (its first beat has not been read back), counts
/// itself alone.
pub fn share(total: f64, live: usize) -> f64 {
    if total > 0.0 {
        total / live.max(1) as f64
    } else {
        0.0
    }
}

/// The gap between messages at `rate` messages per second; `None` for no limit.
fn gap(rate: f64) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate))
}

impl Pace {
    /// A pace of `rate` messages per second (0 for no limit), free to go now.
    pub(super) fn new(rate: f64) -> Pace {
        let now = Instant::now();
        let pace = Pace {
            gap: AtomicU64::new(0),
            state: tokio::sync::Mutex::new(PaceState {
                next_slot: now,
                paused_until: now,
                throttle_backoff: Duration::from_secs(1),
            }),
        };
        pace.set_rate(rate);
        pace
    }

    /// Sends at `rate` messages per second from the next turn on (0 for no limit).
    fn set_rate(&self, rate: f64) {
        let nanos = gap(rate).map_or(0, |g| g.as_nanos().clamp(1, u64::MAX as u128) as u64);
        self.gap.store(nanos, Relaxed);
    }

    /// Messages per second now; 0 for no limit.
    pub(super) fn rate(&self) -> f64 {
        self.gap().map_or(0.0, |g| 1.0 / g.as_secs_f64())
    }

    fn gap(&self) -> Option<Duration> {
        match self.gap.load(Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    pub(super) async fn wait_turn(&self) {
        let (at, now) = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let at = state.next_slot.max(state.paused_until).max(now);
            if let Some(gap) = self.gap() {
                state.next_slot = at + gap;
            }
            (at, now)
        };
        // A turn that is already due is taken at once. Tokio's timer rounds a deadline
        // up to its next millisecond tick and fires it on a later turn of its driver, so
        // sleeping until "now" held every message back by up to a millisecond.
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }

    pub(super) async fn throttled(&self) -> Duration {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        // Sends in flight together are throttled together: one pause for all of them,
        // longer only when the server still complains after a pause.
        if now >= state.paused_until {
            state.throttle_backoff =
                (state.throttle_backoff * 2).clamp(Duration::from_secs(2), Duration::from_secs(60));
            state.paused_until = now + state.throttle_backoff;
        }
        state.paused_until - now
    }

    pub(super) async fn succeeded(&self) {
        let mut state = self.state.lock().await;
        state.throttle_backoff = Duration::from_secs(1);
    }
}

/// Sets a worker's share of the deployment's rate (see [`share`]).
#[derive(Clone)]
pub struct Pacer {
    pub(super) pace: Arc<Pace>,
    /// The deployment's messages per second; 0 for no limit.
    pub(super) total: f64,
}

impl Pacer {
    /// `live` instances share the rate now; returns this instance's share.
    pub fn set_instances(&self, live: usize) -> f64 {
        let rate = share(self.total, live);
        self.pace.set_rate(rate);
        rate
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    fn pace(gap: Option<Duration>) -> Pace {
        Pace::new(gap.map_or(0.0, |g| 1.0 / g.as_secs_f64()))
    }

    #[test]
    fn the_rate_is_shared_equally_by_the_live_instances() {
        assert_eq!(share(90.0, 1), 90.0);
        assert_eq!(share(90.0, 3), 30.0);
        assert_eq!(share(10.0, 4), 2.5);
        // No instance read back yet: this one counts itself alone.
        assert_eq!(share(90.0, 0), 90.0);
        // No limit stays no limit, however many share it.
        assert_eq!(share(0.0, 3), 0.0);
    }

    #[tokio::test]
    async fn a_pacer_changes_the_gap_from_the_next_turn() {
        let pacer = Pacer {
            pace: Arc::new(pace(None)),
            total: 2.0,
        };
        assert!(ready_at_once(pacer.pace.wait_turn()));
        assert_eq!(pacer.set_instances(2), 1.0);
        assert_eq!(pacer.pace.gap(), Some(Duration::from_secs(1)));
        assert!(ready_at_once(pacer.pace.wait_turn()));
        assert!(!ready_at_once(pacer.pace.wait_turn()), "a second later");
        assert_eq!(pacer.set_instances(1), 2.0);
        assert_eq!(pacer.pace.gap(), Some(Duration::from_millis(500)));
    }

    /// Polls once, as a sender's first look at its turn.
    fn ready_at_once(future: impl Future<Output = ()>) -> bool {
        let mut future = pin!(future);
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[tokio::test]
    async fn an_unpaced_sender_never_waits_for_the_timer() {
        let unpaced = pace(None);
        for _ in 0..100 {
            assert!(ready_at_once(unpaced.wait_turn()));
        }
        // With a rate, the first turn is due now and the next one a gap later.
        let paced = pace(Some(Duration::from_secs(1)));
        assert!(ready_at_once(paced.wait_turn()));
        assert!(!ready_at_once(paced.wait_turn()));
    }

    #[tokio::test]
    async fn a_throttling_pause_holds_every_sender() {
        let shared = pace(None);
        let pause = shared.throttled().await;
        assert!(pause >= Duration::from_secs(1), "{pause:?}");
        assert!(!ready_at_once(shared.wait_turn()));
        shared.succeeded().await;
        // Success resets the backoff, not a pause already under way.
        assert!(!ready_at_once(shared.wait_turn()));
    }
}

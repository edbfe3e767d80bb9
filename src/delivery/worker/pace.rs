//! The pace of sending, shared by every sender of a worker: a minimum gap between
//! messages (the configured rate), and one pause for all of them when a server replies
//! that we send too fast, growing while it keeps saying so. It decides only when a
//! sender may go; it sends nothing and touches no store.

use std::time::Duration;

use tokio::time::Instant;

/// The shared pace of sending: a minimum gap between messages, and a pause that
/// throttling replies impose on everyone.
pub(super) struct Pace {
    pub(super) gap: Option<Duration>,
    pub(super) state: tokio::sync::Mutex<PaceState>,
}

pub(super) struct PaceState {
    pub(super) next_slot: Instant,
    pub(super) paused_until: Instant,
    pub(super) throttle_backoff: Duration,
}

impl Pace {
    pub(super) async fn wait_turn(&self) {
        let (at, now) = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let at = state.next_slot.max(state.paused_until).max(now);
            if let Some(gap) = self.gap {
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

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    fn pace(gap: Option<Duration>) -> Pace {
        let now = Instant::now();
        Pace {
            gap,
            state: tokio::sync::Mutex::new(PaceState {
                next_slot: now,
                paused_until: now,
                throttle_backoff: Duration::from_secs(1),
            }),
        }
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

//! Heartbeats: a long-running loop (the delivery worker, the scheduler) marks its
//! progress, and the health check reads how long ago that was and whether the loop
//! still runs. Reading one costs two atomic loads, so `/healthz` can answer from
//! state however often it is probed. Monotonic time only: a wall-clock jump must not
//! make a loop look dead. The time comes from a [`Clock`], so that a test stalls a
//! loop by moving a fixed clock; uses no crier module but `clock`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// What a health check says about a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Never started here (`crier digest send`, or a test that drives it by hand).
    NotStarted,
    Alive,
    /// Its task ended: returned, or panicked.
    Stopped,
    /// Running, but no progress for this long, past its limit.
    Stalled(Duration),
}

#[derive(Debug)]
pub struct Heartbeat {
    clock: Arc<dyn Clock>,
    /// The clock's monotonic time at creation.
    born: Duration,
    /// Milliseconds after `born` of the last beat.
    last: AtomicU64,
    state: AtomicU8,
    stale_after: Duration,
}

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

impl Heartbeat {
    /// A heartbeat that counts as stalled once no beat came for `stale_after`.
    pub fn new(stale_after: Duration) -> Arc<Heartbeat> {
        Heartbeat::with_clock(stale_after, Arc::new(SystemClock))
    }

    /// Like [`Heartbeat::new`], on the monotonic time of `clock`.
    pub fn with_clock(stale_after: Duration, clock: Arc<dyn Clock>) -> Arc<Heartbeat> {
        Arc::new(Heartbeat {
            born: clock.monotonic(),
            clock,
            last: AtomicU64::new(0),
            state: AtomicU8::new(NOT_STARTED),
            stale_after,
        })
    }

    fn age(&self) -> Duration {
        self.clock.monotonic().saturating_sub(self.born)
    }

    pub fn beat(&self) {
        self.last.store(self.age().as_millis() as u64, Relaxed);
    }

    /// Marks the loop as running until the guard drops, which it does when the loop
    /// returns and when it unwinds from a panic.
    pub fn running(self: &Arc<Self>) -> Running {
        self.beat();
        self.state.store(RUNNING, Relaxed);
        Running(Arc::clone(self))
    }

    /// How long since the last beat.
    pub fn since(&self) -> Duration {
        self.age()
            .saturating_sub(Duration::from_millis(self.last.load(Relaxed)))
    }

    pub fn liveness(&self) -> Liveness {
        match self.state.load(Relaxed) {
            NOT_STARTED => Liveness::NotStarted,
            STOPPED => Liveness::Stopped,
            _ => match self.since() {
                quiet if quiet > self.stale_after => Liveness::Stalled(quiet),
                _ => Liveness::Alive,
            },
        }
    }
}

/// See [`Heartbeat::running`].
pub struct Running(Arc<Heartbeat>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.state.store(STOPPED, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_alive_while_it_beats_and_stopped_once_it_ends() {
        let start = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let clock = Arc::new(crate::clock::FixedClock::new(start));
        let heart = Heartbeat::with_clock(Duration::from_millis(50), clock.clone());
        assert_eq!(heart.liveness(), Liveness::NotStarted);
        let running = heart.running();
        assert_eq!(heart.liveness(), Liveness::Alive);
        clock.set(start + chrono::Duration::milliseconds(50));
        assert_eq!(
            heart.liveness(),
            Liveness::Alive,
            "at the limit, not past it"
        );
        clock.set(start + chrono::Duration::milliseconds(80));
        assert_eq!(
            heart.liveness(),
            Liveness::Stalled(Duration::from_millis(80))
        );
        heart.beat();
        assert_eq!(heart.liveness(), Liveness::Alive);
        drop(running);
        assert_eq!(heart.liveness(), Liveness::Stopped);
    }

    #[test]
    fn a_panic_counts_as_stopped() {
        let heart = Heartbeat::new(Duration::from_secs(60));
        let inside = Arc::clone(&heart);
        let _ = std::thread::spawn(move || {
            let _running = inside.running();
            panic!("the loop dies");
        })
        .join();
        assert_eq!(heart.liveness(), Liveness::Stopped);
    }
}

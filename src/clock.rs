//! Time, behind a trait: the only place that reads the wall clock, so that
//! schedules, expiries and HTTP dates can be tested without waiting. It also gives
//! the monotonic time that heartbeats measure, so that a test can make a lease run
//! out by moving a [`FixedClock`] instead of sleeping. Uses no other crier module.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Time since an origin of the clock's own. For measuring how long something
    /// took: on the real clock it never goes back, whatever the wall clock does.
    fn monotonic(&self) -> Duration;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn monotonic(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that says what it is told, for tests.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(std::sync::Mutex::new(at))
    }

    /// The time it says now (without going through the trait).
    pub fn now_utc(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The time it says, counted from the Unix epoch: [`FixedClock::set`] moves both.
    fn monotonic(&self) -> Duration {
        (self.now_utc() - DateTime::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default()
    }
}

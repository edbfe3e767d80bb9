//! When to try again: exponential backoff with jitter, bounded by attempts and age.
//! Pure: the caller gives the time and the random draw.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
    pub max_age: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32, max_age_hours: u32) -> RetryPolicy {
        RetryPolicy {
            base: Duration::seconds(30),
            cap: Duration::hours(2),
            max_attempts,
            max_age: Duration::hours(i64::from(max_age_hours)),
        }
    }

    /// The time of the next attempt after `attempts` failed ones, or `None` to give up.
    /// `jitter` in `[0, 1)` spreads retries over the upper half of each delay, so that
    /// a batch that failed together does not come back together.
    pub fn next_attempt(
        &self,
        attempts: u32,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(20);
        let delay = self
            .base
            .num_milliseconds()
            .saturating_mul(1 << exponent)
            .min(self.cap.num_milliseconds());
        let spread = (delay as f64 * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))) as i64;
        let at = now + Duration::milliseconds(spread.max(1000));
        (at - created <= self.max_age).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stops() {
        let policy = RetryPolicy::new(5, 48);
        let t0 = Utc::now();
        let delay = |attempts, jitter| {
            policy
                .next_attempt(attempts, t0, t0, jitter)
                .map(|at| (at - t0).num_seconds())
        };
        assert_eq!(delay(1, 0.0), Some(15));
        assert_eq!(delay(1, 0.999_999), Some(29));
        assert_eq!(delay(2, 0.0), Some(30));
        assert_eq!(delay(4, 0.0), Some(120));
        assert_eq!(delay(5, 0.0), None, "attempts are bounded");
        let capped = RetryPolicy {
            max_attempts: 30,
            ..policy
        };
        assert_eq!(
            capped
                .next_attempt(25, t0, t0, 0.0)
                .map(|at| (at - t0).num_seconds()),
            Some(3600)
        );
        // Too old: give up even with attempts left.
        let old = t0 - Duration::hours(48);
        assert_eq!(policy.next_attempt(1, old, t0, 0.0), None);
    }
}

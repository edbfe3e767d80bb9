//! Who a digest's next run reaches. A schedule fires on each subscriber's own clock,
//! so its next run is the earliest next firing over the time zones of its active
//! subscribers, and that run reaches the subscribers of the zones that fire then.
//! Pure: the schedule, the subscribers per zone and the time in, the run out.

use chrono::{DateTime, Duration, Utc};

use crate::config::Digest;
use crate::store::ZoneCount;

/// A digest's next run and how many active subscribers it reaches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NextRun {
    pub digest: String,
    /// `None` when the schedule never fires again.
    pub at: Option<DateTime<Utc>>,
    pub reach: u64,
    /// Active subscribers of the digest, on every clock.
    pub subscribers: u64,
}

/// The next run of `digest` after `now`, given every active subscriber's zone
/// (`zones` may hold other schedules' rows; they are skipped). `known` is the next
/// firing as the scheduler computed it, when there is one; it wins over ours, and
/// the reach is the zones that fire at that instant. With no subscribers the
/// schedule is read on UTC.
pub fn next_run(
    digest: &Digest,
    zones: &[ZoneCount],
    now: DateTime<Utc>,
    known: Option<Option<DateTime<Utc>>>,
) -> NextRun {
    let mine: Vec<(chrono_tz::Tz, u64)> = zones
        .iter()
        .filter(|z| z.frequency == digest.name)
        .map(|z| (z.timezone.parse().unwrap_or(chrono_tz::UTC), z.count))
        .collect();
    let subscribers = mine.iter().map(|z| z.1).sum();
    let at = known.unwrap_or_else(|| {
        if mine.is_empty() {
            digest.cron.next_after(now, &chrono_tz::UTC)
        } else {
            mine.iter()
                .filter_map(|(zone, _)| digest.cron.next_after(now, zone))
                .min()
        }
    });
    let reach = at.map_or(0, |at| {
        let before = at - Duration::seconds(1);
        mine.iter()
            .filter(|(zone, _)| digest.cron.next_after(before, zone) == Some(at))
            .map(|z| z.1)
            .sum()
    });
    NextRun {
        digest: digest.name.clone(),
        at,
        reach,
        subscribers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(line: &str) -> Digest {
        Digest {
            name: "daily".into(),
            cron: crate::cron::CronSchedule::parse(line).unwrap(),
            subject: None,
            lookback: Duration::days(2),
            max_lateness: Duration::hours(6),
            max_articles: 20,
            archive: true,
        }
    }

    fn zone(frequency: &str, timezone: &str, count: u64) -> ZoneCount {
        ZoneCount {
            frequency: frequency.into(),
            timezone: timezone.into(),
            count,
        }
    }

    #[test]
    fn the_next_run_reaches_the_zones_that_fire_first() {
        // 07:00 every day; at 05:30 UTC, Berlin (UTC+1 in winter) has passed 07:00,
        // London has not: London fires at 07:00 UTC, New York at 12:00 UTC.
        let now = "2026-12-03T05:30:00Z".parse().unwrap();
        let zones = [
            zone("daily", "Europe/London", 3),
            zone("daily", "UTC", 2),
            zone("daily", "America/New_York", 5),
            zone("weekly", "Europe/London", 100),
        ];
        let run = next_run(&digest("0 7 * * *"), &zones, now, None);
        assert_eq!(run.at, Some("2026-12-03T07:00:00Z".parse().unwrap()));
        assert_eq!(run.reach, 5);
        assert_eq!(run.subscribers, 10);
        // The scheduler's answer wins; the reach follows it.
        let later = "2026-12-03T12:00:00Z".parse().unwrap();
        let run = next_run(&digest("0 7 * * *"), &zones, now, Some(Some(later)));
        assert_eq!((run.at, run.reach), (Some(later), 5));
    }

    #[test]
    fn without_subscribers_the_schedule_reads_utc() {
        let now = "2026-12-03T05:30:00Z".parse().unwrap();
        let run = next_run(&digest("0 7 * * *"), &[], now, None);
        assert_eq!(run.at, Some("2026-12-03T07:00:00Z".parse().unwrap()));
        assert_eq!((run.reach, run.subscribers), (0, 0));
    }
}

//! Cron schedules as admins write them, evaluated on a subscriber's wall clock.
//!
//! A 5-field crontab line (`minute hour day-of-month month day-of-week`) and the `@`
//! shorthands mean what they mean to Vixie cron, the cron of Debian, cronie and the
//! BSDs: 0 and 7 are Sunday, names are three letters in any case, and when both day
//! fields are restricted (neither starts with `*`) a day matching *either* fires, so
//! `0 7 1 * 1` is the 1st and every Monday. `?` is read as `*` in the day fields.
//! The `cron` crate's 6- and 7-field forms (seconds first, years last) keep the
//! crate's own meaning: weekdays 1–7 from Sunday, and a day must match both fields.
//!
//! crier reads the fields itself and walks the calendar over their bit sets, a day at
//! a time and then hour, minute and second, rather than translating crontab lines
//! for the `cron` crate: that crate ANDs the day fields, so the OR rule would take
//! two schedules merged, and every rule would live twice (as text rewriting and as
//! the crate's reading of it). The field sets are the rules, stated once and tested
//! beside the code; `.ci/cron-diff.py` compares the firings with Python's croniter.
//!
//! Wall clock to instant, when the clocks change: a local time that happens twice
//! (the hour the clocks go back) fires once, the first time; a local time that does
//! not happen (the hour they skip) does not fire that day. A digest is once a period:
//! a second one for the repeated hour would only be a duplicate, and the next firing
//! catches up what a skipped one would have sent.
//!
//! This module sits low, beside `model` and `clock`: the config reads schedules, the
//! planner's tests build them and the scheduler evaluates them, so it uses no other
//! crier module (only chrono and the `cron` crate), and it never reads the wall clock:
//! every question comes with its own time.

mod describe;
mod error;
mod fields;
mod parse;

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Timelike, Utc};

pub use error::{CronError, FieldError};
use fields::Fields;

/// A parsed schedule, and the line it came from.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub source: String,
    fields: Fields,
}

impl CronSchedule {
    pub fn parse(line: &str) -> Result<CronSchedule, CronError> {
        let line = line.trim();
        Ok(CronSchedule {
            source: line.to_string(),
            fields: parse::parse(line)?,
        })
    }

    /// Whether a day matching either day field fires (both are restricted), which
    /// surprises people who expect both to have to match.
    pub fn either_day(&self) -> bool {
        self.fields.either_day
    }

    /// The schedule in words: "At 07:00 on Monday".
    pub fn describe(&self) -> String {
        describe::describe(&self.fields)
    }

    /// The latest firing at or before `at`, on the wall clock of `zone`.
    pub fn last_at_or_before<Z: TimeZone>(
        &self,
        at: DateTime<Utc>,
        zone: &Z,
    ) -> Option<DateTime<Utc>> {
        let mut from = whole_seconds(at.with_timezone(zone).naive_local());
        // In the second pass through a repeated hour, the first pass's firings lie
        // ahead on the wall clock but are past: start that much later.
        let day_before = at - Duration::days(1);
        let went_back = offset_seconds(zone, day_before) - offset_seconds(zone, at);
        if went_back > 0 {
            from += Duration::seconds(went_back);
        }
        loop {
            let local = self.fields.last_at_or_before(from)?;
            match instant(zone, local) {
                Some(t) if t <= at => return Some(t),
                _ => from = local - Duration::seconds(1),
            }
        }
    }

    /// The next firing after `at`, on the wall clock of `zone`.
    pub fn next_after<Z: TimeZone>(&self, at: DateTime<Utc>, zone: &Z) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(zone).naive_local();
        let mut from = whole_seconds(local);
        if from < local {
            from += Duration::seconds(1);
        }
        loop {
            let local = self.fields.first_at_or_after(from)?;
            match instant(zone, local) {
                Some(t) if t > at => return Some(t),
                _ => from = local + Duration::seconds(1),
            }
        }
    }

    /// The firings after `at`, in order, on the wall clock of `zone`.
    pub fn firings_after<'a, Z: TimeZone>(
        &'a self,
        at: DateTime<Utc>,
        zone: &'a Z,
    ) -> impl Iterator<Item = DateTime<Utc>> + 'a {
        std::iter::successors(self.next_after(at, zone), move |&t| {
            self.next_after(t, zone)
        })
    }
}

/// When a wall-clock time happens: its first occurrence if the clocks went back over
/// it, none if they skipped it.
fn instant<Z: TimeZone>(zone: &Z, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn offset_seconds<Z: TimeZone>(zone: &Z, at: DateTime<Utc>) -> i64 {
    i64::from(
        zone.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

fn whole_seconds(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::London;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(line: &str, after: &str, n: usize) -> Vec<String> {
        CronSchedule::parse(line)
            .unwrap()
            .firings_after(at(after), &Utc)
            .take(n)
            .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
            .collect()
    }

    #[test]
    fn the_first_and_every_monday() {
        // 2026-01-01 is a Thursday.
        assert_eq!(
            next("0 7 1 * 1", "2026-01-01T00:00:00Z", 4),
            [
                "Thu 2026-01-01 07:00",
                "Mon 2026-01-05 07:00",
                "Mon 2026-01-12 07:00",
                "Mon 2026-01-19 07:00"
            ]
        );
        assert_eq!(
            next("0 7 1 * 1", "2026-01-26T08:00:00Z", 2),
            ["Sun 2026-02-01 07:00", "Mon 2026-02-02 07:00"]
        );
        // A star in either day field leaves the day to the other.
        assert_eq!(
            next("0 7 * * 1", "2026-01-01T00:00:00Z", 1),
            ["Mon 2026-01-05 07:00"]
        );
        assert_eq!(
            next("0 7 1 * *", "2026-01-02T00:00:00Z", 1),
            ["Sun 2026-02-01 07:00"]
        );
        // `*/2` starts with a star: odd days that are Mondays (2026-01-05 is one).
        assert_eq!(
            next("0 7 */2 * mon", "2026-01-01T00:00:00Z", 2),
            ["Mon 2026-01-05 07:00", "Mon 2026-01-19 07:00"]
        );
    }

    #[test]
    fn zero_to_seven_is_every_day() {
        assert_eq!(
            next("0 0 * * 0-7", "2026-01-01T00:00:00Z", 3),
            [
                "Fri 2026-01-02 00:00",
                "Sat 2026-01-03 00:00",
                "Sun 2026-01-04 00:00"
            ]
        );
        assert_eq!(
            next("0 0 * * 7", "2026-01-01T00:00:00Z", 2),
            ["Sun 2026-01-04 00:00", "Sun 2026-01-11 00:00"]
        );
    }

    #[test]
    fn shorthands_fire_as_cron_fires_them() {
        assert_eq!(
            next("@yearly", "2026-01-01T00:00:00Z", 2),
            ["Fri 2027-01-01 00:00", "Sat 2028-01-01 00:00"]
        );
        assert_eq!(
            next("@weekly", "2026-01-01T00:00:00Z", 1),
            ["Sun 2026-01-04 00:00"]
        );
        assert_eq!(
            next("@hourly", "2026-01-01T00:00:00Z", 1),
            ["Thu 2026-01-01 01:00"]
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01T00:00:00Z", 2),
            ["Tue 2028-02-29 00:00", "Sun 2032-02-29 00:00"]
        );
        assert_eq!(
            next("*/15 9-17 * * mon-fri", "2026-01-02T17:45:00Z", 2),
            ["Mon 2026-01-05 09:00", "Mon 2026-01-05 09:15"]
        );
    }

    #[test]
    fn next_is_strictly_after_and_last_is_at_or_before() {
        let s = CronSchedule::parse("*/10 * * * *").unwrap();
        let t = at("2026-01-01T07:10:00Z");
        assert_eq!(s.next_after(t, &Utc), Some(at("2026-01-01T07:20:00Z")));
        assert_eq!(s.last_at_or_before(t, &Utc), Some(t));
        let between = at("2026-01-01T07:10:00.5Z");
        assert_eq!(s.last_at_or_before(between, &Utc), Some(t));
        assert_eq!(
            s.next_after(at("2026-01-01T07:09:59.5Z"), &Utc),
            Some(t),
            "a fraction of a second before a firing"
        );
    }

    #[test]
    fn seconds_of_the_cron_crate_form() {
        let every_two = CronSchedule::parse("*/2 * * * * *").unwrap();
        let t = at("2026-01-01T07:00:01Z");
        assert_eq!(
            every_two.next_after(t, &Utc),
            Some(at("2026-01-01T07:00:02Z"))
        );
        assert_eq!(
            every_two.last_at_or_before(t, &Utc),
            Some(at("2026-01-01T07:00:00Z"))
        );
    }

    #[test]
    fn monday_seven_is_monday_seven_everywhere() {
        let weekly = CronSchedule::parse("0 7 * * 1").unwrap();
        // Wednesday 2026-11-25 12:00 UTC: the last run was Monday the 23rd.
        let now = at("2026-11-25T12:00:00Z");
        let london = weekly.last_at_or_before(now, &London).unwrap();
        assert_eq!(london, at("2026-11-23T07:00:00Z"));
        let tokyo = weekly
            .last_at_or_before(now, &chrono_tz::Asia::Tokyo)
            .unwrap();
        assert_eq!(
            tokyo,
            at("2026-11-22T22:00:00Z"),
            "07:00 in Tokyo is 22:00 UTC the day before"
        );
        let local = tokyo.with_timezone(&chrono_tz::Asia::Tokyo);
        assert_eq!((local.weekday(), local.hour()), (Weekday::Mon, 7));
        // A firing exactly now counts as the last one.
        assert_eq!(
            weekly.last_at_or_before(at("2026-11-23T07:00:00Z"), &London),
            Some(at("2026-11-23T07:00:00Z"))
        );
        assert_eq!(
            weekly.next_after(now, &London),
            Some(at("2026-11-30T07:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_keeps_local_time() {
        let daily = CronSchedule::parse("0 7 * * *").unwrap();
        // The clocks go forward on 2026-03-29: 07:00 is 07:00 GMT before, 06:00 UTC after.
        assert_eq!(
            daily.last_at_or_before(at("2026-03-28T12:00:00Z"), &London),
            Some(at("2026-03-28T07:00:00Z"))
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-03-29T12:00:00Z"), &London),
            Some(at("2026-03-29T06:00:00Z"))
        );
        // And back on 2026-10-25.
        assert_eq!(
            daily.last_at_or_before(at("2026-10-25T12:00:00Z"), &London),
            Some(at("2026-10-25T07:00:00Z"))
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-03-08T15:00:00Z"), &New_York),
            Some(at("2026-03-08T11:00:00Z"))
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-03-07T15:00:00Z"), &New_York),
            Some(at("2026-03-07T12:00:00Z"))
        );
    }

    #[test]
    fn a_skipped_local_time_does_not_fire_that_day() {
        // London skips 01:00–02:00 on 2026-03-29.
        let s = CronSchedule::parse("30 1 * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-03-28T12:00:00Z"), &London),
            Some(at("2026-03-30T00:30:00Z"))
        );
        assert_eq!(
            s.last_at_or_before(at("2026-03-29T23:00:00Z"), &London),
            Some(at("2026-03-28T01:30:00Z"))
        );
        let hourly = CronSchedule::parse("0 * * * *").unwrap();
        assert_eq!(
            hourly.next_after(at("2026-03-29T00:00:00Z"), &London),
            Some(at("2026-03-29T01:00:00Z")),
            "00:00 GMT, then 02:00 BST"
        );
    }

    #[test]
    fn a_repeated_local_time_fires_once_the_first_time() {
        // New York repeats 01:00–02:00 on 2026-11-01: 01:30 EDT is 05:30 UTC, 01:30 EST 06:30.
        let s = CronSchedule::parse("30 1 * * *").unwrap();
        let first = at("2026-11-01T05:30:00Z");
        assert_eq!(
            s.next_after(at("2026-11-01T04:00:00Z"), &New_York),
            Some(first)
        );
        assert_eq!(
            s.next_after(first, &New_York),
            Some(at("2026-11-02T06:30:00Z"))
        );
        for now in [
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:45:00Z",
            "2026-11-01T09:00:00Z",
        ] {
            assert_eq!(
                s.last_at_or_before(at(now), &New_York),
                Some(first),
                "{now}"
            );
        }
        assert_eq!(
            s.last_at_or_before(at("2026-11-01T05:29:00Z"), &New_York),
            Some(at("2026-10-31T05:30:00Z"))
        );
        // Every half hour: the second pass through 01:00–02:00 is quiet.
        let half = CronSchedule::parse("*/30 * * * *").unwrap();
        let second_pass = at("2026-11-01T06:10:00Z");
        assert_eq!(
            half.next_after(second_pass, &New_York),
            Some(at("2026-11-01T07:00:00Z"))
        );
        assert_eq!(half.last_at_or_before(second_pass, &New_York), Some(first));
    }
}

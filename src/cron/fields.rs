//! The values a schedule allows in each field, as bit sets, and the search for the
//! wall-clock times they describe. Nothing here knows about time zones: `super` turns
//! wall-clock times into instants.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Which values each field allows: bit `n` set means value `n` matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fields {
    /// 0–59. A crontab line has none, so it holds second 0 only.
    pub seconds: u64,
    /// 0–59.
    pub minutes: u64,
    /// 0–23.
    pub hours: u64,
    /// 1–31.
    pub days: u64,
    /// 1–12.
    pub months: u64,
    /// 0–6, Sunday 0.
    pub weekdays: u64,
    /// The years allowed, ascending; `None` allows every year. Only the `cron` crate's
    /// 7-field form names years.
    pub years: Option<Vec<i32>>,
    /// Whether a day matching either day field is enough (cron's rule when both day
    /// fields are restricted) rather than one matching both.
    pub either_day: bool,
}

/// How many years a search looks ahead or back before deciding a line never fires
/// there. A 5-field line's longest pause is eight years: the 29th of February across
/// 2100, which is no leap year (2096 to 2104).
const HORIZON_YEARS: i32 = 9;

impl Fields {
    /// Whether `date` is a day the schedule fires on, at some time of day.
    pub fn day_matches(&self, date: NaiveDate) -> bool {
        if !has(self.months, date.month()) || !self.year_allowed(date.year()) {
            return false;
        }
        let day = has(self.days, date.day());
        let weekday = has(self.weekdays, date.weekday().num_days_from_sunday());
        if self.either_day {
            day || weekday
        } else {
            day && weekday
        }
    }

    /// Whether some month allows one of the days of month. Only meaningful when a day
    /// must match both day fields: with either, every week has a matching day.
    pub fn some_month_has_a_day(&self) -> bool {
        // The longest each month can be; February's 29th comes every four years or so.
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12u32).any(|month| {
            has(self.months, month)
                && self.days & ((1u64 << (LONGEST[month as usize - 1] + 1)) - 2) != 0
        })
    }

    /// The first matching wall-clock time at or after `from` (whole seconds).
    pub fn first_at_or_after(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let last_year = match &self.years {
            Some(years) => *years.last()?,
            None => from.year().checked_add(HORIZON_YEARS)?,
        };
        let mut date = from.date();
        let mut time = from.time();
        while date.year() <= last_year {
            if !self.year_allowed(date.year()) {
                date = NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?;
            } else if !has(self.months, date.month()) {
                date = first_of_next_month(date)?;
            } else {
                if self.day_matches(date)
                    && let Some(t) = self.time_at_or_after(time)
                {
                    return Some(date.and_time(t));
                }
                date = date.succ_opt()?;
            }
            time = NaiveTime::MIN;
        }
        None
    }

    /// The last matching wall-clock time at or before `from` (whole seconds).
    pub fn last_at_or_before(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let first_year = match &self.years {
            Some(years) => *years.first()?,
            None => from.year().checked_sub(HORIZON_YEARS)?,
        };
        let end_of_day = NaiveTime::from_hms_opt(23, 59, 59)?;
        let mut date = from.date();
        let mut time = from.time();
        while date.year() >= first_year {
            if !self.year_allowed(date.year()) {
                date = NaiveDate::from_ymd_opt(date.year() - 1, 12, 31)?;
            } else if !has(self.months, date.month()) {
                date = date.with_day(1)?.pred_opt()?;
            } else {
                if self.day_matches(date)
                    && let Some(t) = self.time_at_or_before(time)
                {
                    return Some(date.and_time(t));
                }
                date = date.pred_opt()?;
            }
            time = end_of_day;
        }
        None
    }

    fn year_allowed(&self, year: i32) -> bool {
        self.years
            .as_ref()
            .is_none_or(|years| years.binary_search(&year).is_ok())
    }

    /// The first time of day the schedule allows at or after `from`.
    fn time_at_or_after(&self, from: NaiveTime) -> Option<NaiveTime> {
        let (h0, m0, s0) = (from.hour(), from.minute(), from.second());
        let mut hour = next(self.hours, h0)?;
        loop {
            // Past the starting hour (or minute), every minute (or second) counts.
            let mut minute = next(self.minutes, if hour == h0 { m0 } else { 0 });
            while let Some(m) = minute {
                let s_from = if (hour, m) == (h0, m0) { s0 } else { 0 };
                if let Some(s) = next(self.seconds, s_from) {
                    return NaiveTime::from_hms_opt(hour, m, s);
                }
                minute = next(self.minutes, m + 1);
            }
            hour = next(self.hours, hour + 1)?;
        }
    }

    /// The last time of day the schedule allows at or before `from`.
    fn time_at_or_before(&self, from: NaiveTime) -> Option<NaiveTime> {
        let (h0, m0, s0) = (from.hour(), from.minute(), from.second());
        let mut hour = prev(self.hours, h0)?;
        loop {
            let mut minute = prev(self.minutes, if hour == h0 { m0 } else { 59 });
            while let Some(m) = minute {
                let s_upto = if (hour, m) == (h0, m0) { s0 } else { 59 };
                if let Some(s) = prev(self.seconds, s_upto) {
                    return NaiveTime::from_hms_opt(hour, m, s);
                }
                minute = m.checked_sub(1).and_then(|m| prev(self.minutes, m));
            }
            hour = prev(self.hours, hour.checked_sub(1)?)?;
        }
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    match date.month() {
        12 => NaiveDate::from_ymd_opt(date.year() + 1, 1, 1),
        m => NaiveDate::from_ymd_opt(date.year(), m + 1, 1),
    }
}

/// Whether `value` is in the set.
pub(super) fn has(set: u64, value: u32) -> bool {
    value < 64 && set & (1 << value) != 0
}

/// The smallest value in the set that is at least `from`.
fn next(set: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let above = set & (u64::MAX << from);
    (above != 0).then(|| above.trailing_zeros())
}

/// The largest value in the set that is at most `upto`.
fn prev(set: u64, upto: u32) -> Option<u32> {
    let below = if upto >= 63 {
        set
    } else {
        set & ((1u64 << (upto + 1)) - 1)
    };
    (below != 0).then(|| 63 - below.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(values: impl IntoIterator<Item = u32>) -> u64 {
        values.into_iter().fold(0, |set, v| set | 1 << v)
    }

    fn fields() -> Fields {
        Fields {
            seconds: 1,
            minutes: bits([0, 30]),
            hours: bits([7, 19]),
            days: bits(1..=31),
            months: bits(1..=12),
            weekdays: bits(0..=6),
            years: None,
            either_day: false,
        }
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn bit_search_finds_neighbours_and_edges() {
        let set = bits([0, 5, 59]);
        assert_eq!(next(set, 0), Some(0));
        assert_eq!(next(set, 1), Some(5));
        assert_eq!(next(set, 60), None);
        assert_eq!(next(set, 64), None, "past the set's width");
        assert_eq!(prev(set, 4), Some(0));
        assert_eq!(prev(set, 58), Some(5));
        assert_eq!(prev(set, 63), Some(59));
        assert_eq!(prev(bits([5]), 4), None);
    }

    #[test]
    fn times_of_day_step_through_hours_minutes_and_seconds() {
        let f = fields();
        assert_eq!(
            f.first_at_or_after(t("2026-01-01 07:00:00")),
            Some(t("2026-01-01 07:00:00")),
            "a match at the start counts"
        );
        assert_eq!(
            f.first_at_or_after(t("2026-01-01 07:00:01")),
            Some(t("2026-01-01 07:30:00"))
        );
        assert_eq!(
            f.first_at_or_after(t("2026-01-01 19:30:01")),
            Some(t("2026-01-02 07:00:00")),
            "the next day starts from midnight"
        );
        assert_eq!(
            f.last_at_or_before(t("2026-01-02 06:59:59")),
            Some(t("2026-01-01 19:30:00"))
        );
        assert_eq!(
            f.last_at_or_before(t("2026-01-02 07:29:59")),
            Some(t("2026-01-02 07:00:00"))
        );
        let every_other_second = Fields {
            seconds: bits((0..60).step_by(2)),
            minutes: bits(0..60),
            hours: bits(0..24),
            ..fields()
        };
        assert_eq!(
            every_other_second.first_at_or_after(t("2026-01-01 23:59:59")),
            Some(t("2026-01-02 00:00:00"))
        );
        assert_eq!(
            every_other_second.last_at_or_before(t("2026-01-02 00:00:01")),
            Some(t("2026-01-02 00:00:00"))
        );
    }

    #[test]
    fn day_fields_combine_with_and_or_or() {
        // The 1st, and Mondays (weekday 1). 2026-06-01 is a Monday, 2026-07-01 a Wednesday.
        let both = Fields {
            days: bits([1]),
            weekdays: bits([1]),
            ..fields()
        };
        let either = Fields {
            either_day: true,
            ..both.clone()
        };
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(both.day_matches(day("2026-06-01")));
        assert!(!both.day_matches(day("2026-07-01")));
        assert!(!both.day_matches(day("2026-07-06")));
        assert!(either.day_matches(day("2026-07-01")));
        assert!(either.day_matches(day("2026-07-06")));
        assert!(!either.day_matches(day("2026-07-07")));
    }

    #[test]
    fn months_and_years_are_skipped_whole() {
        let leap_day = Fields {
            days: bits([29]),
            months: bits([2]),
            ..fields()
        };
        assert!(leap_day.some_month_has_a_day());
        assert_eq!(
            leap_day.first_at_or_after(t("2096-03-01 00:00:00")),
            Some(t("2104-02-29 07:00:00")),
            "2100 is no leap year"
        );
        assert_eq!(
            leap_day.last_at_or_before(t("2104-02-28 00:00:00")),
            Some(t("2096-02-29 19:30:00"))
        );
        let thirty_first_of_february = Fields {
            days: bits([30, 31]),
            months: bits([2]),
            ..fields()
        };
        assert!(!thirty_first_of_february.some_month_has_a_day());
        assert_eq!(
            thirty_first_of_february.first_at_or_after(t("2026-01-01 00:00:00")),
            None
        );
        let some_years = Fields {
            years: Some(vec![2027, 2030]),
            ..fields()
        };
        assert_eq!(
            some_years.first_at_or_after(t("2026-05-05 00:00:00")),
            Some(t("2027-01-01 07:00:00"))
        );
        assert_eq!(
            some_years.last_at_or_before(t("2029-05-05 00:00:00")),
            Some(t("2027-12-31 19:30:00"))
        );
        assert_eq!(some_years.first_at_or_after(t("2031-01-01 00:00:00")), None);
    }
}

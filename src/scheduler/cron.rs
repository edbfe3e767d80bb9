//! Cron expressions as admins write them. A normal 5-field crontab line
//! (`0 7 * * 1` is Monday 07:00) is translated for the `cron` crate, which wants a
//! seconds field and numbers Sunday 1; its own 6- and 7-field forms pass through.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};

/// A parsed schedule, and the line it came from.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub source: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    pub fn parse(line: &str) -> Result<CronSchedule, String> {
        let line = line.trim();
        let translated = translate(line)?;
        let schedule = cron::Schedule::from_str(&translated)
            .map_err(|e| format!("`{line}` is not a cron schedule: {e}"))?;
        Ok(CronSchedule {
            source: line.to_string(),
            schedule,
        })
    }

    /// The latest firing at or before `at`, on the wall clock of `zone`.
    pub fn last_at_or_before<Z: TimeZone>(
        &self,
        at: DateTime<Utc>,
        zone: &Z,
    ) -> Option<DateTime<Utc>> {
        let local = (at + chrono::Duration::seconds(1)).with_timezone(zone);
        self.schedule
            .after(&local)
            .next_back()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next firing after `at`, on the wall clock of `zone`.
    pub fn next_after<Z: TimeZone>(&self, at: DateTime<Utc>, zone: &Z) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&at.with_timezone(zone))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Crontab → `cron` crate syntax. Shorthands like `@daily` are left to the crate.
pub fn translate(line: &str) -> Result<String, String> {
    if line.starts_with('@') {
        return Ok(line.to_string());
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.len() {
        5 => {
            let dow = translate_day_of_week(fields[4]).map_err(|e| format!("`{line}`: {e}"))?;
            Ok(format!(
                "0 {} {} {} {} {dow}",
                fields[0], fields[1], fields[2], fields[3]
            ))
        }
        6 | 7 => Ok(fields.join(" ")),
        n => Err(format!(
            "`{line}` has {n} fields; write a crontab line like `0 7 * * 1` (minute hour day month weekday)"
        )),
    }
}

/// Unix numbers weekdays 0–7 with Sunday as 0 and 7; the `cron` crate uses 1–7 from
/// Sunday. Names, `*` and `?` need no change.
fn translate_day_of_week(field: &str) -> Result<String, String> {
    let number = |s: &str| -> Result<String, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(s.to_string());
        }
        match s.parse::<u32>() {
            Ok(0 | 7) => Ok("1".into()),
            Ok(n @ 1..=6) => Ok((n + 1).to_string()),
            _ => Err(format!("weekday `{s}` is not between 0 and 7")),
        }
    };
    let items: Result<Vec<String>, String> = field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                // `5-0` and `5-7` both mean Friday to Sunday.
                Some((from, to)) => {
                    let to = if to == "0" { "7" } else { to };
                    let (from, to) = (number(from)?, number(to)?);
                    if to == "1" && from != "1" {
                        format!("{from}-7,1")
                    } else {
                        format!("{from}-{to}")
                    }
                }
                None => number(range)?,
            };
            Ok(match step {
                Some(step) => format!("{range}/{step}"),
                None => range,
            })
        })
        .collect();
    Ok(items?.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn crontab_lines_are_translated() {
        assert_eq!(translate("0 7 * * 1").unwrap(), "0 0 7 * * 2");
        assert_eq!(translate("30 6 * * 0").unwrap(), "0 30 6 * * 1");
        assert_eq!(translate("30 6 * * 7").unwrap(), "0 30 6 * * 1");
        assert_eq!(translate("0 9 * * 1-5").unwrap(), "0 0 9 * * 2-6");
        assert_eq!(translate("0 9 * * 1,3,5").unwrap(), "0 0 9 * * 2,4,6");
        assert_eq!(translate("0 9 * * Mon-Fri").unwrap(), "0 0 9 * * Mon-Fri");
        assert_eq!(translate("*/5 * * * *").unwrap(), "0 */5 * * * *");
        assert_eq!(
            translate("0 0 7 * * Mon").unwrap(),
            "0 0 7 * * Mon",
            "the crate's own form passes"
        );
        assert!(translate("0 7 * *").is_err());
        assert!(translate("0 7 * * 8").is_err());
    }

    #[test]
    fn monday_seven_is_monday_seven_everywhere() {
        let weekly = CronSchedule::parse("0 7 * * 1").unwrap();
        // Wednesday 2026-11-25 12:00 UTC: the last run was Monday the 23rd.
        let now = at("2026-11-25T12:00:00Z");
        let london = weekly
            .last_at_or_before(now, &chrono_tz::Europe::London)
            .unwrap();
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
            weekly.last_at_or_before(at("2026-11-23T07:00:00Z"), &chrono_tz::Europe::London),
            Some(at("2026-11-23T07:00:00Z"))
        );
        assert_eq!(
            weekly.next_after(now, &chrono_tz::Europe::London),
            Some(at("2026-11-30T07:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_keeps_local_time() {
        let daily = CronSchedule::parse("0 7 * * *").unwrap();
        let london = chrono_tz::Europe::London;
        // The clocks go forward on 2026-03-29: 07:00 is 07:00 GMT before, 06:00 UTC after.
        assert_eq!(
            daily.last_at_or_before(at("2026-03-28T12:00:00Z"), &london),
            Some(at("2026-03-28T07:00:00Z"))
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-03-29T12:00:00Z"), &london),
            Some(at("2026-03-29T06:00:00Z"))
        );
        // And back on 2026-10-25.
        assert_eq!(
            daily.last_at_or_before(at("2026-10-25T12:00:00Z"), &london),
            Some(at("2026-10-25T07:00:00Z"))
        );
        let new_york = chrono_tz::America::New_York;
        assert_eq!(
            daily.last_at_or_before(at("2026-03-08T15:00:00Z"), &new_york),
            Some(at("2026-03-08T11:00:00Z"))
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-03-07T15:00:00Z"), &new_york),
            Some(at("2026-03-07T12:00:00Z"))
        );
    }
}

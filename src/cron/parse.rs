//! Reading a schedule line into field sets: crontab lines and their `@` shorthands by
//! Vixie cron's rules, and the `cron` crate's 6- and 7-field forms by that crate's.

use std::str::FromStr;

use super::error::{CronError, FieldError};
use super::fields::{Fields, has};

/// One crontab field: its name in messages, its values, and the names it accepts.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names, the first standing for `min`.
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// 0 and 7 are both Sunday, as in every cron since Vixie's.
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// Reads a schedule line: 5 fields or an `@` shorthand (crontab), or 6 or 7 fields
/// (the `cron` crate's forms, seconds first).
pub(super) fn parse(line: &str) -> Result<Fields, CronError> {
    let fields = if line.starts_with('@') {
        crontab(line, shorthand(line)?)?
    } else {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.len() {
            5 => crontab(line, line)?,
            6 | 7 => cron_crate(line)?,
            count => {
                return Err(CronError::FieldCount {
                    line: line.to_string(),
                    count,
                });
            }
        }
    };
    // With either day field enough, every week has a matching day; with both needed,
    // `0 0 31 2 *` would never fire, which is surely a mistake.
    if !fields.either_day && !fields.some_month_has_a_day() {
        return Err(CronError::NeverFires {
            line: line.to_string(),
        });
    }
    Ok(fields)
}

/// The crontab line an `@` shorthand stands for, as Vixie cron defines them.
fn shorthand(line: &str) -> Result<&'static str, CronError> {
    match line.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Ok("0 0 1 1 *"),
        "@monthly" => Ok("0 0 1 * *"),
        "@weekly" => Ok("0 0 * * 0"),
        "@daily" | "@midnight" => Ok("0 0 * * *"),
        "@hourly" => Ok("0 * * * *"),
        "@reboot" => Err(CronError::Reboot),
        _ => Err(CronError::UnknownShorthand {
            line: line.to_string(),
        }),
    }
}

/// A 5-field crontab line; `line` is what the admin wrote, for messages.
fn crontab(line: &str, text: &str) -> Result<Fields, CronError> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = parts[..] else {
        return Err(CronError::FieldCount {
            line: line.to_string(),
            count: parts.len(),
        });
    };
    let read = |field: &Field, text: &str| {
        read_field(field, text).map_err(|problem| CronError::Field {
            line: line.to_string(),
            field: field.name,
            text: text.to_string(),
            problem,
        })
    };
    let mut weekdays = read(&WEEKDAY, weekday)?;
    if has(weekdays, 7) {
        weekdays = (weekdays & !(1 << 7)) | 1;
    }
    Ok(Fields {
        seconds: 1,
        minutes: read(&MINUTE, minute)?,
        hours: read(&HOUR, hour)?,
        days: read(&DAY, day)?,
        months: read(&MONTH, month)?,
        weekdays,
        years: None,
        // Vixie cron's rule, by the text: a day field that starts with `*` (`*/2` too)
        // leaves the choice to the other; when neither does, either may pick the day.
        either_day: !unrestricted(day) && !unrestricted(weekday),
    })
}

/// Whether a day field counts as unrestricted for the day rule. `?` is the `cron`
/// crate's and Quartz's spelling of `*` in the day fields, so it is accepted alike.
fn unrestricted(text: &str) -> bool {
    text.starts_with('*') || text == "?"
}

/// The set of values a field's text allows (weekday 7 still apart from 0).
fn read_field(field: &Field, text: &str) -> Result<u64, FieldError> {
    if text == "?" {
        if field.name == DAY.name || field.name == WEEKDAY.name {
            return Ok(span(field.min, field.max));
        }
        return Err(FieldError::Question);
    }
    text.split(',')
        .try_fold(0, |set, item| Ok(set | read_item(field, item)?))
}

/// One item of a list: `*`, `N`, `A-B`, each with an optional `/STEP`, or `N/STEP`.
fn read_item(field: &Field, item: &str) -> Result<u64, FieldError> {
    if item.is_empty() {
        return Err(FieldError::EmptyItem);
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(read_step(step)?)),
        None => (item, None),
    };
    let (low, high) = if range == "*" {
        (field.min, field.max)
    } else if let Some((low, high)) = range.split_once('-') {
        (read_value(field, low)?, read_value(field, high)?)
    } else {
        let value = read_value(field, range)?;
        match step {
            None => (value, value),
            // Vixie cron refuses `N/STEP`; cronie and croniter read it as `N-LAST/STEP`,
            // but for weekdays croniter's last is 6 and cronie's 7.
            Some(_) if field.name == WEEKDAY.name => {
                return Err(FieldError::WeekdayStep {
                    item: item.to_string(),
                    start: range.to_string(),
                });
            }
            Some(_) => (value, field.max),
        }
    };
    let step = step.unwrap_or(1);
    if low <= high {
        Ok((low..=high)
            .step_by(step as usize)
            .fold(0, |set, v| set | 1 << v))
    } else if step == 1 {
        // `fri-mon`, `22-2`: round the end of the field, as cronie and croniter do.
        Ok(span(low, field.max) | span(field.min, high))
    } else {
        Err(FieldError::WrappingStep {
            item: item.to_string(),
        })
    }
}

/// The bits `low..=high`.
fn span(low: u32, high: u32) -> u64 {
    (low..=high).fold(0, |set, v| set | 1 << v)
}

fn read_step(text: &str) -> Result<u32, FieldError> {
    match text.parse::<u32>() {
        Ok(step) if step >= 1 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(step),
        _ => Err(FieldError::Step(text.to_string())),
    }
}

fn read_value(field: &Field, text: &str) -> Result<u32, FieldError> {
    let value = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u32>().unwrap_or(u32::MAX)
    } else if let Some(i) = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        field.min + i as u32
    } else if field.names.is_empty() {
        return Err(FieldError::NotANumber(text.to_string()));
    } else {
        return Err(FieldError::NotANumberOrName {
            text: text.to_string(),
            first: field.names[0],
            last: field.names[field.names.len() - 1],
        });
    };
    if value < field.min || value > field.max {
        return Err(FieldError::OutOfRange {
            text: text.to_string(),
            min: field.min,
            max: field.max,
            sunday: field.name == WEEKDAY.name,
        });
    }
    Ok(value)
}

/// The `cron` crate's own forms: seconds first, an optional year last, weekdays 1–7
/// from Sunday, and a day must match both day fields. They mean what they meant before
/// crier read crontab lines itself; the crate parses them, crier only evaluates.
fn cron_crate(line: &str) -> Result<Fields, CronError> {
    use ::cron::TimeUnitSpec;
    let schedule = ::cron::Schedule::from_str(line).map_err(|source| CronError::CronCrate {
        line: line.to_string(),
        source,
    })?;
    fn bits(spec: &impl TimeUnitSpec) -> u64 {
        spec.iter().fold(0, |set, v| set | 1 << v)
    }
    let years = schedule.years();
    Ok(Fields {
        seconds: bits(schedule.seconds()),
        minutes: bits(schedule.minutes()),
        hours: bits(schedule.hours()),
        days: bits(schedule.days_of_month()),
        months: bits(schedule.months()),
        weekdays: bits(schedule.days_of_week()) >> 1,
        years: (!years.is_all()).then(|| years.iter().map(|y| y as i32).collect()),
        either_day: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: impl IntoIterator<Item = u32>) -> u64 {
        values.into_iter().fold(0, |set, v| set | 1 << v)
    }

    fn field(field: &Field, text: &str) -> u64 {
        read_field(field, text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn numbers_ranges_lists_and_steps() {
        assert_eq!(field(&MINUTE, "*"), set(0..=59));
        assert_eq!(field(&MINUTE, "7"), set([7]));
        assert_eq!(field(&MINUTE, "07"), set([7]));
        assert_eq!(field(&HOUR, "9-17"), set(9..=17));
        assert_eq!(field(&MINUTE, "*/15"), set([0, 15, 30, 45]));
        assert_eq!(
            field(&DAY, "*/10"),
            set([1, 11, 21, 31]),
            "from the field's first"
        );
        assert_eq!(field(&DAY, "1-10/3"), set([1, 4, 7, 10]));
        assert_eq!(
            field(&MINUTE, "5/20"),
            set([5, 25, 45]),
            "N/STEP runs to the end"
        );
        assert_eq!(field(&MINUTE, "59/15"), set([59]));
        assert_eq!(field(&HOUR, "0,12,18-19"), set([0, 12, 18, 19]));
        assert_eq!(field(&MINUTE, "*/100"), set([0]));
        assert_eq!(
            field(&HOUR, "5-5"),
            set([5]),
            "an equal range is its one value"
        );
        assert_eq!(field(&HOUR, "22-2"), set([22, 23, 0, 1, 2]), "wraps round");
    }

    #[test]
    fn names_in_any_case_in_ranges_and_with_steps() {
        assert_eq!(field(&MONTH, "jan"), set([1]));
        assert_eq!(field(&MONTH, "DEC"), set([12]));
        assert_eq!(field(&MONTH, "Jan-Mar"), set(1..=3));
        assert_eq!(field(&MONTH, "jan-dec/3"), set([1, 4, 7, 10]));
        assert_eq!(field(&MONTH, "nov-feb"), set([11, 12, 1, 2]));
        assert_eq!(field(&WEEKDAY, "MON"), set([1]));
        assert_eq!(field(&WEEKDAY, "mon-fri"), set(1..=5));
        assert_eq!(field(&WEEKDAY, "sun,Sat"), set([0, 6]));
        assert!(
            read_field(&WEEKDAY, "monday").is_err(),
            "three letters, as cron"
        );
        assert!(read_field(&MONTH, "mon").is_err(), "a weekday is no month");
        assert!(read_field(&DAY, "jan").is_err());
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let weekdays = |text: &str| crontab(text, &format!("0 0 * * {text}")).unwrap().weekdays;
        assert_eq!(weekdays("0"), set([0]));
        assert_eq!(weekdays("7"), set([0]));
        assert_eq!(weekdays("0-7"), set(0..=6), "every day, not Sundays only");
        assert_eq!(weekdays("5-7"), set([5, 6, 0]));
        assert_eq!(weekdays("5-0"), set([5, 6, 0]));
        assert_eq!(weekdays("fri-mon"), set([5, 6, 0, 1]));
        assert_eq!(weekdays("1-7/2"), set([1, 3, 5, 0]));
        assert_eq!(weekdays("*/2"), set([0, 2, 4, 6]));
        assert_eq!(weekdays("*"), set(0..=6));
    }

    #[test]
    fn either_day_field_picks_the_day_only_when_neither_starts_with_a_star() {
        let either = |line: &str| parse(line).unwrap().either_day;
        assert!(either("0 7 1 * 1"));
        assert!(either("0 7 1-31 * mon"));
        assert!(either("0 7 1 * 0-7"));
        assert!(!either("0 7 * * 1"));
        assert!(!either("0 7 1 * *"));
        assert!(!either("0 7 */2 * 1"), "Vixie reads `*/2` as a star");
        assert!(!either("0 7 1 * */2"));
        assert!(!either("0 7 ? * 1"));
        assert!(!either("@weekly"));
        assert!(!either("0 0 7 1 * 2"), "the cron crate's forms need both");
    }

    #[test]
    fn shorthands_are_vixies() {
        for (short, long) in [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"),
            ("@Daily", "0 0 * * *"),
        ] {
            assert_eq!(parse(short).unwrap(), parse(long).unwrap(), "{short}");
        }
        let reboot = parse("@reboot").unwrap_err().to_string();
        assert!(reboot.contains("@reboot"), "{reboot}");
        assert!(
            parse("@fortnightly")
                .unwrap_err()
                .to_string()
                .contains("@weekly")
        );
    }

    #[test]
    fn mistakes_name_the_field_and_the_value() {
        let error = |line: &str| parse(line).unwrap_err().to_string();
        assert_eq!(
            error("0 7 * * 8"),
            "`0 7 * * 8`: day of week `8`: `8` is outside 0–7, 0 and 7 are Sunday"
        );
        assert_eq!(
            error("60 7 * * *"),
            "`60 7 * * *`: minute `60`: `60` is outside 0–59"
        );
        assert_eq!(
            error("0 7 0 * *"),
            "`0 7 0 * *`: day of month `0`: `0` is outside 1–31"
        );
        assert!(error("0 24 * * *").starts_with("`0 24 * * *`: hour `24`"));
        assert!(error("0 7 * foo *").contains("month `foo`: `foo` is neither a number nor a name"));
        assert!(error("*/0 * * * *").contains("step `0`"));
        assert!(error("1,,2 * * * *").contains("empty"));
        assert!(error("0 7 L * *").contains("`L` is not a number"));
        assert!(error("0 7 * * 1#2").contains("day of week"));
        assert!(error("0 ? * * *").contains("hour `?`"));
        assert!(error("0 7 * * 1/2").contains("write the range out"));
        assert!(error("0 22-2/2 * * *").contains("wraps"));
        assert!(error("0 7 * *").contains("4 fields"));
        assert!(error("0 7 * * * /usr/bin/true").contains("cron crate"));
        assert!(error("0 0 31 2 *").contains("never fires"));
        assert!(error("0 0 30,31 feb *").contains("never fires"));
        assert!(parse("0 0 29 2 *").is_ok(), "leap days come");
        assert!(parse("0 0 31 2 mon").is_ok(), "Mondays in February");
    }

    #[test]
    fn cron_crate_forms_keep_their_meaning() {
        let f = parse("*/2 * * * * *").unwrap();
        assert_eq!(f.seconds, set((0..60).step_by(2)));
        assert_eq!(f.minutes, set(0..=59));
        // The crate numbers weekdays from Sunday as 1: 2 is Monday.
        let monday = parse("0 0 7 * * 2").unwrap();
        assert_eq!((monday.seconds, monday.weekdays), (1, set([1])));
        assert_eq!(parse("0 0 7 * * Mon").unwrap().weekdays, set([1]));
        let years = parse("0 0 7 * * * 2027-2028").unwrap();
        assert_eq!(years.years, Some(vec![2027, 2028]));
        assert_eq!(parse("0 0 7 * * *").unwrap().years, None);
    }
}

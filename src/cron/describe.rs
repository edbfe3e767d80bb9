//! A schedule in words, for the people who read it in the console: "At 07:00 on
//! Monday". The words come from the parsed field sets, not from the text, so `0-7`,
//! `*` and `sun-sat` read alike and what is described is what fires. Pure.

use super::fields::{Fields, has};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// At most this many times of day are listed one by one ("At 07:00 and 19:00").
const LISTED_TIMES: usize = 6;

/// The sentence for a schedule's fields.
pub(super) fn describe(f: &Fields) -> String {
    let seconds = values(f.seconds, 0, 59);
    let minutes = values(f.minutes, 0, 59);
    let hours = values(f.hours, 0, 23);
    let listed = seconds.len() == 1 && minutes.len() * hours.len() <= LISTED_TIMES;
    let mut sentence = if listed {
        // Seconds show only in the cron crate's forms that name one.
        let second = match seconds[0] {
            0 => String::new(),
            s => format!(":{s:02}"),
        };
        let times: Vec<String> = hours
            .iter()
            .flat_map(|h| {
                let second = &second;
                minutes
                    .iter()
                    .map(move |m| format!("{h:02}:{m:02}{second}"))
            })
            .collect();
        format!("at {}", join(&times))
    } else {
        time_of_day(f, &seconds, &minutes, &hours)
    };
    let days = days(f);
    let months = (!is_full(f.months, 1, 12)).then(|| {
        let names = items(&values(f.months, 1, 12), |m| MONTHS[m as usize - 1].into());
        format!("in {names}")
    });
    match days {
        Some(days) => {
            sentence.push(' ');
            sentence.push_str(&days);
        }
        // A time of day with no day named fires daily; say so, unless the months
        // that follow name when.
        None if listed && months.is_none() => sentence.push_str(" every day"),
        None => {}
    }
    if let Some(months) = months {
        sentence.push_str(", ");
        sentence.push_str(&months);
    }
    if let Some(years) = &f.years {
        let years: Vec<u32> = years.iter().map(|&y| y as u32).collect();
        sentence.push_str(", in ");
        sentence.push_str(&items(&years, |y| y.to_string()));
    }
    capitalise(&sentence)
}

/// The times of day when there are too many to list: "every 15 minutes, from 09:00
/// through 17:45".
fn time_of_day(f: &Fields, seconds: &[u32], minutes: &[u32], hours: &[u32]) -> String {
    let mut parts = Vec::new();
    if seconds != [0] {
        parts.push(unit(f.seconds, seconds, 59, "second"));
    }
    let every_hour = is_full(f.hours, 0, 23);
    let minute_part = if seconds != [0] && is_full(f.minutes, 0, 59) {
        None
    } else if minutes == [0] && seconds == [0] {
        Some(if every_hour {
            "every hour, on the hour".to_string()
        } else {
            "on the hour".to_string()
        })
    } else if minutes.len() == 1 && seconds == [0] {
        let past = if every_hour { "every hour" } else { "the hour" };
        Some(format!("at {} past {past}", plural(minutes[0], "minute")))
    } else {
        Some(unit(f.minutes, minutes, 59, "minute"))
    };
    parts.extend(minute_part);
    if !every_hour {
        let runs = runs(hours);
        parts.push(match runs.as_slice() {
            [(first, last)] if last > first => {
                let last_minute = minutes.last().copied().unwrap_or(0);
                format!("from {first:02}:00 through {last:02}:{last_minute:02}")
            }
            [(hour, _)] => format!("in the {hour:02}:00 hour"),
            _ => format!("in the hours {}", items(hours, |h| format!("{h:02}"))),
        });
    }
    parts.join(", ")
}

/// A repeating unit of the time of day: "every minute", "every 15 minutes", "every
/// 20 minutes from minute 5", "at minutes 5 through 10 and 30".
fn unit(set: u64, values: &[u32], max: u32, name: &str) -> String {
    if is_full(set, 0, max) {
        return format!("every {name}");
    }
    if let Some((start, step)) = step(values, 0, max) {
        let every = format!("every {step} {name}s");
        return if start == 0 {
            every
        } else {
            format!("{every} from {name} {start}")
        };
    }
    match values {
        [one] => format!("at {name} {one}"),
        _ => format!("at {name}s {}", items(values, |v| v.to_string())),
    }
}

/// The days it fires on, or `None` for every day.
fn days(f: &Fields) -> Option<String> {
    let all_days = is_full(f.days, 1, 31);
    let all_weekdays = is_full(f.weekdays, 0, 6);
    if f.either_day && (all_days || all_weekdays) {
        // Either field alone would pick every day.
        return None;
    }
    let of_month = || {
        let days = values(f.days, 1, 31);
        match step(&days, 1, 31) {
            Some((1, step)) => {
                format!("on every {} day of the month", ordinal(step))
            }
            Some((start, step)) => format!(
                "on every {} day of the month from the {}",
                ordinal(step),
                ordinal(start)
            ),
            None => format!("on the {} of the month", items(&days, ordinal)),
        }
    };
    let names = || items(&values(f.weekdays, 0, 6), |d| WEEKDAYS[d as usize].into());
    match (all_days, all_weekdays) {
        (true, true) => None,
        (true, false) => Some(format!("on {}", names())),
        (false, true) => Some(of_month()),
        (false, false) if f.either_day => Some(format!("{}, and on {}", of_month(), names())),
        (false, false) => Some(format!("{}, when that is {}", of_month(), names())),
    }
}

/// The values of a set, in order.
fn values(set: u64, min: u32, max: u32) -> Vec<u32> {
    (min..=max).filter(|&v| has(set, v)).collect()
}

fn is_full(set: u64, min: u32, max: u32) -> bool {
    (min..=max).all(|v| has(set, v))
}

/// `(start, step)` when the values are what `start/step` or `*/step` gives: evenly
/// spaced by more than one, starting within the first step and running to the end.
fn step(values: &[u32], min: u32, max: u32) -> Option<(u32, u32)> {
    let [first, second, ..] = *values else {
        return None;
    };
    let step = second - first;
    let even = values.windows(2).all(|w| w[1] - w[0] == step);
    let last = *values.last()?;
    (step > 1 && even && first - min < step && last + step > max).then_some((first, step))
}

/// Consecutive values as `(first, last)` runs.
fn runs(values: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == v => *last = v,
            _ => runs.push((v, v)),
        }
    }
    runs
}

/// Values in words, runs of three or more as "A through B".
fn items(values: &[u32], name: impl Fn(u32) -> String) -> String {
    let mut words = Vec::new();
    for (first, last) in runs(values) {
        if last >= first + 2 {
            words.push(format!("{} through {}", name(first), name(last)));
        } else {
            words.extend((first..=last).map(&name));
        }
    }
    join(&words)
}

/// "a", "a and b", "a, b and c".
fn join(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn plural(n: u32, name: &str) -> String {
    if n == 1 {
        format!("1 {name}")
    } else {
        format!("{n} {name}s")
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::CronSchedule;

    fn words(line: &str) -> String {
        CronSchedule::parse(line).unwrap().describe()
    }

    #[test]
    fn a_time_on_a_day() {
        assert_eq!(words("0 7 * * 1"), "At 07:00 on Monday");
        assert_eq!(words("0 7 * * *"), "At 07:00 every day");
        assert_eq!(words("30 18 * * sun"), "At 18:30 on Sunday");
        assert_eq!(words("0 7 * * 7"), "At 07:00 on Sunday", "7 is Sunday");
        assert_eq!(words("0 7 * * 0-7"), "At 07:00 every day");
        assert_eq!(words("5 9 * * ?"), "At 09:05 every day");
    }

    #[test]
    fn the_shorthands() {
        assert_eq!(words("@daily"), "At 00:00 every day");
        assert_eq!(words("@midnight"), "At 00:00 every day");
        assert_eq!(words("@weekly"), "At 00:00 on Sunday");
        assert_eq!(words("@monthly"), "At 00:00 on the 1st of the month");
        assert_eq!(
            words("@yearly"),
            "At 00:00 on the 1st of the month, in January"
        );
        assert_eq!(words("@annually"), words("@yearly"));
        assert_eq!(words("@hourly"), "Every hour, on the hour");
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(words("0 7,19 * * *"), "At 07:00 and 19:00 every day");
        assert_eq!(
            words("0,30 7 * * mon,wed,fri"),
            "At 07:00 and 07:30 on Monday, Wednesday and Friday"
        );
        assert_eq!(
            words("0 8 * * mon-fri"),
            "At 08:00 on Monday through Friday"
        );
        assert_eq!(
            words("0 8 * * fri-mon"),
            "At 08:00 on Sunday, Monday, Friday and Saturday",
            "a range round the week's end is its days"
        );
        assert_eq!(
            words("0 6 1,15 * *"),
            "At 06:00 on the 1st and 15th of the month"
        );
        assert_eq!(
            words("0 6 1-3,22 * *"),
            "At 06:00 on the 1st through 3rd and 22nd of the month"
        );
        assert_eq!(
            words("0 9 * jan-mar,dec *"),
            "At 09:00, in January through March and December"
        );
        assert_eq!(words("15 * * * *"), "At 15 minutes past every hour");
        assert_eq!(
            words("0 9-17 * * *"),
            "On the hour, from 09:00 through 17:00"
        );
        assert_eq!(
            words("0 1,5,9,13,17,21,23 * * *"),
            "On the hour, in the hours 01, 05, 09, 13, 17, 21 and 23"
        );
    }

    #[test]
    fn steps() {
        assert_eq!(words("* * * * *"), "Every minute");
        assert_eq!(words("*/15 * * * *"), "Every 15 minutes");
        assert_eq!(words("5/20 * * * *"), "Every 20 minutes from minute 5");
        assert_eq!(
            words("*/15 9-17 * * mon-fri"),
            "Every 15 minutes, from 09:00 through 17:45 on Monday through Friday"
        );
        assert_eq!(
            words("0 */6 * * *"),
            "At 00:00, 06:00, 12:00 and 18:00 every day"
        );
        assert_eq!(
            words("0 7 */2 * *"),
            "At 07:00 on every 2nd day of the month"
        );
        assert_eq!(
            words("0 7 2/7 * *"),
            "At 07:00 on every 7th day of the month from the 2nd"
        );
        assert_eq!(
            words("0 7 1 */3 *"),
            "At 07:00 on the 1st of the month, in January, April, July and October"
        );
        assert_eq!(
            words("10-20 3 * * *"),
            "At minutes 10 through 20, in the 03:00 hour"
        );
    }

    #[test]
    fn either_day_field_fires_the_day() {
        // Both restricted: the 1st *and* every Monday, as Vixie cron reads it.
        assert_eq!(
            words("0 7 1 * 1"),
            "At 07:00 on the 1st of the month, and on Monday"
        );
        assert_eq!(
            words("0 7 1,15 * sat,sun"),
            "At 07:00 on the 1st and 15th of the month, and on Sunday and Saturday"
        );
        // A star-led field does not count as restricted: both must match.
        assert_eq!(
            words("0 7 */2 * 1"),
            "At 07:00 on every 2nd day of the month, when that is Monday"
        );
        // A full range is restricted by its text, but picks every day either way.
        assert_eq!(words("0 7 1-31 * mon"), "At 07:00 every day");
        // The cron crate's forms need both fields to match.
        assert_eq!(
            words("0 0 7 1 * Mon"),
            "At 07:00 on the 1st of the month, when that is Monday"
        );
    }

    #[test]
    fn seconds_and_years_of_the_cron_crate_forms() {
        assert_eq!(words("30 0 7 * * *"), "At 07:00:30 every day");
        assert_eq!(
            words("*/20 0 7 * * *"),
            "Every 20 seconds, at minute 0, in the 07:00 hour"
        );
        assert_eq!(words("*/2 * * * * *"), "Every 2 seconds");
        assert_eq!(
            words("0 0 7 * * * 2027-2028"),
            "At 07:00 every day, in 2027 and 2028"
        );
    }
}

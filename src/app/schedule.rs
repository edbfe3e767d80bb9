//! `crier cron`: when a schedule line fires, on one time zone's clock. The rules live in
//! `cron`; this only reads the arguments and prints.

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::cli::CronArgs;
use crate::clock::{Clock, SystemClock};
use crate::cron::CronSchedule;

pub(super) fn run(args: &CronArgs) -> anyhow::Result<ExitCode> {
    let zone: chrono_tz::Tz = args.tz.parse().map_err(|_| {
        anyhow::anyhow!(
            "`{}` is not a time zone; use an IANA name such as Europe/London",
            args.tz
        )
    })?;
    let after = match &args.after {
        Some(at) => DateTime::parse_from_rfc3339(at)
            .with_context(|| format!("`{at}` is not a time like 2026-01-01T00:00:00Z"))?
            .with_timezone(&Utc),
        None => SystemClock.now(),
    };
    let line = args.expr.join(" ");
    // A line that is no schedule is the problem this command exists to find: exit 1,
    // as `check` does for a broken config.
    let schedule = match CronSchedule::parse(&line) {
        Ok(schedule) => schedule,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let firings: Vec<DateTime<Utc>> = schedule
        .firings_after(after, &zone)
        .take(args.next)
        .collect();
    if args.json {
        let times: Vec<_> = firings
            .iter()
            .map(|t| {
                serde_json::json!({
                    "utc": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "local": t.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(times));
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "`{}` on the clock of {zone}, after {}:",
        schedule.source,
        after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    if schedule.either_day() {
        outln!("(both day fields are restricted, so a day matching either one fires, as in cron)");
    }
    for t in &firings {
        outln!(
            "  {}   {}",
            t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M:%S %Z"),
            t.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if firings.len() < args.next {
        outln!("  (no more firings)");
    }
    Ok(ExitCode::SUCCESS)
}

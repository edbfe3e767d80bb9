//! Why a schedule line was refused. The messages are what `crier cron`, `crier check`
//! and the config loader show the admin, and what `.ci/cron-diff.py` and the CLI tests
//! compare, so their wording is part of the interface: change it only on purpose.

/// A schedule line crier will not run, with the line as written.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    /// Neither a crontab line (5 fields) nor one of the `cron` crate's forms (6 or 7).
    #[error(
        "`{line}` has {count} fields; write a crontab line like `0 7 * * 1` \
         (minute hour day-of-month month day-of-week, no command)"
    )]
    FieldCount { line: String, count: usize },
    #[error(
        "`@reboot` runs a job when cron starts, which is no time for a digest; \
         write a schedule such as `0 7 * * *`"
    )]
    Reboot,
    #[error(
        "`{line}` is not a cron shorthand; the shorthands are @yearly (@annually), \
         @monthly, @weekly, @daily (@midnight) and @hourly"
    )]
    UnknownShorthand { line: String },
    /// One field of a crontab line, named as `crontab(5)` names it.
    #[error("`{line}`: {field} `{text}`: {problem}")]
    Field {
        line: String,
        field: &'static str,
        text: String,
        problem: FieldError,
    },
    /// Six or seven fields the `cron` crate refuses.
    #[error(
        "`{line}` is not a crontab line (5 fields) nor the cron crate's 6- or 7-field \
         form (seconds first): {source}"
    )]
    CronCrate {
        line: String,
        source: ::cron::error::Error,
    },
    /// Valid fields that no calendar day satisfies, such as `0 0 31 2 *`.
    #[error("`{line}` never fires: none of its months has any of its days")]
    NeverFires { line: String },
}

/// What is wrong inside one crontab field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("`?` only stands for `*` in the day fields")]
    Question,
    #[error("an empty list item")]
    EmptyItem,
    /// `N/STEP` in the weekday field, which crons end at 6 or at 7.
    #[error(
        "`{item}`: crons differ on where this ends; write the range out, \
         e.g. `{start}-6/…` or `{start}-7/…`"
    )]
    WeekdayStep { item: String, start: String },
    #[error(
        "`{item}`: a step on a range that wraps round is read differently by \
         different crons; write a list instead"
    )]
    WrappingStep { item: String },
    #[error("step `{0}` should be a whole number from 1")]
    Step(String),
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{text}` is neither a number nor a name ({first} … {last})")]
    NotANumberOrName {
        text: String,
        first: &'static str,
        last: &'static str,
    },
    /// `sunday` notes, for the weekday field, that both 0 and 7 mean Sunday.
    #[error("`{text}` is outside {min}–{max}{}", if *.sunday { ", 0 and 7 are Sunday" } else { "" })]
    OutOfRange {
        text: String,
        min: u32,
        max: u32,
        sunday: bool,
    },
}

//! The dashboard, `GET /admin`: subscribers by status and audience, what happened to
//! subscribers and to the outbox each day of the last 90 (as SVG charts with their
//! numbers in tables), each digest's next run and its reach, and recent errors. Every
//! figure is one store query; they run side by side.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::chart::{self, Series};
use super::{Admin, Console, console_page, parts};
use crate::digests::reach::{NextRun, next_run};
use crate::http::{People, Shared};
use crate::model::FileError;
use crate::store::{ACTIVITY_KINDS, DayCount, Store, StoreError, outbox_by_status};

/// Days the charts cover, today included.
pub const DAYS: i64 = 90;
/// Parse errors and failed deliveries listed at most.
const RECENT: usize = 10;

#[derive(Serialize)]
struct Count {
    name: String,
    count: u64,
}

#[derive(Serialize)]
struct ActivityDay {
    day: String,
    signups: u64,
    confirmations: u64,
    unsubscribes: u64,
    bounces: u64,
}

#[derive(Serialize)]
struct OutboxDay {
    day: String,
    sent: u64,
    failed: u64,
    waiting: u64,
}

#[derive(Serialize)]
struct DigestRun {
    name: String,
    schedule: String,
    next: Option<String>,
    reach: u64,
    subscribers: u64,
}

#[derive(Serialize)]
struct Failure {
    id: i64,
    kind: String,
    recipient: String,
    attempts: u32,
    created: String,
    error: String,
}

#[derive(Serialize)]
pub(super) struct Dashboard {
    total: u64,
    by_status: Vec<Count>,
    by_audience: Vec<Count>,
    audience_chart: String,
    activity_chart: String,
    activity: Vec<ActivityDay>,
    activity_totals: ActivityDay,
    outbox_chart: String,
    outbox: Vec<OutboxDay>,
    outbox_totals: OutboxDay,
    digests: Vec<DigestRun>,
    parse_errors: Vec<FileError>,
    more_parse_errors: usize,
    failures: Vec<Failure>,
}

/// How long outbox totals are added to rather than counted again. Rows leave the
/// outbox only when pruned (daily), erased, or dropped for a subscriber who left
/// while their mail waited; a full recount this often keeps the chart near enough.
const OUTBOX_RECOUNT: Duration = Duration::minutes(10);

/// The charts' counts, kept between requests and brought up to date by adding the
/// rows that arrived since: audit events and outbox rows get increasing ids, so each
/// request counts only the ids above the last mark (a primary-key range), however
/// large the tables. Audit events are never changed or deleted, so their counts stay
/// exact; outbox totals are counted again in full every [`OUTBOX_RECOUNT`]. What a
/// row's status is now (sent or not) is read per request from the small partial
/// indexes of unsent rows.
#[derive(Default)]
pub(crate) struct History(tokio::sync::Mutex<Option<Counts>>);

#[derive(Default)]
struct Counts {
    events_mark: i64,
    outbox_mark: i64,
    outbox_counted: Option<DateTime<Utc>>,
    activity: BTreeMap<(NaiveDate, String), u64>,
    outbox: BTreeMap<NaiveDate, u64>,
}

impl History {
    /// Brings the counts up to date now (the daemon calls this at start).
    pub(crate) async fn prepare(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.since(store, first_day(now), now).await.map(drop)
    }

    /// Activity and outbox totals per day from `first` on, brought up to date first.
    /// One request counts at a time; the others wait for it and then add little. The
    /// kept counts change only once every query has answered.
    async fn since(
        &self,
        store: &Store,
        first: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<(Vec<DayCount>, Vec<DayCount>), StoreError> {
        let mut held = self.0.lock().await;
        let counts = held.get_or_insert_with(Counts::default);
        let (events_mark, outbox_mark) = store.report_marks().await?;
        let recount = counts
            .outbox_counted
            .is_none_or(|at| now < at || now - at >= OUTBOX_RECOUNT);
        let outbox_after = if recount { 0 } else { counts.outbox_mark };
        let (activity, outbox) = tokio::try_join!(
            store.activity_between(counts.events_mark, events_mark),
            store.outbox_totals_between(outbox_after, outbox_mark),
        )?;
        for c in activity {
            *counts.activity.entry((c.day, c.kind)).or_default() += c.count;
        }
        if recount {
            counts.outbox.clear();
            counts.outbox_counted = Some(now);
        }
        for c in outbox {
            *counts.outbox.entry(c.day).or_default() += c.count;
        }
        counts.events_mark = events_mark;
        counts.outbox_mark = outbox_mark;
        let activity = counts
            .activity
            .range((first, String::new())..)
            .map(|((day, kind), &count)| DayCount {
                day: *day,
                kind: kind.clone(),
                count,
            })
            .collect();
        let outbox = counts
            .outbox
            .range(first..)
            .map(|(day, &count)| DayCount {
                day: *day,
                kind: "total".into(),
                count,
            })
            .collect();
        Ok((activity, outbox))
    }
}

/// The first day the charts show: `DAYS - 1` days before `now`'s UTC day.
pub fn first_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive() - Duration::days(DAYS - 1)
}

/// The start of the charts' first day, for `now`.
fn chart_start(now: DateTime<Utc>) -> DateTime<Utc> {
    first_day(now)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
}

/// `counts` spread over the chart's days: one value per day and kind, 0 where none.
fn per_day(counts: &[DayCount], first: NaiveDate, kinds: &[&[&str]]) -> Vec<Vec<u64>> {
    let mut out = vec![vec![0u64; DAYS as usize]; kinds.len()];
    for c in counts {
        let index = (c.day - first).num_days();
        if !(0..DAYS).contains(&index) {
            continue;
        }
        for (k, names) in kinds.iter().enumerate() {
            if names.contains(&c.kind.as_str()) {
                out[k][index as usize] += c.count;
            }
        }
    }
    out
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(super) async fn build(
    people: &People,
    console: &Console,
    now: DateTime<Utc>,
) -> Result<Dashboard, StoreError> {
    let store = people.subscriptions.store();
    let first = first_day(now);
    let since = chart_start(now);
    let upcoming = async {
        match &console.upcoming {
            Some(upcoming) => Some(upcoming.upcoming().await),
            None => None,
        }
    };
    let (counted, stats, unsent, zones, failures, upcoming) = tokio::join!(
        console.state.history.since(store, first, now),
        store.stats(),
        store.outbox_unsent(since),
        store.active_by_zone(),
        store.deliveries(true, RECENT),
        upcoming,
    );
    let ((activity, totals), stats, zones, failures) = (counted?, stats?, zones?, failures?);
    let outbox = outbox_by_status(&totals, &unsent?);
    let library = console.library.borrow().clone();
    let taxonomy = library.taxonomy();

    let labels: Vec<String> = (0..DAYS)
        .map(|i| (first + Duration::days(i)).format("%b %-d").to_string())
        .collect();
    let dates: Vec<String> = (0..DAYS)
        .map(|i| (first + Duration::days(i)).to_string())
        .collect();

    let [signups, confirmations, unsubscribes, bounces] = ACTIVITY_KINDS;
    let kinds: [&[&str]; 4] = [&[signups], &[confirmations], &[unsubscribes], &[bounces]];
    let series = per_day(&activity, first, &kinds);
    let names = ["Sign-ups", "Confirmations", "Unsubscribes", "Bounces"];
    let activity_chart = chart::lines(
        "Subscribers: sign-ups, confirmations, unsubscribes and bounces per day",
        &format!(
            "The last {DAYS} days, from {} to {}, in UTC.",
            dates[0],
            dates[dates.len() - 1]
        ),
        &labels,
        &names
            .iter()
            .zip(&series)
            .map(|(name, values)| Series {
                name,
                values: values.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let activity_day = |day: String, i: Option<usize>| {
        let v = |k: usize| i.map_or_else(|| series[k].iter().sum(), |i| series[k][i]);
        ActivityDay {
            day,
            signups: v(0),
            confirmations: v(1),
            unsubscribes: v(2),
            bounces: v(3),
        }
    };
    // Newest first in the table: the day one looks for is usually today.
    let activity_rows = (0..DAYS as usize)
        .rev()
        .map(|i| activity_day(dates[i].clone(), Some(i)))
        .collect();
    let activity_totals = activity_day("Total".into(), None);

    let kinds: [&[&str]; 3] = [&["sent"], &["failed"], &["queued", "sending"]];
    let boxes = per_day(&outbox, first, &kinds);
    let outbox_chart = chart::lines(
        "Messages per day they were queued: sent, failed and still waiting",
        &format!(
            "The last {DAYS} days, from {} to {}, in UTC.",
            dates[0],
            dates[dates.len() - 1]
        ),
        &labels,
        &["Sent", "Failed", "Waiting"]
            .iter()
            .zip(&boxes)
            .map(|(name, values)| Series {
                name,
                values: values.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let outbox_day = |day: String, i: Option<usize>| {
        let v = |k: usize| i.map_or_else(|| boxes[k].iter().sum(), |i| boxes[k][i]);
        OutboxDay {
            day,
            sent: v(0),
            failed: v(1),
            waiting: v(2),
        }
    };
    let outbox_rows = (0..DAYS as usize)
        .rev()
        .map(|i| outbox_day(dates[i].clone(), Some(i)))
        .collect();
    let outbox_totals = outbox_day("Total".into(), None);

    let audience_name = |slug: &str| taxonomy.choice_name(slug);
    // Every audience of the taxonomy, in its order, then any slug it no longer has.
    let mut by_audience: Vec<Count> = taxonomy
        .audiences()
        .iter()
        .map(|a| Count {
            name: a.name.clone(),
            count: stats.by_audience.get(&a.slug).copied().unwrap_or(0),
        })
        .collect();
    by_audience.extend(
        stats
            .by_audience
            .iter()
            .filter(|(slug, _)| taxonomy.get(slug).is_none())
            .map(|(slug, &count)| Count {
                name: audience_name(slug),
                count,
            }),
    );
    let audience_chart = chart::bars(
        "Active subscribers per audience",
        "How many active subscribers chose each audience.",
        &by_audience
            .iter()
            .map(|c| (c.name.as_str(), c.count))
            .collect::<Vec<_>>(),
    );

    let known: BTreeMap<String, Option<DateTime<Utc>>> = upcoming.into_iter().flatten().collect();
    let digests = console
        .digests
        .digests()
        .iter()
        .map(|d| {
            let NextRun {
                at,
                reach,
                subscribers,
                ..
            } = next_run(d, &zones, now, known.get(&d.name).copied());
            DigestRun {
                name: d.name.clone(),
                schedule: d.cron.source.clone(),
                next: at.map(time),
                reach,
                subscribers,
            }
        })
        .collect();

    let errors = library.errors();
    Ok(Dashboard {
        total: stats.total,
        by_status: stats
            .by_status
            .iter()
            .map(|(name, &count)| Count {
                name: name.clone(),
                count,
            })
            .collect(),
        by_audience,
        audience_chart,
        activity_chart,
        activity: activity_rows,
        activity_totals,
        outbox_chart,
        outbox: outbox_rows,
        outbox_totals,
        digests,
        parse_errors: errors.iter().take(RECENT).cloned().collect(),
        more_parse_errors: errors.len().saturating_sub(RECENT),
        failures: failures
            .into_iter()
            .map(|f| Failure {
                id: f.id,
                kind: f.kind,
                recipient: f.recipient,
                attempts: f.attempts,
                created: time(f.created_at),
                error: f.last_error.unwrap_or_default(),
            })
            .collect(),
    })
}

async fn dashboard(State(state): State<Arc<Shared>>, admin: Admin) -> Response {
    let (people, console) = match parts(&state, &admin) {
        Ok(parts) => parts,
        Err(r) => return r,
    };
    match build(people, console, people.subscriptions.now()).await {
        Ok(view) => console_page(&state, Some(&admin), "dashboard/index", "Dashboard", &view),
        Err(e) => super::views::failed(&state, &admin, &e),
    }
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/admin", get(dashboard))
}

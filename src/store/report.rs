//! Read-only figures for the admin console's dashboard: what happened to subscribers
//! and to the outbox on each day, and who each digest's next run reaches. Each
//! figure is one GROUP BY over an index that covers the columns it reads (migration
//! 8), so a page stays fast with 100,000 subscribers and a large outbox.

use std::collections::BTreeMap;

use super::{Dialect, Get, Store, StoreError, to_secs};
use chrono::{DateTime, NaiveDate, Utc};

/// Audit event kinds the dashboard charts: a sign-up (form or import), a
/// confirmation link followed, an unsubscribe and a hard bounce. An admin's status
/// change records the status itself, so "unsubscribed" and "bounced" include those.
pub const ACTIVITY_KINDS: [&str; 4] = ["signup", "confirm", "unsubscribed", "bounced"];

/// How many rows of one kind (an event kind, an outbox status) fell on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayCount {
    pub day: NaiveDate,
    pub kind: String,
    pub count: u64,
}

/// Active subscribers of one schedule (their `frequency`) on one clock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZoneCount {
    pub frequency: String,
    pub timezone: String,
    pub count: u64,
}

const SECONDS_PER_DAY: i64 = 86_400;

fn day_of(days_since_epoch: i64) -> NaiveDate {
    DateTime::from_timestamp(days_since_epoch * SECONDS_PER_DAY, 0)
        .unwrap_or_default()
        .date_naive()
}

fn day_counts<R: Get>(rows: Vec<R>) -> Result<Vec<DayCount>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(DayCount {
                day: day_of(r.get("day")?),
                kind: r.get("kind")?,
                count: r.get::<i64>("n")?.max(0) as u64,
            })
        })
        .collect()
}

/// Each day's outbox rows split by status: `totals` (every row queued that day, kind
/// `total`) less the `unsent` ones (queued, sending, failed) are the sent ones. Days
/// of `unsent` with no total (counted at another time) keep only their unsent rows.
pub fn outbox_by_status(totals: &[DayCount], unsent: &[DayCount]) -> Vec<DayCount> {
    let mut sent: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for t in totals {
        *sent.entry(t.day).or_default() += t.count as i64;
    }
    for u in unsent {
        if let Some(n) = sent.get_mut(&u.day) {
            *n -= u.count as i64;
        }
    }
    let mut counts: Vec<DayCount> = unsent.to_vec();
    counts.extend(
        sent.into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(day, n)| DayCount {
                day,
                kind: "sent".to_string(),
                count: n as u64,
            }),
    );
    counts.sort_by(|a, b| (a.day, &a.kind).cmp(&(b.day, &b.kind)));
    counts
}

impl Store {
    /// Sign-ups, confirmations, unsubscribes and bounces per UTC day, from `since` on,
    /// as the audit log recorded them. The log, not
    /// the subscribers' own dates: those keep only the latest of each change (a second
    /// confirmation overwrites the first) and an erased subscriber's row is gone, while
    /// each event stays. Events are only ever added, at the time they happen, so a
    /// past day's counts never change.
    pub async fn subscriber_activity(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<DayCount>, StoreError> {
        with_pool!(self, pool, d => day_counts(d
            .query("SELECT kind, at / 86400 AS day, count(*) AS n FROM events \
             WHERE kind IN (?1, ?2, ?3, ?4) AND at >= ?5 GROUP BY kind, day ORDER BY day, kind")
            .bind(ACTIVITY_KINDS[0])
        .bind(ACTIVITY_KINDS[1])
        .bind(ACTIVITY_KINDS[2])
        .bind(ACTIVITY_KINDS[3])
        .bind(to_secs(since))
        .fetch_all(pool)
            .await?))
    }

    /// Outbox rows per UTC day they were queued (kind `total`), from `since` on, from
    /// `outbox (created_at)`, which never changes once a row is queued. Rows leave it
    /// only when pruned, erased or dropped for a subscriber who left while their mail
    /// waited.
    async fn outbox_totals(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        with_pool!(self, pool, d => day_counts(d
            .query("SELECT 'total' AS kind, created_at / 86400 AS day, count(*) AS n FROM outbox \
             WHERE created_at >= ? GROUP BY day")
            .bind(to_secs(since))
        .fetch_all(pool)
            .await?))
    }

    /// The newest audit event's and outbox row's ids: where an incremental count
    /// ([`Store::activity_between`], [`Store::outbox_totals_between`]) stops. Both
    /// tables take ids in increasing order (AUTOINCREMENT), so rows above a mark are
    /// exactly the rows added since.
    pub async fn report_marks(&self) -> Result<(i64, i64), StoreError> {
        Ok(with_pool!(self, pool, d => {
            let row = d
                .query(
                    "SELECT coalesce((SELECT max(id) FROM events), 0) AS events, \
                     coalesce((SELECT max(id) FROM outbox), 0) AS outbox",
                )
                .fetch_one(pool)
                .await?;
            (row.get("events")?, row.get("outbox")?)
        }))
    }

    /// The dashboard's activity kinds per UTC day among the audit events with
    /// `after < id <= upto`: a range of the primary key, whatever the table's size.
    pub async fn activity_between(
        &self,
        after: i64,
        upto: i64,
    ) -> Result<Vec<DayCount>, StoreError> {
        with_pool!(self, pool, d => day_counts(d
            .query("SELECT kind, at / 86400 AS day, count(*) AS n FROM events \
             WHERE id > ?1 AND id <= ?2 AND kind IN (?3, ?4, ?5, ?6) GROUP BY kind, day")
            .bind(after)
        .bind(upto)
        .bind(ACTIVITY_KINDS[0])
        .bind(ACTIVITY_KINDS[1])
        .bind(ACTIVITY_KINDS[2])
        .bind(ACTIVITY_KINDS[3])
        .fetch_all(pool)
            .await?))
    }

    /// Outbox rows per UTC day they were queued (kind `total`) among those with
    /// `after < id <= upto`.
    pub async fn outbox_totals_between(
        &self,
        after: i64,
        upto: i64,
    ) -> Result<Vec<DayCount>, StoreError> {
        with_pool!(self, pool, d => day_counts(d
            .query("SELECT 'total' AS kind, created_at / 86400 AS day, count(*) AS n FROM outbox \
             WHERE id > ?1 AND id <= ?2 GROUP BY day")
            .bind(after)
        .bind(upto)
        .fetch_all(pool)
            .await?))
    }

    /// Outbox rows not yet sent (`queued`, `sending`, `failed`) per UTC day they were
    /// queued, from `since` on, from the partial indexes of those statuses (few rows;
    /// the `+` keeps SQLite on them).
    pub async fn outbox_unsent(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        with_pool!(self, pool, d => day_counts(d
            .query("SELECT 'queued' AS kind, created_at / 86400 AS day, count(*) AS n FROM outbox \
             WHERE status = 'queued' AND +created_at >= ?1 GROUP BY day \
             UNION ALL SELECT 'sending', created_at / 86400 AS day, count(*) FROM outbox \
             WHERE status = 'sending' AND +created_at >= ?1 GROUP BY day \
             UNION ALL SELECT 'failed', created_at / 86400 AS day, count(*) FROM outbox \
             WHERE status = 'failed' AND +created_at >= ?1 GROUP BY day")
            .bind(to_secs(since))
        .fetch_all(pool)
            .await?))
    }

    /// Outbox messages per UTC day they were queued, from `since` on, by their status
    /// now (`queued`, `sending`, `sent`, `failed`). The day a message was queued is the
    /// one date every row has; a digest is sent within minutes of being queued, and
    /// a failed row keeps no time of its failure.
    ///
    /// No index holds a row's status beside its day: one would change at every send.
    /// So each day's rows are counted from `outbox (created_at)` and the unsent ones
    /// from their partial indexes; the rest of a day is sent ([`outbox_by_status`]).
    pub async fn outbox_activity(&self, since: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        let (totals, unsent) =
            tokio::try_join!(self.outbox_totals(since), self.outbox_unsent(since))?;
        Ok(outbox_by_status(&totals, &unsent))
    }

    /// Active subscribers per schedule and time zone: the clocks each digest fires on
    /// and how many people each clock's firing reaches.
    pub async fn active_by_zone(&self) -> Result<Vec<ZoneCount>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(
                "SELECT frequency, timezone, count(*) AS n FROM subscribers \
                 WHERE status = 'active' GROUP BY frequency, timezone ORDER BY frequency, timezone",
            )
            .try_map(|r| {
                Ok(ZoneCount {
                    frequency: r.get("frequency")?,
                    timezone: r.get("timezone")?,
                    count: r.get::<i64>("n")?.max(0) as u64,
                })
            })
            .fetch_all(pool)
            .await?))
    }
}

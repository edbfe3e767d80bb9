//! Finding subscribers: the one query behind the console's list, the JSON API's list
//! and `crier subscribers list` (search, filters, sort, pages), and the changes that
//! apply to everyone a query selects (the console's bulk actions). Which rows a bulk
//! change may touch is the caller's to say (see [`BulkChange`]); here the selection is
//! turned into SQL, counted and written, each in one statement or one transaction.

use chrono::{DateTime, Utc};
use sqlx::Database;
use sqlx::query::Query;

use super::subscribers::{record_many, select, subscriber};
use super::{
    Dialect, Get, ROWS_PER_STATEMENT, Store, StoreError, from_secs, placeholders, to_secs,
};
use crate::model::{Status, Subscriber};

/// What a list is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    /// The order subscribers were created in.
    #[default]
    Created,
    Email,
    /// By status, then by creation within a status.
    Status,
}

impl SortBy {
    pub const ALL: [SortBy; 3] = [SortBy::Created, SortBy::Email, SortBy::Status];

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Created => "created",
            SortBy::Email => "email",
            SortBy::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<SortBy> {
        SortBy::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            SortBy::Created => &["s.id"],
            SortBy::Email => &["s.email"],
            SortBy::Status => &["s.status", "s.id"],
        }
    }
}

/// Which subscribers, in what order, and which page of them. The default is every
/// subscriber, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberQuery {
    /// Part of an address or name, matched as typed (`%` and `_` are themselves).
    pub q: String,
    pub status: Option<Status>,
    /// Members of this audience.
    pub audience: Option<String>,
    /// Subscribers of this digest schedule.
    pub frequency: Option<String>,
    pub sort: SortBy,
    /// Oldest, A–Z, first; otherwise the reverse.
    pub ascending: bool,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriberPage {
    pub subscribers: Vec<Subscriber>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// A change to every subscriber a query selects. Each touches only the rows it would
/// change, so its count is what an admin is asked to confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkChange {
    /// Adds the audience to those who lack it.
    AddAudience(String),
    /// Takes the audience from those who have it and `keep_one` says may lose it:
    /// when set, those for whom it is the only audience keep it.
    RemoveAudience { audience: String, keep_one: bool },
    /// Unsubscribes those whose status is one of `among`: status, suppression, and no
    /// queued mail left, as [`Store::unsubscribe_subscriber`] does for one.
    Unsubscribe { among: Vec<Status> },
}

/// A value bound to a placeholder of a built query, in order.
enum Arg {
    Text(String),
    Int(i64),
}

/// A `WHERE` clause over `subscribers s` and its values.
struct Where {
    sql: String,
    args: Vec<Arg>,
}

impl Where {
    fn and(&mut self, condition: &str, args: impl IntoIterator<Item = Arg>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self.args.extend(args);
    }

    fn bind<'q, DB: Database>(
        &self,
        mut query: Query<'q, DB, <DB as Database>::Arguments>,
    ) -> Query<'q, DB, <DB as Database>::Arguments>
    where
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        for arg in &self.args {
            query = match arg {
                Arg::Text(text) => query.bind(text.clone()),
                Arg::Int(n) => query.bind(*n),
            };
        }
        query
    }
}

/// Shorter searches than this cannot use the trigram index and fall back to `LIKE`.
const TRIGRAM: usize = 3;

/// `text` for a LIKE pattern with `ESCAPE '\'`: its own `\`, `%` and `_` match
/// themselves.
pub(super) fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as one FTS5 phrase: inside double quotes every character is itself but `"`,
/// which is doubled. With the trigram tokenizer a phrase matches wherever the text
/// occurs inside an address or a name, whatever its case.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The subscribers `query` selects. SQLite searches three characters or more through
/// its FTS5 trigram index; PostgreSQL (`postgres`) matches `lower(…) LIKE` always.
fn selection(query: &SubscriberQuery, postgres: bool) -> Where {
    let mut filter = Where {
        sql: " WHERE 1 = 1".into(),
        args: Vec::new(),
    };
    let q = query.q.trim().to_lowercase();
    if postgres && !q.is_empty() {
        let pattern = format!("%{}%", like_escaped(&q));
        filter.and(
            "(lower(s.email) LIKE ? ESCAPE '\\' OR lower(coalesce(s.name, '')) LIKE ? ESCAPE '\\')",
            [Arg::Text(pattern.clone()), Arg::Text(pattern)],
        );
    } else if q.chars().count() >= TRIGRAM {
        filter.and(
            "s.id IN (SELECT rowid FROM subscribers_fts WHERE subscribers_fts MATCH ?)",
            [Arg::Text(fts_phrase(&q))],
        );
    } else if !q.is_empty() {
        let pattern = format!("%{}%", like_escaped(&q));
        filter.and(
            "(s.email LIKE ? ESCAPE '\\' OR lower(coalesce(s.name, '')) LIKE ? ESCAPE '\\')",
            [Arg::Text(pattern.clone()), Arg::Text(pattern)],
        );
    }
    if let Some(status) = query.status {
        filter.and("s.status = ?", [Arg::Text(status.as_str().into())]);
    }
    if let Some(audience) = &query.audience {
        filter.and(
            "s.id IN (SELECT subscriber_id FROM subscriber_audiences WHERE audience = ?)",
            [Arg::Text(audience.clone())],
        );
    }
    if let Some(frequency) = &query.frequency {
        filter.and("s.frequency = ?", [Arg::Text(frequency.clone())]);
    }
    filter
}

/// The rows of `query`'s selection that `change` would change.
fn targets(query: &SubscriberQuery, change: &BulkChange, postgres: bool) -> Where {
    let mut filter = selection(query, postgres);
    let member = "EXISTS (SELECT 1 FROM subscriber_audiences x WHERE x.subscriber_id = s.id AND x.audience = ?)";
    match change {
        BulkChange::AddAudience(audience) => {
            filter.and(&format!("NOT {member}"), [Arg::Text(audience.clone())]);
        }
        BulkChange::RemoveAudience { audience, keep_one } => {
            filter.and(member, [Arg::Text(audience.clone())]);
            if *keep_one {
                filter.and(
                    "EXISTS (SELECT 1 FROM subscriber_audiences y WHERE y.subscriber_id = s.id AND y.audience <> ?)",
                    [Arg::Text(audience.clone())],
                );
            }
        }
        BulkChange::Unsubscribe { among } => {
            let statuses = placeholders("?", among.len().max(1));
            let args: Vec<Arg> = if among.is_empty() {
                // No status allowed: nothing is selected.
                vec![Arg::Text(String::new())]
            } else {
                among.iter().map(|s| Arg::Text(s.as_str().into())).collect()
            };
            filter.and(&format!("s.status IN ({statuses})"), args);
        }
    }
    filter
}

fn order(query: &SubscriberQuery) -> String {
    let direction = if query.ascending { "ASC" } else { "DESC" };
    let columns: Vec<String> = query
        .sort
        .columns()
        .iter()
        .map(|c| format!("{c} {direction}"))
        .collect();
    format!(" ORDER BY {}", columns.join(", "))
}

/// One event of a subscriber's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubscriberEvent {
    /// `signup`, `confirm`, `update`, `unsubscribed`, `bounced`, `complained` …
    pub kind: String,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

impl Store {
    /// A page of subscribers matching `query`, and how many match in all. A page whose
    /// first row's number does not fit is [`StoreError::PageOutOfRange`].
    pub async fn subscribers(&self, query: &SubscriberQuery) -> Result<SubscriberPage, StoreError> {
        let per_page = query.per_page.clamp(1, 1000);
        let page = query.page.max(1);
        let offset = (page - 1)
            .checked_mul(per_page)
            .ok_or(StoreError::PageOutOfRange { page, per_page })?;
        let (total, subscribers) = with_pool!(self, pool, d => {
            let filter = selection(query, d.pick(false, true));
            let count = format!("SELECT count(*) AS n FROM subscribers s{}", filter.sql);
            let total: i64 = filter.bind(d.query(count)).fetch_one(pool).await?.get("n")?;
            // The page's ids first, from the indexes alone; only its rows are then read
            // whole (the audiences of each are a subquery, which must not run for every
            // row that is sorted).
            let sql = format!(
                "{} JOIN (SELECT s.id FROM subscribers s{}{} LIMIT ? OFFSET ?) page \
                 ON page.id = s.id{}",
                select(d),
                filter.sql,
                order(query),
                order(query)
            );
            let rows = filter
                .bind(d.query(sql))
                .bind(i64::from(per_page))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?;
            let subscribers: Vec<Subscriber> = rows.iter().map(subscriber).collect::<Result<_, _>>()?;
            (total, subscribers)
        });
        Ok(SubscriberPage {
            subscribers,
            total: total as u64,
            page,
            per_page,
        })
    }

    /// Every subscriber `query` selects, in its order, without pages (for exports).
    pub async fn matching_subscribers(
        &self,
        query: &SubscriberQuery,
    ) -> Result<Vec<Subscriber>, StoreError> {
        Ok(with_pool!(self, pool, d => {
            let filter = selection(query, d.pick(false, true));
            let sql = format!("{}{}{}", select(d), filter.sql, order(query));
            filter
                .bind(d.query(sql))
                .try_map(|row| subscriber(&row))
                .fetch_all(pool)
                .await?
        }))
    }

    /// How many subscribers `change` would change among those `query` selects.
    pub async fn bulk_targets(
        &self,
        query: &SubscriberQuery,
        change: &BulkChange,
    ) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(self, pool, d => {
            let filter = targets(query, change, d.pick(false, true));
            let sql = format!("SELECT count(*) AS n FROM subscribers s{}", filter.sql);
            filter.bind(d.query(sql)).fetch_one(pool).await?.get("n")?
        });
        Ok(n as u64)
    }

    /// Applies `change` to every subscriber `query` selects, in one transaction, many
    /// rows per statement; each changed subscriber gets an audit event (`hash` gives
    /// an address's keyed hash). Returns how many changed.
    pub async fn apply_bulk(
        &self,
        query: &SubscriberQuery,
        change: &BulkChange,
        hash: &(dyn Fn(&str) -> String + Send + Sync),
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let filter = targets(query, change, self.is_shared());
        let sql = format!("SELECT s.id, s.email FROM subscribers s{}", filter.sql);
        let found: Vec<(i64, String)> = with_tx!(&mut tx, c, d => filter
            .bind(d.query(sql))
            .try_map(|row| Ok((row.get("id")?, row.get("email")?)))
            .fetch_all(&mut **c)
            .await?);
        let chosen: Vec<(i64, String)> = found
            .into_iter()
            .map(|(id, email)| (id, hash(&email)))
            .collect();
        let (kind, detail) = match change {
            BulkChange::AddAudience(_) | BulkChange::RemoveAudience { .. } => ("update", "bulk"),
            BulkChange::Unsubscribe { .. } => (Status::Unsubscribed.as_str(), channel),
        };
        for batch in chosen.chunks(ROWS_PER_STATEMENT) {
            let ids = placeholders("?", batch.len());
            let n = batch.len();
            with_tx!(&mut tx, c, d => {
                let by_id = |sql: String, before: &[Arg]| {
                    let mut query = d.multi(sql, n);
                    for arg in before {
                        query = match arg {
                            Arg::Text(text) => query.bind(text.clone()),
                            Arg::Int(n) => query.bind(*n),
                        };
                    }
                    for (id, _) in batch {
                        query = query.bind(*id);
                    }
                    query
                };
                let now_arg = || Arg::Int(to_secs(now));
                match change {
                    BulkChange::AddAudience(audience) => {
                        let values = placeholders("(?, ?)", n);
                        let sql = d.pick(
                            format!("INSERT OR IGNORE INTO subscriber_audiences (subscriber_id, audience) VALUES {values}"),
                            format!("INSERT INTO subscriber_audiences (subscriber_id, audience) VALUES {values} ON CONFLICT DO NOTHING"),
                        );
                        let mut insert = d.multi(sql, n);
                        for (id, _) in batch {
                            insert = insert.bind(*id).bind(audience.clone());
                        }
                        insert.execute(&mut **c).await?;
                    }
                    BulkChange::RemoveAudience { audience, .. } => {
                        by_id(
                            format!("DELETE FROM subscriber_audiences WHERE audience = ? AND subscriber_id IN ({ids})"),
                            &[Arg::Text(audience.clone())],
                        )
                        .execute(&mut **c)
                        .await?;
                    }
                    BulkChange::Unsubscribe { .. } => {
                        by_id(
                            format!("UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ? WHERE id IN ({ids})"),
                            &[now_arg()],
                        )
                        .execute(&mut **c)
                        .await?;
                        let sql = format!(
                            "INSERT INTO suppressions (email_hash, reason, created_at) VALUES {} \
                             ON CONFLICT (email_hash) DO NOTHING",
                            placeholders("(?, 'unsubscribed', ?)", n)
                        );
                        let mut suppress = d.multi(sql, n);
                        for (_, hash) in batch {
                            suppress = suppress.bind(hash.clone()).bind(to_secs(now));
                        }
                        suppress.execute(&mut **c).await?;
                        by_id(
                            format!("DELETE FROM outbox WHERE status = 'queued' AND subscriber_id IN ({ids})"),
                            &[],
                        )
                        .execute(&mut **c)
                        .await?;
                    }
                }
                by_id(
                    format!("UPDATE subscribers SET updated_at = ? WHERE id IN ({ids})"),
                    &[now_arg()],
                )
                .execute(&mut **c)
                .await?;
            });
            let events: Vec<(i64, &str, &str)> = batch
                .iter()
                .map(|(id, hash)| (*id, hash.as_str(), detail))
                .collect();
            record_many(&mut tx, &events, kind, now).await?;
        }
        tx.commit().await?;
        Ok(chosen.len() as u64)
    }

    /// A subscriber's audit trail (sign-ups, confirmations, changes, bounces and
    /// complaints), newest first, at most `limit` events.
    pub async fn subscriber_events(
        &self,
        id: i64,
        limit: usize,
    ) -> Result<Vec<SubscriberEvent>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("SELECT kind, detail, at FROM events WHERE subscriber_id = ? ORDER BY id DESC LIMIT ?")
            .bind(id)
            .bind(limit as i64)
            .try_map(|r| {
                Ok(SubscriberEvent {
                    kind: r.get("kind")?,
                    detail: r.get("detail")?,
                    at: from_secs(r.get("at")?),
                })
            })
            .fetch_all(pool)
            .await?))
    }

    /// How the database plans the list query for `query`, one line each (SQLite's
    /// `EXPLAIN QUERY PLAN` details, PostgreSQL's `EXPLAIN`): tests check that filters
    /// use an index, not a scan.
    pub async fn subscribers_plan(
        &self,
        query: &SubscriberQuery,
    ) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, pool, d => {
            let filter = selection(query, d.pick(false, true));
            let sql = format!(
                "{} {} JOIN (SELECT s.id FROM subscribers s{}{} LIMIT 50) page \
                 ON page.id = s.id{}",
                d.pick("EXPLAIN QUERY PLAN", "EXPLAIN"),
                select(d),
                filter.sql,
                order(query),
                order(query)
            );
            let column = d.pick("detail", "QUERY PLAN");
            filter
                .bind(d.query(sql))
                .try_map(|r| r.get::<String>(column))
                .fetch_all(pool)
                .await?
        }))
    }
}

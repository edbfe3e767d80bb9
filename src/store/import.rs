//! Importing many subscribers at once, in one transaction: new addresses are created
//! with their consent record (a `signup` event) and audiences, known ones get their
//! choices updated, suppressed ones are left out and named. What an imported row may
//! do to a known address is the same on both backends; how the rows reach the
//! database is each backend's fastest: multi-row statements on SQLite (an embedded
//! engine, where a statement costs no round trip), `COPY … FROM STDIN` into temporary
//! tables and a few set-wise statements on PostgreSQL.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::subscribers::{ImportOutcome, NewSubscriber, insert_many, record_many};
use super::{
    Dialect, Get, ROWS_PER_STATEMENT, Store, StoreError, Tx, from_secs, placeholders, to_secs,
};
use crate::model::{Status, Subscriber};

impl Store {
    /// Imports rows in one transaction. Existing addresses get their choices updated
    /// (name when given, frequency, time zone and audiences; an `active` row confirms a
    /// pending subscriber, other statuses stay); new addresses are created with a
    /// `signup` event; suppressed addresses are left out and their indices returned.
    pub async fn import_subscribers(
        &self,
        rows: &[NewSubscriber],
        now: DateTime<Utc>,
    ) -> Result<ImportOutcome, StoreError> {
        let mut import = self.begin_import(now).await?;
        import.add(rows).await?;
        import.finish().await
    }

    /// [`Self::import_subscribers`] in parts: the rows are handed over in batches
    /// ([`Import::add`]), so that the caller can read the next while the database
    /// writes the last, and all of them are committed together ([`Import::finish`]).
    /// Dropped before `finish`, the import writes nothing. No address may come in two
    /// batches.
    pub async fn begin_import(&self, now: DateTime<Utc>) -> Result<Import, StoreError> {
        let mut tx = self.write_tx().await?;
        // One read of the suppression list instead of one query per row.
        let suppressed: HashSet<String> = with_tx!(&mut tx, c, d => d
            .scalar("SELECT email_hash FROM suppressions")
            .fetch_all(&mut **c)
            .await?)
        .into_iter()
        .collect();
        Ok(Import {
            tx,
            now,
            suppressed,
            outcome: ImportOutcome::default(),
            offset: 0,
            staged: Vec::new(),
        })
    }
}

/// An import under way: one write transaction, holding the write lock until
/// [`Import::finish`] commits it. See [`Store::begin_import`].
pub struct Import {
    tx: Tx,
    now: DateTime<Utc>,
    suppressed: HashSet<String>,
    outcome: ImportOutcome,
    /// How many rows the batches so far held: the index of the next batch's first.
    offset: usize,
    /// PostgreSQL: the rows copied so far, by index, as the subscribers they become
    /// if they are new (their ids come at the end).
    staged: Vec<(usize, Subscriber)>,
}

impl std::fmt::Debug for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl Import {
    /// Adds a batch of rows. The indices in the outcome count the rows of every batch,
    /// in the order given.
    pub async fn add(&mut self, rows: &[NewSubscriber]) -> Result<(), StoreError> {
        let offset = self.offset;
        self.offset += rows.len();
        let mut wanted = Vec::with_capacity(rows.len());
        for (index, new) in rows.iter().enumerate() {
            if self.suppressed.contains(&new.email_hash) {
                self.outcome.suppressed.push(offset + index);
            } else {
                wanted.push(index);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let now = self.now;
        if let Tx::Postgres(c) = &mut self.tx {
            let first = self.staged.is_empty();
            stage_postgres(c, rows, &wanted, offset, first).await?;
            self.staged.extend(
                wanted
                    .iter()
                    .map(|&index| (offset + index, created(0, &rows[index], now))),
            );
        } else {
            let (new, updated) = import_sqlite(&mut self.tx, rows, &wanted, now).await?;
            self.outcome.updated += updated;
            self.outcome.created.extend(
                new.into_iter()
                    .map(|(id, index)| created(id, &rows[index], now)),
            );
        }
        Ok(())
    }

    /// Writes what is staged and commits every batch.
    pub async fn finish(mut self) -> Result<ImportOutcome, StoreError> {
        if let Tx::Postgres(c) = &mut self.tx
            && !self.staged.is_empty()
        {
            let (ids, updated) = apply_postgres(c, self.now).await?;
            self.outcome.updated = updated;
            // Both are in the rows' order, and every created row was staged.
            let mut staged = std::mem::take(&mut self.staged).into_iter();
            for (id, index) in ids {
                if let Some((_, mut subscriber)) = staged.find(|(at, _)| *at == index) {
                    subscriber.id = id;
                    self.outcome.created.push(subscriber);
                }
            }
        }
        self.tx.commit().await?;
        Ok(self.outcome)
    }
}

/// The subscriber an imported row creates, with the id it was given.
fn created(id: i64, new: &NewSubscriber, now: DateTime<Utc>) -> Subscriber {
    Subscriber {
        id,
        email: new.email.clone(),
        name: new.name.clone(),
        status: new.status,
        audiences: new.audiences.clone(),
        frequency: new.frequency.clone(),
        timezone: new.timezone.clone(),
        created_at: from_secs(to_secs(now)),
        confirmed_at: (new.status == Status::Active).then(|| from_secs(to_secs(now))),
        unsubscribed_at: None,
        consent: new.consent.clone(),
    }
}

/// The created subscribers as (id, index into the rows), in the rows' order, and how
/// many rows updated a known address.
type Written = (Vec<(i64, usize)>, usize);

/// A row to import, with its index in the batch.
type Indexed<'a> = (usize, &'a NewSubscriber);

/// SQLite: rows go in many per statement, so a 100,000-row file is a few hundred
/// statements. New rows are inserted without `RETURNING`: every returned row would
/// cross from sqlx's worker thread on its own. Their ids are read back as one range
/// instead (see [`new_ids`]).
async fn import_sqlite(
    tx: &mut Tx,
    rows: &[NewSubscriber],
    wanted: &[usize],
    now: DateTime<Utc>,
) -> Result<Written, sqlx::Error> {
    let wanted: Vec<(usize, &NewSubscriber)> = wanted.iter().map(|&i| (i, &rows[i])).collect();
    let existing = existing_ids(tx, wanted.iter().map(|(_, new)| *new)).await?;
    let (updates, creates): (Vec<Indexed<'_>>, Vec<Indexed<'_>>) = wanted
        .into_iter()
        .partition(|(_, new)| existing.contains_key(&new.email));

    let before: i64 = with_tx!(&mut *tx, c, d => d
        .scalar("SELECT coalesce(max(id), 0) FROM subscribers")
        .fetch_one(&mut **c)
        .await?);
    for batch in creates.chunks(ROWS_PER_STATEMENT) {
        let batch: Vec<&NewSubscriber> = batch.iter().map(|&(_, new)| new).collect();
        insert_many(tx, &batch, now, false).await?;
    }
    let created = new_ids(tx, &creates, before).await?;
    let events: Vec<(i64, &str, &str)> = created
        .iter()
        .map(|&(id, index)| {
            let new = &rows[index];
            (id, new.email_hash.as_str(), new.consent.source.as_str())
        })
        .collect();
    record_many(tx, &events, "signup", now).await?;

    for batch in updates.chunks(ROWS_PER_STATEMENT) {
        update_rows(tx, batch, now).await?;
    }
    let update_ids: Vec<i64> = updates
        .iter()
        .map(|(_, new)| existing[&new.email])
        .collect();
    for batch in update_ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "DELETE FROM subscriber_audiences WHERE subscriber_id IN ({})",
            placeholders("?", batch.len())
        );
        with_tx!(&mut *tx, c, d => {
            let mut query = d.multi(sql, batch.len());
            for id in batch {
                query = query.bind(id);
            }
            query.execute(&mut **c).await?;
        });
    }
    let memberships: Vec<(i64, &str)> = created
        .iter()
        .map(|&(id, index)| (id, &rows[index]))
        .chain(
            update_ids
                .iter()
                .zip(&updates)
                .map(|(&id, (_, new))| (id, *new)),
        )
        .flat_map(|(id, new)| new.audiences.iter().map(move |a| (id, a.as_str())))
        .collect();
    for batch in memberships.chunks(ROWS_PER_STATEMENT) {
        let values = placeholders("(?, ?)", batch.len());
        with_tx!(&mut *tx, c, d => {
            let sql = d.pick(
                format!("INSERT OR IGNORE INTO subscriber_audiences (subscriber_id, audience) VALUES {values}"),
                format!("INSERT INTO subscriber_audiences (subscriber_id, audience) VALUES {values} ON CONFLICT DO NOTHING"),
            );
            let mut query = d.multi(sql, batch.len());
            for (id, audience) in batch {
                query = query.bind(id).bind(*audience);
            }
            query.execute(&mut **c).await?;
        });
    }
    Ok((created, updates.len()))
}

/// The ids of the addresses among `rows` that already exist.
async fn existing_ids<'a>(
    tx: &mut Tx,
    rows: impl Iterator<Item = &'a NewSubscriber>,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<&NewSubscriber> = rows.collect();
    let mut ids = HashMap::new();
    for batch in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id, email FROM subscribers WHERE email IN ({})",
            placeholders("?", batch.len())
        );
        with_tx!(&mut *tx, c, d => {
            let mut query = d.multi(sql, batch.len());
            for new in batch {
                query = query.bind(&new.email);
            }
            for row in query.fetch_all(&mut **c).await? {
                ids.insert(row.get("email")?, row.get("id")?);
            }
        });
    }
    Ok(ids)
}

/// The ids [`insert_many`] gave `creates`, as (id, index). The write lock is held and
/// ids only grow, so the new rows are those above `before`, the largest id before the
/// inserts; when there are as many as rows inserted and their ids leave no gap, the
/// n-th row has the n-th id. Otherwise (an address given twice, which a statement's
/// `ON CONFLICT` skipped) each address is looked up.
async fn new_ids(
    tx: &mut Tx,
    creates: &[(usize, &NewSubscriber)],
    before: i64,
) -> Result<Vec<(i64, usize)>, sqlx::Error> {
    let (count, first, last): (i64, i64, i64) = with_tx!(&mut *tx, c, d => {
        let row = d
            .query("SELECT count(*) AS n, coalesce(min(id), 0) AS first, coalesce(max(id), 0) AS last \
                    FROM subscribers WHERE id > ?")
            .bind(before)
            .fetch_one(&mut **c)
            .await?;
        (row.get("n")?, row.get("first")?, row.get("last")?)
    });
    if usize::try_from(count).ok() == Some(creates.len()) && last - first + 1 == count {
        return Ok(creates
            .iter()
            .zip(first..)
            .map(|(&(index, _), id)| (id, index))
            .collect());
    }
    let ids = existing_ids(tx, creates.iter().map(|(_, new)| *new)).await?;
    Ok(creates
        .iter()
        .filter_map(|(index, new)| ids.get(&new.email).map(|&id| (id, *index)))
        .collect())
}

/// Updates existing subscribers from imported rows: name (when given), frequency and
/// time zone; an active row confirms a pending subscriber. Other statuses stay.
async fn update_rows(
    tx: &mut Tx,
    batch: &[(usize, &NewSubscriber)],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE subscribers SET name = coalesce(v.column2, subscribers.name), frequency = v.column3, \
         timezone = v.column4, updated_at = ?, \
         status = CASE WHEN v.column5 = 'active' AND subscribers.status = 'pending' THEN 'active' ELSE subscribers.status END, \
         confirmed_at = CASE WHEN v.column5 = 'active' AND subscribers.status = 'pending' THEN ? ELSE subscribers.confirmed_at END \
         FROM (VALUES {}) AS v WHERE subscribers.email = v.column1",
        placeholders("(?, ?, ?, ?, ?)", batch.len())
    );
    with_tx!(tx, c, d => {
        let mut query = d.multi(sql, batch.len())
            .bind(to_secs(now))
            .bind(to_secs(now));
        for (_, new) in batch {
            query = query
                .bind(&new.email)
                .bind(&new.name)
                .bind(&new.frequency)
                .bind(&new.timezone)
                .bind(new.status.as_str());
        }
        query.execute(&mut **c).await?;
    });
    Ok(())
}

/// The temporary table a PostgreSQL import copies its rows into, gone at commit (or
/// with the rollback). `ord` is the row's index in the rows given; a row's audiences
/// travel with it as an array, so that each batch is one `COPY`. (Two per batch, the
/// second small, cost about 40 ms each on loopback: sqlx leaves Nagle's algorithm on,
/// and the small `CopyDone` waited for the server's delayed ACK.)
const PG_STAGING: &str = "CREATE TEMPORARY TABLE import_rows ( \
     ord BIGINT NOT NULL, email TEXT NOT NULL, email_hash TEXT NOT NULL, name TEXT, \
     status TEXT NOT NULL, frequency TEXT NOT NULL, timezone TEXT NOT NULL, \
     consent_at BIGINT NOT NULL, consent_source TEXT NOT NULL, consent_ip TEXT, \
     consent_user_agent TEXT, consent_text_version TEXT NOT NULL, audiences TEXT[] NOT NULL, \
     id BIGINT, created BOOLEAN NOT NULL DEFAULT false \
     ) ON COMMIT DROP";

const PG_COPY_ROWS: &str = "COPY import_rows (ord, email, email_hash, name, status, frequency, \
     timezone, consent_at, consent_source, consent_ip, consent_user_agent, consent_text_version, \
     audiences) FROM STDIN";

/// Each set-wise step of a PostgreSQL import, in order, and whether it takes the
/// time of the import as `$1`. The same rules as [`import_sqlite`]'s statements.
const PG_STEPS: [(&str, bool); 6] = [
    // Which rows are known addresses.
    (
        "UPDATE import_rows v SET id = s.id FROM subscribers s WHERE s.email = v.email",
        false,
    ),
    // Their update: name (when given), frequency, time zone; active confirms pending.
    (
        "UPDATE subscribers s SET name = coalesce(v.name, s.name), frequency = v.frequency, \
     timezone = v.timezone, updated_at = $1, \
     status = CASE WHEN v.status = 'active' AND s.status = 'pending' THEN 'active' ELSE s.status END, \
     confirmed_at = CASE WHEN v.status = 'active' AND s.status = 'pending' THEN $1 ELSE s.confirmed_at END \
     FROM import_rows v WHERE s.id = v.id",
        true,
    ),
    // The new addresses, in the rows' order (so their ids are too), and the ids they
    // were given. An address another writer added meanwhile is skipped by the
    // insert and not marked: neither created nor updated, it gets nothing below.
    (
        "WITH made AS ( \
     INSERT INTO subscribers (email, name, status, frequency, timezone, created_at, confirmed_at, \
     consent_at, consent_source, consent_ip, consent_user_agent, consent_text_version, updated_at) \
     SELECT email, name, status, frequency, timezone, $1, CASE WHEN status = 'active' THEN $1 END, \
     consent_at, consent_source, consent_ip, consent_user_agent, consent_text_version, $1 \
     FROM import_rows WHERE id IS NULL ORDER BY ord ON CONFLICT (email) DO NOTHING \
     RETURNING id, email) \
     UPDATE import_rows v SET id = made.id, created = true FROM made WHERE v.email = made.email",
        true,
    ),
    // The consent record of each new subscriber.
    (
        "INSERT INTO events (subscriber_id, email_hash, kind, detail, at) \
     SELECT id, email_hash, 'signup', consent_source, $1 FROM import_rows WHERE created ORDER BY ord",
        true,
    ),
    // Audiences: a known address's are replaced by the row's.
    (
        "DELETE FROM subscriber_audiences a USING import_rows v \
     WHERE a.subscriber_id = v.id AND NOT v.created",
        false,
    ),
    // Every subscriber given here has none now (new, or just cleared), so no insert
    // can conflict; DISTINCT drops an audience a row names twice.
    (
        "INSERT INTO subscriber_audiences (subscriber_id, audience) \
     SELECT DISTINCT v.id, a.audience FROM import_rows v CROSS JOIN LATERAL unnest(v.audiences) AS a(audience) \
     WHERE v.id IS NOT NULL",
        false,
    ),
];

/// Bytes sent to PostgreSQL per `CopyData` message.
const COPY_CHUNK: usize = 1 << 20;

/// PostgreSQL: a batch is copied into the temporary table (made with the first),
/// `COPY … FROM STDIN`, one stream and no statement per row; [`apply_postgres`]
/// writes them all at the end.
async fn stage_postgres(
    c: &mut Transaction<'static, Postgres>,
    rows: &[NewSubscriber],
    wanted: &[usize],
    offset: usize,
    first: bool,
) -> Result<(), sqlx::Error> {
    if first {
        sqlx::raw_sql(PG_STAGING).execute(&mut **c).await?;
    }
    copy_in(c, PG_COPY_ROWS, &copy_data(rows, wanted, offset)).await?;
    Ok(())
}

/// PostgreSQL: the staged rows written with [`PG_STEPS`]; the created subscribers as
/// (id, index), in the rows' order, and how many rows updated a known address.
async fn apply_postgres(
    c: &mut Transaction<'static, Postgres>,
    now: DateTime<Utc>,
) -> Result<Written, sqlx::Error> {
    sqlx::raw_sql("ANALYZE import_rows")
        .execute(&mut **c)
        .await?;
    let mut updated = 0;
    for (step, &(sql, takes_time)) in PG_STEPS.iter().enumerate() {
        let query = sqlx::query(sql).persistent(false);
        let query = if takes_time {
            query.bind(to_secs(now))
        } else {
            query
        };
        let done = query.execute(&mut **c).await?;
        if step == 0 {
            updated = done.rows_affected() as usize;
        }
    }
    let created: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, ord FROM import_rows WHERE created ORDER BY ord")
            .persistent(false)
            .fetch_all(&mut **c)
            .await?;
    let created = created
        .into_iter()
        .map(|(id, ord)| (id, ord as usize))
        .collect();
    Ok((created, updated))
}

/// The rows to import (those at `wanted`, numbered from `offset`), with their
/// audiences as an array literal, in COPY's text format for [`PG_COPY_ROWS`].
fn copy_data(rows: &[NewSubscriber], wanted: &[usize], offset: usize) -> Vec<u8> {
    let mut people = Vec::with_capacity(wanted.len() * 200);
    let mut audiences = String::new();
    for &index in wanted {
        let new = &rows[index];
        let ord = (offset + index).to_string();
        array_literal(&mut audiences, &new.audiences);
        copy_row(
            &mut people,
            &[
                Some(&ord),
                Some(&new.email),
                Some(&new.email_hash),
                new.name.as_deref(),
                Some(new.status.as_str()),
                Some(&new.frequency),
                Some(&new.timezone),
                Some(&to_secs(new.consent.at).to_string()),
                Some(new.consent.source.as_str()),
                new.consent.ip.as_deref(),
                new.consent.user_agent.as_deref(),
                Some(&new.consent.text_version),
                Some(&audiences),
            ],
        );
    }
    people
}

/// Writes `items` into `out` as a PostgreSQL array literal of text: each element
/// double-quoted, its `"` and `\` escaped with a backslash.
fn array_literal(out: &mut String, items: &[String]) {
    out.clear();
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for ch in item.chars() {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push('"');
    }
    out.push('}');
}

/// Streams `data` (rows in COPY's text format) into `statement`, a
/// `COPY … FROM STDIN`, in messages of at most [`COPY_CHUNK`] bytes.
async fn copy_in(
    c: &mut Transaction<'static, Postgres>,
    statement: &str,
    data: &[u8],
) -> Result<u64, sqlx::Error> {
    let mut copy = c.copy_in_raw(statement).await?;
    for chunk in data.chunks(COPY_CHUNK) {
        if let Err(e) = copy.send(chunk).await {
            // The connection must leave COPY mode; the transaction is rolled back.
            let _ = copy.abort("the import stopped").await;
            return Err(e);
        }
    }
    copy.finish().await
}

/// Appends one row in COPY's text format: fields separated by tabs, `\N` for NULL,
/// the backslash, tab, line feed and carriage return escaped, a line feed at the end.
fn copy_row(out: &mut Vec<u8>, fields: &[Option<&str>]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match field {
            None => out.extend_from_slice(b"\\N"),
            Some(text) => {
                for &b in text.as_bytes() {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        _ => out.push(b),
                    }
                }
            }
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::{array_literal, copy_row};

    #[test]
    fn array_literals_quote_every_element() {
        let mut out = String::from("left over");
        array_literal(&mut out, &[]);
        assert_eq!(out, "{}");
        array_literal(
            &mut out,
            &["hr".into(), "a \"b\" \\c".into(), "x,y}".into()],
        );
        assert_eq!(out, r#"{"hr","a \"b\" \\c","x,y}"}"#);
    }

    #[test]
    fn copy_rows_escape_what_the_text_format_reads_as_syntax() {
        let mut out = Vec::new();
        copy_row(
            &mut out,
            &[Some("7"), None, Some("a\tb\\c\nd\re"), Some("")],
        );
        assert_eq!(out, b"7\t\\N\ta\\tb\\\\c\\nd\\re\t\n");
    }

    #[test]
    fn a_backslash_n_in_text_is_not_a_null() {
        let mut out = Vec::new();
        copy_row(&mut out, &[Some("\\N")]);
        assert_eq!(out, b"\\\\N\n");
    }
}

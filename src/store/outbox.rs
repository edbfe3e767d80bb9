//! The outbox: every email crier sends is first a row here, written in the one
//! transaction that plans it (its body frozen in `contents` just before), then claimed
//! by a delivery worker with a lease, sent, and marked. A unique key per message makes
//! planning idempotent. The rows themselves are model types ([`crate::model::OutboxRow`]
//! and friends); this file only stores and reads them.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{Content, MessageIds, NewContent, NewMessage, OutboxRow, OutboxStatus, hex};

use super::{
    Dialect, Get, Lite, NameHold, Pg, Pool, ROWS_PER_STATEMENT, Store, StoreError, Tx, from_secs,
    placeholders, to_secs,
};

/// Mail that is not delivered yet (see [`Store::undelivered`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Undelivered {
    pub due: u64,
    pub deferred: u64,
    pub claimed: u64,
    pub next_retry: Option<DateTime<Utc>>,
}

impl Undelivered {
    /// Whether any mail is waiting that should be on its way now.
    pub fn any_due(&self) -> bool {
        self.due + self.claimed > 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
}

/// Which deliveries to list (see [`Store::deliveries_where`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<OutboxStatus>,
    /// Only the messages to the subscriber with this (normalised) address.
    pub address: Option<String>,
    /// Only rows older than this id: the next page after a page that ended there.
    pub before: Option<i64>,
    pub limit: usize,
}

/// An outbox row as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub row: OutboxRow,
    pub digest: Option<String>,
    /// The frozen content's subject (gone only if the content was pruned first).
    pub subject: Option<String>,
}

pub(super) const COLUMNS: &str = "id, dedup_key, kind, subscriber_id, recipient, content_id, vars, message_id, status, \
    attempts, created_at, next_attempt_at, sent_at, last_error";

pub(super) fn row(r: &impl Get) -> Result<OutboxRow, sqlx::Error> {
    Ok(OutboxRow {
        id: r.get("id")?,
        dedup_key: r.get("dedup_key")?,
        kind: r.get("kind")?,
        subscriber_id: r.get("subscriber_id")?,
        recipient: r.get("recipient")?,
        content_id: r.get("content_id")?,
        vars: r.get("vars")?,
        message_id: r.get("message_id")?,
        status: OutboxStatus::parse(&r.get::<String>("status")?),
        attempts: r.get::<i64>("attempts")? as u32,
        created_at: from_secs(r.get("created_at")?),
        next_attempt_at: from_secs(r.get("next_attempt_at")?),
        sent_at: r.get::<Option<i64>>("sent_at")?.map(from_secs),
        last_error: r.get("last_error")?,
    })
}

/// One write transaction that freezes bodies and queues the messages using them: all
/// of it lands at [`Queue::commit`], or none of it. It runs on a connection of its own,
/// opened for it and closed after it, so that its settings touch nothing else.
pub struct Queue {
    pub(super) tx: Tx,
    /// SQLite: the connection opened for this transaction alone.
    connection: Option<sqlx::SqlitePool>,
    ids: MessageIds,
    now: DateTime<Utc>,
    queued: usize,
}

/// The page cache (KiB) of a queueing connection. A large run inserts rows into its
/// indexes out of key order, and with SQLite's default 2 MB those pages are spilled to
/// the WAL and read back again and again before the commit: at 100,000 subscribers the
/// queueing took 5.0 s instead of 4.1 s.
const QUEUE_CACHE_KIB: i64 = 16 * 1024;

impl Store {
    /// Starts a queueing transaction; Message-IDs are made by `ids`.
    ///
    /// Its commit does not checkpoint the write-ahead log (`wal_autocheckpoint` is off
    /// on its connection): after a large run that would copy every frozen body into the
    /// database file before the commit returned, 0.7 s at 100,000 subscribers with
    /// nothing else running. [`Store::checkpoint`] does it from another connection,
    /// beside the sending; until then the next commit elsewhere may.
    ///
    /// On PostgreSQL it is a transaction on the store's pool; it takes no write lock
    /// (the outbox's unique keys keep two runs from queueing one message twice).
    pub async fn queue(&self, ids: &MessageIds, now: DateTime<Utc>) -> Result<Queue, StoreError> {
        let (tx, connection) = match &self.pool {
            Pool::Sqlite(_) => {
                let options = super::options(&self.path)?
                    .pragma("cache_size", format!("-{QUEUE_CACHE_KIB}"))
                    .pragma("wal_autocheckpoint", "0");
                let connection = super::pool(options, 1).await?;
                // Take the write lock up front, as every writer does.
                let tx = connection.begin_with("BEGIN IMMEDIATE").await?;
                (Tx::Sqlite(tx), Some(connection))
            }
            Pool::Postgres(pool) => (Tx::Postgres(pool.begin().await?), None),
        };
        Ok(Queue {
            tx,
            connection,
            ids: ids.clone(),
            now,
            queued: 0,
        })
    }

    /// Copies what it can of the write-ahead log into the database file, from a
    /// connection of its own, without waiting for readers or blocking writers (a
    /// passive checkpoint). Returns how many frames the log holds and how many of them
    /// are now in the database file.
    /// PostgreSQL has no such log to fold back: `(0, 0)`.
    pub async fn checkpoint(&self) -> Result<(i64, i64), StoreError> {
        if self.is_shared() {
            return Ok((0, 0));
        }
        let own = self.dedicated().await?;
        let Pool::Sqlite(pool) = &own.pool else {
            return Ok((0, 0));
        };
        let result: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(pool)
                .await;
        own.close().await;
        let (_busy, frames, copied) = result?;
        Ok((frames, copied))
    }

    /// Freezes message bodies in a transaction of their own; see
    /// [`Queue::save_contents`].
    pub async fn save_contents(
        &self,
        contents: &[NewContent],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        // This transaction queues no message, so it names none.
        let mut queue = self.queue(&MessageIds::new("", &[]), now).await?;
        let ids = queue.save_contents(contents).await?;
        queue.commit().await?;
        Ok(ids)
    }

    /// Queues messages in one transaction: all of them or none. Returns how many were
    /// queued; see [`Queue::add`].
    pub async fn enqueue<I>(
        &self,
        messages: I,
        ids: &MessageIds,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>
    where
        I: IntoIterator<Item = NewMessage>,
        I::IntoIter: Send,
    {
        let mut queue = self.queue(ids, now).await?;
        queue.add(messages).await?;
        queue.commit().await
    }
}

impl Queue {
    /// Freezes message bodies and returns their ids, in order. A body saved before
    /// (same subject, text and HTML) keeps its id.
    pub async fn save_contents(&mut self, contents: &[NewContent]) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(contents.len());
        for content in contents {
            let mut hasher = Sha256::new();
            for part in [&content.subject, &content.text, &content.html] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
            let digest = hex(&hasher.finalize());
            let now = to_secs(self.now);
            let id: i64 = with_tx!(&mut self.tx, c, d => d.scalar(
                "INSERT INTO contents (digest, subject, text_body, html_body, created_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (digest) DO UPDATE SET digest = excluded.digest RETURNING id",
            )
            .bind(&digest)
            .bind(&content.subject)
            .bind(&content.text)
            .bind(&content.html)
            .bind(now)
            .fetch_one(&mut **c)
            .await?);
            ids.push(id);
        }
        Ok(ids)
    }

    /// Queues messages. Messages whose key is already queued or sent are skipped.
    /// Returns how many were queued. The messages are taken from the iterator a batch
    /// at a time, so a large run is never all in memory at once.
    pub async fn add<I>(&mut self, messages: I) -> Result<usize, StoreError>
    where
        I: IntoIterator<Item = NewMessage>,
        I::IntoIter: Send,
    {
        // Many rows per statement: a large digest run is a few hundred statements, not
        // one per subscriber. Only placeholders are spliced into the SQL.
        let mut messages = messages.into_iter();
        let mut queued = 0;
        let now = to_secs(self.now);
        let mut batch: Vec<NewMessage> = messages.by_ref().take(ROWS_PER_STATEMENT).collect();
        while !batch.is_empty() {
            let values = placeholders(
                "(?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)",
                batch.len(),
            );
            let sql = format!(
                "INSERT INTO outbox (dedup_key, kind, subscriber_id, recipient, content_id, vars, message_id, status, \
                 attempts, created_at, next_attempt_at, digest, period) VALUES {values} ON CONFLICT (dedup_key) DO NOTHING"
            );
            let ids = &self.ids;
            let next = with_tx!(&mut self.tx, c, d => {
                let mut query = d.multi(sql, batch.len());
                for message in &batch {
                    query = query
                        .bind(&message.dedup_key)
                        .bind(&message.kind)
                        .bind(message.subscriber_id)
                        .bind(&message.recipient)
                        .bind(message.content_id)
                        .bind(&message.vars)
                        .bind(ids.for_key(&message.dedup_key))
                        .bind(now)
                        .bind(now)
                        .bind(message.digest.as_ref().map(|(name, _)| name.as_str()))
                        .bind(message.digest.as_ref().map(|(_, period)| to_secs(*period)));
                }
                // The next rows are made (tokens, links) while the database writes these.
                let (done, next) = tokio::join!(biased; query.execute(&mut **c), async {
                    messages
                        .by_ref()
                        .take(ROWS_PER_STATEMENT)
                        .collect::<Vec<_>>()
                });
                queued += done?.rows_affected() as usize;
                next
            });
            batch = next;
        }
        self.queued += queued;
        Ok(queued)
    }

    /// Commits everything saved and queued; returns how many messages were queued.
    pub async fn commit(self) -> Result<usize, StoreError> {
        self.tx.commit().await?;
        if let Some(connection) = self.connection {
            connection.close().await;
        }
        Ok(self.queued)
    }
}

impl Store {
    /// Claims up to `limit` due messages for `lease` seconds: queued ones whose time has
    /// come, and sending ones whose lease ran out (their worker died). On PostgreSQL
    /// the rows record `owner`, the claiming instance's name when it has one.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_secs: i64,
        limit: usize,
        owner: Option<&str>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        // Two index range scans on (status, next_attempt_at): the few rows whose lease
        // ran out, then the oldest due rows. An OR of the two would scan the table.
        //
        // On PostgreSQL the rows are locked as they are chosen and rows another
        // transaction holds are passed over (`FOR UPDATE SKIP LOCKED`), so claims made
        // at once never take the same row.
        let lease_until = to_secs(now) + lease_secs;
        let mut claimed: Vec<OutboxRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                let sql = format!(
                    "UPDATE outbox SET status = 'sending', lease_until = ?1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM (SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= ?2 LIMIT ?3) \
                      UNION ALL \
                      SELECT id FROM (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?2 \
                      ORDER BY next_attempt_at, id LIMIT ?3) LIMIT ?3) RETURNING {COLUMNS}"
                );
                let rows = Lite
                    .query(sql)
                    .bind(lease_until)
                    .bind(to_secs(now))
                    .bind(limit as i64)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(row).collect::<Result<_, _>>()?
            }
            Pool::Postgres(pool) => {
                let sql = format!(
                    "UPDATE outbox SET status = 'sending', lease_until = ?1, attempts = attempts + 1, \
                     claimed_by = ?4 WHERE id IN \
                     (SELECT id FROM (SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= ?2 \
                      LIMIT ?3 FOR UPDATE SKIP LOCKED) AS expired \
                      UNION ALL \
                      SELECT id FROM (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?2 \
                      ORDER BY next_attempt_at, id LIMIT ?3 FOR UPDATE SKIP LOCKED) AS due LIMIT ?3) \
                     RETURNING {COLUMNS}"
                );
                let rows = Pg
                    .query(sql)
                    .bind(lease_until)
                    .bind(to_secs(now))
                    .bind(limit as i64)
                    .bind(owner)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(row).collect::<Result<_, _>>()?
            }
        };
        claimed.sort_by_key(|r| r.id);
        Ok(claimed)
    }

    /// Puts claimed messages that were never handed to a transport back in the queue.
    pub async fn release(&self, ids: &[i64]) -> Result<(), StoreError> {
        for batch in ids.chunks(ROWS_PER_STATEMENT) {
            let ids = placeholders("?", batch.len());
            with_pool!(self, pool, d => {
                let sql = format!(
                    "UPDATE outbox SET status = 'queued', lease_until = NULL, attempts = {}(attempts - 1, 0) \
                     WHERE status = 'sending' AND id IN ({ids})",
                    d.pick("max", "greatest")
                );
                let mut query = d.multi(sql, batch.len());
                for id in batch {
                    query = query.bind(id);
                }
                query.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// After a restart nothing is in flight: messages left `sending` by a dead process
    /// are due again at once (and keep their Message-ID).
    ///
    /// On PostgreSQL other instances may be sending the rows they claimed, so only the
    /// rows claimed in `owner`'s name are released, and only its holder
    /// ([`Store::hold_name`]) may ask. Without a name none is: a dead instance's claims
    /// are taken over by [`Store::claim_due`] once their leases run out.
    pub async fn release_in_flight(&self, owner: Option<&NameHold>) -> Result<u64, StoreError> {
        Ok(match (&self.pool, owner) {
            (Pool::Sqlite(pool), _) => Lite
                .query("UPDATE outbox SET status = 'queued', lease_until = NULL WHERE status = 'sending'")
                .execute(pool)
                .await?
                .rows_affected(),
            (Pool::Postgres(pool), Some(owner)) => Pg
                .query(
                    "UPDATE outbox SET status = 'queued', lease_until = NULL \
                     WHERE status = 'sending' AND claimed_by = ?",
                )
                .bind(owner.name())
                .execute(pool)
                .await?
                .rows_affected(),
            (Pool::Postgres(_), None) => 0,
        })
    }

    /// Marks messages sent, each at its own time, in one transaction.
    pub async fn mark_sent_at(&self, records: &[(i64, DateTime<Utc>)]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // One statement for each second (a batch of records spans a few at most).
        let mut by_time: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
        for (id, at) in records {
            by_time.entry(to_secs(*at)).or_default().push(*id);
        }
        let mut tx = match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        };
        for (secs, ids) in &by_time {
            for batch in ids.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "UPDATE outbox SET status = 'sent', sent_at = ?, lease_until = NULL, last_error = NULL \
                     WHERE id IN ({})",
                    placeholders("?", batch.len())
                );
                with_tx!(&mut tx, c, d => {
                    let mut query = d.multi(sql, batch.len()).bind(secs);
                    for id in batch {
                        query = query.bind(id);
                    }
                    query.execute(&mut **c).await?;
                });
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn reschedule(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("UPDATE outbox SET status = 'queued', next_attempt_at = ?, lease_until = NULL, last_error = ? WHERE id = ?")
            .bind(to_secs(at))
            .bind(error)
            .bind(id)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = ? WHERE id = ?")
            .bind(error)
            .bind(id)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Deletes sent and failed messages created before `before`, keeping each
    /// subscriber's latest digest of each schedule (the planner's memory of what they
    /// had), then the bodies no message uses any more. Returns (messages, bodies).
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let mut tx = self.write_tx().await?;
        let (messages, bodies) = with_tx!(&mut tx, c, d => {
            let messages = d
                .query(
                    "DELETE FROM outbox WHERE status IN ('sent', 'failed') AND created_at < ? \
                     AND id NOT IN (SELECT max(id) FROM outbox WHERE digest IS NOT NULL \
                     GROUP BY subscriber_id, digest)",
                )
                .bind(to_secs(before))
                .execute(&mut **c)
                .await?
                .rows_affected();
            let bodies = d
                .query("DELETE FROM contents WHERE id NOT IN (SELECT content_id FROM outbox)")
                .execute(&mut **c)
                .await?
                .rows_affected();
            (messages, bodies)
        });
        tx.commit().await?;
        Ok((messages, bodies))
    }

    /// Queues every failed message again, with fresh attempts. Returns how many.
    pub async fn retry_failed(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(
                "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?, last_error = NULL \
                 WHERE status = 'failed' AND recipient <> '[erased]'",
            )
            .bind(to_secs(now))
            .execute(pool)
            .await?
            .rows_affected()))
    }

    pub async fn content(&self, id: i64) -> Result<Option<Content>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("SELECT id, subject, text_body, html_body FROM contents WHERE id = ?")
            .bind(id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<Content, sqlx::Error> {
                Ok(Content {
                    id: r.get("id")?,
                    subject: r.get("subject")?,
                    text: r.get("text_body")?,
                    html: r.get("html_body")?,
                })
            })
            .transpose()?))
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        // Three counts from the small partial indexes and one total, instead of
        // reading every row of a large outbox.
        let [queued, sending, failed, total] = with_pool!(self, pool, d => {
            let row = d
                .query(
                    "SELECT (SELECT count(*) FROM outbox WHERE status = 'queued') AS queued, \
                     (SELECT count(*) FROM outbox WHERE status = 'sending') AS sending, \
                     (SELECT count(*) FROM outbox WHERE status = 'failed') AS failed, \
                     (SELECT count(*) FROM outbox) AS total",
                )
                .fetch_one(pool)
                .await?;
            let count = |name: &str| -> Result<u64, sqlx::Error> {
                Ok(row.get::<i64>(name)?.max(0) as u64)
            };
            [count("queued")?, count("sending")?, count("failed")?, count("total")?]
        });
        Ok(OutboxCounts {
            queued,
            sending,
            failed,
            sent: total.saturating_sub(queued + sending + failed),
        })
    }

    /// The mail not delivered yet, as of `now`: due (queued and its time has come),
    /// deferred (waiting for a retry, with the earliest retry) and claimed by a sender.
    pub async fn undelivered(&self, now: DateTime<Utc>) -> Result<Undelivered, StoreError> {
        Ok(with_pool!(self, pool, d => {
            let row = d
                .query(
                    "SELECT (SELECT count(*) FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?1) AS due, \
                     (SELECT count(*) FROM outbox WHERE status = 'queued' AND next_attempt_at > ?1) AS deferred, \
                     (SELECT min(next_attempt_at) FROM outbox WHERE status = 'queued' AND next_attempt_at > ?1) AS next_retry, \
                     (SELECT count(*) FROM outbox WHERE status = 'sending') AS claimed",
                )
                .bind(to_secs(now))
                .fetch_one(pool)
                .await?;
            let count = |name: &str| -> Result<u64, sqlx::Error> {
                Ok(row.get::<i64>(name)?.max(0) as u64)
            };
            Undelivered {
                due: count("due")?,
                deferred: count("deferred")?,
                claimed: count("claimed")?,
                next_retry: row.get::<Option<i64>>("next_retry")?.map(from_secs),
            }
        }))
    }

    /// Recent deliveries, newest first; only failed ones when asked.
    pub async fn deliveries(
        &self,
        failed_only: bool,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let filter = DeliveryFilter {
            status: failed_only.then_some(OutboxStatus::Failed),
            limit,
            ..DeliveryFilter::default()
        };
        Ok(self
            .deliveries_where(&filter)
            .await?
            .into_iter()
            .map(|d| d.row)
            .collect())
    }

    /// One page of the outbox, newest first, with each message's subject: every
    /// listing of deliveries (the CLI's, the console's) reads through here.
    ///
    /// Each filter picks an index: an address the subscriber index, a status of
    /// queued, sending or failed its small partial index (the status is written into
    /// the statement so that SQLite can match the index's condition), and the rest
    /// the row id, newest first. Measured on a million rows with 100,000 queued, a
    /// page takes under 60 ms either way, where reading the table for a status would
    /// take most of a second.
    pub async fn deliveries_where(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Delivery>, StoreError> {
        let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("o.{c}")).collect();
        let mut conditions = Vec::new();
        let indexed = |status: OutboxStatus| match status {
            OutboxStatus::Queued => Some("outbox_queued"),
            OutboxStatus::Sending => Some("outbox_sending"),
            OutboxStatus::Failed => Some("outbox_failed"),
            OutboxStatus::Sent => None,
        };
        match (filter.status, &filter.address) {
            (Some(status), None) if indexed(status).is_some() => {
                // The page's ids from the partial index alone, then their rows.
                // (PostgreSQL picks the partial index by itself.)
                let index = match &self.pool {
                    Pool::Sqlite(_) => {
                        format!(" INDEXED BY {}", indexed(status).unwrap_or_default())
                    }
                    Pool::Postgres(_) => String::new(),
                };
                conditions.push(format!(
                    "o.id IN (SELECT id FROM outbox{index} WHERE status = '{}' \
                     AND (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2)",
                    status.as_str()
                ));
            }
            (status, address) => {
                conditions.push("(?1 IS NULL OR o.id < ?1)".to_string());
                if let Some(status) = status {
                    conditions.push(format!("o.status = '{}'", status.as_str()));
                }
                if address.is_some() {
                    conditions.push(
                        "o.subscriber_id = (SELECT id FROM subscribers WHERE email = ?3)".into(),
                    );
                }
            }
        }
        let sql = format!(
            "SELECT {}, o.digest, c.subject FROM outbox o LEFT JOIN contents c ON c.id = o.content_id \
             WHERE {} ORDER BY o.id DESC LIMIT ?2",
            columns.join(", "),
            conditions.join(" AND ")
        );
        Ok(with_pool!(self, pool, d => {
            let mut query = d.query(sql).bind(filter.before).bind(filter.limit as i64);
            if let Some(address) = &filter.address {
                query = query.bind(address.as_str());
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(Delivery {
                        row: row(r)?,
                        digest: r.get("digest")?,
                        subject: r.get("subject")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?
        }))
    }

    /// The messages queued for one subscriber, newest first, at most `limit`.
    pub async fn deliveries_to(
        &self,
        subscriber_id: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "SELECT {COLUMNS} FROM outbox WHERE subscriber_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .bind(subscriber_id)
            .bind(limit as i64)
            .fetch_all(pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<_, _>>()?))
    }

    /// Each subscriber's latest planned digest of a schedule: its period and when it
    /// was planned.
    pub async fn digest_periods(
        &self,
        digest: &str,
    ) -> Result<std::collections::HashMap<i64, (DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        type Planned = (i64, (DateTime<Utc>, DateTime<Utc>));
        let rows: Vec<Planned> = with_pool!(self, pool, d => d
            .query(
                "SELECT subscriber_id, max(period) AS period, max(created_at) AS planned FROM outbox \
                 WHERE digest = ? AND subscriber_id IS NOT NULL GROUP BY subscriber_id",
            )
            .bind(digest)
            .try_map(|r| {
                Ok((
                    r.get::<i64>("subscriber_id")?,
                    (from_secs(r.get("period")?), from_secs(r.get("planned")?)),
                ))
            })
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().collect())
    }

    /// One subscriber's latest planned digest of a schedule, as [`Self::digest_periods`]
    /// gives it for everyone; `None` when they never had one. Read through the
    /// `(subscriber_id, digest, period)` index: a few rows, however long the outbox.
    pub async fn digest_period(
        &self,
        digest: &str,
        subscriber_id: i64,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let (period, planned): (Option<i64>, Option<i64>) = with_pool!(self, pool, d => {
            let row = d
                .query(
                    "SELECT max(period) AS period, max(created_at) AS planned FROM outbox \
                     WHERE subscriber_id = ? AND digest = ?",
                )
                .bind(subscriber_id)
                .bind(digest)
                .fetch_one(pool)
                .await?;
            (row.get("period")?, row.get("planned")?)
        });
        Ok(period
            .zip(planned)
            .map(|(period, planned)| (from_secs(period), from_secs(planned))))
    }

    /// Records articles crier sees for the first time; known ones keep their date.
    pub async fn record_first_seen(
        &self,
        slugs: &[&str],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut added = 0;
        for batch in slugs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO articles_seen (slug, first_seen) VALUES {} ON CONFLICT (slug) DO NOTHING",
                placeholders("(?, ?)", batch.len())
            );
            added += with_tx!(&mut tx, c, d => {
                let mut query = d.multi(sql, batch.len());
                for slug in batch {
                    query = query.bind(*slug).bind(to_secs(now));
                }
                query.execute(&mut **c).await?.rows_affected() as usize
            });
        }
        tx.commit().await?;
        Ok(added)
    }

    /// When each article was first seen.
    pub async fn first_seen(
        &self,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("SELECT slug, first_seen FROM articles_seen")
            .try_map(|r| Ok((r.get::<String>("slug")?, from_secs(r.get("first_seen")?))))
            .fetch_all(pool)
            .await?)
        .into_iter()
        .collect())
    }

    /// The articles first seen after `after`, with when: what is new since a digest
    /// planned then (an article not listed was seen at or before it, or never).
    pub async fn first_seen_after(
        &self,
        after: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("SELECT slug, first_seen FROM articles_seen WHERE first_seen > ?")
            .bind(to_secs(after))
            .try_map(|r| Ok((r.get::<String>("slug")?, from_secs(r.get("first_seen")?))))
            .fetch_all(pool)
            .await?)
        .into_iter()
        .collect())
    }

    /// Distinct time zones of active subscribers of a frequency.
    pub async fn subscriber_timezones(&self, frequency: &str) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .scalar("SELECT DISTINCT timezone FROM subscribers WHERE status = 'active' AND frequency = ?")
            .bind(frequency)
            .fetch_all(pool)
            .await?))
    }

    /// Messages with a dedup key prefix (for tests and the digest CLI).
    pub async fn messages_with_key_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "SELECT {COLUMNS} FROM outbox WHERE substr(dedup_key, 1, length(?1)) = ?1 ORDER BY id"
            ))
            .bind(prefix)
            .fetch_all(pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<_, _>>()?))
    }
}

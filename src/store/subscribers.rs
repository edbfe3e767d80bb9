//! Subscribers, their audiences, consent, suppression and the audit trail, as rows.
//! What a sign-up or a confirmation does to a known address is decided in
//! `subscriptions`; here each only reads the record and writes the change it is told
//! to, under one write lock (see [`Store::sign_up`] and [`Store::confirmation`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{
    Dialect, Get, ROWS_PER_STATEMENT, Store, StoreError, Tx, from_secs, placeholders, to_secs,
};
use crate::model::{Consent, Source, Status, Subscriber};
use chrono::{DateTime, Utc};

/// A subscriber to create. `email` is normalised; `email_hash` is its keyed hash.
#[derive(Debug, Clone)]
pub struct NewSubscriber {
    pub email: String,
    pub email_hash: String,
    pub name: Option<String>,
    pub audiences: Vec<String>,
    pub frequency: String,
    pub timezone: String,
    pub status: Status,
    pub consent: Consent,
}

/// What [`Store::sign_up`] found for an address.
#[derive(Debug)]
pub enum Registration<'a> {
    /// The address was new: here is its pending subscriber, committed.
    Created(Subscriber),
    /// The address is known: its record, read under the write lock, waiting for the
    /// caller's decision.
    Known(KnownSignUp<'a>),
}

/// A sign-up for a known address, between reading its record and writing what the
/// caller decided. It holds the database's write lock, so nothing can change the record
/// in between (a confirmation, a bounce, another sign-up); decide without waiting on
/// anything else, then call [`KnownSignUp::hold`] or [`KnownSignUp::leave`]. Dropped,
/// it writes nothing.
pub struct KnownSignUp<'a> {
    tx: Tx,
    subscriber: Subscriber,
    new: &'a NewSubscriber,
    now: DateTime<Utc>,
}

impl std::fmt::Debug for KnownSignUp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSignUp")
            .field("subscriber", &self.subscriber.id)
            .finish()
    }
}

impl KnownSignUp<'_> {
    /// The record as it stands.
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// Keeps the sign-up's choices and consent beside the record, replacing an earlier
    /// sign-up's, until the owner confirms them; records the sign-up in the audit trail.
    pub async fn hold(mut self) -> Result<Subscriber, StoreError> {
        let (id, new, now) = (self.subscriber.id, self.new, self.now);
        hold_sign_up(&mut self.tx, id, new, now).await?;
        record_sign_up(&mut self.tx, id, new, now).await?;
        self.tx.commit().await?;
        Ok(self.subscriber)
    }

    /// Leaves the record as it is and writes nothing.
    pub async fn leave(self) -> Result<Subscriber, StoreError> {
        self.tx.commit().await?;
        Ok(self.subscriber)
    }
}

/// Changes to a subscriber; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SubscriberChanges {
    pub name: Option<Option<String>>,
    pub audiences: Option<Vec<String>>,
    pub frequency: Option<String>,
    pub timezone: Option<String>,
    pub status: Option<Status>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Active subscribers per audience.
    pub by_audience: BTreeMap<String, u64>,
    /// Active subscribers per frequency.
    pub by_frequency: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: Vec<Subscriber>,
    pub updated: usize,
    /// Indices (into the rows given) of addresses that are suppressed and were not imported.
    pub suppressed: Vec<usize>,
}

/// Active subscribers per audience as every membership less those of subscribers in
/// any other status (the list is every [`Status`] but `active`: a test checks it).
const ACTIVE_BY_AUDIENCE_MOSTLY_ACTIVE: &str = "SELECT audience, sum(n) AS n FROM ( \
     SELECT audience, count(*) AS n FROM subscriber_audiences GROUP BY audience \
     UNION ALL \
     SELECT a.audience, -count(*) AS n FROM subscribers s \
     JOIN subscriber_audiences a ON a.subscriber_id = s.id \
     WHERE s.status IN ('pending', 'unsubscribed', 'bounced', 'complained') GROUP BY a.audience \
     ) GROUP BY audience HAVING sum(n) > 0";

/// [`ACTIVE_BY_AUDIENCE_MOSTLY_ACTIVE`] for PostgreSQL: its subquery named and its
/// sum (NUMERIC there) cast back to BIGINT.
const ACTIVE_BY_AUDIENCE_MOSTLY_ACTIVE_PG: &str = "SELECT audience, CAST(sum(n) AS BIGINT) AS n FROM ( \
     SELECT audience, count(*) AS n FROM subscriber_audiences GROUP BY audience \
     UNION ALL \
     SELECT a.audience, -count(*) AS n FROM subscribers s \
     JOIN subscriber_audiences a ON a.subscriber_id = s.id \
     WHERE s.status IN ('pending', 'unsubscribed', 'bounced', 'complained') GROUP BY a.audience \
     ) AS memberships GROUP BY audience HAVING sum(n) > 0";

pub(super) const SELECT: &str = "SELECT s.id, s.email, s.name, s.status, s.frequency, s.timezone, s.created_at, \
    s.confirmed_at, s.unsubscribed_at, s.consent_at, s.consent_source, s.consent_ip, s.consent_user_agent, \
    s.consent_text_version, (SELECT group_concat(audience, ',') FROM subscriber_audiences a \
    WHERE a.subscriber_id = s.id) AS audiences FROM subscribers s";

/// [`SELECT`] for PostgreSQL, which spells `group_concat` `string_agg`.
pub(super) const SELECT_PG: &str = "SELECT s.id, s.email, s.name, s.status, s.frequency, s.timezone, s.created_at, \
    s.confirmed_at, s.unsubscribed_at, s.consent_at, s.consent_source, s.consent_ip, s.consent_user_agent, \
    s.consent_text_version, (SELECT string_agg(audience, ',') FROM subscriber_audiences a \
    WHERE a.subscriber_id = s.id) AS audiences FROM subscribers s";

/// The subscriber columns with their audiences, in `d`'s dialect.
pub(super) fn select(d: impl Dialect) -> &'static str {
    d.pick(SELECT, SELECT_PG)
}

pub(super) fn subscriber(row: &impl Get) -> Result<Subscriber, sqlx::Error> {
    let status: String = row.get("status")?;
    let source: String = row.get("consent_source")?;
    let audiences: Option<String> = row.get("audiences")?;
    let mut audiences: Vec<String> = audiences
        .unwrap_or_default()
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    audiences.sort();
    Ok(Subscriber {
        id: row.get("id")?,
        email: row.get("email")?,
        name: row.get("name")?,
        status: Status::parse(&status).unwrap_or(Status::Pending),
        audiences,
        frequency: row.get("frequency")?,
        timezone: row.get("timezone")?,
        created_at: from_secs(row.get("created_at")?),
        confirmed_at: row.get::<Option<i64>>("confirmed_at")?.map(from_secs),
        unsubscribed_at: row.get::<Option<i64>>("unsubscribed_at")?.map(from_secs),
        consent: Consent {
            at: from_secs(row.get("consent_at")?),
            source: Source::parse(&source).unwrap_or(Source::Cli),
            ip: row.get("consent_ip")?,
            user_agent: row.get("consent_user_agent")?,
            text_version: row.get("consent_text_version")?,
        },
    })
}

async fn set_audiences(tx: &mut Tx, id: i64, audiences: &[String]) -> Result<(), sqlx::Error> {
    with_tx!(&mut *tx, c, d => {
        d.query("DELETE FROM subscriber_audiences WHERE subscriber_id = ?")
            .bind(id)
            .execute(&mut **c)
            .await?;
    });
    add_audiences(tx, id, audiences).await
}

/// One statement for all of a subscriber's audiences.
async fn add_audiences(tx: &mut Tx, id: i64, audiences: &[String]) -> Result<(), sqlx::Error> {
    if audiences.is_empty() {
        return Ok(());
    }
    let values = placeholders("(?, ?)", audiences.len());
    with_tx!(tx, c, d => {
        // Only placeholders are spliced in; the values are bound.
        let sql = d.pick(
            format!("INSERT OR IGNORE INTO subscriber_audiences (subscriber_id, audience) VALUES {values}"),
            format!("INSERT INTO subscriber_audiences (subscriber_id, audience) VALUES {values} ON CONFLICT DO NOTHING"),
        );
        let mut query = d.multi(sql, audiences.len());
        for audience in audiences {
            query = query.bind(id).bind(audience);
        }
        query.execute(&mut **c).await?;
    });
    Ok(())
}

pub(super) async fn record(
    tx: &mut Tx,
    subscriber_id: Option<i64>,
    email_hash: &str,
    kind: &str,
    detail: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_tx!(tx, c, d => {
        d.query(
            "INSERT INTO events (subscriber_id, email_hash, kind, detail, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(subscriber_id)
        .bind(email_hash)
        .bind(kind)
        .bind(detail)
        .bind(to_secs(at))
        .execute(&mut **c)
        .await?;
    });
    Ok(())
}

/// The audit event of a sign-up, new address or known.
async fn record_sign_up(
    tx: &mut Tx,
    id: i64,
    new: &NewSubscriber,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let source = Some(new.consent.source.as_str());
    record(tx, Some(id), &new.email_hash, "signup", source, now).await
}

/// Puts an address on the suppression list and drops the mail still queued for it.
async fn suppress(
    tx: &mut Tx,
    id: i64,
    email_hash: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_tx!(tx, c, d => {
        d.query(
            "INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (email_hash) DO NOTHING",
        )
        .bind(email_hash)
        .bind(reason)
        .bind(to_secs(now))
        .execute(&mut **c)
        .await?;
        d.query("DELETE FROM outbox WHERE subscriber_id = ? AND status = 'queued'")
            .bind(id)
            .execute(&mut **c)
            .await?;
    });
    Ok(())
}

async fn by_id(tx: &mut Tx, id: i64) -> Result<Option<Subscriber>, sqlx::Error> {
    with_tx!(tx, c, d => {
        d.query(format!("{} WHERE s.id = ?", select(d)))
            .bind(id)
            .fetch_optional(&mut **c)
            .await?
            .as_ref()
            .map(subscriber)
            .transpose()
    })
}

/// A confirmation, between reading the record and writing what the caller decided. Like
/// [`KnownSignUp`] it holds the write lock: decide, then call [`Confirmation::activate`]
/// or [`Confirmation::leave`]. Dropped, it writes nothing.
pub struct Confirmation {
    tx: Tx,
    subscriber: Subscriber,
    held: bool,
}

impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmation")
            .field("subscriber", &self.subscriber.id)
            .field("held", &self.held)
            .finish()
    }
}

impl Confirmation {
    /// The record as it stands.
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// Whether a sign-up's choices wait beside the record.
    pub fn has_held_sign_up(&self) -> bool {
        self.held
    }

    /// Double opt-in completed: a held sign-up's choices and consent move into the
    /// record, the subscriber becomes active, and their address leaves the suppression
    /// list. Returns the record after.
    pub async fn activate(
        mut self,
        email_hash: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Subscriber>, StoreError> {
        let id = self.subscriber.id;
        apply_held_sign_up(&mut self.tx, id).await?;
        with_tx!(&mut self.tx, c, d => {
            d.query(
                "UPDATE subscribers SET status = 'active', confirmed_at = ?, unsubscribed_at = NULL, confirm_ip = ?, \
                 confirm_user_agent = ?, updated_at = ? WHERE id = ?",
            )
            .bind(to_secs(now))
            .bind(ip)
            .bind(user_agent)
            .bind(to_secs(now))
            .bind(id)
            .execute(&mut **c)
            .await?;
            d.query("DELETE FROM suppressions WHERE email_hash = ?")
                .bind(email_hash)
                .execute(&mut **c)
                .await?;
        });
        record(&mut self.tx, Some(id), email_hash, "confirm", ip, now).await?;
        let confirmed = by_id(&mut self.tx, id).await?;
        self.tx.commit().await?;
        Ok(confirmed)
    }

    /// Leaves the record as it is and writes nothing.
    pub async fn leave(self) -> Result<Subscriber, StoreError> {
        self.tx.commit().await?;
        Ok(self.subscriber)
    }
}

async fn insert(
    tx: &mut Tx,
    new: &NewSubscriber,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let id = insert_many(tx, &[new], now, true)
        .await?
        .first()
        .map(|&(_, id)| id);
    if let Some(id) = id {
        add_audiences(tx, id, &new.audiences).await?;
        record_sign_up(tx, id, new, now).await?;
    }
    Ok(id)
}

/// Keeps what a sign-up for a known address asks for beside its record, replacing an
/// earlier sign-up's, until the owner confirms it.
async fn hold_sign_up(
    tx: &mut Tx,
    id: i64,
    new: &NewSubscriber,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_tx!(tx, c, d => {
        let columns = "(subscriber_id, name, audiences, frequency, timezone, consent_at, \
             consent_source, consent_ip, consent_user_agent, consent_text_version, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let sql = d.pick(
            format!("INSERT OR REPLACE INTO signups {columns}"),
            format!(
                "INSERT INTO signups {columns} ON CONFLICT (subscriber_id) DO UPDATE SET \
                 name = excluded.name, audiences = excluded.audiences, frequency = excluded.frequency, \
                 timezone = excluded.timezone, consent_at = excluded.consent_at, \
                 consent_source = excluded.consent_source, consent_ip = excluded.consent_ip, \
                 consent_user_agent = excluded.consent_user_agent, \
                 consent_text_version = excluded.consent_text_version, created_at = excluded.created_at"
            ),
        );
        d.query(sql)
            .bind(id)
            .bind(&new.name)
            .bind(new.audiences.join(" "))
            .bind(&new.frequency)
            .bind(&new.timezone)
            .bind(to_secs(new.consent.at))
            .bind(new.consent.source.as_str())
            .bind(&new.consent.ip)
            .bind(&new.consent.user_agent)
            .bind(&new.consent.text_version)
            .bind(to_secs(now))
            .execute(&mut **c)
            .await?;
    });
    Ok(())
}

/// Moves a held sign-up's choices and consent into the subscriber's record, at
/// confirmation. Returns whether there was one.
async fn apply_held_sign_up(tx: &mut Tx, id: i64) -> Result<bool, sqlx::Error> {
    let audiences: Option<String> = with_tx!(&mut *tx, c, d => {
        let held = d
            .query("DELETE FROM signups WHERE subscriber_id = ? RETURNING *")
            .bind(id)
            .fetch_optional(&mut **c)
            .await?;
        match held {
            None => None,
            Some(held) => {
                d.query(
                    "UPDATE subscribers SET name = ?, frequency = ?, timezone = ?, consent_at = ?, consent_source = ?, \
                     consent_ip = ?, consent_user_agent = ?, consent_text_version = ? WHERE id = ?",
                )
                .bind(held.get::<Option<String>>("name")?)
                .bind(held.get::<String>("frequency")?)
                .bind(held.get::<String>("timezone")?)
                .bind(held.get::<i64>("consent_at")?)
                .bind(held.get::<String>("consent_source")?)
                .bind(held.get::<Option<String>>("consent_ip")?)
                .bind(held.get::<Option<String>>("consent_user_agent")?)
                .bind(held.get::<String>("consent_text_version")?)
                .bind(id)
                .execute(&mut **c)
                .await?;
                Some(held.get("audiences")?)
            }
        }
    });
    let Some(audiences) = audiences else {
        return Ok(false);
    };
    let audiences: Vec<String> = audiences.split_whitespace().map(str::to_string).collect();
    set_audiences(tx, id, &audiences).await?;
    Ok(true)
}

/// Inserts new subscribers; an address that exists already is left alone. With
/// `returning`, the (address, id) of each row inserted; without, nothing is read
/// back (on SQLite each returned row crosses from sqlx's worker thread on its own,
/// so an import reads its new ids as one range instead).
pub(super) async fn insert_many(
    tx: &mut Tx,
    batch: &[&NewSubscriber],
    now: DateTime<Utc>,
    returning: bool,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO subscribers (email, name, status, frequency, timezone, created_at, confirmed_at, \
         consent_at, consent_source, consent_ip, consent_user_agent, consent_text_version, updated_at) \
         VALUES {} ON CONFLICT (email) DO NOTHING{}",
        placeholders("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch.len()),
        if returning {
            " RETURNING id, email"
        } else {
            ""
        }
    );
    let mut ids = Vec::new();
    with_tx!(tx, c, d => {
        let mut query = d.multi(sql, batch.len());
        for new in batch {
            let confirmed = (new.status == Status::Active).then(|| to_secs(now));
            query = query
                .bind(&new.email)
                .bind(&new.name)
                .bind(new.status.as_str())
                .bind(&new.frequency)
                .bind(&new.timezone)
                .bind(to_secs(now))
                .bind(confirmed)
                .bind(to_secs(new.consent.at))
                .bind(new.consent.source.as_str())
                .bind(&new.consent.ip)
                .bind(&new.consent.user_agent)
                .bind(&new.consent.text_version)
                .bind(to_secs(now));
        }
        if returning {
            for row in query.fetch_all(&mut **c).await? {
                ids.push((row.get("email")?, row.get("id")?));
            }
        } else {
            query.execute(&mut **c).await?;
        }
    });
    Ok(ids)
}

/// One audit event of the same kind for each (subscriber, address hash, detail).
pub(super) async fn record_many(
    tx: &mut Tx,
    events: &[(i64, &str, &str)],
    kind: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for batch in events.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (subscriber_id, email_hash, kind, detail, at) VALUES {}",
            placeholders("(?, ?, ?, ?, ?)", batch.len())
        );
        with_tx!(&mut *tx, c, d => {
            let mut query = d.multi(sql, batch.len());
            for (id, hash, detail) in batch {
                query = query
                    .bind(id)
                    .bind(*hash)
                    .bind(kind)
                    .bind(*detail)
                    .bind(to_secs(at));
            }
            query.execute(&mut **c).await?;
        });
    }
    Ok(())
}

impl Store {
    pub async fn subscriber_by_email(&self, email: &str) -> Result<Option<Subscriber>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!("{} WHERE s.email = ?", select(d)))
            .bind(email)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(subscriber)
            .transpose()?))
    }

    pub async fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!("{} WHERE s.id = ?", select(d)))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(subscriber)
            .transpose()?))
    }

    /// Every subscriber, oldest first (for exports).
    pub async fn all_subscribers(&self) -> Result<Vec<Subscriber>, StoreError> {
        // Mapped row by row, so the raw rows of a large list never pile up.
        Ok(with_pool!(self, pool, d => d
            .query(format!("{} ORDER BY s.id", select(d)))
            .try_map(|row| subscriber(&row))
            .fetch_all(pool)
            .await?))
    }

    /// Active subscribers of one frequency, all at once (the digest planner reads
    /// them a page at a time instead, [`Store::active_subscribers_page`]).
    pub async fn active_subscribers(&self, frequency: &str) -> Result<Vec<Subscriber>, StoreError> {
        self.active_subscribers_page(frequency, 0, i64::MAX).await
    }

    /// One page of [`Store::active_subscribers`]: those with an id above `after`, at
    /// most `limit` of them, in id order. Planning reads a large list a page at a time,
    /// so that it never holds the whole list.
    pub async fn active_subscribers_page(
        &self,
        frequency: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Subscriber>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "{} WHERE s.status = 'active' AND s.frequency = ? AND s.id > ? ORDER BY s.id LIMIT ?",
                select(d)
            ))
            .bind(frequency)
            .bind(after)
            .bind(limit)
            .try_map(|row| subscriber(&row))
            .fetch_all(pool)
            .await?))
    }

    /// The distinct time zones of active subscribers, whatever their frequency: the
    /// clocks digests fire on.
    pub async fn active_timezones(&self) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .scalar(
                "SELECT DISTINCT timezone FROM subscribers WHERE status = 'active' ORDER BY timezone",
            )
            .fetch_all(pool)
            .await?))
    }

    /// Creates a subscriber, failing when the address exists.
    pub async fn add_subscriber(
        &self,
        new: &NewSubscriber,
        now: DateTime<Utc>,
    ) -> Result<Subscriber, StoreError> {
        let mut tx = self.write_tx().await?;
        let id = insert(&mut tx, new, now)
            .await?
            .ok_or_else(|| StoreError::Duplicate(new.email.clone()))?;
        if new.status == Status::Active {
            with_tx!(&mut tx, c, d => d
                .query("DELETE FROM suppressions WHERE email_hash = ?")
                .bind(&new.email_hash)
                .execute(&mut **c)
                .await
                .map(drop)?);
        }
        let created = by_id(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(new.email.clone()))?;
        tx.commit().await?;
        Ok(created)
    }

    /// A sign-up, in one write transaction: a new address becomes `new` (pending)
    /// at once, so simultaneous sign-ups make one subscriber; a known address's record
    /// is read and handed back with the lock still held, for the caller to decide.
    pub async fn sign_up<'a>(
        &self,
        new: &'a NewSubscriber,
        now: DateTime<Utc>,
    ) -> Result<Registration<'a>, StoreError> {
        let mut tx = self.write_tx().await?;
        if let Some(id) = insert(&mut tx, new, now).await? {
            let created = by_id(&mut tx, id)
                .await?
                .ok_or_else(|| StoreError::NotFound(new.email.clone()))?;
            tx.commit().await?;
            return Ok(Registration::Created(created));
        }
        let subscriber = with_tx!(&mut tx, c, d => d
            .query(format!("{} WHERE s.email = ?", select(d)))
            .bind(&new.email)
            .fetch_one(&mut **c)
            .await
            .and_then(|row| subscriber(&row))?);
        Ok(Registration::Known(KnownSignUp {
            tx,
            subscriber,
            new,
            now,
        }))
    }

    /// Notes that confirmation emails go out, in one transaction, and returns the ids
    /// that had none since `not_before` (so repeated sign-ups do not flood an inbox).
    pub async fn note_confirmation_sent(
        &self,
        ids: &[i64],
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut allowed = Vec::new();
        for batch in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE subscribers SET confirmation_sent_at = ? WHERE id IN ({}) \
                 AND (confirmation_sent_at IS NULL OR confirmation_sent_at < ?) RETURNING id",
                placeholders("?", batch.len())
            );
            let updated: Vec<i64> = with_tx!(&mut tx, c, d => {
                let mut query = d.scalar(sql).bind(to_secs(now));
                for id in batch {
                    query = query.bind(id);
                }
                query.bind(to_secs(not_before)).fetch_all(&mut **c).await?
            });
            allowed.extend(updated);
        }
        tx.commit().await?;
        // In the order given, as callers expect.
        let allowed_set: HashSet<i64> = allowed.into_iter().collect();
        Ok(ids
            .iter()
            .copied()
            .filter(|id| allowed_set.contains(id))
            .collect())
    }

    /// A confirmation of subscriber `id`, in one write transaction: the record and
    /// whether a sign-up waits beside it are read and handed back with the lock held,
    /// for the caller to decide. `None` when there is no such subscriber.
    pub async fn confirmation(&self, id: i64) -> Result<Option<Confirmation>, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(subscriber) = by_id(&mut tx, id).await? else {
            return Ok(None);
        };
        let held: Option<i32> = with_tx!(&mut tx, c, d => d
            .scalar("SELECT 1 FROM signups WHERE subscriber_id = ?")
            .bind(id)
            .fetch_optional(&mut **c)
            .await?);
        Ok(Some(Confirmation {
            tx,
            subscriber,
            held: held.is_some(),
        }))
    }

    /// Unsubscribes at once: status, suppression, and no queued mail left for them.
    /// Doing it twice changes nothing more.
    pub async fn unsubscribe_subscriber(
        &self,
        id: i64,
        email_hash: &str,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Subscriber>, StoreError> {
        self.end_subscription(id, email_hash, Status::Unsubscribed, channel, now)
            .await
    }

    /// Marks a hard bounce or complaint: like an unsubscribe, with its own status.
    pub async fn end_subscription(
        &self,
        id: i64,
        email_hash: &str,
        status: Status,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Subscriber>, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(current) = by_id(&mut tx, id).await? else {
            return Ok(None);
        };
        if current.status != status {
            with_tx!(&mut tx, c, d => d
                .query("UPDATE subscribers SET status = ?, unsubscribed_at = ?, updated_at = ? WHERE id = ?")
                .bind(status.as_str())
                .bind(to_secs(now))
                .bind(to_secs(now))
                .bind(id)
                .execute(&mut **c)
                .await
                .map(drop)?);
            record(
                &mut tx,
                Some(id),
                email_hash,
                status.as_str(),
                Some(channel),
                now,
            )
            .await?;
        }
        suppress(&mut tx, id, email_hash, status.as_str(), now).await?;
        let after = by_id(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Erases a subscriber: the row and their audiences go, queued mail is dropped, the
    /// addresses of sent mail are blanked, and a suppression entry (a keyed hash, not
    /// the address) stays so they are never mailed again unless they sign up anew.
    pub async fn erase_subscriber(
        &self,
        id: i64,
        email_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let deleted = with_tx!(&mut tx, c, d => {
            d.query(
                "INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, 'erased', ?) \
                         ON CONFLICT (email_hash) DO UPDATE SET reason = 'erased'",
            )
            .bind(email_hash)
            .bind(to_secs(now))
            .execute(&mut **c)
            .await?;
            d.query("DELETE FROM outbox WHERE subscriber_id = ? AND status IN ('queued', 'failed')")
                .bind(id)
                .execute(&mut **c)
                .await?;
            d.query("UPDATE outbox SET recipient = '[erased]', vars = '{}' WHERE subscriber_id = ?")
                .bind(id)
                .execute(&mut **c)
                .await?;
            let deleted = d
                .query("DELETE FROM subscribers WHERE id = ?")
                .bind(id)
                .execute(&mut **c)
                .await?
                .rows_affected();
            d.query("UPDATE events SET subscriber_id = NULL, detail = NULL WHERE subscriber_id = ?")
                .bind(id)
                .execute(&mut **c)
                .await?;
            deleted
        });
        record(&mut tx, None, email_hash, "erase", None, now).await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    pub async fn update_subscriber(
        &self,
        id: i64,
        changes: &SubscriberChanges,
        email_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Subscriber>, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(current) = by_id(&mut tx, id).await? else {
            return Ok(None);
        };
        let name = changes.name.clone().unwrap_or(current.name.clone());
        let frequency = changes
            .frequency
            .clone()
            .unwrap_or(current.frequency.clone());
        let timezone = changes.timezone.clone().unwrap_or(current.timezone.clone());
        let status = changes.status.unwrap_or(current.status);
        with_tx!(&mut tx, c, d => d
            .query("UPDATE subscribers SET name = ?, frequency = ?, timezone = ?, status = ?, updated_at = ? WHERE id = ?")
            .bind(&name)
            .bind(&frequency)
            .bind(&timezone)
            .bind(status.as_str())
            .bind(to_secs(now))
            .bind(id)
            .execute(&mut **c)
            .await
                .map(drop)?);
        if status != current.status {
            match status {
                Status::Active => {
                    with_tx!(&mut tx, c, d => d
                        .query("UPDATE subscribers SET confirmed_at = coalesce(confirmed_at, ?), unsubscribed_at = NULL WHERE id = ?")
                        .bind(to_secs(now))
                        .bind(id)
                        .execute(&mut **c)
                        .await
                .map(drop)?);
                }
                Status::Unsubscribed | Status::Bounced | Status::Complained => {
                    with_tx!(&mut tx, c, d => d
                        .query("UPDATE subscribers SET unsubscribed_at = ? WHERE id = ?")
                        .bind(to_secs(now))
                        .bind(id)
                        .execute(&mut **c)
                        .await
                .map(drop)?);
                    suppress(&mut tx, id, email_hash, status.as_str(), now).await?;
                }
                Status::Pending => {}
            }
            record(
                &mut tx,
                Some(id),
                email_hash,
                status.as_str(),
                Some("admin"),
                now,
            )
            .await?;
        }
        if let Some(audiences) = &changes.audiences {
            set_audiences(&mut tx, id, audiences).await?;
        }
        record(&mut tx, Some(id), email_hash, "update", None, now).await?;
        let after = by_id(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// The statuses of the given subscribers; erased ones are missing from the map.
    pub async fn subscriber_statuses(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, Status>, StoreError> {
        let mut statuses = HashMap::with_capacity(ids.len());
        for batch in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, status FROM subscribers WHERE id IN ({})",
                placeholders("?", batch.len())
            );
            with_pool!(self, pool, d => {
                let mut query = d.multi(sql, batch.len());
                for id in batch {
                    query = query.bind(id);
                }
                for row in query.fetch_all(pool).await? {
                    let status: String = row.get("status")?;
                    if let Some(status) = Status::parse(&status) {
                        statuses.insert(row.get("id")?, status);
                    }
                }
            });
        }
        Ok(statuses)
    }

    /// Whether an address (by keyed hash) may not be mailed.
    pub async fn is_suppressed(&self, email_hash: &str) -> Result<bool, StoreError> {
        let found: Option<i32> = with_pool!(self, pool, d => d
            .scalar("SELECT 1 FROM suppressions WHERE email_hash = ?")
            .bind(email_hash)
            .fetch_optional(pool)
            .await?);
        Ok(found.is_some())
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut stats = Stats::default();
        // The per-frequency count needs nothing of the others: it runs beside them.
        let by_frequency = async {
            let mut by_frequency = BTreeMap::new();
            with_pool!(self, pool, d => {
                let rows = d
                    .query(
                        "SELECT frequency, count(*) AS n FROM subscribers WHERE status = 'active' GROUP BY frequency",
                    )
                    .fetch_all(pool)
                    .await?;
                for row in rows {
                    by_frequency.insert(row.get("frequency")?, row.get::<i64>("n")? as u64);
                }
            });
            Ok::<_, StoreError>(by_frequency)
        };
        let status_and_audience = async {
            let by_status = self.by_status().await?;
            let by_audience = self.active_by_audience_given(&by_status).await?;
            Ok::<_, StoreError>((by_status, by_audience))
        };
        let (by_frequency, (by_status, by_audience)) =
            tokio::try_join!(by_frequency, status_and_audience)?;
        stats.total = by_status.values().sum();
        stats.by_status = by_status;
        stats.by_audience = by_audience;
        stats.by_frequency = by_frequency;
        Ok(stats)
    }

    /// Subscribers per status, every status present (0 when none has it).
    async fn by_status(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut by_status: BTreeMap<String, u64> = Status::ALL
            .iter()
            .map(|status| (status.as_str().to_string(), 0))
            .collect();
        with_pool!(self, pool, d => {
            for row in d
                .query("SELECT status, count(*) AS n FROM subscribers GROUP BY status")
                .fetch_all(pool)
                .await?
            {
                by_status.insert(row.get("status")?, row.get::<i64>("n")? as u64);
            }
        });
        Ok(by_status)
    }

    /// Active subscribers per audience ([`Stats::by_audience`] alone): audiences with
    /// none are left out.
    pub async fn active_by_audience(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let by_status = self.by_status().await?;
        self.active_by_audience_given(&by_status).await
    }

    /// Active subscribers per audience, by the cheaper of two plans as `by_status`
    /// tells. Joining each active subscriber to their audiences costs a lookup per
    /// row (147 ms at 100,000 active subscribers over 200,000 memberships); while
    /// most subscribers are active it is cheaper to count every membership from the
    /// covering index `subscriber_audiences (audience, subscriber_id)` and take away
    /// those of subscribers who are not active, found through `subscribers_status`
    /// (19 ms). Either way it is one statement, so one snapshot.
    async fn active_by_audience_given(
        &self,
        by_status: &BTreeMap<String, u64>,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let active = by_status.get(Status::Active.as_str()).copied().unwrap_or(0);
        let inactive: u64 = by_status.values().sum::<u64>() - active;
        let mostly_active = inactive <= active;
        let sql = if mostly_active {
            ACTIVE_BY_AUDIENCE_MOSTLY_ACTIVE
        } else {
            "SELECT a.audience, count(*) AS n FROM subscriber_audiences a JOIN subscribers s ON s.id = a.subscriber_id \
             WHERE s.status = 'active' GROUP BY a.audience"
        };
        let mut by_audience = BTreeMap::new();
        with_pool!(self, pool, d => {
            let sql = if mostly_active {
                d.pick(sql, ACTIVE_BY_AUDIENCE_MOSTLY_ACTIVE_PG)
            } else {
                sql
            };
            for row in d.query(sql).fetch_all(pool).await? {
                by_audience.insert(row.get("audience")?, row.get::<i64>("n")? as u64);
            }
        });
        Ok(by_audience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mostly_active_count_takes_away_every_other_status() {
        let listed = ACTIVE_BY_AUDIENCE_MOSTLY_ACTIVE
            .split("IN (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap();
        let mut listed: Vec<&str> = listed.split(", ").map(|s| s.trim_matches('\'')).collect();
        listed.sort_unstable();
        let mut others: Vec<&str> = Status::ALL
            .iter()
            .filter(|status| **status != Status::Active)
            .map(|status| status.as_str())
            .collect();
        others.sort_unstable();
        assert_eq!(listed, others);
    }
}

//! Bounce events as rows (migration 12), and the outbox lookups that attribute a
//! bounce to the message it names: by row id (a VERP token) or by Message-ID.

use super::{Dialect, Get, Store, StoreError, from_secs, to_secs};
use crate::model::{BounceEvent, NewBounceEvent, OutboxRow};
use chrono::{DateTime, Utc};

fn event(r: &impl Get) -> Result<BounceEvent, sqlx::Error> {
    Ok(BounceEvent {
        id: r.get("id")?,
        subscriber_id: r.get("subscriber_id")?,
        outbox_id: r.get("outbox_id")?,
        kind: r.get("kind")?,
        source: r.get("source")?,
        status_code: r.get("status_code")?,
        reason: r.get("reason")?,
        action: r.get("action")?,
        at: from_secs(r.get("at")?),
    })
}

const EVENT_COLUMNS: &str =
    "id, subscriber_id, outbox_id, kind, source, status_code, reason, action, at";

/// Which bounce events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BounceFilter {
    pub subscriber_id: Option<i64>,
    pub outbox_id: Option<i64>,
    /// Only events older than this id: the page after one that ended there.
    pub before: Option<i64>,
    pub limit: usize,
}

impl Store {
    /// One outbox row by its id.
    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!("SELECT {} FROM outbox WHERE id = ?", super::outbox::COLUMNS))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(super::outbox::row)
            .transpose()?))
    }

    /// The outbox row sent with this Message-ID (angle brackets optional), newest
    /// first if, against the odds, two share it.
    pub async fn outbox_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<OutboxRow>, StoreError> {
        let bare = message_id.trim().trim_matches(['<', '>']);
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "SELECT {} FROM outbox WHERE message_id IN (?1, ?2) ORDER BY id DESC LIMIT 1",
                super::outbox::COLUMNS
            ))
            .bind(bare)
            .bind(format!("<{bare}>"))
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(super::outbox::row)
            .transpose()?))
    }

    /// Records one bounce event; returns its id.
    pub async fn record_bounce(&self, new: &NewBounceEvent) -> Result<i64, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .scalar(
                "INSERT INTO bounce_events (subscriber_id, outbox_id, email_hash, kind, source, \
                 status_code, reason, action, sent_at, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(new.subscriber_id)
            .bind(new.outbox_id)
            .bind(&new.email_hash)
            .bind(&new.kind)
            .bind(&new.source)
            .bind(&new.status_code)
            .bind(&new.reason)
            .bind(&new.action)
            .bind(new.sent_at.map(to_secs))
            .bind(to_secs(new.at))
            .fetch_one(pool)
            .await?))
    }

    /// Changes the action an event is recorded with (once its effect is known).
    pub async fn set_bounce_action(&self, id: i64, action: &str) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("UPDATE bounce_events SET action = ? WHERE id = ?")
            .bind(action)
            .bind(id)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// A subscriber's soft bounces since `since` that no delivery followed: distinct
    /// messages (a message that soft-bounced twice counts once), placed by when the
    /// message was sent (or when the event came, for an event that names none). A
    /// message sent to them, not bounced, and sent after a soft-bounced one and
    /// before `position`, resets the count: only the bounces after it are counted.
    pub async fn soft_bounces(
        &self,
        subscriber_id: i64,
        since: DateTime<Utc>,
        position: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let n: i64 = with_pool!(self, pool, d => d
            .scalar(
                "SELECT count(DISTINCT coalesce(b.outbox_id, -b.id)) FROM bounce_events b \
                 WHERE b.subscriber_id = ?1 AND b.kind = 'soft' AND b.at >= ?2 \
                 AND coalesce(b.sent_at, b.at) <= ?3 \
                 AND coalesce(b.sent_at, b.at) > coalesce(( \
                     SELECT max(o.sent_at) FROM outbox o WHERE o.subscriber_id = ?1 \
                     AND o.status = 'sent' AND o.sent_at < ?3 AND o.sent_at >= ?2 \
                     AND NOT EXISTS (SELECT 1 FROM bounce_events x WHERE x.outbox_id = o.id)), 0)",
            )
            .bind(subscriber_id)
            .bind(to_secs(since))
            .bind(to_secs(position))
            .fetch_one(pool)
            .await?);
        Ok(n.max(0) as u32)
    }

    /// Bounce events, newest first, as the filter says.
    pub async fn bounce_events(
        &self,
        filter: &BounceFilter,
    ) -> Result<Vec<BounceEvent>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "SELECT {EVENT_COLUMNS} FROM bounce_events \
                 WHERE (?1 IS NULL OR subscriber_id = ?1) AND (?2 IS NULL OR outbox_id = ?2) \
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ))
            .bind(filter.subscriber_id)
            .bind(filter.outbox_id)
            .bind(filter.before)
            .bind(filter.limit.max(1) as i64)
            .try_map(|r| event(&r))
            .fetch_all(pool)
            .await?))
    }

    /// For each of these outbox rows that something came back for, the latest bounce
    /// event's kind and source: the console's outbox marks those rows.
    pub async fn bounces_of_messages(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, (String, String)>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for batch in ids.chunks(500) {
            let sql = format!(
                "SELECT outbox_id, kind, source FROM bounce_events WHERE outbox_id IN ({}) ORDER BY id",
                vec!["?"; batch.len()].join(", ")
            );
            with_pool!(self, pool, d => {
                let mut query = d.query(sql);
                for id in batch {
                    query = query.bind(id);
                }
                for r in query.fetch_all(pool).await? {
                    out.insert(r.get("outbox_id")?, (r.get("kind")?, r.get("source")?));
                }
            });
        }
        Ok(out)
    }

    /// Bounce events per kind, all time: the admin API's and the console's totals.
    pub async fn bounce_totals(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("SELECT kind, count(*) AS n FROM bounce_events GROUP BY kind ORDER BY kind")
            .try_map(|r| Ok((r.get("kind")?, r.get::<i64>("n")?.max(0) as u64)))
            .fetch_all(pool)
            .await?))
    }
}

//! The suppression list as rows: keyed hashes of addresses crier must not mail
//! (unsubscribed, bounced, complained, erased). Entries are added where a subscriber
//! leaves (`subscribers.rs`); here they are listed, looked up and lifted.

use super::subscribers::record;
use super::{Dialect, Get, Store, StoreError, from_secs};
use chrono::{DateTime, Utc};

/// One entry of the suppression list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    /// Where it sits in the list, for paging (newest entries have the highest).
    pub position: i64,
    pub email_hash: String,
    /// unsubscribed, bounced, complained or erased.
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

fn suppression(r: &impl Get) -> Result<Suppression, sqlx::Error> {
    Ok(Suppression {
        position: r.get("position")?,
        email_hash: r.get("email_hash")?,
        reason: r.get("reason")?,
        created_at: from_secs(r.get("created_at")?),
    })
}

/// The column a suppression's position is kept in: SQLite's rowid, PostgreSQL's own.
fn position(d: impl Dialect) -> &'static str {
    d.pick("rowid", "position")
}

impl Store {
    /// One page of the suppression list, newest first, after `before` (a position)
    /// when given. Paged on the row id, so a page costs the same at any depth.
    pub async fn suppressions(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Suppression>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "SELECT {p} AS position, email_hash, reason, created_at FROM suppressions \
                 WHERE (?1 IS NULL OR {p} < ?1) ORDER BY {p} DESC LIMIT ?2",
                p = position(d)
            ))
            .bind(before)
            .bind(limit as i64)
            .try_map(|r| suppression(&r))
            .fetch_all(pool)
            .await?))
    }

    pub async fn suppression_count(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(self, pool, d => d
            .scalar("SELECT count(*) FROM suppressions")
            .fetch_one(pool)
            .await?);
        Ok(n.max(0) as u64)
    }

    /// The entry of an address (by keyed hash), if it is suppressed.
    pub async fn suppression(&self, email_hash: &str) -> Result<Option<Suppression>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(format!(
                "SELECT {} AS position, email_hash, reason, created_at FROM suppressions \
                 WHERE email_hash = ?",
                position(d)
            ))
            .bind(email_hash)
            .try_map(|r| suppression(&r))
            .fetch_optional(pool)
            .await?))
    }

    /// Takes an address off the suppression list, with an `unsuppressed` event in the
    /// audit trail. Returns whether it was on the list. The subscriber's own record
    /// keeps its status: lifting only lets an admin add or activate the address again.
    pub async fn lift_suppression(
        &self,
        email_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let reason: Option<String> = with_tx!(&mut tx, c, d => d
            .scalar("DELETE FROM suppressions WHERE email_hash = ? RETURNING reason")
            .bind(email_hash)
            .fetch_optional(&mut **c)
            .await?);
        let Some(reason) = reason else {
            return Ok(false);
        };
        record(
            &mut tx,
            None,
            email_hash,
            "unsuppressed",
            Some(&reason),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

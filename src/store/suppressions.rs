//! The suppression list as rows: keyed hashes of addresses crier must not mail
//! (unsubscribed, bounced, complained, erased). Entries are added where a subscriber
//! leaves (`subscribers.rs`); here they are listed, looked up and lifted.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::subscribers::record;
use super::{Store, StoreError, from_secs};

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

fn suppression(r: &sqlx::sqlite::SqliteRow) -> Result<Suppression, sqlx::Error> {
    Ok(Suppression {
        position: r.try_get("position")?,
        email_hash: r.try_get("email_hash")?,
        reason: r.try_get("reason")?,
        created_at: from_secs(r.try_get("created_at")?),
    })
}

impl Store {
    /// One page of the suppression list, newest first, after `before` (a position)
    /// when given. Paged on the row id, so a page costs the same at any depth.
    pub async fn suppressions(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Suppression>, StoreError> {
        let rows = sqlx::query(
            "SELECT rowid AS position, email_hash, reason, created_at FROM suppressions \
             WHERE (?1 IS NULL OR rowid < ?1) ORDER BY rowid DESC LIMIT ?2",
        )
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(suppression).collect::<Result<_, _>>()?)
    }

    pub async fn suppression_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM suppressions")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// The entry of an address (by keyed hash), if it is suppressed.
    pub async fn suppression(&self, email_hash: &str) -> Result<Option<Suppression>, StoreError> {
        let found = sqlx::query(
            "SELECT rowid AS position, email_hash, reason, created_at FROM suppressions \
             WHERE email_hash = ?",
        )
        .bind(email_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.as_ref().map(suppression).transpose()?)
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
        let reason: Option<String> =
            sqlx::query_scalar("DELETE FROM suppressions WHERE email_hash = ? RETURNING reason")
                .bind(email_hash)
                .fetch_optional(&mut *tx)
                .await?;
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

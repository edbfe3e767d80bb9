//! The admin console's accounts and sessions. The store keeps what it is given: a
//! password's PHC string, a session's hash and CSRF token, and the times; when a
//! session has expired is for the console to say, which hands the cut-off times in.

use super::{Dialect, Get, Store, StoreError, Tx, from_secs, to_secs};
use chrono::{DateTime, Utc};

/// An admin account as `crier admins list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAccount {
    pub id: i64,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
    /// Sessions not yet removed (some may have expired without being seen since).
    pub sessions: i64,
}

/// What a login checks a password against.
#[derive(Debug, Clone)]
pub struct AdminCredentials {
    pub id: i64,
    pub email: String,
    /// The Argon2id PHC string.
    pub password_hash: String,
}

/// A stored console session, with its admin's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub admin_id: i64,
    pub email: String,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl Store {
    /// Adds an admin; an address already taken is [`StoreError::AdminExists`].
    pub async fn add_admin(
        &self,
        email: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let id: Option<i64> = with_pool!(self, pool, d => d
            .scalar(
                "INSERT INTO admins (email, password_hash, created_at, password_changed_at)
                 VALUES (?, ?, ?, ?) ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(email)
            .bind(password_hash)
            .bind(to_secs(now))
            .bind(to_secs(now))
            .fetch_optional(pool)
            .await?);
        id.ok_or_else(|| StoreError::AdminExists(email.to_string()))
    }

    /// Every admin, by address.
    pub async fn admins(&self) -> Result<Vec<AdminAccount>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(
                "SELECT a.id, a.email, a.created_at, a.password_changed_at,
                        (SELECT COUNT(*) FROM admin_sessions s WHERE s.admin_id = a.id) AS sessions
                 FROM admins a ORDER BY a.email",
            )
            .try_map(|row| {
                Ok(AdminAccount {
                    id: row.get("id")?,
                    email: row.get("email")?,
                    created_at: from_secs(row.get("created_at")?),
                    password_changed_at: from_secs(row.get("password_changed_at")?),
                    sessions: row.get("sessions")?,
                })
            })
            .fetch_all(pool)
            .await?))
    }

    /// The account a login names, if there is one.
    pub async fn admin_credentials(
        &self,
        email: &str,
    ) -> Result<Option<AdminCredentials>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("SELECT id, email, password_hash FROM admins WHERE email = ?")
            .bind(email)
            .try_map(|row| {
                Ok(AdminCredentials {
                    id: row.get("id")?,
                    email: row.get("email")?,
                    password_hash: row.get("password_hash")?,
                })
            })
            .fetch_optional(pool)
            .await?))
    }

    /// Removes an admin and, with it, every session of theirs.
    pub async fn remove_admin(&self, email: &str) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let id = admin_id(&mut tx, email).await?;
        with_tx!(&mut tx, c, d => {
            d.query("DELETE FROM admin_sessions WHERE admin_id = ?")
                .bind(id)
                .execute(&mut **c)
                .await?;
            d.query("DELETE FROM admins WHERE id = ?")
                .bind(id)
                .execute(&mut **c)
                .await?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// Gives an admin a new password and ends every session of theirs.
    pub async fn set_admin_password(
        &self,
        email: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let id = admin_id(&mut tx, email).await?;
        with_tx!(&mut tx, c, d => {
            d.query("UPDATE admins SET password_hash = ?, password_changed_at = ? WHERE id = ?")
                .bind(password_hash)
                .bind(to_secs(now))
                .bind(id)
                .execute(&mut **c)
                .await?;
            d.query("DELETE FROM admin_sessions WHERE admin_id = ?")
                .bind(id)
                .execute(&mut **c)
                .await?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// Starts a session, known by the hash of its cookie.
    pub async fn add_admin_session(
        &self,
        id_hash: &[u8; 32],
        admin_id: i64,
        csrf: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query(
                "INSERT INTO admin_sessions (id_hash, admin_id, csrf, created_at, last_seen)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&id_hash[..])
            .bind(admin_id)
            .bind(csrf)
            .bind(to_secs(now))
            .bind(to_secs(now))
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// The session whose cookie hashes to `id_hash`, expired or not.
    pub async fn admin_session(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<AdminSession>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(
                "SELECT s.admin_id, a.email, s.csrf, s.created_at, s.last_seen
                 FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
                 WHERE s.id_hash = ?",
            )
            .bind(&id_hash[..])
            .try_map(|row| {
                Ok(AdminSession {
                    admin_id: row.get("admin_id")?,
                    email: row.get("email")?,
                    csrf: row.get("csrf")?,
                    created_at: from_secs(row.get("created_at")?),
                    last_seen: from_secs(row.get("last_seen")?),
                })
            })
            .fetch_optional(pool)
            .await?))
    }

    /// Records that a session was used at `now`.
    pub async fn touch_admin_session(
        &self,
        id_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("UPDATE admin_sessions SET last_seen = ? WHERE id_hash = ?")
            .bind(to_secs(now))
            .bind(&id_hash[..])
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Ends a session; ending one that is gone already is not an error.
    pub async fn remove_admin_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("DELETE FROM admin_sessions WHERE id_hash = ?")
            .bind(&id_hash[..])
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Removes the sessions last used before `idle_before` or started before
    /// `started_before`; returns how many.
    pub async fn prune_admin_sessions(
        &self,
        idle_before: DateTime<Utc>,
        started_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query("DELETE FROM admin_sessions WHERE last_seen < ? OR created_at < ?")
            .bind(to_secs(idle_before))
            .bind(to_secs(started_before))
            .execute(pool)
            .await?
            .rows_affected()))
    }
}

async fn admin_id(tx: &mut Tx, email: &str) -> Result<i64, StoreError> {
    let id: Option<i64> = with_tx!(tx, c, d => d
        .scalar("SELECT id FROM admins WHERE email = ?")
        .bind(email)
        .fetch_optional(&mut **c)
        .await?);
    id.ok_or_else(|| StoreError::AdminNotFound(email.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[tokio::test]
    async fn accounts_and_their_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
        let now = from_secs(1_800_000_000);
        let id = store.add_admin("a@example.org", "$h1", now).await.unwrap();
        assert!(matches!(
            store.add_admin("a@example.org", "$h2", now).await,
            Err(StoreError::AdminExists(_))
        ));
        let b = store.add_admin("b@example.org", "$h3", now).await.unwrap();
        let creds = store
            .admin_credentials("a@example.org")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((creds.id, creds.password_hash.as_str()), (id, "$h1"));
        assert!(
            store
                .admin_credentials("c@example.org")
                .await
                .unwrap()
                .is_none()
        );

        let (s1, s2, s3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        store.add_admin_session(&s1, id, "t1", now).await.unwrap();
        store
            .add_admin_session(&s2, id, "t2", now + Duration::hours(2))
            .await
            .unwrap();
        store.add_admin_session(&s3, b, "t3", now).await.unwrap();
        let session = store.admin_session(&s1).await.unwrap().unwrap();
        assert_eq!(session.email, "a@example.org");
        assert_eq!(session.csrf, "t1");
        store
            .touch_admin_session(&s1, now + Duration::minutes(5))
            .await
            .unwrap();
        let session = store.admin_session(&s1).await.unwrap().unwrap();
        assert_eq!(session.last_seen, now + Duration::minutes(5));
        assert_eq!(session.created_at, now);

        // A new password ends that admin's sessions and no one else's.
        store
            .set_admin_password("a@example.org", "$h4", now)
            .await
            .unwrap();
        assert!(store.admin_session(&s1).await.unwrap().is_none());
        assert!(store.admin_session(&s2).await.unwrap().is_none());
        assert!(store.admin_session(&s3).await.unwrap().is_some());
        let listed = store.admins().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (listed[1].email.as_str(), listed[1].sessions),
            ("b@example.org", 1)
        );

        store.remove_admin("b@example.org").await.unwrap();
        assert!(store.admin_session(&s3).await.unwrap().is_none());
        assert!(matches!(
            store.remove_admin("b@example.org").await,
            Err(StoreError::AdminNotFound(_))
        ));
        assert!(matches!(
            store
                .set_admin_password("nobody@example.org", "$h", now)
                .await,
            Err(StoreError::AdminNotFound(_))
        ));
        store.close().await;
    }

    #[tokio::test]
    async fn pruning_removes_idle_and_old_sessions_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
        let now = from_secs(1_800_000_000);
        let id = store.add_admin("a@example.org", "$h", now).await.unwrap();
        // Idle since the start; started long ago but seen lately; fresh.
        store
            .add_admin_session(&[1; 32], id, "a", now)
            .await
            .unwrap();
        store
            .add_admin_session(&[2; 32], id, "b", now)
            .await
            .unwrap();
        store
            .touch_admin_session(&[2; 32], now + Duration::hours(13))
            .await
            .unwrap();
        let later = now + Duration::hours(13);
        store
            .add_admin_session(&[3; 32], id, "c", later)
            .await
            .unwrap();
        let pruned = store
            .prune_admin_sessions(later - Duration::minutes(30), later - Duration::hours(12))
            .await
            .unwrap();
        assert_eq!(pruned, 2);
        assert!(store.admin_session(&[3; 32]).await.unwrap().is_some());
        store.close().await;
    }
}

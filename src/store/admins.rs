//! The admin console's accounts and sessions. The store keeps what it is given: a
//! password's PHC string, a session's hash and CSRF token, and the times; when a
//! session has expired is for the console to say, which hands the cut-off times in.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, from_secs, to_secs};

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
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO admins (email, password_hash, created_at, password_changed_at)
             VALUES (?, ?, ?, ?) ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(email)
        .bind(password_hash)
        .bind(to_secs(now))
        .bind(to_secs(now))
        .fetch_optional(&self.pool)
        .await?;
        id.ok_or_else(|| StoreError::AdminExists(email.to_string()))
    }

    /// Every admin, by address.
    pub async fn admins(&self) -> Result<Vec<AdminAccount>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.email, a.created_at, a.password_changed_at,
                    (SELECT COUNT(*) FROM admin_sessions s WHERE s.admin_id = a.id) AS sessions
             FROM admins a ORDER BY a.email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AdminAccount {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    created_at: from_secs(row.try_get("created_at")?),
                    password_changed_at: from_secs(row.try_get("password_changed_at")?),
                    sessions: row.try_get("sessions")?,
                })
            })
            .collect()
    }

    /// The account a login names, if there is one.
    pub async fn admin_credentials(
        &self,
        email: &str,
    ) -> Result<Option<AdminCredentials>, StoreError> {
        let row = sqlx::query("SELECT id, email, password_hash FROM admins WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(AdminCredentials {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// Removes an admin and, with it, every session of theirs.
    pub async fn remove_admin(&self, email: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = admin_id(&mut tx, email).await?;
        sqlx::query("DELETE FROM admin_sessions WHERE admin_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM admins WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        let id = admin_id(&mut tx, email).await?;
        sqlx::query("UPDATE admins SET password_hash = ?, password_changed_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(to_secs(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM admin_sessions WHERE admin_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
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
        sqlx::query(
            "INSERT INTO admin_sessions (id_hash, admin_id, csrf, created_at, last_seen)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&id_hash[..])
        .bind(admin_id)
        .bind(csrf)
        .bind(to_secs(now))
        .bind(to_secs(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session whose cookie hashes to `id_hash`, expired or not.
    pub async fn admin_session(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<AdminSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.admin_id, a.email, s.csrf, s.created_at, s.last_seen
             FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
             WHERE s.id_hash = ?",
        )
        .bind(&id_hash[..])
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(AdminSession {
                admin_id: row.try_get("admin_id")?,
                email: row.try_get("email")?,
                csrf: row.try_get("csrf")?,
                created_at: from_secs(row.try_get("created_at")?),
                last_seen: from_secs(row.try_get("last_seen")?),
            })
        })
        .transpose()
    }

    /// Records that a session was used at `now`.
    pub async fn touch_admin_session(
        &self,
        id_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE admin_sessions SET last_seen = ? WHERE id_hash = ?")
            .bind(to_secs(now))
            .bind(&id_hash[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session; ending one that is gone already is not an error.
    pub async fn remove_admin_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = ?")
            .bind(&id_hash[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes the sessions last used before `idle_before` or started before
    /// `started_before`; returns how many.
    pub async fn prune_admin_sessions(
        &self,
        idle_before: DateTime<Utc>,
        started_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM admin_sessions WHERE last_seen < ? OR created_at < ?")
            .bind(to_secs(idle_before))
            .bind(to_secs(started_before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn admin_id(tx: &mut sqlx::SqliteConnection, email: &str) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM admins WHERE email = ?")
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::AdminNotFound(email.to_string()))
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

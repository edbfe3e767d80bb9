//! What several crier instances on one database agree on through it: who is alive
//! (a heartbeat row per instance), who does a piece of work that must be done once
//! (a lease per key, taken, renewed and released in one statement each), and how
//! many requests a client made in a window across every instance (a count per key
//! and fixed window, raised and read in one statement).
//!
//! Every statement here is one PostgreSQL runs unchanged (`$n` placeholders,
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE …`, `RETURNING`, times in BIGINT unix
//! seconds), so that each is atomic on either backend without a transaction around
//! it. The store decides nothing: the timeouts, the keys and what a count means are
//! the callers'.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Connection;

use super::{Dialect, Get, Store, StoreError, from_secs, to_secs};
use crate::model::Instance;

/// The first key of the advisory locks that hold instance names (the second is the
/// name's hash). The two-key lock space is apart from the one-key space the
/// migration and write locks use.
const NAME_LOCK_CLASS: i32 = 0x6372_6e31;

/// An instance name this process holds for as long as this value lives: a session
/// advisory lock on a connection of its own. The server drops the lock when the
/// connection ends, so a killed process loses its name at once, and one on a lost
/// host once the keepalives set here give up (about 30 s).
pub struct NameHold {
    name: String,
    _connection: sqlx::PgConnection,
}

impl NameHold {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for NameHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameHold")
            .field("name", &self.name)
            .finish()
    }
}

fn instance(row: &impl Get) -> Result<Instance, sqlx::Error> {
    Ok(Instance {
        id: row.get("id")?,
        host: row.get("host")?,
        pid: row.get("pid")?,
        started_at: from_secs(row.get("started_at")?),
        beat_at: from_secs(row.get("beat_at")?),
    })
}

impl Store {
    /// Takes `name` for this process on a shared database, waiting up to `wait` for a
    /// process that held it to go (a predecessor killed a moment ago). Only the
    /// holder may give back the outbox rows claimed in that name
    /// ([`Store::release_in_flight`]). A SQLite database needs no name (one daemon
    /// holds the file), and gets `None`.
    pub async fn hold_name(
        &self,
        name: &str,
        wait: Duration,
    ) -> Result<Option<NameHold>, StoreError> {
        let Some(options) = &self.postgres else {
            return Ok(None);
        };
        let mut connection = sqlx::PgConnection::connect_with(&options.0).await?;
        // The server notices a vanished client after these keepalives, not hours.
        sqlx::raw_sql(
            "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; \
             SET tcp_keepalives_count = 4",
        )
        .execute(&mut connection)
        .await?;
        let started = std::time::Instant::now();
        loop {
            let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(NAME_LOCK_CLASS)
                .bind(name)
                .fetch_one(&mut connection)
                .await?;
            if held {
                return Ok(Some(NameHold {
                    name: name.to_string(),
                    _connection: connection,
                }));
            }
            if started.elapsed() >= wait {
                return Err(StoreError::NameTaken(name.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Records that `instance` is alive at `instance.beat_at`: its row is made on the
    /// first beat and its beat time moved on the next ones.
    pub async fn beat(&self, instance: &Instance) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query(
                "INSERT INTO instances (id, host, pid, started_at, beat_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
            )
            .bind(&instance.id)
            .bind(&instance.host)
            .bind(instance.pid)
            .bind(to_secs(instance.started_at))
            .bind(to_secs(instance.beat_at))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The instances that beat after `since`, oldest first.
    pub async fn live_instances(&self, since: DateTime<Utc>) -> Result<Vec<Instance>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .query(
                "SELECT id, host, pid, started_at, beat_at FROM instances WHERE beat_at > $1 \
                 ORDER BY started_at, id",
            )
            .bind(to_secs(since))
            .try_map(|row| instance(&row))
            .fetch_all(pool)
            .await?))
    }

    /// Removes an instance's row: it stopped cleanly.
    pub async fn remove_instance(&self, id: &str) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Takes the lease on `key` for `holder` until `now + ttl_secs` when it is free,
    /// has run out, or is `holder`'s already (a renewal); false when another holder's
    /// lease still runs. One statement: two callers at once cannot both get it.
    pub async fn try_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Result<bool, StoreError> {
        let got: Option<String> = with_pool!(self, pool, d => d
            .scalar(
                "INSERT INTO leases (key, holder, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                 WHERE leases.until <= $4 OR leases.holder = excluded.holder \
                 RETURNING holder",
            )
            .bind(key)
            .bind(holder)
            .bind(to_secs(now) + ttl_secs.max(0))
            .bind(to_secs(now))
            .fetch_optional(pool)
            .await?);
        Ok(got.is_some())
    }

    /// Who holds the lease on `key` at `now`; `None` when it is free or ran out.
    pub async fn lease_holder(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .scalar("SELECT holder FROM leases WHERE key = $1 AND until > $2")
            .bind(key)
            .bind(to_secs(now))
            .fetch_optional(pool)
            .await?))
    }

    /// Gives up `holder`'s lease on `key`; another holder's lease is left alone.
    pub async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, pool, d => d
            .query("DELETE FROM leases WHERE key = $1 AND holder = $2")
            .bind(key)
            .bind(holder)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Counts one hit on `key` in the window that starts at `window_start` and
    /// returns the window's count, this hit included.
    pub async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(with_pool!(self, pool, d => d
            .scalar(
                "INSERT INTO rate_hits (key, window_start, count) VALUES ($1, $2, 1) \
                 ON CONFLICT (key, window_start) DO UPDATE SET count = rate_hits.count + 1 \
                 RETURNING count",
            )
            .bind(key)
            .bind(to_secs(window_start))
            .fetch_one(pool)
            .await?))
    }

    /// Deletes what no one reads any more: hit counts of windows that started before
    /// `windows_before`, leases that ran out before `leases_before`, and the rows of
    /// instances silent since `instances_before` (they died without saying so).
    /// Returns the rows deleted.
    pub async fn prune_coordination(
        &self,
        windows_before: DateTime<Utc>,
        leases_before: DateTime<Utc>,
        instances_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for (sql, at) in [
            (
                "DELETE FROM rate_hits WHERE window_start < $1",
                windows_before,
            ),
            ("DELETE FROM leases WHERE until < $1", leases_before),
            ("DELETE FROM instances WHERE beat_at < $1", instances_before),
        ] {
            deleted += with_pool!(self, pool, d => d
                .query(sql)
                .bind(to_secs(at))
                .execute(pool)
                .await?
                .rows_affected());
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    /// Two handles on one database file: two instances as far as the SQL can tell.
    async fn two() -> (tempfile::TempDir, Store, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crier.db");
        let a = Store::open(&path).await.unwrap();
        let b = Store::open(&path).await.unwrap();
        (dir, a, b)
    }

    fn instance(id: &str, beat: i64) -> Instance {
        Instance {
            id: id.into(),
            host: "host".into(),
            pid: 42,
            started_at: at(0),
            beat_at: at(beat),
        }
    }

    #[tokio::test]
    async fn instances_are_live_while_they_beat_and_gone_once_removed() {
        let (_dir, a, b) = two().await;
        a.beat(&instance("a", 0)).await.unwrap();
        b.beat(&instance("b", 0)).await.unwrap();
        a.beat(&instance("a", 10)).await.unwrap();
        let live = b.live_instances(at(5)).await.unwrap();
        assert_eq!(live, vec![instance("a", 10)], "b's beat is older than 5 s");
        let ids = |v: Vec<Instance>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(ids(a.live_instances(at(-1)).await.unwrap()), ["a", "b"]);
        b.remove_instance("b").await.unwrap();
        assert_eq!(ids(a.live_instances(at(-1)).await.unwrap()), ["a"]);
        // A dead instance's row is pruned once it has been silent long enough.
        assert_eq!(a.prune_coordination(at(0), at(0), at(11)).await.unwrap(), 1);
        assert!(a.live_instances(at(-1)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_runs_out_or_is_released() {
        let (_dir, a, b) = two().await;
        assert!(a.try_lease("k", "a", at(0), 30).await.unwrap());
        assert!(!b.try_lease("k", "b", at(10), 30).await.unwrap());
        // The holder renews its own lease.
        assert!(a.try_lease("k", "a", at(20), 30).await.unwrap());
        assert!(!b.try_lease("k", "b", at(49), 30).await.unwrap());
        // A holder that died: its lease runs out and another takes it over.
        assert_eq!(
            a.lease_holder("k", at(49)).await.unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(a.lease_holder("k", at(50)).await.unwrap(), None, "ran out");
        assert!(b.try_lease("k", "b", at(50), 30).await.unwrap());
        assert!(!a.try_lease("k", "a", at(51), 30).await.unwrap());
        assert_eq!(
            a.lease_holder("k", at(51)).await.unwrap().as_deref(),
            Some("b")
        );
        // Releasing someone else's lease does nothing; releasing one's own frees it.
        a.release_lease("k", "a").await.unwrap();
        assert!(!a.try_lease("k", "a", at(52), 30).await.unwrap());
        b.release_lease("k", "b").await.unwrap();
        assert!(a.try_lease("k", "a", at(53), 30).await.unwrap());
        // Other keys are other leases.
        assert!(b.try_lease("other", "b", at(53), 30).await.unwrap());
    }

    #[tokio::test]
    async fn many_takers_at_once_get_one_lease() {
        let (_dir, a, b) = two().await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..16 {
            let store = if n % 2 == 0 { a.clone() } else { b.clone() };
            tasks.spawn(async move {
                store
                    .try_lease("run", &format!("holder-{n}"), at(0), 30)
                    .await
                    .unwrap()
            });
        }
        let won = tasks.join_all().await.into_iter().filter(|w| *w).count();
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn hits_count_per_key_and_window_across_handles() {
        let (_dir, a, b) = two().await;
        assert_eq!(a.hit("ip", at(0)).await.unwrap(), 1);
        assert_eq!(b.hit("ip", at(0)).await.unwrap(), 2);
        assert_eq!(a.hit("ip", at(0)).await.unwrap(), 3);
        assert_eq!(b.hit("other", at(0)).await.unwrap(), 1);
        assert_eq!(b.hit("ip", at(60)).await.unwrap(), 1, "a new window");
        // Old windows go; the current one stays.
        let far = at(0) + Duration::days(1);
        assert_eq!(a.prune_coordination(at(60), far, at(0)).await.unwrap(), 2);
        assert_eq!(a.hit("ip", at(60)).await.unwrap(), 2);
    }
}

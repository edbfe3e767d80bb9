//! The store: the only module that knows SQL. One [`Store`] owns the SQLite pool;
//! its methods speak in model types. Getters are nouns, changes are verb + noun.
//! The public API names no SQLite type, so a PostgreSQL backend can sit behind the
//! same methods.

mod admins;
mod bounces;
mod coord;
mod editions;
mod journal;
mod migrations;
mod outbox;
mod report;
mod search;
mod subscribers;
mod suppressions;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

pub use admins::{AdminAccount, AdminCredentials, AdminSession};
pub use bounces::BounceFilter;
pub use editions::EditionsVersion;
pub use journal::SentJournal;
pub use outbox::{Delivery, DeliveryFilter, OutboxCounts, Queue, Undelivered};
pub use report::{ACTIVITY_KINDS, DayCount, ZoneCount, outbox_by_status};
pub use search::{BulkChange, SortBy, SubscriberEvent, SubscriberPage, SubscriberQuery};
pub use subscribers::{
    Confirmation, ImportOutcome, KnownSignUp, NewSubscriber, Registration, Stats, SubscriberChanges,
};
pub use suppressions::Suppression;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database {path} was written by a newer crier (schema {found}, this one knows {known}); upgrade crier"
    )]
    NewerSchema {
        path: String,
        found: i64,
        known: usize,
    },
    #[error("a subscriber with the address {0} already exists")]
    Duplicate(String),
    #[error("no subscriber has the address {0}")]
    NotFound(String),
    #[error("an admin with the address {0} already exists")]
    AdminExists(String),
    #[error("no admin has the address {0}")]
    AdminNotFound(String),
    /// A page so far on that its first row's number does not fit the count.
    #[error("page {page} of {per_page} per page is out of range")]
    PageOutOfRange { page: u32, per_page: u32 },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(
        "the database folder {0} does not exist; create it (crier does not, so that a mistyped path is not a new, empty database with a new secret)"
    )]
    MissingFolder(String),
    #[error("cannot create the database {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("the sent journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating when missing, readable by its owner only) the database file,
    /// in WAL mode, and applies the migrations it lacks. Its folder must exist. The
    /// store works on the file's canonical path, so the files beside it (`-wal`,
    /// `.sent`) are the same whichever link the path came through.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let path = canonical_path(path)?;
        create_private(&path)?;
        let store = Store::connect(&path, 4).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The same database over one connection of its own, for a busy single user such
    /// as the delivery worker: SQLite drops a connection's page cache whenever another
    /// connection has written, so a user that keeps to one connection keeps its pages.
    pub async fn dedicated(&self) -> Result<Store, StoreError> {
        Store::connect(&self.path, 1).await
    }

    async fn connect(path: &Path, connections: u32) -> Result<Store, StoreError> {
        Ok(Store {
            pool: pool(options(path)?, connections).await?,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for open work and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await?)
    }

    /// A cheap query, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let found = self.schema_version().await?;
        let known = migrations::MIGRATIONS.len();
        if found > known as i64 {
            return Err(StoreError::NewerSchema {
                path: self.path.display().to_string(),
                found,
                known,
            });
        }
        for (index, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            if index + 1 == migrations::CLEAN_NAMES {
                clean_names(&mut tx).await?;
            }
            let version = format!("PRAGMA user_version = {}", index + 1);
            sqlx::raw_sql(sqlx::AssertSqlSafe(version))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = index + 1, "database migrated");
        }
        Ok(())
    }
}

/// Replaces control characters in stored names with spaces (see
/// [`crate::model::sanitize_name`]); a name left empty becomes no name.
async fn clean_names(tx: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT id, name FROM subscribers WHERE name IS NOT NULL")
        .fetch_all(&mut *tx)
        .await?;
    let mut cleaned = 0;
    for row in rows {
        let (id, name): (i64, String) = (row.try_get("id")?, row.try_get("name")?);
        if !name.chars().any(crate::model::forbidden_in_name) {
            continue;
        }
        sqlx::query("UPDATE subscribers SET name = ? WHERE id = ?")
            .bind(crate::model::sanitize_name(&name))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        cleaned += 1;
    }
    if cleaned > 0 {
        tracing::warn!(
            subscribers = cleaned,
            "removed control characters from names"
        );
    }
    Ok(())
}

/// Rows per multi-row statement: well under SQLite's 32,766 bound parameters at 13 a row.
const ROWS_PER_STATEMENT: usize = 500;

/// `n` copies of a placeholder group, comma-separated. Only placeholders are ever
/// spliced into SQL; the values are bound.
fn placeholders(group: &str, n: usize) -> String {
    vec![group; n].join(", ")
}

/// The database's path with every link resolved: its folder's canonical path and,
/// when the file exists, the file's own (it may be a link too). One database has one
/// such path, which the daemon's lock and the generated secret go beside. A missing
/// folder is an error that names it.
pub fn canonical_path(database: &Path) -> Result<PathBuf, StoreError> {
    let dir = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let missing = || StoreError::MissingFolder(dir.display().to_string());
    let dir = std::fs::canonicalize(dir).map_err(|_| missing())?;
    if !dir.is_dir() {
        return Err(missing());
    }
    let file = dir.join(database.file_name().unwrap_or_default());
    Ok(std::fs::canonicalize(&file).unwrap_or(file))
}

/// Options that create a file readable and writable by its owner only. SQLite gives
/// its `-wal` and `-shm` files the database file's permissions.
pub fn private_file_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes the database file, empty and private, unless it exists: SQLite would make
/// it readable by everyone (under the usual umask).
fn create_private(path: &Path) -> Result<(), StoreError> {
    match private_file_options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// A file next to the database, named after it: `beside("crier.db", ".lock")` is
/// `crier.db.lock`.
pub fn beside(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    database.with_file_name(name)
}

/// How every connection to the database file is opened.
fn options(path: &Path) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        // `Store::open` has made the file, private; SQLite would make it readable by all.
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

async fn pool(options: SqliteConnectOptions, connections: u32) -> Result<SqlitePool, sqlx::Error> {
    SqlitePoolOptions::new()
        .max_connections(connections)
        // A local file needs no ping before each use; it would double the round trips
        // to sqlx's worker thread for every statement.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// Statements of this many rows or fewer stay prepared, whatever their size.
const SHORT_STATEMENT: usize = 16;

/// A statement over `rows` rows of placeholders. sqlx keeps every distinct SQL text
/// prepared in the connection's cache, and the row count is part of the text. So a
/// large job that leaves an odd-sized last batch in each of its chunks would fill the
/// cache with big statements (one of 500 rows holds several MB). Only full batches
/// and short statements, such as a group commit of a few ids, are kept.
fn multi_row<'q>(sql: String, rows: usize) -> Query<'q, Sqlite, SqliteArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(rows == ROWS_PER_STATEMENT || rows <= SHORT_STATEMENT)
}

fn to_secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_secs(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewContent;

    #[tokio::test]
    async fn a_queue_commit_leaves_the_log_for_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crier.db");
        let store = Store::open(&path).await.unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        // 12 MB: far past the 1,000 pages at which a commit would checkpoint.
        let body = "x".repeat(6_000_000);
        let mut queue = store
            .queue(
                &crate::model::MessageIds::new("example.org", b"test"),
                Utc::now(),
            )
            .await
            .unwrap();
        queue
            .save_contents(&[NewContent {
                subject: "s".into(),
                text: body.clone(),
                html: body,
            }])
            .await
            .unwrap();
        queue.commit().await.unwrap();
        assert!(
            size() < before + 1_000_000,
            "the commit copied the log into the database file"
        );
        let (frames, copied) = store.checkpoint().await.unwrap();
        assert!(frames > 2_000, "{frames} frames in the log");
        assert_eq!(copied, frames);
        assert!(
            size() > before + 10_000_000,
            "the checkpoint copied the bodies"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn a_missing_folder_is_named_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/crier.db");
        let err = Store::open(&path).await.unwrap_err();
        assert!(matches!(err, StoreError::MissingFolder(_)), "{err}");
        assert!(err.to_string().contains("nested"), "{err}");
        assert!(!dir.path().join("nested").exists());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_and_its_log_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crier.db");
        let store = Store::open(&path).await.unwrap();
        let mut queue = store
            .queue(
                &crate::model::MessageIds::new("example.org", b"test"),
                Utc::now(),
            )
            .await
            .unwrap();
        queue
            .save_contents(&[NewContent {
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
            }])
            .await
            .unwrap();
        queue.commit().await.unwrap();
        drop(store.sent_journal().await.unwrap());
        for name in ["crier.db", "crier.db-wal", "crier.db-shm", "crier.db.sent"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        store.close().await;
    }

    #[tokio::test]
    async fn opens_migrates_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crier.db");
        let store = Store::open(&path).await.unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            migrations::MIGRATIONS.len() as i64
        );
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        store.close().await;
        // Opening again applies nothing and keeps the data.
        let store = Store::open(&path).await.unwrap();
        sqlx::raw_sql("PRAGMA user_version = 99")
            .execute(&store.pool)
            .await
            .unwrap();
        store.close().await;
        let err = Store::open(&path).await.unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
    }
}

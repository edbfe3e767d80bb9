//! The store: the only module that knows SQL. One [`Store`] owns the pool of
//! whichever backend the configuration names, SQLite (the default) or PostgreSQL; its
//! methods speak in model types and name no backend type. Getters are nouns, changes
//! are verb + noun.
//!
//! Each method runs one block of sqlx code against the open pool ([`with_pool!`],
//! [`with_tx!`]): the block is compiled once per backend, and its SQL goes through the
//! backend's [`Dialect`], which leaves SQLite's text as it is and numbers the `?`
//! placeholders for PostgreSQL. Where the dialects differ, the method picks its text
//! per backend beside the other ([`Dialect::pick`]).

/// Runs `$body` against the store's pool: `$pool` is `&SqlitePool` or `&PgPool` and
/// `$d` the backend's [`Dialect`]. The body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident, $d:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $d = $crate::store::Lite;
                $body
            }
            $crate::store::Pool::Postgres($pool) => {
                #[allow(unused_variables)]
                let $d = $crate::store::Pg;
                $body
            }
        }
    };
}

/// Runs `$body` in an open [`Tx`] (given as `&mut Tx`): `$c` is the backend's
/// `&mut Transaction` (an executor as `&mut **$c`) and `$d` its [`Dialect`].
macro_rules! with_tx {
    ($tx:expr, $c:ident, $d:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite($c) => {
                #[allow(unused_variables)]
                let $d = $crate::store::Lite;
                $body
            }
            $crate::store::Tx::Postgres($c) => {
                #[allow(unused_variables)]
                let $d = $crate::store::Pg;
                $body
            }
        }
    };
}

mod admins;
mod bounces;
mod coord;
mod copy;
mod dialect;
mod editions;
mod import;
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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

pub use admins::{AdminAccount, AdminCredentials, AdminSession};
pub use bounces::BounceFilter;
pub use coord::NameHold;
pub use copy::Copied;
pub(crate) use dialect::{Dialect, Get, Lite, Pg};
pub use editions::EditionsVersion;
pub use import::Import;
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
    #[error("cannot copy the database: {0}")]
    Copy(String),
    #[error("no randomness for a secret: {0}")]
    Random(String),
    #[error("the database URL {0} is not valid: {1}")]
    BadUrl(String, String),
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
    /// Another live process holds this instance name.
    #[error(
        "another crier process connected to this database is running as the instance `{0}`; give each instance its own name"
    )]
    NameTaken(String),
}

/// The open pool, of one backend or the other.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction, of one backend or the other (see [`with_tx!`]).
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// The key of the PostgreSQL advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x0063_7269_6572_0001;
/// The key of the PostgreSQL advisory lock every write transaction takes
/// ([`Store::write_tx`]): writers queue one behind the other, as they do on SQLite.
const WRITE_LOCK: i64 = 0x0063_7269_6572_0002;

#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// SQLite: the database file's canonical path. PostgreSQL: `<state_dir>/crier`,
    /// the stem this instance's own files are named from (`crier.sent`).
    path: PathBuf,
    /// PostgreSQL: how to connect again.
    postgres: Option<PgOptions>,
    /// PostgreSQL: the secret every instance shares, kept in the database.
    secret: Option<Secret>,
}

/// The shared secret, never printed by `Debug`.
#[derive(Clone)]
struct Secret(std::sync::Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// PostgreSQL's connect options, whose `Debug` leaves the password out (sqlx's own
/// prints it).
#[derive(Clone)]
struct PgOptions(PgConnectOptions);

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("host", &self.0.get_host())
            .field("port", &self.0.get_port())
            .field("username", &self.0.get_username())
            .field("database", &self.0.get_database())
            .finish_non_exhaustive()
    }
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

    /// Connects to a PostgreSQL database (`postgres://user:password@host/db`) and
    /// applies the migrations it lacks, under an advisory lock so that instances
    /// starting together migrate once. `state_dir` is this instance's own folder (its
    /// sent journal); it must exist.
    pub async fn open_postgres(url: &str, state_dir: &Path) -> Result<Store, StoreError> {
        let dir = std::fs::canonicalize(state_dir)
            .ok()
            .filter(|d| d.is_dir())
            .ok_or_else(|| StoreError::MissingFolder(state_dir.display().to_string()))?;
        Store::postgres(url, dir.join("crier")).await
    }

    /// Connects to PostgreSQL, migrates, and reads (or makes) the shared secret.
    async fn postgres(url: &str, path: PathBuf) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(redact_url(url), e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            // A server that does not answer is an error at start within seconds.
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let mut store = Store {
            pool: Pool::Postgres(pool),
            path,
            postgres: Some(PgOptions(options)),
            secret: None,
        };
        store.migrate().await?;
        store.secret = store.load_shared_secret().await?;
        Ok(store)
    }

    /// The same database over one connection of its own, for a busy single user such
    /// as the delivery worker: SQLite drops a connection's page cache whenever another
    /// connection has written, so a user that keeps to one connection keeps its pages.
    /// On PostgreSQL, a small pool of its own.
    pub async fn dedicated(&self) -> Result<Store, StoreError> {
        match &self.postgres {
            None => Store::connect(&self.path, 1).await,
            Some(options) => Ok(Store {
                pool: Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(2)
                        .connect_with(options.0.clone())
                        .await?,
                ),
                path: self.path.clone(),
                postgres: Some(options.clone()),
                secret: self.secret.clone(),
            }),
        }
    }

    async fn connect(path: &Path, connections: u32) -> Result<Store, StoreError> {
        Ok(Store {
            pool: Pool::Sqlite(pool(options(path)?, connections).await?),
            path: path.to_path_buf(),
            postgres: None,
            secret: None,
        })
    }

    /// SQLite: the database file. PostgreSQL: `<state_dir>/crier`, the stem of this
    /// instance's own files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this crier migrates a database to.
    pub fn known_schema_version() -> i64 {
        migrations::MIGRATIONS.len() as i64
    }

    /// Whether other processes may share this database at once: PostgreSQL, where
    /// several instances may run on one database. A SQLite file has one daemon, which
    /// holds its lock, so its limits and schedules can stay in memory.
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// What to call the database in messages: the file, or the PostgreSQL database
    /// without its password.
    pub fn describe(&self) -> String {
        match &self.postgres {
            None => self.path.display().to_string(),
            Some(PgOptions(options)) => format!(
                "postgres://{}@{}:{}/{}",
                options.get_username(),
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
        }
    }

    /// Waits for open work and closes every connection.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar::<_, i64>("PRAGMA user_version")
                    .fetch_one(pool)
                    .await?
            }
            Pool::Postgres(pool) => pg_version(pool).await?,
        })
    }

    /// A cheap query, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool, d => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// A write transaction, holding the database's write lock from its start, so
    /// concurrent writers queue instead of failing to upgrade a read lock (SQLite's
    /// `BEGIN IMMEDIATE`; on PostgreSQL a transaction advisory lock that every write
    /// transaction takes, so what a guard such as [`KnownSignUp`] read stays true).
    pub(crate) async fn write_tx(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// A plain transaction (no write lock up front).
    pub(crate) async fn tx(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => self.migrate_sqlite(pool).await,
            Pool::Postgres(pool) => {
                // One connection holds the session lock for the whole migration, so
                // instances starting at once migrate one after the other.
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await?;
                let result = self.migrate_postgres(&mut conn).await;
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await;
                result?;
                unlocked?;
                Ok(())
            }
        }
    }

    async fn migrate_sqlite(&self, pool: &SqlitePool) -> Result<(), StoreError> {
        let found = self.schema_version().await?;
        let known = migrations::MIGRATIONS.len();
        if found > known as i64 {
            return Err(StoreError::NewerSchema {
                path: self.describe(),
                found,
                known,
            });
        }
        for (index, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let mut tx = pool.begin().await?;
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

    async fn migrate_postgres(&self, conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        // Asked first, so that a database already set up gets no server notice.
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('crier_schema') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            sqlx::raw_sql(
                "CREATE TABLE crier_schema (version BIGINT NOT NULL); \
                 INSERT INTO crier_schema (version) VALUES (0)",
            )
            .execute(&mut *conn)
            .await?;
        }
        let found: i64 = sqlx::query_scalar("SELECT version FROM crier_schema")
            .fetch_one(&mut *conn)
            .await?;
        let known = migrations::POSTGRES.len();
        if found > known as i64 {
            return Err(StoreError::NewerSchema {
                path: self.describe(),
                found,
                known,
            });
        }
        for (index, sql) in migrations::POSTGRES.iter().enumerate().skip(found as usize) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            if !sql.trim().is_empty() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE crier_schema SET version = $1")
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = index + 1, "database migrated");
        }
        Ok(())
    }

    /// The secret kept in the database, shared by every instance (PostgreSQL): 64 hex
    /// digits made from 32 random bytes by the first instance to open the database.
    /// `None` on SQLite, whose secret is a file beside it.
    pub fn shared_secret(&self) -> Option<&str> {
        self.secret.as_ref().map(|s| &*s.0)
    }

    /// Reads the shared secret, storing a new one first if there is none (the first
    /// instance to store one wins).
    async fn load_shared_secret(&self) -> Result<Option<Secret>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
        sqlx::query(
            "INSERT INTO crier_settings (name, value) VALUES ('secret', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(crate::model::hex(&bytes))
        .execute(pool)
        .await?;
        let secret: String =
            sqlx::query_scalar("SELECT value FROM crier_settings WHERE name = 'secret'")
                .fetch_one(pool)
                .await?;
        Ok(Some(Secret(secret.into())))
    }
}

async fn pg_version(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('crier_schema') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT version FROM crier_schema")
        .fetch_one(pool)
        .await
}

/// Connections of a PostgreSQL store's pool.
const POSTGRES_CONNECTIONS: u32 = 8;

/// A PostgreSQL URL with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let mut text = parsed.to_string();
            if parsed.query().is_some_and(|q| q.contains("password")) {
                text = text.split('?').next().unwrap_or_default().to_string();
            }
            text
        }
        Err(_) => "(a URL that does not parse)".to_string(),
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
        let Pool::Sqlite(pool) = &store.pool else {
            unreachable!("opened a file")
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        store.close().await;
        // Opening again applies nothing and keeps the data.
        let store = Store::open(&path).await.unwrap();
        let Pool::Sqlite(pool) = &store.pool else {
            unreachable!("opened a file")
        };
        sqlx::raw_sql("PRAGMA user_version = 99")
            .execute(pool)
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

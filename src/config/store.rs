//! `[store]`, `[database]` and `[security]`: the folders and files crier reads and
//! keeps its data in, and the secret kept beside them. Only paths and sizes are
//! checked here; nothing is opened.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Origin};

/// `[store] max_file_bytes` when unset: 1 MiB, some hundred times a long article.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// The article folder.
    pub path: PathBuf,
    /// The audience taxonomy file.
    pub audiences: PathBuf,
    /// Larger article files are reported and skipped.
    pub max_file_bytes: u64,
}

/// Where subscribers and the outbox live: `[database] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// `sqlite://path/to/crier.db`: the file; its folder also holds the generated
    /// secret, the sent journal and the daemon's lock.
    Sqlite { path: PathBuf },
    /// `postgres://user:password@host/db`, shared by every instance (which keep the
    /// generated secret in it); `state_dir` holds this instance's own files (its sent
    /// journal); `instance` is this instance's name, if it has one, which lets it give
    /// back its own outbox claims at once when it restarts.
    Postgres {
        url: PostgresUrl,
        state_dir: PathBuf,
        instance: Option<String>,
    },
}

impl Database {
    /// The SQLite file, when the database is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Database::Sqlite { path } => Some(path),
            Database::Postgres { .. } => None,
        }
    }
}

/// A PostgreSQL URL. It may hold a password: `Debug` and `Display` show it as `***`;
/// only [`PostgresUrl::expose`] gives the whole URL, to connect with.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// A URL with any password (in its user part or its query) replaced by `***`.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed
                .query()
                .is_some_and(|q| q.to_ascii_lowercase().contains("password"))
            {
                parsed.set_query(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(an invalid URL)".to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// At least 32 characters; `None` means crier generates one in the data folder.
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    path: PathBuf,
    audiences: PathBuf,
    max_file_bytes: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            path: "articles".into(),
            audiences: "subscribers/audiences.toml".into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

impl RawStore {
    pub(super) fn validate(self, origin: &Origin) -> Result<Store, ConfigError> {
        if self.max_file_bytes == 0 {
            return Err(origin.invalid("store.max_file_bytes", "must be at least 1"));
        }
        Ok(Store {
            path: origin.resolve(self.path),
            audiences: origin.resolve(self.audiences),
            max_file_bytes: self.max_file_bytes,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDatabase {
    url: String,
    state_dir: Option<PathBuf>,
    instance: Option<String>,
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite://subscribers/crier.db".into(),
            state_dir: None,
            instance: None,
        }
    }
}

/// Instance names: what a systemd template's `%i` or a host name gives, short enough
/// to read in the outbox.
fn check_instance_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
    {
        return Err("may hold only ASCII letters, digits, `-`, `_`, `.` and `@`");
    }
    Ok(())
}

impl RawDatabase {
    /// Puts the values given outside the file in place of the file's.
    pub(super) fn apply(&mut self, overrides: &super::Overrides) {
        if let Some(url) = &overrides.database_url {
            self.url = url.clone();
        }
        if let Some(dir) = &overrides.state_dir {
            self.state_dir = Some(dir.clone());
        }
        if let Some(name) = &overrides.instance {
            self.instance = Some(name.clone());
        }
    }

    pub(super) fn validate(self, origin: &Origin) -> Result<Database, ConfigError> {
        let url = self.url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let parsed = url::Url::parse(url).map_err(|e| {
                origin.invalid(
                    "database.url",
                    format!("`{}` is not a valid URL: {e}", redacted(url)),
                )
            })?;
            if parsed.host_str().is_none_or(str::is_empty)
                && !parsed.query().is_some_and(|q| q.contains("host="))
            {
                return Err(
                    origin.invalid("database.url", format!("`{}` names no host", redacted(url)))
                );
            }
            let state_dir = self.state_dir.ok_or_else(|| {
                origin.invalid(
                    "database.state_dir",
                    "is required with a PostgreSQL url: the folder for this instance's own files (its sent journal)",
                )
            })?;
            if let Some(name) = &self.instance {
                check_instance_name(name)
                    .map_err(|why| origin.invalid("database.instance", why))?;
            }
            return Ok(Database::Postgres {
                url: PostgresUrl(url.to_string()),
                state_dir: origin.resolve(state_dir),
                instance: self.instance,
            });
        }
        if self.instance.is_some() {
            return Err(origin.invalid(
                "database.instance",
                "is for PostgreSQL only: one daemon holds a SQLite database and needs no name",
            ));
        }
        if self.state_dir.is_some() {
            return Err(origin.invalid(
                "database.state_dir",
                "is for PostgreSQL only: a SQLite database keeps its files beside it",
            ));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                origin.invalid(
                    "database.url",
                    format!(
                        "`{}` is not supported: crier stores its data in SQLite (`sqlite://path/to/crier.db`) or PostgreSQL (`postgres://user:password@host/db`)",
                        redacted(url)
                    ),
                )
            })?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return Err(origin.invalid("database.url", "must name a database file"));
        }
        Ok(Database::Sqlite {
            path: origin.resolve(PathBuf::from(path)),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSecurity {
    secret: Option<String>,
}

impl RawSecurity {
    pub(super) fn validate(self, origin: &Origin) -> Result<Security, ConfigError> {
        let secret = self.secret.filter(|s| !s.is_empty());
        if secret.as_ref().is_some_and(|s| s.chars().count() < 32) {
            return Err(origin.invalid("security.secret", "must be at least 32 characters long"));
        }
        Ok(Security { secret })
    }
}

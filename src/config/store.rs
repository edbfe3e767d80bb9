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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The SQLite file; its folder also holds the generated secret.
    pub path: PathBuf,
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
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite://subscribers/crier.db".into(),
        }
    }
}

impl RawDatabase {
    pub(super) fn validate(self, origin: &Origin) -> Result<Database, ConfigError> {
        let url = self.url.trim();
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                origin.invalid(
                    "database.url",
                    format!(
                        "`{url}` is not supported: crier stores its data in SQLite (`sqlite://path/to/crier.db`)"
                    ),
                )
            })?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return Err(origin.invalid("database.url", "must name a database file"));
        }
        Ok(Database {
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

//! A running `crier serve` among the several that may share one database.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A running `crier serve`, as its heartbeat row says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Random at each start: a restarted process is a new instance.
    pub id: String,
    /// For people: the machine it runs on.
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub beat_at: DateTime<Utc>,
}

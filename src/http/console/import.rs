//! The console's CSV import: upload, preview, a background run with progress, and
//! the per-line report of bad rows.

use std::sync::Arc;

use axum::Router;

use crate::http::Shared;

/// Imports running or finished since the daemon started.
#[derive(Default)]
pub(crate) struct Imports {}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

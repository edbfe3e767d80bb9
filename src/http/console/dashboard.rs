//! The console's dashboard page(s). (Being built: see ARCHITECTURE.md's console paragraph.)

use std::sync::Arc;

use axum::Router;

use crate::http::Shared;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

//! The HTTP face of crier: `router(state)` gives the axum router. Feeds and pages are
//! served from the in-memory [`Site`](crate::site::Site) with conditional GET and
//! precompressed bodies.

mod documents;

use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::site::Site;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub site: watch::Receiver<Arc<Site>>,
    /// `Cache-Control: max-age` for documents.
    pub max_age: u32,
    /// The WebSub hub advertised in feeds' `Link` headers.
    pub hub: Option<String>,
    /// The public base URL, for absolute `Link` targets.
    pub base_url: url::Url,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .fallback(documents::serve)
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

//! The admin console under `/admin`: server-rendered pages for the people who run a
//! list. It works without JavaScript; every action is a POST with a CSRF token, and
//! every action calls the same services as the CLI and the JSON API (subscriptions,
//! digests, the store's queries), so the console holds no rule of its own.
//!
//! One file per page: `auth` (log in, log out, the session and CSRF checks every
//! other page relies on), `dashboard`, `subscribers`, `import`, `audiences`,
//! `articles`, `digests` and `deliveries`. `views` renders a page inside the shared
//! layout and serves the stylesheet.

mod articles;
mod audiences;
mod auth;
pub mod chart;
mod dashboard;
mod deliveries;
mod digests;
mod import;
mod subscribers;
mod views;

use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;

use super::Shared;
use crate::articles::Library;

pub use auth::SessionSettings;
pub(crate) use auth::{Admin, CsrfForm};
pub(crate) use views::{console_page, not_found};

/// What every console page works with: the subscriber stack and the console's own
/// state. The console's routes are merged only when both are served
/// (`http::router_for`), and the [`Admin`] extractor needs both to find a session,
/// so a handler that has an `Admin` always gets them; the 404 page is there so that a
/// wiring mistake answers instead of panicking.
pub(crate) fn parts<'a>(
    state: &'a Shared,
    admin: &Admin,
) -> Result<(&'a super::People, &'a Console), axum::response::Response> {
    auth::parts(state)
        .map(|(console, people)| (people, console))
        .ok_or_else(|| not_found(state, Some(admin), "The console is not set up here."))
}

/// What the console needs beyond [`super::People`], which it also requires.
#[derive(Clone)]
pub struct Console {
    /// The digests service: schedules, previews, test sends and dry runs.
    pub digests: crate::digests::Digests,
    /// The store as the daemon sees it now.
    pub library: watch::Receiver<Arc<Library>>,
    /// The next firings of every digest (the scheduler's), when the daemon runs one.
    pub upcoming: Option<Arc<dyn crate::health::Upcoming>>,
    /// Session lifetimes and the cookie's `Secure` flag.
    pub sessions: SessionSettings,
    /// State kept by the running console: login attempts (unless counted in the
    /// database), background imports.
    pub state: Arc<ConsoleState>,
}

/// What the console keeps in memory while it runs.
#[derive(Default)]
pub struct ConsoleState {
    pub(crate) logins: auth::LoginLimits,
    pub(crate) imports: import::Imports,
    /// The audiences page's report on the library, kept while the library stays.
    pub(crate) audiences: crate::articles::report::ReportCache,
    /// The dashboard's past days, counted once a day.
    pub(crate) history: dashboard::History,
}

impl ConsoleState {
    /// The state of a console whose login limits are counted in the database, for
    /// several instances sharing it (see [`crate::http::SharedCounts`]).
    pub fn with_shared_logins(counts: crate::http::SharedCounts) -> ConsoleState {
        ConsoleState {
            logins: auth::LoginLimits::shared(counts),
            ..ConsoleState::default()
        }
    }

    /// Prepares, off the request path, what the slow pages would otherwise work out
    /// on their first request: the audience report of each new library (the daemon
    /// calls this whenever the watcher sends one; it runs on a blocking thread).
    pub fn prepare_library(&self, library: &Arc<Library>) {
        self.audiences.get(library);
    }

    /// Counts the dashboard's past days before anyone asks (at start).
    pub async fn prepare_dashboard(
        &self,
        store: &crate::store::Store,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), crate::store::StoreError> {
        self.history.prepare(store, now).await
    }
}

/// Every console route, under `/admin`.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .merge(views::routes())
        .merge(auth::routes())
        .merge(dashboard::routes())
        .merge(subscribers::routes())
        .merge(import::routes())
        .merge(audiences::routes())
        .merge(articles::routes())
        .merge(digests::routes())
        .merge(deliveries::routes())
        .route_layer(axum::middleware::from_fn(private))
}

/// Nothing the console answers is kept by a cache or sent on as a Referer, and all
/// of it carries the console's Content-Security-Policy.
async fn private(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Redirects and plain-text refusals too; a handler that set a policy of its own
    // (the sandboxed digest preview) keeps it.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(views::POLICY));
    response
}

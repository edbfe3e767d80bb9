//! The HTTP face of crier: `router(state)` gives the axum router. Feeds and pages are
//! served from the in-memory [`Site`](crate::site::Site) with conditional GET and
//! precompressed bodies; the subscriber pages and the admin API sit beside them.
//!
//! A front end only: handlers parse the request, call `subscriptions` or the store,
//! and render. It must not use `delivery` or `scheduler`; the health checks read
//! what those publish in [`crate::health`].

// Handlers return early with a ready `Response` as their error; boxing it would
// only add noise.
#![allow(clippy::result_large_err)]

mod admin;
pub mod console;
mod documents;
mod edge;
mod limit;
mod ops;
mod subscribe;
mod webhooks;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::handler::Handler as _;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::feeds::SiteMeta;
use crate::site::Site;
use crate::subscriptions::Subscriptions;
use crate::templates::Templates;

pub use limit::{RateLimiter, SharedCounts};
pub use ops::{MailProbe, Ops, PROBE_TTL};
pub use subscribe::ReaderPages;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub site: watch::Receiver<Arc<Site>>,
    /// The public archive of digest editions under `/archive/`, kept current by
    /// `app` as runs write editions; `None` serves none.
    pub archive: Option<watch::Receiver<Arc<crate::site::Archive>>>,
    /// `Cache-Control: max-age` for documents.
    pub max_age: u32,
    /// The WebSub hub advertised in feeds' `Link` headers.
    pub hub: Option<String>,
    /// The public base URL, for absolute `Link` targets.
    pub base_url: url::Url,
    /// The subscriber pages and the admin API; without them only feeds are served.
    pub people: Option<People>,
    /// Health and metrics; without them `/healthz` only says the server is up.
    pub ops: Option<Ops>,
    /// The admin console under `/admin` (it also needs `people`); `None` serves no
    /// console.
    pub console: Option<console::Console>,
    /// The `sha256-…` sources of the pages' `<style>` blocks
    /// ([`Templates::page_styles`]): the only styles the pages' Content-Security-Policy
    /// lets a browser apply.
    pub page_styles: Vec<String>,
}

/// Everything the subscriber pages and the admin API need.
#[derive(Clone)]
pub struct People {
    pub subscriptions: Subscriptions,
    pub templates: Arc<Templates>,
    pub meta: Arc<SiteMeta>,
    /// The bearer token of `/api/`; `None` turns the API off.
    pub admin_token: Option<String>,
    /// Sign-ups and requests for a fresh preferences link, per client: both make
    /// crier mail an address someone typed.
    pub limiter: Arc<RateLimiter>,
    /// What the subscriber pages say beside the forms: the privacy policy, when
    /// each frequency is sent, the least frequent one.
    pub pages: ReaderPages,
    /// The proxies whose `X-Forwarded-For` hops are believed (`[http] trusted_proxies`).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Sign-ups being saved after their answer went out.
    pub sign_ups: SignUps,
    /// Bounces, complaints and mailed unsubscribes: what the providers' webhooks
    /// record, through the same service as the mailbox and the CLI.
    pub bounces: crate::bounces::Bounces,
}

/// Sign-ups are saved after the page answered, so that the answer takes the same
/// time whether the address was known or not. At most [`SignUps::MAX`] wait at once;
/// past that a sign-up is refused with 503 rather than queued without bound.
#[derive(Clone)]
pub struct SignUps {
    waiting: Arc<tokio::sync::Semaphore>,
    /// Told whenever a save ends.
    saved: Arc<tokio::sync::Notify>,
    /// The runtime that saves them: the one this was made on, which outlives the
    /// HTTP threads' own runtimes at shutdown.
    runtime: tokio::runtime::Handle,
}

impl Default for SignUps {
    fn default() -> Self {
        SignUps::new()
    }
}

impl SignUps {
    pub const MAX: u32 = 256;

    /// Saves sign-ups on the current runtime. Panics outside one.
    pub fn new() -> SignUps {
        SignUps {
            waiting: Arc::new(tokio::sync::Semaphore::new(SignUps::MAX as usize)),
            saved: Arc::default(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Runs `save` after the answer, unless [`SignUps::MAX`] already wait; then
    /// gives it back.
    fn save<F>(&self, save: F) -> Result<(), F>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.waiting).try_acquire_owned() else {
            return Err(save);
        };
        let saved = Arc::clone(&self.saved);
        self.runtime.spawn(async move {
            save.await;
            drop(permit);
            saved.notify_waiters();
        });
        Ok(())
    }

    /// Waits until every sign-up that was answered is saved (for shutdown and tests).
    pub async fn settled(&self) {
        loop {
            // Listening before looking, so that a save ending in between is not missed.
            let saved = self.saved.notified();
            if self.waiting.available_permits() == SignUps::MAX as usize {
                return;
            }
            saved.await;
        }
    }
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything, on the one listener there is when `[admin] listen` is unset;
    /// `/metrics` then asks for the admin token when one is set.
    All,
    /// Beside an admin listener: the site, the subscriber pages and the health
    /// checks, without `/metrics`, `/api/` and the console.
    Public,
    /// The admin listener: `/metrics` (no token: the listener's address is the
    /// protection), `/api/` (with its token), the console under `/admin` (with its
    /// login) and the health checks.
    Admin,
}

/// The state handlers see: the caller's [`AppState`] behind one `Arc`, so a request
/// clones a pointer rather than every handle, plus header values derived from it once.
pub(crate) struct Shared {
    app: AppState,
    /// `public, max-age=…`, the same for every document.
    cache_control: HeaderValue,
    /// The bearer token `/metrics` asks for, if any.
    metrics_token: Option<String>,
}

impl Deref for Shared {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.app
    }
}

/// Every route, for one listener ([`Surface::All`]).
pub fn router(state: AppState) -> Router {
    router_for(state, Surface::All)
}

/// The routes of one listener.
pub fn router_for(state: AppState, surface: Surface) -> Router {
    let cache_control = HeaderValue::try_from(format!("public, max-age={}", state.max_age))
        // Digits and ASCII always make a valid value; the fallback is never used.
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=300"));
    let people = state.people.is_some();
    let edge = Arc::new(edge::EdgeHeaders::new(
        &state.page_styles,
        &state.base_url.origin().ascii_serialization(),
    ));
    let metrics_token = match surface {
        Surface::All => state.people.as_ref().and_then(|p| p.admin_token.clone()),
        Surface::Public | Surface::Admin => None,
    };
    let state = Arc::new(Shared {
        app: state,
        cache_control,
        metrics_token,
    });
    let mut router = Router::new();
    if people && surface != Surface::Admin {
        router = router
            .route(
                "/subscribe",
                get(subscribe::form).post(subscribe::submit).layer(
                    axum::middleware::from_fn_with_state(Arc::clone(&edge), edge::own_scripts),
                ),
            )
            .route(subscribe::SCRIPT_PATH, get(subscribe::timezone_script))
            .route(
                "/confirm",
                get(subscribe::confirm_page).post(subscribe::confirm),
            )
            .route(
                "/unsubscribe",
                get(subscribe::unsubscribe_page).post(subscribe::unsubscribe),
            )
            .route("/unsubscribe/fewer", axum::routing::post(subscribe::fewer))
            .route(
                "/preferences",
                get(subscribe::preferences).post(subscribe::preferences_action),
            )
            .route("/preferences/data", get(subscribe::data))
            // Only the routes above: feeds and articles keep the browser's default.
            .route_layer(axum::middleware::from_fn(edge::no_referrer))
            // The providers' webhooks, which the providers call on the public side.
            .merge(webhooks::routes());
    }
    if surface != Surface::Public {
        if people {
            let api = admin::routes().route_layer(axum::middleware::from_fn(edge::no_referrer));
            router = router.nest("/api", api);
            if state.console.is_some() {
                router = router.merge(console::routes());
            }
        }
        router = router.route("/metrics", get(ops::metrics));
    }
    router = router
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz));
    // Every route under the common layers, innermost first: the request count, the
    // access log's span, the answer to a panic, and outermost the edge's headers, so
    // that even the answer to a panic has them.
    let counts = Arc::new(ops::RequestCounts::default());
    let secure = {
        let edge = Arc::clone(&edge);
        move |response: Response| edge.secure(response)
    };
    router = router
        .layer(ops::CountRequests(Arc::clone(&counts)))
        .layer(TraceLayer::new_for_http().make_span_with(edge::access_span))
        .layer(CatchPanicLayer::new())
        .layer(MapResponseLayer::new(secure.clone()));
    if surface != Surface::Admin {
        // Feeds and pages, the hot path, get the same layers stacked once around the
        // handler rather than through `Router::layer`: that boxes each layer around
        // the route, and axum clones the route, box by box, for every request it
        // answers (issue #22: 26 of a 304's 45 allocations).
        let documents = ServiceBuilder::new()
            .map_response(secure)
            .map_response(IntoResponse::into_response)
            .layer(CatchPanicLayer::new())
            .map_response(IntoResponse::into_response)
            .layer(TraceLayer::new_for_http().make_span_with(edge::access_span))
            .layer(ops::CountRequests(counts))
            .service(documents::serve.with_state(Arc::clone(&state)));
        router = router.fallback_service(documents);
    }
    router.with_state(state)
}

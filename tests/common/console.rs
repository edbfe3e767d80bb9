//! The admin console over a real socket, for the console's tests.
//!
//! ```ignore
//! let c = console::signed_in().await;           // a server, an admin, a session
//! let (status, headers, body) = c.get("/admin/subscribers").await;
//! let (status, _, _) = c.post_form("/admin/subscribers/1/unsubscribe", &[]).await;
//! c.app.store /* the same SQLite file */; c.app.clock.set(…) /* move time */
//! ```
//!
//! [`App::start`] serves the whole `router(state)` (feeds, subscriber pages, API and
//! console) with `axum::serve` on 127.0.0.1 and a free port, over a real SQLite file
//! in a temporary folder, with a [`FixedClock`] that the tests move, the digests
//! service over the fixture library (`tests/fixtures/valid`, demo taxonomy, the
//! default config's digests), and one admin ([`ADMIN_EMAIL`], [`ADMIN_PASSWORD`])
//! added through the store. [`Client`] keeps the session cookie itself (a tiny jar:
//! the `crier_admin` value from `Set-Cookie`, sent back as `Cookie`) and follows no
//! redirects, so tests see every 303.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crier::articles::Library;
use crier::clock::FixedClock;
use crier::http::console::{Console, ConsoleState, SessionSettings};
use crier::templates::Templates;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::watch;

pub const ADMIN_EMAIL: &str = "admin@news.example.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// What a request gave back: status, headers and the body as text.
pub type Reply = (StatusCode, HeaderMap, String);

/// How to start an [`App`]; `Options::default()` is what [`signed_in`] uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// The site's `base_url`; an `https` one makes the cookie `Secure`.
    pub base_url: &'static str,
    /// Believe `X-Forwarded-For` from 127.0.0.0/8.
    pub trust_proxy: bool,
    /// The admin API's bearer token.
    pub admin_token: Option<&'static str>,
    pub idle: std::time::Duration,
    pub absolute: std::time::Duration,
    /// Open this database instead of a new one in the app's folder: a second app on
    /// it stands in for a second instance.
    pub database: Option<std::path::PathBuf>,
    /// Count sign-ups and logins in the database, as instances that share it do.
    pub shared_limits: bool,
}

impl Default for Options {
    fn default() -> Self {
        let defaults = SessionSettings::default();
        Options {
            base_url: "https://news.example.test/",
            trust_proxy: false,
            admin_token: None,
            idle: defaults.idle,
            absolute: defaults.absolute,
            database: None,
            shared_limits: false,
        }
    }
}

/// A running crier with its console, and the handles a test reaches behind it.
pub struct App {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    pub addr: SocketAddr,
    pub store: crier::store::Store,
    pub subscriptions: crier::subscriptions::Subscriptions,
    pub digests: crier::digests::Digests,
    /// A delivery worker over the same store and a file outbox ([`App::outbox`]), not
    /// running: a test runs it when it wants messages sent.
    pub worker: crier::delivery::Worker,
    pub outbox: std::path::PathBuf,
    /// The time the whole app sees; `clock.set(…)` moves it.
    pub clock: Arc<FixedClock>,
    /// Replaces the library the console and the services see.
    pub library: watch::Sender<Arc<Library>>,
    /// The id of the admin [`ADMIN_EMAIL`].
    pub admin_id: i64,
    pub dir: tempfile::TempDir,
}

impl App {
    /// Starts crier with the console as `options` say.
    pub async fn start(options: Options) -> Arc<App> {
        use crier::delivery::{FileMailer, Worker, WorkerSettings, retry::RetryPolicy};
        use crier::http::{AppState, People, RateLimiter, router};

        let dir = tempfile::tempdir().unwrap();
        let store = match &options.database {
            // Two apps on one database file: two instances as far as the SQL can tell.
            Some(database) => crier::store::Store::open(database).await.unwrap(),
            None => super::backend::open_store(dir.path()).await,
        };
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let templates = Arc::new(Templates::embedded());
        let base_url = url::Url::parse(options.base_url).unwrap();
        let mut settings = super::subscription_settings();
        settings.base_url = base_url.clone();
        let signer = crier::tokens::Signer::new(super::SECRET);
        let library = super::library(&super::fixtures("valid"));
        let (library_tx, library_rx) = watch::channel(library);
        let subscriptions = crier::subscriptions::Subscriptions::new(
            store.clone(),
            signer.clone(),
            Arc::clone(&templates),
            clock.clone(),
            library_rx.clone(),
            settings,
        );
        let digests = crier::digests::Digests::new(
            subscriptions.clone(),
            Arc::clone(&templates),
            library_rx.clone(),
            crier::config::Config::defaults().unwrap().digests,
            clock.clone(),
            "news@news.example.test".into(),
            None,
        );
        let outbox = dir.path().join("outbox");
        let worker = Worker::new(
            store.clone(),
            Arc::new(FileMailer::new(outbox.clone()).unwrap()),
            Arc::new(super::composer(None)),
            clock.clone(),
            signer,
            WorkerSettings {
                concurrency: 4,
                rate_per_second: 0.0,
                policy: RetryPolicy::new(3, 48),
                lease_secs: 300,
                poll: std::time::Duration::from_millis(50),
                log_addresses: Default::default(),
            },
        );
        let hash = crier::tokens::passwords::hash_password(ADMIN_PASSWORD).unwrap();
        let admin_id = match store.add_admin(ADMIN_EMAIL, &hash, clock.now_utc()).await {
            Ok(id) => id,
            // A second app on a database that has the admin.
            Err(crier::store::StoreError::AdminExists(_)) => {
                store
                    .admin_credentials(ADMIN_EMAIL)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            }
            Err(e) => panic!("{e}"),
        };
        let shared = options.shared_limits.then(|| {
            crier::http::SharedCounts::new(
                store.clone(),
                crier::tokens::Signer::new(super::SECRET),
                clock.clone(),
            )
        });
        let (_site_tx, site) = watch::channel(Arc::new(super::site(&super::fixtures("valid"))));
        std::mem::forget(_site_tx);
        let state = AppState {
            site,
            archive: None,
            max_age: 60,
            hub: None,
            base_url: base_url.clone(),
            people: Some(People {
                subscriptions: subscriptions.clone(),
                templates,
                meta: Arc::new(super::meta()),
                admin_token: options.admin_token.map(str::to_string),
                limiter: Arc::new(match shared.clone() {
                    Some(counts) => RateLimiter::shared_per_minute(counts, 5),
                    None => RateLimiter::per_minute(5),
                }),
                pages: super::reader_pages(),
                trusted_proxies: if options.trust_proxy {
                    vec!["127.0.0.0/8".parse().unwrap()].into()
                } else {
                    Vec::new().into()
                },
                sign_ups: crier::http::SignUps::new(),
                bounces: crier::bounces::Bounces::new(
                    store.clone(),
                    crier::tokens::Signer::new(super::SECRET),
                    clock.clone(),
                    crier::config::Config::defaults().unwrap().bounces,
                ),
            }),
            ops: None,
            console: Some(Console {
                digests: digests.clone(),
                library: library_rx,
                upcoming: None,
                sessions: SessionSettings {
                    idle: options.idle,
                    absolute: options.absolute,
                    secure_cookie: base_url.scheme() == "https",
                },
                state: Arc::new(match shared {
                    Some(counts) => ConsoleState::with_shared_logins(counts),
                    None => ConsoleState::default(),
                }),
            }),
            page_styles: Templates::embedded().page_styles().to_vec(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
        Arc::new(App {
            base: format!("http://{addr}"),
            addr,
            store,
            subscriptions,
            digests,
            worker,
            outbox,
            clock,
            library: library_tx,
            admin_id,
            dir,
        })
    }

    /// A client with no session, from 127.0.0.1.
    pub fn client(self: &Arc<App>) -> Client {
        Client::new(Arc::clone(self), None)
    }

    /// A client with no session whose connections come from `ip` (any address in
    /// 127.0.0.0/8), as another client would.
    pub fn client_from(self: &Arc<App>, ip: &str) -> Client {
        Client::new(Arc::clone(self), Some(ip.parse().unwrap()))
    }

    /// Moves the app's clock on by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.set(self.clock.now_utc() + by);
    }
}

/// A fresh [`App`] and a client signed in as its admin, with the session's CSRF
/// token known.
pub async fn signed_in() -> Client {
    let app = App::start(Options::default()).await;
    let client = app.client();
    let (status, headers, body) = client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "login failed: {headers:?}\n{body}"
    );
    client
}

#[derive(Default)]
struct Jar {
    /// The `crier_admin` cookie's value.
    cookie: Option<String>,
    /// The session's CSRF token, scraped from a console page.
    csrf: Option<String>,
}

/// An HTTP client of one [`App`] with its own session cookie.
pub struct Client {
    pub app: Arc<App>,
    http: reqwest::Client,
    jar: Mutex<Jar>,
}

impl Client {
    fn new(app: Arc<App>, local: Option<std::net::IpAddr>) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .build()
            .unwrap();
        Client {
            app,
            http,
            jar: Mutex::default(),
        }
    }

    /// The session cookie's value, if the client has one.
    pub fn cookie(&self) -> Option<String> {
        self.jar.lock().unwrap().cookie.clone()
    }

    /// Replaces the session cookie (`None`: none), e.g. to replay an old one.
    pub fn set_cookie(&self, cookie: Option<String>) {
        self.jar.lock().unwrap().cookie = cookie;
    }

    /// The session's CSRF token, once known (after [`Client::login`]).
    pub fn csrf(&self) -> Option<String> {
        self.jar.lock().unwrap().csrf.clone()
    }

    /// Posts the login form. On success (303) keeps the new cookie and reads the
    /// session's CSRF token from the login page, which shows it to a signed-in admin.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        let reply = self
            .post_form_raw("/admin/login", &[("email", email), ("password", password)])
            .await;
        if reply.0 == StatusCode::SEE_OTHER {
            let (_, _, page) = self.get("/admin/login").await;
            self.jar.lock().unwrap().csrf = scrape_csrf(&page);
        }
        reply
    }

    /// GET `path` (with its query), with the session cookie.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(reqwest::Method::GET, path, &[], Vec::new())
            .await
    }

    /// POSTs a urlencoded form with the session's `csrf` field added (read from a
    /// console page first if the client has not seen it yet).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let csrf = match self.csrf() {
            Some(csrf) => csrf,
            None => {
                let (_, _, page) = self.get("/admin/login").await;
                let csrf = scrape_csrf(&page).expect("a signed-in client: no csrf on the page");
                self.jar.lock().unwrap().csrf = Some(csrf.clone());
                csrf
            }
        };
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        self.post_form_raw(path, &all).await
    }

    /// POSTs a urlencoded form exactly as given: no `csrf` field is added.
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.request(
            reqwest::Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
        )
        .await
    }

    /// Any request, with the session cookie and `headers` (for multipart bodies,
    /// `X-Forwarded-For` …). Keeps a `crier_admin` cookie the answer sets or clears.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.app.base))
            .body(body);
        if let Some(cookie) = self.cookie() {
            request = request.header("cookie", format!("crier_admin={cookie}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            if let Some(rest) = set.strip_prefix("crier_admin=") {
                let value = rest.split(';').next().unwrap_or_default();
                let mut jar = self.jar.lock().unwrap();
                if value.is_empty() || set.contains("Max-Age=0") {
                    jar.cookie = None;
                    jar.csrf = None;
                } else {
                    jar.cookie = Some(value.to_string());
                }
            }
        }
        let body = response.text().await.unwrap();
        (status, headers, body)
    }
}

/// The value of the first `name="csrf" value="…"` on a page.
pub fn scrape_csrf(page: &str) -> Option<String> {
    let at = page.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    let token = &page[at..at + page[at..].find('"')?];
    (!token.is_empty()).then(|| token.to_string())
}

/// Asserts what every answer under `/admin` carries: `Cache-Control: no-store` and a
/// Content-Security-Policy.
pub fn assert_private(what: &str, headers: &HeaderMap) {
    assert_eq!(
        headers.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}: {headers:?}"
    );
    assert!(
        headers
            .get("content-security-policy")
            .is_some_and(|v| !v.is_empty()),
        "{what}: no CSP: {headers:?}"
    );
}

/// Asserts a console page's markup keeps the console's rules: every field a person
/// fills in (any `<input>` but hidden and submit ones, every `<select>` and
/// `<textarea>`) has a `<label for>` naming its id or sits inside a `<label>`; no
/// `style=` attribute; no `<script`.
pub fn assert_sane_html(what: &str, page: &str) {
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "{what}: a script: {page}");
    assert!(
        !lower.contains(" style="),
        "{what}: an inline style: {page}"
    );
    for tag in ["<input", "<select", "<textarea"] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(tag).map(|i| i + from) {
            let end = at + lower[at..].find('>').expect("an unclosed tag");
            let element = &page[at..=end];
            from = end;
            let kind = attribute(element, "type").unwrap_or_default();
            if tag == "<input" && matches!(kind.as_str(), "hidden" | "submit") {
                continue;
            }
            let wrapped = lower[..at].rfind("<label").is_some_and(|open| {
                lower[..at]
                    .rfind("</label>")
                    .is_none_or(|close| close < open)
            });
            let labelled =
                attribute(element, "id").is_some_and(|id| page.contains(&format!(r#"for="{id}""#)));
            assert!(
                wrapped || labelled,
                "{what}: {element} has no label:\n{page}"
            );
        }
    }
}

/// The value of `name="…"` in one tag.
fn attribute(element: &str, name: &str) -> Option<String> {
    let key = format!(r#" {name}=""#);
    let at = element.find(&key)? + key.len();
    Some(element[at..at + element[at..].find('"')?].to_string())
}

impl Client {
    /// GETs a console page, asserting its status, its headers ([`assert_private`])
    /// and its markup ([`assert_sane_html`]); gives the body.
    pub async fn page(&self, path: &str, status: StatusCode) -> String {
        let (got, headers, body) = self.get(path).await;
        assert_eq!(got, status, "GET {path}: {body}");
        assert_private(path, &headers);
        assert_sane_html(path, &body);
        body
    }
}

/// An `href` or `src` value as a URL again (the templates escape `&` and `=`).
pub fn unescape(value: &str) -> String {
    value
        .replace("&#x3D;", "=")
        .replace("&amp;", "&")
        .replace("&#x2F;", "/")
}

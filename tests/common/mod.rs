//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod backend;
pub mod bounced;
pub mod console;
pub mod corpus;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crier::articles::{ArticleStore, Library};
use crier::audience::Taxonomy;
use crier::feeds::SiteMeta;
use crier::site::{Builder, Site};
use crier::templates::Templates;

/// Runs `crier build` with `config` into `out` and returns every file it wrote.
pub fn build_files(config: &Path, out: &Path) -> Vec<PathBuf> {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_crier"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "build",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success(), "crier build failed");
    files_under(out)
}

/// Every file under `root`, in no particular order.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The tests' weekly digest: Mondays at 07:00 on each reader's clock, a year's
/// articles at most 20, sent up to 6 hours late, archived. Tests change a field with
/// `Digest { max_articles: 5, ..weekly_digest() }`.
pub fn weekly_digest() -> crier::config::Digest {
    crier::config::Digest {
        name: "weekly".into(),
        cron: crier::cron::CronSchedule::parse("0 7 * * 1").unwrap(),
        subject: None,
        lookback: chrono::Duration::days(365),
        max_lateness: chrono::Duration::hours(6),
        max_articles: 20,
        archive: true,
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_taxonomy() -> Arc<Taxonomy> {
    Arc::new(Taxonomy::load(&repo().join("subscribers/audiences.toml")).unwrap())
}

pub fn library(dir: &Path) -> Arc<Library> {
    ArticleStore::load(dir, demo_taxonomy()).unwrap().snapshot()
}

/// `library` as the parts of crier that need the current library receive it; nothing
/// replaces it.
pub fn current(library: Arc<Library>) -> tokio::sync::watch::Receiver<Arc<Library>> {
    tokio::sync::watch::channel(library).1
}

/// No articles, only the demo taxonomy: what the subscriber services need of a library.
pub fn taxonomy_only() -> tokio::sync::watch::Receiver<Arc<Library>> {
    current(Arc::new(Library::new(
        Vec::new(),
        Vec::new(),
        demo_taxonomy(),
    )))
}

pub fn meta() -> SiteMeta {
    SiteMeta {
        title: "Fixture News".into(),
        description: "Briefs for tests.".into(),
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        author: "Fixture Desk".into(),
        author_email: Some("desk@news.example.test".into()),
        id_authority: "news.example.test".into(),
        id_date: "2026-01-01".into(),
        hub: None,
        limit: 50,
        ttl_minutes: 5,
    }
}

pub fn builder(meta: SiteMeta) -> Builder {
    Builder::new(meta, Arc::new(Templates::embedded()))
}

/// The time the test sites are rendered at: 2026-09-21T01:46:40Z.
pub fn render_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000)
}

pub fn site(dir: &Path) -> Site {
    builder(meta()).build(library(dir), render_time()).unwrap()
}

pub fn fixtures(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A fixed secret for tests.
pub const SECRET: &[u8] = b"test secret, thirty-two bytes or more!";

/// Everything the subscriber pages need, over a real SQLite file and a file outbox.
pub struct People {
    pub dir: tempfile::TempDir,
    /// The router, except that every request returns only once the sign-ups it
    /// answered are saved, as tests expect to find them.
    pub router: axum::Router,
    /// The router as served: sign-ups are saved after the answer.
    pub served: axum::Router,
    pub sign_ups: crier::http::SignUps,
    pub store: crier::store::Store,
    pub subscriptions: crier::subscriptions::Subscriptions,
    pub worker: crier::delivery::Worker,
    pub outbox: PathBuf,
    pub clock: Arc<crier::clock::FixedClock>,
}

/// The fixture site's composer, sending everything to `test_recipient` if given.
pub fn composer(test_recipient: Option<&str>) -> crier::app::OutboxComposer {
    crier::app::OutboxComposer::new(
        crier::email::Composer::new(
            "Fixture News <news@news.example.test>".parse().unwrap(),
            None,
            test_recipient.map(|t| t.parse().unwrap()),
            None,
        )
        .unwrap(),
    )
}

/// The subscription settings of the fixture site.
pub fn subscription_settings() -> crier::subscriptions::Settings {
    crier::subscriptions::Settings {
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        site_title: "Fixture News".into(),
        postal_address: "Fixture Desk, 1 Test Lane, Testville".into(),
        email_domain: "news.example.test".into(),
        frequencies: vec!["daily".into(), "weekly".into()],
        default_frequency: "weekly".into(),
        default_timezone: "UTC".into(),
        consent_version: "test-1".into(),
        confirm_hours: 72,
    }
}

/// What the subscriber pages say beside the forms: the fixture's privacy policy,
/// and the two schedules of [`subscription_settings`].
pub fn reader_pages() -> crier::http::ReaderPages {
    let config = crier::config::Config::parse(
        "[site]\nprivacy_url = \"https://news.example.test/privacy\"\n\
         [[digest]]\nname = \"daily\"\ncron = \"0 7 * * *\"\n\
         [[digest]]\nname = \"weekly\"\ncron = \"0 7 * * 1\"\n",
        None,
    )
    .unwrap();
    crier::http::ReaderPages::new(config.site.privacy_url.as_ref(), &config.digests)
}

pub async fn people(admin_token: Option<&str>, trust_proxy: bool) -> People {
    people_with(
        admin_token,
        trust_proxy,
        crier::config::Config::defaults().unwrap().bounces,
    )
    .await
}

/// [`people`] with its own `[bounces]` settings (the webhooks' keys, the policy).
pub async fn people_with(
    admin_token: Option<&str>,
    trust_proxy: bool,
    bounces: crier::config::Bounces,
) -> People {
    use crier::delivery::{FileMailer, Worker, WorkerSettings, retry::RetryPolicy};
    use crier::http::{AppState, People as HttpPeople, RateLimiter, router};

    let dir = tempfile::tempdir().unwrap();
    let store = backend::open_store(dir.path()).await;
    let clock = Arc::new(crier::clock::FixedClock::new(chrono::Utc::now()));
    let templates = Arc::new(Templates::embedded());
    let settings = subscription_settings();
    let signer = crier::tokens::Signer::new(SECRET);
    let subscriptions = crier::subscriptions::Subscriptions::new(
        store.clone(),
        signer.clone(),
        Arc::clone(&templates),
        clock.clone(),
        taxonomy_only(),
        settings,
    );
    let outbox = dir.path().join("outbox");
    let composer = composer(None);
    let worker = Worker::new(
        store.clone(),
        Arc::new(FileMailer::new(outbox.clone()).unwrap()),
        Arc::new(composer),
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
    let sign_ups = crier::http::SignUps::new();
    let (_tx, site) = tokio::sync::watch::channel(Arc::new(site(&fixtures("valid"))));
    std::mem::forget(_tx);
    let state = AppState {
        site,
        archive: None,
        max_age: 60,
        hub: None,
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        people: Some(HttpPeople {
            subscriptions: subscriptions.clone(),
            templates,
            meta: Arc::new(meta()),
            admin_token: admin_token.map(str::to_string),
            limiter: Arc::new(RateLimiter::per_minute(5)),
            pages: reader_pages(),
            trusted_proxies: if trust_proxy {
                vec!["127.0.0.0/8".parse().unwrap()].into()
            } else {
                Vec::new().into()
            },
            sign_ups: sign_ups.clone(),
            bounces: crier::bounces::Bounces::new(
                store.clone(),
                crier::tokens::Signer::new(SECRET),
                clock.clone(),
                bounces,
            ),
        }),
        ops: None,
        console: None,
        page_styles: Templates::embedded().page_styles().to_vec(),
    };
    let served = router(state);
    let settling = sign_ups.clone();
    let router = served.clone().layer(axum::middleware::from_fn(
        move |request, next: axum::middleware::Next| {
            let sign_ups = settling.clone();
            async move {
                let response = next.run(request).await;
                sign_ups.settled().await;
                response
            }
        },
    ));
    People {
        router,
        served,
        sign_ups,
        store,
        subscriptions,
        worker,
        outbox,
        clock,
        dir,
    }
}

/// Every message in a file outbox, parsed.
pub fn outbox_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// One request through the router; returns the status, the headers and the body.
pub async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<axum::body::Body>,
) -> (axum::http::StatusCode, axum::http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    // From a client on this machine, as a reverse proxy on it would connect.
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .extension(axum::extract::ConnectInfo(peer));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (parts.status, parts.headers, bytes)
}

/// Serves `router` on a free loopback port, as `crier serve` does (with the peer's
/// address); returns its base URL, `http://127.0.0.1:PORT/`.
pub async fn listen(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// An HTTP client for [`listen`]ed routers.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A subscriber CSV of `rows` rows after the header (`user{i}@example.org`, audiences
/// from the demo taxonomy, both frequencies); the rows whose 1-based index is in
/// `bad` get an address that is not one. For import tests and their timing.
pub fn subscriber_csv(rows: usize, bad: &[usize]) -> String {
    let audiences = ["hr", "developers", "finance"];
    let mut csv = String::with_capacity(rows * 64);
    csv.push_str("email,name,audiences,frequency,timezone,source_id\n");
    for i in 1..=rows {
        let email = if bad.contains(&i) {
            format!("user{i}.example.org")
        } else {
            format!("user{i}@example.org")
        };
        let frequency = if i % 2 == 0 { "daily" } else { "weekly" };
        csv.push_str(&format!(
            "{email},User {i},{};{},{frequency},Europe/Paris,{i}\n",
            audiences[i % 3],
            audiences[(i + 1) % 3]
        ));
    }
    csv
}

/// A mailer whose sends never finish: a worker takes its messages and stalls.
pub struct Stuck;

impl crier::delivery::Mailer for Stuck {
    fn send_after<'a>(
        &'a self,
        _: &'a crier::delivery::Outgoing,
        _: &'a crier::delivery::Gate,
    ) -> crier::delivery::SendFuture<'a> {
        Box::pin(std::future::pending())
    }

    fn check(&self) -> crier::delivery::SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    fn name(&self) -> &'static str {
        "stuck"
    }
}

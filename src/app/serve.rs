//! `crier serve`: the long-running daemon. It loads the store, serves the site over
//! HTTP, renders again what a store change touches, and stops cleanly on Ctrl-C or
//! SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use super::lock::DaemonLock;
use super::{
    composer, digests_service, load_store, mailer, open_store, site_builder, subscriptions, websub,
    worker_settings,
};
use crate::articles::Library;
use crate::articles::watch::StoreWatcher;
use crate::cli::StoreArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::{TransportProbe, Worker};
use crate::http::{AppState, Ops, People, RateLimiter, Surface, router_for};
use crate::scheduler::DigestRunner;
use crate::site::{Builder, Site};

pub(super) fn run(mut config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    if demo && !config.digests.iter().any(|d| d.name == DEMO_DIGEST) {
        config.digests.push(crate::config::Digest {
            name: DEMO_DIGEST.into(),
            cron: crate::cron::CronSchedule::parse("*/2 * * * *")?,
            subject: None,
            lookback: chrono::Duration::days(3650),
            max_lateness: chrono::Duration::hours(6),
            max_articles: 20,
            archive: true,
        });
        config.subscribers.frequencies.push(DEMO_DIGEST.into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(config, demo));
    // Tasks or blocking calls still running were given their time in `serve`: the
    // runtime must not wait for them again.
    runtime.shutdown_timeout(STOP_MARGIN);
    served
}

/// Beyond the configured shutdown timeouts, the time crier gives itself to record the
/// last sends and close the database, twice at most. The unit's TimeoutStopSec must
/// exceed the larger shutdown timeout plus twice this.
const STOP_MARGIN: Duration = Duration::from_secs(2);

const DEMO_DIGEST: &str = "demo";
const DEMO_READER: &str = "demo-reader@crier.example";

/// Demo mode: a reader of every audience on the two-minute `demo` digest.
async fn add_demo_reader(subscriptions: &crate::subscriptions::Subscriptions, config: &Config) {
    let request = crate::subscriptions::Request {
        email: DEMO_READER.into(),
        name: Some("Demo Reader".into()),
        audiences: subscriptions
            .taxonomy()
            .audiences()
            .iter()
            .map(|a| a.slug.clone())
            .collect(),
        frequency: Some(DEMO_DIGEST.into()),
        source: Some(crate::model::Source::Cli),
        ..Default::default()
    };
    match subscriptions.add(&request, true).await {
        Ok(_)
        | Err(crate::subscriptions::SubscriptionError::Store(
            crate::store::StoreError::Duplicate(_),
        )) => {
            tracing::info!(
                "demo mode: a digest for {DEMO_READER} lands in {} every two minutes",
                config.delivery.outbox.display()
            );
        }
        Err(e) => tracing::warn!("demo mode: cannot add the demo reader: {e}"),
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let started = Instant::now();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!("metrics are off: {e}"))
        .ok();
    let (articles, library) = load_store(&config, &StoreArgs::default())?;
    for error in library.errors() {
        tracing::error!("{error}");
    }
    tracing::info!(
        articles = library.len(),
        errors = library.errors().len(),
        store = %articles.root().display(),
        took_ms = started.elapsed().as_millis() as u64,
        "article store loaded"
    );
    let builder = site_builder(&config)?;
    // Article, audience and category pages are made when asked for: a large store's
    // would not fit in memory twice, as articles and as pages.
    let site = builder.build_on_demand(Arc::clone(&library), clock.now().into())?;
    tracing::info!(
        documents = site.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "site rendered"
    );

    let (library_tx, library_rx) = watch::channel(library);
    let (site_tx, site_rx) = watch::channel(Arc::new(site));

    let store_root = articles.root().to_path_buf();
    record_library(&library_rx.borrow());
    super::check_bounces(&config)?;
    // One daemon per SQLite file; instances sharing PostgreSQL are not refused.
    let _lock = config
        .database
        .sqlite_path()
        .map(DaemonLock::acquire)
        .transpose()?;
    let store = open_store(&config).await?;
    let templates = Arc::clone(builder.templates());
    let subscriptions = subscriptions(
        &config,
        store.clone(),
        Arc::clone(&templates),
        Arc::clone(&clock),
        library_rx.clone(),
    )?;
    let mailer = mailer(&config)?;
    let worker = Worker::new(
        store.dedicated().await?,
        Arc::clone(&mailer),
        Arc::new(composer(&config, subscriptions.signer())?),
        Arc::clone(&clock),
        subscriptions.signer().clone(),
        worker_settings(&config),
    );
    let worker = super::named_worker(worker, &config, &store).await?;
    let instance = super::instances::identity(clock.as_ref())?;
    let subscriptions = subscriptions.with_waker(worker.waker());
    let bounces = crate::bounces::Bounces::new(
        store.clone(),
        subscriptions.signer().clone(),
        Arc::clone(&clock),
        config.bounces.clone(),
    );
    let intake = Intake::open(&config, &bounces)?;
    let digests = digests_service(
        &config,
        subscriptions.clone(),
        Arc::clone(&templates),
        library_rx.clone(),
        Arc::clone(&clock),
        Some(worker.waker()),
    )
    .with_holder(&instance.id);
    let runner = DigestRunner::new(
        Arc::new(digests.clone()),
        config.digests.clone(),
        Arc::clone(&clock),
    );
    if demo {
        add_demo_reader(&subscriptions, &config).await;
    }
    let archived = super::archive::archived(&config);
    let (archive, archive_version) = super::archive::render(
        &builder,
        &store,
        &archived,
        &Default::default(),
        clock.as_ref(),
    )
    .await?;
    let (archive_tx, archive_rx) = watch::channel(Arc::new(archive));
    let initial = Arc::clone(&library_rx.borrow());
    digests.record_articles(&initial).await?;
    tracing::info!(transport = mailer.name(), database = %store.describe(), "delivery ready");
    let (stop_tx, stop_rx) = watch::channel(false);
    let cluster = crate::health::Cluster::new(&instance.id);
    tracing::info!(instance = %instance.id, "this instance joins the database's live instances");
    let heartbeat = super::instances::start(
        store.clone(),
        instance,
        Arc::clone(&clock),
        Arc::clone(&cluster),
        worker.pacer(),
        stop_rx.clone(),
    )
    .await;
    let delivery_health = worker.health();
    let delivery = tokio::spawn(worker.run(
        stop_rx.clone(),
        std::time::Duration::from_secs(config.delivery.shutdown_timeout_secs),
    ));
    let mut intake = intake.start(&stop_rx);
    let scheduler = tokio::spawn(
        runner
            .clone()
            .run(stop_rx, std::time::Duration::from_secs(5)),
    );
    let first_seen = {
        let digests = digests.clone();
        let mut libraries = library_rx.clone();
        tokio::spawn(async move {
            while libraries.changed().await.is_ok() {
                let library = Arc::clone(&libraries.borrow_and_update());
                if let Err(e) = digests.record_articles(&library).await {
                    tracing::error!("cannot record new articles: {e}");
                }
            }
        })
    };
    let pruner = tokio::spawn(prune_daily(
        store.clone(),
        Arc::clone(&clock),
        config.delivery.keep_days,
    ));
    let archive_publisher = tokio::spawn(super::archive::publish(
        super::archive::Sources {
            builder: builder.clone(),
            store: store.clone(),
            digests: archived,
            clock: Arc::clone(&clock),
        },
        archive_tx,
        archive_version,
        digests.editions_written(),
        stop_tx.subscribe(),
    ));
    let builder_meta = builder.meta().clone();
    let watch_started = Instant::now();
    let watcher = StoreWatcher::start(articles, Some(&config.store.audiences), library_tx)
        .context("cannot watch the article store")?;
    tracing::info!(
        took_ms = watch_started.elapsed().as_millis() as u64,
        "watching the article store"
    );
    let console_library = library_rx.clone();
    let publisher = tokio::spawn(publish(
        builder,
        library_rx,
        site_tx,
        Arc::clone(&clock),
        config.clone(),
    ));

    // Several instances on one database count sign-ups and logins in it, so that a
    // client meets the same limits whichever instance it reaches; one instance (a
    // SQLite file, which one daemon holds) counts in memory.
    let shared_counts = store.is_shared().then(|| {
        crate::http::SharedCounts::new(
            store.clone(),
            subscriptions.signer().clone(),
            Arc::clone(&clock),
        )
    });
    let console_state = Arc::new(match &shared_counts {
        Some(counts) => crate::http::console::ConsoleState::with_shared_logins(counts.clone()),
        None => crate::http::console::ConsoleState::default(),
    });
    let preparer = tokio::spawn(prepare_console(
        Arc::clone(&console_state),
        console_library.clone(),
        store.clone(),
        Arc::clone(&clock),
    ));
    let sign_ups = crate::http::SignUps::new();
    let page_styles = templates.page_styles().to_vec();
    let state = AppState {
        archive: Some(archive_rx),
        site: site_rx,
        max_age: config.feeds.max_age,
        hub: config.feeds.websub_hub.as_ref().map(|h| h.to_string()),
        base_url: config.site.base_url.clone(),
        people: Some(People {
            subscriptions,
            templates,
            meta: Arc::new(builder_meta),
            admin_token: config.admin.token.clone(),
            limiter: Arc::new(match shared_counts {
                Some(counts) => {
                    RateLimiter::shared_per_minute(counts, config.http.subscribe_per_minute)
                }
                None => RateLimiter::per_minute(config.http.subscribe_per_minute),
            }),
            pages: crate::http::ReaderPages::new(config.site.privacy_url.as_ref(), &config.digests),
            trusted_proxies: config.http.trusted_proxies.clone().into(),
            sign_ups: sign_ups.clone(),
            bounces: bounces.clone(),
        }),
        ops: Some(Ops {
            store: store.clone(),
            store_root,
            transport: Arc::new(TransportProbe::new(Arc::clone(&mailer))),
            metrics,
            delivery: Some(delivery_health),
            scheduler: Some(runner.health()),
            upcoming: Some(Arc::new(runner.clone())),
            last_scrape: Arc::default(),
            mail_probe: Arc::default(),
            cluster: Some(cluster),
        }),
        console: Some(crate::http::console::Console {
            digests: digests.clone(),
            library: console_library,
            upcoming: Some(Arc::new(runner.clone())),
            sessions: crate::http::console::SessionSettings {
                idle: config.admin.session_idle,
                absolute: config.admin.session_lifetime,
                secure_cookie: config.site.base_url.scheme() == "https",
            },
            state: Arc::clone(&console_state),
        }),
        page_styles,
    };
    let threads = crate::work::cores();
    let limits = super::conn::Limits::of(&config.http);
    // With an admin listener, /metrics, /api/ and /admin are served there only. The admin
    // listener gets its own connection slots, so a flood on the public port cannot
    // lock the operator out.
    let (public, mut admin) = match config.admin.listen {
        Some(address) => {
            let admin = super::front::start(
                address,
                1,
                router_for(state.clone(), Surface::Admin),
                limits,
                stop_tx.subscribe(),
            )?;
            tracing::info!(
                "admin on http://{}/ (/admin, /api/, /metrics)",
                admin.address
            );
            (router_for(state, Surface::Public), Some(admin))
        }
        None => {
            warn_if_metrics_public(&config);
            (router_for(state, Surface::All), None)
        }
    };
    let mut front = super::front::start(
        config.http.listen,
        threads,
        public,
        limits,
        stop_tx.subscribe(),
    )?;
    tracing::info!(
        "listening on http://{}/ (site {}, {threads} HTTP threads)",
        front.address,
        config.site.base_url
    );
    let admin_failed = async {
        match &mut admin {
            Some(admin) => admin.failed().await,
            None => std::future::pending().await,
        }
    };
    let failed = tokio::select! {
        () = shutdown_signal() => None,
        e = front.failed() => Some(e),
        e = admin_failed => Some(e),
    };

    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // Everything stops at once and in parallel, so the slowest part sets the pace:
    // requests in progress (http.shutdown_timeout_secs) or sends in flight
    // (delivery.shutdown_timeout_secs). Past that and a margin crier stops anyway,
    // so that systemd's TimeoutStopSec never has to kill it: what was cut off is
    // safe (the journal and the next start's recovery take it over).
    let grace = config
        .http
        .shutdown_timeout
        .max(Duration::from_secs(config.delivery.shutdown_timeout_secs));
    let deadline = tokio::time::Instant::now() + grace + STOP_MARGIN;
    let orderly = async {
        front.join().await;
        if let Some(admin) = admin {
            admin.join().await;
        }
        // Sign-ups answered before the stop are saved before the database closes.
        sign_ups.settled().await;
        let _ = scheduler.await;
        let _ = delivery.await;
        for part in &mut intake {
            let _ = part.await;
        }
        // Last, so that the others see this instance until its worker has stopped.
        let _ = heartbeat.await;
    };
    if tokio::time::timeout_at(deadline, orderly).await.is_err() {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "still busy after the shutdown timeout; stopping anyway (the next start takes over what was cut off)"
        );
    }
    first_seen.abort();
    pruner.abort();
    for part in &intake {
        part.abort();
    }
    preparer.abort();
    watcher.stop();
    publisher.abort();
    archive_publisher.abort();
    if tokio::time::timeout(STOP_MARGIN, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close in time; SQLite recovers it at the next start");
    }
    if let Some(e) = failed {
        return Err(e);
    }
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// The bounce mailbox and the bounce Maildir, where configured, checked before
/// anything starts: a CA file that cannot be read or a Maildir that does not exist
/// stops the daemon here.
struct Intake {
    mailbox: Option<crate::intake::imap::Mailbox>,
    maildir: Option<crate::intake::maildir::Maildir>,
}

impl Intake {
    fn open(config: &Config, bounces: &crate::bounces::Bounces) -> anyhow::Result<Intake> {
        let mailbox = match &config.bounces.imap {
            Some(settings) => Some(crate::intake::imap::Mailbox::new(
                settings.clone(),
                bounces.clone(),
            )?),
            None => None,
        };
        let maildir = match &config.bounces.maildir {
            Some(folder) => Some(crate::intake::maildir::Maildir::open(
                folder,
                bounces.clone(),
            )?),
            None => None,
        };
        Ok(Intake { mailbox, maildir })
    }

    fn start(self, stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut parts = Vec::new();
        if let Some(mailbox) = self.mailbox {
            parts.push(tokio::spawn(mailbox.run(stop.clone())));
        }
        if let Some(maildir) = self.maildir {
            parts.push(tokio::spawn(maildir.run(stop.clone())));
        }
        parts
    }
}

/// Says so when `/metrics` answers anyone who can reach the public listener: no admin
/// listener, no admin token, and a listener that is not only for this machine (or a
/// proxy in front that forwards the world to it).
fn warn_if_metrics_public(config: &Config) {
    let exposed = !config.http.listen.ip().is_loopback() || !config.http.trusted_proxies.is_empty();
    if exposed && config.admin.token.is_none() {
        tracing::warn!(
            "/metrics is public on {}: set [admin] listen (a private address) or [admin] token",
            config.http.listen
        );
    }
}

/// Deletes old sent and failed messages a minute after start, then once a day
/// (`[delivery] keep_days`; 0 keeps everything).
/// Works out what the console's slow pages need before they are asked: the
/// dashboard's past days at start, and the audience report of every library the
/// watcher sends. Stops when the watcher does.
async fn prepare_console(
    state: Arc<crate::http::console::ConsoleState>,
    mut library: watch::Receiver<Arc<crate::articles::Library>>,
    store: crate::store::Store,
    clock: Arc<dyn Clock>,
) {
    if let Err(e) = state.prepare_dashboard(&store, clock.now()).await {
        tracing::warn!("cannot count the dashboard's past days yet: {e}");
    }
    loop {
        let current = library.borrow_and_update().clone();
        let state = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || state.prepare_library(&current)).await;
        if library.changed().await.is_err() {
            return;
        }
    }
}

async fn prune_daily(store: crate::store::Store, clock: Arc<dyn Clock>, keep_days: u32) {
    if keep_days == 0 {
        return;
    }
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    loop {
        let before = clock.now() - chrono::Duration::days(i64::from(keep_days));
        match store.prune(before).await {
            Ok((0, 0)) => {}
            Ok((messages, bodies)) => {
                tracing::info!(messages, bodies, keep_days, "pruned the outbox")
            }
            Err(e) => tracing::error!("cannot prune the outbox: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(24 * 60 * 60)).await;
    }
}

/// Turns each new library into a new site, then tells the WebSub hub what changed.
async fn publish(
    builder: Builder,
    mut libraries: watch::Receiver<Arc<Library>>,
    sites: watch::Sender<Arc<Site>>,
    clock: Arc<dyn Clock>,
    config: Config,
) {
    let hub = config.feeds.websub_hub.clone().map(websub::Notifier::new);
    while libraries.changed().await.is_ok() {
        let library = Arc::clone(&libraries.borrow_and_update());
        let old = Arc::clone(&sites.borrow());
        let builder = builder.clone();
        let now = clock.now().into();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || builder.update(&old, library, now)).await;
        match result {
            Ok(Ok((site, changes))) => {
                metrics::counter!("crier_feed_builds_total").increment(1);
                metrics::histogram!("crier_feed_build_seconds")
                    .record(started.elapsed().as_secs_f64());
                record_library(site.library());
                sites.send_replace(Arc::new(site));
                tracing::info!(
                    rendered = changes.rendered,
                    feeds_changed = changes.feeds.len(),
                    removed = changes.removed,
                    took_ms = started.elapsed().as_millis() as u64,
                    "site updated"
                );
                if let Some(hub) = &hub {
                    let urls = changes
                        .feeds
                        .iter()
                        .map(|path| config.site.base_url.join(path))
                        .filter_map(Result::ok);
                    hub.publish(urls.collect());
                }
            }
            Ok(Err(e)) => tracing::error!("{e}; the previous version stays published"),
            Err(e) => tracing::error!("rendering the site failed: {e}"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Gauges of the loaded library.
fn record_library(library: &Library) {
    metrics::gauge!("crier_articles_loaded").set(library.len() as f64);
    metrics::gauge!("crier_article_errors").set(library.errors().len() as f64);
}

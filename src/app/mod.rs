//! The composition root: turns a parsed command line into work, wiring config,
//! store, taxonomy and (for `serve`) the long-running parts, and owning their
//! shutdown order. Nothing else in crier reads the config file or starts tasks.

/// `println!` that does not panic when standard output is gone (`crier … | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod admins;
mod archive;
mod bounces;
mod build;
pub use build::write_site;
mod compose;
pub use compose::OutboxComposer;
mod conn;
mod db;
mod digests;
mod front;
mod instances;
mod jobs;
mod lock;
mod people;
mod report;
mod schedule;
mod serve;
mod websub;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::articles::{ArticleStore, Library};
use crate::audience::Taxonomy;
use crate::cli::{Cli, Command, StoreArgs};
use crate::config::Config;

/// Runs one command. Errors that stop a command come back as `Err`; `main` prints
/// them and exits with status 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    init_logging(cli.log_format);
    let overrides = crate::config::Overrides {
        database_url: cli.database_url.clone(),
        // Relative to where crier was started, like any path on a command line.
        state_dir: cli
            .state_dir
            .as_deref()
            .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())),
        instance: cli.instance.clone(),
    };
    let config = Config::load_with(cli.config.as_deref(), &overrides);
    match cli.command {
        Command::Check(args) => match config {
            Ok(config) => report::check(&config, &args),
            Err(e) => {
                // A broken config is one of the problems `check` exists to find.
                eprintln!("error: {e}");
                Ok(ExitCode::from(1))
            }
        },
        Command::Audiences(args) => report::audiences(&config?, &args),
        Command::Subscribers(args) => people::run(&config?, args),
        Command::Admins(args) => admins::run(config, args),
        Command::Bounces(args) => bounces::run(config, args),
        Command::Digest(args) => digests::run_digest(&config?, args),
        Command::Deliveries(args) => digests::run_deliveries(&config?, args),
        Command::Serve { demo } => serve::run(config?, demo),
        Command::Build(args) => build::run(&config?, &args),
        // A schedule alone needs no config: it answers for any line, broken config or not.
        Command::Cron(args) => schedule::run(&args),
        Command::Db(args) => db::run(&config?, args),
    }
}

fn init_logging(format: crate::cli::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().try_init(),
        crate::cli::LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// The store folder and taxonomy file for a command, after `--store`/`--audiences`.
fn store_paths(config: &Config, args: &StoreArgs) -> (PathBuf, PathBuf) {
    (
        args.store
            .clone()
            .unwrap_or_else(|| config.store.path.clone()),
        args.audiences
            .clone()
            .unwrap_or_else(|| config.store.audiences.clone()),
    )
}

/// Loads the taxonomy and the whole store.
fn load_store(config: &Config, args: &StoreArgs) -> anyhow::Result<(ArticleStore, Arc<Library>)> {
    let mut store = read_store(config, args)?;
    let library = store.snapshot();
    Ok((store, library))
}

/// Loads the taxonomy and reads every article of the store, without a snapshot yet.
fn read_store(config: &Config, args: &StoreArgs) -> anyhow::Result<ArticleStore> {
    let (store_path, audiences_path) = store_paths(config, args);
    let taxonomy = Arc::new(Taxonomy::load(&audiences_path)?);
    let limits = crate::articles::Limits {
        max_file_bytes: config.store.max_file_bytes,
    };
    ArticleStore::load_with(&store_path, taxonomy, limits)
        .with_context(|| format!("cannot read the article store {}", store_path.display()))
}

/// Everything a site needs besides the library: metadata from the config and the
/// compiled templates.
fn site_builder(config: &Config) -> anyhow::Result<crate::site::Builder> {
    let templates = crate::templates::Templates::load(Some(&config.site.templates))?;
    for path in templates.overridden() {
        tracing::info!("using the template {path}");
    }
    let meta = crate::feeds::SiteMeta {
        title: config.site.title.clone(),
        description: config.site.description.clone(),
        base_url: config.site.base_url.clone(),
        author: config.site.author.clone(),
        author_email: config.site.author_email.clone(),
        id_authority: config.feeds.id_authority.clone(),
        id_date: config.feeds.id_date.clone(),
        hub: config.feeds.websub_hub.clone(),
        limit: config.feeds.limit,
        ttl_minutes: config.feeds.max_age.div_ceil(60).max(1),
    };
    Ok(crate::site::Builder::new(meta, Arc::new(templates)))
}

/// rustls needs one process-wide crypto provider; crier uses ring.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The file of the secret generated beside a SQLite database: in the folder of the
/// database's canonical path, so one database has one secret whatever link leads to
/// it. A missing folder is an error, not a new folder with a new secret.
fn secret_file(database: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let database = crate::store::canonical_path(database)?;
    let dir = database.parent().unwrap_or(std::path::Path::new("."));
    Ok(dir.join("crier.secret"))
}

/// The secret behind tokens and address hashes: from the config, or generated once
/// and kept beside a SQLite database (in its folder, owner-only permissions) or in a
/// PostgreSQL database, where every instance shares it.
fn load_secret(config: &Config, store: &crate::store::Store) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.security.secret {
        return Ok(secret.as_bytes().to_vec());
    }
    if let Some(secret) = store.shared_secret() {
        return Ok(secret.as_bytes().to_vec());
    }
    let Some(database) = config.database.sqlite_path() else {
        anyhow::bail!("the PostgreSQL database holds no secret");
    };
    let path = secret_file(database)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim().to_string();
            anyhow::ensure!(
                secret.len() >= 32,
                "the secret in {} is shorter than 32 characters",
                path.display()
            );
            Ok(secret.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness for a secret: {e}"))?;
            let secret = crate::model::hex(&bytes);
            match crate::store::private_file_options()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, secret.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    tracing::info!("generated a secret in {}", path.display());
                    Ok(secret.into_bytes())
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_secret(config, store)
                }
                Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn subscription_settings(config: &Config) -> crate::subscriptions::Settings {
    crate::subscriptions::Settings {
        base_url: config.site.base_url.clone(),
        site_title: config.site.title.clone(),
        postal_address: config.email.postal_address.clone(),
        email_domain: config.email.domain().to_string(),
        frequencies: config.subscribers.frequencies.clone(),
        default_frequency: config.subscribers.default_frequency.clone(),
        default_timezone: config.subscribers.default_timezone.clone(),
        consent_version: config.subscribers.consent_version.clone(),
        confirm_hours: config.subscribers.confirm_hours,
    }
}

/// The transport the config asks for: SMTP, sendmail, or the file outbox.
fn mailer(config: &Config) -> anyhow::Result<Arc<dyn crate::delivery::Mailer>> {
    use crate::delivery::{FileMailer, SendmailMailer, SmtpMailer};
    if let Some(url) = &config.delivery.smtp_url {
        install_tls_provider();
        let ca = match &config.delivery.smtp_ca_file {
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!("cannot read delivery.smtp_ca_file {}", path.display())
            })?),
            None => None,
        };
        return Ok(Arc::new(SmtpMailer::with_ca(
            url,
            config.delivery.concurrency,
            ca.as_deref(),
        )?));
    }
    if let Some(command) = &config.delivery.sendmail {
        return Ok(Arc::new(SendmailMailer::new(command.clone())));
    }
    Ok(Arc::new(FileMailer::new(config.delivery.outbox.clone())?))
}

/// What `[bounces]` holds that only the bounce module can read: the SendGrid
/// verification key. Checked at start and by `crier check`, so that a bad key is a
/// clear error then rather than every webhook request failing later.
fn check_bounces(config: &Config) -> anyhow::Result<()> {
    if let Some(sendgrid) = &config.bounces.sendgrid {
        crate::bounce::webhook::sendgrid::public_key(&sendgrid.public_key.0).map_err(|e| {
            anyhow::anyhow!("[bounces.sendgrid] public_key is not a base64 P-256 public key: {e}")
        })?;
    }
    Ok(())
}

fn composer(config: &Config, signer: &crate::tokens::Signer) -> anyhow::Result<OutboxComposer> {
    let dkim = match (&config.email.dkim_selector, &config.email.dkim_key) {
        (Some(selector), Some(key)) => Some(crate::email::DkimSettings {
            selector: selector.clone(),
            domain: config.email.domain().to_string(),
            private_key_pem: std::fs::read_to_string(key)
                .with_context(|| format!("cannot read the DKIM key {}", key.display()))?,
        }),
        _ => None,
    };
    crate::email::Composer::new(
        config.email.from.clone(),
        config.email.reply_to.clone(),
        config.delivery.test_recipient.clone(),
        dkim,
    )
    .map(|composer| {
        composer.with_verp(crate::email::VerpSettings {
            signer: signer.clone(),
            bounce: config.bounces.address.clone(),
            unsubscribe: config.bounces.unsubscribe.clone(),
        })
    })
    .map(OutboxComposer::new)
    .map_err(anyhow::Error::msg)
}

/// The digests service over the subscription services. `wake` is the delivery
/// worker's, in a process that runs one.
fn digests_service(
    config: &Config,
    subscriptions: crate::subscriptions::Subscriptions,
    templates: Arc<crate::templates::Templates>,
    library: tokio::sync::watch::Receiver<Arc<Library>>,
    clock: Arc<dyn crate::clock::Clock>,
    wake: Option<Arc<tokio::sync::Notify>>,
) -> crate::digests::Digests {
    crate::digests::Digests::new(
        subscriptions,
        templates,
        library,
        config.digests.clone(),
        clock,
        config.email.from.email.to_string(),
        wake,
    )
}

fn worker_settings(config: &Config) -> crate::delivery::WorkerSettings {
    crate::delivery::WorkerSettings {
        concurrency: config.delivery.concurrency,
        rate_per_second: config.delivery.rate_per_second,
        policy: crate::delivery::retry::RetryPolicy::new(
            config.delivery.max_attempts,
            config.delivery.max_age_hours,
        ),
        lease_secs: i64::from(config.delivery.lease_seconds),
        poll: std::time::Duration::from_secs(1),
        log_addresses: config.delivery.log_addresses,
    }
}

/// The worker, claiming in this instance's name (`[database] instance`) when it has
/// one on a shared database. The name is held for as long as the worker lives; a
/// predecessor killed a moment ago gets 30 s to lose its connection, and a second
/// live process with the name stops this one with an error.
async fn named_worker(
    worker: crate::delivery::Worker,
    config: &Config,
    store: &crate::store::Store,
) -> anyhow::Result<crate::delivery::Worker> {
    let crate::config::Database::Postgres {
        instance: Some(name),
        ..
    } = &config.database
    else {
        return Ok(worker);
    };
    let held = store
        .hold_name(name, std::time::Duration::from_secs(30))
        .await?;
    Ok(match held {
        Some(hold) => {
            tracing::info!(instance = %name, "this instance claims mail in its name");
            worker.with_name(hold)
        }
        None => worker,
    })
}

/// The subscription services over an open store.
fn subscriptions(
    config: &Config,
    store: crate::store::Store,
    templates: Arc<crate::templates::Templates>,
    clock: Arc<dyn crate::clock::Clock>,
    library: tokio::sync::watch::Receiver<Arc<Library>>,
) -> anyhow::Result<crate::subscriptions::Subscriptions> {
    let signer = crate::tokens::Signer::new(&load_secret(config, &store)?);
    Ok(crate::subscriptions::Subscriptions::new(
        store,
        signer,
        templates,
        clock,
        library,
        subscription_settings(config),
    ))
}

async fn open_store(config: &Config) -> anyhow::Result<crate::store::Store> {
    use crate::config::Database;
    match &config.database {
        Database::Sqlite { path } => crate::store::Store::open(path)
            .await
            .with_context(|| format!("cannot open the database {}", path.display())),
        Database::Postgres { url, state_dir, .. } => {
            crate::store::Store::open_postgres(url.expose(), state_dir)
                .await
                .with_context(|| format!("cannot open the database {url}"))
        }
    }
}

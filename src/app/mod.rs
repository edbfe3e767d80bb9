//! The composition root: turns a parsed command line into work, wiring config,
//! store, taxonomy and (for `serve`) the long-running parts, and owning their
//! shutdown order. Nothing else in crier reads the config file or starts tasks.

mod build;
mod report;
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
    init_logging();
    let config = Config::load(cli.config.as_deref());
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
        Command::Serve => serve::run(config?),
        Command::Build(args) => build::run(&config?, &args),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
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
fn load_store(config: &Config, args: &StoreArgs) -> anyhow::Result<(ArticleStore, Library)> {
    let (store_path, audiences_path) = store_paths(config, args);
    let taxonomy = Arc::new(Taxonomy::load(&audiences_path)?);
    let store = ArticleStore::load(&store_path, taxonomy)
        .with_context(|| format!("cannot read the article store {}", store_path.display()))?;
    let library = store.snapshot();
    Ok((store, library))
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

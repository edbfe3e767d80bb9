//! The composition root: turns a parsed command line into work, wiring config,
//! store, taxonomy and (for `serve`) the long-running parts, and owning their
//! shutdown order. Nothing else in crier reads the config file or starts tasks.

mod report;
mod serve;

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
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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

//! `crier serve`: the long-running daemon. It loads the store, publishes library
//! snapshots as the store changes, and stops cleanly on Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::sync::watch;

use super::load_store;
use crate::articles::watch::StoreWatcher;
use crate::cli::StoreArgs;
use crate::config::Config;

pub(super) fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (store, library) = load_store(&config, &StoreArgs::default())?;
    for error in library.errors() {
        tracing::error!("{error}");
    }
    tracing::info!(
        articles = library.len(),
        errors = library.errors().len(),
        store = %store.root().display(),
        took_ms = started.elapsed().as_millis() as u64,
        "article store loaded"
    );
    let (publish, _library) = watch::channel(Arc::new(library));
    let watcher = StoreWatcher::start(store, Some(&config.store.audiences), publish)
        .context("cannot watch the article store")?;
    tracing::info!("watching for changes; press Ctrl-C to stop");

    shutdown_signal().await;
    tracing::info!("shutting down");
    watcher.stop();
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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

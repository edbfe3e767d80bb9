//! The archive of digest editions, kept in memory for the server: read from the store
//! and rendered at start, then again whenever a run writes editions (the digests
//! service says so) or, at most every [`POLL`], when another process has (`crier
//! digest send` beside the daemon). A poll is one count over the `editions` table;
//! the editions are read only when it changed. Requests never touch the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::Config;
use crate::site::{Archive, Builder};
use crate::store::{EditionsVersion, Store};

/// How often the store is asked whether another process wrote editions.
pub(super) const POLL: Duration = Duration::from_secs(30);

/// The digests whose editions are published, in the config's order.
pub(super) fn archived(config: &Config) -> Vec<String> {
    config
        .digests
        .iter()
        .filter(|d| d.archive)
        .map(|d| d.name.clone())
        .collect()
}

/// Reads every edition and renders the archive, sharing unchanged documents with `old`.
pub(super) async fn render(
    builder: &Builder,
    store: &Store,
    digests: &[String],
    old: &Archive,
    clock: &dyn Clock,
) -> anyhow::Result<(Archive, EditionsVersion)> {
    let version = store.editions_version().await?;
    let editions = store.editions().await?;
    let builder = builder.clone();
    let digests = digests.to_vec();
    let old = old.clone();
    let now = clock.now().into();
    let archive =
        tokio::task::spawn_blocking(move || builder.archive(&digests, &editions, &old, now))
            .await??;
    Ok((archive, version))
}

/// What the archive is rendered from.
pub(super) struct Sources {
    pub builder: Builder,
    pub store: Store,
    /// [`archived`].
    pub digests: Vec<String>,
    pub clock: Arc<dyn Clock>,
}

/// Keeps `archives` current until `stop` turns true; `version` is what the first
/// archive was read at.
pub(super) async fn publish(
    sources: Sources,
    archives: watch::Sender<Arc<Archive>>,
    mut version: EditionsVersion,
    written: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let Sources {
        builder,
        store,
        digests,
        clock,
    } = sources;
    loop {
        tokio::select! {
            () = written.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
        match store.editions_version().await {
            Ok(now) if now == version => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("cannot read the archive's editions: {e}");
                continue;
            }
        }
        let old = Arc::clone(&archives.borrow());
        match render(&builder, &store, &digests, &old, clock.as_ref()).await {
            Ok((archive, read)) => {
                tracing::info!(documents = archive.len(), "archive updated");
                archives.send_replace(Arc::new(archive));
                version = read;
            }
            Err(e) => tracing::error!("cannot render the archive: {e}; the previous one stays"),
        }
    }
}

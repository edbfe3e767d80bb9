//! Live watching: file system events, debounced, become new library snapshots.
//! Only the files named by events are reread; everything else is reused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::watch;

use super::{ArticleStore, Library};
use crate::audience::Taxonomy;

/// How long events are gathered before a reload: an editor's save is often several writes.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// A running watcher. Dropping it (or calling [`StoreWatcher::stop`]) ends the watch.
pub struct StoreWatcher {
    debouncer: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWatcher {
    /// Starts watching the store's folder, and the taxonomy file when one is given.
    /// Each change that alters the library publishes a new snapshot on `publish`.
    pub fn start(
        store: ArticleStore,
        taxonomy_file: Option<&Path>,
        publish: watch::Sender<Arc<Library>>,
    ) -> notify::Result<StoreWatcher> {
        let (tx, rx) = mpsc::channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(DEBOUNCE, Some(DEBOUNCE / 4), tx)?;
        debouncer.watch(store.root(), RecursiveMode::Recursive)?;
        let taxonomy_file = match taxonomy_file.map(std::fs::canonicalize) {
            Some(Ok(path)) => {
                if !path.starts_with(store.root())
                    && let Some(dir) = path.parent()
                {
                    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
                }
                Some(path)
            }
            Some(Err(e)) => {
                tracing::warn!("not watching the audience taxonomy: {e}");
                None
            }
            None => None,
        };
        let thread = std::thread::Builder::new()
            .name("store-watch".into())
            .spawn(move || run(store, taxonomy_file, rx, publish))
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(StoreWatcher {
            debouncer: Some(debouncer),
            thread: Some(thread),
        })
    }

    /// Stops watching and waits for a reload in progress to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(debouncer) = self.debouncer.take() {
            debouncer.stop();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StoreWatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    mut store: ArticleStore,
    taxonomy_file: Option<PathBuf>,
    events: mpsc::Receiver<DebounceEventResult>,
    publish: watch::Sender<Arc<Library>>,
) {
    for result in events {
        let started = Instant::now();
        let changed = match result {
            Ok(events) if events.iter().any(|e| e.need_rescan()) => store.rescan(),
            Ok(events) => {
                let mut paths: Vec<PathBuf> = events
                    .iter()
                    .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                    .flat_map(|e| e.paths.iter().cloned())
                    .collect();
                paths.sort();
                paths.dedup();
                let mut changed = Vec::new();
                if let Some(file) = &taxonomy_file
                    && paths.contains(file)
                {
                    changed.extend(reload_taxonomy(&mut store, file));
                }
                paths.retain(|p| p.starts_with(store.root()) && Some(p) != taxonomy_file.as_ref());
                changed.extend(store.update(&paths));
                changed
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!("watching the store: {error}");
                }
                store.rescan()
            }
        };
        if changed.is_empty() {
            continue;
        }
        let library = store.snapshot();
        for error in library
            .errors()
            .iter()
            .filter(|e| changed.contains(&e.file))
        {
            match library.articles().iter().find(|a| a.file == error.file) {
                Some(_) => tracing::error!("{error} (the last good version stays published)"),
                None => tracing::error!("{error}"),
            }
        }
        tracing::info!(
            files = changed.len(),
            articles = library.len(),
            errors = library.errors().len(),
            took_ms = started.elapsed().as_millis() as u64,
            "store reloaded"
        );
        publish.send_replace(library);
    }
}

fn reload_taxonomy(store: &mut ArticleStore, file: &Path) -> Vec<String> {
    match Taxonomy::load(file) {
        Ok(taxonomy) => {
            tracing::info!(
                audiences = taxonomy.audiences().len(),
                "audience taxonomy reloaded"
            );
            store.set_taxonomy(Arc::new(taxonomy))
        }
        Err(e) => {
            tracing::error!("{e} (keeping the previous taxonomy)");
            Vec::new()
        }
    }
}

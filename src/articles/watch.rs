//! Live watching: file system events, debounced, become new library snapshots.
//! Only the files named by events are reread; everything else is reused.
//!
//! Each folder of the store is watched on its own (not recursively): notify's
//! recursive watch would `stat` every file of the store to find the folders, 300 ms
//! to 2 s at 100,000 articles. The folders are found as the store's listing finds
//! them (hidden ones and links to folders skipped), and a folder that appears later
//! is watched when its event comes, then read whole.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer_opt};
use tokio::sync::watch;

use super::{ArticleStore, Library};
use crate::audience::Taxonomy;

/// How long events are gathered before a reload: an editor's save is often several
/// writes, all within a few milliseconds (write a copy, rename it over the file).
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// How often the debouncer looks for events that have waited [`DEBOUNCE`].
const TICK: Duration = Duration::from_millis(10);

type Watching = Arc<Mutex<Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>>>;

/// A running watcher. Dropping it (or calling [`StoreWatcher::stop`]) ends the watch.
pub struct StoreWatcher {
    debouncer: Watching,
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
        let mut debouncer = new_debouncer_opt::<_, notify::RecommendedWatcher, _>(
            DEBOUNCE,
            Some(TICK),
            tx,
            RecommendedCache::new(),
            notify::Config::default().with_follow_symlinks(false),
        )?;
        debouncer.watch(store.root(), RecursiveMode::NonRecursive)?;
        for folder in folders_under(store.root()) {
            debouncer.watch(&folder, RecursiveMode::NonRecursive)?;
        }
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
        let debouncer: Watching = Arc::new(Mutex::new(Some(debouncer)));
        let watching = Arc::clone(&debouncer);
        let thread = std::thread::Builder::new()
            .name("store-watch".into())
            .spawn(move || run(store, taxonomy_file, rx, publish, watching))
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(StoreWatcher {
            debouncer,
            thread: Some(thread),
        })
    }

    /// Stops watching and waits for a reload in progress to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let debouncer = lock(&self.debouncer).take();
        if let Some(debouncer) = debouncer {
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
    watching: Watching,
) {
    for result in events {
        let started = Instant::now();
        let changed = match result {
            Ok(events) if events.iter().any(|e| e.need_rescan()) => {
                watch_new_folders(&watching, store.root(), &folders_under(store.root()));
                store.rescan()
            }
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
                // A new folder is watched before it is read, so that nothing written
                // into it from now on is missed.
                watch_new_folders(&watching, store.root(), &paths);
                changed.extend(store.update(&paths));
                changed
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!("watching the store: {error}");
                }
                watch_new_folders(&watching, store.root(), &folders_under(store.root()));
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every folder below `root` (not `root` itself) that the store's listing reads:
/// hidden folders and links to folders are skipped. The kind of each entry comes
/// from the folder's listing, without a `stat`.
fn folders_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
            if !hidden && entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                let path = entry.path();
                found.push(path.clone());
                pending.push(path);
            }
        }
    }
    found
}

/// Watches the folders among `paths` (and the folders in them), which appeared
/// since the watch began. Watching a folder twice is harmless.
fn watch_new_folders(watching: &Watching, root: &Path, paths: &[PathBuf]) {
    let mut folders = Vec::new();
    for path in paths {
        let hidden = path.strip_prefix(root).is_ok_and(|rel| {
            rel.iter()
                .any(|part| part.as_encoded_bytes().starts_with(b"."))
        });
        if hidden || path == root {
            continue;
        }
        let is_folder = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
        if is_folder {
            folders.push(path.clone());
            folders.extend(folders_under(path));
        }
    }
    if folders.is_empty() {
        return;
    }
    let mut guard = lock(watching);
    let Some(debouncer) = guard.as_mut() else {
        return;
    };
    for folder in folders {
        if let Err(e) = debouncer.watch(&folder, RecursiveMode::NonRecursive) {
            tracing::warn!("cannot watch {}: {e}", folder.display());
        }
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

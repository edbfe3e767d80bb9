//! `[bounces] maildir`: a Maildir an MTA or procmail delivers returned mail into.
//! Every file in `new/` is read, recorded through the bounces service, then moved to
//! `cur/` with the `:2,S` suffix (seen), as a mail reader would. Files already there
//! at start are taken first; then a file system watch on `new/` wakes the loop, and a
//! rescan every [`RESCAN`] catches whatever a missed event left behind (a watch that
//! could not start, a network file system).
//!
//! The folder itself must exist (a typo must not quietly watch a new, empty folder);
//! its `tmp/`, `new/` and `cur/` are made if missing, so an empty folder the operator
//! made is a Maildir.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{Notify, watch};

use super::{
    Backoff, MAX_MESSAGE_BYTES, actions, count_error, count_message, pause_or_stop, stopping,
};
use crate::bounces::{Bounces, Source};
use crate::store::StoreError;

/// How often `new/` is listed without an event.
pub const RESCAN: Duration = Duration::from_secs(30);

const SOURCE: &str = "maildir";

/// A Maildir watched for returned mail.
pub struct Maildir {
    root: PathBuf,
    bounces: Bounces,
    rescan: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    #[error("the bounce Maildir {0} does not exist (make it, or its MTA delivery, first)")]
    Missing(PathBuf),
    #[error("the bounce Maildir {0} is not a folder")]
    NotAFolder(PathBuf),
    #[error("the bounce Maildir {path}: {cause}")]
    Io { path: PathBuf, cause: io::Error },
}

/// What one sweep of `new/` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Messages recorded and moved to `cur/`.
    pub recorded: usize,
    /// Files that could not be read or moved; they stay in `new/`.
    pub skipped: usize,
}

impl Maildir {
    /// Checks the folder and makes its `tmp/`, `new/` and `cur/` where missing.
    pub fn open(root: &Path, bounces: Bounces) -> Result<Maildir, MaildirError> {
        let io = |cause| MaildirError::Io {
            path: root.to_path_buf(),
            cause,
        };
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(MaildirError::NotAFolder(root.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(MaildirError::Missing(root.to_path_buf()));
            }
            Err(e) => return Err(io(e)),
        }
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub)).map_err(io)?;
        }
        Ok(Maildir {
            root: root.to_path_buf(),
            bounces,
            rescan: RESCAN,
        })
    }

    /// The same Maildir, listed every `rescan` without an event.
    pub fn with_rescan(mut self, rescan: Duration) -> Maildir {
        self.rescan = rescan;
        self
    }

    /// Takes what is in `new/`, then watches it until the daemon stops.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        // Kept alive for the loop's lifetime; dropping it ends the watch.
        let _watcher = match self.watch(Arc::clone(&wake)) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    maildir = %self.root.display(),
                    "cannot watch the bounce Maildir, listing it every {}s instead: {e}",
                    self.rescan.as_secs()
                );
                None
            }
        };
        tracing::info!(maildir = %self.root.display(), "reading bounces from a Maildir");
        let mut backoff = Backoff::new();
        loop {
            if stopping(&stop) {
                return;
            }
            let pause = match self.sweep(&stop).await {
                Ok(_) => {
                    backoff.reset();
                    self.rescan
                }
                Err(e) => {
                    count_error(SOURCE);
                    let pause = backoff.next();
                    tracing::error!(
                        maildir = %self.root.display(),
                        "bounce Maildir: {e}; trying again in {}s",
                        pause.as_secs()
                    );
                    pause
                }
            };
            tokio::select! {
                () = wake.notified() => {}
                stopped = pause_or_stop(&mut stop, pause) => if stopped { return },
            }
        }
    }

    fn watch(&self, wake: Arc<Notify>) -> notify::Result<notify::RecommendedWatcher> {
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                match event {
                    Ok(e) if matches!(e.kind, EventKind::Access(_)) => {}
                    // An error may mean lost events: a sweep finds what they were about.
                    _ => wake.notify_one(),
                }
            })?;
        watcher.watch(&self.root.join("new"), RecursiveMode::NonRecursive)?;
        Ok(watcher)
    }

    /// Records and moves every message now in `new/`. A file that cannot be read or
    /// moved is logged and left; a database error ends the sweep, leaving the rest for
    /// the next one.
    pub async fn sweep(&self, stop: &watch::Receiver<bool>) -> Result<Swept, SweepError> {
        let new = self.root.join("new");
        let mut names = list(&new).map_err(|cause| SweepError::List {
            path: new.clone(),
            cause,
        })?;
        names.sort();
        let mut swept = Swept::default();
        for name in names {
            if stopping(stop) {
                break;
            }
            let path = new.join(&name);
            let raw = match read_capped(&path) {
                Ok(raw) => raw,
                // Another reader took it meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    count_error(SOURCE);
                    swept.skipped += 1;
                    tracing::warn!(file = %path.display(), "cannot read a bounce: {e}");
                    continue;
                }
            };
            let outcomes = self
                .bounces
                .ingest(Source::Maildir, &raw)
                .await
                .map_err(SweepError::Store)?;
            count_message(SOURCE);
            let seen = self.root.join("cur").join(seen_name(&name));
            if let Err(e) = std::fs::rename(&path, &seen) {
                // Recorded but not moved: the next sweep records it again, which
                // repeats an event but loses none.
                count_error(SOURCE);
                swept.skipped += 1;
                tracing::error!(file = %path.display(), "cannot move a recorded bounce to cur/: {e}");
                continue;
            }
            swept.recorded += 1;
            tracing::info!(
                file = %name,
                findings = outcomes.len(),
                actions = %actions(&outcomes),
                "bounce recorded from the Maildir"
            );
        }
        Ok(swept)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot list {path}: {cause}")]
    List { path: PathBuf, cause: io::Error },
    #[error("cannot record a bounce (it stays in new/): {0}")]
    Store(StoreError),
}

/// The names of the messages in a folder: files only, no dot files (Maildir readers
/// skip them; some tools keep state there).
fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        names.push(name);
    }
    Ok(names)
}

/// At most [`MAX_MESSAGE_BYTES`] of a file.
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_MESSAGE_BYTES as u64)
        .read_to_end(&mut raw)?;
    Ok(raw)
}

/// The name a message takes in `cur/`: its unique part and the info `:2,S` (seen).
/// A name that already carries flags keeps them, with `S` added.
fn seen_name(name: &str) -> String {
    match name.split_once(":2,") {
        Some((unique, flags)) if flags.contains('S') => format!("{unique}:2,{flags}"),
        Some((unique, flags)) => {
            let mut flags: Vec<char> = flags.chars().chain(['S']).collect();
            // Maildir flags are kept in ASCII order.
            flags.sort_unstable();
            format!("{unique}:2,{}", flags.into_iter().collect::<String>())
        }
        None => format!("{name}:2,S"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_moved_to_cur_is_marked_seen() {
        assert_eq!(
            seen_name("1700000000.M1P2.host"),
            "1700000000.M1P2.host:2,S"
        );
        assert_eq!(seen_name("1.M1.host:2,"), "1.M1.host:2,S");
        assert_eq!(seen_name("1.M1.host:2,FT"), "1.M1.host:2,FST");
        assert_eq!(seen_name("1.M1.host:2,RS"), "1.M1.host:2,RS");
    }

    #[test]
    fn dot_files_and_folders_are_not_messages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "x").unwrap();
        std::fs::write(dir.path().join("a"), "x").unwrap();
        std::fs::write(dir.path().join(".state"), "x").unwrap();
        std::fs::create_dir(dir.path().join("folder")).unwrap();
        let mut names = list(dir.path()).unwrap();
        names.sort();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_large_message_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; MAX_MESSAGE_BYTES + 10]).unwrap();
        assert_eq!(read_capped(&path).unwrap().len(), MAX_MESSAGE_BYTES);
    }
}

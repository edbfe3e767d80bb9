//! One daemon per database: `crier serve` holds an exclusive lock on `<db>.lock` for
//! its whole life. The operating system drops it when the process dies, even by
//! `kill -9`, so a stale lock never blocks a restart.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

pub struct DaemonLock {
    _file: File,
}

fn lock_path(database: &Path) -> PathBuf {
    crate::store::beside(database, ".lock")
}

fn open(database: &Path) -> anyhow::Result<(File, PathBuf)> {
    let path = lock_path(database);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    Ok((file, path))
}

impl DaemonLock {
    pub fn acquire(database: &Path) -> anyhow::Result<DaemonLock> {
        let (file, path) = open(database)?;
        match file.try_lock() {
            Ok(()) => Ok(DaemonLock { _file: file }),
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "another `crier serve` is already running on the database {} (it holds {}); stop it before starting a second one",
                database.display(),
                path.display()
            ),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Whether a daemon holds the database right now.
    pub fn is_held(database: &Path) -> bool {
        let Ok((file, _)) = open(database) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

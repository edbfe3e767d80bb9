//! One daemon per database: `crier serve` holds an exclusive lock on `<db>.lock` for
//! its whole life. The operating system drops it when the process dies, even by
//! `kill -9`, so a stale lock never blocks a restart. The lock file sits beside the
//! database's canonical path, so two paths to one database (through a link) meet at
//! one lock.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub struct DaemonLock {
    _file: File,
}

fn open(database: &Path) -> anyhow::Result<(File, PathBuf)> {
    let path = crate::store::beside(&crate::store::canonical_path(database)?, ".lock");
    let file = crate::store::private_file_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
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

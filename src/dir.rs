//! A folder held open, with files opened, made and renamed relative to it. On Unix
//! that is `openat`, `mkdirat` and `renameat` on the open folder, so the kernel does
//! not walk the folder's own path again for each of ten thousand files. Elsewhere the
//! relative path is joined to the folder's path. Owns no policy: callers decide names.
//!
//! Kept by measurement (issue #16): `crier build` of 10,000 articles on tmpfs took
//! 0.805/0.798 s CPU with paths joined and `std::fs` against 0.703/0.725 s with this
//! (+10–15 %; wall +11–13 %), in interleaved runs (BENCHMARKS.md, "machinery").

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

impl Dir {
    /// Opens the folder at `path`, which must exist.
    pub fn open(path: &Path) -> io::Result<Dir> {
        #[cfg(unix)]
        let fd = {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            rustix::fs::open(path, flags, Mode::empty())?
        };
        Ok(Dir {
            path: path.to_path_buf(),
            #[cfg(unix)]
            fd,
        })
    }

    /// Where `rel` (`/`-separated, relative to the folder) is: for messages.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Opens `rel` for reading.
    pub fn open_file(&self, rel: &str) -> io::Result<File> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDONLY | OFlags::CLOEXEC;
            Ok(rustix::fs::openat(&self.fd, rel, flags, Mode::empty())?.into())
        }
        #[cfg(not(unix))]
        File::open(self.join(rel))
    }

    /// Opens `rel` for reading unless it is a symbolic link: then `None`, so that the
    /// caller can decide whether to follow it.
    pub fn open_file_unless_link(&self, rel: &str) -> io::Result<Option<File>> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            match rustix::fs::openat(&self.fd, rel, flags, Mode::empty()) {
                Ok(fd) => Ok(Some(fd.into())),
                // What O_NOFOLLOW answers for a link.
                Err(rustix::io::Errno::LOOP) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(unix))]
        {
            if std::fs::symlink_metadata(self.join(rel))?.is_symlink() {
                return Ok(None);
            }
            self.open_file(rel).map(Some)
        }
    }

    /// The folder's path, as it was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` for writing, made or emptied, as `File::create` does.
    pub fn create_file(&self, rel: &str) -> io::Result<File> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
            Ok(rustix::fs::openat(&self.fd, rel, flags, Mode::from_raw_mode(0o666))?.into())
        }
        #[cfg(not(unix))]
        File::create(self.join(rel))
    }

    /// Makes the folder `rel`, whose parent must exist, as `fs::create_dir` does.
    pub fn create_dir(&self, rel: &str) -> io::Result<()> {
        #[cfg(unix)]
        {
            Ok(rustix::fs::mkdirat(
                &self.fd,
                rel,
                rustix::fs::Mode::from_raw_mode(0o777),
            )?)
        }
        #[cfg(not(unix))]
        std::fs::create_dir(self.join(rel))
    }

    /// Renames `from` to `to`, both relative to the folder, replacing `to`.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        #[cfg(unix)]
        {
            Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
        }
        #[cfg(not(unix))]
        std::fs::rename(self.join(from), self.join(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_made_read_and_renamed_under_the_folder() {
        let temp = tempfile::tempdir().unwrap();
        let dir = Dir::open(temp.path()).unwrap();
        dir.create_dir("a").unwrap();
        let kind = dir.create_dir("a").unwrap_err().kind();
        assert_eq!(kind, io::ErrorKind::AlreadyExists);
        let kind = dir.create_dir("b/c").unwrap_err().kind();
        assert_eq!(kind, io::ErrorKind::NotFound);
        io::Write::write_all(&mut dir.create_file("a/.x.tmp").unwrap(), b"one").unwrap();
        dir.rename("a/.x.tmp", "a/x").unwrap();
        // Creating an existing file empties it; renaming onto a file replaces it.
        io::Write::write_all(&mut dir.create_file("a/.x.tmp").unwrap(), b"twotwo").unwrap();
        io::Write::write_all(&mut dir.create_file("a/.x.tmp").unwrap(), b"two").unwrap();
        dir.rename("a/.x.tmp", "a/x").unwrap();
        assert_eq!(std::fs::read(temp.path().join("a/x")).unwrap(), b"two");
        assert!(!temp.path().join("a/.x.tmp").exists());
        let mut text = String::new();
        io::Read::read_to_string(&mut dir.open_file("a/x").unwrap(), &mut text).unwrap();
        assert_eq!(text, "two");
        assert_eq!(dir.join("a/x"), temp.path().join("a/x"));
        assert!(Dir::open(&temp.path().join("a/x")).is_err(), "not a folder");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("x", temp.path().join("a/link")).unwrap();
            assert!(dir.open_file_unless_link("a/link").unwrap().is_none());
            assert!(dir.open_file_unless_link("a/x").unwrap().is_some());
            assert!(dir.open_file("a/link").is_ok());
        }
    }
}

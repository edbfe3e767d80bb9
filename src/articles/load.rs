//! Reading a store folder: every article file is parsed and classified once, and
//! kept with the fingerprint it was read at, so that later changes reparse only
//! the files that changed. Snapshots of the result are [`Library`] values.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustc_hash::FxHashMap;

use super::library::{Library, Swap};
use super::parse::{is_article_name, parse_file};
use crate::audience::{Matcher, Taxonomy};
use crate::dir::Dir;
use crate::model::{Article, FileError};
use crate::work::{cores, in_shares};

/// What a file looked like when it was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
}

#[derive(Debug)]
struct Entry {
    fingerprint: Fingerprint,
    /// The last version that parsed, kept published while a later edit is broken.
    article: Option<Arc<Article>>,
    error: Option<FileError>,
}

/// The article files of one store folder and what each one parsed to.
#[derive(Debug)]
pub struct ArticleStore {
    root: PathBuf,
    limits: Limits,
    taxonomy: Arc<Taxonomy>,
    matcher: Matcher,
    /// Keyed by path relative to the root, `/`-separated, so iteration is in path order.
    files: BTreeMap<String, Entry>,
    /// The last snapshot, and what changed since: the next snapshot patches it.
    last: Option<Arc<Library>>,
    changes: Changes,
}

/// Articles replaced since the last snapshot, or a change to all of them.
#[derive(Debug, Default)]
struct Changes {
    everything: bool,
    /// `(old, new)`: an article that left, came, or was replaced by another version.
    swaps: Vec<Swap>,
}

/// What one store file may cost to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Larger files are reported and not read (`[store] max_file_bytes`).
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Past this many changed articles a snapshot is built anew rather than patched.
const PATCH_LIMIT: usize = 256;

impl ArticleStore {
    /// Reads the whole store. Fails only when the folder itself cannot be read;
    /// broken files become errors in the snapshot.
    pub fn load(root: &Path, taxonomy: Arc<Taxonomy>) -> std::io::Result<ArticleStore> {
        ArticleStore::load_with(root, taxonomy, Limits::default())
    }

    /// [`ArticleStore::load`] with limits other than the defaults.
    pub fn load_with(
        root: &Path,
        taxonomy: Arc<Taxonomy>,
        limits: Limits,
    ) -> std::io::Result<ArticleStore> {
        // Watch events arrive with absolute paths; a canonical root lets them be matched.
        let root = fs::canonicalize(root)?;
        let mut store = ArticleStore {
            root,
            limits,
            matcher: Matcher::new(&taxonomy),
            taxonomy,
            files: BTreeMap::new(),
            last: None,
            changes: Changes::default(),
        };
        // Each file is asked for its size and time once, when it is read.
        let found = list_names(&store.root)?
            .into_iter()
            .map(|rel| (rel, None))
            .collect();
        let read = read_all(&store.root, &store.matcher, store.limits, found);
        // Collected at once, the map is built from the sorted list in one pass.
        store.files = read
            .into_iter()
            .map(|(rel, fingerprint, result)| {
                let (article, error) = split(result);
                let entry = Entry {
                    fingerprint,
                    article,
                    error,
                };
                (rel, entry)
            })
            .collect();
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A snapshot of the store as it stands. When two files claim one slug, the one
    /// first in path order keeps it and the other is reported.
    pub fn snapshot(&mut self) -> Arc<Library> {
        let changes = std::mem::take(&mut self.changes);
        let patched = match &self.last {
            Some(last) if !changes.everything && changes.swaps.len() <= PATCH_LIMIT => {
                let errors = self
                    .files
                    .values()
                    .filter_map(|entry| entry.error.clone())
                    .collect();
                last.patched(&changes.swaps, errors)
            }
            _ => None,
        };
        let (library, duplicates) = match patched {
            Some(library) => (library, false),
            None => self.build_snapshot(),
        };
        let library = Arc::new(library);
        // A snapshot with a slug claimed twice is never patched: which file keeps the
        // slug depends on all of them.
        self.last = (!duplicates).then(|| Arc::clone(&library));
        library
    }

    /// A snapshot built from scratch, never patched from the last one: the same
    /// library [`ArticleStore::snapshot`] gives, at the cost of a full rebuild.
    pub fn full_snapshot(&self) -> Library {
        self.build_snapshot().0
    }

    /// Every article and error, indexed from scratch; and whether two files claimed
    /// one slug.
    fn build_snapshot(&self) -> (Library, bool) {
        let mut articles = Vec::with_capacity(self.files.len());
        let mut errors = Vec::new();
        let mut owners: FxHashMap<&str, &str> =
            FxHashMap::with_capacity_and_hasher(self.files.len(), Default::default());
        let mut duplicates = false;
        for (rel, entry) in &self.files {
            if let Some(error) = &entry.error {
                errors.push(error.clone());
            }
            let Some(article) = &entry.article else {
                continue;
            };
            match owners.get(article.slug.as_str()) {
                Some(owner) => {
                    duplicates = true;
                    errors.push(FileError {
                    file: rel.clone(),
                    line: None,
                    message: format!(
                        "the slug `{}` is already used by {owner}; rename the file or set another slug",
                        article.slug
                    ),
                    });
                }
                None => {
                    owners.insert(&article.slug, rel);
                    articles.push(Arc::clone(article));
                }
            }
        }
        (
            Library::new(articles, errors, Arc::clone(&self.taxonomy)),
            duplicates,
        )
    }

    /// Rereads the given paths (absolute, or relative to the root) after the watcher
    /// saw them change. Returns the files whose article or error changed.
    pub fn update(&mut self, paths: &[PathBuf]) -> Vec<String> {
        let mut changed = Vec::new();
        for path in paths {
            let abs = if path.is_absolute() {
                path.clone()
            } else {
                self.root.join(path)
            };
            let Ok(rel_path) = abs.strip_prefix(&self.root) else {
                continue;
            };
            let Some(rel) = rel_string(rel_path) else {
                continue;
            };
            if rel.is_empty() || rel.split('/').any(|part| part.starts_with('.')) {
                continue;
            }
            match fs::metadata(&abs) {
                Ok(meta) if meta.is_dir() => changed.extend(self.rescan_under(&rel)),
                Ok(meta) if meta.is_file() && is_article_name(file_name(&rel)) => {
                    let result = match Dir::open(&self.root) {
                        Ok(root) => read_one(&root, &rel, &self.matcher, self.limits).1,
                        Err(e) => Err(unreadable(&rel, &e)),
                    };
                    if self.store_result(rel.clone(), fingerprint(&meta), result) {
                        changed.push(rel);
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    // Gone: a file, or a folder with everything under it.
                    let prefix = format!("{rel}/");
                    let gone: Vec<String> = self
                        .files
                        .keys()
                        .filter(|k| **k == rel || k.starts_with(&prefix))
                        .cloned()
                        .collect();
                    for key in gone {
                        self.forget(&key);
                        changed.push(key);
                    }
                }
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }

    /// Compares the whole folder with what was read and rereads what differs: for
    /// when the watcher lost track of events.
    pub fn rescan(&mut self) -> Vec<String> {
        self.rescan_under("")
    }

    /// Re-derives every article's audiences against a new taxonomy. Good articles are
    /// not reparsed; files in error are reread, since the taxonomy may have been their
    /// problem. Returns every file.
    pub fn set_taxonomy(&mut self, taxonomy: Arc<Taxonomy>) -> Vec<String> {
        self.matcher = Matcher::new(&taxonomy);
        self.taxonomy = taxonomy;
        self.changes.everything = true;
        self.last = None;
        let mut changed = Vec::with_capacity(self.files.len());
        let mut reread = Vec::new();
        for (rel, entry) in self.files.iter_mut() {
            match &entry.article {
                Some(article) if entry.error.is_none() => {
                    let mut article = Article::clone(article);
                    match classify(&self.matcher, &mut article) {
                        Ok(()) => entry.article = Some(Arc::new(article)),
                        Err(error) => {
                            entry.article = None;
                            entry.error = Some(error);
                        }
                    }
                    changed.push(rel.clone());
                }
                _ => reread.push((rel.clone(), Some(entry.fingerprint))),
            }
        }
        for (rel, fp, result) in read_all(&self.root, &self.matcher, self.limits, reread) {
            self.store_result(rel.clone(), fp, result);
            changed.push(rel);
        }
        changed.sort();
        changed
    }

    fn rescan_under(&mut self, prefix: &str) -> Vec<String> {
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.root.join(prefix)
        };
        let found = list_files(&dir).unwrap_or_default();
        let mut seen: HashMap<String, Fingerprint> = HashMap::with_capacity(found.len());
        for (rel, fp) in found {
            let rel = if prefix.is_empty() {
                rel
            } else {
                format!("{prefix}/{rel}")
            };
            seen.insert(rel, fp);
        }
        let under =
            |k: &str| prefix.is_empty() || k == prefix || k.starts_with(&format!("{prefix}/"));
        let mut changed: Vec<String> = self
            .files
            .keys()
            .filter(|k| under(k) && !seen.contains_key(*k))
            .cloned()
            .collect();
        for key in &changed {
            self.forget(key);
        }
        let stale: Vec<(String, Option<Fingerprint>)> = seen
            .into_iter()
            .filter(|(rel, fp)| self.files.get(rel).is_none_or(|e| e.fingerprint != *fp))
            .map(|(rel, fp)| (rel, Some(fp)))
            .collect();
        for (rel, fp, result) in read_all(&self.root, &self.matcher, self.limits, stale) {
            if self.store_result(rel.clone(), fp, result) {
                changed.push(rel);
            }
        }
        changed.sort();
        changed
    }

    /// Drops a file that is gone; the next snapshot loses its article.
    fn forget(&mut self, rel: &str) {
        if let Some(entry) = self.files.remove(rel) {
            self.changes.swaps.push((entry.article, None));
        }
    }

    /// Records a fresh read. A broken read keeps the last good article published.
    fn store_result(
        &mut self,
        rel: String,
        fingerprint: Fingerprint,
        result: Result<Article, FileError>,
    ) -> bool {
        let (article, error) = split(result);
        match self.files.get_mut(&rel) {
            Some(entry) => {
                let before = (entry.article.clone(), entry.error.clone());
                entry.fingerprint = fingerprint;
                entry.error = error;
                if article.is_some() {
                    entry.article = article;
                }
                let replaced = match (&before.0, &entry.article) {
                    (Some(old), Some(new)) => !Arc::ptr_eq(old, new),
                    (old, new) => old.is_some() != new.is_some(),
                };
                if replaced {
                    self.changes
                        .swaps
                        .push((before.0.clone(), entry.article.clone()));
                }
                before.0.as_deref() != entry.article.as_deref() || before.1 != entry.error
            }
            None => {
                self.changes.swaps.push((None, article.clone()));
                self.files.insert(
                    rel,
                    Entry {
                        fingerprint,
                        article,
                        error,
                    },
                );
                true
            }
        }
    }
}

fn split(result: Result<Article, FileError>) -> (Option<Arc<Article>>, Option<FileError>) {
    match result {
        Ok(article) => (Some(Arc::new(article)), None),
        Err(error) => (None, Some(error)),
    }
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn rel_string(path: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

fn fingerprint(meta: &fs::Metadata) -> Fingerprint {
    Fingerprint {
        modified: meta.modified().ok(),
        len: meta.len(),
    }
}

/// Every article file under `dir` with its size and time, as paths relative to it.
fn list_files(dir: &Path) -> std::io::Result<Vec<(String, Fingerprint)>> {
    Ok(list_names(dir)?
        .into_iter()
        .filter_map(|rel| {
            let meta = fs::metadata(dir.join(&rel)).ok()?;
            meta.is_file().then(|| (rel, fingerprint(&meta)))
        })
        .collect())
}

/// Every article file under `dir`, as paths relative to it, skipping hidden folders.
/// Symbolic links to files are listed (reading them checks that they stay inside the
/// store); links to folders are not followed, so there are no loops.
/// Only links are asked what they point to: a folder listing says what the rest are.
fn list_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    let mut first = true;
    while let Some((path, rel)) = pending.pop() {
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if first => return Err(e),
            Err(_) => continue,
        };
        first = false;
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push((entry.path(), child_rel));
            } else if is_article_name(&name)
                && (kind.is_file()
                    || kind.is_symlink()
                        && fs::metadata(entry.path()).is_ok_and(|meta| meta.is_file()))
            {
                out.push(child_rel);
            }
        }
    }
    Ok(out)
}

/// Reads and classifies one file; also returns its size and time as it was read.
fn read_one(
    root: &Dir,
    rel: &str,
    matcher: &Matcher,
    limits: Limits,
) -> (Option<Fingerprint>, Result<Article, FileError>) {
    let (fingerprint, bytes) = match read_file(root, rel, limits.max_file_bytes) {
        Ok((fingerprint, bytes)) => (fingerprint, bytes),
        Err(ReadError::TooLarge(fingerprint)) => {
            let error = FileError {
                file: rel.to_string(),
                line: None,
                message: format!(
                    "the file is larger than [store] max_file_bytes ({} bytes), so it is not read",
                    limits.max_file_bytes
                ),
            };
            return (Some(fingerprint), Err(error));
        }
        Err(ReadError::Outside(target)) => {
            let error = FileError {
                file: rel.to_string(),
                line: None,
                message: format!(
                    "a link to {}, outside the store folder: not followed",
                    target.display()
                ),
            };
            return (None, Err(error));
        }
        Err(ReadError::Io(e)) => return (None, Err(unreadable(rel, &e))),
    };
    let result = parse_file(rel, &bytes)
        .map_err(|e| FileError {
            file: rel.to_string(),
            line: e.line,
            message: e.message,
        })
        .and_then(|mut article| {
            classify(matcher, &mut article)?;
            Ok(article)
        });
    (Some(fingerprint), result)
}

fn unreadable(rel: &str, e: &std::io::Error) -> FileError {
    FileError {
        file: rel.to_string(),
        line: None,
        message: format!("cannot read the file: {e}"),
    }
}

enum ReadError {
    /// Larger than the limit, when opened or while read.
    TooLarge(Fingerprint),
    /// A symbolic link that leads out of the store folder, to this path.
    Outside(PathBuf),
    Io(std::io::Error),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The bytes of file `rel` under `root` and its fingerprint, with one `statx` of the
/// open file and usually one `read`. (`File::read_to_end` would ask for the size and
/// position again, then read once more to see the end.) A file over `max` bytes is
/// not read, or not read on when it grows past `max` while read.
fn read_file(root: &Dir, rel: &str, max: u64) -> Result<(Fingerprint, Vec<u8>), ReadError> {
    // Links are followed only within the store (whose path is canonical): a link
    // out of it would publish whatever file it names. Only links cost a second look.
    let mut file = match root.open_file_unless_link(rel)? {
        Some(file) => file,
        None => {
            let target = fs::canonicalize(root.join(rel))?;
            if !target.starts_with(root.path()) {
                return Err(ReadError::Outside(target));
            }
            // The checked path itself, so a link changed since is not followed.
            fs::File::open(&target)?
        }
    };
    let meta = file.metadata()?;
    if meta.len() > max {
        return Err(ReadError::TooLarge(fingerprint(&meta)));
    }
    // One byte more than the size: a read that does not fill the buffer has reached
    // the end, as reads of a regular file only stop short there.
    let mut bytes = vec![0; usize::try_from(meta.len()).unwrap_or(0) + 1];
    let mut filled = 0;
    loop {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        if filled < bytes.len() {
            break;
        }
        if filled as u64 > max {
            return Err(ReadError::TooLarge(fingerprint(&meta)));
        }
        // The file grew since it was asked its size.
        bytes.resize(bytes.len() * 2, 0);
    }
    bytes.truncate(filled);
    Ok((fingerprint(&meta), bytes))
}

fn classify(matcher: &Matcher, article: &mut Article) -> Result<(), FileError> {
    let classification = matcher
        .classify(article)
        .map_err(|(line, message)| FileError {
            file: article.file.clone(),
            line: Some(line),
            message,
        })?;
    article.audiences = classification.audiences;
    article.unmatched = classification.unmatched;
    Ok(())
}

type ReadResult = (String, Fingerprint, Result<Article, FileError>);

/// Reads many files on all cores. A file listed without a fingerprint gets the one it
/// was read at.
fn read_all(
    root: &Path,
    matcher: &Matcher,
    limits: Limits,
    files: Vec<(String, Option<Fingerprint>)>,
) -> Vec<ReadResult> {
    // Each file is opened relative to the open store folder.
    let root = Dir::open(root);
    let one = |(rel, listed): &(String, Option<Fingerprint>)| -> ReadResult {
        let (read, result) = match &root {
            Ok(root) => read_one(root, rel, matcher, limits),
            Err(e) => (None, Err(unreadable(rel, e))),
        };
        // A file that could not be read gets a fingerprint no file has, so that the
        // next rescan reads it again.
        let fingerprint = listed.or(read).unwrap_or(Fingerprint {
            modified: None,
            len: u64::MAX,
        });
        (rel.clone(), fingerprint, result)
    };
    let threads = if files.len() < 64 { 1 } else { cores() };
    in_shares(files.len(), threads, |share| {
        files[share].iter().map(one).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_file_gives_every_byte_and_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let root = Dir::open(dir.path()).unwrap();
        for len in [0, 1, 4095, 4096, 70_000] {
            let path = dir.path().join(format!("f{len}.txt"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            fs::write(&path, &data).unwrap();
            let Ok((fingerprint, bytes)) = read_file(&root, &format!("f{len}.txt"), 70_000) else {
                panic!("f{len}.txt unread");
            };
            assert_eq!(bytes, data, "{len} bytes");
            assert_eq!(fingerprint.len, len as u64);
            assert_eq!(
                fingerprint.modified,
                fs::metadata(&path).unwrap().modified().ok()
            );
        }
        assert!(read_file(&root, "missing.txt", 70_000).is_err());
        assert!(matches!(
            read_file(&root, "f70000.txt", 69_999),
            Err(ReadError::TooLarge(_))
        ));
    }
}

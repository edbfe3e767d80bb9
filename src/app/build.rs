//! `crier build --out DIR`: the whole site as static files, so that a web server or CDN
//! reading the folder never sees half a file. A new folder is written whole under a
//! temporary name beside it and renamed into place at the end: one rename, not one a
//! file. Into a folder that exists, each file is written to a temporary name beside
//! its target and renamed into place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::{read_store, site_builder};
use crate::cli::BuildArgs;
use crate::config::Config;
use crate::dir::Dir;
use crate::site::{Builder, Site};
use crate::work::{both, cores, in_shares};

pub(super) fn run(config: &Config, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // The templates compile while the store is listed and read: listing the folder
    // keeps only one core busy.
    let (store, builder) = both(|| read_store(config, &args.store), || site_builder(config));
    let mut store = store?;
    let library = store.snapshot();
    for error in library.errors() {
        tracing::error!("{error}");
    }
    let builder = builder?;
    let pid = std::process::id();
    let target = Target::new(&args.out, pid)?;
    let (out, direct) = (&target.dir, target.staging.is_some());
    // Each page is written by the thread that rendered it, right away, and dropped.
    let written = builder.export::<_, anyhow::Error>(&library, || {
        let mut writer = Writer::new(out, pid, direct);
        move |path: &str, body: &[u8]| writer.write(path, body)
    })?;
    let written = written + write_archive(config, &builder, out, pid, direct)?;
    target.finish()?;
    tracing::info!(
        files = written,
        out = %args.out.display(),
        took_ms = started.elapsed().as_millis() as u64,
        "site written"
    );
    // The process ends here: freeing ten thousand articles one allocation at a time
    // would only delay the exit, so leave it to the OS. The store holds no open files.
    std::mem::forget((store, library));
    Ok(ExitCode::SUCCESS)
}

/// Writes the archive of digest editions, read from the configured database when it
/// exists. A build on a machine without one (a CI job that only has the articles)
/// writes the archive's pages without editions, so that the home page's link to it
/// still leads somewhere, and says so. Returns how many files it wrote.
fn write_archive(
    config: &Config,
    builder: &Builder,
    out: &Dir,
    pid: u32,
    direct: bool,
) -> anyhow::Result<usize> {
    let digests = super::archive::archived(config);
    let mut writer = Writer::new(out, pid, direct);
    let missing = match &config.database {
        crate::config::Database::Sqlite { path } => (!path.is_file()).then_some(path),
        crate::config::Database::Postgres { .. } => None,
    };
    if digests.is_empty() || missing.is_some() {
        if let (false, Some(path)) = (digests.is_empty(), missing) {
            tracing::info!(
                database = %path.display(),
                "no database: the archive of digest editions is written without editions"
            );
        }
        return builder
            .export_archive::<anyhow::Error>(&digests, &[], |path, body| writer.write(path, body));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let editions = runtime.block_on(async {
        let store = super::open_store(config).await?;
        let editions = store.editions().await;
        store.close().await;
        anyhow::Ok(editions?)
    })?;
    builder
        .export_archive::<anyhow::Error>(&digests, &editions, |path, body| writer.write(path, body))
}

/// The file a URL path is stored in, relative to the output folder and `/`-separated:
/// pages become `index.html` in their folder (`articles/x` and `audiences/hr/` alike);
/// feeds and `404.html` keep their names. Appended to `out`.
fn push_file_for(path: &str, out: &mut String) {
    if path.is_empty() || path.ends_with('/') {
        out.push_str(path);
        out.push_str("index.html");
    } else if path.ends_with(".xml") || path.ends_with(".json") || path.ends_with(".html") {
        out.push_str(path);
    } else {
        out.push_str(path);
        out.push_str("/index.html");
    }
}

/// Writes every document of a built site under `out`; returns how many. `crier build`
/// writes as it renders instead (`Builder::export`); this writes a `Site` kept in memory.
pub fn write_site(site: &Site, out: &Path) -> anyhow::Result<usize> {
    let out = open_out(out)?;
    let paths = site.paths();
    let pid = std::process::id();
    in_shares(paths.len(), cores(), |share| {
        let mut writer = Writer::new(&out, pid, false);
        paths[share]
            .iter()
            .try_for_each(|path| match site.get(path) {
                Some(resource) => writer.write(path, &resource.body),
                None => Ok(()),
            })
    })
    .into_iter()
    .collect::<anyhow::Result<()>>()?;
    Ok(paths.len())
}

/// Makes the output folder if missing and opens it: every file is written relative to it.
fn open_out(out: &Path) -> anyhow::Result<Dir> {
    let context = || format!("cannot create {}", out.display());
    std::fs::create_dir_all(out).with_context(context)?;
    Dir::open(out).with_context(context)
}

/// Where a build writes: the output folder itself when it exists, or else a new
/// folder beside it (`.NAME.PID.partial`) that [`Target::finish`] renames to it. A
/// build that fails removes that folder, so nothing half built is left.
struct Target {
    dir: Dir,
    /// The temporary folder and the output folder's path, when building into one.
    staging: Option<(PathBuf, PathBuf)>,
}

impl Target {
    fn new(out: &Path, pid: u32) -> anyhow::Result<Target> {
        if std::fs::symlink_metadata(out).is_ok() {
            return Ok(Target {
                dir: open_out(out)?,
                staging: None,
            });
        }
        let name = out
            .file_name()
            .with_context(|| format!("{} names no folder", out.display()))?;
        let parent = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let mut temp = std::ffi::OsString::from(".");
        temp.push(name);
        temp.push(format!(".{pid}.partial"));
        let staging = parent.join(temp);
        // Left by a build with the same process id that was killed.
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot remove {}", staging.display()))?;
        }
        std::fs::create_dir(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(Target {
            dir: open_out(&staging)?,
            staging: Some((staging, out.to_path_buf())),
        })
    }

    /// Puts a folder built under a temporary name into place.
    fn finish(mut self) -> anyhow::Result<()> {
        if let Some((staging, out)) = &self.staging {
            std::fs::rename(staging, out).with_context(|| {
                format!(
                    "cannot move the site built in {} to {} (did something create it meanwhile?)",
                    staging.display(),
                    out.display()
                )
            })?;
            self.staging = None;
        }
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some((staging, _)) = &self.staging {
            let _ = std::fs::remove_dir_all(staging);
        }
    }
}

/// Writes documents under one output folder, one per thread: each to a temporary
/// name beside its target and then renamed into place, or, in a folder nobody reads
/// yet (`direct`), straight to its name.
struct Writer<'a> {
    out: &'a Dir,
    /// Names the temporary files; asked once, not once per file.
    pid: u32,
    direct: bool,
    /// The last folder this writer made or found, relative to `out`: a feed's three
    /// formats share one, so it is not asked for again.
    folder: String,
    /// The target and temporary names of the file being written, reused.
    target: String,
    temp: String,
}

impl<'a> Writer<'a> {
    fn new(out: &'a Dir, pid: u32, direct: bool) -> Self {
        Writer {
            out,
            pid,
            direct,
            folder: String::new(),
            target: String::new(),
            temp: String::new(),
        }
    }

    /// Writes the document at URL path `path`.
    fn write(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        use std::fmt::Write as _;
        use std::io::Write as _;
        self.target.clear();
        push_file_for(path, &mut self.target);
        let (dir, name) = match self.target.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", self.target.as_str()),
        };
        self.temp.clear();
        if !dir.is_empty() {
            if self.folder != dir {
                make_folder(self.out, dir)
                    .with_context(|| format!("cannot create {}", self.out.join(dir).display()))?;
                self.folder.clear();
                self.folder.push_str(dir);
            }
            self.temp.push_str(dir);
            self.temp.push('/');
        }
        if self.direct {
            let target = &self.target;
            let shown = || self.out.join(target).display().to_string();
            let mut file = self
                .out
                .create_file(target)
                .with_context(|| format!("cannot write {}", shown()))?;
            file.write_all(bytes)
                .with_context(|| format!("cannot write {}", shown()))?;
            return Ok(());
        }
        let _ = write!(self.temp, ".{name}.{}.tmp", self.pid);
        let temp = &self.temp;
        let shown = || self.out.join(temp).display().to_string();
        let mut file = self
            .out
            .create_file(temp)
            .with_context(|| format!("cannot write {}", shown()))?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", shown()))?;
        drop(file);
        self.out.rename(temp, &self.target).with_context(|| {
            format!(
                "cannot move {} into place",
                self.out.join(&self.target).display()
            )
        })?;
        Ok(())
    }
}

/// Makes a folder whose parent most likely exists (each article has its own): one
/// `mkdir`, and the whole chain only when the parent is missing too.
fn make_folder(out: &Dir, dir: &str) -> std::io::Result<()> {
    match out.create_dir(dir) {
        Ok(()) => Ok(()),
        // A folder from an earlier build. Were it a file, writing into it fails below.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out.join(dir))
        }
        Err(e) => Err(e),
    }
}

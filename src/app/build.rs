//! `crier build --out DIR`: the whole site as static files. Each file is written to a
//! temporary name beside its target and renamed into place, so a web server or CDN
//! reading the folder never sees half a file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::{read_store, site_builder};
use crate::cli::BuildArgs;
use crate::config::Config;
use crate::site::Site;

pub(super) fn run(config: &Config, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut store = read_store(config, &args.store)?;
    // Indexing the snapshot keeps one core busy; the templates compile on the other.
    let (library, builder) = std::thread::scope(|scope| {
        let builder = scope.spawn(|| site_builder(config));
        let library = store.snapshot();
        let builder = builder
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (library, builder)
    });
    for error in library.errors() {
        tracing::error!("{error}");
    }
    let builder = builder?;
    let out = args.out.as_path();
    make_out(out)?;
    let pid = std::process::id();
    // Each page is written by the thread that rendered it, right away, and dropped.
    let written = builder.export::<_, anyhow::Error>(&library, || {
        let mut writer = Writer::new(out, pid);
        move |path: &str, body: &[u8]| writer.write(path, body)
    })?;
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

/// The file a URL path is stored in: pages become `index.html` in their folder.
pub fn file_for(path: &str) -> PathBuf {
    if path.is_empty() {
        PathBuf::from("index.html")
    } else if path.ends_with(".xml") || path.ends_with(".json") {
        PathBuf::from(path)
    } else {
        Path::new(path).join("index.html")
    }
}

/// Writes every document of a built site under `out`; returns how many. `crier build`
/// writes as it renders instead (`Builder::export`); this writes a `Site` kept in memory.
pub fn write_site(site: &Site, out: &Path) -> anyhow::Result<usize> {
    make_out(out)?;
    let paths = site.paths();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = paths.len().div_ceil(threads).max(1);
    let pid = std::process::id();
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut writer = Writer::new(out, pid);
                    for path in part {
                        if let Some(resource) = site.get(path) {
                            writer.write(path, &resource.body)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a writer thread failed"))??;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(paths.len())
}

fn make_out(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))
}

/// Writes documents under one output folder, each to a temporary name beside its
/// target and then renamed into place. One per thread.
struct Writer<'a> {
    out: &'a Path,
    /// Names the temporary files; asked once, not once per file.
    pid: u32,
    /// The last folder this writer made or found: a feed's three formats share one,
    /// so it is not asked for again.
    folder: Option<PathBuf>,
}

impl<'a> Writer<'a> {
    fn new(out: &'a Path, pid: u32) -> Self {
        Writer {
            out,
            pid,
            folder: None,
        }
    }

    /// Writes the document at URL path `path`.
    fn write(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let target = self.out.join(file_for(path));
        let dir = target.parent().unwrap_or(self.out);
        if dir != self.out && self.folder.as_deref() != Some(dir) {
            make_folder(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            self.folder = Some(dir.to_path_buf());
        }
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        let temp = dir.join(format!(".{name}.{}.tmp", self.pid));
        std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
        std::fs::rename(&temp, &target)
            .with_context(|| format!("cannot move {} into place", target.display()))?;
        Ok(())
    }
}

/// Makes a folder whose parent most likely exists (each article has its own): one
/// `mkdir`, and the whole chain only when the parent is missing too.
fn make_folder(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        // A folder from an earlier build. Were it a file, writing into it fails below.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir),
        Err(e) => Err(e),
    }
}

//! `crier build --out DIR`: the whole site as static files. Each file is written to a
//! temporary name beside its target and renamed into place, so a web server or CDN
//! reading the folder never sees half a file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::{load_store, site_builder};
use crate::cli::BuildArgs;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::site::Site;

pub(super) fn run(config: &Config, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (_, library) = load_store(config, &args.store)?;
    for error in library.errors() {
        tracing::error!("{error}");
    }
    let builder = site_builder(config)?;
    let site = builder.build(library, SystemClock.now().into())?;
    let written = write_site(&site, &args.out)?;
    tracing::info!(
        files = written,
        out = %args.out.display(),
        took_ms = started.elapsed().as_millis() as u64,
        "site written"
    );
    // The process ends here: freeing ten thousand documents one allocation at a time
    // would only delay the exit (about 6% of a 10k-article build), so leave it to the OS.
    std::mem::forget(site);
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

/// Writes every document under `out`; returns how many.
pub fn write_site(site: &Site, out: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let paths = site.paths();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = paths.len().div_ceil(threads).max(1);
    let pid = std::process::id();
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for path in part {
                        let Some(resource) = site.get(path) else {
                            continue;
                        };
                        write_atomically(&out.join(file_for(path)), &resource.body, pid)?;
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

/// `pid` names the temporary file; asked once, not once per file.
fn write_atomically(target: &Path, bytes: &[u8], pid: u32) -> anyhow::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let temp = dir.join(format!(".{name}.{pid}.tmp"));
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, target)
        .with_context(|| format!("cannot move {} into place", target.display()))?;
    Ok(())
}

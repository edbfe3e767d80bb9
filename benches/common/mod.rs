//! What the benchmark harnesses share: the generated corpus and its cache marker,
//! in-place title edits that are put back afterwards, and readings from `/proc`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use crier::model::Article;

/// The generator's seed, the same for every benchmark.
pub const SEED: u64 = 7;
/// Present, holding the generator's arguments, only while a corpus is complete and
/// unedited.
const MARKER: &str = ".bench-corpus-complete";

/// The corpus of `n` articles in `target/bench-corpus/<name>`, generated with
/// `gen_articles.py --count N --seed 7` and `extra` arguments unless a complete one
/// with the same arguments is cached there.
pub fn ensure_corpus(repo: &Path, shared: &Path, name: &str, n: usize, extra: &[&str]) -> PathBuf {
    let base = repo.join("target").join("bench-corpus");
    let dir = base.join(name);
    let marker = dir.join(MARKER);
    let stamp = format!(
        "gen_articles.py --count {n} --seed {SEED}{}\n",
        extra.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    if fs::read_to_string(&marker).is_ok_and(|s| s == stamp) {
        return dir;
    }
    let generator = shared.join("corpus").join("gen_articles.py");
    assert!(
        generator.is_file(),
        "the corpus generator {} is missing; set CRIER_SHARED to the shared folder",
        generator.display()
    );
    let partial = base.join(format!("{name}.partial"));
    for stale in [&dir, &partial] {
        if stale.exists() {
            fs::remove_dir_all(stale).expect("remove a stale corpus");
        }
    }
    fs::create_dir_all(&base).expect("create target/bench-corpus");
    println!("generating {n} articles into {} …", dir.display());
    let started = Instant::now();
    let status = Command::new("python3")
        .arg(&generator)
        .arg(&partial)
        .args(["--count", &n.to_string(), "--seed", &SEED.to_string()])
        .args(extra)
        .status()
        .expect("run python3 gen_articles.py");
    assert!(status.success(), "gen_articles.py failed: {status}");
    fs::rename(&partial, &dir).expect("move the corpus into place");
    fs::write(&marker, &stamp).expect("write the corpus marker");
    println!("  generated in {:.1} s", started.elapsed().as_secs_f64());
    dir
}

/// An article file a benchmark edits.
pub struct Target {
    pub path: PathBuf,
    pub rel: String,
    pub slug: String,
    pub title: String,
}

/// Edits article titles in a corpus in place and puts every edited file back when
/// dropped. Meanwhile the corpus is not marked complete, so a run that dies mid-way
/// makes the next one generate it again.
pub struct Edits {
    root: PathBuf,
    marker: PathBuf,
    stamp: Option<String>,
    originals: Vec<(PathBuf, Vec<u8>)>,
}

impl Edits {
    pub fn new(corpus: &Path) -> Edits {
        let marker = corpus.join(MARKER);
        let stamp = fs::read_to_string(&marker).ok();
        let _ = fs::remove_file(&marker);
        Edits {
            // Canonical, as the store keeps its root and the watcher reports paths.
            root: fs::canonicalize(corpus.join("articles")).expect("canonical root"),
            marker,
            stamp,
            originals: Vec::new(),
        }
    }

    /// Remembers these articles' files for restoring; they become the targets.
    pub fn take<'a>(
        &mut self,
        articles: impl IntoIterator<Item = &'a Arc<Article>>,
    ) -> Vec<Target> {
        let targets: Vec<Target> = articles
            .into_iter()
            .map(|a| Target {
                path: self.root.join(&a.file),
                rel: a.file.clone(),
                slug: a.slug.clone(),
                title: a.title.clone(),
            })
            .collect();
        assert!(!targets.is_empty(), "no article to edit");
        for t in &targets {
            let bytes = fs::read(&t.path).expect("read an article");
            self.originals.push((t.path.clone(), bytes));
        }
        targets
    }

    /// Rewrites the title line (the second line of a brief) of the target's original.
    pub fn write_title(&self, target: &Target, title: &str) {
        let (_, original) = self
            .originals
            .iter()
            .find(|(p, _)| *p == target.path)
            .expect("an article taken before");
        let text = std::str::from_utf8(original).expect("UTF-8 article");
        let mut lines: Vec<&str> = text.split('\n').collect();
        assert!(lines.len() > 2, "{} is too short", target.rel);
        lines[1] = title;
        fs::write(&target.path, lines.join("\n")).expect("write the edit");
    }
}

impl Drop for Edits {
    fn drop(&mut self) {
        let mut restored = true;
        for (path, bytes) in &self.originals {
            if let Err(e) = fs::write(path, bytes) {
                eprintln!("could not restore {}: {e}", path.display());
                restored = false;
            }
        }
        if restored && let Some(stamp) = &self.stamp {
            let _ = fs::write(&self.marker, stamp);
        }
    }
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    }
}

/// User + system CPU time of the whole process (every thread, live or ended), in ms.
/// The kernel counts it in clock ticks, so it is good to 10 ms.
pub fn process_cpu_ms() -> f64 {
    static TICK_MS: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
            .map_or(10.0, |hz| 1000.0 / hz)
    });
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14 and stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) * *TICK_MS
}

/// Starts a new VmHWM (peak RSS) count; without it the peak is the whole run's.
pub fn reset_peak_rss() {
    if fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("cannot reset VmHWM: peak RSS figures cover the run so far");
    }
}

/// A `Vm…` line of /proc/self/status, in KiB (0 where there is none).
pub fn vm_kib(key: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

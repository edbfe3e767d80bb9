//! Article store benchmarks: a full load, the bare file reads it is bounded by, a
//! one-file reload, and the latency of the watcher from a write to a new snapshot.
//!
//!     cargo bench --bench library
//!
//! A plain harness (no criterion). The corpus comes from the shared generator
//! (`../shared/corpus/gen_articles.py`, or `$CRIER_SHARED/corpus/…`) and is cached in
//! `target/bench-corpus/<N>`, generated once. `CRIER_BENCH_SIZES` (default
//! `10000,100000`) picks the sizes. Every load is checked: the library must hold N
//! articles and no errors, or the benchmark panics. Files edited by the benchmark are
//! restored before it ends; should it die mid-way, the cache marker is already gone
//! and the next run regenerates the corpus.
//!
//! Prints a table per size, then one `BENCH {json}` line per figure.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crier::articles::parse::parse_file;
use crier::articles::watch::StoreWatcher;
use crier::articles::{ArticleStore, Library};
use crier::audience::{Matcher, Taxonomy};

mod common;
use common::{
    Edits, cores, ensure_corpus, loadavg, median, process_cpu_ms, reset_peak_rss, vm_kib,
};

const MARKDOWN: &str = "0.2";
const RELOAD_EDITS: usize = 25;
const WATCH_EDITS: usize = 20;
/// Pause between watched edits, so each one is a separate debounced reload.
const WATCH_GAP: Duration = Duration::from_millis(300);
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);
const IO_THREADS: usize = 2;

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child_main(&spec);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("CRIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared"));
    let sizes: Vec<usize> = std::env::var("CRIER_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("CRIER_BENCH_SIZES: `{s}` is not a number"))
        })
        .collect();

    println!(
        "crier article store benchmark: {} cores (available_parallelism), sizes {:?}",
        std::thread::available_parallelism().map_or(1, usize::from),
        sizes
    );
    let mut figures = Vec::new();
    for &n in &sizes {
        let corpus = ensure_corpus(repo, &shared, &n.to_string(), n, &["--markdown", MARKDOWN]);
        figures.extend(bench_size(&corpus, n));
    }
    println!();
    for figure in &figures {
        println!("BENCH {}", figure.json());
    }
}

// ---------------------------------------------------------------------------------
// Corpus

/// The file names and titles the generator wrote (`expected.jsonl`).
fn expected_titles(corpus: &Path) -> HashMap<String, String> {
    let text = fs::read_to_string(corpus.join("expected.jsonl")).expect("read expected.jsonl");
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("expected.jsonl line");
            (
                v["file"].as_str().expect("file").to_string(),
                v["title"].as_str().expect("title").to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// The benchmarks of one size

fn bench_size(corpus: &Path, n: usize) -> Vec<Figure> {
    let root = corpus.join("articles");
    let taxonomy_file = corpus.join("audiences.toml");
    let taxonomy = Arc::new(Taxonomy::load(&taxonomy_file).expect("load audiences.toml"));
    let runs = if n >= 50_000 { 5 } else { 9 };
    let mut figures = Vec::new();
    let load_before = loadavg();
    println!(
        "\n=== {n} articles ({}) === load average {load_before:.2} on {} cores",
        root.display(),
        cores()
    );

    // 1. Full load, checked once against what the generator wrote, then timed.
    let (store, library) = load(&root, &taxonomy, n);
    check_titles(&library, &expected_titles(corpus));
    drop((store, library));
    let mut load_ms = Vec::new();
    let mut snapshot_ms = Vec::new();
    let mut total_ms = Vec::new();
    let mut cpu_ms = Vec::new();
    reset_peak_rss();
    for _ in 0..runs {
        let cpu_before = process_cpu_ms();
        let started = Instant::now();
        let mut store = ArticleStore::load(&root, Arc::clone(&taxonomy)).expect("load the store");
        let loaded = started.elapsed();
        let library = store.snapshot();
        let total = started.elapsed();
        cpu_ms.push(process_cpu_ms() - cpu_before);
        check(&library, n);
        load_ms.push(ms(loaded));
        snapshot_ms.push(ms(total - loaded));
        total_ms.push(ms(total));
    }
    let full = Stats::of(&total_ms);
    figures.push(Figure::new(n, "full_load", "load + snapshot", &total_ms));
    figures.push(Figure::new(n, "load_only", "ArticleStore::load", &load_ms));
    figures.push(Figure::new(n, "snapshot_only", "snapshot()", &snapshot_ms));
    figures.push(Figure::new(
        n,
        "full_load_cpu",
        "CPU time, all threads",
        &cpu_ms,
    ));
    let rss_in_bench = vm_kib("VmHWM") as f64 / 1024.0;

    // 2. The IO floor: list the folder and read every file, nothing else.
    read_all_files(&root, 1);
    let mut io1 = Vec::new();
    let mut io2 = Vec::new();
    let mut io_cpu = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let bytes = read_all_files(&root, 1);
        io1.push(ms(started.elapsed()));
        assert_eq!(bytes.len(), n, "the IO floor read {} files", bytes.len());
        drop(bytes);
        let cpu_before = process_cpu_ms();
        let started = Instant::now();
        let bytes = read_all_files(&root, IO_THREADS);
        io2.push(ms(started.elapsed()));
        io_cpu.push(process_cpu_ms() - cpu_before);
        assert_eq!(bytes.len(), n, "the IO floor read {} files", bytes.len());
    }
    figures.push(Figure::new(n, "io_floor_1_thread", "list + fs::read", &io1));
    figures.push(Figure::new(
        n,
        "io_floor_2_threads",
        "list + fs::read",
        &io2,
    ));
    figures.push(Figure::new(
        n,
        "io_floor_cpu",
        "CPU time, 2 threads",
        &io_cpu,
    ));

    // Where the CPU time of a load goes.
    let phases = phase_breakdown(&root, &taxonomy, n);
    figures.extend(
        phases
            .iter()
            .map(|(name, what, t)| Figure::new(n, name, what, &[*t])),
    );

    // 3. One-file reload and 4. watch latency, on files edited in place and restored.
    let mut edits = Edits::new(corpus);
    let mut store = ArticleStore::load(&root, Arc::clone(&taxonomy)).expect("load the store");
    let library = store.snapshot();
    check(&library, n);
    let targets = edits.take(pick(&library, 5));
    let mut reload_ms = Vec::new();
    let mut write_ms = Vec::new();
    for k in 0..RELOAD_EDITS {
        let target = &targets[k % targets.len()];
        let title = format!("{} (reload edit {k})", target.title);
        let started = Instant::now();
        edits.write_title(target, &title);
        let written = Instant::now();
        let changed = store.update(std::slice::from_ref(&target.path));
        let library = store.snapshot();
        reload_ms.push(ms(written.elapsed()));
        write_ms.push(ms(written - started));
        assert_eq!(
            changed,
            vec![target.rel.clone()],
            "update() reported {changed:?}"
        );
        check(&library, n);
        let got = &library.get(&target.slug).expect("the edited article").title;
        assert_eq!(got, &title, "the reload did not pick up the new title");
    }
    figures.push(Figure::new(
        n,
        "reload_one_file",
        "update + snapshot",
        &reload_ms,
    ));
    figures.push(Figure::new(
        n,
        "reload_write",
        "the edit's write",
        &write_ms,
    ));

    let (tx, mut rx) = tokio::sync::watch::channel(store.snapshot());
    let started = Instant::now();
    let watcher = StoreWatcher::start(store, Some(&taxonomy_file), tx).expect("start the watcher");
    let watch_start_ms = ms(started.elapsed());
    figures.push(Figure::new(
        n,
        "watch_start",
        "StoreWatcher::start",
        &[watch_start_ms],
    ));
    std::thread::sleep(WATCH_GAP);
    rx.mark_unchanged();
    let mut watch_ms = Vec::new();
    let mut extra_publishes = 0;
    for k in 0..WATCH_EDITS {
        let target = &targets[k % targets.len()];
        let title = format!("{} (watch edit {k})", target.title);
        edits.write_title(target, &title);
        let written = Instant::now();
        loop {
            if rx.has_changed().expect("the watcher dropped its sender") {
                let library = Arc::clone(&rx.borrow_and_update());
                let got = library.get(&target.slug).map(|a| a.title.as_str());
                if got == Some(title.as_str()) {
                    watch_ms.push(ms(written.elapsed()));
                    check(&library, n);
                    break;
                }
                extra_publishes += 1;
            }
            assert!(
                written.elapsed() < WATCH_TIMEOUT,
                "no snapshot with the new title {:?} within {WATCH_TIMEOUT:?}",
                title
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        std::thread::sleep(WATCH_GAP);
        if rx.has_changed().unwrap_or(false) {
            extra_publishes += 1;
            rx.mark_unchanged();
        }
    }
    watcher.stop();
    figures.push(Figure::new(
        n,
        "watch_latency",
        "write end → snapshot",
        &watch_ms,
    ));
    drop(edits); // restores the files and the cache marker

    // 5. Peak memory, in a fresh process: in this one, memory freed by earlier
    // phases (in other threads' malloc arenas) stays resident and would count.
    let (rss_peak, rss_held) = child_rss(corpus, n);
    let load_after = loadavg();

    let watch = Stats::of(&watch_ms);
    let io_floor = Stats::of(&io2).median;
    let cpu_ratio = Stats::of(&cpu_ms).median / Stats::of(&io_cpu).median;
    println!(
        "{:<22} {:>10} {:>10} {:>10}  runs",
        "figure (ms)", "median", "min", "max"
    );
    for f in &figures {
        println!(
            "{:<22} {:>10.1} {:>10.1} {:>10.1}  {:>3}  {}",
            f.name, f.stats.median, f.stats.min, f.stats.max, f.stats.runs, f.what
        );
    }
    let rate = n as f64 / (full.median / 1000.0);
    println!("full load rate          {rate:>10.0} articles/s (median)");
    println!(
        "full load / IO floor    {:>10.1}x (2 threads), {:.1}x (1 thread)",
        full.median / io_floor,
        full.median / Stats::of(&io1).median
    );
    println!("full load / IO floor    {cpu_ratio:>10.1}x in CPU time");
    println!(
        "watch latency           {:>10.1} ms median, {:.1} ms max ({} intermediate publishes)",
        watch.median, watch.max, extra_publishes
    );
    println!(
        "peak RSS (VmHWM)        {rss_peak:>10.1} MiB in a process that loads once ({rss_held:.1} MiB held after); {rss_in_bench:.1} MiB in this one after the full loads"
    );
    println!(
        "load average            {load_before:>10.2} before, {load_after:.2} after ({} cores)",
        cores()
    );
    figures.push(Figure::value(n, "full_load_rate", "articles_per_s", rate));
    figures.push(Figure::value(
        n,
        "loadavg_before",
        "1-min load",
        load_before,
    ));
    figures.push(Figure::value(n, "loadavg_after", "1-min load", load_after));
    figures.push(Figure::value(
        n,
        "full_load_over_io_floor",
        "ratio",
        full.median / io_floor,
    ));
    figures.push(Figure::value(
        n,
        "full_load_over_io_floor_cpu",
        "ratio",
        cpu_ratio,
    ));
    figures.push(Figure::value(n, "peak_rss_one_load", "MiB", rss_peak));
    figures.push(Figure::value(n, "rss_held_after_load", "MiB", rss_held));
    figures.push(Figure::value(
        n,
        "peak_rss_bench_after_full_loads",
        "MiB",
        rss_in_bench,
    ));
    figures
}

fn load(root: &Path, taxonomy: &Arc<Taxonomy>, n: usize) -> (ArticleStore, Arc<Library>) {
    let mut store = ArticleStore::load(root, Arc::clone(taxonomy)).expect("load the store");
    let library = store.snapshot();
    check(&library, n);
    (store, library)
}

/// A load that lost articles or reported errors is not worth timing.
fn check(library: &Library, n: usize) {
    if library.len() != n || !library.errors().is_empty() {
        let first: Vec<String> = library
            .errors()
            .iter()
            .take(5)
            .map(|e| e.to_string())
            .collect();
        panic!(
            "the library holds {} articles and {} errors, expected {n} and none; first errors: {first:#?}",
            library.len(),
            library.errors().len()
        );
    }
}

fn check_titles(library: &Library, expected: &HashMap<String, String>) {
    assert_eq!(
        library.len(),
        expected.len(),
        "expected.jsonl disagrees on the count"
    );
    let wrong: Vec<String> = library
        .articles()
        .iter()
        .filter(|a| expected.get(&a.file) != Some(&a.title))
        .take(5)
        .map(|a| {
            format!(
                "{}: {:?} (expected {:?})",
                a.file,
                a.title,
                expected.get(&a.file)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "titles differ from expected.jsonl: {wrong:#?}"
    );
}

/// Lists the folder and reads every article file, on `threads` threads.
fn read_all_files(root: &Path, threads: usize) -> Vec<Vec<u8>> {
    let paths = list(root);
    if threads <= 1 {
        return paths.iter().map(|p| fs::read(p).expect("read")).collect();
    }
    let chunk = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| fs::read(p).expect("read"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reader thread"))
            .collect()
    })
}

fn list(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root)
        .expect("list the articles")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "md"))
        .collect()
}

/// Where the CPU time of a load goes: each phase alone on this thread, measured in
/// CPU time of the thread (so that other processes on the machine count less):
/// reading, parsing (per format), classifying, building the library.
fn phase_breakdown(
    root: &Path,
    taxonomy: &Arc<Taxonomy>,
    n: usize,
) -> Vec<(&'static str, &'static str, f64)> {
    let paths = list(root);
    let cpu = thread_cpu_ms();
    let files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, fs::read(p).expect("read"))
        })
        .collect();
    let read = thread_cpu_ms() - cpu;
    // Markdown sections go through pulldown-cmark and ammonia, briefs through the
    // line parser and the plain-text escaper.
    let mut articles = Vec::with_capacity(files.len());
    let mut parse_ms = [0.0f64; 2];
    let mut counts = [0usize; 2];
    for markdown in [false, true] {
        let cpu = thread_cpu_ms();
        for (name, bytes) in files
            .iter()
            .filter(|(name, _)| name.ends_with(".md") == markdown)
        {
            articles.push(parse_file(name, bytes).expect("parse"));
            counts[markdown as usize] += 1;
        }
        parse_ms[markdown as usize] = thread_cpu_ms() - cpu;
    }
    println!(
        "parse, 1 thread, CPU time: {:.1} µs per brief ({} files), {:.1} µs per Markdown file ({} files)",
        1000.0 * parse_ms[0] / counts[0].max(1) as f64,
        counts[0],
        1000.0 * parse_ms[1] / counts[1].max(1) as f64,
        counts[1]
    );
    let cpu = thread_cpu_ms();
    let matcher = Matcher::new(taxonomy);
    for article in &mut articles {
        let c = matcher.classify(article).expect("classify");
        article.audiences = c.audiences;
        article.unmatched = c.unmatched;
    }
    let classify = thread_cpu_ms() - cpu;
    let cpu = thread_cpu_ms();
    let library = Library::new(
        articles.into_iter().map(Arc::new).collect(),
        Vec::new(),
        Arc::clone(taxonomy),
    );
    let index = thread_cpu_ms() - cpu;
    assert_eq!(library.len(), n);
    let cpu = thread_cpu_ms();
    drop(library);
    let free = thread_cpu_ms() - cpu;
    vec![
        ("cpu_read", "CPU: list + fs::read", read),
        (
            "cpu_parse",
            "CPU: parse_file, all",
            parse_ms[0] + parse_ms[1],
        ),
        ("cpu_parse_brief", "CPU: parse_file, .txt", parse_ms[0]),
        ("cpu_parse_markdown", "CPU: parse_file, .md", parse_ms[1]),
        ("cpu_classify", "CPU: Matcher::classify", classify),
        ("cpu_library_new", "CPU: Library::new", index),
        ("cpu_drop", "CPU: dropping it all", free),
    ]
}

/// Peak and final RSS of a fresh process that loads the store and takes a snapshot:
/// this binary, run again in child mode (see [`child_main`]).
fn child_rss(corpus: &Path, n: usize) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_ENV, format!("{n}:{}", corpus.display()))
        .output()
        .expect("run the RSS child");
    assert!(
        out.status.success(),
        "the RSS child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RSS "))
        .expect("the RSS child's answer");
    let mut kib = line
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    let peak = kib.next().unwrap_or(f64::NAN) / 1024.0;
    let now = kib.next().unwrap_or(f64::NAN) / 1024.0;
    (peak, now)
}

const CHILD_ENV: &str = "CRIER_BENCH_RSS_CHILD";

/// Child mode: load, snapshot, check, and print `RSS <VmHWM KiB> <VmRSS KiB>`.
fn child_main(spec: &str) {
    let (n, corpus) = spec.split_once(':').expect("N:corpus");
    let n: usize = n.parse().expect("N");
    let corpus = Path::new(corpus);
    let taxonomy = Arc::new(Taxonomy::load(&corpus.join("audiences.toml")).expect("taxonomy"));
    let (store, library) = load(&corpus.join("articles"), &taxonomy, n);
    println!("RSS {} {}", vm_kib("VmHWM"), vm_kib("VmRSS"));
    drop((store, library));
}

// ---------------------------------------------------------------------------------
// What to edit in place (`common::Edits` puts it back, also when a check panics)

/// `count` brief (`.txt`) articles spread over the store.
fn pick(library: &Library, count: usize) -> Vec<&Arc<crier::model::Article>> {
    let mut briefs: Vec<_> = library
        .articles()
        .iter()
        .filter(|a| a.file.ends_with(".txt"))
        .collect();
    briefs.sort_by(|a, b| a.file.cmp(&b.file));
    let step = (briefs.len() / count).max(1);
    briefs.into_iter().step_by(step).take(count).collect()
}

// ---------------------------------------------------------------------------------
// Figures

#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
}

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        assert!(!samples.is_empty());
        Stats {
            median: median(samples),
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            runs: samples.len(),
        }
    }
}

struct Figure {
    size: usize,
    name: &'static str,
    what: &'static str,
    stats: Stats,
    /// A figure that is a single value in `what` units, not milliseconds.
    value: Option<f64>,
}

impl Figure {
    fn new(size: usize, name: &'static str, what: &'static str, samples: &[f64]) -> Figure {
        Figure {
            size,
            name,
            what,
            stats: Stats::of(samples),
            value: None,
        }
    }

    fn value(size: usize, name: &'static str, unit: &'static str, value: f64) -> Figure {
        Figure {
            size,
            name,
            what: unit,
            stats: Stats::of(&[value]),
            value: Some(value),
        }
    }

    fn json(&self) -> String {
        let round = |x: f64| (x * 100.0).round() / 100.0;
        match self.value {
            Some(v) => serde_json::json!({
                "bench": "library", "size": self.size, "figure": self.name,
                "value": round(v), "unit": self.what,
            }),
            None => serde_json::json!({
                "bench": "library", "size": self.size, "figure": self.name,
                "median_ms": round(self.stats.median), "min_ms": round(self.stats.min),
                "max_ms": round(self.stats.max), "runs": self.stats.runs,
            }),
        }
        .to_string()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time of the calling thread, in ms (from the scheduler's nanosecond count).
fn thread_cpu_ms() -> f64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e6)
}

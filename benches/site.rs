//! Site build benchmarks: every feed and page of a 10,000-article store rendered in
//! memory, the same build written to disk as `crier build` writes it, the release
//! binary's `crier build` as a subprocess, and one-article incremental updates.
//!
//!     cargo bench --bench site
//!
//! A plain harness (no criterion). The corpus comes from the shared generator
//! (`../shared/corpus/gen_articles.py --count N --seed 7`, or `$CRIER_SHARED/corpus/…`)
//! and is cached in `target/bench-corpus/site-N`, generated once. Environment:
//! `CRIER_SITE_ARTICLES` (default 10000), `CRIER_SITE_RUNS` (default 9, at least 7),
//! `CRIER_SITE_EDITS` (edits of each kind, default 24, at least 20).
//!
//! Figures:
//! - `build`: `Builder::build` of the whole site in memory (wall, and process CPU time
//!   of all threads); `drop_site`: dropping the result.
//! - `store_load`: `ArticleStore::load` + `snapshot`, the first step of `crier build`.
//! - phases of a build: every feed rendered (one thread, as `Builder::build` does),
//!   the index alone (an update where only the library handle changed), the SHA-256
//!   ETag of every page (made on a page's first request, never by `build`), and what is
//!   left of `build` after feeds and index.
//! - `build_write`: `build` plus writing every document to a fresh folder on disk
//!   (under `$CRIER_SITE_OUT`, default the system's temporary folder), each file to a
//!   temporary name in its folder and renamed into place, on all cores, as
//!   `crier build` does; `write` alone. `…_tmpfs`: the same into `/dev/shm`.
//! - `crier_build`: the release binary `crier --config … build --out DIR` (store load
//!   included), one warm-up then the timed runs, under `/usr/bin/time -v` (when
//!   installed) for its CPU time and peak RSS; `…_tmpfs` with the output in `/dev/shm`.
//! - `update_recent` / `update_old`: edit one article's title, then `store.update` +
//!   `snapshot` + `builder.update`; a newest article sits in several feeds, an oldest
//!   one in none. `changes.rendered` is reported for both.
//! - peak RSS (VmHWM, reset before each part) of this process during the in-memory
//!   builds and during the updates.
//!
//! Output folders on disk are removed only after the last run that writes there: on an
//! ext4 without a journal the inode allocator skips, at a cost, inodes freed in the
//! last minutes, so removing between runs slows down the next one (and writing inside
//! a `target/` where cargo keeps replacing files is slow for the same reason). Edited articles
//! are restored before the benchmark ends; the corpus marker is removed while they are
//! edited, so a run that dies mid-way makes the next one regenerate the corpus.
//!
//! Prints each figure as it is measured, a table, then one `BENCH {json}` line per figure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crier::articles::{ArticleStore, Library};
use crier::audience::Taxonomy;
use crier::feeds::{self, FeedInput, Format, Scope, SiteMeta};
use crier::site::{Builder, Kind, Resource, Site, listing};
use crier::templates::Templates;

mod common;
use common::{
    Edits, cores, ensure_corpus, loadavg, median, process_cpu_ms, reset_peak_rss, vm_kib,
};

const LIMIT: usize = 50;

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("CRIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared"));
    let n = env_number("CRIER_SITE_ARTICLES", 10_000);
    let runs = env_number("CRIER_SITE_RUNS", 9).max(7);
    let edits = env_number("CRIER_SITE_EDITS", 24).max(20);
    let load_before = loadavg();
    println!(
        "crier site benchmark: {n} articles, {runs} runs, {edits} edits of each kind, {} cores, load average {load_before:.2}",
        cores()
    );
    let corpus = ensure_corpus(repo, &shared, &format!("site-{n}"), n, &[]);
    let mut figures = Vec::new();

    let root = corpus.join("articles");
    let taxonomy = Arc::new(Taxonomy::load(&corpus.join("audiences.toml")).expect("audiences"));
    let mut store = ArticleStore::load(&root, Arc::clone(&taxonomy)).expect("load the store");
    let library = store.snapshot();
    check(&library, n);
    drop(store);
    let builder = Builder::new(site_meta(), Arc::new(Templates::embedded()));
    let scopes = Scope::all(&library).len();
    // Each article's page, the index, 404.html, three feeds a scope, and the pages of
    // every audience and category.
    let listing_pages: usize = Scope::all(&library)
        .iter()
        .filter(|scope| **scope != Scope::Site)
        .map(|scope| listing::page_count(listing::scope_articles(&library, scope).len()))
        .sum();
    let expected_documents = n + 2 + 3 * scopes + listing_pages;

    // Warm-up, and a look at what a site holds.
    let site = builder
        .build(Arc::clone(&library), SystemTime::now())
        .expect("build");
    assert_eq!(site.len(), expected_documents, "documents in the site");
    let shape = Shape::of(&site);
    let feed_items = std::str::from_utf8(&site.get("feed.xml").expect("feed.xml").body)
        .expect("utf-8 feed")
        .matches("<item>")
        .count();
    assert_eq!(feed_items, LIMIT.min(n), "items in feed.xml");
    drop(site);
    println!(
        "site: {} documents ({} feeds in {scopes} scopes, {} pages), {:.1} MiB of bodies ({:.1} MiB feeds); feed.xml {:.0} KiB",
        expected_documents,
        shape.feeds,
        shape.pages,
        mib(shape.bytes),
        mib(shape.feed_bytes),
        shape.site_feed as f64 / 1024.0
    );

    // (a) The full build in memory.
    reset_peak_rss();
    let rss_base = vm_kib("VmRSS");
    let mut build_ms = Vec::new();
    let mut build_cpu_ms = Vec::new();
    let mut drop_ms = Vec::new();
    for _ in 0..runs {
        let cpu = process_cpu_ms();
        let started = Instant::now();
        let site = builder
            .build(Arc::clone(&library), SystemTime::now())
            .expect("build");
        build_ms.push(ms(started));
        build_cpu_ms.push(process_cpu_ms() - cpu);
        assert_eq!(site.len(), expected_documents);
        let started = Instant::now();
        drop(site);
        drop_ms.push(ms(started));
    }
    let rss_build = vm_kib("VmHWM");
    add(
        &mut figures,
        Figure::new("build", "Builder::build, wall", &build_ms),
    );
    add(
        &mut figures,
        Figure::new(
            "build_cpu",
            "Builder::build, CPU all threads",
            &build_cpu_ms,
        ),
    );

    add(
        &mut figures,
        Figure::new("drop_site", "dropping a built Site", &drop_ms),
    );

    // The store load that `crier build` does first (see `cargo bench --bench library`).
    let mut load_ms = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut store = ArticleStore::load(&root, Arc::clone(&taxonomy)).expect("load the store");
        let loaded = store.snapshot();
        load_ms.push(ms(started));
        check(&loaded, n);
    }
    add(
        &mut figures,
        Figure::new(
            "store_load",
            "ArticleStore::load + snapshot, wall",
            &load_ms,
        ),
    );

    // Where a build's time goes.
    let mut feeds_ms = Vec::new();
    let mut index_ms = Vec::new();
    let mut hash_ms = Vec::new();
    let site = builder
        .build(Arc::clone(&library), SystemTime::now())
        .expect("build");
    for _ in 0..runs {
        let started = Instant::now();
        let rendered = render_feeds(&builder, &library);
        feeds_ms.push(ms(started));
        assert_eq!(rendered, 3 * scopes);

        // Same articles, new library handle: only the index and the 404 page (which
        // lists the audiences) are rendered again.
        let relisted = Arc::new(Library::new(
            library.articles().to_vec(),
            Vec::new(),
            Arc::clone(&taxonomy),
        ));
        let started = Instant::now();
        let (updated, changes) = builder
            .update(&site, relisted, SystemTime::now())
            .expect("update");
        index_ms.push(ms(started));
        assert_eq!(changes.rendered, 2, "only the index and 404 are rendered");
        assert_eq!(updated.len(), expected_documents);
        drop(updated);

        // A copy of every page and its SHA-256 ETag, as the server makes it on first use.
        let started = Instant::now();
        let mut hashed = 0;
        for path in site.paths() {
            let resource = site.get(path).expect("a listed path");
            if resource.kind == Kind::Page {
                let copy = Resource::new(
                    resource.body.to_vec(),
                    resource.content_type,
                    Kind::Page,
                    resource.last_modified,
                );
                hashed += copy.etag().len();
            }
        }
        hash_ms.push(ms(started));
        assert_eq!(hashed, 32 * shape.pages);
    }
    let feeds_med = median(&feeds_ms);
    let index_med = median(&index_ms);
    let build_med = median(&build_ms);
    let pages_rest = (build_med - feeds_med - index_med).max(0.0);
    add(
        &mut figures,
        Figure::new("phase_feeds", "every feed rendered, 1 thread", &feeds_ms),
    );
    add(
        &mut figures,
        Figure::new(
            "phase_index_update",
            "update that renders only the index",
            &index_ms,
        ),
    );
    add(
        &mut figures,
        Figure::new(
            "phase_page_hashing",
            "ETag (SHA-256) of every page, 1 thread",
            &hash_ms,
        ),
    );
    add(
        &mut figures,
        Figure::value(
            "phase_pages_rest",
            "ms: build - feeds - index (pages, hashing, maps)",
            pages_rest,
        ),
    );
    drop(site);

    // (b) Build and write, as `crier build` does, to a fresh folder per run: in a
    // temporary folder on disk (`CRIER_SITE_OUT`, default the system's temporary
    // folder), then on tmpfs (/dev/shm) for the floor without the disk file system's
    // block and inode allocation. Disk folders are only removed at the end: on an ext4
    // without a journal (as on the machine these were first taken on) the inode
    // allocator skips, at a cost, inodes freed in the last minutes, so removing between
    // runs slows the next one down; for the same reason a folder inside a busy
    // `target/`, where cargo keeps replacing files, is a bad place to time writes.
    let disk_base = std::env::var_os("CRIER_SITE_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let outputs = [
        (
            Out::Disk,
            disk_base.join(format!("crier-bench-site-{}", std::process::id())),
        ),
        (
            Out::Tmpfs,
            Path::new("/dev/shm").join(format!("crier-bench-site-{}", std::process::id())),
        ),
    ];
    println!(
        "writing to {} and {}",
        outputs[0].1.display(),
        outputs[1].1.display()
    );
    for (out_kind, scratch) in &outputs {
        if *out_kind == Out::Tmpfs && !Path::new("/dev/shm").is_dir() {
            println!("no /dev/shm: no tmpfs figures");
            continue;
        }
        if scratch.exists() {
            fs::remove_dir_all(scratch).expect("remove old benchmark output");
        }
        fs::create_dir_all(scratch).expect("create the benchmark output folder");
        let mut build_write_ms = Vec::new();
        let mut write_ms = Vec::new();
        for k in 0..runs {
            let out = scratch.join(format!("lib-{k}"));
            let started = Instant::now();
            let site = builder
                .build(Arc::clone(&library), SystemTime::now())
                .expect("build");
            let built = Instant::now();
            let written = crier::app::write_site(&site, &out).expect("write the site");
            write_ms.push(ms(built));
            build_write_ms.push(ms(started));
            assert_eq!(written, expected_documents);
            if k == 0 {
                check_written(&out, &shape, expected_documents);
            }
            if *out_kind == Out::Tmpfs {
                fs::remove_dir_all(&out).expect("remove a tmpfs output");
            }
        }
        let (name_bw, name_w) = match out_kind {
            Out::Disk => ("build_write", "write"),
            Out::Tmpfs => ("build_write_tmpfs", "write_tmpfs"),
        };
        add(
            &mut figures,
            Figure::new(
                name_bw,
                "build + write every file (temp + rename), wall",
                &build_write_ms,
            ),
        );
        add(
            &mut figures,
            Figure::new(name_w, "writing alone, all cores, wall", &write_ms),
        );

        // The release binary, store load included.
        let binary = crier_build_runs(
            &corpus,
            scratch,
            *out_kind,
            runs,
            expected_documents,
            &shape,
        );
        if let Some(b) = &binary {
            let names = match out_kind {
                Out::Disk => ["crier_build", "crier_build_cpu", "crier_build_peak_rss"],
                Out::Tmpfs => [
                    "crier_build_tmpfs",
                    "crier_build_tmpfs_cpu",
                    "crier_build_tmpfs_peak_rss",
                ],
            };
            add(
                &mut figures,
                Figure::new(
                    names[0],
                    "crier build --out DIR (subprocess, store load included), wall",
                    &b.wall_ms,
                ),
            );
            add(
                &mut figures,
                Figure::new(names[1], "crier build, user + sys CPU", &b.cpu_ms),
            );
            if !b.rss_kib.is_empty() {
                add(
                    &mut figures,
                    Figure::value(
                        names[2],
                        "MiB, max over runs (/usr/bin/time -v)",
                        b.rss_kib.iter().copied().fold(0.0, f64::max) / 1024.0,
                    ),
                );
            }
        }
        fs::remove_dir_all(scratch).expect("remove benchmark output");
    }

    // (c) Incremental updates: one edited article at a time.
    reset_peak_rss();
    let mut store = ArticleStore::load(&root, Arc::clone(&taxonomy)).expect("load the store");
    let mut library = store.snapshot();
    check(&library, n);
    let mut site = builder
        .build(Arc::clone(&library), SystemTime::now())
        .expect("build");
    let mut edit = Edits::new(&corpus);
    let recent = edit.take(briefs(&library, 0..5));
    let old = edit.take(briefs(&library, n - 5..n));
    let mut results: [(Vec<f64>, Vec<f64>, Vec<usize>); 2] = Default::default();
    for k in 0..2 * edits {
        let (kind, targets) = if k % 2 == 0 { (0, &recent) } else { (1, &old) };
        let target = &targets[(k / 2) % targets.len()];
        let marker = format!("(site edit {k})");
        edit.write_title(target, &format!("{} {marker}", target.title));
        let started = Instant::now();
        // The store keeps its root canonical, as the watcher reports paths.
        let changed = store.update(&[store.root().join(&target.rel)]);
        let new_library = store.snapshot();
        let rendered_from = Instant::now();
        let (new_site, changes) = builder
            .update(&site, Arc::clone(&new_library), SystemTime::now())
            .expect("update");
        let (total, render) = (ms(started), ms(rendered_from));
        assert_eq!(changed, vec![target.rel.clone()], "update() reported");
        check(&new_library, n);
        let page = &new_site
            .get(&format!("articles/{}", target.slug))
            .expect("the edited page")
            .body;
        assert!(contains(page, &marker), "the page shows the new title");
        if kind == 0 {
            let feed = &new_site.get("feed.xml").expect("feed.xml").body;
            assert!(contains(feed, &marker), "the site feed shows the new title");
        }
        results[kind].0.push(total);
        results[kind].1.push(render);
        results[kind].2.push(changes.rendered);
        site = new_site;
        library = new_library;
    }
    drop(edit); // restores the files and the corpus marker
    let rss_update = vm_kib("VmHWM");
    drop((site, library, store));
    for (kind, (name, what)) in [
        (
            "update_recent",
            "edit a newest article: update + snapshot + builder.update",
        ),
        (
            "update_old",
            "edit an oldest article: update + snapshot + builder.update",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (total, render, rendered) = &results[kind];
        add(&mut figures, Figure::new(name, what, total));
        add(
            &mut figures,
            Figure::new(
                if kind == 0 {
                    "update_recent_render"
                } else {
                    "update_old_render"
                },
                "builder.update alone",
                render,
            ),
        );
        let counts: Vec<f64> = rendered.iter().map(|&r| r as f64).collect();
        add(
            &mut figures,
            Figure::counted(
                if kind == 0 {
                    "update_recent_rendered"
                } else {
                    "update_old_rendered"
                },
                "documents rendered per edit (changes.rendered; count, not ms)",
                "documents",
                &counts,
            ),
        );
    }
    add(
        &mut figures,
        Figure::value(
            "peak_rss_build",
            "MiB VmHWM, library + in-memory builds",
            rss_build as f64 / 1024.0,
        ),
    );
    add(
        &mut figures,
        Figure::value(
            "rss_before_builds",
            "MiB VmRSS, library loaded",
            rss_base as f64 / 1024.0,
        ),
    );
    add(
        &mut figures,
        Figure::value(
            "peak_rss_updates",
            "MiB VmHWM, store + site + updates",
            rss_update as f64 / 1024.0,
        ),
    );
    let load_after = loadavg();
    add(
        &mut figures,
        Figure::value("loadavg_before", "1-min load", load_before),
    );
    add(
        &mut figures,
        Figure::value("loadavg_after", "1-min load", load_after),
    );

    println!();
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>5}  what",
        "figure (ms unless said)", "median", "min", "max", "runs"
    );
    for f in &figures {
        match &f.stats {
            Some(s) => println!(
                "{:<28} {:>9.1} {:>9.1} {:>9.1} {:>5}  {}",
                f.name, s.median, s.min, s.max, s.runs, f.what
            ),
            None => println!("{:<28} {:>9.1} {:>31}{}", f.name, f.value, "", f.what),
        }
    }
    println!();
    for f in &figures {
        println!("BENCH {}", f.json(n));
    }
}

// ---------------------------------------------------------------------------------
// The site

fn site_meta() -> SiteMeta {
    SiteMeta {
        title: "crier bench".into(),
        description: "Generated briefs for the site benchmark.".into(),
        base_url: url::Url::parse("https://news.example.test/").expect("base URL"),
        author: "The bench desk".into(),
        author_email: None,
        id_authority: "news.example.test".into(),
        id_date: "2026-01-01".into(),
        hub: None,
        limit: LIMIT,
        ttl_minutes: 5,
    }
}

/// Every feed of the library rendered the way `Builder::build` does it.
fn render_feeds(builder: &Builder, library: &Library) -> usize {
    let meta = builder.meta();
    let mut rendered = 0;
    for scope in Scope::all(library) {
        let entries = scope.entries(library, meta.limit);
        let (title, description) = scope.describe(meta, library);
        let input = FeedInput {
            site: meta,
            taxonomy: library.taxonomy(),
            scope: &scope,
            title,
            description,
            entries: entries.iter().map(|a| a.as_ref()).collect(),
        };
        for format in Format::ALL {
            let body = feeds::render(&input, format);
            let resource =
                Resource::new(body, format.content_type(), Kind::Feed, SystemTime::now());
            assert!(!resource.body.is_empty());
            rendered += 1;
        }
    }
    rendered
}

struct Shape {
    feeds: usize,
    pages: usize,
    bytes: usize,
    feed_bytes: usize,
    site_feed: usize,
}

impl Shape {
    fn of(site: &Site) -> Shape {
        let mut shape = Shape {
            feeds: 0,
            pages: 0,
            bytes: 0,
            feed_bytes: 0,
            site_feed: site.get("feed.xml").map_or(0, |r| r.body.len()),
        };
        for path in site.paths() {
            let resource = site.get(path).expect("a listed path");
            shape.bytes += resource.body.len();
            match resource.kind {
                Kind::Feed => {
                    shape.feeds += 1;
                    shape.feed_bytes += resource.body.len();
                }
                Kind::Page => shape.pages += 1,
            }
        }
        shape
    }
}

fn check_written(out: &Path, shape: &Shape, documents: usize) {
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![out.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read the output").flatten() {
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += entry.metadata().expect("metadata").len() as usize;
            }
        }
    }
    assert_eq!(files, documents, "files written (no temporary file left)");
    assert_eq!(bytes, shape.bytes, "bytes written");
}

// ---------------------------------------------------------------------------------
// The release binary

/// Where build output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// A temporary folder on disk (`CRIER_SITE_OUT`, default the temporary folder).
    Disk,
    /// /dev/shm.
    Tmpfs,
}

struct BinaryRuns {
    wall_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
    rss_kib: Vec<f64>,
}

/// `crier --config … build --out DIR`, one warm-up then `runs` timed runs, each into a
/// fresh folder. `None` when the binary cannot be run.
fn crier_build_runs(
    corpus: &Path,
    scratch: &Path,
    out_kind: Out,
    runs: usize,
    documents: usize,
    shape: &Shape,
) -> Option<BinaryRuns> {
    let binary = Path::new(env!("CARGO_BIN_EXE_crier"));
    if !binary.is_file() {
        println!("{} is missing: no subprocess figures", binary.display());
        return None;
    }
    let config = scratch.join("crier.toml");
    fs::write(
        &config,
        format!(
            "[site]\ntitle = \"crier bench\"\nbase_url = \"https://news.example.test/\"\n\
             description = \"Generated briefs for the site benchmark.\"\nauthor = \"The bench desk\"\n\
             templates = {:?}\n\n[store]\npath = {:?}\naudiences = {:?}\n",
            scratch.join("no-templates").display().to_string(),
            corpus.join("articles").display().to_string(),
            corpus.join("audiences.toml").display().to_string(),
        ),
    )
    .expect("write the config");
    let time = Path::new("/usr/bin/time");
    let with_time = time.is_file();
    if !with_time {
        println!("/usr/bin/time is missing (apt-get install time): no peak RSS for the binary");
    }
    let mut result = BinaryRuns {
        wall_ms: Vec::new(),
        cpu_ms: Vec::new(),
        rss_kib: Vec::new(),
    };
    for k in 0..=runs {
        let out = scratch.join(format!("bin-{k}"));
        let mut command = if with_time {
            let mut c = Command::new(time);
            c.arg("-v").arg(binary);
            c
        } else {
            Command::new(binary)
        };
        command
            .arg("--config")
            .arg(&config)
            .arg("build")
            .arg("--out")
            .arg(&out)
            .env("RUST_LOG", "warn");
        let started = Instant::now();
        let output = command.output().expect("run crier build");
        let wall = ms(started);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "crier build failed: {stderr}");
        if k == 0 {
            // Same metadata as `site_meta`, so the same files and bytes as the library's build.
            check_written(&out, shape, documents);
        }
        if out_kind == Out::Tmpfs {
            fs::remove_dir_all(&out).expect("remove a tmpfs output");
        }
        if k == 0 {
            continue; // warm-up
        }
        result.wall_ms.push(wall);
        if with_time {
            let field = |name: &str| {
                stderr
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(name))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            };
            let user = field("User time (seconds):").unwrap_or(f64::NAN);
            let sys = field("System time (seconds):").unwrap_or(f64::NAN);
            result.cpu_ms.push((user + sys) * 1000.0);
            if let Some(kib) = field("Maximum resident set size (kbytes):") {
                result.rss_kib.push(kib);
            }
        }
    }
    if result.cpu_ms.is_empty() {
        result.cpu_ms.push(f64::NAN);
    }
    Some(result)
}

// ---------------------------------------------------------------------------------
// Corpus and edits

/// The brief-format articles at these positions of the newest-first list.
fn briefs(library: &Library, range: std::ops::Range<usize>) -> Vec<&Arc<crier::model::Article>> {
    library.articles()[range]
        .iter()
        .filter(|a| a.file.ends_with(".txt"))
        .collect()
}

/// A load that lost articles or reported errors is not worth timing.
fn check(library: &Library, n: usize) {
    assert!(
        library.len() == n && library.errors().is_empty(),
        "the library holds {} articles and {} errors, expected {n} and none",
        library.len(),
        library.errors().len()
    );
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------------
// Numbers

/// Keeps a figure and shows it at once, so a long run shows progress.
fn add(figures: &mut Vec<Figure>, figure: Figure) {
    println!(
        "  {:<28} {:>9.1}  {}",
        figure.name, figure.value, figure.what
    );
    figures.push(figure);
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
}

struct Figure {
    name: &'static str,
    what: &'static str,
    /// Of the samples: `ms` for timings.
    unit: &'static str,
    stats: Option<Stats>,
    value: f64,
}

impl Figure {
    fn new(name: &'static str, what: &'static str, samples: &[f64]) -> Figure {
        Figure::counted(name, what, "ms", samples)
    }

    fn counted(
        name: &'static str,
        what: &'static str,
        unit: &'static str,
        samples: &[f64],
    ) -> Figure {
        assert!(!samples.is_empty(), "{name}: no samples");
        let (min, max) = samples
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let med = median(samples);
        Figure {
            name,
            what,
            unit,
            stats: Some(Stats {
                median: med,
                min,
                max,
                runs: samples.len(),
            }),
            value: med,
        }
    }

    fn value(name: &'static str, what: &'static str, value: f64) -> Figure {
        Figure {
            name,
            what,
            unit: "",
            stats: None,
            value,
        }
    }

    fn json(&self, n: usize) -> String {
        let mut v = serde_json::json!({
            "bench": "site",
            "articles": n,
            "name": self.name,
            "what": self.what,
            "value": self.value,
        });
        if let Some(s) = &self.stats {
            v["unit"] = self.unit.into();
            v["median"] = s.median.into();
            v["min"] = s.min.into();
            v["max"] = s.max.into();
            v["runs"] = s.runs.into();
        }
        v.to_string()
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn env_number(key: &str, default: usize) -> usize {
    std::env::var(key).map_or(default, |v| {
        v.trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{key}: `{v}` is not a number"))
    })
}

//! Live watching against a real folder: adds, edits, renames, deletes, a broken edit
//! (the last good version stays published), ignored editor files and taxonomy edits.
//! Waits are generous; the latency itself is measured in benches/library.rs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crier::articles::watch::StoreWatcher;
use crier::articles::{ArticleStore, Library};
use crier::audience::Taxonomy;
use tokio::sync::watch;

const PATIENCE: Duration = Duration::from_secs(10);

fn brief(title: &str, who: &str) -> String {
    format!(
        "Acme · 2026 · 10 · 05 · Release · ~2 min read\n{title}\nWhat's actually new\n- Something shipped.\nWho should care\n{who}\n"
    )
}

/// Waits until the published library satisfies `ready`, or fails saying what was awaited.
fn wait_for(
    rx: &watch::Receiver<Arc<Library>>,
    what: &str,
    ready: impl Fn(&Library) -> bool,
) -> Arc<Library> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let library = Arc::clone(&rx.borrow());
        if ready(&library) {
            return library;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: PathBuf,
    taxonomy: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("articles");
    std::fs::create_dir(&store).unwrap();
    let taxonomy = dir.path().join("audiences.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("subscribers/audiences.toml"),
        &taxonomy,
    )
    .unwrap();
    std::fs::write(
        store.join("steady.txt"),
        brief("Steady article", "Developers."),
    )
    .unwrap();
    std::fs::write(store.join("edited.txt"), brief("First title", "HR teams.")).unwrap();
    Fixture {
        _dir: dir,
        store,
        taxonomy,
    }
}

fn start(f: &Fixture) -> (StoreWatcher, watch::Receiver<Arc<Library>>) {
    let taxonomy = Arc::new(Taxonomy::load(&f.taxonomy).unwrap());
    let mut store = ArticleStore::load(&f.store, taxonomy).unwrap();
    let (tx, rx) = watch::channel(store.snapshot());
    let watcher = StoreWatcher::start(store, Some(&f.taxonomy), tx).unwrap();
    (watcher, rx)
}

#[test]
fn add_edit_broken_edit_rename_and_delete() {
    let f = fixture();
    let (watcher, rx) = start(&f);
    let first = Arc::clone(&rx.borrow());
    assert_eq!(first.len(), 2);
    let steady = Arc::clone(first.get("steady").unwrap());

    // Add.
    std::fs::write(
        f.store.join("added.txt"),
        brief("A new arrival", "Security teams."),
    )
    .unwrap();
    let lib = wait_for(&rx, "the added article", |l| l.get("added").is_some());
    assert_eq!(lib.get("added").unwrap().audiences, ["security"]);
    assert!(
        Arc::ptr_eq(lib.get("steady").unwrap(), &steady),
        "an unchanged file is not reparsed"
    );

    // Edit.
    std::fs::write(
        f.store.join("edited.txt"),
        brief("Second title", "HR teams."),
    )
    .unwrap();
    wait_for(&rx, "the edited title", |l| {
        l.get("edited").is_some_and(|a| a.title == "Second title")
    });

    // A broken edit keeps the last good version published and reports the error.
    std::fs::write(
        f.store.join("edited.txt"),
        "Acme · 2026 · 02 · 30 · Release · ~2 min read\nHalf-saved",
    )
    .unwrap();
    let lib = wait_for(&rx, "the error for the broken edit", |l| {
        l.errors().iter().any(|e| e.file == "edited.txt")
    });
    assert_eq!(lib.get("edited").unwrap().title, "Second title");
    let error = lib
        .errors()
        .iter()
        .find(|e| e.file == "edited.txt")
        .unwrap();
    assert_eq!(error.line, Some(1));
    assert!(error.message.contains("2026-02-30 is not a real date"));

    // Mending it clears the error.
    std::fs::write(
        f.store.join("edited.txt"),
        brief("Third title", "HR teams."),
    )
    .unwrap();
    wait_for(&rx, "the mended article", |l| {
        l.errors().is_empty() && l.get("edited").is_some_and(|a| a.title == "Third title")
    });

    // Editor droppings are ignored.
    std::fs::write(f.store.join(".edited.txt.swp"), b"\x00\x01binary").unwrap();
    std::fs::write(f.store.join("edited.txt~"), "backup").unwrap();

    // Rename.
    std::fs::rename(f.store.join("added.txt"), f.store.join("renamed.txt")).unwrap();
    wait_for(&rx, "the renamed article", |l| {
        l.get("renamed").is_some() && l.get("added").is_none()
    });

    // Delete.
    std::fs::remove_file(f.store.join("renamed.txt")).unwrap();
    let lib = wait_for(&rx, "the deleted article to go", |l| {
        l.get("renamed").is_none()
    });
    assert_eq!(lib.len(), 2);
    assert!(
        lib.errors().is_empty(),
        "ignored files made errors: {:?}",
        lib.errors()
    );

    // A new folder with an article in it.
    std::fs::create_dir(f.store.join("2026")).unwrap();
    std::fs::write(
        f.store.join("2026/nested.txt"),
        brief("Nested", "Developers."),
    )
    .unwrap();
    wait_for(&rx, "the nested article", |l| {
        l.get("nested").is_some_and(|a| a.file == "2026/nested.txt")
    });
    watcher.stop();
}

#[test]
fn taxonomy_edits_rederive_audiences() {
    let f = fixture();
    let (watcher, rx) = start(&f);
    std::fs::write(
        f.store.join("astro.txt"),
        brief("Space news", "Astronauts on long missions."),
    )
    .unwrap();
    let lib = wait_for(&rx, "the astro article", |l| l.get("astro").is_some());
    assert!(lib.get("astro").unwrap().audiences.is_empty());
    assert_eq!(lib.get("astro").unwrap().unmatched.len(), 1);

    let mut text = std::fs::read_to_string(&f.taxonomy).unwrap();
    text.push_str(
        "\n[[audience]]\nslug = \"astronauts\"\nname = \"Astronauts\"\nmatch = [\"astronaut\"]\n",
    );
    std::fs::write(&f.taxonomy, text).unwrap();
    let lib = wait_for(&rx, "the new audience", |l| {
        l.get("astro")
            .is_some_and(|a| a.audiences == ["astronauts"])
    });
    assert!(lib.taxonomy().get("astronauts").is_some());
    assert!(lib.get("astro").unwrap().unmatched.is_empty());

    // A broken taxonomy is refused and the previous one stays.
    std::fs::write(
        &f.taxonomy,
        "[[audience]]\nslug = \"Bad Slug\"\nname = \"x\"\n",
    )
    .unwrap();
    std::fs::write(
        f.store.join("later.txt"),
        brief("Later", "Astronauts again."),
    )
    .unwrap();
    let lib = wait_for(&rx, "the later article", |l| l.get("later").is_some());
    assert_eq!(lib.get("later").unwrap().audiences, ["astronauts"]);
    watcher.stop();
}

//! The fixture stores: every valid article parses to what its writer meant, and
//! every broken one is reported with its file, line and reason while the rest load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crier::articles::ArticleStore;
use crier::audience::Taxonomy;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo_taxonomy() -> Arc<Taxonomy> {
    Arc::new(Taxonomy::load(&root().join("subscribers/audiences.toml")).unwrap())
}

fn expected(dir: &Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn valid_fixtures_parse_to_what_was_meant() {
    let dir = root().join("tests/fixtures/valid");
    let library = ArticleStore::load(&dir, demo_taxonomy())
        .unwrap()
        .snapshot();
    assert_eq!(library.errors(), &[], "valid fixtures produced errors");
    let expected = expected(&dir);
    assert_eq!(library.len(), expected.len(), "every fixture is an article");
    for (file, want) in &expected {
        let article = library
            .articles()
            .iter()
            .find(|a| &a.file == file)
            .unwrap_or_else(|| panic!("{file} did not load"));
        let got = serde_json::json!({
            "slug": article.slug,
            "subject": article.subject,
            "published": article.published.to_string(),
            "category": article.category,
            "reading_minutes": article.reading_minutes,
            "title": article.title,
            "last_verified": article.last_verified.map(|d| d.to_string()),
            "audiences": article.audiences,
            "unmatched": article.unmatched.iter().map(|u| u.text.clone()).collect::<Vec<_>>(),
            "sections": article.sections.iter().map(|s| serde_json::to_value(s.kind).unwrap()).collect::<Vec<_>>(),
        });
        assert_eq!(&got, want, "{file}");
    }
}

#[test]
fn valid_fixtures_keep_their_quirks_out_of_the_text() {
    let dir = root().join("tests/fixtures/valid");
    let library = ArticleStore::load(&dir, demo_taxonomy())
        .unwrap()
        .snapshot();
    for article in library.articles() {
        for section in &article.sections {
            for block in &section.blocks {
                let text = block.text();
                assert!(
                    !text.contains('\r'),
                    "{}: CR left in {text:?}",
                    article.file
                );
                assert!(
                    !text.contains('\u{feff}'),
                    "{}: BOM left in {text:?}",
                    article.file
                );
                assert_eq!(text, text.trim(), "{}: untrimmed text", article.file);
            }
        }
    }
    let crlf = library.get("crlf-line-ends").unwrap();
    assert!(
        crlf.html
            .contains("<a href=\"https://pellworth.example/pricing?tier=batch&amp;region=eu\">")
    );
    let wrapped = library.get("wrapped-and-plural").unwrap();
    assert_eq!(
        wrapped.summary(),
        Some(
            "The scribe drafts visit notes that a clinician signs off, and it never sends anything without that sign-off."
        )
    );
}

#[test]
fn hostile_text_is_escaped_in_html() {
    let dir = root().join("tests/fixtures/valid");
    let library = ArticleStore::load(&dir, demo_taxonomy())
        .unwrap()
        .snapshot();
    let hostile = library.get("hostile-text").unwrap();
    assert!(!hostile.html.contains("<script"), "{}", hostile.html);
    assert!(!hostile.html.contains("<iframe"), "{}", hostile.html);
    assert!(!hostile.html.contains("<b>"), "{}", hostile.html);
    assert!(hostile.html.contains("&lt;iframe"), "{}", hostile.html);
    let md = library.get("toml-front-matter").unwrap();
    assert!(md.html.contains("<strong>bold</strong>"), "{}", md.html);
    assert!(
        md.html.contains("<h2>What&#39;s actually new</h2>"),
        "{}",
        md.html
    );
}

#[test]
fn broken_fixtures_are_reported_and_the_rest_still_load() {
    let dir = root().join("tests/fixtures/broken");
    let library = ArticleStore::load(&dir, demo_taxonomy())
        .unwrap()
        .snapshot();
    let expected = expected(&dir);
    let errors: BTreeMap<&str, _> = library
        .errors()
        .iter()
        .map(|e| (e.file.as_str(), e))
        .collect();
    assert_eq!(
        errors.keys().copied().collect::<Vec<_>>(),
        expected.keys().map(String::as_str).collect::<Vec<_>>(),
        "exactly the broken files are reported, once each"
    );
    for (file, want) in &expected {
        let error = errors[file.as_str()];
        let line = want[0].as_u64().map(|l| l as usize);
        let words = want[1].as_str().unwrap();
        assert_eq!(error.line, line, "{file}: {}", error.message);
        assert!(
            error.message.contains(words),
            "{file}: {:?} lacks {words:?}",
            error.message
        );
    }
    // The good file loads, and a broken file never takes its slug.
    assert_eq!(library.len(), 1);
    assert_eq!(library.articles()[0].file, "good-neighbour.txt");
}

/// Everything a snapshot answers, in a form two snapshots can be compared by.
fn summary(library: &crier::articles::Library, taxonomy: &Taxonomy) -> Value {
    let slugs = |articles: &mut dyn Iterator<Item = &Arc<crier::model::Article>>| -> Vec<String> {
        articles
            .map(|a| format!("{} {}", a.slug, a.title))
            .collect()
    };
    serde_json::json!({
        "articles": slugs(&mut library.articles().iter()),
        "found": library.articles().iter().all(|a| library.get(&a.slug).is_some_and(|b| Arc::ptr_eq(a, b))),
        "audiences": taxonomy.audiences().iter().map(|a| slugs(&mut library.in_audience(&a.slug))).collect::<Vec<_>>(),
        "categories": library.categories().iter().map(|c| (c.slug.clone(), c.name.clone(), c.articles.clone())).collect::<Vec<_>>(),
        "errors": library.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
    })
}

/// A snapshot after a few changes is patched from the one before, not rebuilt; it
/// must answer exactly as a snapshot built from scratch would, whatever the change.
#[test]
fn patched_snapshots_equal_rebuilt_ones() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("articles")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let taxonomy = demo_taxonomy();
    let mut store = ArticleStore::load(dir.path(), Arc::clone(&taxonomy)).unwrap();
    store.snapshot();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let retitle = |path: &Path, title: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = title;
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    };
    let copy = dir.path().join("zz-copy.txt");
    type Step<'a> = (&'a str, Box<dyn Fn() -> Vec<PathBuf> + 'a>);
    let steps: Vec<Step> = vec![
        (
            "a title changes",
            Box::new(|| {
                retitle(&files[0], "A title that changed");
                vec![files[0].clone()]
            }),
        ),
        (
            "two files change at once",
            Box::new(|| {
                retitle(&files[1], "Second change");
                retitle(&files[2], "Third change");
                vec![files[1].clone(), files[2].clone()]
            }),
        ),
        (
            "a file goes",
            Box::new(|| {
                std::fs::remove_file(&files[3]).unwrap();
                vec![files[3].clone()]
            }),
        ),
        (
            "a file breaks, the last good version stays",
            Box::new(|| {
                std::fs::write(&files[4], "no header\n").unwrap();
                vec![files[4].clone()]
            }),
        ),
        (
            "a new file claims a slug already taken",
            Box::new(|| {
                std::fs::copy(&files[5], &copy).unwrap();
                vec![copy.clone()]
            }),
        ),
        (
            "the copy gets its own slug",
            Box::new(|| {
                retitle(&copy, "A copy with a title of its own");
                std::fs::rename(&copy, dir.path().join("zz-own-slug.txt")).unwrap();
                vec![copy.clone(), dir.path().join("zz-own-slug.txt")]
            }),
        ),
        (
            "a title changes after that",
            Box::new(|| {
                retitle(&files[6], "Later change");
                vec![files[6].clone()]
            }),
        ),
    ];
    for (what, step) in steps {
        let paths = step();
        store.update(&paths);
        let patched = store.snapshot();
        let rebuilt = store.full_snapshot();
        assert_eq!(
            summary(&patched, &taxonomy),
            summary(&rebuilt, &taxonomy),
            "after: {what}"
        );
    }
}

/// A valid brief, for stores made in tests.
fn brief(title: &str) -> String {
    format!(
        "Acme · 2026 · 05 · 14 · Release · ~2 min read\n{title}\nWhat's actually new\n- A point.\n"
    )
}

fn errors_by_file(library: &crier::articles::Library) -> BTreeMap<String, String> {
    library
        .errors()
        .iter()
        .map(|e| (e.file.clone(), e.to_string()))
        .collect()
}

#[test]
fn files_too_large_or_too_deeply_nested_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("fine.txt"), brief("Fine")).unwrap();
    // 60,000 nested elements: cleaning them took over a minute before the limit.
    let deep = format!(
        "+++\ntitle = \"Deep\"\ndate = 2026-05-14\nsubject = \"S\"\ncategory = \"C\"\n+++\nA lede.\n\n{}\n",
        "<div>".repeat(60_000)
    );
    std::fs::write(path.join("deep.md"), deep).unwrap();
    let mut big = brief("Big");
    big.push_str(&"- padding padding padding padding padding padding.\n".repeat(25_000));
    assert!(big.len() > 1 << 20);
    std::fs::write(path.join("big.txt"), &big).unwrap();

    let library = ArticleStore::load(path, demo_taxonomy())
        .unwrap()
        .snapshot();
    let titles: Vec<&str> = library
        .articles()
        .iter()
        .map(|a| a.title.as_str())
        .collect();
    assert_eq!(titles, ["Fine"]);
    let errors = errors_by_file(&library);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors["big.txt"]
            .starts_with("big.txt: the file is larger than [store] max_file_bytes (1048576 bytes)"),
        "{errors:?}"
    );
    assert!(
        errors["deep.md"].starts_with("deep.md:9: the HTML is nested more than 100 elements deep"),
        "{errors:?}"
    );

    // A higher limit reads the big file.
    let limits = crier::articles::Limits {
        max_file_bytes: 2 << 20,
    };
    let library = ArticleStore::load_with(path, demo_taxonomy(), limits)
        .unwrap()
        .snapshot();
    assert_eq!(library.len(), 2);
}

#[cfg(unix)]
#[test]
fn links_out_of_the_store_are_reported_and_skipped() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), brief("Secret")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(store.join("sub")).unwrap();
    std::fs::write(store.join("sub/real.txt"), brief("Real")).unwrap();
    symlink(outside.path().join("secret.txt"), store.join("out.txt")).unwrap();
    symlink("../store/sub/real.txt", store.join("sub/../inside.txt")).unwrap();
    // The store itself reached through a link: links inside it are still inside.
    symlink(&store, dir.path().join("linked-store")).unwrap();

    for root in [store.clone(), dir.path().join("linked-store")] {
        let library = ArticleStore::load(&root, demo_taxonomy())
            .unwrap()
            .snapshot();
        let mut files: Vec<&str> = library.articles().iter().map(|a| a.file.as_str()).collect();
        files.sort();
        // inside.txt reads sub/real.txt; as a second article with another slug.
        assert_eq!(files, ["inside.txt", "sub/real.txt"]);
        let errors = errors_by_file(&library);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let error = &errors["out.txt"];
        assert!(error.contains("outside the store folder"), "{error}");
        assert!(error.contains("secret.txt"), "{error}");
    }
}

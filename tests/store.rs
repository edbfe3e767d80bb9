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

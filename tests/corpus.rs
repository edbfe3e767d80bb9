//! A 2,000-article store from the test generator (tests/common/corpus.rs; a fifth of
//! it Markdown) parses completely, and every article gets exactly the fields and
//! audiences the generator planned. CI also runs the shared Python generator's store
//! through `crier check` (.ci/run); this one needs nothing beside the repository.

mod common;

use std::sync::Arc;

use crier::articles::ArticleStore;
use crier::audience::Taxonomy;

#[test]
fn generated_store_parses_with_expected_fields_and_audiences() {
    let out = tempfile::tempdir().unwrap();
    let expected = common::corpus::generate(out.path(), 2000, 7, 0.2);

    let taxonomy = Arc::new(Taxonomy::load(&out.path().join("audiences.toml")).unwrap());
    let library = ArticleStore::load(&out.path().join("articles"), taxonomy)
        .unwrap()
        .snapshot();
    assert_eq!(library.errors(), &[], "the generated store has errors");
    assert_eq!(library.len(), 2000);

    // The store must exercise what it claims to: both formats, both front matters,
    // articles without a summary, with no audience and with several.
    let markdown: Vec<_> = expected
        .iter()
        .filter(|e| e.file.ends_with(".md"))
        .collect();
    assert!(
        markdown.len() > 300,
        "only {} Markdown articles",
        markdown.len()
    );
    let texts: Vec<String> = markdown
        .iter()
        .map(|e| std::fs::read_to_string(out.path().join("articles").join(&e.file)).unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.starts_with("+++")));
    assert!(texts.iter().any(|t| t.starts_with("---")));
    assert!(expected.iter().any(|e| !e.has_summary));
    assert!(expected.iter().any(|e| e.audiences.is_empty()));
    assert!(expected.iter().any(|e| e.audiences.len() >= 3));

    let mut mismatches = Vec::new();
    for want in &expected {
        let Some(article) = library.articles().iter().find(|a| a.file == want.file) else {
            mismatches.push(format!("{}: missing", want.file));
            continue;
        };
        let got = serde_json::json!({
            "file": article.file,
            "slug": article.slug,
            "title": article.title,
            "published": article.published.to_string(),
            "subject": article.subject,
            "category": article.category,
            "reading_minutes": article.reading_minutes,
            "last_verified": article.last_verified.map(|d| d.to_string()),
            "audiences": article.audiences,
        });
        let want_json = want.to_json();
        if got != want_json || article.summary().is_some() != want.has_summary {
            mismatches.push(format!(
                "{}:\n  got  {got} (summary: {})\n  want {want_json} (summary: {})",
                want.file,
                article.summary().is_some(),
                want.has_summary
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of 2000 articles differ:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_generator_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    common::corpus::generate(a.path(), 50, 3, 0.5);
    common::corpus::generate(b.path(), 50, 3, 0.5);
    let read = |dir: &std::path::Path| std::fs::read(dir.join("expected.jsonl")).unwrap();
    assert_eq!(read(a.path()), read(b.path()));
}

//! A 2,000-article store from the shared generator (a fifth of it Markdown) parses
//! completely, and every article gets exactly the fields and audiences the generator
//! wrote down in expected.jsonl.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crier::articles::ArticleStore;
use crier::audience::Taxonomy;
use serde_json::Value;

fn generator() -> PathBuf {
    let shared = std::env::var_os("CRIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    shared.join("corpus/gen_articles.py")
}

#[test]
fn generated_store_parses_with_expected_audiences() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(generator())
        .arg(out.path())
        .args(["--count", "2000", "--seed", "7", "--markdown", "0.2"])
        .status()
        .expect("python3 runs the shared corpus generator");
    assert!(status.success(), "gen_articles.py failed");

    let taxonomy = Arc::new(Taxonomy::load(&out.path().join("audiences.toml")).unwrap());
    let library = ArticleStore::load(&out.path().join("articles"), taxonomy)
        .unwrap()
        .snapshot();
    assert_eq!(library.errors(), &[], "the generated store has errors");

    let expected = std::fs::read_to_string(out.path().join("expected.jsonl")).unwrap();
    let expected: Vec<Value> = expected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(expected.len(), 2000);
    assert_eq!(library.len(), 2000);
    let markdown = expected
        .iter()
        .filter(|e| e["file"].as_str().unwrap().ends_with(".md"))
        .count();
    assert!(
        markdown > 300,
        "the store should mix in Markdown, got {markdown}"
    );

    let mut mismatches = Vec::new();
    for want in &expected {
        let file = want["file"].as_str().unwrap();
        let Some(article) = library.articles().iter().find(|a| a.file == file) else {
            mismatches.push(format!("{file}: missing"));
            continue;
        };
        let got = serde_json::json!({
            "file": article.file,
            "title": article.title,
            "published": article.published.to_string(),
            "category": article.category,
            "subject": article.subject,
            "reading_minutes": article.reading_minutes,
            "audiences": article.audiences,
        });
        if &got != want {
            mismatches.push(format!("{file}:\n  got  {got}\n  want {want}"));
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

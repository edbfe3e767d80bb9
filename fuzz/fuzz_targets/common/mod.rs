//! Shared by the two article targets: parse one store file, check what must hold
//! for any article the parser accepts, then classify it against the demo taxonomy.

use std::sync::LazyLock;

use crier::articles::parse::parse_file;
use crier::audience::{Matcher, Taxonomy};
use crier::model::{Article, Format, is_slug};

static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(|| {
    Taxonomy::parse(
        include_str!("../../../subscribers/audiences.toml"),
        "subscribers/audiences.toml",
    )
    .expect("the demo taxonomy parses")
});

static MATCHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::new(&TAXONOMY));

/// Parses `data` as the store file `rel_path` and checks the result.
pub fn check(rel_path: &str, format: Format, data: &[u8]) {
    // Lines the file has, counting a last line without a newline.
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    match parse_file(rel_path, data) {
        Ok(article) => {
            check_article(&article, rel_path, format, lines);
            check_classification(&article);
        }
        Err(err) => {
            assert!(!err.message.trim().is_empty(), "an error without a message");
            if let Some(line) = err.line {
                // "No title" points at the line after a one-line file, hence + 1.
                assert!(
                    (1..=lines + 1).contains(&line),
                    "error line {line} outside a {lines}-line file: {}",
                    err.message
                );
            }
        }
    }
}

fn check_article(a: &Article, rel_path: &str, format: Format, lines: usize) {
    assert_eq!(a.file, rel_path);
    assert_eq!(a.format, format);
    assert!(!a.slug.is_empty(), "empty slug");
    assert!(is_slug(&a.slug), "slug {:?} is not a slug", a.slug);
    for (what, value) in [
        ("title", &a.title),
        ("subject", &a.subject),
        ("category", &a.category),
    ] {
        assert!(!value.is_empty(), "empty {what}");
        assert_eq!(value.trim(), value.as_str(), "{what} not trimmed");
    }
    assert!(a.reading_minutes >= 1, "reading_minutes is 0");
    if let Some(address) = &a.corrections {
        assert!(address.contains('@'), "corrections address {address:?}");
    }
    assert!(a.audiences.is_empty() && a.unmatched.is_empty());
    assert_no_script(&a.html, "article html");
    for section in &a.sections {
        assert_no_script(&section.html, "section html");
        assert!(
            a.html.contains(&section.html),
            "section html missing from article html"
        );
        for block in &section.blocks {
            assert!(!block.text().is_empty(), "empty block");
            assert!(
                (1..=lines).contains(&block.line()),
                "block line {} outside a {lines}-line file",
                block.line()
            );
        }
    }
}

fn assert_no_script(html: &str, what: &str) {
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "{what} holds a <script: {html}"
    );
}

fn check_classification(a: &Article) {
    let slugs: Vec<&str> = TAXONOMY
        .audiences()
        .iter()
        .map(|x| x.slug.as_str())
        .collect();
    match MATCHER.classify(a) {
        Ok(c) => {
            assert!(
                c.audiences.windows(2).all(|w| w[0] < w[1]),
                "audiences not sorted/unique"
            );
            match &a.declared_audiences {
                Some((declared, _)) => {
                    let mut want = declared.clone();
                    want.sort();
                    want.dedup();
                    assert_eq!(
                        c.audiences, want,
                        "declared audiences not taken as they are"
                    );
                }
                None => {
                    for slug in &c.audiences {
                        assert!(slugs.contains(&slug.as_str()), "unknown audience {slug}");
                    }
                }
            }
            for u in &c.unmatched {
                // Sentences without a letter or digit are dropped, but a bullet is
                // reported whole, so `- >` gives the unmatched text ">".
                assert!(!u.text.trim().is_empty(), "empty unmatched text");
                assert!(u.line >= 1);
            }
        }
        Err((line, message)) => {
            let Some((declared, declared_line)) = &a.declared_audiences else {
                panic!("classify failed without declared audiences: {message}");
            };
            assert_eq!(line, *declared_line);
            assert!(
                declared.iter().any(|s| !slugs.contains(&s.as_str())),
                "{message}"
            );
        }
    }
}

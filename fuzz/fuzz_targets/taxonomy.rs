#![no_main]

use std::sync::LazyLock;

use crier::articles::parse::parse_file;
use crier::audience::{Matcher, Taxonomy, TaxonomyError};
use crier::model::{Article, is_slug};
use libfuzzer_sys::fuzz_target;

const TEXT: &str = "Anyone in customer service. Operations leaders, COOs and HR teams. \
    Software engineers & sysadmins; CISOs! Finance-teams (CFOs) and board members... \
    People, children, analyses, policies, boxes, coaches — İstanbul ß ﬁ 365 admins.";

/// A fixed brief whose "Who should care" section is `TEXT`.
static ARTICLE: LazyLock<Article> = LazyLock::new(|| {
    let brief =
        format!("Acme · 2026 · 01 · 02 · Impact · ~1 min read\nTitle\nWho should care\n{TEXT}\n");
    parse_file("fixed.txt", brief.as_bytes()).expect("the fixed brief parses")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let taxonomy = match Taxonomy::parse(text, "fuzz.toml") {
        Ok(taxonomy) => taxonomy,
        Err(TaxonomyError::Invalid { line, message, .. }) => {
            let lines = text.matches('\n').count() + 1;
            assert!(
                (1..=lines).contains(&line),
                "error line {line} of {lines}: {message}"
            );
            return;
        }
        Err(other) => panic!("parse gave a read error: {other}"),
    };
    let audiences = taxonomy.audiences();
    for (i, a) in audiences.iter().enumerate() {
        assert!(is_slug(&a.slug), "slug {:?}", a.slug);
        assert!(
            audiences[..i].iter().all(|b| b.slug != a.slug),
            "duplicate slug"
        );
        assert!(
            !a.name.is_empty() && a.name.trim() == a.name,
            "name {:?}",
            a.name
        );
    }
    let matcher = Matcher::new(&taxonomy);
    for input in [TEXT, text] {
        let found = matcher.audiences_in(input);
        assert!(
            found.windows(2).all(|w| w[0] < w[1]),
            "not sorted/unique: {found:?}"
        );
        assert!(
            found.iter().all(|&i| i < audiences.len()),
            "index out of range: {found:?}"
        );
    }
    // Every phrase names its own audience.
    for (i, a) in audiences.iter().enumerate() {
        for phrase in &a.phrases {
            assert!(
                matcher.audiences_in(phrase).contains(&i),
                "phrase {phrase:?} does not match its audience {}",
                a.slug
            );
        }
    }
    let c = matcher
        .classify(&ARTICLE)
        .expect("no declared audiences, so no error");
    assert!(c.audiences.windows(2).all(|w| w[0] < w[1]));
    assert!(c.audiences.iter().all(|s| taxonomy.get(s).is_some()));
});

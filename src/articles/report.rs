//! What `crier audiences` and the console's audiences page both report about a
//! library: each audience with its article and subscriber counts, the "Who should
//! care" sentences that name no audience (with the phrase that would match each),
//! and the articles no subscriber would get. The subscriber counts are handed in, so
//! this stays pure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::Library;
use crate::audience::{Suggester, Suggestion};
use crate::model::{Article, EVERYTHING};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudienceRow<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub articles: usize,
    /// Active subscribers who chose the audience.
    pub subscribers: u64,
}

/// Every audience of the taxonomy, in its order. `active` is active subscribers per
/// audience slug ([`crate::store::Stats::by_audience`]).
pub fn audience_rows<'a>(
    library: &'a Library,
    active: &BTreeMap<String, u64>,
) -> Vec<AudienceRow<'a>> {
    library
        .taxonomy()
        .audiences()
        .iter()
        .map(|a| AudienceRow {
            slug: &a.slug,
            name: &a.name,
            articles: library.audience_count(&a.slug),
            subscribers: active.get(&a.slug).copied().unwrap_or(0),
        })
        .collect()
}

/// A "Who should care" sentence that names no audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmatchedSentence<'a> {
    pub file: &'a str,
    pub line: usize,
    pub text: &'a str,
    /// The phrase that would make it name an audience.
    pub suggestion: Option<Suggestion>,
}

/// Every sentence that names no audience, by file and line.
pub fn unmatched(library: &Library) -> Vec<UnmatchedSentence<'_>> {
    unmatched_at(library)
        .into_iter()
        .map(|(article, sentence, suggestion)| sentence_at(library, article, sentence, suggestion))
        .collect()
}

/// Each unmatched sentence as (article position, sentence position, suggestion),
/// by file and line.
fn unmatched_at(library: &Library) -> Vec<(usize, usize, Option<Suggestion>)> {
    let suggester = Suggester::new(library.taxonomy());
    let articles = library.articles();
    let mut items: Vec<(usize, usize, Option<Suggestion>)> = articles
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            let suggester = &suggester;
            a.unmatched
                .iter()
                .enumerate()
                .map(move |(j, u)| (i, j, suggester.suggest(&u.text)))
        })
        .collect();
    items.sort_by(|a, b| {
        let (x, y) = (&articles[a.0], &articles[b.0]);
        x.file
            .cmp(&y.file)
            .then(x.unmatched[a.1].line.cmp(&y.unmatched[b.1].line))
    });
    items
}

fn sentence_at(
    library: &Library,
    article: usize,
    sentence: usize,
    suggestion: Option<Suggestion>,
) -> UnmatchedSentence<'_> {
    let a = &library.articles()[article];
    let u = &a.unmatched[sentence];
    UnmatchedSentence {
        file: &a.file,
        line: u.line,
        text: &u.text,
        suggestion,
    }
}

/// The articles that no active subscriber would get in a digest: none of their
/// audiences has one (an article with no audience at all goes only to those who chose
/// Everything), and nobody chose Everything, which gets every article. Newest first.
/// Only the articles of audiences with no active subscriber are looked into, besides
/// those with no audience.
pub fn unreached<'a>(
    library: &'a Library,
    active: &BTreeMap<String, u64>,
) -> Vec<&'a Arc<Article>> {
    let silent = |slug: &str| active.get(slug).copied().unwrap_or(0) == 0;
    if !silent(EVERYTHING) {
        return Vec::new();
    }
    let articles = library.articles();
    let mut at: Vec<usize> = (0..articles.len())
        .filter(|&i| articles[i].audiences.is_empty())
        .collect();
    for (slug, indices) in library.audiences() {
        if silent(slug) {
            at.extend(
                indices
                    .iter()
                    .filter(|&&i| articles[i].audiences.iter().all(|s| silent(s))),
            );
        }
    }
    at.sort_unstable();
    at.dedup();
    at.into_iter().map(|i| &articles[i]).collect()
}

/// What the report says that depends on the library alone (the unmatched sentences
/// with their suggestions), worked out once for a library.
pub struct LibraryReport {
    library: Arc<Library>,
    unmatched: Vec<(usize, usize, Option<Suggestion>)>,
}

impl LibraryReport {
    pub fn new(library: Arc<Library>) -> Self {
        let unmatched = unmatched_at(&library);
        LibraryReport { library, unmatched }
    }

    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }

    /// As [`unmatched`] says.
    pub fn unmatched(&self) -> impl ExactSizeIterator<Item = UnmatchedSentence<'_>> {
        self.unmatched
            .iter()
            .map(|(article, sentence, suggestion)| {
                sentence_at(&self.library, *article, *sentence, suggestion.clone())
            })
    }
}

/// The last [`LibraryReport`], handed out again while the library is the same one
/// (the same `Arc`: the daemon makes a new one for every change to the store).
#[derive(Default)]
pub struct ReportCache(Mutex<Option<Arc<LibraryReport>>>);

impl ReportCache {
    pub fn get(&self, library: &Arc<Library>) -> Arc<LibraryReport> {
        if let Some(report) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && Arc::ptr_eq(&report.library, library)
        {
            return report.clone();
        }
        let report = Arc::new(LibraryReport::new(library.clone()));
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::articles::parse::parse_file;
    use crate::audience::{Taxonomy, suggest};
    use crate::model::Unmatched;

    fn taxonomy() -> Arc<Taxonomy> {
        Arc::new(
            Taxonomy::parse(
                r#"
[[audience]]
slug = "hr"
name = "HR teams"
match = ["HR teams", "people teams"]

[[audience]]
slug = "devs"
name = "Developers"
match = ["developers", "software engineers"]
"#,
                "audiences.toml",
            )
            .unwrap(),
        )
    }

    /// Article `i` of a library of many: audiences and unmatched sentences vary with it.
    fn article(i: usize) -> Arc<Article> {
        let text = format!(
            "S · 2026 · 01 · {:02} · Release · 1 min read\nTitle {i}\n",
            1 + i % 28
        );
        let mut a = parse_file(&format!("f{}.txt", i % 7), text.as_bytes()).unwrap();
        a.slug = format!("a{i:03}");
        a.audiences = match i % 4 {
            0 => vec![],
            1 => vec!["hr".into()],
            2 => vec!["devs".into()],
            _ => vec!["hr".into(), "devs".into(), "gone".into()],
        };
        a.unmatched = (0..i % 3)
            .map(|j| Unmatched {
                text: [
                    "Support leads and their teams.",
                    "Anyone building software.",
                    "… and you!",
                ][(i + j) % 3]
                    .into(),
                line: 9 - (i % 5) - j,
            })
            .collect();
        Arc::new(a)
    }

    fn library() -> Arc<Library> {
        Arc::new(Library::new(
            (0..60).map(article).collect(),
            vec![],
            taxonomy(),
        ))
    }

    #[test]
    fn unreached_is_what_a_look_at_every_article_finds() {
        let library = library();
        let counts = [
            (1, 0, 0),
            (0, 1, 0),
            (1, 1, 0),
            (0, 0, 0),
            (0, 0, 1),
            (2, 3, 4),
        ];
        for (hr, devs, gone) in counts {
            let active: BTreeMap<String, u64> = [("hr", hr), ("devs", devs), ("gone", gone)]
                .into_iter()
                .map(|(slug, n)| (slug.to_string(), n))
                .collect();
            let every: Vec<&Arc<Article>> = library
                .articles()
                .iter()
                .filter(|a| {
                    a.audiences
                        .iter()
                        .all(|slug| active.get(slug).copied().unwrap_or(0) == 0)
                })
                .collect();
            let got = unreached(&library, &active);
            assert_eq!(got, every, "{active:?}");
            assert!(!got.is_empty());
        }
        assert_eq!(unreached(&library, &BTreeMap::new()).len(), 60);
        // One subscriber with Everything gets them all.
        let everything: BTreeMap<String, u64> = [(EVERYTHING.to_string(), 1)].into();
        assert!(unreached(&library, &everything).is_empty());
        let nobody: BTreeMap<String, u64> = [(EVERYTHING.to_string(), 0)].into();
        assert_eq!(unreached(&library, &nobody).len(), 60);
    }

    #[test]
    fn the_kept_report_is_the_fresh_one_and_follows_a_new_library() {
        let library = library();
        let fresh = unmatched(&library);
        assert!(fresh.len() > 20);
        // Sorted by file and line, each with the suggestion made on its own.
        for pair in fresh.windows(2) {
            assert!((pair[0].file, pair[0].line) <= (pair[1].file, pair[1].line));
        }
        for u in &fresh {
            assert_eq!(u.suggestion, suggest(library.taxonomy(), u.text));
        }
        let cache = ReportCache::default();
        let kept = cache.get(&library);
        assert_eq!(kept.unmatched().collect::<Vec<_>>(), fresh);
        assert!(Arc::ptr_eq(&kept, &cache.get(&library)), "kept");

        let smaller = Arc::new(Library::new(
            (0..30).map(article).collect(),
            vec![],
            taxonomy(),
        ));
        let next = cache.get(&smaller);
        assert!(Arc::ptr_eq(next.library(), &smaller));
        assert_eq!(next.unmatched().collect::<Vec<_>>(), unmatched(&smaller));
        assert!(next.unmatched().len() < fresh.len());
    }
}

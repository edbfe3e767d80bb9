//! What `crier audiences` and the console's audiences page both report about a
//! library: each audience with its article and subscriber counts, the "Who should
//! care" sentences that name no audience (with the phrase that would match each),
//! and the articles no subscriber would get. The subscriber counts are handed in, so
//! this stays pure.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::Library;
use crate::audience::{Suggestion, suggest};
use crate::model::Article;

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
    let taxonomy = library.taxonomy();
    let mut items: Vec<UnmatchedSentence> = library
        .unmatched()
        .map(|(file, u)| UnmatchedSentence {
            file,
            line: u.line,
            text: &u.text,
            suggestion: suggest(taxonomy, &u.text),
        })
        .collect();
    items.sort_by(|a, b| a.file.cmp(b.file).then(a.line.cmp(&b.line)));
    items
}

/// The articles that no active subscriber would get in a digest: none of their
/// audiences has one (an article with no audience at all is in no digest). Newest
/// first.
pub fn unreached<'a>(
    library: &'a Library,
    active: &BTreeMap<String, u64>,
) -> Vec<&'a Arc<Article>> {
    library
        .articles()
        .iter()
        .filter(|a| {
            a.audiences
                .iter()
                .all(|slug| active.get(slug).copied().unwrap_or(0) == 0)
        })
        .collect()
}

//! For a "Who should care" sentence that names no audience: the phrase that would
//! make it name one. Pure: the taxonomy and the sentence in, a suggestion out. The
//! audience is the one whose phrases and name share the most words with the
//! sentence; the phrase is the sentence's own words around the first shared one,
//! so adding it to that audience's `match` list makes the sentence match.

use rustc_hash::FxHashSet;
use serde::Serialize;

use super::Taxonomy;
use super::matcher::{word_forms, words};

/// A phrase to add to an audience's `match` list (or to a new audience's, when no
/// audience shares a word with the sentence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub phrase: String,
    /// The audience's slug; `None` when none comes close.
    pub audience: Option<String>,
}

/// Words too common to tell one audience from another.
const COMMON: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "anyone", "are", "as", "at", "be", "by", "for",
    "from", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "them", "they",
    "this", "those", "to", "who", "whose", "with", "you", "your",
];

fn common(word: &str) -> bool {
    COMMON.contains(&word)
}

/// The suggestion for `sentence`, or `None` when it has no word worth a phrase.
/// For many sentences, build a [`Suggester`] once instead.
pub fn suggest(taxonomy: &Taxonomy, sentence: &str) -> Option<Suggestion> {
    Suggester::new(taxonomy).suggest(sentence)
}

/// [`suggest`] for many sentences: each audience's vocabulary (the forms of the
/// uncommon words of its phrases and name) is worked out once, not per sentence.
pub struct Suggester<'a> {
    taxonomy: &'a Taxonomy,
    vocabularies: Vec<FxHashSet<String>>,
}

impl<'a> Suggester<'a> {
    pub fn new(taxonomy: &'a Taxonomy) -> Self {
        let vocabularies = taxonomy
            .audiences()
            .iter()
            .map(|audience| {
                let mut vocabulary = FxHashSet::default();
                for text in audience.phrases.iter().chain([&audience.name]) {
                    for word in words(text).iter().filter(|w| !common(w)) {
                        vocabulary.extend(word_forms(word));
                    }
                }
                vocabulary
            })
            .collect();
        Suggester {
            taxonomy,
            vocabularies,
        }
    }

    /// The suggestion for `sentence`, or `None` when it has no word worth a phrase.
    pub fn suggest(&self, sentence: &str) -> Option<Suggestion> {
        let said = words(sentence);
        let telling: Vec<usize> = (0..said.len()).filter(|&i| !common(&said[i])).collect();
        let mut best: Option<(usize, usize, usize)> = None; // (shared words, audience, first position)
        for (index, vocabulary) in self.vocabularies.iter().enumerate() {
            let mut shared = telling.iter().filter(|&&i| vocabulary.contains(&said[i]));
            if let Some(&first) = shared.next() {
                let n = 1 + shared.count();
                if best.is_none_or(|(most, _, _)| n > most) {
                    best = Some((n, index, first));
                }
            }
        }
        match best {
            Some((_, index, at)) => Some(Suggestion {
                phrase: phrase_around(&said, at),
                audience: Some(self.taxonomy.audiences()[index].slug.clone()),
            }),
            None => {
                let &at = telling.first()?;
                Some(Suggestion {
                    phrase: phrase_around(&said, at),
                    audience: None,
                })
            }
        }
    }
}

/// The word at `at` with its neighbour after it (or else before it) when that is not
/// a common word: two words say more than one ("support teams", not "support").
fn phrase_around(said: &[String], at: usize) -> String {
    if let Some(next) = said.get(at + 1).filter(|w| !common(w)) {
        format!("{} {next}", said[at])
    } else if let Some(before) = at.checked_sub(1).map(|i| &said[i]).filter(|w| !common(w)) {
        format!("{before} {}", said[at])
    } else {
        said[at].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::Matcher;

    fn taxonomy() -> Taxonomy {
        Taxonomy::parse(
            r#"
[[audience]]
slug = "customer-service"
name = "Customer service"
match = ["customer service", "support agents", "contact centre"]

[[audience]]
slug = "hr"
name = "HR teams"
match = ["HR teams", "people teams"]
"#,
            "audiences.toml",
        )
        .unwrap()
    }

    /// The taxonomy with `phrase` added to `slug`'s phrases.
    fn with_phrase(slug: &str, phrase: &str) -> Taxonomy {
        let mut text = String::new();
        for a in taxonomy().audiences() {
            let mut phrases = a.phrases.clone();
            if a.slug == slug {
                phrases.push(phrase.to_string());
            }
            let quoted: Vec<String> = phrases.iter().map(|p| format!("{p:?}")).collect();
            text.push_str(&format!(
                "[[audience]]\nslug = {:?}\nname = {:?}\nmatch = [{}]\n",
                a.slug,
                a.name,
                quoted.join(", ")
            ));
        }
        Taxonomy::parse(&text, "audiences.toml").unwrap()
    }

    #[test]
    fn the_closest_audience_gets_a_phrase_that_then_matches() {
        let sentence = "Anyone running a support desk for refunds.";
        let taxonomy = taxonomy();
        assert!(Matcher::new(&taxonomy).audiences_in(sentence).is_empty());
        let s = suggest(&taxonomy, sentence).unwrap();
        assert_eq!(s.audience.as_deref(), Some("customer-service"));
        assert_eq!(s.phrase, "support desk");
        let fixed = with_phrase("customer-service", &s.phrase);
        assert_eq!(Matcher::new(&fixed).audiences_in(sentence), vec![0]);
    }

    #[test]
    fn more_shared_words_win_and_plurals_count() {
        // "support" points at customer service once; "team" and "people" at HR twice.
        let s = suggest(&taxonomy(), "Support leads, team leads and people managers").unwrap();
        assert_eq!(s.audience.as_deref(), Some("hr"));
        assert_eq!(s.phrase, "team leads");
    }

    #[test]
    fn with_no_shared_word_the_phrase_is_for_a_new_audience() {
        let s = suggest(&taxonomy(), "The finance office, at quarter end.").unwrap();
        assert_eq!(s.audience, None);
        assert_eq!(s.phrase, "finance office");
        assert_eq!(suggest(&taxonomy(), "… and you!"), None);
    }
}

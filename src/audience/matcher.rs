//! Finds the audiences a "Who should care" section names. Pure: text in, audience
//! slugs out. Matching is on whole words, ignores letter case and punctuation, and
//! treats a phrase's last word as matching its singular and plural forms.

use rustc_hash::FxHashMap;

use super::Taxonomy;
use crate::model::{Article, SectionKind, Unmatched};

/// The audiences derived for one article, and what named none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classification {
    /// Sorted audience slugs.
    pub audiences: Vec<String>,
    pub unmatched: Vec<Unmatched>,
}

/// A compiled taxonomy: phrase forms as word sequences, indexed by their first word.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    by_first_word: FxHashMap<String, Vec<(Vec<String>, usize)>>,
    slugs: Vec<String>,
}

impl Matcher {
    pub fn new(taxonomy: &Taxonomy) -> Matcher {
        let mut by_first_word: FxHashMap<String, Vec<(Vec<String>, usize)>> = FxHashMap::default();
        for (index, audience) in taxonomy.audiences().iter().enumerate() {
            for phrase in &audience.phrases {
                let words = words(phrase);
                let Some((last, head)) = words.split_last() else {
                    continue;
                };
                for form in word_forms(last) {
                    let mut variant = head.to_vec();
                    variant.push(form);
                    let entry = by_first_word.entry(variant[0].clone()).or_default();
                    if !entry.iter().any(|(v, i)| *i == index && *v == variant) {
                        entry.push((variant, index));
                    }
                }
            }
        }
        // Longer phrases first, so the index reads the same whatever the file order.
        for candidates in by_first_word.values_mut() {
            candidates.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        }
        let slugs = taxonomy
            .audiences()
            .iter()
            .map(|a| a.slug.clone())
            .collect();
        Matcher {
            by_first_word,
            slugs,
        }
    }

    /// Indices (in taxonomy order) of the audiences that `text` mentions.
    pub fn audiences_in(&self, text: &str) -> Vec<usize> {
        let mut lower = String::with_capacity(text.len());
        let spans = word_spans(text, &mut lower);
        let words: Vec<&str> = spans.iter().map(|span| &lower[span.clone()]).collect();
        let mut found = Vec::new();
        for start in 0..words.len() {
            let Some(candidates) = self.by_first_word.get(words[start]) else {
                continue;
            };
            let rest = &words[start..];
            for (variant, index) in candidates {
                let matches =
                    rest.len() >= variant.len() && variant.iter().zip(rest).all(|(v, w)| v == w);
                if matches && !found.contains(index) {
                    found.push(*index);
                }
            }
        }
        found.sort_unstable();
        found
    }

    /// Derives the article's audiences from its "Who should care" section, or takes
    /// the ones its front matter declares. An unknown declared slug is an error,
    /// returned with its line.
    pub fn classify(&self, article: &Article) -> Result<Classification, (usize, String)> {
        let mut found = vec![false; self.slugs.len()];
        let mut unmatched = Vec::new();
        for section in article
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::WhoShouldCare)
        {
            for block in &section.blocks {
                let units = match block {
                    crate::model::Block::Bullet { text, .. } => vec![text.as_str()],
                    crate::model::Block::Paragraph { text, .. } => sentences(text),
                };
                for unit in units {
                    let hits = self.audiences_in(unit);
                    if hits.is_empty() {
                        unmatched.push(Unmatched {
                            text: unit.to_string(),
                            line: block.line(),
                        });
                    }
                    for index in hits {
                        found[index] = true;
                    }
                }
            }
        }
        let mut audiences: Vec<String> = match &article.declared_audiences {
            Some((declared, line)) => {
                if let Some(unknown) = declared.iter().find(|s| !self.slugs.contains(s)) {
                    return Err((
                        *line,
                        format!(
                            "`audiences` names `{unknown}`, which is not in the audience taxonomy"
                        ),
                    ));
                }
                declared.clone()
            }
            None => self
                .slugs
                .iter()
                .zip(found)
                .filter(|(_, hit)| *hit)
                .map(|(slug, _)| slug.clone())
                .collect(),
        };
        audiences.sort();
        audiences.dedup();
        Ok(Classification {
            audiences,
            unmatched,
        })
    }
}

/// Lowercase runs of letters and digits; everything else separates words.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut lower = String::with_capacity(text.len());
    word_spans(text, &mut lower)
        .into_iter()
        .map(|span| lower[span].to_string())
        .collect()
}

/// [`words`] without a string per word: appends the lowercase words to `lower`, one
/// after the other, and returns where each one is.
fn word_spans(text: &str, lower: &mut String) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = lower.len();
    for c in text.chars() {
        if c.is_alphanumeric() {
            lower.extend(c.to_lowercase());
        } else if lower.len() > start {
            out.push(start..lower.len());
            start = lower.len();
        }
    }
    if lower.len() > start {
        out.push(start..lower.len());
    }
    out
}

/// Splits a paragraph into sentences at `.`, `!`, `?` or `…` followed by a space, so
/// that a question quoted inside a sentence ("a 'will it?' chat") stays whole.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | '…')
            && chars.peek().is_some_and(|&(_, next)| next.is_whitespace());
        if ends {
            let end = i + c.len_utf8();
            out.push(text[start..end].trim());
            start = end;
        }
    }
    out.push(text[start..].trim());
    out.retain(|s| s.chars().any(char::is_alphanumeric));
    out
}

/// A word and its singular and plural forms.
pub(super) fn word_forms(word: &str) -> Vec<String> {
    const IRREGULAR: [(&str, &str); 6] = [
        ("person", "people"),
        ("man", "men"),
        ("woman", "women"),
        ("child", "children"),
        ("analysis", "analyses"),
        ("staff", "staff"),
    ];
    let mut forms = vec![word.to_string()];
    if !word.chars().all(char::is_alphabetic) || word.chars().count() < 2 {
        return forms;
    }
    for (one, many) in IRREGULAR {
        if word == one {
            forms.push(many.to_string());
        } else if word == many {
            forms.push(one.to_string());
        }
    }
    let sibilant = |w: &str| {
        ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|end| w.ends_with(end))
    };
    // Singular forms of a plural.
    if let Some(stem) = word.strip_suffix("ies").filter(|s| !s.is_empty()) {
        forms.push(format!("{stem}y"));
    }
    if let Some(stem) = word.strip_suffix("es").filter(|s| sibilant(s)) {
        forms.push(stem.to_string());
    }
    if let Some(stem) = word
        .strip_suffix('s')
        .filter(|s| !s.ends_with('s') && !s.is_empty())
    {
        forms.push(stem.to_string());
    }
    // Plural forms of a singular.
    let consonant_y = word
        .strip_suffix('y')
        .is_some_and(|stem| stem.chars().last().is_some_and(|c| !"aeiou".contains(c)));
    if consonant_y {
        forms.push(format!("{}ies", &word[..word.len() - 1]));
    } else if sibilant(word) {
        forms.push(format!("{word}es"));
    }
    if !word.ends_with('s') {
        forms.push(format!("{word}s"));
    }
    forms.sort();
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        Taxonomy::parse(
            r#"
[[audience]]
slug = "customer-service"
name = "Customer service"
match = ["customer service", "support agents"]
[[audience]]
slug = "ops"
name = "Operations leaders"
match = ["operations leaders", "ops leaders", "COOs"]
[[audience]]
slug = "hr"
name = "HR"
match = ["HR teams"]
[[audience]]
slug = "workers"
name = "Workers"
match = ["workers on AI-vulnerable tracks"]
[[audience]]
slug = "finance"
name = "Finance"
match = ["Microsoft 365 admins", "FinOps practitioners", "policy"]
"#,
            "t.toml",
        )
        .unwrap()
    }

    fn slugs(matcher: &Matcher, text: &str) -> Vec<String> {
        let t = taxonomy();
        matcher
            .audiences_in(text)
            .into_iter()
            .map(|i| t.audiences()[i].slug.clone())
            .collect()
    }

    #[test]
    fn matches_case_insensitively_on_word_boundaries() {
        let m = Matcher::new(&taxonomy());
        assert_eq!(
            slugs(&m, "Anyone in CUSTOMER Service."),
            ["customer-service"]
        );
        assert_eq!(slugs(&m, "customer-services desk"), ["customer-service"]);
        assert!(slugs(&m, "customerservice").is_empty());
        assert!(slugs(&m, "DevOps leaders").is_empty(), "inside a word");
        assert!(slugs(&m, "customer serviceable").is_empty());
    }

    #[test]
    fn line_breaks_spaces_and_punctuation_count_the_same() {
        let m = Matcher::new(&taxonomy());
        assert_eq!(slugs(&m, "Workers on\nAI  vulnerable—tracks"), ["workers"]);
        assert_eq!(slugs(&m, "customer,\r\n  service"), ["customer-service"]);
        assert_eq!(slugs(&m, "microsoft-365 admins"), ["finance"]);
    }

    #[test]
    fn singular_and_plural_forms_match() {
        let m = Matcher::new(&taxonomy());
        assert_eq!(slugs(&m, "An HR team lead."), ["hr"]);
        assert_eq!(slugs(&m, "Every support agent."), ["customer-service"]);
        assert_eq!(slugs(&m, "The COO."), ["ops"]);
        assert_eq!(slugs(&m, "Anyone writing policies."), ["finance"]);
        assert_eq!(slugs(&m, "A FinOps practitioner"), ["finance"]);
    }

    #[test]
    fn word_forms_cover_common_plurals() {
        assert!(word_forms("policy").contains(&"policies".to_string()));
        assert!(word_forms("policies").contains(&"policy".to_string()));
        assert!(word_forms("boxes").contains(&"box".to_string()));
        assert!(word_forms("coach").contains(&"coaches".to_string()));
        assert!(word_forms("people").contains(&"person".to_string()));
        assert!(word_forms("days").contains(&"day".to_string()));
        assert!(word_forms("day").contains(&"days".to_string()));
        assert_eq!(word_forms("365"), ["365"]);
    }

    #[test]
    fn words_are_lowercase_runs_of_letters_and_digits() {
        assert_eq!(
            words("HR teams, R&D (2026) — \u{130}stanbul's DevOps!"),
            [
                "hr",
                "teams",
                "r",
                "d",
                "2026",
                "i\u{307}stanbul",
                "s",
                "devops"
            ]
        );
        assert!(words(" -- ").is_empty());
    }

    #[test]
    fn sentences_keep_quoted_questions_whole() {
        assert_eq!(
            sentences("Anyone in a 'will AI take my job?' conversation. HR teams! Why? 3.5 times"),
            [
                "Anyone in a 'will AI take my job?' conversation.",
                "HR teams!",
                "Why?",
                "3.5 times"
            ]
        );
    }

    fn article_with(who: &str, declared: Option<Vec<&str>>) -> Article {
        let mut article = crate::articles::parse::parse_file(
            "a.txt",
            format!("A · 2026 · 1 · 1 · C · 1 min read\nT\nWho should care\n{who}\n").as_bytes(),
        )
        .unwrap();
        article.declared_audiences =
            declared.map(|d| (d.into_iter().map(String::from).collect(), 3));
        article
    }

    #[test]
    fn classify_collects_audiences_and_unmatched_sentences() {
        let m = Matcher::new(&taxonomy());
        let a = article_with(
            "Anyone in customer service. Anyone curious. HR teams advising. COOs too.",
            None,
        );
        let c = m.classify(&a).unwrap();
        assert_eq!(c.audiences, ["customer-service", "hr", "ops"]);
        assert_eq!(
            c.unmatched,
            [Unmatched {
                text: "Anyone curious.".into(),
                line: 4
            }]
        );
    }

    #[test]
    fn declared_audiences_replace_derived_ones() {
        let m = Matcher::new(&taxonomy());
        let c = m
            .classify(&article_with("HR teams.", Some(vec!["workers", "finance"])))
            .unwrap();
        assert_eq!(c.audiences, ["finance", "workers"]);
        let err = m
            .classify(&article_with("HR teams.", Some(vec!["nobody"])))
            .unwrap_err();
        assert_eq!(err.0, 3);
        assert!(err.1.contains("`nobody`"), "{}", err.1);
    }
}

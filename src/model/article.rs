use std::borrow::Cow;

use chrono::NaiveDate;
use serde::Serialize;

/// Which file format an article was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Brief,
    Markdown,
}

/// The named sections of an article. `Intro` holds text that comes before the
/// first heading; it has no heading of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Intro,
    WhatsNew,
    WantMore,
    WorthKnowing,
    WhoShouldCare,
    WhatToDo,
    HonestTake,
    Sources,
}

impl SectionKind {
    /// The sections a writer can open with a heading line, in their usual order.
    pub const HEADED: [SectionKind; 7] = [
        SectionKind::WhatsNew,
        SectionKind::WantMore,
        SectionKind::WorthKnowing,
        SectionKind::WhoShouldCare,
        SectionKind::WhatToDo,
        SectionKind::HonestTake,
        SectionKind::Sources,
    ];

    /// The heading as readers see it.
    pub fn heading(self) -> &'static str {
        match self {
            SectionKind::Intro => "",
            SectionKind::WhatsNew => "What's actually new",
            SectionKind::WantMore => "If you want more",
            SectionKind::WorthKnowing => "Worth knowing",
            SectionKind::WhoShouldCare => "Who should care",
            SectionKind::WhatToDo => "What to do about it",
            SectionKind::HonestTake => "Honest take",
            SectionKind::Sources => "Sources",
        }
    }

    /// Recognises a heading line: letter case, surrounding spaces, a trailing colon and
    /// a typographic apostrophe do not matter.
    pub fn from_heading(line: &str) -> Option<SectionKind> {
        let trimmed = line.trim();
        let trimmed = trimmed.strip_suffix(':').unwrap_or(trimmed).trim_end();
        if trimmed.len() > 24 {
            return None;
        }
        // Curly quotes and backticks read as `'`; compared without making a new string,
        // since every line of a brief is tried.
        let normal = || {
            trimmed.chars().map(|c| match c {
                '\u{2019}' | '\u{2018}' | '`' => '\'',
                c => c,
            })
        };
        Self::HEADED.into_iter().find(|kind| {
            let heading = kind.heading();
            heading.len() <= trimmed.len()
                && heading
                    .chars()
                    .map(|c| c.to_ascii_lowercase())
                    .eq(normal().map(|c| c.to_ascii_lowercase()))
        })
    }
}

/// One paragraph or bullet of a section, as plain text (for matching and summaries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Block {
    Paragraph { text: String, line: usize },
    Bullet { text: String, line: usize },
}

impl Block {
    pub fn text(&self) -> &str {
        match self {
            Block::Paragraph { text, .. } | Block::Bullet { text, .. } => text,
        }
    }

    pub fn line(&self) -> usize {
        match self {
            Block::Paragraph { line, .. } | Block::Bullet { line, .. } => *line,
        }
    }
}

/// A section with its text blocks. Its HTML is part of [`Article::html`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub kind: SectionKind,
    pub blocks: Vec<Block>,
}

/// A sentence or bullet of "Who should care" that names no audience of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    pub text: String,
    pub line: usize,
}

/// A parsed article. Parsers fill everything but `audiences` and `unmatched`,
/// which the audience matcher derives against the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Article {
    pub slug: String,
    /// Path relative to the store root, with `/` separators.
    pub file: String,
    pub format: Format,
    pub title: String,
    pub subject: String,
    pub category: String,
    pub published: NaiveDate,
    pub reading_minutes: u32,
    pub last_verified: Option<NaiveDate>,
    /// Where readers send corrections (the brief's closing line).
    pub corrections: Option<String>,
    pub sections: Vec<Section>,
    /// Audience slugs set explicitly in front matter, with the line they are on.
    pub declared_audiences: Option<(Vec<String>, usize)>,
    /// Sorted audience slugs.
    pub audiences: Vec<String>,
    pub unmatched: Vec<Unmatched>,
    /// The whole sanitised body, headings included, ready for feeds and emails.
    pub html: String,
}

impl Article {
    /// The first section of a kind, if the article has it.
    pub fn section(&self, kind: SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }

    /// The latest date at which the article changed: last verified when later than published.
    pub fn updated(&self) -> NaiveDate {
        match self.last_verified {
            Some(verified) if verified > self.published => verified,
            _ => self.published,
        }
    }

    /// The first point of "What's actually new", used as a summary.
    pub fn summary(&self) -> Option<&str> {
        self.section(SectionKind::WhatsNew)
            .and_then(|s| s.blocks.first())
            .map(Block::text)
    }

    /// A plain-text description for every article: the summary, or, for an article
    /// without one, the start of its text cut at a word (feed readers show an item's
    /// description in lists; an item without one shows nothing there). Sources are
    /// left out, being bare links; an article with no text at all gives its title.
    pub fn description(&self) -> Cow<'_, str> {
        if let Some(summary) = self.summary() {
            return Cow::Borrowed(summary);
        }
        let mut text = String::new();
        let mut chars = 0;
        let words = self
            .sections
            .iter()
            .filter(|s| s.kind != SectionKind::Sources)
            .flat_map(|s| &s.blocks)
            .flat_map(|b| b.text().split_whitespace());
        for word in words {
            let sep = usize::from(!text.is_empty());
            let word_chars = word.chars().count();
            if chars + sep + word_chars > EXCERPT_CHARS {
                // A single word longer than the excerpt is cut inside it.
                if text.is_empty() {
                    text.extend(word.chars().take(EXCERPT_CHARS));
                }
                text.push('…');
                return Cow::Owned(text);
            }
            if sep == 1 {
                text.push(' ');
            }
            text.push_str(word);
            chars += sep + word_chars;
        }
        if text.is_empty() {
            Cow::Borrowed(&self.title)
        } else {
            Cow::Owned(text)
        }
    }
}

/// The longest excerpt [`Article::description`] makes, in characters, before its `…`.
pub const EXCERPT_CHARS: usize = 280;

#[cfg(test)]
mod tests {
    use super::*;

    fn article(sections: Vec<Section>) -> Article {
        Article {
            slug: "a".into(),
            file: "a.md".into(),
            format: Format::Markdown,
            title: "The title".into(),
            subject: "S".into(),
            category: "C".into(),
            published: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            reading_minutes: 1,
            last_verified: None,
            corrections: None,
            sections,
            declared_audiences: None,
            audiences: Vec::new(),
            unmatched: Vec::new(),
            html: String::new(),
        }
    }

    fn section(kind: SectionKind, texts: &[&str]) -> Section {
        Section {
            kind,
            blocks: texts
                .iter()
                .map(|t| Block::Paragraph {
                    text: t.to_string(),
                    line: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn description_is_the_summary_or_an_excerpt_of_the_text() {
        let a = article(vec![
            section(SectionKind::HonestTake, &["Take."]),
            section(SectionKind::WhatsNew, &["First point.", "Second."]),
        ]);
        assert_eq!(a.description(), "First point.");

        let a = article(vec![
            section(SectionKind::Intro, &["An  intro\nline."]),
            section(SectionKind::Sources, &["https://example.com/x"]),
            section(SectionKind::HonestTake, &["It is fine."]),
        ]);
        assert_eq!(a.description(), "An intro line. It is fine.");

        let long = "word ".repeat(100);
        let a = article(vec![section(SectionKind::HonestTake, &[&long])]);
        let d = a.description();
        assert!(d.ends_with("word…"), "{d}");
        assert!(d.chars().count() <= EXCERPT_CHARS + 1, "{d}");
        assert_eq!(
            d.chars().count(),
            280,
            "56 words of four letters and their spaces"
        );

        let a = article(vec![section(SectionKind::HonestTake, &[&"é".repeat(400)])]);
        assert_eq!(a.description().chars().count(), EXCERPT_CHARS + 1);

        let a = article(vec![section(SectionKind::WhatsNew, &[])]);
        assert_eq!(a.description(), "The title");
    }

    #[test]
    fn headings_match_loosely() {
        assert_eq!(
            SectionKind::from_heading("What's actually new"),
            Some(SectionKind::WhatsNew)
        );
        assert_eq!(
            SectionKind::from_heading("  WHAT\u{2019}S ACTUALLY NEW:  "),
            Some(SectionKind::WhatsNew)
        );
        assert_eq!(
            SectionKind::from_heading("honest take"),
            Some(SectionKind::HonestTake)
        );
        assert_eq!(
            SectionKind::from_heading("What`s Actually New"),
            Some(SectionKind::WhatsNew)
        );
        assert_eq!(SectionKind::from_heading("Sources of truth"), None);
        assert_eq!(SectionKind::from_heading("Sourcé"), None);
        assert_eq!(SectionKind::from_heading("Source"), None);
        assert_eq!(SectionKind::from_heading("- Sources"), None);
        assert_eq!(SectionKind::from_heading(""), None);
    }
}

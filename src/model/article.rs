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
}

#[cfg(test)]
mod tests {
    use super::SectionKind;

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

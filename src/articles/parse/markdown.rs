//! Markdown articles: front matter, then a CommonMark body in which `## Heading`
//! lines naming a known section open that section.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::{Draft, ParseError, frontmatter, reading_minutes_for};
use crate::articles::html;
use crate::model::{Block, Section, SectionKind};

pub(super) fn parse(text: &str) -> Result<Draft, ParseError> {
    let (front, body, body_line) = frontmatter::split(text)?;
    let required = |value: Option<String>, key: &str| {
        value.ok_or_else(|| ParseError::at(1, format!("the front matter has no `{key}`")))
    };
    let title = required(front.title, "title")?;
    let published = front
        .date
        .ok_or_else(|| ParseError::at(1, "the front matter has no `date`"))?;
    let subject = required(front.subject, "subject")?;
    let category = required(front.category, "category")?;
    let (sections, html) = sections(body, body_line);
    let reading_minutes = front
        .reading_minutes
        .unwrap_or_else(|| reading_minutes_for(&sections));
    Ok(Draft {
        title,
        subject,
        category,
        published,
        reading_minutes,
        last_verified: front.last_verified,
        corrections: None,
        slug: front.slug,
        declared_audiences: front.audiences,
        sections,
        html,
    })
}

/// A section being collected: the events that make its HTML and its text blocks.
struct Collector<'a> {
    kind: SectionKind,
    events: Vec<Event<'a>>,
    blocks: Vec<Block>,
}

impl<'a> Collector<'a> {
    fn new(kind: SectionKind) -> Self {
        Collector {
            kind,
            events: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Adds the section to `out` and its HTML, under its heading, to `article`.
    fn finish(self, out: &mut Vec<Section>, article: &mut String) {
        if self.kind == SectionKind::Intro && self.events.is_empty() {
            return;
        }
        let mut raw = String::new();
        pulldown_cmark::html::push_html(&mut raw, self.events.into_iter());
        html::push_section(article, self.kind, |out| {
            out.push_str(&html::sanitize(&raw));
        });
        out.push(Section {
            kind: self.kind,
            blocks: self.blocks,
        });
    }
}

/// The sections of a body and the article's HTML.
fn sections(body: &str, first_line: usize) -> (Vec<Section>, String) {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(body.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |offset: usize| first_line + line_starts.partition_point(|&s| s <= offset) - 1;

    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut out = Vec::new();
    let mut article = String::with_capacity(body.len() + body.len() / 4);
    let mut current = Collector::new(SectionKind::Intro);
    // An `##` heading is held back until its text shows whether it opens a section.
    let mut heading: Option<(Vec<Event>, String)> = None;
    // Text of the paragraph or top-level bullet being read, with its line.
    let mut block: Option<(bool, String, usize)> = None;
    let mut list_depth = 0usize;
    let mut quote_depth = 0usize;

    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        if let Some((events, text)) = heading.as_mut() {
            match &event {
                Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                    let (mut events, text) = heading.take().unwrap_or_default();
                    if let Some(kind) = SectionKind::from_heading(&text) {
                        std::mem::replace(&mut current, Collector::new(kind))
                            .finish(&mut out, &mut article);
                    } else {
                        events.push(event);
                        current.events.append(&mut events);
                    }
                }
                Event::Text(t) | Event::Code(t) => {
                    text.push_str(t);
                    events.push(event);
                }
                _ => events.push(event),
            }
            continue;
        }
        match &event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) if list_depth == 0 && quote_depth == 0 => {
                heading = Some((vec![event], String::new()));
                continue;
            }
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) if list_depth == 1 && quote_depth == 0 => {
                block = Some((true, String::new(), line_of(range.start)));
            }
            Event::Start(Tag::Paragraph) if list_depth == 0 && quote_depth == 0 => {
                block = Some((false, String::new(), line_of(range.start)));
            }
            Event::End(TagEnd::Item) if list_depth == 1 && quote_depth == 0 => {
                finish_block(&mut block, &mut current.blocks);
            }
            Event::End(TagEnd::Paragraph) if list_depth == 0 && quote_depth == 0 => {
                finish_block(&mut block, &mut current.blocks);
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text, _)) = block.as_mut() {
                    text.push_str(t);
                }
            }
            Event::SoftBreak | Event::HardBreak | Event::End(TagEnd::Paragraph) => {
                if let Some((_, text, _)) = block.as_mut() {
                    text.push(' ');
                }
            }
            _ => {}
        }
        current.events.push(event);
    }
    if let Some((mut events, _)) = heading.take() {
        current.events.append(&mut events);
    }
    current.finish(&mut out, &mut article);
    (out, article)
}

fn finish_block(block: &mut Option<(bool, String, usize)>, blocks: &mut Vec<Block>) {
    if let Some((bullet, text, line)) = block.take() {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return;
        }
        blocks.push(if bullet {
            Block::Bullet { text, line }
        } else {
            Block::Paragraph { text, line }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "+++\ntitle = \"Hello\"\ndate = 2026-10-20\nsubject = \"Acme\"\ncategory = \"Deep dive\"\n+++\n\
        A lede with **bold**.\n\n\
        ## What's actually new\n\n\
        - One <script>alert(1)</script>\n- Two, with a [link](https://example.com)\n  and more\n\n\
        ## Background\n\nNot a section.\n\n\
        ## who should care\n\n\
        Product managers and\nsoftware engineers.\n\n\
        <p onclick=\"x()\">raw</p>\n";

    #[test]
    fn sections_blocks_and_html() {
        let d = parse(DOC).unwrap();
        assert_eq!(d.title, "Hello");
        assert_eq!(d.category, "Deep dive");
        assert_eq!(d.reading_minutes, 1);
        let kinds: Vec<_> = d.sections.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                SectionKind::Intro,
                SectionKind::WhatsNew,
                SectionKind::WhoShouldCare
            ]
        );
        assert_eq!(d.sections[0].blocks[0].text(), "A lede with bold.");
        assert_eq!(d.sections[0].blocks[0].line(), 7);
        let new = &d.sections[1];
        let texts: Vec<_> = new.blocks.iter().map(Block::text).collect();
        assert_eq!(
            texts,
            [
                "One alert(1)",
                "Two, with a link and more",
                "Not a section."
            ]
        );
        assert_eq!(new.blocks[1].line(), 12);
        let html = &d.html;
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("<a href=\"https://example.com\""), "{html}");
        assert!(
            html.starts_with("<p>A lede with <strong>bold</strong>.</p>"),
            "{html}"
        );
        let (_, new_html) = html.split_once("<h2>What&#39;s actually new</h2>").unwrap();
        let (new_html, who_html) = new_html.split_once("<h2>Who should care</h2>").unwrap();
        // An unknown `##` heading stays inside the section it appears in.
        assert!(new_html.contains("<h2>Background</h2>"), "{html}");
        let who = &d.sections[2];
        assert_eq!(
            who.blocks[0].text(),
            "Product managers and software engineers."
        );
        assert!(who_html.contains("raw"), "{html}");
        assert!(!who_html.contains("onclick"), "{html}");
    }

    #[test]
    fn missing_required_keys() {
        let e = parse("+++\ntitle = \"T\"\n+++\nbody").unwrap_err();
        assert_eq!(e.message, "the front matter has no `date`");
    }
}

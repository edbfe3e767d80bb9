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
    let (sections, html) = sections(body, body_line)?;
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
fn sections(body: &str, first_line: usize) -> Result<(Vec<Section>, String), ParseError> {
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
    let mut nesting = Nesting::default();

    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        if nesting.enter(&event) > MAX_NESTING {
            return Err(ParseError::at(
                line_of(range.start),
                format!(
                    "the HTML is nested more than {MAX_NESTING} elements deep here; \
                     crier refuses it, as cleaning it would take far too long"
                ),
            ));
        }
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
    Ok((out, article))
}

/// How deep the body's HTML may nest, Markdown's own elements and raw HTML together.
/// The HTML cleaner's time grows with the square of the depth (60,000 nested `<div>`s
/// took a minute); real articles stay under a dozen.
pub const MAX_NESTING: usize = 100;

/// The depth of the HTML that the events so far make: one level per open Markdown
/// element, plus the open tags of the raw HTML, counted by a linear scan of its text.
#[derive(Default)]
struct Nesting {
    markdown: usize,
    html: usize,
}

impl Nesting {
    /// Takes in one event; returns the depth it reaches.
    fn enter(&mut self, event: &Event) -> usize {
        match event {
            Event::Start(_) => self.markdown += 1,
            Event::End(_) => self.markdown = self.markdown.saturating_sub(1),
            Event::Html(text) | Event::InlineHtml(text) => {
                return self.markdown + self.html + raw_html_peak(text, &mut self.html);
            }
            _ => {}
        }
        self.markdown + self.html
    }
}

/// Scans raw HTML, moving `depth` by its opening and closing tags; returns how far
/// above the depth it started at the text reaches. Void elements, self-closed tags,
/// comments and elements whose end tag may be left out (`p`, `li`, table cells…) do
/// not count: the last kind closes itself, and counting it would fault sloppy but
/// harmless HTML.
fn raw_html_peak(text: &str, depth: &mut usize) -> usize {
    const UNCOUNTED: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead",
        "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp",
    ];
    let start = *depth;
    let mut peak = 0;
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let closing = rest.starts_with('/');
        let name_start = usize::from(closing);
        let name_len = rest[name_start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .count();
        if name_len == 0 {
            continue;
        }
        let name = rest[name_start..name_start + name_len].to_ascii_lowercase();
        let end = rest.find('>').unwrap_or(rest.len());
        let self_closed = rest[..end].ends_with('/');
        if closing {
            *depth = depth.saturating_sub(usize::from(!UNCOUNTED.contains(&name.as_str())));
        } else if !self_closed && !UNCOUNTED.contains(&name.as_str()) {
            *depth += 1;
            peak = peak.max(depth.saturating_sub(start));
        }
        rest = &rest[end.min(rest.len())..];
    }
    peak
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
    fn deep_nesting_is_refused_with_its_line() {
        let fm = "+++\ntitle = \"T\"\ndate = 2026-10-20\nsubject = \"S\"\ncategory = \"C\"\n+++\n";
        let deep = format!("{fm}Intro.\n\n{}", "<div>".repeat(60_000));
        let e = parse(&deep).unwrap_err();
        assert_eq!(e.line, Some(9));
        assert!(e.message.contains("nested more than 100"), "{}", e.message);
        let quotes = format!("{fm}{}deep\n", "> ".repeat(200));
        assert_eq!(parse(&quotes).unwrap_err().line, Some(7));
        // Closed, void and optional-end elements, and comments, do not add up.
        let flat = format!(
            "{fm}{}\n\n{}\n",
            "<div><br><img src=x><span/></div><!-- <div> -->".repeat(5_000),
            "<ul><li>a<li>b</ul><p>c".repeat(500)
        );
        parse(&flat).unwrap();
        let ok = format!("{fm}{}x{}\n", "<div>".repeat(90), "</div>".repeat(90));
        parse(&ok).unwrap();
    }

    #[test]
    fn missing_required_keys() {
        let e = parse("+++\ntitle = \"T\"\n+++\nbody").unwrap_err();
        assert_eq!(e.message, "the front matter has no `date`");
    }
}

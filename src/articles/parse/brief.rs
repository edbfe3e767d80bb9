//! The brief format: a header line of `·`-separated fields, the title, named
//! sections of paragraphs and `- ` bullets, and a closing "Last verified" line.

use super::{Draft, ParseError, date_from_parts};
use crate::articles::html;
use crate::model::{Block, Section, SectionKind};

const HEADER_EXAMPLE: &str = "Subject · 2025 · 05 · 14 · Category · ~2 min read";

pub(super) fn parse(text: &str) -> Result<Draft, ParseError> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end()))
        .filter(|(_, line)| !line.is_empty())
        .peekable();

    let (header_line, header) = lines
        .next()
        .ok_or_else(|| ParseError::whole_file("the file is empty"))?;
    let header = parse_header(header, header_line)?;

    let (title_line, title) = lines.peek().copied().ok_or_else(|| {
        ParseError::at(
            header_line + 1,
            "no title: the line after the header should be the title",
        )
    })?;
    if let Some(kind) = SectionKind::from_heading(title) {
        return Err(ParseError::at(
            title_line,
            format!(
                "no title: the line after the header is the section heading \"{}\"",
                kind.heading()
            ),
        ));
    }
    if is_last_verified(title) {
        return Err(ParseError::at(
            title_line,
            "no title: the line after the header is the closing \"Last verified\" line",
        ));
    }
    let title = title.trim().to_string();

    let mut body = Body {
        // The body's HTML is about its text plus the tags.
        html: String::with_capacity(text.len() + text.len() / 4 + 256),
        ..Body::default()
    };
    // Blank lines end paragraphs, so the body walks every line, blank ones included.
    let rest_start = title_line; // 1-based line of the title = 0-based index of the next line
    for (i, line) in text.split('\n').enumerate().skip(rest_start) {
        body.line(i + 1, line.trim_end())?;
    }
    let (sections, html, last_verified, corrections) = body.finish();

    Ok(Draft {
        title,
        subject: header.subject,
        category: header.category,
        published: header.published,
        reading_minutes: header.reading_minutes,
        last_verified,
        corrections,
        slug: None,
        declared_audiences: None,
        sections,
        html,
    })
}

struct Header {
    subject: String,
    published: chrono::NaiveDate,
    category: String,
    reading_minutes: u32,
}

fn parse_header(line: &str, n: usize) -> Result<Header, ParseError> {
    let fields: Vec<&str> = line.split('·').map(str::trim).collect();
    if fields.len() == 1 {
        return Err(ParseError::at(
            n,
            format!("no header: the first line should look like `{HEADER_EXAMPLE}`"),
        ));
    }
    if fields.len() != 6 {
        return Err(ParseError::at(
            n,
            format!(
                "the header has {} fields separated by `·`; it needs six: `{HEADER_EXAMPLE}`",
                fields.len()
            ),
        ));
    }
    if fields[0].is_empty() {
        return Err(ParseError::at(
            n,
            "the header's subject (its first field) is empty",
        ));
    }
    let published = date_from_parts(fields[1], fields[2], fields[3], n)?;
    if fields[4].is_empty() {
        return Err(ParseError::at(
            n,
            "the header's category (its fifth field) is empty",
        ));
    }
    Ok(Header {
        subject: fields[0].to_string(),
        published,
        category: fields[4].to_string(),
        reading_minutes: parse_reading_time(fields[5], n)?,
    })
}

/// `~2 min read`, `2 min read`, `~ 12 minutes read`.
fn parse_reading_time(field: &str, n: usize) -> Result<u32, ParseError> {
    let bad = || {
        ParseError::at(
            n,
            format!("the reading time `{field}` should look like `~3 min read`"),
        )
    };
    let rest = field.strip_prefix('~').unwrap_or(field).trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let words = rest[digits..].trim().to_ascii_lowercase();
    if digits == 0 || digits > 4 || !(words.starts_with("min") && words.ends_with("read")) {
        return Err(bad());
    }
    let minutes: u32 = rest[..digits].parse().map_err(|_| bad())?;
    if minutes == 0 {
        return Err(ParseError::at(
            n,
            "the reading time must be at least one minute",
        ));
    }
    Ok(minutes)
}

fn is_last_verified(line: &str) -> bool {
    let line = line.trim_start();
    line.get(..13)
        .is_some_and(|head| head.eq_ignore_ascii_case("last verified"))
        && line[13..].trim_start().starts_with('·')
}

/// The sections being read, line by line.
struct Body {
    sections: Vec<Section>,
    current: SectionKind,
    blocks: Vec<Block>,
    /// The article's HTML: each closed section under its heading.
    html: String,
    /// Whether an indented line continues the last bullet.
    in_bullet: bool,
    /// Whether a plain line continues the last paragraph.
    in_paragraph: bool,
    last_verified: Option<chrono::NaiveDate>,
    corrections: Option<String>,
}

impl Default for Body {
    fn default() -> Self {
        Body {
            sections: Vec::new(),
            current: SectionKind::Intro,
            blocks: Vec::new(),
            html: String::new(),
            in_bullet: false,
            in_paragraph: false,
            last_verified: None,
            corrections: None,
        }
    }
}

impl Body {
    fn line(&mut self, n: usize, line: &str) -> Result<(), ParseError> {
        if line.trim().is_empty() {
            self.in_bullet = false;
            self.in_paragraph = false;
            return Ok(());
        }
        if let Some(kind) = SectionKind::from_heading(line) {
            self.close_section();
            self.current = kind;
            return Ok(());
        }
        if is_last_verified(line) {
            self.in_bullet = false;
            self.in_paragraph = false;
            let (date, corrections) = parse_last_verified(line, n)?;
            self.last_verified = Some(date);
            self.corrections = corrections;
            return Ok(());
        }
        let trimmed = line.trim_start();
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("-\t"))
        {
            self.blocks.push(Block::Bullet {
                text: item.trim().to_string(),
                line: n,
            });
            self.in_bullet = true;
            self.in_paragraph = false;
            return Ok(());
        }
        let continues_bullet = self.in_bullet && line.starts_with(char::is_whitespace);
        if (continues_bullet || self.in_paragraph)
            && let Some(Block::Bullet { text, .. } | Block::Paragraph { text, .. }) =
                self.blocks.last_mut()
        {
            text.push(' ');
            text.push_str(trimmed);
            return Ok(());
        }
        self.blocks.push(Block::Paragraph {
            text: trimmed.to_string(),
            line: n,
        });
        self.in_bullet = false;
        self.in_paragraph = true;
        Ok(())
    }

    fn close_section(&mut self) {
        let blocks = std::mem::take(&mut self.blocks);
        self.in_bullet = false;
        self.in_paragraph = false;
        // Text before the first heading is kept only when there is some; a named
        // section is kept even when empty, so the article says what it covered.
        if self.current == SectionKind::Intro && blocks.is_empty() {
            return;
        }
        html::push_section(&mut self.html, self.current, |out| {
            html::push_blocks_html(out, &blocks);
        });
        self.sections.push(Section {
            kind: self.current,
            blocks,
        });
    }

    fn finish(
        mut self,
    ) -> (
        Vec<Section>,
        String,
        Option<chrono::NaiveDate>,
        Option<String>,
    ) {
        self.close_section();
        (
            self.sections,
            self.html,
            self.last_verified,
            self.corrections,
        )
    }
}

/// `Last verified · 2026 · 05 · 05 · Found a fact wrong? corrections@example.com`
fn parse_last_verified(
    line: &str,
    n: usize,
) -> Result<(chrono::NaiveDate, Option<String>), ParseError> {
    let fields: Vec<&str> = line.split('·').map(str::trim).collect();
    if fields.len() < 4 {
        return Err(ParseError::at(
            n,
            "the \"Last verified\" line should look like \
             `Last verified · 2026 · 05 · 05 · Found a fact wrong? you@example.com`",
        ));
    }
    let date = date_from_parts(fields[1], fields[2], fields[3], n)?;
    let corrections = fields[4..]
        .iter()
        .flat_map(|f| f.split_whitespace())
        .map(|word| word.trim_matches(|c: char| "<>()[],;:\"'".contains(c)))
        .map(|word| word.strip_prefix("mailto:").unwrap_or(word))
        .map(|word| word.trim_end_matches('.'))
        .find(|word| {
            word.split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
        })
        .map(str::to_string);
    Ok((date, corrections))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const SAMPLE: &str = "Acme · 2026 · 03 · 09 · Release · ~4 min read\n\
        Acme ships a thing & more\n\
        What's actually new\n\
        - First point.\n\
        - Second point\n  \
          wrapped onto two lines.\n\
        If you want more\n\
        Worth knowing\n\
        - A caveat <b>here</b>.\n\
        Who should care\n\
        Support agents. Anyone else.\n\
        What to do about it\n\
        Try it.\n\
        Honest take\n\
        It is fine.\n\
        Sources\n\
        - https://example.com/a\n\
        Last verified · 2026 · 04 · 01 · Found a fact wrong? fixes@example.com";

    #[test]
    fn parses_every_part() {
        let d = parse(SAMPLE).unwrap();
        assert_eq!(d.subject, "Acme");
        assert_eq!(d.category, "Release");
        assert_eq!(d.published, date(2026, 3, 9));
        assert_eq!(d.reading_minutes, 4);
        assert_eq!(d.title, "Acme ships a thing & more");
        assert_eq!(d.last_verified, Some(date(2026, 4, 1)));
        assert_eq!(d.corrections.as_deref(), Some("fixes@example.com"));
        let kinds: Vec<_> = d.sections.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, SectionKind::HEADED.to_vec());
        let new = &d.sections[0];
        assert_eq!(new.blocks.len(), 2);
        assert_eq!(new.blocks[1].text(), "Second point wrapped onto two lines.");
        assert_eq!(new.blocks[1].line(), 5);
        assert!(d.sections[1].blocks.is_empty());
        // An empty section has no heading in the HTML.
        assert!(!d.html.contains("<h2>If you want more</h2>"), "{}", d.html);
        assert!(
            d.html.contains(
                "<h2>Worth knowing</h2><ul><li>A caveat &lt;b&gt;here&lt;/b&gt;.</li></ul><h2>"
            ),
            "{}",
            d.html
        );
        assert_eq!(
            d.sections[3].blocks[0].text(),
            "Support agents. Anyone else."
        );
        assert_eq!(d.sections[3].blocks[0].line(), 11);
        assert!(d.html.ends_with(
            "<h2>Sources</h2><ul><li><a href=\"https://example.com/a\">https://example.com/a</a></li></ul>"
        ));
        assert!(
            d.html
                .starts_with("<h2>What&#39;s actually new</h2><ul><li>First point.</li>")
        );
    }

    #[test]
    fn header_tolerates_spacing_short_numbers_and_no_tilde() {
        let d = parse("Acme·2026·3·9·Deep dive·12 min read\nT\n").unwrap();
        assert_eq!(d.published, date(2026, 3, 9));
        assert_eq!(d.category, "Deep dive");
        assert_eq!(d.reading_minutes, 12);
        let d = parse("Acme  ·2026 ·  03·09 · X ·~ 1 minute read\nT").unwrap();
        assert_eq!(d.reading_minutes, 1);
    }

    #[test]
    fn crlf_trailing_spaces_and_blank_lines() {
        let text = "\r\n\r\nAcme · 2026 · 03 · 09 · Release · ~4 min read  \r\n\r\n  Title  \r\n\r\nWHO SHOULD CARE \r\n\r\nDevelopers.\r\n\r\n\r\n";
        let d = parse(text).unwrap();
        assert_eq!(d.title, "Title");
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].kind, SectionKind::WhoShouldCare);
        assert_eq!(d.sections[0].blocks[0].text(), "Developers.");
        assert_eq!(d.sections[0].blocks[0].line(), 9);
    }

    #[test]
    fn blank_lines_split_paragraphs_and_plain_lines_join() {
        let d =
            parse("A · 2026 · 1 · 1 · C · 1 min read\nT\nHonest take\none\ntwo\n\nthree").unwrap();
        let texts: Vec<_> = d.sections[0].blocks.iter().map(Block::text).collect();
        assert_eq!(texts, ["one two", "three"]);
    }

    #[test]
    fn text_before_the_first_heading_is_an_intro() {
        let d = parse("A · 2026 · 1 · 1 · C · 1 min read\nT\nA lede.\nSources").unwrap();
        assert_eq!(d.sections[0].kind, SectionKind::Intro);
        assert_eq!(d.html, "<p>A lede.</p>");
    }

    fn error(text: &str) -> ParseError {
        match parse(text) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {text:?}"),
        }
    }

    #[test]
    fn broken_headers_say_what_is_wrong() {
        let e = error("Just a title\nBody");
        assert_eq!(e.line, Some(1));
        assert!(e.message.starts_with("no header"), "{}", e.message);
        let e = error("A · 2025 · 02 · 30 · C · 1 min read\nT");
        assert_eq!(e.message, "2025-02-30 is not a real date");
        let e = error("A · 2025 · 02 · 03 · C\nT");
        assert!(e.message.contains("has 5 fields"), "{}", e.message);
        let e = error("A · 2025 · 02 · 03 · C · quick read\nT");
        assert!(e.message.contains("reading time"), "{}", e.message);
        let e = error(" · 2025 · 02 · 03 · C · 1 min read\nT");
        assert!(e.message.contains("subject"), "{}", e.message);
    }

    #[test]
    fn missing_titles_are_errors() {
        let e = error("A · 2025 · 02 · 03 · C · 1 min read\n\n");
        assert_eq!(e.line, Some(2));
        assert!(e.message.starts_with("no title"));
        let e = error("A · 2025 · 02 · 03 · C · 1 min read\n\nWhat's actually new\n- x");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("What's actually new"), "{}", e.message);
    }

    #[test]
    fn bad_last_verified_names_its_line() {
        let e = error(
            "A · 2025 · 02 · 03 · C · 1 min read\nT\nSources\nLast verified · 2026 · 13 · 01 · x",
        );
        assert_eq!(e.line, Some(4));
        assert_eq!(e.message, "2026-13-01 is not a real date");
    }

    #[test]
    fn last_verified_without_address() {
        let d = parse("A · 2025 · 02 · 03 · C · 1 min read\nT\nlast verified·2025·2·4").unwrap();
        assert_eq!(d.last_verified, Some(date(2025, 2, 4)));
        assert_eq!(d.corrections, None);
        // A sentence that merely starts with the words is body text.
        let d =
            parse("A · 2025 · 02 · 03 · C · 1 min read\nT\nLast verified figures say so.").unwrap();
        assert_eq!(d.last_verified, None);
        assert_eq!(d.sections[0].blocks.len(), 1);
    }
}

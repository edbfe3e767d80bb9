//! Pure parsers: the bytes of one store file in, an [`Article`] or a [`ParseError`]
//! out. No file system access here; `load` reads files and calls [`parse_file`].

mod brief;
mod frontmatter;
mod markdown;

use crate::model::{Article, Format, slugify};

/// Why a file could not be read as an article, with the line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line: Some(line),
            message: message.into(),
        }
    }

    pub(crate) fn whole_file(message: impl Into<String>) -> Self {
        ParseError {
            line: None,
            message: message.into(),
        }
    }
}

/// Is this a file the store should read? Hidden files, editor swap files,
/// backups and anything that is not `.txt`, `.md` or `.markdown` are skipped.
pub fn is_article_name(name: &str) -> bool {
    if name.starts_with('.') || name.starts_with('#') || name.ends_with('~') {
        return false;
    }
    format_of(name).is_some()
}

/// C0 and C1 controls other than tab and line ends, and the two non-characters XML forbids.
fn is_unwanted_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// Whether `text` has a `\r` or an unwanted control character: [`is_unwanted_control`]
/// read from the UTF-8 bytes, without decoding each character.
fn needs_cleaning(text: &str) -> bool {
    let bytes = text.as_bytes();
    // First a test of whole chunks that the compiler can vectorise: most chunks hold
    // no byte that could start one. (`·`, which every brief header has, starts with 0xc2.)
    let suspect =
        |b: u8| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f || b == 0xc2 || b == 0xef;
    bytes.chunks(64).enumerate().any(|(k, chunk)| {
        chunk.iter().fold(false, |any, &b| any | suspect(b))
            && (k * 64..k * 64 + chunk.len()).any(|i| unwanted_at(bytes, i))
    })
}

/// Whether the byte at `i` is `\r` or starts an unwanted control character.
fn unwanted_at(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'\t' | b'\n' => false,
        // C0 controls (`\r` among them) and DEL.
        0..=0x1f | 0x7f => true,
        // C1 controls, U+0080 to U+009F.
        0xc2 => matches!(bytes.get(i + 1), Some(0x80..=0x9f)),
        // U+FFFE and U+FFFF.
        0xef => bytes.get(i + 1) == Some(&0xbf) && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)),
        _ => false,
    }
}

fn format_of(name: &str) -> Option<Format> {
    let (_, ext) = name.rsplit_once('.')?;
    if ext.eq_ignore_ascii_case("txt") {
        Some(Format::Brief)
    } else if ext.eq_ignore_ascii_case("md") || ext.eq_ignore_ascii_case("markdown") {
        Some(Format::Markdown)
    } else {
        None
    }
}

/// Parses one store file. `rel_path` is the path relative to the store root, with `/`
/// separators; it names the article in errors and gives the default slug.
pub fn parse_file(rel_path: &str, bytes: &[u8]) -> Result<Article, ParseError> {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    let format = format_of(name)
        .ok_or_else(|| ParseError::whole_file("not an article: use .txt for briefs or .md"))?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ParseError::at(
            line,
            "the file is not valid UTF-8 (the first bad byte is on this line); save it as UTF-8",
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Line ends become `\n` (a lone `\r` too, as YAML reads it, so that line numbers
    // agree), and control characters go: they are never meant, and XML 1.0 forbids
    // most of them.
    let cleaned: String;
    let text = if needs_cleaning(text) {
        cleaned = text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .chars()
            .filter(|&c| !is_unwanted_control(c))
            .collect();
        cleaned.as_str()
    } else {
        text
    };
    if text.trim().is_empty() {
        return Err(ParseError::whole_file("the file is empty"));
    }
    let draft = match format {
        Format::Brief => brief::parse(text)?,
        Format::Markdown => markdown::parse(text)?,
    };
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let slug = match draft.slug {
        Some(slug) => slug,
        None => {
            let slug = slugify(stem);
            if slug.is_empty() {
                return Err(ParseError::whole_file(
                    "the file name has no letters or digits to make a slug from; rename it",
                ));
            }
            slug
        }
    };
    Ok(Article {
        slug,
        file: rel_path.to_string(),
        format,
        title: draft.title,
        subject: draft.subject,
        category: draft.category,
        published: draft.published,
        reading_minutes: draft.reading_minutes,
        last_verified: draft.last_verified,
        corrections: draft.corrections,
        sections: draft.sections,
        declared_audiences: draft.declared_audiences,
        audiences: Vec::new(),
        unmatched: Vec::new(),
        html: {
            // Sized for the worst case while it was written; the rest goes back to the
            // allocator for the next article rather than sitting unused in every one.
            let mut html = draft.html;
            html.shrink_to_fit();
            html
        },
    })
}

/// What both format parsers produce before the common fields are filled in.
#[derive(Debug)]
struct Draft {
    title: String,
    subject: String,
    category: String,
    published: chrono::NaiveDate,
    reading_minutes: u32,
    last_verified: Option<chrono::NaiveDate>,
    corrections: Option<String>,
    slug: Option<String>,
    declared_audiences: Option<(Vec<String>, usize)>,
    sections: Vec<crate::model::Section>,
    /// The body as HTML, each section under its heading.
    html: String,
}

/// Reads a calendar date from its year, month and day fields, as written.
fn date_from_parts(
    year: &str,
    month: &str,
    day: &str,
    line: usize,
) -> Result<chrono::NaiveDate, ParseError> {
    let number = |field: &str, what: &str, max_len: usize| -> Result<u32, ParseError> {
        let field = field.trim();
        if field.is_empty() || field.len() > max_len || !field.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::at(
                line,
                format!("the {what} `{field}` is not a number of at most {max_len} digits"),
            ));
        }
        field
            .parse()
            .map_err(|_| ParseError::at(line, format!("the {what} `{field}` is not a number")))
    };
    let y = number(year, "year", 4)?;
    if year.trim().len() != 4 {
        return Err(ParseError::at(
            line,
            format!("the year `{}` should have four digits", year.trim()),
        ));
    }
    let m = number(month, "month", 2)?;
    let d = number(day, "day", 2)?;
    chrono::NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| ParseError::at(line, format!("{y:04}-{m:02}-{d:02} is not a real date")))
}

/// Estimated reading time for text that does not state one: 200 words a minute.
fn reading_minutes_for(sections: &[crate::model::Section]) -> u32 {
    let words: usize = sections
        .iter()
        .flat_map(|s| &s.blocks)
        .map(|b| b.text().split_whitespace().count())
        .sum();
    (words.div_ceil(200)).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_skipped() {
        for name in [
            ".hidden.txt",
            "a.txt~",
            "#a.txt#",
            ".a.txt.swp",
            "a.txt.swp",
            "a.bak",
            "notes.org",
        ] {
            assert!(!is_article_name(name), "{name}");
        }
        for name in ["a.txt", "B.MD", "c.markdown"] {
            assert!(is_article_name(name), "{name}");
        }
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let err = parse_file("x.txt", b"A \xc2\xb7 2025\nTitle\n\xff\xfe\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("UTF-8"));
    }

    #[test]
    fn control_characters_are_dropped() {
        let a = parse_file(
            "x.txt",
            "A\u{1} · 2026 · 1 · 1 · C · 1 min read\nTi\u{7}tle\u{9f}\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(a.subject, "A");
        assert_eq!(a.title, "Title");
    }

    #[test]
    fn the_byte_scan_finds_what_the_character_test_finds() {
        let chars = (0..0x3000u32)
            .chain(0xfff0..=0x10000)
            .filter_map(char::from_u32);
        for c in chars {
            // Also across the edge of the 64-byte chunks the scan looks at first.
            let (a62, a63) = ("a".repeat(62), "a".repeat(63));
            for text in [
                format!("{c}"),
                format!("ab{c}"),
                format!("{c}é·"),
                format!("{a62}{c}"),
                format!("{a63}{c}b"),
            ] {
                let by_char = text.chars().any(|c| c == '\r' || is_unwanted_control(c));
                assert_eq!(needs_cleaning(&text), by_char, "{:?}", c as u32);
            }
        }
    }

    #[test]
    fn empty_and_blank_files_are_errors() {
        for bytes in [&b""[..], b"\xef\xbb\xbf", b" \r\n\n\t\n"] {
            let err = parse_file("x.txt", bytes).unwrap_err();
            assert_eq!(err.message, "the file is empty");
        }
    }

    #[test]
    fn impossible_dates_are_named() {
        let err = date_from_parts("2025", "02", "30", 1).unwrap_err();
        assert_eq!(err.message, "2025-02-30 is not a real date");
        assert!(date_from_parts("25", "1", "1", 1).is_err());
        assert!(date_from_parts("2025", "1x", "1", 1).is_err());
        assert_eq!(
            date_from_parts("2024", "2", "9", 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2024, 2, 9).unwrap()
        );
    }
}

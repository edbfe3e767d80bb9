//! The plain-text parts as `format=flowed; delsp=yes` (RFC 3676): wrapped for an
//! 80-column pager, and rejoined into the original paragraphs by clients that reflow.
//!
//! Each line of the rendered template is a paragraph. One that is wider than
//! [`WIDTH`] is broken at spaces (first fit, through `textwrap`, never inside a word:
//! a URL longer than the line gets a line of its own). Every broken line ends in a
//! space, the soft break, which a reflowing client deletes (`delsp=yes`) before it
//! joins the next line; a line without a trailing space is a hard break.
//!
//! Hanging indents and reflow: a list item (`* Title`) or an indented line (the
//! details under a title) continues at column 2. That indent is the RFC's space
//! stuffing (one space, which readers remove) followed by the space that stood between
//! the two words. A pager shows the indent; a reflowing client removes the stuffing
//! and the soft break's space and gets the words back with exactly one space between
//! them. Without `delsp=yes` the indent would have to be an extra space inside the
//! paragraph, or the items could not reflow at all. A paragraph without an indent
//! keeps its space at the end of the broken line, before the soft break's own space.
//!
//! Lines that begin with a space, `>` or `From ` are space-stuffed. The signature
//! separator `-- ` keeps its trailing space and is no soft break (§4.3); any other
//! trailing space of a template line is dropped, so no hard line looks soft.
//!
//! Markers (`[[crier:key]]`) are wrapped as words too wide for any line, so each gets
//! a line of its own; its value is filled in later by [`fill_value`], which wraps a
//! value with spaces (a long name in a greeting) in the same way.

use std::borrow::Cow;

use textwrap::core::{Fragment, display_width};
use textwrap::wrap_algorithms::wrap_first_fit;

/// The width lines are wrapped to.
pub const WIDTH: usize = 72;
/// No line is wider, but for one that holds a single word (a URL) longer than that.
pub const MAX: usize = 78;
/// The parameters of a text part in this form.
pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8; format=flowed; delsp=yes";
/// The signature separator (RFC 3676 §4.3).
pub const SIGNATURE: &str = "-- ";

#[derive(Debug)]
struct Word<'a> {
    word: &'a str,
    space: &'a str,
    width: f64,
}

impl Fragment for Word<'_> {
    fn width(&self) -> f64 {
        self.width
    }
    fn whitespace_width(&self) -> f64 {
        self.space.len() as f64
    }
    fn penalty_width(&self) -> f64 {
        0.0
    }
}

/// The words of `text` and the spaces after each. Wide characters (CJK), which are
/// written without spaces, may break anywhere but inside a URL: such a break has no
/// space, and with `delsp=yes` a reflowing client joins the two halves without one.
fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(' ').unwrap_or(rest.len());
        let word = &rest[..end];
        let after = &rest[end..];
        let space = &after[..after.len() - after.trim_start_matches(' ').len()];
        if word.contains("[[crier:") {
            // Wider than any line: a marker's value is filled in later.
            out.push(Word {
                word,
                space,
                width: 1e6,
            });
        } else if word.contains("://") || word.is_ascii() {
            out.push(Word {
                word,
                space,
                width: display_width(word) as f64,
            });
        } else {
            split_wide(word, space, &mut out);
        }
        rest = &after[space.len()..];
    }
    out
}

/// `word` as pieces that break before and after each wide character.
fn split_wide<'a>(word: &'a str, space: &'a str, out: &mut Vec<Word<'a>>) {
    let wide = |c: char| display_width(c.encode_utf8(&mut [0; 4])) > 1;
    let mut start = 0;
    let mut previous_wide = false;
    for (at, c) in word.char_indices() {
        let is_wide = wide(c);
        if at > start && (is_wide || previous_wide) {
            let piece = &word[start..at];
            out.push(Word {
                word: piece,
                space: "",
                width: display_width(piece) as f64,
            });
            start = at;
        }
        previous_wide = is_wide;
    }
    let piece = &word[start..];
    out.push(Word {
        word: piece,
        space,
        width: display_width(piece) as f64,
    });
}

fn needs_stuffing(line: &str) -> bool {
    line.starts_with([' ', '>']) || line.starts_with("From ")
}

/// Writes `text` (one paragraph, no line end) as flowed lines after `prefix`, which
/// is already on the line and `column` wide. `hanging`: continuation lines start
/// with the stuffing space and the space between the words.
fn flow(out: &mut String, text: &str, column: usize, hanging: bool) {
    let words = words(text);
    let first = WIDTH.saturating_sub(column).max(1) as f64;
    let lines = wrap_first_fit(&words, &[first, (WIDTH - 2) as f64]);
    for (i, line) in lines.iter().enumerate() {
        let start = out.len();
        if i > 0 && hanging {
            // The stuffing space, then the space the break was at.
            out.push(' ');
            out.push_str(lines[i - 1].last().map_or(" ", |w| w.space));
        }
        for (j, word) in line.iter().enumerate() {
            out.push_str(word.word);
            if j + 1 < line.len() {
                out.push_str(word.space);
            }
        }
        if i + 1 < lines.len() {
            if !hanging {
                out.push_str(line.last().map_or(" ", |w| w.space));
            }
            // The soft break.
            out.push(' ');
        }
        if i > 0 && !hanging && needs_stuffing(&out[start..]) {
            out.insert(start, ' ');
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

/// The text as `format=flowed; delsp=yes`, lines ending in `\n`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == SIGNATURE {
            out.push_str(SIGNATURE);
            continue;
        }
        let line = line.trim_end();
        let hanging = line.starts_with(' ') || line.starts_with("* ");
        let mut column = 0;
        if needs_stuffing(line) {
            out.push(' ');
            column = 1;
        }
        let body = line.trim_start_matches(' ');
        let indent = &line[..line.len() - body.len()];
        out.push_str(indent);
        column += indent.len();
        if column + display_width(body) <= WIDTH && !body.contains("[[crier:") {
            out.push_str(body);
        } else {
            flow(&mut out, body, column, hanging);
        }
    }
    out
}

/// A marker's value for a flowed text part, where `prefix` is what stands before the
/// marker on its line: the value itself if it fits, else the value wrapped as
/// [`encode`] wraps a paragraph (a value without spaces, a URL, is never broken).
pub fn fill_value<'a>(value: &'a str, prefix: &str) -> Cow<'a, str> {
    let value = value.trim_end_matches([' ', '\r', '\n']);
    let column = display_width(prefix);
    let stuff = prefix.is_empty() && needs_stuffing(value);
    let one_line = !value.contains(['\r', '\n']);
    if one_line && !stuff && column + display_width(value) <= MAX {
        return Cow::Borrowed(value);
    }
    let value = value.replace(['\r', '\n'], " ");
    let mut out = String::with_capacity(value.len() + 8);
    if stuff {
        out.push(' ');
    }
    let column = column + out.len();
    flow(&mut out, &value, column, prefix.starts_with(' '));
    Cow::Owned(out)
}

/// Undoes [`encode`] as a reflowing reader does (RFC 3676 §4.2 with `delsp=yes`):
/// removes the stuffing, and joins each line that ends in a space to the next after
/// deleting that space. The signature separator stays a line of its own.
pub fn decode(wire: &str) -> String {
    let mut out = String::with_capacity(wire.len());
    let mut open = false;
    for (i, line) in wire.split('\n').enumerate() {
        if i > 0 && !open {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == SIGNATURE {
            out.push_str(line);
            open = false;
            continue;
        }
        let line = line.strip_prefix(' ').unwrap_or(line);
        match line.strip_suffix(' ') {
            Some(soft) => {
                out.push_str(soft);
                open = true;
            }
            None => {
                out.push_str(line);
                open = false;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> String {
        let wire = encode(text);
        for line in wire.lines() {
            let words = line.split_whitespace().count();
            assert!(
                display_width(line) <= MAX || (words == 1 && line.contains("://")),
                "{} wide: {line:?}",
                display_width(line)
            );
        }
        assert_eq!(decode(&wire), text, "{wire}");
        wire
    }

    #[test]
    fn short_lines_pass_through_and_the_signature_keeps_its_space() {
        let text = "Hello.\n\n-- \nUnsubscribe: https://x.test/u\n";
        assert_eq!(check(text), text);
    }

    #[test]
    fn paragraphs_break_at_spaces_with_soft_breaks() {
        let text = "word ".repeat(40).trim_end().to_string();
        let wire = check(&text);
        let lines: Vec<&str> = wire.lines().collect();
        assert!(lines.len() > 2);
        for line in &lines[..lines.len() - 1] {
            assert!(line.ends_with("word  "), "{line:?}");
            assert!(display_width(line) <= WIDTH + 2);
        }
        assert!(!lines.last().unwrap().ends_with(' '));
    }

    #[test]
    fn list_items_hang_at_column_two() {
        let text = format!(
            "* {}\n details {}",
            "Títle ".repeat(20).trim_end(),
            "ü ".repeat(50).trim_end()
        );
        let wire = check(&text);
        for line in wire.lines().skip(1) {
            assert!(
                line.starts_with("  ") && !line.starts_with("   "),
                "{line:?}"
            );
        }
        assert!(wire.starts_with("* Títle"));
        assert!(wire.contains("\n  details"), "{wire}");
    }

    #[test]
    fn wide_characters_break_without_a_space_and_rejoin() {
        let run = "東京の配送センターでも同じ問題が起きましたと報告書は述べています".repeat(3);
        let wire = check(&format!("* Zürich: {run} — “done”.\n{run}"));
        assert!(wire.lines().count() > 4, "{wire}");
    }

    #[test]
    fn long_urls_stand_alone_and_whole() {
        let url = format!("https://news.example.test/{}", "a".repeat(120));
        let text = format!("Read it at {url} today, or later.\n {url} and on");
        let wire = check(&text);
        assert!(wire.lines().any(|l| l.trim() == url), "{wire}");
    }

    #[test]
    fn lines_that_look_quoted_or_like_mbox_separators_are_stuffed() {
        let text = format!(">not a quote\nFrom here\n{}From there on", "x ".repeat(35));
        let wire = check(&text);
        assert!(wire.starts_with(" >not a quote\n From here\n"), "{wire}");
        assert!(wire.contains("\n From there"), "{wire}");
    }

    #[test]
    fn trailing_spaces_are_dropped_so_hard_lines_stay_hard() {
        assert_eq!(encode("a  \nb"), "a\nb");
        assert_eq!(decode(&encode("a  \nb")), "a\nb");
    }

    #[test]
    fn markers_get_lines_of_their_own_and_values_wrap() {
        let wire = encode("Unsubscribe: [[crier:u]]\n* A title [[crier:g]] after");
        assert_eq!(
            wire,
            "Unsubscribe:  \n[[crier:u]]\n* A title \n  [[crier:g]] \n  after"
        );
        assert_eq!(fill_value("https://x.test/", "  "), "https://x.test/");
        let name = format!("Hello {}.", "Ada ".repeat(30).trim_end());
        let filled = fill_value(&name, "");
        assert!(filled.lines().all(|l| display_width(l) <= MAX), "{filled}");
        assert_eq!(decode(&filled), name);
        let filled = fill_value(&name, "  ");
        assert_eq!(decode(&format!("* x \n  {filled}")), format!("* x {name}"));
        assert_eq!(fill_value("From me", ""), " From me");
    }
}

//! Turns article text into the HTML that feeds and emails carry. Plain text is
//! escaped (with bare URLs made into links); Markdown output goes through ammonia.

use std::sync::LazyLock;

use pulldown_cmark_escape::{escape_href, escape_html};

use crate::model::{Block, SectionKind};

/// Escapes plain text for HTML and links the http(s) URLs in it.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    push_text_html(&mut out, text);
    out
}

/// [`text_to_html`], appended to `out`.
fn push_text_html(out: &mut String, text: &str) {
    static FINDER: LazyLock<linkify::LinkFinder> = LazyLock::new(|| {
        let mut finder = linkify::LinkFinder::new();
        finder.kinds(&[linkify::LinkKind::Url]);
        finder
    });
    // Only text with `://` can hold an http(s) URL; escaping the rest whole gives the
    // same bytes as escaping it span by span.
    if !text.contains("://") {
        let _ = escape_html(&mut *out, text);
        return;
    }
    for span in FINDER.spans(text) {
        let s = span.as_str();
        let is_web =
            span.kind().is_some() && (s.starts_with("https://") || s.starts_with("http://"));
        if is_web {
            out.push_str("<a href=\"");
            let _ = escape_href(&mut *out, s);
            out.push_str("\">");
            let _ = escape_html(&mut *out, s);
            out.push_str("</a>");
        } else {
            let _ = escape_html(&mut *out, s);
        }
    }
}

/// Appends the HTML for the blocks of a brief section: runs of bullets become one list.
pub fn push_blocks_html(out: &mut String, blocks: &[Block]) {
    let mut in_list = false;
    for block in blocks {
        match block {
            Block::Bullet { text, .. } => {
                if !in_list {
                    out.push_str("<ul>");
                    in_list = true;
                }
                out.push_str("<li>");
                push_text_html(out, text);
                out.push_str("</li>");
            }
            Block::Paragraph { text, .. } => {
                if in_list {
                    out.push_str("</ul>");
                    in_list = false;
                }
                out.push_str("<p>");
                push_text_html(out, text);
                out.push_str("</p>");
            }
        }
    }
    if in_list {
        out.push_str("</ul>");
    }
}

/// Removes everything unsafe from HTML written by people (Markdown with inline HTML):
/// scripts, frames, event handlers, `javascript:` URLs.
pub fn sanitize(html: &str) -> String {
    static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut builder = ammonia::Builder::default();
        builder.link_rel(Some("noopener"));
        builder
    });
    CLEANER.clean(html).to_string()
}

/// Appends one section of the article body: what `body` writes, under the section's
/// heading (the intro has none). A section whose body writes nothing adds nothing.
pub fn push_section(out: &mut String, kind: SectionKind, body: impl FnOnce(&mut String)) {
    let start = out.len();
    if kind != SectionKind::Intro {
        out.push_str("<h2>");
        let _ = escape_html(&mut *out, kind.heading());
        out.push_str("</h2>");
    }
    let body_start = out.len();
    body(out);
    if out.len() == body_start {
        out.truncate(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_urls_linked() {
        assert_eq!(
            text_to_html("R&D <script>alert(1)</script> \"q\""),
            "R&amp;D &lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot;"
        );
        assert_eq!(
            text_to_html("Read https://example.com/a?b=1&c=2."),
            "Read <a href=\"https://example.com/a?b=1&amp;c=2\">https://example.com/a?b=1&amp;c=2</a>."
        );
        assert_eq!(text_to_html("mail me@example.com"), "mail me@example.com");
        assert_eq!(
            text_to_html("see ftp://x.example & mailto:a@b.c, or https://example.com/x."),
            "see ftp://x.example &amp; mailto:a@b.c, or \
             <a href=\"https://example.com/x\">https://example.com/x</a>."
        );
    }

    #[test]
    fn bullets_group_into_lists() {
        let blocks = vec![
            Block::Bullet {
                text: "a".into(),
                line: 1,
            },
            Block::Bullet {
                text: "b".into(),
                line: 2,
            },
            Block::Paragraph {
                text: "c".into(),
                line: 3,
            },
            Block::Bullet {
                text: "d".into(),
                line: 4,
            },
        ];
        let mut out = String::from("x");
        push_blocks_html(&mut out, &blocks);
        assert_eq!(
            out,
            "x<ul><li>a</li><li>b</li></ul><p>c</p><ul><li>d</li></ul>"
        );
    }

    #[test]
    fn sections_have_headings_unless_empty_or_the_intro() {
        let mut out = String::new();
        push_section(&mut out, SectionKind::Intro, |o| o.push_str("<p>i</p>"));
        push_section(&mut out, SectionKind::WantMore, |_| {});
        push_section(&mut out, SectionKind::WhatsNew, |o| o.push_str("<p>n</p>"));
        assert_eq!(out, "<p>i</p><h2>What&#39;s actually new</h2><p>n</p>");
    }

    #[test]
    fn sanitize_strips_scripts_and_handlers() {
        let out = sanitize(
            "<p onclick=\"x()\">hi<script>bad()</script><iframe src=\"https://e.x\"></iframe>\
             <a href=\"javascript:alert(1)\">l</a></p>",
        );
        assert!(!out.contains("script"), "{out}");
        assert!(!out.contains("iframe"), "{out}");
        assert!(!out.contains("onclick"), "{out}");
        assert!(!out.contains("javascript"), "{out}");
        assert!(out.contains("hi"), "{out}");
    }
}

//! The handlebars templates for pages (and, later, emails). Defaults are compiled
//! into the binary; a file of the same name in the configured folder replaces one.
//! Every template is compiled in strict mode when crier starts, so a typo fails at
//! boot rather than at the first render.
//!
//! A partial call alone on its line is copied into the template when it loads
//! (`inline_partials`). Measured for issue #16 with `valgrind --tool=callgrind` on
//! `crier build` of 10,000 articles: 2.30 G instructions with it, 2.63 G without
//! (+14 % for the whole build), so it stays (BENCHMARKS.md, "machinery").

use std::path::Path;

use handlebars::{Context, Handlebars};
use serde::Serialize;

/// (registered name, file name under `templates/`, embedded text). Names ending in
/// `.txt` (and partials under `partials/text/`) are plain text: nothing is escaped.
const EMBEDDED: &[(&str, &str, &str)] = &[
    (
        "head",
        "partials/head.hbs",
        include_str!("../templates/partials/head.hbs"),
    ),
    (
        "foot",
        "partials/foot.hbs",
        include_str!("../templates/partials/foot.hbs"),
    ),
    (
        "email_head",
        "partials/email_head.hbs",
        include_str!("../templates/partials/email_head.hbs"),
    ),
    (
        "email_foot",
        "partials/email_foot.hbs",
        include_str!("../templates/partials/email_foot.hbs"),
    ),
    (
        "email_foot_text",
        "partials/text/email_foot.hbs",
        include_str!("../templates/partials/text/email_foot.hbs"),
    ),
    (
        "index.html",
        "index.html.hbs",
        include_str!("../templates/index.html.hbs"),
    ),
    (
        "article.html",
        "article.html.hbs",
        include_str!("../templates/article.html.hbs"),
    ),
    (
        "listing.html",
        "listing.html.hbs",
        include_str!("../templates/listing.html.hbs"),
    ),
    (
        "archive.html",
        "archive.html.hbs",
        include_str!("../templates/archive.html.hbs"),
    ),
    (
        "edition.html",
        "edition.html.hbs",
        include_str!("../templates/edition.html.hbs"),
    ),
    (
        "not_found.html",
        "not_found.html.hbs",
        include_str!("../templates/not_found.html.hbs"),
    ),
    (
        "page.html",
        "page.html.hbs",
        include_str!("../templates/page.html.hbs"),
    ),
    (
        "subscribe.html",
        "subscribe.html.hbs",
        include_str!("../templates/subscribe.html.hbs"),
    ),
    (
        "preferences.html",
        "preferences.html.hbs",
        include_str!("../templates/preferences.html.hbs"),
    ),
    (
        "confirm.html",
        "confirm.html.hbs",
        include_str!("../templates/confirm.html.hbs"),
    ),
    (
        "confirm.txt",
        "confirm.txt.hbs",
        include_str!("../templates/confirm.txt.hbs"),
    ),
    (
        "preferences_link.html",
        "preferences_link.html.hbs",
        include_str!("../templates/preferences_link.html.hbs"),
    ),
    (
        "preferences_link.txt",
        "preferences_link.txt.hbs",
        include_str!("../templates/preferences_link.txt.hbs"),
    ),
    (
        "digest.html",
        "digest.html.hbs",
        include_str!("../templates/digest.html.hbs"),
    ),
    (
        "digest.txt",
        "digest.txt.hbs",
        include_str!("../templates/digest.txt.hbs"),
    ),
];

/// The templates that make web pages; the others make emails. Their `<style>` blocks
/// are the only styles the pages' Content-Security-Policy allows.
const PAGE_TEMPLATES: &[&str] = &[
    "head",
    "foot",
    "index.html",
    "article.html",
    "listing.html",
    "archive.html",
    "edition.html",
    "not_found.html",
    "page.html",
    "subscribe.html",
    "preferences.html",
];

/// One template's text as loaded, before it is compiled.
struct Source {
    name: &'static str,
    file: &'static str,
    text: String,
    /// Where it came from, for errors.
    shown: String,
}

impl Source {
    fn is_partial(&self) -> bool {
        self.file.starts_with("partials/")
    }
}

/// Copies each partial that stands alone on a line (`{{> head}}`, nothing else on the
/// line) into the template's text. Handlebars renders such a line as the partial's
/// text, but first deep-copies the whole render data for the partial's context: for a
/// page with a long article, that was half the cost of rendering it. Only partials whose
/// text ends with a line end are copied, so the lines around them read the same either
/// way; anything else (indented, inline, with arguments) stays a partial call.
fn inline_partials<'a>(
    template: &str,
    partials: impl Iterator<Item = &'a Source> + Clone,
) -> String {
    let mut out = String::with_capacity(template.len() + 4096);
    for line in template.split_inclusive('\n') {
        let tag = line.strip_suffix('\n').unwrap_or(line);
        let partial = tag
            .strip_prefix("{{>")
            .and_then(|rest| rest.strip_suffix("}}"))
            .map(str::trim_start)
            .filter(|name| !name.is_empty() && !name.contains(|c: char| c.is_whitespace()))
            .and_then(|name| partials.clone().find(|p| p.name == name))
            .filter(|p| p.text.ends_with('\n'));
        match partial {
            Some(partial) => out.push_str(&partial.text),
            None => out.push_str(line),
        }
    }
    out
}

/// Handlebars' default HTML escaping ([`handlebars::html_escape`]), byte for byte, but
/// copying the text between special characters whole rather than a character at a
/// time, and the text as it is when there is nothing to escape.
fn escape_html(text: &str) -> String {
    let special = |b: &u8| matches!(b, b'<' | b'>' | b'"' | b'&' | b'\'' | b'`' | b'=');
    if !text.as_bytes().iter().any(special) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let entity = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'&' => "&amp;",
            b'\'' => "&#x27;",
            b'`' => "&#x60;",
            b'=' => "&#x3D;",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out
}

/// The `sha256-…` source of each distinct `<style>` block in the page templates. A
/// style that comes from render data could not be allowed ahead by its hash, and a
/// `style` attribute not at all (short of allowing every inline style), so a page
/// template with either fails to load, with the reason.
fn page_styles(sources: &[Source]) -> Result<Vec<String>, TemplateError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut hashes = Vec::new();
    for source in sources.iter().filter(|s| PAGE_TEMPLATES.contains(&s.name)) {
        let refuse = |message: &str| TemplateError::Compile {
            name: source.shown.clone(),
            message: format!(
                "{message}: the pages' Content-Security-Policy allows only the styles of \
                 fixed <style> blocks, by their hash"
            ),
        };
        let (blocks, rest) = style_blocks(&source.text);
        if rest.to_ascii_lowercase().contains(" style=") {
            return Err(refuse("an element has a style attribute"));
        }
        for block in blocks {
            if block.contains("{{") {
                return Err(refuse("a <style> block uses {{…}}"));
            }
            // A browser hashes the text after HTML parsing has made every line end LF.
            let text = block.replace("\r\n", "\n").replace('\r', "\n");
            let hash = format!(
                "sha256-{}",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text))
            );
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
        }
    }
    Ok(hashes)
}

/// The text of each `<style …>…</style>` element of `html`, and `html` without them.
fn style_blocks(html: &str) -> (Vec<&str>, String) {
    // ASCII lowercasing keeps every byte offset.
    let lower = html.to_ascii_lowercase();
    let mut blocks = Vec::new();
    let mut rest = String::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find("<style") {
        let open = from + found;
        let after = open + "<style".len();
        let Some(gt) = lower[after..].find('>') else {
            break;
        };
        // `<styles>` or the like is another element.
        if !lower[after..].starts_with(|c: char| c == '>' || c == '/' || c.is_ascii_whitespace()) {
            rest.push_str(&html[from..after]);
            from = after;
            continue;
        }
        let start = after + gt + 1;
        let end = lower[start..]
            .find("</style")
            .map_or(html.len(), |e| start + e);
        rest.push_str(&html[from..open]);
        blocks.push(&html[start..end]);
        from = end;
    }
    rest.push_str(&html[from..]);
    (blocks, rest)
}

fn is_text(name: &str, file: &str) -> bool {
    name.ends_with(".txt") || file.starts_with("partials/text/")
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template {path}: {cause}")]
    Read {
        path: String,
        /// Shown in the message, so not a `source` that `{:#}` would print again.
        cause: std::io::Error,
    },
    #[error("the template {name} does not compile: {message}")]
    Compile { name: String, message: String },
    #[error("the template {name} failed to render: {message}")]
    Render { name: String, message: String },
}

#[derive(Debug)]
pub struct Templates {
    registry: Handlebars<'static>,
    /// Plain-text templates (email text parts): no HTML escaping.
    text: Handlebars<'static>,
    /// Which templates came from the override folder, for the start-up log.
    overridden: Vec<String>,
    /// `sha256-…` of each `<style>` block of the page templates.
    page_styles: Vec<String>,
}

impl Templates {
    /// Compiles every template; files in `dir` (when it exists) replace the embedded ones.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(escape_html);
        let mut text_registry = Handlebars::new();
        text_registry.set_strict_mode(true);
        text_registry.register_escape_fn(handlebars::no_escape);
        let mut overridden = Vec::new();
        let mut sources = Vec::with_capacity(EMBEDDED.len());
        for (name, file, embedded) in EMBEDDED {
            let path = dir.map(|d| d.join(file)).filter(|p| p.is_file());
            let text = match &path {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(path).map_err(|cause| TemplateError::Read {
                            path: path.display().to_string(),
                            cause,
                        })?;
                    if text != *embedded {
                        overridden.push(path.display().to_string());
                    }
                    text
                }
                None => (*embedded).to_string(),
            };
            let shown = path
                .as_ref()
                .map_or_else(|| format!("{file} (embedded)"), |p| p.display().to_string());
            sources.push(Source {
                name,
                file,
                text,
                shown,
            });
        }
        let page_styles = page_styles(&sources)?;
        for source in &sources {
            let compile = |e: handlebars::TemplateError| TemplateError::Compile {
                name: source.shown.clone(),
                message: e.to_string(),
            };
            let text = is_text(source.name, source.file);
            let target = if text {
                &mut text_registry
            } else {
                &mut registry
            };
            if source.is_partial() {
                target
                    .register_partial(source.name, source.text.as_str())
                    .map_err(compile)?;
            } else {
                let partials = sources
                    .iter()
                    .filter(|p| p.is_partial() && is_text(p.name, p.file) == text);
                target
                    .register_template_string(source.name, inline_partials(&source.text, partials))
                    .map_err(compile)?;
            }
        }
        Ok(Templates {
            registry,
            text: text_registry,
            overridden,
            page_styles,
        })
    }

    /// The embedded templates only.
    pub fn embedded() -> Templates {
        Templates::load(None).expect("the embedded templates compile")
    }

    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// The Content-Security-Policy sources (`sha256-…`) of the pages' `<style>`
    /// blocks, worked out when the templates were loaded.
    pub fn page_styles(&self) -> &[String] {
        &self.page_styles
    }

    /// Renders a template: `.txt` ones as plain text, the rest as escaped HTML.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, TemplateError> {
        let context = Context::wraps(data).map_err(|e| render_error(name, &e))?;
        self.render_context(name, &context)
    }

    /// Renders a template from render data kept by the caller (see [`Data`]) into
    /// `out`, appending.
    pub fn render_data_to(
        &self,
        name: &str,
        data: &Data,
        out: &mut Vec<u8>,
    ) -> Result<(), TemplateError> {
        self.registry_for(name)
            .render_with_context_to_write(name, &data.0, out)
            .map_err(|e| render_error(name, &e))
    }

    /// Renders an email's HTML and text templates from one serialisation of `data`.
    pub fn render_pair<T: Serialize>(
        &self,
        html: &str,
        text: &str,
        data: &T,
    ) -> Result<(String, String), TemplateError> {
        let context = Context::wraps(data).map_err(|e| render_error(html, &e))?;
        Ok((
            self.render_context(html, &context)?,
            self.render_context(text, &context)?,
        ))
    }

    fn render_context(&self, name: &str, context: &Context) -> Result<String, TemplateError> {
        self.registry_for(name)
            .render_with_context(name, context)
            .map_err(|e| render_error(name, &e))
    }

    fn registry_for(&self, name: &str) -> &Handlebars<'static> {
        if name.ends_with(".txt") {
            &self.text
        } else {
            &self.registry
        }
    }
}

/// Render data as the templates see it (JSON), kept so that a caller rendering many
/// pages of one shape can change it in place instead of serialising each page anew.
#[derive(Debug)]
pub struct Data(Context);

impl Data {
    pub fn new<T: Serialize>(data: &T) -> Result<Data, TemplateError> {
        Context::wraps(data)
            .map(Data)
            .map_err(|e| render_error("(data)", &e))
    }

    pub fn json(&self) -> &serde_json::Value {
        self.0.data()
    }

    pub fn json_mut(&mut self) -> &mut serde_json::Value {
        self.0.data_mut()
    }
}

fn render_error(name: &str, error: &handlebars::RenderError) -> TemplateError {
    TemplateError::Render {
        name: name.to_string(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_templates_compile() {
        let t = Templates::load(None).unwrap();
        assert!(t.overridden().is_empty());
        // The head partial's one style block, and nothing from the emails' styles.
        assert_eq!(t.page_styles().len(), 1, "{:?}", t.page_styles());
    }

    #[test]
    fn page_styles_are_hashed_as_a_browser_sees_them() {
        let source = |name: &'static str, text: &str| Source {
            name,
            file: "x.hbs",
            text: text.to_string(),
            shown: format!("{name}.hbs"),
        };
        // `a{}` hashed with SHA-256, as `echo -n 'a{}' | openssl dgst -sha256 -binary | base64`.
        let hashes = page_styles(&[
            source(
                "head",
                "<STYLE media=\"all\">a{}</style>\n<styles></styles>",
            ),
            source("page.html", "<style>a{}</style><style>\r\nb{}</style>"),
            source("digest.html", "<style>{{dynamic}}</style>"),
        ])
        .unwrap();
        assert_eq!(hashes.len(), 2, "{hashes:?}");
        assert_eq!(
            hashes[0],
            "sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk="
        );
        let lf = page_styles(&[source("head", "<style>\nb{}</style>")]).unwrap();
        assert_eq!(hashes[1], lf[0], "CRLF is hashed as LF");

        for bad in [
            "<style>a { color: {{c}} }</style>",
            "<p style=\"color:red\">x</p>",
        ] {
            let err = page_styles(&[source("page.html", bad)]).unwrap_err();
            assert!(err.to_string().contains("page.html.hbs"), "{err}");
        }
    }

    /// Copying standalone partials into a template renders what the partial calls did.
    #[test]
    fn inlined_partials_render_as_partial_calls_do() {
        let partial = |name: &'static str, text: &str| Source {
            name,
            file: "partials/x.hbs",
            text: text.to_string(),
            shown: String::new(),
        };
        let partials = [
            partial(
                "head",
                "<h1>{{title}}</h1>\n{{#if sub}}\n  <p>{{sub}}</p>\n{{/if}}\n",
            ),
            partial("item", "<li>{{this}}</li>\n"),
            partial("bare", "no line end {{title}}"),
        ];
        let template = "{{> head}}\n<ul>\n{{#each items}}\n{{> item}}\n{{/each}}\n</ul>\n  {{> item}}\n\
                        <p>{{> bare}}</p>\n{{> bare}}\n{{> head sub=\"x\"}}\n{{> head}}";
        let inlined = inline_partials(template, partials.iter());
        assert!(!inlined.starts_with("{{> head}}"), "{inlined}");
        assert!(
            inlined.contains("  {{> item}}"),
            "indented calls stay: {inlined}"
        );
        assert!(
            inlined.contains("{{> bare}}"),
            "partials without a line end stay"
        );
        assert!(
            inlined.contains("{{> head sub="),
            "calls with arguments stay"
        );
        let mut plain = Handlebars::new();
        let mut copied = Handlebars::new();
        for registry in [&mut plain, &mut copied] {
            registry.set_strict_mode(true);
            for p in &partials {
                registry.register_partial(p.name, p.text.as_str()).unwrap();
            }
        }
        plain.register_template_string("t", template).unwrap();
        copied.register_template_string("t", &inlined).unwrap();
        for data in [
            serde_json::json!({"title": "T & co", "sub": "s", "items": ["a", "<b>"]}),
            serde_json::json!({"title": "T", "sub": null, "items": []}),
        ] {
            assert_eq!(
                plain.render("t", &data).unwrap(),
                copied.render("t", &data).unwrap()
            );
        }
    }

    #[test]
    fn escaping_matches_handlebars() {
        let mut texts: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
        texts.extend(
            [
                "",
                "plain text",
                "<a href=\"x\">R&D's `code` a=b</a>",
                "caf\u{e9} \u{2019}quotes\u{2019} & <\u{1f600}>",
                "&&&",
            ]
            .map(String::from),
        );
        for text in texts {
            assert_eq!(
                escape_html(&text),
                handlebars::html_escape(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn render_data_to_appends_what_render_returns() {
        let t = Templates::embedded();
        let data = serde_json::json!({
            "site": {"title": "S", "description": "", "base_url": "https://e.x/"},
            "page_title": "P", "alternates": [], "canonical": "https://e.x/p", "hub": null,
            "heading": "H", "paragraphs": ["one", "two & three"], "errors": [], "forms": [],
            "email_form": null, "links": [],
        });
        let mut out = b"before".to_vec();
        t.render_data_to("page.html", &Data::new(&data).unwrap(), &mut out)
            .unwrap();
        let rendered = t.render("page.html", &data).unwrap();
        assert_eq!(out, [b"before", rendered.as_bytes()].concat());
        assert!(rendered.starts_with("<!doctype html>"), "{rendered}");
    }

    #[test]
    fn files_override_and_broken_files_fail_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html.hbs"), "custom {{site.title}}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(t.overridden().len(), 1);
        let out = t
            .render("index.html", &serde_json::json!({"site": {"title": "T"}}))
            .unwrap();
        assert_eq!(out, "custom T");
        // Strict mode: a missing variable is an error, not an empty string.
        assert!(t.render("index.html", &serde_json::json!({})).is_err());

        std::fs::write(dir.path().join("index.html.hbs"), "{{#each}}").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("index.html.hbs does not compile"), "{e}");
    }
}

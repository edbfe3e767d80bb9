//! The handlebars templates for pages (and, later, emails). Defaults are compiled
//! into the binary; a file of the same name in the configured folder replaces one.
//! Every template is compiled in strict mode when crier starts, so a typo fails at
//! boot rather than at the first render.

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
}

impl Templates {
    /// Compiles every template; files in `dir` (when it exists) replace the embedded ones.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        let mut text_registry = Handlebars::new();
        text_registry.set_strict_mode(true);
        text_registry.register_escape_fn(handlebars::no_escape);
        let mut overridden = Vec::new();
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
            let compile = |e: handlebars::TemplateError| TemplateError::Compile {
                name: shown.clone(),
                message: e.to_string(),
            };
            let target = if is_text(name, file) {
                &mut text_registry
            } else {
                &mut registry
            };
            if file.starts_with("partials/") {
                target.register_partial(name, text).map_err(compile)?;
            } else {
                target
                    .register_template_string(name, text)
                    .map_err(compile)?;
            }
        }
        Ok(Templates {
            registry,
            text: text_registry,
            overridden,
        })
    }

    /// The embedded templates only.
    pub fn embedded() -> Templates {
        Templates::load(None).expect("the embedded templates compile")
    }

    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// Renders a template: `.txt` ones as plain text, the rest as escaped HTML.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, TemplateError> {
        let context = Context::wraps(data).map_err(|e| render_error(name, &e))?;
        self.render_context(name, &context)
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
        let registry = if name.ends_with(".txt") {
            &self.text
        } else {
            &self.registry
        };
        registry
            .render_with_context(name, context)
            .map_err(|e| render_error(name, &e))
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

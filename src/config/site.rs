//! `[site]`: what the site calls itself and where it lives. Owns the base URL every
//! public link is built on; knows nothing of the other sections.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Origin, is_email_like};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub title: String,
    /// Absolute http(s) URL that public links are built on; always ends with `/`.
    pub base_url: Url,
    pub description: String,
    pub author: String,
    /// An address for the places that want one (RSS `author`, Atom `email`).
    pub author_email: Option<String>,
    /// A folder whose files override the embedded templates of the same name.
    pub templates: PathBuf,
    /// The site's privacy policy, linked beside the consent sentence of the sign-up
    /// form and on the preference page.
    pub privacy_url: Option<Url>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSite {
    title: String,
    base_url: String,
    description: String,
    author: String,
    author_email: Option<String>,
    templates: PathBuf,
    privacy_url: Option<String>,
}

impl Default for RawSite {
    fn default() -> Self {
        RawSite {
            title: "crier demo".into(),
            base_url: "http://127.0.0.1:8080/".into(),
            description: "Short briefs on AI at work, published by crier.".into(),
            author: "The crier demo desk".into(),
            author_email: None,
            templates: "templates".into(),
            privacy_url: None,
        }
    }
}

impl RawSite {
    pub(super) fn validate(self, origin: &Origin) -> Result<Site, ConfigError> {
        let mut base_url = Url::parse(self.base_url.trim())
            .map_err(|e| origin.invalid("site.base_url", format!("is not an absolute URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(origin.invalid(
                "site.base_url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        // Without the slash, `Url::join` would replace the last segment instead of
        // adding to it.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let author_email = match self.author_email.map(|e| e.trim().to_string()) {
            Some(email) if email.is_empty() => None,
            Some(email) if !is_email_like(&email) => {
                return Err(origin.invalid(
                    "site.author_email",
                    format!("`{email}` is not an email address"),
                ));
            }
            other => other,
        };
        let privacy_url = match self.privacy_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let url = Url::parse(text).map_err(|e| {
                    origin.invalid("site.privacy_url", format!("is not an absolute URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(origin.invalid(
                        "site.privacy_url",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                Some(url)
            }
        };
        Ok(Site {
            title: origin.non_empty("site.title", self.title)?,
            base_url,
            description: self.description.trim().to_string(),
            author: origin.non_empty("site.author", self.author)?,
            author_email,
            templates: origin.resolve(self.templates),
            privacy_url,
        })
    }
}

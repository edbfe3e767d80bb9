//! Reading and checking the taxonomy file.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::model::Audience;

/// Why a taxonomy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("cannot read the audience taxonomy {path}: {cause}")]
    Read {
        path: String,
        /// Shown in the message, so not a `source` that `{:#}` would print again.
        cause: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
}

/// The audiences, in the order the file lists them (digests group by this order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taxonomy {
    audiences: Vec<Audience>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    audience: Vec<RawAudience>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudience {
    slug: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "match", default)]
    phrases: Vec<Spanned<String>>,
}

impl Taxonomy {
    pub fn load(path: &Path) -> Result<Taxonomy, TaxonomyError> {
        let text = std::fs::read_to_string(path).map_err(|cause| TaxonomyError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        Taxonomy::parse(&text, &path.display().to_string())
    }

    /// Parses and checks taxonomy text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &str) -> Result<Taxonomy, TaxonomyError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let invalid = |line: usize, message: String| TaxonomyError::Invalid {
            path: path.to_string(),
            line,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(s.start));
            invalid(line, e.message().trim().to_string())
        })?;
        let mut audiences: Vec<Audience> = Vec::with_capacity(raw.audience.len());
        for entry in raw.audience {
            let slug_line = line_of(entry.slug.span().start);
            let slug = entry.slug.into_inner();
            if !crate::model::is_slug(&slug) {
                return Err(invalid(
                    slug_line,
                    format!(
                        "the audience slug `{slug}` may only hold lowercase letters, digits \
                         and single hyphens (like `customer-service`)"
                    ),
                ));
            }
            if slug == crate::model::EVERYTHING {
                return Err(invalid(
                    slug_line,
                    format!(
                        "the audience slug `{slug}` is reserved: subscribers choose it to get \
                         every article"
                    ),
                ));
            }
            if audiences.iter().any(|a| a.slug == slug) {
                return Err(invalid(
                    slug_line,
                    format!("the audience slug `{slug}` is used twice"),
                ));
            }
            let name_line = line_of(entry.name.span().start);
            let name = entry.name.into_inner().trim().to_string();
            if name.is_empty() {
                return Err(invalid(
                    name_line,
                    format!("the audience `{slug}` has an empty name"),
                ));
            }
            let mut phrases = Vec::with_capacity(entry.phrases.len());
            for phrase in entry.phrases {
                let line = line_of(phrase.span().start);
                let phrase = phrase.into_inner();
                if !phrase.chars().any(char::is_alphanumeric) {
                    return Err(invalid(
                        line,
                        format!("the audience `{slug}` has an empty match phrase"),
                    ));
                }
                phrases.push(phrase.trim().to_string());
            }
            audiences.push(Audience {
                slug,
                name,
                description: entry
                    .description
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty()),
                phrases,
            });
        }
        Ok(Taxonomy { audiences })
    }

    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }

    pub fn get(&self, slug: &str) -> Option<&Audience> {
        self.audiences.iter().find(|a| a.slug == slug)
    }

    /// Whether a subscriber may choose the slug: an audience of the taxonomy, or
    /// [`EVERYTHING`](crate::model::EVERYTHING).
    pub fn is_choice(&self, slug: &str) -> bool {
        slug == crate::model::EVERYTHING || self.get(slug).is_some()
    }

    /// What a subscriber's choice is called: the audience's name, "Everything", or
    /// the slug itself when the taxonomy no longer has it.
    pub fn choice_name(&self, slug: &str) -> String {
        match self.get(slug) {
            Some(audience) => audience.name.clone(),
            None if slug == crate::model::EVERYTHING => "Everything".into(),
            None => slug.to_string(),
        }
    }

    /// Where the audience stands in the taxonomy's order.
    pub fn position(&self, slug: &str) -> Option<usize> {
        self.audiences.iter().position(|a| a.slug == slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Taxonomy::parse(text, "aud.toml").unwrap_err().to_string()
    }

    #[test]
    fn reads_audiences_in_order() {
        let t = Taxonomy::parse(
            "[[audience]]\nslug = \"hr\"\nname = \"HR\"\ndescription = \" People. \"\nmatch = [\"HR teams\"]\n\n\
             [[audience]]\nslug = \"devs\"\nname = \"Developers\"\nmatch = [\"developers\", \"programmers\"]\n",
            "aud.toml",
        )
        .unwrap();
        let slugs: Vec<_> = t.audiences().iter().map(|a| a.slug.as_str()).collect();
        assert_eq!(slugs, ["hr", "devs"]);
        assert_eq!(t.get("hr").unwrap().description.as_deref(), Some("People."));
        assert_eq!(t.position("devs"), Some(1));
    }

    #[test]
    fn bad_taxonomies_are_clear_errors() {
        assert_eq!(
            error(
                "[[audience]]\nslug = \"a\"\nname = \"A\"\n[[audience]]\nslug = \"a\"\nname = \"B\"\n"
            ),
            "aud.toml:5: the audience slug `a` is used twice"
        );
        assert_eq!(
            error("[[audience]]\nslug = \"a\"\nname = \"A\"\nmatch = [\"x\",\n  \" \"]\n"),
            "aud.toml:5: the audience `a` has an empty match phrase"
        );
        assert!(
            error("[[audience]]\nslug = \"Customer Service\"\nname = \"A\"\n")
                .starts_with("aud.toml:2: the audience slug `Customer Service` may only hold")
        );
        assert!(
            error("[[audience]]\nslug = \"a\"\nname = \"A\"\nmatches = []\n")
                .contains("unknown field `matches`")
        );
        assert!(error("[[audience]]\nname = \"A\"\n").contains("missing field `slug`"));
        assert_eq!(
            error(
                "[[audience]]\nslug = \"hr\"\nname = \"HR\"\n[[audience]]\nslug = \"everything\"\nname = \"All\"\n"
            ),
            "aud.toml:5: the audience slug `everything` is reserved: subscribers choose it to get \
             every article"
        );
    }
}

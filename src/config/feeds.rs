//! `[feeds]`: how many entries the feeds carry, how their `tag:` ids are formed and
//! which WebSub hub they name. Reads the validated [`Site`] for the default id
//! authority; touches no other section.

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Origin, Site};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feeds {
    /// Entries per feed, newest first.
    pub limit: usize,
    /// The authority of `tag:` ids: by default the host of `site.base_url`.
    pub id_authority: String,
    /// The date in `tag:` ids of feeds (`YYYY-MM-DD`); entries use their own date.
    pub id_date: String,
    /// `Cache-Control: max-age` for feeds and pages, in seconds.
    pub max_age: u32,
    /// A WebSub hub to advertise and to notify when a feed changes.
    pub websub_hub: Option<Url>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFeeds {
    limit: usize,
    id_authority: Option<String>,
    id_date: String,
    max_age: u32,
    websub_hub: Option<String>,
}

impl Default for RawFeeds {
    fn default() -> Self {
        RawFeeds {
            limit: 50,
            id_authority: None,
            id_date: "2026-01-01".into(),
            max_age: 300,
            websub_hub: None,
        }
    }
}

impl RawFeeds {
    pub(super) fn validate(self, origin: &Origin, site: &Site) -> Result<Feeds, ConfigError> {
        if self.limit == 0 {
            return Err(origin.invalid("feeds.limit", "must be at least 1"));
        }
        let id_authority = match self.id_authority.map(|a| a.trim().to_ascii_lowercase()) {
            Some(a)
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.@".contains(c)) =>
            {
                a
            }
            Some(a) => {
                return Err(origin.invalid(
                    "feeds.id_authority",
                    format!("`{a}` is not a domain name or email address"),
                ));
            }
            None => site
                .base_url
                .host_str()
                .unwrap_or("localhost")
                .to_ascii_lowercase(),
        };
        let id_date = self.id_date.trim().to_string();
        // A bare year is what RFC 4151 allows as the shortest date.
        let valid_date = chrono::NaiveDate::parse_from_str(&id_date, "%Y-%m-%d").is_ok()
            || (id_date.len() == 4 && id_date.bytes().all(|b| b.is_ascii_digit()));
        if !valid_date {
            return Err(origin.invalid(
                "feeds.id_date",
                format!("`{id_date}` is not a date like 2026-01-01"),
            ));
        }
        let websub_hub = match self.websub_hub.map(|h| h.trim().to_string()) {
            Some(h) if h.is_empty() => None,
            Some(h) => {
                let url = Url::parse(&h).map_err(|e| {
                    origin.invalid("feeds.websub_hub", format!("is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(
                        origin.invalid("feeds.websub_hub", "must be an http:// or https:// URL")
                    );
                }
                Some(url)
            }
            None => None,
        };
        Ok(Feeds {
            limit: self.limit,
            id_authority,
            id_date,
            max_age: self.max_age,
            websub_hub,
        })
    }
}

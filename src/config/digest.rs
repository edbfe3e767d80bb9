//! `[[digest]]`: the digest schedules, each a name, a cron line and the limits of
//! one email. Parses the cron line once so that a bad one fails at boot; when the
//! digests are planned and sent is not its business.

use serde::Deserialize;

use super::{ConfigError, Origin};

#[derive(Debug, Clone)]
pub struct Digest {
    pub name: String,
    pub cron: crate::cron::CronSchedule,
    /// The subject line; by default one is made from the site title and the name.
    pub subject: Option<String>,
    /// How far back an article's publication may lie to count as news.
    pub lookback: chrono::Duration,
    /// A firing missed (the daemon was down) is still sent this late, not later.
    pub max_lateness: chrono::Duration,
    /// Articles per email; the rest are counted and linked.
    pub max_articles: usize,
    /// Whether its editions are published under `/archive/` (and its emails link
    /// there with "View in browser"). On unless `archive = false`.
    pub archive: bool,
}

// Two schedules parsed from the same line are the same schedule.
impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.cron.source == other.cron.source
            && self.subject == other.subject
            && self.lookback == other.lookback
            && self.max_lateness == other.max_lateness
            && self.max_articles == other.max_articles
            && self.archive == other.archive
    }
}

impl Eq for Digest {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    name: String,
    cron: String,
    subject: Option<String>,
    lookback_days: Option<u32>,
    #[serde(default = "default_lateness")]
    max_lateness_hours: u32,
    #[serde(default = "default_max_articles")]
    max_articles: usize,
    #[serde(default = "default_archive")]
    archive: bool,
}

fn default_archive() -> bool {
    true
}

fn default_lateness() -> u32 {
    6
}

fn default_max_articles() -> usize {
    20
}

/// The schedules of a config without `[[digest]]` tables: daily and weekly at 07:00.
fn default_digests() -> Vec<RawDigest> {
    let digest = |name: &str, cron: &str| RawDigest {
        name: name.into(),
        cron: cron.into(),
        subject: None,
        lookback_days: None,
        max_lateness_hours: default_lateness(),
        max_articles: default_max_articles(),
        archive: default_archive(),
    };
    vec![digest("daily", "0 7 * * *"), digest("weekly", "0 7 * * 1")]
}

/// The validated schedules: at least one, names unique.
pub(super) fn validate(
    raw: Option<Vec<RawDigest>>,
    origin: &Origin,
) -> Result<Vec<Digest>, ConfigError> {
    let mut digests: Vec<Digest> = Vec::new();
    for raw in raw.unwrap_or_else(default_digests) {
        let digest = raw.validate(origin)?;
        if digests.iter().any(|d| d.name == digest.name) {
            return Err(origin.invalid(
                "digest.name",
                format!("`{}` is used by two digests", digest.name),
            ));
        }
        digests.push(digest);
    }
    if digests.is_empty() {
        return Err(origin.invalid("digest", "needs at least one [[digest]] table"));
    }
    Ok(digests)
}

impl RawDigest {
    fn validate(self, origin: &Origin) -> Result<Digest, ConfigError> {
        let name = self.name.trim().to_string();
        if !crate::model::is_slug(&name) {
            return Err(origin.invalid(
                "digest.name",
                format!("`{name}` should be a short lowercase name like `weekly`"),
            ));
        }
        let cron = crate::cron::CronSchedule::parse(&self.cron)
            .map_err(|e| origin.invalid("digest.cron", format!("of `{name}`: {e}")))?;
        if self.max_articles == 0 {
            return Err(origin.invalid(
                "digest.max_articles",
                format!("of `{name}` must be at least 1"),
            ));
        }
        let lookback_days = self
            .lookback_days
            .unwrap_or(if name == "daily" { 1 } else { 7 });
        Ok(Digest {
            name,
            cron,
            subject: self
                .subject
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            lookback: chrono::Duration::days(i64::from(lookback_days.max(1))),
            max_lateness: chrono::Duration::hours(i64::from(self.max_lateness_hours)),
            max_articles: self.max_articles,
            archive: self.archive,
        })
    }
}

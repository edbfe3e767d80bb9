//! A digest's edition as the public archive keeps it: what one digest carried on one
//! day, for all of its audiences, without anyone it went to. Written when a run
//! queues its messages; read back to draw the archive's pages.

use chrono::{DateTime, NaiveDate, Utc};

/// One article under one audience of an edition: a copy of what the email listed,
/// so that the page still reads right after the article is edited or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditionArticle {
    /// The audience slug ([`super::EVERYTHING`] for the articles that match none).
    pub audience: String,
    pub audience_name: String,
    /// Where the audience sorts: its place in the taxonomy when the edition was
    /// written, the articles that match none last.
    pub audience_rank: i64,
    pub slug: String,
    pub title: String,
    pub url: String,
    /// `YYYY-MM-DD`.
    pub published: String,
    pub summary: Option<String>,
    pub category: String,
    pub subject: String,
    pub reading_minutes: u32,
    /// The other audiences the email named it for ("also for …"), by name.
    pub also: Vec<String>,
}

/// One edition: a digest on one day (the day its schedule fired, on each
/// subscriber's clock), however many time zones and runs it took to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edition {
    pub digest: String,
    pub date: NaiveDate,
    /// The first and last firings (UTC) that sent it.
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// When it was first queued.
    pub queued_at: DateTime<Utc>,
    /// Every (audience, article) it listed, in no particular order.
    pub articles: Vec<EditionArticle>,
}

/// The archive's folder, relative to the site's base URL.
pub const ARCHIVE_PATH: &str = "archive/";

/// The path of a digest's archive (its list of editions), relative to the base URL.
pub fn archive_path(digest: &str) -> String {
    format!("{ARCHIVE_PATH}{digest}/")
}

/// The path of one edition's page, relative to the base URL: what "View in browser"
/// links to. It names the digest and the day only.
pub fn edition_path(digest: &str, date: NaiveDate) -> String {
    format!("{ARCHIVE_PATH}{digest}/{}/", date.format("%Y-%m-%d"))
}

/// Where an audience sorts in an edition when the taxonomy no longer has it, and
/// where the articles that match no audience sort: after every audience.
pub const UNKNOWN_RANK: i64 = 1_000_000;
pub const EVERYTHING_RANK: i64 = 1_000_001;

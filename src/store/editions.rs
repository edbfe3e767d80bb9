//! The archive's editions: written in the transaction that queues a digest run
//! ([`Queue::record_edition`]), read whole for the archive's pages. Plain SQL that
//! PostgreSQL takes too: `?` placeholders, `ON CONFLICT … DO UPDATE / DO NOTHING`
//! and `CASE` where SQLite would have a two-argument `min`.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::Row;

use crate::model::{Edition, EditionArticle};

use super::{Queue, Store, StoreError, from_secs, to_secs};

/// How the stored editions stand: their count and the sum of their revisions. It
/// changes whenever an edition is added or written to, so a reader that keeps the
/// archive in memory reads it again only then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditionsVersion {
    pub count: i64,
    pub revisions: i64,
}

/// Between the names of `also` in its column: audience names are one line each.
const ALSO_SEPARATOR: &str = "\n";

impl Queue {
    /// Records `edition` (or adds its articles to the one of the same digest and day
    /// already recorded: its period widens, its first queueing time stays).
    pub async fn record_edition(&mut self, edition: &Edition) -> Result<(), StoreError> {
        let edition_key = edition.date.to_string();
        sqlx::query(
            "INSERT INTO editions (digest, edition, period_start, period_end, queued_at, revision) \
             VALUES (?, ?, ?, ?, ?, 1) \
             ON CONFLICT (digest, edition) DO UPDATE SET \
             period_start = CASE WHEN excluded.period_start < editions.period_start \
                 THEN excluded.period_start ELSE editions.period_start END, \
             period_end = CASE WHEN excluded.period_end > editions.period_end \
                 THEN excluded.period_end ELSE editions.period_end END, \
             revision = editions.revision + 1",
        )
        .bind(&edition.digest)
        .bind(&edition_key)
        .bind(to_secs(edition.period_start))
        .bind(to_secs(edition.period_end))
        .bind(to_secs(edition.queued_at))
        .execute(&mut *self.tx)
        .await?;
        for article in &edition.articles {
            sqlx::query(
                "INSERT INTO edition_articles (digest, edition, audience, audience_name, audience_rank, \
                 slug, title, url, published, summary, category, subject, reading_minutes, also) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (digest, edition, audience, slug) DO NOTHING",
            )
            .bind(&edition.digest)
            .bind(&edition_key)
            .bind(&article.audience)
            .bind(&article.audience_name)
            .bind(article.audience_rank)
            .bind(&article.slug)
            .bind(&article.title)
            .bind(&article.url)
            .bind(&article.published)
            .bind(&article.summary)
            .bind(&article.category)
            .bind(&article.subject)
            .bind(i64::from(article.reading_minutes))
            .bind(article.also.join(ALSO_SEPARATOR))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Where the stored editions stand; see [`EditionsVersion`].
    pub async fn editions_version(&self) -> Result<EditionsVersion, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n, COALESCE(SUM(revision), 0) AS r FROM editions")
                .fetch_one(&self.pool)
                .await?;
        Ok(EditionsVersion {
            count: row.try_get("n")?,
            revisions: row.try_get("r")?,
        })
    }

    /// Every edition with its articles, by digest and then day, oldest first.
    pub async fn editions(&self) -> Result<Vec<Edition>, StoreError> {
        let rows = sqlx::query(
            "SELECT digest, edition, period_start, period_end, queued_at FROM editions \
             ORDER BY digest, edition",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut editions = Vec::with_capacity(rows.len());
        let mut index: HashMap<(String, String), usize> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let digest: String = row.try_get("digest")?;
            let key: String = row.try_get("edition")?;
            // A key that is not a date was not written by crier; it is left out.
            let Ok(date) = NaiveDate::parse_from_str(&key, "%Y-%m-%d") else {
                continue;
            };
            index.insert((digest.clone(), key), editions.len());
            editions.push(Edition {
                digest,
                date,
                period_start: from_secs(row.try_get("period_start")?),
                period_end: from_secs(row.try_get("period_end")?),
                queued_at: from_secs(row.try_get("queued_at")?),
                articles: Vec::new(),
            });
        }
        let rows = sqlx::query(
            "SELECT digest, edition, audience, audience_name, audience_rank, slug, title, url, \
             published, summary, category, subject, reading_minutes, also FROM edition_articles \
             ORDER BY digest, edition, audience_rank, audience, published DESC, slug",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let key = (row.try_get("digest")?, row.try_get("edition")?);
            let Some(&i) = index.get(&key) else {
                continue;
            };
            editions[i].articles.push(EditionArticle {
                audience: row.try_get("audience")?,
                audience_name: row.try_get("audience_name")?,
                audience_rank: row.try_get("audience_rank")?,
                slug: row.try_get("slug")?,
                title: row.try_get("title")?,
                url: row.try_get("url")?,
                published: row.try_get("published")?,
                summary: row.try_get("summary")?,
                category: row.try_get("category")?,
                subject: row.try_get("subject")?,
                reading_minutes: row.try_get::<i64, _>("reading_minutes")?.clamp(0, 10_000) as u32,
                also: row
                    .try_get::<String, _>("also")?
                    .split(ALSO_SEPARATOR)
                    .filter(|name| !name.is_empty())
                    .map(str::to_string)
                    .collect(),
            });
        }
        Ok(editions)
    }
}

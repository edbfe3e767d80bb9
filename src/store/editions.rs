//! The archive's editions: written in the transaction that queues a digest run
//! ([`Queue::record_edition`]), read whole for the archive's pages. Plain SQL that
//! PostgreSQL takes too: `?` placeholders, `ON CONFLICT … DO UPDATE / DO NOTHING`
//! and `CASE` where SQLite would have a two-argument `min`.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::model::{Edition, EditionArticle};

use super::{Dialect, Get, Queue, Store, StoreError, from_secs, to_secs};

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
        with_tx!(&mut self.tx, c, d => {
            d.query(
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
            .execute(&mut **c)
            .await?;
            for article in &edition.articles {
                d.query(
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
                .execute(&mut **c)
                .await?;
            }
        });
        Ok(())
    }
}

/// An edition row: its digest, its key (the day) and the edition without articles.
fn edition_row(row: &impl Get) -> Result<(String, String, Edition), sqlx::Error> {
    let digest: String = row.get("digest")?;
    let key: String = row.get("edition")?;
    Ok((
        digest.clone(),
        key,
        Edition {
            digest,
            // Set by the caller, which leaves out a key that is not a date.
            date: NaiveDate::MIN,
            period_start: from_secs(row.get("period_start")?),
            period_end: from_secs(row.get("period_end")?),
            queued_at: from_secs(row.get("queued_at")?),
            articles: Vec::new(),
        },
    ))
}

/// An article row, with the digest and day it belongs to.
fn article_row(row: &impl Get) -> Result<((String, String), EditionArticle), sqlx::Error> {
    Ok((
        (row.get("digest")?, row.get("edition")?),
        EditionArticle {
            audience: row.get("audience")?,
            audience_name: row.get("audience_name")?,
            audience_rank: row.get("audience_rank")?,
            slug: row.get("slug")?,
            title: row.get("title")?,
            url: row.get("url")?,
            published: row.get("published")?,
            summary: row.get("summary")?,
            category: row.get("category")?,
            subject: row.get("subject")?,
            reading_minutes: row.get::<i64>("reading_minutes")?.clamp(0, 10_000) as u32,
            also: row
                .get::<String>("also")?
                .split(ALSO_SEPARATOR)
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect(),
        },
    ))
}

impl Store {
    /// Where the stored editions stand; see [`EditionsVersion`].
    pub async fn editions_version(&self) -> Result<EditionsVersion, StoreError> {
        let (count, revisions): (i64, i64) = with_pool!(self, pool, d => d
            .query(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(revision), 0) AS BIGINT) AS r FROM editions",
            )
            .try_map(|row| Ok((row.get("n")?, row.get("r")?)))
            .fetch_one(pool)
            .await?);
        Ok(EditionsVersion { count, revisions })
    }

    /// Every edition with its articles, by digest and then day, oldest first.
    pub async fn editions(&self) -> Result<Vec<Edition>, StoreError> {
        let rows = with_pool!(self, pool, d => d
            .query(
                "SELECT digest, edition, period_start, period_end, queued_at FROM editions \
                 ORDER BY digest, edition",
            )
            .try_map(|row| edition_row(&row))
            .fetch_all(pool)
            .await?);
        let mut editions = Vec::with_capacity(rows.len());
        let mut index: HashMap<(String, String), usize> = HashMap::with_capacity(rows.len());
        for (digest, key, mut edition) in rows {
            // A key that is not a date was not written by crier; it is left out.
            let Ok(date) = NaiveDate::parse_from_str(&key, "%Y-%m-%d") else {
                continue;
            };
            edition.date = date;
            index.insert((digest, key), editions.len());
            editions.push(edition);
        }
        let rows = with_pool!(self, pool, d => d
            .query(
                "SELECT digest, edition, audience, audience_name, audience_rank, slug, title, url, \
                 published, summary, category, subject, reading_minutes, also FROM edition_articles \
                 ORDER BY digest, edition, audience_rank, audience, published DESC, slug",
            )
            .try_map(|row| article_row(&row))
            .fetch_all(pool)
            .await?);
        for (key, article) in rows {
            if let Some(&i) = index.get(&key) {
                editions[i].articles.push(article);
            }
        }
        Ok(editions)
    }
}

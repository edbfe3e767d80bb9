//! The public archive of digest editions: what each digest carried on each day, for
//! all of its audiences, grouped by audience as the email is, with nobody's name,
//! address or link in it. Pure: editions (read by the caller from the store) and the
//! site's metadata in, documents out.
//!
//! - `archive/`: the archived digests;
//! - `archive/{digest}/`: its editions, newest first, in pages of [`PER_PAGE`]
//!   (`archive/{digest}/page/2/` …), with its feed announced for discovery;
//! - `archive/{digest}/{YYYY-MM-DD}/`: one edition, what "View in browser" links to;
//! - `archive/{digest}/atom.xml`: an Atom feed of its newest editions (Atom feeds
//!   are `atom.xml` all over the site; `feed.xml` is always RSS).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::NaiveDate;
use serde::Serialize;

use super::listing::{Pager, paged};
use super::pages::{Alternate, HTML, page_with};
use super::{Builder, Kind, Resource};
use crate::feeds::{Format, SiteMeta};
use crate::model::{ARCHIVE_PATH, EVERYTHING, Edition, archive_path, edition_path};
use crate::templates::{TemplateError, Templates};

mod feed;

use feed::feed;

/// Editions per page of a digest's archive.
pub const PER_PAGE: usize = 20;

/// The path of page `number` (from 1) of `digest`'s archive.
pub fn page_path(digest: &str, number: usize) -> String {
    paged(archive_path(digest), number)
}

/// The path of `digest`'s feed of editions.
pub fn feed_path(digest: &str) -> String {
    format!("{}atom.xml", archive_path(digest))
}

/// Every archive document, by URL path, as the server keeps them, and the editions
/// they were drawn from, so that the next archive draws again only the edition pages
/// whose edition or neighbours changed.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    resources: HashMap<String, Arc<Resource>>,
    /// Each edition, by digest and day.
    editions: Arc<HashMap<(String, NaiveDate), Edition>>,
    /// The days of each edition page's newer and older neighbours, by the page's path.
    around: Arc<HashMap<String, [Option<NaiveDate>; 2]>>,
}

/// An edition and its newer and older neighbours: what its page is drawn from.
type Around<'a> = [Option<&'a Edition>; 3];

impl Archive {
    pub fn get(&self, path: &str) -> Option<&Arc<Resource>> {
        self.resources.get(path)
    }

    /// Every path, sorted.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.resources.keys().map(String::as_str).collect();
        paths.sort_unstable();
        paths
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

impl Builder {
    /// The archive of `digests` (the archived ones, in the config's order) from
    /// `editions`; documents whose bytes are the same as in `old` are shared with it
    /// (and keep their ETag and `Last-Modified`). Editions of other digests are left
    /// out.
    pub fn archive(
        &self,
        digests: &[String],
        editions: &[Edition],
        old: &Archive,
        now: SystemTime,
    ) -> Result<Archive, TemplateError> {
        let mut resources = HashMap::new();
        let mut around = HashMap::new();
        // An edition page is drawn from its edition and its neighbours only: when all
        // three are as they were, the old page stands.
        let reusable = |path: &str, now: &Around<'_>| {
            let Some([newer, older]) = old.around.get(path) else {
                return false;
            };
            let same = |then: Option<NaiveDate>, now: Option<&Edition>| match (then, now) {
                (None, None) => true,
                (Some(day), Some(now)) => old
                    .editions
                    .get(&(now.digest.clone(), day))
                    .is_some_and(|then| then == now),
                _ => false,
            };
            old.resources.contains_key(path)
                && same(*newer, now[0])
                && now[1].is_some_and(|e| same(Some(e.date), Some(e)))
                && same(*older, now[2])
        };
        render(
            &self.templates,
            &self.meta,
            digests,
            editions,
            reusable,
            |path, body, kind, drawn_from: Option<&Around<'_>>| {
                if let Some([newer, _, older]) = drawn_from {
                    around.insert(path.clone(), [newer.map(|e| e.date), older.map(|e| e.date)]);
                }
                let Some(body) = body else {
                    if let Some(previous) = old.resources.get(&path) {
                        resources.insert(path, Arc::clone(previous));
                    }
                    return Ok::<_, TemplateError>(());
                };
                let resource = match old.resources.get(&path) {
                    Some(previous) if previous.body == body => Arc::clone(previous),
                    _ => {
                        let content_type = match kind {
                            Kind::Feed => Format::Atom.content_type(),
                            Kind::Page => HTML,
                        };
                        let modified = modified(&path, drawn_from, editions, now);
                        Arc::new(Resource::new(body, content_type, kind, modified))
                    }
                };
                resources.insert(path, resource);
                Ok::<_, TemplateError>(())
            },
        )?;
        let editions = editions
            .iter()
            .map(|e| ((e.digest.clone(), e.date), e.clone()))
            .collect();
        Ok(Archive {
            resources,
            editions: Arc::new(editions),
            around: Arc::new(around),
        })
    }

    /// Renders the archive for `crier build`, handing each document to `sink`.
    /// Returns how many there were.
    pub fn export_archive<E: From<TemplateError>>(
        &self,
        digests: &[String],
        editions: &[Edition],
        mut sink: impl FnMut(&str, &[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut written = 0;
        render(
            &self.templates,
            &self.meta,
            digests,
            editions,
            |_, _| false,
            |path, body, _, _| {
                written += 1;
                sink(&path, body.as_deref().unwrap_or_default())
            },
        )?;
        Ok(written)
    }
}

/// A document's `Last-Modified`: when the newest edition it shows was first queued
/// (an edition page's own; a digest's list and feed, that digest's newest; the
/// archive's index, the newest of all), never later than `now`, and the epoch when
/// there is none. A function of the editions only, so every instance on one
/// database sends the same validators.
fn modified(
    path: &str,
    drawn_from: Option<&Around<'_>>,
    editions: &[Edition],
    now: SystemTime,
) -> SystemTime {
    let newest = match drawn_from {
        Some([_, this, _]) => this.map(|e| e.queued_at),
        None => {
            let digest = path
                .strip_prefix(ARCHIVE_PATH)
                .and_then(|rest| rest.split('/').next())
                .filter(|d| !d.is_empty());
            editions
                .iter()
                .filter(|e| digest.is_none_or(|d| e.digest == d))
                .map(|e| e.queued_at)
                .max()
        }
    };
    newest.map_or(SystemTime::UNIX_EPOCH, |at| {
        let secs = u64::try_from(at.timestamp()).unwrap_or(0);
        (SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)).min(now)
    })
}

/// An article as an edition's page lists it.
#[derive(Serialize)]
struct ArticleView<'a> {
    title: &'a str,
    url: &'a str,
    published: &'a str,
    date: String,
    subject: &'a str,
    category: &'a str,
    reading_minutes: u32,
    summary: Option<&'a str>,
    also: Vec<&'a str>,
}

#[derive(Serialize)]
struct GroupView<'a> {
    name: &'a str,
    articles: Vec<ArticleView<'a>>,
}

/// An edition grouped for reading: each article once, under the first of its
/// audiences (by the taxonomy's order when it was sent), naming the others, the
/// articles that match no audience last under "More". As an Everything reader's
/// email groups them.
fn grouped(edition: &Edition) -> Vec<GroupView<'_>> {
    let mut articles: Vec<&crate::model::EditionArticle> = edition.articles.iter().collect();
    articles.sort_by(|a, b| {
        (a.audience_rank, &a.audience)
            .cmp(&(b.audience_rank, &b.audience))
            .then_with(|| b.published.cmp(&a.published))
            .then_with(|| a.slug.cmp(&b.slug))
    });
    let mut groups: Vec<(&str, GroupView<'_>)> = Vec::new();
    let mut placed: HashMap<&str, (usize, usize)> = HashMap::new();
    for article in articles {
        if let Some(&(g, i)) = placed.get(article.slug.as_str()) {
            let under = groups[g].1.name;
            let also = &mut groups[g].1.articles[i].also;
            let names = std::iter::once(&article.audience_name)
                .filter(|_| article.audience != EVERYTHING)
                .chain(&article.also);
            for name in names {
                if name != under && !also.contains(&name.as_str()) {
                    also.push(name);
                }
            }
            continue;
        }
        let g = match groups
            .iter()
            .position(|(slug, _)| *slug == article.audience)
        {
            Some(g) => g,
            None => {
                groups.push((
                    &article.audience,
                    GroupView {
                        name: &article.audience_name,
                        articles: Vec::new(),
                    },
                ));
                groups.len() - 1
            }
        };
        placed.insert(&article.slug, (g, groups[g].1.articles.len()));
        groups[g].1.articles.push(ArticleView {
            title: &article.title,
            url: &article.url,
            published: &article.published,
            date: NaiveDate::parse_from_str(&article.published, "%Y-%m-%d").map_or_else(
                |_| article.published.clone(),
                |d| d.format("%-d %b %Y").to_string(),
            ),
            subject: &article.subject,
            category: &article.category,
            reading_minutes: article.reading_minutes,
            summary: article.summary.as_deref(),
            also: article.also.iter().map(String::as_str).collect(),
        });
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// How many distinct articles an edition listed.
fn article_count(edition: &Edition) -> usize {
    let mut slugs: Vec<&str> = edition.articles.iter().map(|a| a.slug.as_str()).collect();
    slugs.sort_unstable();
    slugs.dedup();
    slugs.len()
}

fn briefs(n: usize) -> String {
    format!("{n} {}", if n == 1 { "brief" } else { "briefs" })
}

/// "Weekly digest" from `weekly`, as the email heads itself.
fn digest_title(name: &str) -> String {
    let mut title = name.replace('-', " ");
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{title} digest")
}

fn date_label(date: NaiveDate) -> String {
    date.format("%A %-d %B %Y").to_string()
}

/// The audiences an edition's groups are for, in order, without "More".
fn audience_names<'a>(groups: &[GroupView<'a>], edition: &'a Edition) -> Vec<&'a str> {
    let more = edition
        .articles
        .iter()
        .find(|a| a.audience == EVERYTHING)
        .map(|a| a.audience_name.as_str());
    groups
        .iter()
        .map(|g| g.name)
        .filter(|name| Some(*name) != more)
        .collect()
}

#[derive(Serialize)]
struct EditionLink {
    url: String,
    label: String,
    date: String,
    count: String,
    audiences: String,
}

#[derive(Serialize)]
struct DigestRow {
    title: String,
    url: String,
    feed: String,
    count: String,
    latest: Option<EditionLink>,
}

/// The archive's own pages: its index (`digest` none) or one digest's list.
#[derive(Serialize)]
struct ArchiveBody {
    heading: String,
    intro: String,
    digests: Vec<DigestRow>,
    digest: Option<DigestRow>,
    editions: Vec<EditionLink>,
    pager: Pager,
    subscribe_url: String,
    archive_url: String,
}

#[derive(Serialize)]
struct EditionBody<'a> {
    heading: String,
    date_label: String,
    date: String,
    count: String,
    groups: Vec<GroupView<'a>>,
    archive_url: String,
    feed: String,
    newer: Option<EditionLink>,
    older: Option<EditionLink>,
    subscribe_url: String,
}

fn edition_link(meta: &SiteMeta, edition: &Edition) -> EditionLink {
    let groups = grouped(edition);
    let names = audience_names(&groups, edition);
    EditionLink {
        url: meta.url(&edition_path(&edition.digest, edition.date)),
        label: date_label(edition.date),
        date: edition.date.to_string(),
        count: briefs(article_count(edition)),
        audiences: spoken_list(&names),
    }
}

fn spoken_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn feed_alternate(meta: &SiteMeta, digest: &str) -> Alternate {
    Alternate::new(
        Format::Atom.media_type(),
        format!("{} · {} archive", meta.title, digest_title(digest)),
        meta.url(&feed_path(digest)),
    )
}

/// Renders every archive document, calling `sink(path, body, kind, drawn_from)` for
/// each; `drawn_from` is an edition page's edition and neighbours. An edition page for
/// which `reusable(path, drawn_from)` says so is not drawn: its body is `None`.
fn render<'e, E: From<TemplateError>>(
    templates: &Templates,
    meta: &SiteMeta,
    digests: &[String],
    editions: &'e [Edition],
    reusable: impl Fn(&str, &Around<'e>) -> bool,
    mut sink: impl FnMut(String, Option<Vec<u8>>, Kind, Option<&Around<'e>>) -> Result<(), E>,
) -> Result<(), E> {
    // Each archived digest's editions, newest first.
    let of = |digest: &str| -> Vec<&Edition> {
        let mut list: Vec<&Edition> = editions.iter().filter(|e| e.digest == digest).collect();
        list.sort_by_key(|e| std::cmp::Reverse(e.date));
        list
    };
    let subscribe_url = meta.url("subscribe");
    let archive_url = meta.url(ARCHIVE_PATH);
    let mut rows = Vec::with_capacity(digests.len());
    for digest in digests {
        let list = of(digest);
        let row = |list: &[&Edition]| DigestRow {
            title: digest_title(digest),
            url: meta.url(&archive_path(digest)),
            feed: meta.url(&feed_path(digest)),
            count: match list.len() {
                1 => "1 edition".to_string(),
                n => format!("{n} editions"),
            },
            latest: list.first().map(|e| edition_link(meta, e)),
        };
        rows.push(row(&list));
        let alternates = vec![feed_alternate(meta, digest)];

        // The digest's list of editions, paged.
        let count = list.len().div_ceil(PER_PAGE).max(1);
        for number in 1..=count {
            let path = page_path(digest, number);
            let title = digest_title(digest);
            let page_title = if count > 1 {
                format!("{title} archive, page {number} of {count} · {}", meta.title)
            } else {
                format!("{title} archive · {}", meta.title)
            };
            let body = ArchiveBody {
                heading: format!("{title} archive"),
                intro: format!(
                    "Every edition of the {} as it was sent, for all of its audiences.",
                    title.to_lowercase()
                ),
                digests: Vec::new(),
                digest: Some(row(&list)),
                editions: list
                    .iter()
                    .skip((number - 1) * PER_PAGE)
                    .take(PER_PAGE)
                    .map(|e| edition_link(meta, e))
                    .collect(),
                pager: Pager::new(meta, number, count, |n| page_path(digest, n)),
                subscribe_url: subscribe_url.clone(),
                archive_url: archive_url.clone(),
            };
            let data = page_with(
                meta,
                Cow::Borrowed(&alternates),
                page_title,
                meta.url(&path),
                body,
            );
            sink(
                path,
                Some(templates.render("archive.html", &data)?.into_bytes()),
                Kind::Page,
                None,
            )?;
        }

        // Each edition.
        for (i, edition) in list.iter().enumerate() {
            let path = edition_path(digest, edition.date);
            let drawn_from: Around<'e> = [
                i.checked_sub(1).map(|n| list[n]),
                Some(edition),
                list.get(i + 1).copied(),
            ];
            if reusable(&path, &drawn_from) {
                sink(path, None, Kind::Page, Some(&drawn_from))?;
                continue;
            }
            let title = digest_title(digest);
            let groups = grouped(edition);
            let names = audience_names(&groups, edition);
            let count = article_count(edition);
            let count = if names.is_empty() {
                briefs(count)
            } else {
                format!("{} for {}", briefs(count), spoken_list(&names))
            };
            let body = EditionBody {
                heading: title.clone(),
                date_label: date_label(edition.date),
                date: edition.date.to_string(),
                count,
                groups,
                archive_url: meta.url(&archive_path(digest)),
                feed: meta.url(&feed_path(digest)),
                newer: i.checked_sub(1).map(|n| edition_link(meta, list[n])),
                older: list.get(i + 1).map(|e| edition_link(meta, e)),
                subscribe_url: subscribe_url.clone(),
            };
            let data = page_with(
                meta,
                Cow::Borrowed(&alternates),
                format!("{title}, {} · {}", date_label(edition.date), meta.title),
                meta.url(&path),
                body,
            );
            sink(
                path,
                Some(templates.render("edition.html", &data)?.into_bytes()),
                Kind::Page,
                Some(&drawn_from),
            )?;
        }

        sink(
            feed_path(digest),
            Some(feed(meta, digest, &list)),
            Kind::Feed,
            None,
        )?;
    }

    let alternates: Vec<Alternate> = digests.iter().map(|d| feed_alternate(meta, d)).collect();
    let body = ArchiveBody {
        heading: "Digest archive".into(),
        intro: format!(
            "Every digest {} has sent, edition by edition, as it was sent.",
            meta.title
        ),
        digests: rows,
        digest: None,
        editions: Vec::new(),
        // The index is one page.
        pager: Pager::new(meta, 1, 1, |_| ARCHIVE_PATH.to_string()),
        subscribe_url,
        archive_url,
    };
    let data = page_with(
        meta,
        Cow::Borrowed(&alternates),
        format!("Digest archive · {}", meta.title),
        meta.url(ARCHIVE_PATH),
        body,
    );
    sink(
        ARCHIVE_PATH.to_string(),
        Some(templates.render("archive.html", &data)?.into_bytes()),
        Kind::Page,
        None,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EditionArticle;

    fn listed(audience: &str, name: &str, rank: i64, slug: &str, also: &[&str]) -> EditionArticle {
        EditionArticle {
            audience: audience.into(),
            audience_name: name.into(),
            audience_rank: rank,
            slug: slug.into(),
            title: format!("Title {slug}"),
            url: format!("https://e.x/articles/{slug}"),
            published: "2026-11-20".into(),
            summary: None,
            category: "Impact".into(),
            subject: "S".into(),
            reading_minutes: 1,
            also: also.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Validators come from the editions, not the clock: an edition page is as new
    /// as its edition, a digest's list as its newest, the index as the newest of
    /// all, an empty archive as the epoch; and never newer than now.
    #[test]
    fn last_modified_follows_the_editions_not_the_render() {
        let edition = |digest: &str, day: u32, queued: &str| Edition {
            digest: digest.into(),
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            period_start: queued.parse().unwrap(),
            period_end: queued.parse().unwrap(),
            queued_at: queued.parse().unwrap(),
            articles: Vec::new(),
        };
        let old = edition("weekly", 16, "2026-11-16T07:00:00Z");
        let new = edition("weekly", 23, "2026-11-23T07:00:00Z");
        let daily = edition("daily", 24, "2026-11-24T07:00:00Z");
        let all = [old.clone(), new.clone(), daily.clone()];
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        let secs = |e: &Edition| {
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(e.queued_at.timestamp() as u64)
        };
        let around = [Some(&new), Some(&old), None];
        assert_eq!(
            modified("archive/weekly/2026-11-16/", Some(&around), &all, now),
            secs(&old)
        );
        assert_eq!(modified("archive/weekly/", None, &all, now), secs(&new));
        assert_eq!(
            modified("archive/weekly/atom.xml", None, &all, now),
            secs(&new)
        );
        assert_eq!(modified("archive/", None, &all, now), secs(&daily));
        assert_eq!(modified("archive/", None, &[], now), SystemTime::UNIX_EPOCH);
        let before = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        assert_eq!(modified("archive/", None, &all, before), before);
    }

    /// One reader got `a` under Security, another (with Developers, earlier in the
    /// taxonomy) under Developers naming Security: the page lists it once, under
    /// Developers, naming Security and not Developers itself; More comes last.
    #[test]
    fn an_article_is_listed_once_under_its_first_audience() {
        let at = "2026-11-23T07:00:00Z".parse().unwrap();
        let edition = Edition {
            digest: "weekly".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            period_start: at,
            period_end: at,
            queued_at: at,
            articles: vec![
                listed(EVERYTHING, "More", crate::model::EVERYTHING_RANK, "m", &[]),
                listed("security", "Security", 5, "a", &["Developers"]),
                listed("developers", "Developers", 3, "a", &["Security"]),
                listed("security", "Security", 5, "b", &[]),
            ],
        };
        let groups = grouped(&edition);
        let names: Vec<&str> = groups.iter().map(|g| g.name).collect();
        assert_eq!(names, ["Developers", "Security", "More"]);
        assert_eq!(groups[0].articles.len(), 1);
        assert_eq!(groups[0].articles[0].also, ["Security"]);
        assert_eq!(groups[1].articles[0].title, "Title b");
        assert_eq!(article_count(&edition), 3);
        assert_eq!(
            audience_names(&groups, &edition),
            ["Developers", "Security"]
        );
    }

    #[test]
    fn paths_name_the_digest_and_the_day_only() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_eq!(edition_path("weekly", date), "archive/weekly/2026-01-05/");
        assert_eq!(page_path("weekly", 1), "archive/weekly/");
        assert_eq!(page_path("weekly", 3), "archive/weekly/page/3/");
        assert_eq!(feed_path("weekly"), "archive/weekly/atom.xml");
    }
}

//! The HTML pages: the index (recent articles and every feed) and one page per
//! article, rendered from the handlebars templates.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::{Kind, Resource};
use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::feeds::{Format, Scope, SiteMeta, absolutize};
use crate::model::{Article, Format as ArticleFormat};
use crate::templates::{TemplateError, Templates};

pub const HTML: &str = "text/html; charset=utf-8";

pub fn article_path(article: &Article) -> String {
    format!("articles/{}", article.slug)
}

#[derive(Serialize)]
pub struct SiteData<'a> {
    title: &'a str,
    description: &'a str,
    base_url: &'a str,
}

#[derive(Serialize)]
pub struct Alternate {
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    href: String,
}

#[derive(Serialize)]
pub struct Page<'a, T: Serialize> {
    site: SiteData<'a>,
    page_title: String,
    alternates: Vec<Alternate>,
    canonical: String,
    hub: Option<&'a str>,
    #[serde(flatten)]
    body: T,
}

/// The data every page template gets: site, title, feeds to discover, canonical URL.
pub fn page<'a, T: Serialize>(
    meta: &'a SiteMeta,
    page_title: String,
    canonical: String,
    body: T,
) -> Page<'a, T> {
    let alternates = Format::ALL
        .iter()
        .map(|f| Alternate {
            kind: f.media_type(),
            title: format!("{} ({})", meta.title, f.label()),
            href: meta.url(f.file_name()),
        })
        .collect();
    Page {
        site: SiteData {
            title: &meta.title,
            description: &meta.description,
            base_url: meta.base_url.as_str(),
        },
        page_title,
        alternates,
        canonical,
        hub: meta.hub.as_ref().map(|h| h.as_str()),
        body,
    }
}

#[derive(Serialize)]
struct ArticleData<'a> {
    title: &'a str,
    subject: &'a str,
    category: &'a str,
    published: String,
    reading_minutes: u32,
    audiences: Vec<&'a str>,
    html: String,
    last_verified: Option<String>,
    corrections: Option<&'a str>,
}

#[derive(Serialize)]
struct ArticleBody<'a> {
    article: ArticleData<'a>,
}

/// Renders article pages on all cores; returns each path with its finished resource,
/// made with `now` as its `Last-Modified`.
pub fn render_articles(
    templates: &Templates,
    meta: &SiteMeta,
    taxonomy: &Taxonomy,
    articles: &[&Arc<Article>],
    now: SystemTime,
) -> Result<Vec<(String, Resource)>, TemplateError> {
    // Each thread hashes what it rendered (`Resource::new`) while the page is still hot.
    let one = |article: &Article| -> Result<(String, Resource), TemplateError> {
        let audiences = article
            .audiences
            .iter()
            .map(|slug| {
                taxonomy
                    .get(slug)
                    .map_or(slug.as_str(), |a| a.name.as_str())
            })
            .collect();
        let html = match article.format {
            ArticleFormat::Brief => article.html.clone(),
            ArticleFormat::Markdown => absolutize(&article.html, &meta.base_url),
        };
        let path = article_path(article);
        let data = page(
            meta,
            format!("{} · {}", article.title, meta.title),
            meta.url(&path),
            ArticleBody {
                article: ArticleData {
                    title: &article.title,
                    subject: &article.subject,
                    category: &article.category,
                    published: article.published.to_string(),
                    reading_minutes: article.reading_minutes,
                    audiences,
                    html,
                    last_verified: article.last_verified.map(|d| d.to_string()),
                    corrections: article.corrections.as_deref(),
                },
            },
        );
        let html = templates.render("article.html", &data)?;
        Ok((
            path,
            Resource::new(html.into_bytes(), HTML, Kind::Page, now),
        ))
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if articles.len() < 256 || threads == 1 {
        return articles.iter().map(|a| one(a)).collect();
    }
    let chunk = articles.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = articles
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|a| one(a)).collect::<Result<Vec<_>, _>>())
            })
            .collect();
        let mut out = Vec::with_capacity(articles.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part?),
                Err(_) => {
                    return Err(TemplateError::Render {
                        name: "article.html".into(),
                        message: "a rendering thread failed".into(),
                    });
                }
            }
        }
        Ok(out)
    })
}

#[derive(Serialize)]
struct IndexArticle<'a> {
    title: &'a str,
    url: String,
    published: String,
    category: &'a str,
    reading_minutes: u32,
    summary: Option<&'a str>,
}

#[derive(Serialize)]
struct FeedRow {
    label: String,
    count: usize,
    rss: String,
    atom: String,
    json: String,
}

#[derive(Serialize)]
struct IndexBody<'a> {
    articles: Vec<IndexArticle<'a>>,
    feeds: Vec<FeedRow>,
}

pub fn render_index(
    templates: &Templates,
    meta: &SiteMeta,
    library: &Library,
) -> Result<String, TemplateError> {
    let articles = library
        .articles()
        .iter()
        .take(meta.limit)
        .map(|a| IndexArticle {
            title: &a.title,
            url: meta.url(&article_path(a)),
            published: a.published.to_string(),
            category: &a.category,
            reading_minutes: a.reading_minutes,
            summary: a.summary(),
        })
        .collect();
    let feeds = Scope::all(library)
        .into_iter()
        .map(|scope| {
            let (label, count) = match &scope {
                Scope::Site => ("Everything".to_string(), library.len()),
                Scope::Audience { slug } => (
                    format!(
                        "For {}",
                        library
                            .taxonomy()
                            .get(slug)
                            .map_or(slug.as_str(), |a| a.name.as_str())
                    ),
                    library.audience_count(slug),
                ),
                Scope::Category { slug } => {
                    let category = library.category(slug);
                    (
                        format!(
                            "Category: {}",
                            category.map_or(slug.as_str(), |c| c.name.as_str())
                        ),
                        category.map_or(0, |c| c.articles.len()),
                    )
                }
            };
            FeedRow {
                label,
                count,
                rss: meta.url(&scope.path(Format::Rss)),
                atom: meta.url(&scope.path(Format::Atom)),
                json: meta.url(&scope.path(Format::Json)),
            }
        })
        .collect();
    let data = page(
        meta,
        meta.title.clone(),
        meta.base_url.to_string(),
        IndexBody { articles, feeds },
    );
    templates.render("index.html", &data)
}

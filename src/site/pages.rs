//! The HTML pages: the index (recent articles and every feed) and one page per
//! article, rendered from the handlebars templates.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::{Kind, Resource};
use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::feeds::{Format, Scope, SiteMeta, absolutize};
use crate::model::{Article, Format as ArticleFormat};
use crate::templates::{TemplateError, Templates};
use crate::work::{cores, parallel};

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

#[derive(Serialize, Clone)]
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
    alternates: Cow<'a, [Alternate]>,
    canonical: String,
    hub: Option<&'a str>,
    #[serde(flatten)]
    body: T,
}

/// The site's feeds, as every page links them for discovery.
fn alternates(meta: &SiteMeta) -> Vec<Alternate> {
    Format::ALL
        .iter()
        .map(|f| Alternate {
            kind: f.media_type(),
            title: format!("{} ({})", meta.title, f.label()),
            href: meta.url(f.file_name()),
        })
        .collect()
}

/// The data every page template gets: site, title, feeds to discover, canonical URL.
pub fn page<'a, T: Serialize>(
    meta: &'a SiteMeta,
    page_title: String,
    canonical: String,
    body: T,
) -> Page<'a, T> {
    page_with(
        meta,
        Cow::Owned(alternates(meta)),
        page_title,
        canonical,
        body,
    )
}

fn page_with<'a, T: Serialize>(
    meta: &'a SiteMeta,
    alternates: Cow<'a, [Alternate]>,
    page_title: String,
    canonical: String,
    body: T,
) -> Page<'a, T> {
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
    html: Cow<'a, str>,
    last_verified: Option<String>,
    corrections: Option<&'a str>,
}

#[derive(Serialize)]
struct ArticleBody<'a> {
    article: ArticleData<'a>,
}

/// Renders article pages of one site: what they share is worked out once.
pub struct ArticlePages<'a> {
    templates: &'a Templates,
    meta: &'a SiteMeta,
    /// Audience names by slug: the first of the taxonomy's, as `Taxonomy::get` finds.
    audience_names: HashMap<&'a str, &'a str>,
    alternates: Vec<Alternate>,
}

impl<'a> ArticlePages<'a> {
    pub fn new(templates: &'a Templates, meta: &'a SiteMeta, taxonomy: &'a Taxonomy) -> Self {
        let mut audience_names = HashMap::with_capacity(taxonomy.audiences().len());
        for audience in taxonomy.audiences() {
            audience_names
                .entry(audience.slug.as_str())
                .or_insert(audience.name.as_str());
        }
        ArticlePages {
            templates,
            meta,
            audience_names,
            alternates: alternates(meta),
        }
    }

    /// Appends the page of `article` to `out`; returns its path.
    pub fn render(&self, article: &Article, out: &mut Vec<u8>) -> Result<String, TemplateError> {
        let meta = self.meta;
        let audiences = article
            .audiences
            .iter()
            .map(|slug| {
                self.audience_names
                    .get(slug.as_str())
                    .copied()
                    .unwrap_or(slug.as_str())
            })
            .collect();
        let html = match article.format {
            ArticleFormat::Brief => Cow::Borrowed(article.html.as_str()),
            ArticleFormat::Markdown => Cow::Owned(absolutize(&article.html, &meta.base_url)),
        };
        let path = article_path(article);
        let data = page_with(
            meta,
            Cow::Borrowed(&self.alternates),
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
        self.templates.render_to("article.html", &data, out)?;
        Ok(path)
    }
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
    let pages = ArticlePages::new(templates, meta, taxonomy);
    let one = |article: &Article| -> Result<(String, Resource), TemplateError> {
        // About the size of a page: the article's HTML and the template around it.
        let mut body = Vec::with_capacity(article.html.len() + PAGE_OVERHEAD);
        let path = pages.render(article, &mut body)?;
        Ok((path, Resource::new(body, HTML, Kind::Page, now)))
    };
    let threads = if articles.len() < 256 { 1 } else { cores() };
    let parts = parallel(articles.len(), threads, Vec::new, |done, i| {
        done.push(one(articles[i])?);
        Ok(())
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// What a page adds to its article's HTML with the default templates, roughly.
pub const PAGE_OVERHEAD: usize = 4096;

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

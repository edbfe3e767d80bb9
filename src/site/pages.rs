//! The HTML pages: the index (recent articles and every feed), one page per
//! article and the page for unknown addresses, rendered from the handlebars
//! templates. The audience and category pages are in `listing`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::Value;

use super::{Kind, Resource};
use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::feeds::{Format, Scope, SiteMeta, absolutize};
use crate::model::{Article, Format as ArticleFormat, slugify};
use crate::templates::{Data, TemplateError, Templates};
use crate::work::{cores, in_shares};

pub const HTML: &str = "text/html; charset=utf-8";

/// What an article page's path starts with; its slug follows.
pub const ARTICLES_PREFIX: &str = "articles/";

pub fn article_path(article: &Article) -> String {
    format!("{ARTICLES_PREFIX}{}", article.slug)
}

/// The path of the page for unknown addresses: `crier build` writes it as
/// `404.html`, where static hosts look for it, and the server sends it with 404.
pub const NOT_FOUND_PATH: &str = "404.html";

/// The path of an audience's page.
pub fn audience_path(slug: &str) -> String {
    format!("audiences/{slug}/")
}

/// The path of the page of the category named `name`.
pub fn category_path(name: &str) -> String {
    format!("categories/{}/", slugify(name))
}

/// The sign-up page with `audiences` ticked.
pub fn subscribe_url<'s>(meta: &SiteMeta, audiences: impl IntoIterator<Item = &'s str>) -> String {
    let mut url = meta.url("subscribe");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for slug in audiences {
        query.append_pair("audience", slug);
    }
    let query = query.finish();
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
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

impl Alternate {
    pub(super) fn new(kind: &'static str, title: String, href: String) -> Alternate {
        Alternate { kind, title, href }
    }
}

/// The site's feeds, as every page links them for discovery.
fn alternates(meta: &SiteMeta) -> Vec<Alternate> {
    scope_alternates(meta, &Scope::Site, &meta.title)
}

/// The feeds of `scope`, titled `title`, for discovery.
pub(super) fn scope_alternates(meta: &SiteMeta, scope: &Scope, title: &str) -> Vec<Alternate> {
    Format::ALL
        .iter()
        .map(|&f| Alternate {
            kind: f.media_type(),
            title: format!("{title} ({})", f.label()),
            href: meta.url(&scope.path(f)),
        })
        .collect()
}

/// The data every page template gets: site, title, feeds to discover, canonical URL
/// (none when empty).
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

pub(super) fn page_with<'a, T: Serialize>(
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

/// An audience or category an article is tagged with, and its page.
#[derive(Serialize)]
struct Tag<'a> {
    name: &'a str,
    url: String,
}

#[derive(Serialize)]
struct ArticleData<'a> {
    title: &'a str,
    subject: &'a str,
    category: Tag<'a>,
    published: String,
    reading_minutes: u32,
    audiences: Vec<Tag<'a>>,
    /// The sign-up page with the article's audiences ticked.
    subscribe_url: String,
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
    audience_names: FxHashMap<&'a str, &'a str>,
    alternates: Vec<Alternate>,
}

impl<'a> ArticlePages<'a> {
    pub fn new(templates: &'a Templates, meta: &'a SiteMeta, taxonomy: &'a Taxonomy) -> Self {
        let mut audience_names =
            FxHashMap::with_capacity_and_hasher(taxonomy.audiences().len(), Default::default());
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

    /// Appends the page of `article` to `out` and returns its path, reusing the render
    /// data in `kept`: the data of the last page this renderer rendered with it, whose
    /// strings are overwritten in place rather than serialised anew (`None` starts
    /// afresh). Keep one `kept` per thread and renderer.
    pub fn render_kept(
        &self,
        article: &Article,
        kept: &mut Option<Data>,
        out: &mut Vec<u8>,
    ) -> Result<String, TemplateError> {
        let (path, page) = self.page(article);
        let refilled = kept
            .as_mut()
            .is_some_and(|data| refill(data.json_mut(), &page).is_some());
        let data = match kept {
            Some(data) if refilled => data,
            _ => kept.insert(Data::new(&page)?),
        };
        self.templates.render_data_to("article.html", data, out)?;
        Ok(path)
    }

    /// The path and render data of `article`'s page.
    fn page<'p>(&'p self, article: &'p Article) -> (String, Page<'p, ArticleBody<'p>>) {
        let meta = self.meta;
        let audiences = article
            .audiences
            .iter()
            .map(|slug| Tag {
                name: self
                    .audience_names
                    .get(slug.as_str())
                    .copied()
                    .unwrap_or(slug.as_str()),
                url: meta.url(&audience_path(slug)),
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
                    category: Tag {
                        name: &article.category,
                        url: meta.url(&category_path(&article.category)),
                    },
                    published: article.published.to_string(),
                    reading_minutes: article.reading_minutes,
                    audiences,
                    subscribe_url: subscribe_url(
                        meta,
                        article.audiences.iter().map(String::as_str),
                    ),
                    html,
                    last_verified: article.last_verified.map(|d| d.to_string()),
                    corrections: article.corrections.as_deref(),
                },
            },
        );
        (path, data)
    }
}

/// Overwrites in `json`, the render data of another article page of the same site,
/// what differs between pages, reusing its strings. `None` when `json` does not have
/// that shape. The destructuring makes a new field a compile error here.
fn refill(json: &mut Value, page: &Page<'_, ArticleBody<'_>>) -> Option<()> {
    // The site and its feeds are the same on every page.
    let Page {
        site: _,
        page_title,
        alternates: _,
        canonical,
        hub: _,
        body: ArticleBody { article },
    } = page;
    let ArticleData {
        title,
        subject,
        category,
        published,
        reading_minutes,
        audiences,
        subscribe_url,
        html,
        last_verified,
        corrections,
    } = article;
    let top = json.as_object_mut()?;
    set_text(top.get_mut("page_title")?, page_title);
    set_text(top.get_mut("canonical")?, canonical);
    let data = top.get_mut("article")?.as_object_mut()?;
    set_text(data.get_mut("title")?, title);
    set_text(data.get_mut("subject")?, subject);
    set_tag(data.get_mut("category")?, category)?;
    set_text(data.get_mut("published")?, published);
    *data.get_mut("reading_minutes")? = Value::from(*reading_minutes);
    let items = data.get_mut("audiences")?.as_array_mut()?;
    items.truncate(audiences.len());
    for (i, tag) in audiences.iter().enumerate() {
        match items.get_mut(i) {
            Some(item) => set_tag(item, tag)?,
            None => items.push(serde_json::to_value(tag).ok()?),
        }
    }
    set_text(data.get_mut("subscribe_url")?, subscribe_url);
    set_text(data.get_mut("html")?, html);
    set_optional(data.get_mut("last_verified")?, last_verified.as_deref());
    set_optional(data.get_mut("corrections")?, *corrections);
    Some(())
}

fn set_tag(slot: &mut Value, tag: &Tag<'_>) -> Option<()> {
    let Tag { name, url } = tag;
    let object = slot.as_object_mut()?;
    set_text(object.get_mut("name")?, name);
    set_text(object.get_mut("url")?, url);
    Some(())
}

fn set_text(slot: &mut Value, text: &str) {
    match slot {
        Value::String(s) => {
            s.clear();
            s.push_str(text);
        }
        other => *other = Value::from(text),
    }
}

fn set_optional(slot: &mut Value, text: Option<&str>) {
    match text {
        Some(text) => set_text(slot, text),
        None => *slot = Value::Null,
    }
}

/// Renders article pages on all cores; returns each path with its finished resource,
/// its `Last-Modified` the article's own date ([`super::resource::modified`]).
pub fn render_articles(
    templates: &Templates,
    meta: &SiteMeta,
    taxonomy: &Taxonomy,
    articles: &[&Arc<Article>],
    now: SystemTime,
) -> Result<Vec<(String, Resource)>, TemplateError> {
    let pages = ArticlePages::new(templates, meta, taxonomy);
    let threads = if articles.len() < 256 { 1 } else { cores() };
    let mut pages_done = Vec::with_capacity(articles.len());
    for share in in_shares(articles.len(), threads, |share| {
        let mut kept = None;
        articles[share]
            .iter()
            .map(|article| {
                // About the size of a page: the article's HTML and the template around it.
                let mut body = Vec::with_capacity(article.html.len() + PAGE_OVERHEAD);
                let path = pages.render_kept(article, &mut kept, &mut body)?;
                let modified = super::resource::modified([&***article], now);
                Ok((path, Resource::new(body, HTML, Kind::Page, modified)))
            })
            .collect::<Result<Vec<_>, TemplateError>>()
    }) {
        pages_done.extend(share?);
    }
    Ok(pages_done)
}

/// What a page adds to its article's HTML with the default templates, roughly.
pub const PAGE_OVERHEAD: usize = 4096;

/// An article as lists show it: the index, the audience and category pages.
#[derive(Serialize)]
pub(super) struct Listed<'a> {
    title: &'a str,
    url: String,
    published: String,
    category: Tag<'a>,
    reading_minutes: u32,
    summary: Option<&'a str>,
}

impl<'a> Listed<'a> {
    pub(super) fn new(meta: &SiteMeta, article: &'a Article) -> Listed<'a> {
        Listed {
            title: &article.title,
            url: meta.url(&article_path(article)),
            published: article.published.to_string(),
            category: Tag {
                name: &article.category,
                url: meta.url(&category_path(&article.category)),
            },
            reading_minutes: article.reading_minutes,
            summary: article.summary(),
        }
    }
}

#[derive(Serialize)]
struct FeedRow {
    label: String,
    /// The scope's page; none for the whole site, whose page is this one.
    page: Option<String>,
    count: usize,
    rss: String,
    atom: String,
    json: String,
}

#[derive(Serialize)]
struct IndexBody<'a> {
    articles: Vec<Listed<'a>>,
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
        .map(|a| Listed::new(meta, a))
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
                page: (scope != Scope::Site).then(|| meta.url(&scope.dir())),
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

#[derive(Serialize)]
struct NotFoundBody<'a> {
    audiences: Vec<Tag<'a>>,
}

/// The page for unknown addresses. It has no canonical URL: it stands for none.
pub fn render_not_found(
    templates: &Templates,
    meta: &SiteMeta,
    library: &Library,
) -> Result<String, TemplateError> {
    let audiences = library
        .taxonomy()
        .audiences()
        .iter()
        .map(|a| Tag {
            name: &a.name,
            url: meta.url(&audience_path(&a.slug)),
        })
        .collect();
    let data = page(
        meta,
        format!("Page not found · {}", meta.title),
        String::new(),
        NotFoundBody { audiences },
    );
    templates.render("not_found.html", &data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::articles::parse::parse_file;

    fn article(name: &str, text: &str, audiences: &[&str]) -> Article {
        let mut article = parse_file(name, text.as_bytes()).unwrap();
        article.audiences = audiences.iter().map(|s| s.to_string()).collect();
        article
    }

    /// Page data refilled in place from one article to the next is what serialising
    /// each page anew gives, and so are the pages rendered from it.
    #[test]
    fn refilled_page_data_is_what_a_new_serialisation_gives() {
        let meta = SiteMeta {
            title: "News & <co>".to_string(),
            description: "All the news".to_string(),
            base_url: url::Url::parse("https://e.x/news/").unwrap(),
            author: String::new(),
            author_email: None,
            id_authority: String::new(),
            id_date: String::new(),
            hub: Some(url::Url::parse("https://hub.e.x/").unwrap()),
            limit: 50,
            ttl_minutes: 1,
        };
        let taxonomy = Taxonomy::parse(
            "[[audience]]\nslug = \"hr\"\nname = \"HR people\"\nmatch = [\"hr\"]\n",
            "audiences.toml",
        )
        .unwrap();
        let templates = Templates::embedded();
        let pages = ArticlePages::new(&templates, &meta, &taxonomy);
        let verified = "S · 2026 · 01 · 02 · Release · 3 min read\nA \"long\" title\n\
                        Some text.\nLast verified · 2026 · 02 · 03 · Found a fact wrong? f@e.x\n";
        let plain = "Other · 2025 · 12 · 31 · Deep dive · 1 min read\nShort\n";
        let mut markdown = article("m.txt", plain, &[]);
        markdown.format = ArticleFormat::Markdown;
        markdown.html = "<p><a href=\"/x\">x</a> <img src=\"y.png\"></p>".to_string();
        let articles = [
            article("a.txt", verified, &["hr", "devs", "ops"]),
            article("b.txt", plain, &[]),
            markdown,
            article("c.txt", verified, &["devs"]),
            article("d.txt", plain, &["hr", "ops"]),
        ];
        let mut kept = None;
        for article in &articles {
            let (mut fresh, mut reused) = (Vec::new(), Vec::new());
            let path = pages.render_kept(article, &mut None, &mut fresh).unwrap();
            assert_eq!(
                pages.render_kept(article, &mut kept, &mut reused).unwrap(),
                path
            );
            assert_eq!(
                String::from_utf8(reused).unwrap(),
                String::from_utf8(fresh).unwrap()
            );
            let (_, page) = pages.page(article);
            let expected = serde_json::to_value(&page).unwrap();
            assert_eq!(kept.as_ref().unwrap().json(), &expected, "{}", article.file);
        }
    }
}

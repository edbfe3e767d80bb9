//! The pages of an audience and of a category: what it is, its articles newest first
//! in pages of [`PER_PAGE`], its feeds (linked and announced for discovery) and a way
//! to get its articles by email. Page 1 is at the scope's folder
//! (`audiences/{slug}/`), the others below it (`audiences/{slug}/page/2/`), so that
//! `crier build` writes each as an `index.html` beside the scope's feeds.

use std::sync::Arc;

use serde::Serialize;

use super::pages::{Listed, page_with, scope_alternates, subscribe_url};
use crate::articles::Library;
use crate::feeds::{Format, Scope, SiteMeta};
use crate::model::Article;
use crate::templates::{TemplateError, Templates};

/// Articles per page.
pub const PER_PAGE: usize = 20;

/// How many pages a scope of `articles` articles has: one at least, which says that
/// there are none yet.
pub fn page_count(articles: usize) -> usize {
    articles.div_ceil(PER_PAGE).max(1)
}

/// The path of page `number` (from 1) of `scope`'s listing.
pub fn page_path(scope: &Scope, number: usize) -> String {
    paged(scope.dir(), number)
}

/// Page `number` (from 1) of a list whose first page is the folder `dir`: the others
/// are below it, `{dir}page/{number}/`.
pub(super) fn paged(dir: String, number: usize) -> String {
    if number <= 1 {
        dir
    } else {
        format!("{dir}page/{number}/")
    }
}

/// Every article of `scope`, newest first.
pub fn scope_articles<'a>(library: &'a Library, scope: &Scope) -> Vec<&'a Arc<Article>> {
    scope.entries(library, usize::MAX)
}

#[derive(Serialize)]
struct FeedLinks {
    rss: String,
    atom: String,
    json: String,
}

/// The sign-up form of an audience's page, with the audience chosen.
#[derive(Serialize, Clone)]
struct SubscribeBox<'a> {
    action: String,
    slug: &'a str,
    /// The full sign-up page with the audience ticked, for other choices.
    more: String,
}

/// Where a page of a paged list stands, and the links to its neighbours.
#[derive(Serialize)]
pub(super) struct Pager {
    /// Whether there is more than one page.
    paged: bool,
    number: usize,
    count: usize,
    newer: Option<String>,
    older: Option<String>,
}

impl Pager {
    /// Page `number` of `count`, whose pages are at `path(n)` below the site.
    pub(super) fn new(
        meta: &SiteMeta,
        number: usize,
        count: usize,
        path: impl Fn(usize) -> String,
    ) -> Pager {
        Pager {
            paged: count > 1,
            number,
            count,
            newer: (number > 1).then(|| meta.url(&path(number - 1))),
            older: (number < count).then(|| meta.url(&path(number + 1))),
        }
    }
}

#[derive(Serialize)]
struct ListingBody<'a> {
    /// "audience" or "category".
    kind: &'static str,
    name: &'a str,
    description: String,
    total: usize,
    articles: Vec<Listed<'a>>,
    pager: Pager,
    feeds: FeedLinks,
    /// For an audience: a form that signs up for it.
    subscribe: Option<SubscribeBox<'a>>,
    /// For a category: the sign-up page, where a reader picks audiences.
    subscribe_url: String,
}

/// Renders every page of `scope` (an audience or a category; the site's own list is
/// the index), calling `sink(path, html)` for each in order. `articles` is
/// [`scope_articles`]. Renders nothing for [`Scope::Site`].
pub fn render_scope<E: From<TemplateError>>(
    templates: &Templates,
    meta: &SiteMeta,
    library: &Library,
    scope: &Scope,
    articles: &[&Arc<Article>],
    sink: impl FnMut(String, String) -> Result<(), E>,
) -> Result<(), E> {
    let count = page_count(articles.len());
    render_pages(templates, meta, library, scope, articles, 1..=count, sink)
}

/// Renders page `number` of `scope` alone, as [`render_scope`] renders it; `None`
/// when the scope has no such page (or is [`Scope::Site`]).
pub fn render_scope_page(
    templates: &Templates,
    meta: &SiteMeta,
    library: &Library,
    scope: &Scope,
    articles: &[&Arc<Article>],
    number: usize,
) -> Result<Option<String>, TemplateError> {
    if number == 0 || number > page_count(articles.len()) {
        return Ok(None);
    }
    let mut page = None;
    render_pages(
        templates,
        meta,
        library,
        scope,
        articles,
        number..=number,
        |_, html| {
            page = Some(html);
            Ok::<_, TemplateError>(())
        },
    )?;
    Ok(page)
}

/// Renders the pages `numbers` of `scope`.
fn render_pages<E: From<TemplateError>>(
    templates: &Templates,
    meta: &SiteMeta,
    library: &Library,
    scope: &Scope,
    articles: &[&Arc<Article>],
    numbers: std::ops::RangeInclusive<usize>,
    mut sink: impl FnMut(String, String) -> Result<(), E>,
) -> Result<(), E> {
    let (kind, name, description, subscribe) = match scope {
        Scope::Site => return Ok(()),
        Scope::Audience { slug } => {
            let audience = library.taxonomy().get(slug);
            let name = audience.map_or(slug.as_str(), |a| a.name.as_str());
            let description = audience
                .and_then(|a| a.description.clone())
                .unwrap_or_else(|| format!("Briefs for {name}."));
            let subscribe = SubscribeBox {
                action: meta.url("subscribe"),
                slug,
                more: subscribe_url(meta, [slug.as_str()]),
            };
            ("audience", name, description, Some(subscribe))
        }
        Scope::Category { slug } => {
            let name = library
                .category(slug)
                .map_or(slug.as_str(), |c| c.name.as_str());
            let count = articles.len();
            // The feeds' description, and how many there are.
            let description = format!("{name} briefs from {}: {count} so far.", meta.title);
            ("category", name, description, None)
        }
    };
    let feed_title = format!("{} · {name}", meta.title);
    let alternates = scope_alternates(meta, scope, &feed_title);
    let count = page_count(articles.len());
    for number in numbers {
        let start = (number - 1) * PER_PAGE;
        let listed = articles
            .iter()
            .skip(start)
            .take(PER_PAGE)
            .map(|a| Listed::new(meta, a))
            .collect();
        let path = page_path(scope, number);
        let title = if count > 1 {
            format!("{name}, page {number} of {count} · {}", meta.title)
        } else {
            format!("{name} · {}", meta.title)
        };
        let body = ListingBody {
            kind,
            name,
            description: description.clone(),
            total: articles.len(),
            articles: listed,
            pager: Pager::new(meta, number, count, |n| page_path(scope, n)),
            feeds: FeedLinks {
                rss: meta.url(&scope.path(Format::Rss)),
                atom: meta.url(&scope.path(Format::Atom)),
                json: meta.url(&scope.path(Format::Json)),
            },
            subscribe: subscribe.clone(),
            subscribe_url: meta.url("subscribe"),
        };
        let data = page_with(
            meta,
            std::borrow::Cow::Borrowed(&alternates),
            title,
            meta.url(&path),
            body,
        );
        sink(path, templates.render("listing.html", &data)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_numbered_from_the_scope_folder() {
        let scope = Scope::Audience { slug: "hr".into() };
        assert_eq!(page_path(&scope, 1), "audiences/hr/");
        assert_eq!(page_path(&scope, 3), "audiences/hr/page/3/");
        assert_eq!(page_count(0), 1, "an empty audience still has its page");
        assert_eq!(page_count(PER_PAGE), 1);
        assert_eq!(page_count(PER_PAGE + 1), 2);
    }
}

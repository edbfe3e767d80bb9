//! Article pages and the audience and category pages, made when they are asked for,
//! for the daemon: a site of 100,000 articles would otherwise hold 100,000 rendered
//! article pages (about 7 KB each, and their compressed forms once sent) and some
//! 18,000 listing pages (about 20 KB each), and every new library would render again
//! every listing page of the scopes a changed article is in, to see what to keep.
//! The bytes are the same as a rendered site's: the same renderer, one page at a
//! time. The pages made last are kept, shared by every later version of the site,
//! while what they show (the article, or the page's articles and the scope's count
//! and name), the taxonomy and the date are the same.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustc_hash::FxHashMap;

use super::Builder;
use super::listing::{self, PER_PAGE};
use super::pages::{ArticlePages, HTML, PAGE_OVERHEAD};
use super::resource::{self, Kind, Resource};
use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::feeds::Scope;
use crate::model::Article;
use crate::templates::TemplateError;

/// How many pages are kept: the recently read ones. Once full, the cache starts over.
const KEPT: usize = 512;

/// Article pages on request. One per daemon; every version of its site shares it.
#[derive(Debug)]
pub(super) struct OnDemand {
    builder: Builder,
    kept: Mutex<FxHashMap<String, Kept>>,
}

/// A page made with one taxonomy from what `shows`.
#[derive(Debug)]
struct Kept {
    shows: Shows,
    taxonomy: Arc<Taxonomy>,
    page: Arc<Resource>,
}

/// What a page was made from, besides the taxonomy and the site.
#[derive(Debug, PartialEq)]
enum Shows {
    Article(ArticleRef),
    /// A listing page: the scope's name (a category's is its newest article's
    /// spelling), its number of articles, and this page's articles.
    Listing {
        name: String,
        total: usize,
        articles: Vec<ArticleRef>,
    },
}

/// An article, equal to another only when it is the same one (the library shares
/// every unchanged article between versions).
#[derive(Debug, Clone)]
struct ArticleRef(Arc<Article>);

impl PartialEq for ArticleRef {
    fn eq(&self, other: &ArticleRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl OnDemand {
    pub(super) fn new(builder: Builder) -> OnDemand {
        OnDemand {
            builder,
            kept: Mutex::new(FxHashMap::default()),
        }
    }

    /// The page at `path` of `library`, an article page or an audience or category
    /// page, rendered as of `now` (the time of the site's version); `None` when
    /// `library` has no such page.
    pub(super) fn page(
        &self,
        library: &Library,
        path: &str,
        now: SystemTime,
    ) -> Option<Result<Arc<Resource>, TemplateError>> {
        if let Some(slug) = path.strip_prefix(super::pages::ARTICLES_PREFIX) {
            return self.article_page(library, path, slug, now);
        }
        let (scope, number) = listing_page(library, path)?;
        let articles = listing::scope_articles(library, &scope);
        let start = (number - 1) * PER_PAGE;
        let shows = Shows::Listing {
            name: match &scope {
                Scope::Category { slug } => library.category(slug)?.name.clone(),
                _ => String::new(),
            },
            total: articles.len(),
            articles: articles
                .iter()
                .skip(start)
                .take(PER_PAGE)
                .map(|a| ArticleRef(Arc::clone(a)))
                .collect(),
        };
        let modified = resource::modified(articles.iter().map(|a| &***a), now);
        self.made(library, path, shows, modified, || {
            listing::render_scope_page(
                &self.builder.templates,
                &self.builder.meta,
                library,
                &scope,
                &articles,
                number,
            )
            .map(|html| html.map(String::into_bytes))
        })
    }

    fn article_page(
        &self,
        library: &Library,
        path: &str,
        slug: &str,
        now: SystemTime,
    ) -> Option<Result<Arc<Resource>, TemplateError>> {
        let article = library.get(slug)?;
        let modified = resource::modified([&**article], now);
        let shows = Shows::Article(ArticleRef(Arc::clone(article)));
        self.made(library, path, shows, modified, || {
            let pages = ArticlePages::new(
                &self.builder.templates,
                &self.builder.meta,
                library.taxonomy(),
            );
            let mut body = Vec::with_capacity(article.html.len() + PAGE_OVERHEAD);
            pages.render_kept(article, &mut None, &mut body)?;
            Ok(Some(body))
        })
    }

    /// The kept page at `path` if it was made from the same, or the one `render`
    /// makes now (kept in turn).
    fn made(
        &self,
        library: &Library,
        path: &str,
        shows: Shows,
        modified: SystemTime,
        render: impl FnOnce() -> Result<Option<Vec<u8>>, TemplateError>,
    ) -> Option<Result<Arc<Resource>, TemplateError>> {
        let taxonomy = library.taxonomy_arc();
        if let Some(kept) = self.kept().get(path)
            && kept.shows == shows
            && Arc::ptr_eq(&kept.taxonomy, &taxonomy)
            && kept.page.last_modified == modified
        {
            return Some(Ok(Arc::clone(&kept.page)));
        }
        let body = match render() {
            Ok(body) => body?,
            Err(e) => return Some(Err(e)),
        };
        let page = Arc::new(Resource::new(body, HTML, Kind::Page, modified));
        let mut kept = self.kept();
        if kept.len() >= KEPT {
            kept.clear();
        }
        kept.insert(
            path.to_string(),
            Kept {
                shows,
                taxonomy,
                page: Arc::clone(&page),
            },
        );
        Some(Ok(page))
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, FxHashMap<String, Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The scope and page number of a listing page's path (`audiences/hr/`,
/// `categories/research/page/2/`), when `library` has that scope; exactly the paths
/// [`listing::page_path`] makes.
fn listing_page(library: &Library, path: &str) -> Option<(Scope, usize)> {
    let (scope, rest) = if let Some(rest) = path.strip_prefix("audiences/") {
        let (slug, rest) = rest.split_once('/')?;
        library.taxonomy().get(slug)?;
        let scope = Scope::Audience { slug: slug.into() };
        (scope, rest)
    } else {
        let rest = path.strip_prefix("categories/")?;
        let (slug, rest) = rest.split_once('/')?;
        library.category(slug)?;
        (Scope::Category { slug: slug.into() }, rest)
    };
    let number = match rest {
        "" => 1,
        _ => rest
            .strip_prefix("page/")?
            .strip_suffix('/')?
            .parse::<usize>()
            .ok()?,
    };
    (listing::page_path(&scope, number) == path).then_some((scope, number))
}

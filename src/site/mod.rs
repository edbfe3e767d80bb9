//! The published site: every feed and page rendered from one library snapshot,
//! keyed by URL path. A new library gives a new `Site` in which only the documents
//! whose inputs changed are rendered again; the others are shared with the old one.
//! The HTTP server and `crier build` both read from here, so they send the same bytes.

pub mod archive;
mod demand;
mod export;
pub mod listing;
pub mod pages;
mod resource;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

pub use archive::Archive;
pub use resource::{HeaderValues, Kind, Resource};

use demand::OnDemand;

use crate::articles::Library;
use crate::feeds::{self, FeedInput, Format, Scope, SiteMeta};
use crate::model::Article;
use crate::templates::{TemplateError, Templates};
use crate::work::{cores, in_shares};

/// Renders sites. Holds what does not change between libraries.
#[derive(Debug, Clone)]
pub struct Builder {
    meta: Arc<SiteMeta>,
    templates: Arc<Templates>,
}

/// Every document of the site, by URL path relative to the base URL (`""` is the
/// index, `feed.xml`, `audiences/hr/atom.xml`, `articles/{slug}`, the audience and
/// category pages `audiences/hr/` and `categories/{slug}/page/2/`, and `404.html`,
/// the page for unknown addresses).
///
/// A site made by [`Builder::build_on_demand`] (the daemon's) holds no article pages
/// and no audience or category pages: [`Site::find`] renders one when it is asked
/// for, and keeps the last few.
#[derive(Debug, Clone)]
pub struct Site {
    library: Arc<Library>,
    resources: HashMap<String, Arc<Resource>>,
    /// Article and listing pages made on request, with the time this version was
    /// rendered at.
    on_demand: Option<(Arc<OnDemand>, SystemTime)>,
}

impl Site {
    /// A document this site holds. Pages made on demand are not held: use
    /// [`Site::find`] to serve.
    pub fn get(&self, path: &str) -> Option<&Arc<Resource>> {
        self.resources.get(path)
    }

    /// The document at `path`, an article, audience or category page made now if this
    /// site makes them on demand. A page that fails to render is logged and not found.
    pub fn find(&self, path: &str) -> Option<Arc<Resource>> {
        if let Some(found) = self.resources.get(path) {
            return Some(Arc::clone(found));
        }
        let (on_demand, now) = self.on_demand.as_ref()?;
        match on_demand.page(&self.library, path, *now)? {
            Ok(page) => Some(page),
            Err(e) => {
                tracing::error!("rendering /{path}: {e}");
                None
            }
        }
    }

    /// Whether article, audience and category pages are made on demand (and so not in
    /// [`Site::paths`]).
    pub fn renders_on_demand(&self) -> bool {
        self.on_demand.is_some()
    }

    /// The page for unknown addresses.
    pub fn not_found(&self) -> Option<&Arc<Resource>> {
        self.resources.get(pages::NOT_FOUND_PATH)
    }

    pub fn library(&self) -> &Arc<Library> {
        &self.library
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

/// What an update changed, for logs and WebSub pings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Feed paths whose bytes changed (or that appeared).
    pub feeds: Vec<String>,
    /// Paths rendered again, feeds and pages.
    pub rendered: usize,
    /// Paths that are gone.
    pub removed: usize,
}

impl Builder {
    /// What the feeds of `scope` are rendered from: its newest `entries` in `library`.
    fn feed_input<'a>(
        &'a self,
        library: &'a Library,
        scope: &'a Scope,
        entries: &'a [&'a Arc<Article>],
    ) -> FeedInput<'a> {
        let (title, description) = scope.describe(&self.meta, library);
        FeedInput {
            site: &self.meta,
            taxonomy: library.taxonomy(),
            scope,
            title,
            description,
            entries: entries.iter().map(|a| a.as_ref()).collect(),
        }
    }

    pub fn new(meta: SiteMeta, templates: Arc<Templates>) -> Builder {
        Builder {
            meta: Arc::new(meta),
            templates,
        }
    }

    pub fn meta(&self) -> &SiteMeta {
        &self.meta
    }

    pub fn templates(&self) -> &Arc<Templates> {
        &self.templates
    }

    /// Renders everything.
    pub fn build(&self, library: Arc<Library>, now: SystemTime) -> Result<Site, TemplateError> {
        let empty = Site {
            library: Arc::new(Library::default()),
            resources: HashMap::new(),
            on_demand: None,
        };
        self.render(&empty, library, now, true)
            .map(|(site, _)| site)
    }

    /// Renders the feeds, the index and the page for unknown addresses; the article,
    /// audience and category pages the site (and every version [`Builder::update`]
    /// makes from it) renders when they are asked for, with the same bytes. What the
    /// daemon serves from.
    pub fn build_on_demand(
        &self,
        library: Arc<Library>,
        now: SystemTime,
    ) -> Result<Site, TemplateError> {
        let empty = Site {
            library: Arc::new(Library::default()),
            resources: HashMap::new(),
            on_demand: Some((Arc::new(OnDemand::new(self.clone())), now)),
        };
        self.render(&empty, library, now, true)
            .map(|(site, _)| site)
    }

    /// Renders what changed between `old`'s library and `library`.
    pub fn update(
        &self,
        old: &Site,
        library: Arc<Library>,
        now: SystemTime,
    ) -> Result<(Site, Changes), TemplateError> {
        self.render(old, library, now, false)
    }

    fn render(
        &self,
        old: &Site,
        library: Arc<Library>,
        now: SystemTime,
        full: bool,
    ) -> Result<(Site, Changes), TemplateError> {
        let mut resources: HashMap<String, Arc<Resource>> = HashMap::with_capacity(
            library.len()
                + 4 * (library.taxonomy().audiences().len() + library.categories().len() + 2),
        );
        let mut changes = Changes::default();
        // A taxonomy change renames audiences inside every entry, so everything is redone.
        let full = full || old.library.taxonomy() != library.taxonomy();
        let keep = |path: &str, new: Resource, changes: &mut Changes| -> Arc<Resource> {
            match old.resources.get(path) {
                // The same bytes and date: keep the old version (and its ETag and
                // compressed forms). Comparing bodies costs less than hashing them.
                Some(previous)
                    if previous.body == new.body && previous.last_modified == new.last_modified =>
                {
                    Arc::clone(previous)
                }
                _ => {
                    if new.kind == Kind::Feed {
                        changes.feeds.push(path.to_string());
                    }
                    Arc::new(new)
                }
            }
        };

        // Feeds: a scope is rendered again only when its entry list changed.
        for scope in Scope::all(&library) {
            let entries = scope.entries(&library, self.meta.limit);
            let unchanged = !full && {
                let before = scope.entries(&old.library, self.meta.limit);
                before.len() == entries.len()
                    && before.iter().zip(&entries).all(|(a, b)| Arc::ptr_eq(a, b))
                    && old.resources.contains_key(&scope.path(Format::Rss))
            };
            if unchanged {
                for format in Format::ALL {
                    let path = scope.path(format);
                    if let Some(previous) = old.resources.get(&path) {
                        resources.insert(path, Arc::clone(previous));
                    }
                }
                continue;
            }
            let input = self.feed_input(&library, &scope, &entries);
            let modified = resource::modified(entries.iter().map(|a| &***a), now);
            for format in Format::ALL {
                let path = scope.path(format);
                let body = feeds::render(&input, format);
                changes.rendered += 1;
                let resource = keep(
                    &path,
                    Resource::new(body, format.content_type(), Kind::Feed, modified),
                    &mut changes,
                );
                resources.insert(path, resource);
            }
        }

        // Article pages: only new or changed articles are rendered (none when they are
        // made on demand).
        let on_demand = old
            .on_demand
            .as_ref()
            .map(|(on_demand, _)| (Arc::clone(on_demand), now));
        let pending: Vec<&Arc<Article>> = library
            .articles()
            .iter()
            .filter(|_| on_demand.is_none())
            .filter(|article| {
                let path = pages::article_path(article);
                let same = !full
                    && old
                        .library
                        .get(&article.slug)
                        .is_some_and(|before| Arc::ptr_eq(before, article))
                    && old.resources.contains_key(&path);
                if same {
                    resources.insert(path.clone(), Arc::clone(&old.resources[&path]));
                }
                !same
            })
            .collect();
        changes.rendered += pending.len();
        for (path, page) in pages::render_articles(
            &self.templates,
            &self.meta,
            library.taxonomy(),
            &pending,
            now,
        )? {
            let resource = keep(&path, page, &mut changes);
            resources.insert(path, resource);
        }

        // Audience and category pages: a scope's are rendered again only when its
        // article list changed (none when they are made on demand).
        let mut pending = Vec::new();
        for scope in Scope::all(&library) {
            if scope == Scope::Site || on_demand.is_some() {
                continue;
            }
            let articles = listing::scope_articles(&library, &scope);
            let unchanged = !full && {
                let before = listing::scope_articles(&old.library, &scope);
                before.len() == articles.len()
                    && before.iter().zip(&articles).all(|(a, b)| Arc::ptr_eq(a, b))
                    && old.resources.contains_key(&listing::page_path(&scope, 1))
            };
            if unchanged {
                for number in 1..=listing::page_count(articles.len()) {
                    let path = listing::page_path(&scope, number);
                    if let Some(previous) = old.resources.get(&path) {
                        resources.insert(path, Arc::clone(previous));
                    }
                }
            } else {
                pending.push((scope, articles));
            }
        }
        let threads = if pending.len() < 8 { 1 } else { cores() };
        for share in in_shares(pending.len(), threads, |share| {
            let mut done = Vec::new();
            for (scope, articles) in &pending[share] {
                let modified = resource::modified(articles.iter().map(|a| &***a), now);
                listing::render_scope(
                    &self.templates,
                    &self.meta,
                    &library,
                    scope,
                    articles,
                    |path, html: String| {
                        done.push((path, html, modified));
                        Ok::<_, TemplateError>(())
                    },
                )?;
            }
            Ok::<_, TemplateError>(done)
        }) {
            for (path, html, modified) in share? {
                changes.rendered += 1;
                let resource = keep(
                    &path,
                    Resource::new(html.into_bytes(), pages::HTML, Kind::Page, modified),
                    &mut changes,
                );
                resources.insert(path, resource);
            }
        }

        // The index lists recent articles and every feed, and the page for unknown
        // addresses every audience, so any change redoes them.
        let index_unchanged = !full && Arc::ptr_eq(&old.library, &library);
        for path in ["", pages::NOT_FOUND_PATH] {
            match old.resources.get(path) {
                Some(previous) if index_unchanged => {
                    resources.insert(path.to_string(), Arc::clone(previous));
                }
                _ => {
                    let html = if path.is_empty() {
                        pages::render_index(&self.templates, &self.meta, &library)?
                    } else {
                        pages::render_not_found(&self.templates, &self.meta, &library)?
                    };
                    changes.rendered += 1;
                    let modified = resource::modified(library.articles().iter().map(|a| &**a), now);
                    let resource = keep(
                        path,
                        Resource::new(html.into_bytes(), pages::HTML, Kind::Page, modified),
                        &mut changes,
                    );
                    resources.insert(path.to_string(), resource);
                }
            }
        }

        let present: HashSet<&str> = resources.keys().map(String::as_str).collect();
        changes.removed = old
            .resources
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .count();
        changes.feeds.sort();
        Ok((
            Site {
                library,
                resources,
                on_demand,
            },
            changes,
        ))
    }
}

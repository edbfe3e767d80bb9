//! The whole site rendered once for a static export: each document is handed to a
//! sink on the thread that rendered it, as soon as it is rendered, and then dropped.
//! Nothing is hashed, compressed or kept, so a ten-thousand-page site never sits in
//! memory at once. The bytes are the same as [`Builder::build`] gives.

use super::pages::{self, ArticlePages, PAGE_OVERHEAD};
use super::{Builder, listing};
use crate::articles::Library;
use crate::feeds::{self, Format, Scope};
use crate::templates::TemplateError;
use crate::work::{cores, in_shares};

impl Builder {
    /// Renders every feed, audience and category page, article page, the index and
    /// the page for unknown addresses of `library`, and calls `sink(path, body)` for
    /// each, where `path` is its URL path as in [`super::Site`]. Every rendering thread
    /// gets its own sink from `make_sink` and one share of the scopes (their feeds and
    /// pages), the index and the article pages, in that order. Returns how many
    /// documents there were.
    pub fn export<S, E>(
        &self,
        library: &Library,
        make_sink: impl Fn() -> S + Sync,
    ) -> Result<usize, E>
    where
        S: FnMut(&str, &[u8]) -> Result<(), E> + Send,
        E: From<TemplateError> + Send,
    {
        let scopes = Scope::all(library);
        let articles = library.articles();
        let article_pages = ArticlePages::new(&self.templates, &self.meta, library.taxonomy());
        // The feeds first: there are few, and each takes longer than a page.
        let index = scopes.len();
        let count = scopes.len() + 1 + articles.len();
        let written = in_shares(count, cores(), |share| -> Result<usize, E> {
            let mut written = 0;
            let mut sink = make_sink();
            let mut buffer = Vec::with_capacity(64 * 1024);
            let mut kept = None;
            for i in share {
                if i < index {
                    let scope = &scopes[i];
                    let entries = scope.entries(library, self.meta.limit);
                    let input = self.feed_input(library, scope, &entries);
                    for format in Format::ALL {
                        sink(&scope.path(format), &feeds::render(&input, format))?;
                        written += 1;
                    }
                    let articles = listing::scope_articles(library, scope);
                    listing::render_scope(
                        &self.templates,
                        &self.meta,
                        library,
                        scope,
                        &articles,
                        |path, html: String| {
                            written += 1;
                            sink(&path, html.as_bytes())
                        },
                    )?;
                } else if i == index {
                    let html = pages::render_index(&self.templates, &self.meta, library)?;
                    sink("", html.as_bytes())?;
                    let html = pages::render_not_found(&self.templates, &self.meta, library)?;
                    sink(pages::NOT_FOUND_PATH, html.as_bytes())?;
                    written += 2;
                } else {
                    let article = &articles[i - index - 1];
                    buffer.clear();
                    buffer.reserve(article.html.len() + PAGE_OVERHEAD);
                    let path = article_pages.render_kept(article, &mut kept, &mut buffer)?;
                    sink(&path, &buffer)?;
                    written += 1;
                }
            }
            Ok(written)
        });
        written.into_iter().sum()
    }
}

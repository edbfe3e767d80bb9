//! The library: an immutable snapshot of every good article, indexed by slug,
//! date, audience and category. A new snapshot replaces the old one whole.

use std::sync::Arc;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use crate::audience::Taxonomy;
use crate::model::{Article, FileError, Unmatched, slugify};

/// Articles of one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub slug: String,
    /// The category as the newest article writes it.
    pub name: String,
    /// Indices into [`Library::articles`], newest first.
    pub articles: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    /// Newest first: by published date, then by slug.
    articles: Vec<Arc<Article>>,
    /// The same articles in slug order.
    by_slug: Vec<Arc<Article>>,
    by_audience: FxHashMap<String, Vec<usize>>,
    /// Sorted by slug.
    categories: Vec<Category>,
    /// Problems with store files, sorted by file.
    errors: Vec<FileError>,
    /// The taxonomy the audiences were derived with.
    taxonomy: Arc<Taxonomy>,
}

/// One article replaced by another: `(old, new)`, either absent when an article
/// leaves or comes.
pub type Swap = (Option<Arc<Article>>, Option<Arc<Article>>);

/// From this many articles on, a new library sorts on two threads.
const PARALLEL_SORT: usize = 2048;

/// The newest-first order every listing uses.
pub fn newest_first(a: &Article, b: &Article) -> std::cmp::Ordering {
    b.published
        .cmp(&a.published)
        .then_with(|| a.slug.cmp(&b.slug))
}

/// The audience and category indices of a newest-first article list.
fn index(articles: &[Arc<Article>]) -> (FxHashMap<String, Vec<usize>>, Vec<Category>) {
    let mut by_audience: FxHashMap<String, Vec<usize>> = FxHashMap::default();
    let mut categories: FxHashMap<String, Category> = FxHashMap::default();
    // Few categories, many articles: slugify each category name once.
    let mut category_slugs: FxHashMap<&str, String> = FxHashMap::default();
    for (index, article) in articles.iter().enumerate() {
        for audience in &article.audiences {
            match by_audience.get_mut(audience) {
                Some(list) => list.push(index),
                None => {
                    by_audience.insert(audience.clone(), vec![index]);
                }
            }
        }
        let slug = category_slugs
            .entry(article.category.as_str())
            .or_insert_with(|| slugify(&article.category));
        match categories.get_mut(slug.as_str()) {
            Some(category) => category.articles.push(index),
            None => {
                categories.insert(
                    slug.clone(),
                    Category {
                        slug: slug.clone(),
                        name: article.category.clone(),
                        articles: vec![index],
                    },
                );
            }
        }
    }
    let mut categories: Vec<Category> = categories.into_values().collect();
    categories.sort_by(|a, b| a.slug.cmp(&b.slug));
    (by_audience, categories)
}

fn by_file_and_line(errors: &mut [FileError]) {
    errors.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
}

impl Library {
    /// Builds the indices. Slugs must already be unique.
    pub fn new(
        mut articles: Vec<Arc<Article>>,
        mut errors: Vec<FileError>,
        taxonomy: Arc<Taxonomy>,
    ) -> Library {
        by_file_and_line(&mut errors);
        // Sorted by slug: a binary search finds an article without copying every
        // slug into a map on each rebuild. A large store sorts it on another core
        // while this one sorts by date and indexes.
        let by_slug = |mut articles: Vec<Arc<Article>>| {
            articles.sort_unstable_by(|a, b| a.slug.cmp(&b.slug));
            articles
        };
        let by_date = |articles: &mut Vec<Arc<Article>>| {
            articles.sort_by(|a, b| newest_first(a, b));
            index(articles)
        };
        let copy = articles.clone();
        let (by_slug, (by_audience, categories)) = if articles.len() < PARALLEL_SORT {
            (by_slug(copy), by_date(&mut articles))
        } else {
            let (indexes, sorted) = crate::work::both(|| by_date(&mut articles), || by_slug(copy));
            (sorted, indexes)
        };
        Library {
            articles,
            by_slug,
            by_audience,
            categories,
            errors,
            taxonomy,
        }
    }

    /// This library with a few articles swapped: each `(old, new)` pair removes `old`
    /// and adds `new` (either may be absent), and `errors` replaces the errors. The two
    /// sorted lists are patched in place of a full sort, which is what makes a one-file
    /// change cheap in a large store. Returns `None` when the change cannot be patched
    /// (an article that is not here, or a slug taken twice); build anew then.
    pub fn patched(&self, swaps: &[Swap], mut errors: Vec<FileError>) -> Option<Library> {
        let mut articles = self.articles.clone();
        let mut by_slug = self.by_slug.clone();
        for old in swaps.iter().filter_map(|(old, _)| old.as_ref()) {
            let at = articles
                .binary_search_by(|a| newest_first(a, old))
                .ok()
                .filter(|&i| Arc::ptr_eq(&articles[i], old))?;
            articles.remove(at);
            let at = by_slug
                .binary_search_by(|a| a.slug.cmp(&old.slug))
                .ok()
                .filter(|&i| Arc::ptr_eq(&by_slug[i], old))?;
            by_slug.remove(at);
        }
        for new in swaps.iter().filter_map(|(_, new)| new.as_ref()) {
            let Err(at) = by_slug.binary_search_by(|a| a.slug.cmp(&new.slug)) else {
                return None;
            };
            by_slug.insert(at, Arc::clone(new));
            let at = articles.partition_point(|a| newest_first(a, new).is_lt());
            articles.insert(at, Arc::clone(new));
        }
        by_file_and_line(&mut errors);
        let (by_audience, categories) = index(&articles);
        Some(Library {
            articles,
            by_slug,
            by_audience,
            categories,
            errors,
            taxonomy: Arc::clone(&self.taxonomy),
        })
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The taxonomy, shared.
    pub fn taxonomy_arc(&self) -> Arc<Taxonomy> {
        Arc::clone(&self.taxonomy)
    }

    /// Every article, newest first.
    pub fn articles(&self) -> &[Arc<Article>] {
        &self.articles
    }

    pub fn len(&self) -> usize {
        self.articles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }

    pub fn get(&self, slug: &str) -> Option<&Arc<Article>> {
        self.by_slug
            .binary_search_by(|a| a.slug.as_str().cmp(slug))
            .ok()
            .map(|found| &self.by_slug[found])
    }

    /// Articles of an audience, newest first.
    pub fn in_audience<'a>(&'a self, slug: &str) -> impl Iterator<Item = &'a Arc<Article>> + 'a {
        let indices = self.by_audience.get(slug).map_or(&[][..], Vec::as_slice);
        indices.iter().map(|&i| &self.articles[i])
    }

    /// Every audience some article is in, with the positions of its articles in
    /// [`Library::articles`] (ascending, so newest first); in no set order.
    pub fn audiences(&self) -> impl Iterator<Item = (&str, &[usize])> {
        self.by_audience
            .iter()
            .map(|(slug, indices)| (slug.as_str(), indices.as_slice()))
    }

    pub fn audience_count(&self, slug: &str) -> usize {
        self.by_audience.get(slug).map_or(0, Vec::len)
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn category(&self, slug: &str) -> Option<&Category> {
        self.categories
            .binary_search_by(|c| c.slug.as_str().cmp(slug))
            .ok()
            .map(|i| &self.categories[i])
    }

    /// Articles published on or after `from` and on or before `to`, newest first.
    pub fn published_between(&self, from: NaiveDate, to: NaiveDate) -> &[Arc<Article>] {
        let start = self.articles.partition_point(|a| a.published > to);
        let end = self.articles.partition_point(|a| a.published >= from);
        &self.articles[start..end.max(start)]
    }

    pub fn errors(&self) -> &[FileError] {
        &self.errors
    }

    /// Every "Who should care" sentence that named no audience, by file.
    pub fn unmatched(&self) -> impl Iterator<Item = (&str, &Unmatched)> {
        self.articles
            .iter()
            .flat_map(|a| a.unmatched.iter().map(move |u| (a.file.as_str(), u)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::articles::parse::parse_file;

    fn article(slug: &str, date: &str, category: &str, audiences: &[&str]) -> Arc<Article> {
        let text = format!(
            "S · {} · {category} · 1 min read\nTitle {slug}\n",
            date.replace('-', " · ")
        );
        let mut a = parse_file(&format!("{slug}.txt"), text.as_bytes()).unwrap();
        a.audiences = audiences.iter().map(|s| s.to_string()).collect();
        Arc::new(a)
    }

    #[test]
    fn indexes_by_date_audience_and_category() {
        let lib = Library::new(
            vec![
                article("b", "2026-01-02", "Deep dive", &["hr"]),
                article("a", "2026-01-02", "Release", &["hr", "devs"]),
                article("c", "2026-03-01", "Deep Dive", &[]),
                article("d", "2025-12-31", "Release", &["devs"]),
            ],
            vec![],
            Arc::default(),
        );
        let order: Vec<_> = lib.articles().iter().map(|a| a.slug.as_str()).collect();
        assert_eq!(order, ["c", "a", "b", "d"]);
        assert_eq!(lib.get("b").unwrap().slug, "b");
        assert!(lib.get("zzz").is_none());
        let hr: Vec<_> = lib.in_audience("hr").map(|a| a.slug.as_str()).collect();
        assert_eq!(hr, ["a", "b"]);
        assert_eq!(lib.audience_count("devs"), 2);
        assert_eq!(lib.in_audience("nobody").count(), 0);
        let cats: Vec<_> = lib
            .categories()
            .iter()
            .map(|c| (c.slug.as_str(), c.name.as_str(), c.articles.len()))
            .collect();
        assert_eq!(
            cats,
            [("deep-dive", "Deep Dive", 2), ("release", "Release", 2)]
        );
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let window: Vec<_> = lib
            .published_between(day("2026-01-01"), day("2026-01-02"))
            .iter()
            .map(|a| a.slug.as_str())
            .collect();
        assert_eq!(window, ["a", "b"]);
        assert!(
            lib.published_between(day("2027-01-01"), day("2027-02-01"))
                .is_empty()
        );
    }

    #[test]
    fn a_large_library_sorted_on_two_threads_finds_and_orders_everything() {
        // Enough articles for the two-thread sort, given in a scrambled order.
        let count = PARALLEL_SORT + 500;
        let articles: Vec<_> = (0..count)
            .map(|i| {
                let n = (i * 7919) % count;
                let date = format!("2026-{:02}-{:02}", 1 + n % 12, 1 + n % 28);
                let audiences: &[&str] = if n.is_multiple_of(3) { &["hr"] } else { &[] };
                article(&format!("a{n:05}"), &date, "Release", audiences)
            })
            .collect();
        let lib = Library::new(articles, vec![], Arc::default());
        assert_eq!(lib.len(), count);
        for n in (0..count).step_by(97) {
            let slug = format!("a{n:05}");
            assert_eq!(lib.get(&slug).map(|a| a.slug.as_str()), Some(slug.as_str()));
        }
        assert!(lib.get("a99999").is_none());
        assert!(
            lib.articles()
                .windows(2)
                .all(|pair| newest_first(&pair[0], &pair[1]).is_lt()),
            "newest first, ties by slug"
        );
        assert_eq!(lib.audience_count("hr"), count.div_ceil(3));
        assert_eq!(lib.categories()[0].articles.len(), count);
    }
}

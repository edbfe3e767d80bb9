//! The articles page, `GET /admin/articles?page=N`: the store as crier sees it now,
//! newest first, a page at a time: title, date, category, audiences and the feeds
//! each article is in. A feed carries only the newest `[feeds] limit` articles of its
//! scope, so an older article is listed in fewer feeds. Files that failed to parse
//! come first, with file and line.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::{Admin, not_found, parts};
use crate::articles::Library;
use crate::feeds::{Format, Scope};
use crate::http::Shared;
use crate::model::{Article, FileError, slugify};
use crate::site::pages::article_path;

pub const PER_PAGE: usize = 50;

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: Option<String>,
}

#[derive(Serialize)]
struct Feed {
    label: String,
    href: String,
}

#[derive(Serialize)]
struct Row {
    title: String,
    href: String,
    file: String,
    published: String,
    category: String,
    audiences: String,
    feeds: Vec<Feed>,
}

#[derive(Serialize)]
struct ArticlesView<'a> {
    errors: &'a [FileError],
    total: usize,
    limit: usize,
    page: usize,
    pages: usize,
    first: usize,
    last: usize,
    previous: Option<usize>,
    next: Option<usize>,
    articles: Vec<Row>,
}

/// Where `article` stands in the scope's list, newest first.
fn rank(library: &Library, scope: &Scope, index: usize, article: &Arc<Article>) -> Option<usize> {
    match scope {
        Scope::Site => Some(index),
        Scope::Category { slug } => library
            .category(slug)
            .and_then(|c| c.articles.iter().position(|&i| i == index)),
        Scope::Audience { slug } => library
            .in_audience(slug)
            .position(|a| Arc::ptr_eq(a, article)),
    }
}

/// The feeds of the site that carry the article (its `index` in the library):
/// the site's, its category's and each of its audiences', when it is among the
/// scope's newest `limit`. Each is named with its RSS path; Atom and JSON Feed
/// sit beside it.
fn feeds_of(
    library: &Library,
    meta: &crate::feeds::SiteMeta,
    index: usize,
    article: &Arc<Article>,
) -> Vec<Feed> {
    let taxonomy = library.taxonomy();
    let mut scopes = vec![(Scope::Site, "Site".to_string())];
    let category = slugify(&article.category);
    let category_name = library
        .category(&category)
        .map_or(article.category.clone(), |c| c.name.clone());
    scopes.push((
        Scope::Category { slug: category },
        format!("Category: {category_name}"),
    ));
    for slug in &article.audiences {
        let name = taxonomy
            .get(slug)
            .map_or(slug.as_str(), |a| a.name.as_str());
        scopes.push((
            Scope::Audience { slug: slug.clone() },
            format!("Audience: {name}"),
        ));
    }
    scopes
        .into_iter()
        .filter(|(scope, _)| rank(library, scope, index, article).is_some_and(|r| r < meta.limit))
        .map(|(scope, label)| Feed {
            label,
            href: meta.url(&scope.path(Format::Rss)),
        })
        .collect()
}

async fn articles(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Query(query): Query<PageQuery>,
) -> Response {
    let (people, console) = match parts(&state, &admin) {
        Ok(parts) => parts,
        Err(r) => return r,
    };
    let library = console.library.borrow().clone();
    let total = library.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = match query.page.as_deref().map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) if (1..=pages).contains(&n) => n,
        Some(_) => return not_found(&state, Some(&admin), "There is no such page of articles."),
    };
    let start = (page - 1) * PER_PAGE;
    let taxonomy = library.taxonomy();
    let meta = &people.meta;
    let rows = library
        .articles()
        .iter()
        .enumerate()
        .skip(start)
        .take(PER_PAGE)
        .map(|(index, a)| Row {
            title: a.title.clone(),
            href: meta.url(&article_path(a)),
            file: a.file.clone(),
            published: a.published.to_string(),
            category: a.category.clone(),
            audiences: a
                .audiences
                .iter()
                .map(|s| taxonomy.get(s).map_or(s.as_str(), |a| a.name.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            feeds: feeds_of(&library, meta, index, a),
        })
        .collect::<Vec<_>>();
    let view = ArticlesView {
        errors: library.errors(),
        total,
        limit: meta.limit,
        page,
        pages,
        first: if total == 0 { 0 } else { start + 1 },
        last: start + rows.len(),
        previous: (page > 1).then(|| page - 1),
        next: (page < pages).then(|| page + 1),
        articles: rows,
    };
    super::console_page(&state, Some(&admin), "articles/index", "Articles", &view)
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/admin/articles", get(articles))
}

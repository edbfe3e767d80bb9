//! What a digest lists, as the planner hands it to rendering: articles grouped by
//! audience. Plain data, shared so that `email` renders plans without using `digest`.

use std::sync::Arc;

use serde::Serialize;

/// An article as digests list it, shared by every digest that lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedArticle {
    pub slug: String,
    pub title: String,
    pub url: String,
    pub summary: Option<String>,
    pub category: String,
    pub subject: String,
    pub reading_minutes: u32,
    /// The published date, `YYYY-MM-DD`.
    pub published: String,
    /// The published date as a reader reads it: "20 Nov 2026".
    pub date: String,
}

/// An article in one digest's group. Templates see the article's fields and `also`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub article: Arc<PlannedArticle>,
    /// The subscriber's other audiences this article also fits (names).
    pub also: Vec<String>,
}

impl std::ops::Deref for Listed {
    type Target = PlannedArticle;

    fn deref(&self) -> &PlannedArticle {
        &self.article
    }
}

/// The articles of one audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub slug: String,
    pub name: String,
    pub articles: Vec<Listed>,
}

/// An audience a digest names without listing articles under it: where the new
/// articles that did not fit are. The slug [`super::EVERYTHING`] names the articles
/// that match no audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heading {
    pub slug: String,
    pub name: String,
}

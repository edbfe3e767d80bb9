//! JSON Feed 1.1, as serde structs.

use chrono::SecondsFormat;
use serde::Serialize;

use super::{Entry, FeedInput, Format};

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    language: &'static str,
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub>,
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Hub {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Item<'a> {
    id: String,
    url: String,
    title: &'a str,
    content_html: String,
    summary: std::borrow::Cow<'a, str>,
    date_published: String,
    date_modified: String,
    tags: Vec<String>,
}

pub(super) fn render(input: &FeedInput<'_>) -> Vec<u8> {
    let site = input.site;
    let items = input
        .entries
        .iter()
        .map(|article| {
            let entry = Entry::new(input, article);
            Item {
                id: entry.id,
                url: entry.link,
                title: &entry.article.title,
                content_html: entry.html,
                summary: entry.description,
                date_published: entry.published.to_rfc3339_opts(SecondsFormat::Secs, true),
                date_modified: entry.updated.to_rfc3339_opts(SecondsFormat::Secs, true),
                tags: entry.categories,
            }
        })
        .collect();
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &input.title,
        home_page_url: input.home_url(),
        feed_url: input.self_url(Format::Json),
        description: &input.description,
        language: "en",
        authors: vec![Author { name: &site.author }],
        hubs: site
            .hub
            .iter()
            .map(|hub| Hub {
                kind: "WebSub",
                url: hub.to_string(),
            })
            .collect(),
        items,
    };
    serde_json::to_vec_pretty(&feed).unwrap_or_default()
}

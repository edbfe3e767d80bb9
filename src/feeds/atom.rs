//! Atom 1.0 through `atom_syndication`, with HTML content and RFC 3339 dates.

use atom_syndication::{
    CategoryBuilder, Content, EntryBuilder, FeedBuilder, FixedDateTime, Generator, LinkBuilder,
    PersonBuilder, Text, WriteConfig,
};

use super::{Entry, FeedInput, Format};

/// Plain text as HTML text.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let _ = pulldown_cmark_escape::escape_html_body_text(&mut out, text);
    out
}

pub(crate) fn link(href: String, rel: &str, mime: Option<&str>) -> atom_syndication::Link {
    LinkBuilder::default()
        .href(href)
        .rel(rel.to_string())
        .mime_type(mime.map(str::to_string))
        .build()
}

pub(super) fn render(input: &FeedInput<'_>) -> Vec<u8> {
    let site = input.site;
    let mut links = vec![
        link(
            input.self_url(Format::Atom),
            "self",
            Some(Format::Atom.media_type()),
        ),
        link(input.home_url(), "alternate", Some("text/html")),
    ];
    if let Some(hub) = &site.hub {
        links.push(link(hub.to_string(), "hub", None));
    }
    let author = PersonBuilder::default()
        .name(site.author.clone())
        .email(site.author_email.clone())
        .build();
    // Two entries' times of day can still meet, rarely; the later one in the feed
    // moves on by a second, so no two entries share `updated`.
    let mut taken = std::collections::HashSet::with_capacity(input.entries.len());
    let entries: Vec<atom_syndication::Entry> = input
        .entries
        .iter()
        .map(|article| {
            let entry = Entry::new(input, article);
            let mut updated = entry.updated;
            while !taken.insert(updated) {
                updated += chrono::Duration::seconds(1);
            }
            EntryBuilder::default()
                .id(entry.id.clone())
                .title(Text::plain(entry.article.title.clone()))
                .updated(FixedDateTime::from(updated))
                .published(Some(FixedDateTime::from(entry.published)))
                .links(vec![link(
                    entry.link.clone(),
                    "alternate",
                    Some("text/html"),
                )])
                // A summary of type html, like the content: readers that mail or
                // show one part (rss2email prefers text/plain) take the content
                // first, and list views keep the one-line summary.
                .summary(Some(Text::html(escape_html(&entry.description))))
                // Every entry names its author: readers older than newsboat 2.30
                // do not inherit the feed's.
                .authors(vec![author.clone()])
                .content(Some(Content {
                    content_type: Some("html".into()),
                    value: Some(entry.html.clone()),
                    ..Content::default()
                }))
                .categories(
                    entry
                        .categories
                        .iter()
                        .map(|c| CategoryBuilder::default().term(c.clone()).build())
                        .collect::<Vec<_>>(),
                )
                .build()
        })
        .collect();
    let mut feed = FeedBuilder::default();
    feed.id(input.feed_id())
        .title(Text::plain(input.title.clone()))
        .subtitle((!input.description.is_empty()).then(|| Text::plain(input.description.clone())))
        .updated(FixedDateTime::from(input.updated()))
        .authors(vec![author])
        .links(links)
        .entries(entries);
    write(feed)
}

/// The bytes of a feed of crier's: named as its generator, in English, with an XML
/// declaration and no indentation.
pub(crate) fn write(mut feed: FeedBuilder) -> Vec<u8> {
    feed.generator(Some(Generator {
        value: "crier".into(),
        ..Generator::default()
    }))
    .lang(Some("en".to_string()));
    let config = WriteConfig {
        write_document_declaration: true,
        indent_size: None,
    };
    feed.build()
        .write_with_config(Vec::new(), config)
        .unwrap_or_default()
}

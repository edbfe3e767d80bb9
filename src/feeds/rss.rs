//! RSS 2.0 through the `rss` crate, with the atom (self, hub), content and
//! Dublin Core extensions.

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{CategoryBuilder, ChannelBuilder, GuidBuilder, ItemBuilder};

use super::{Entry, FeedInput, Format};

pub(super) fn render(input: &FeedInput<'_>) -> Vec<u8> {
    let site = input.site;
    let mut links = vec![Link {
        href: input.self_url(Format::Rss),
        rel: "self".into(),
        mime_type: Some(Format::Rss.media_type().into()),
        ..Link::default()
    }];
    if let Some(hub) = &site.hub {
        links.push(Link {
            href: hub.to_string(),
            rel: "hub".into(),
            ..Link::default()
        });
    }
    let editor = site
        .author_email
        .as_ref()
        .map(|email| format!("{email} ({})", site.author));
    let items: Vec<rss::Item> = input
        .entries
        .iter()
        .map(|article| {
            let entry = Entry::new(input, article);
            ItemBuilder::default()
                .title(Some(entry.article.title.clone()))
                .link(Some(entry.link.clone()))
                .guid(Some(
                    GuidBuilder::default()
                        .value(entry.id.clone())
                        .permalink(false)
                        .build(),
                ))
                .pub_date(Some(entry.published.to_rfc2822()))
                // Readers treat an RSS description as HTML, so the plain text is escaped.
                // Every item has one: the validator warns about content:encoded without
                // a description before it, and readers list items by it.
                .description(Some({
                    let mut escaped = String::with_capacity(entry.description.len());
                    let _ = pulldown_cmark_escape::escape_html(&mut escaped, &entry.description);
                    escaped
                }))
                .content(Some(entry.html.clone()))
                .author(editor.clone())
                .categories(
                    entry
                        .categories
                        .iter()
                        .map(|c| CategoryBuilder::default().name(c.clone()).build())
                        .collect::<Vec<_>>(),
                )
                .dublin_core_ext(Some(DublinCoreExtension {
                    creators: vec![site.author.clone()],
                    ..DublinCoreExtension::default()
                }))
                .build()
        })
        .collect();
    let channel = ChannelBuilder::default()
        .title(input.title.clone())
        .link(input.home_url())
        .description(if input.description.is_empty() {
            input.title.clone()
        } else {
            input.description.clone()
        })
        .language(Some("en".to_string()))
        .managing_editor(editor.clone())
        .last_build_date(Some(input.updated().to_rfc2822()))
        .generator(Some("crier".to_string()))
        .ttl(Some(site.ttl_minutes.to_string()))
        .atom_ext(Some(AtomExtension { links }))
        .items(items)
        .build();
    channel.write_to(Vec::new()).unwrap_or_default()
}

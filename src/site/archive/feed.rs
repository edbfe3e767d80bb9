//! The Atom feed of a digest's editions: its newest, each entry the edition's
//! articles by audience as HTML, dated when it was first queued and last added to.

use atom_syndication::{Content, EntryBuilder, FeedBuilder, FixedDateTime, PersonBuilder, Text};
use chrono::{DateTime, NaiveDate, Utc};

use super::{
    archive_path, article_count, audience_names, briefs, date_label, digest_title, edition_path,
    feed_path, grouped, spoken_list,
};
use crate::feeds::{Format, SiteMeta, atom};
use crate::model::Edition;

/// Text as HTML, for the feed's content (HTML carried as text) and its attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let _ = pulldown_cmark_escape::escape_html(&mut out, text);
    out
}

/// When an edition last changed: a later time zone or run adds to it.
fn edition_updated(edition: &Edition) -> DateTime<Utc> {
    edition.queued_at.max(edition.period_end)
}

/// The Atom feed of a digest's newest editions (`editions` newest first).
pub(super) fn feed(meta: &SiteMeta, digest: &str, editions: &[&Edition]) -> Vec<u8> {
    let link = |href: String, rel: &str, mime: &str| atom::link(href, rel, Some(mime));
    let title = digest_title(digest);
    let shown = &editions[..editions.len().min(meta.limit.max(1))];
    let mut taken = std::collections::HashSet::new();
    let entries: Vec<atom_syndication::Entry> = shown
        .iter()
        .map(|edition| {
            let url = meta.url(&edition_path(digest, edition.date));
            let groups = grouped(edition);
            let names = audience_names(&groups, edition);
            let count = briefs(article_count(edition));
            let summary = if names.is_empty() {
                count
            } else {
                format!("{count} for {}", spoken_list(&names))
            };
            let mut html = String::new();
            for group in &groups {
                html.push_str(&format!("<h2>{}</h2><ul>", escape(group.name)));
                for article in &group.articles {
                    html.push_str(&format!(
                        "<li><a href=\"{}\">{}</a> ({})</li>",
                        escape(article.url),
                        escape(article.title),
                        escape(&article.date)
                    ));
                }
                html.push_str("</ul>");
            }
            // No two entries share `updated`.
            let mut updated = edition_updated(edition);
            while !taken.insert(updated) {
                updated += chrono::Duration::seconds(1);
            }
            EntryBuilder::default()
                .id(format!(
                    "tag:{},{}:{}",
                    meta.id_authority,
                    edition.date,
                    edition_path(digest, edition.date)
                ))
                .title(Text::plain(format!(
                    "{title}, {}",
                    date_label(edition.date)
                )))
                .updated(FixedDateTime::from(updated))
                .published(Some(FixedDateTime::from(edition.queued_at)))
                .links(vec![link(url, "alternate", "text/html")])
                .summary(Some(Text::plain(summary)))
                .content(Some(Content {
                    content_type: Some("html".into()),
                    value: Some(html),
                    ..Content::default()
                }))
                .build()
        })
        .collect();
    let updated = shown
        .iter()
        .map(|e| edition_updated(e))
        .max()
        .unwrap_or_else(|| {
            NaiveDate::parse_from_str(&meta.id_date, "%Y-%m-%d")
                .unwrap_or(NaiveDate::MIN)
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
        });
    let author = PersonBuilder::default()
        .name(meta.author.clone())
        .email(meta.author_email.clone())
        .build();
    let mut feed = FeedBuilder::default();
    feed.id(format!(
        "tag:{},{}:{}",
        meta.id_authority,
        meta.id_date,
        archive_path(digest)
    ))
    .title(Text::plain(format!("{} · {title} archive", meta.title)))
    .subtitle(Some(Text::plain(format!(
        "Every edition of the {} of {}.",
        title.to_lowercase(),
        meta.title
    ))))
    .updated(FixedDateTime::from(updated))
    .authors(vec![author])
    .links(vec![
        link(
            meta.url(&feed_path(digest)),
            "self",
            Format::Atom.media_type(),
        ),
        link(meta.url(&archive_path(digest)), "alternate", "text/html"),
    ])
    .entries(entries);
    atom::write(feed)
}

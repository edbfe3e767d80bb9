//! Every feed of the fixture stores, read back by real parsers: feed-rs for all
//! three formats, plus the rss and atom_syndication readers and serde_json for the
//! format-specific requirements. Snapshots pin the exact output.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, Datelike};
use common::{builder, fixtures, library, meta, site};
use crier::feeds::{Format, Scope};
use crier::site::Site;
use crier::templates::TemplateError;

fn text(site: &Site, path: &str) -> String {
    String::from_utf8(
        site.get(path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .body
            .to_vec(),
    )
    .unwrap()
}

/// The XML indented two spaces an element, for snapshots a reviewer can read; the
/// feeds themselves are served compact. Text and CDATA are copied untouched, and an
/// entity reference stays in its text so that no line break is put inside one.
fn pretty_xml(xml: &str) -> String {
    use quick_xml::events::{BytesText, Event};
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        let event = match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::GeneralRef(name) => {
                Event::Text(BytesText::from_escaped(format!("&{};", &*name)))
            }
            event => event,
        };
        writer.write_event(event).expect("writing to a Vec");
    }
    String::from_utf8(writer.into_inner()).expect("UTF-8 in, UTF-8 out")
}

#[test]
fn every_feed_parses_with_feed_rs_and_has_the_expected_entries() {
    let site = site(&fixtures("valid"));
    let library = Arc::clone(site.library());
    let scopes = Scope::all(&library);
    // Site + 20 audiences + 6 categories.
    assert_eq!(scopes.len(), 1 + 20 + library.categories().len());
    for scope in &scopes {
        let expected: Vec<String> = scope
            .entries(&library, 50)
            .iter()
            .map(|a| a.title.clone())
            .collect();
        for format in Format::ALL {
            let path = scope.path(format);
            let body = &site
                .get(&path)
                .unwrap_or_else(|| panic!("{path} missing"))
                .body;
            let feed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
            let titles: Vec<String> = feed
                .entries
                .iter()
                .map(|e| e.title.as_ref().unwrap().content.clone())
                .collect();
            assert_eq!(titles, expected, "{path}");
            for entry in &feed.entries {
                assert!(
                    entry.id.starts_with("tag:news.example.test,2026-"),
                    "{path}: {}",
                    entry.id
                );
                assert!(
                    entry
                        .content
                        .as_ref()
                        .and_then(|c| c.body.as_ref())
                        .is_some(),
                    "{path}: no content"
                );
                assert!(
                    entry.links[0]
                        .href
                        .starts_with("https://news.example.test/articles/")
                );
            }
        }
    }
    // An audience without articles still has its three feeds, empty.
    let empty = Scope::Audience {
        slug: "students".into(),
    };
    assert!(empty.entries(&library, 50).is_empty());
    let feed =
        feed_rs::parser::parse(&site.get(&empty.path(Format::Atom)).unwrap().body[..]).unwrap();
    assert!(feed.entries.is_empty());
    // Category slugs fold case and spaces.
    assert!(site.get("categories/deep-dive/feed.xml").is_some());
}

#[test]
fn rss_meets_the_spec_and_best_practice() {
    let site = site(&fixtures("valid"));
    let xml = text(&site, "feed.xml");
    let channel = rss::Channel::read_from(xml.as_bytes()).unwrap();
    assert_eq!(channel.title(), "Fixture News");
    assert_eq!(channel.link(), "https://news.example.test/");
    assert_eq!(channel.description(), "Briefs for tests.");
    let self_link = &channel.atom_ext().unwrap().links()[0];
    assert_eq!(self_link.rel(), "self");
    assert_eq!(self_link.href(), "https://news.example.test/feed.xml");
    assert_eq!(self_link.mime_type(), Some("application/rss+xml"));
    // lastBuildDate is the newest entry's time, not the time of the build.
    assert_eq!(
        channel.last_build_date(),
        Some("Wed, 18 Nov 2026 05:35:42 +0000")
    );
    for item in channel.items() {
        let guid = item.guid().unwrap();
        assert!(!guid.is_permalink());
        assert!(guid.value().starts_with("tag:"));
        let date = DateTime::parse_from_rfc2822(item.pub_date().unwrap()).unwrap();
        let weekday = item.pub_date().unwrap()[..3].to_string();
        assert_eq!(
            weekday,
            date.weekday().to_string(),
            "weekday agrees with the date"
        );
        assert!(item.content().unwrap().contains("<h2>"));
        assert_eq!(item.dublin_core_ext().unwrap().creators(), ["Fixture Desk"]);
        assert_eq!(item.author(), Some("desk@news.example.test (Fixture Desk)"));
    }
    let seed = channel.items().iter().find(|i| i.title() == Some("Brightline Logistics swaps its dispatch desk for a routing model, keeps two planners")).unwrap();
    let categories: Vec<&str> = seed.categories().iter().map(|c| c.name()).collect();
    assert_eq!(
        categories,
        [
            "Impact",
            "Brightline",
            "Customer service",
            "HR teams",
            "Operations leaders"
        ]
    );
    assert_eq!(
        seed.description(),
        Some(
            "Brightline moved route planning for 140 vans to a model trained on five years of delivery logs."
        )
    );
    assert_eq!(
        seed.guid().unwrap().value(),
        "tag:news.example.test,2026-06-02:articles/seed-layout"
    );
}

#[test]
fn atom_meets_the_spec() {
    let site = site(&fixtures("valid"));
    let feed =
        atom_syndication::Feed::read_from(text(&site, "audiences/security/atom.xml").as_bytes())
            .unwrap();
    assert_eq!(
        feed.id(),
        "tag:news.example.test,2026-01-01:feeds/audiences/security"
    );
    assert_eq!(feed.title().as_str(), "Fixture News · Security teams");
    assert_eq!(feed.authors()[0].name(), "Fixture Desk");
    assert_eq!(feed.authors()[0].email(), Some("desk@news.example.test"));
    let self_link = feed.links().iter().find(|l| l.rel() == "self").unwrap();
    assert_eq!(
        self_link.href(),
        "https://news.example.test/audiences/security/atom.xml"
    );
    let alternate = feed
        .links()
        .iter()
        .find(|l| l.rel() == "alternate")
        .unwrap();
    assert_eq!(
        alternate.href(),
        "https://news.example.test/audiences/security/"
    );
    assert_eq!(alternate.mime_type(), Some("text/html"));
    assert_eq!(feed.entries().len(), 2);
    for entry in feed.entries() {
        assert!(entry.id().starts_with("tag:"));
        assert_eq!(entry.content().unwrap().content_type(), Some("html"));
        assert!(entry.updated() >= entry.published().unwrap());
        // A summary of the content's type, so that readers which pick a text/plain
        // part (rss2email) take the full content, and an author of its own.
        assert_eq!(
            entry.summary().unwrap().r#type,
            atom_syndication::TextType::Html
        );
        assert_eq!(entry.authors().len(), 1);
        assert_eq!(entry.authors()[0].name(), "Fixture Desk");
    }
    // updated is last verified when that is later than published.
    let quillon = feed
        .entries()
        .iter()
        .find(|e| e.title().as_str().starts_with("Quillon"))
        .unwrap();
    // Its time of day comes from its id and its text (see the tests of unique times
    // and of edits below).
    assert_eq!(quillon.updated().to_rfc3339(), "2026-10-02T15:45:15+00:00");
    assert_eq!(
        quillon.published().unwrap().to_rfc3339(),
        "2026-09-30T00:00:00+00:00"
    );
}

/// Every feed links the page it stands for (the home page for the site's, the
/// audience's or category's page for theirs), and that page is in the site; the ids
/// stay what they were, so readers see no new feed.
#[test]
fn feeds_link_their_own_pages() {
    let site = site(&fixtures("valid"));
    let base = "https://news.example.test/";
    for scope in Scope::all(site.library()) {
        let page = format!("{base}{}", scope.dir());
        assert!(site.get(&scope.dir()).is_some(), "no page at {page}");
        let rss =
            rss::Channel::read_from(text(&site, &scope.path(Format::Rss)).as_bytes()).unwrap();
        assert_eq!(rss.link(), page);
        let atom =
            atom_syndication::Feed::read_from(text(&site, &scope.path(Format::Atom)).as_bytes())
                .unwrap();
        let alternates: Vec<&str> = atom
            .links()
            .iter()
            .filter(|l| l.rel() == "alternate")
            .map(|l| l.href())
            .collect();
        assert_eq!(alternates, [page.as_str()]);
        let key = match &scope {
            Scope::Site => "feeds/site".to_string(),
            Scope::Audience { slug } => format!("feeds/audiences/{slug}"),
            Scope::Category { slug } => format!("feeds/categories/{slug}"),
        };
        assert_eq!(atom.id(), format!("tag:news.example.test,2026-01-01:{key}"));
        let json: serde_json::Value =
            serde_json::from_str(&text(&site, &scope.path(Format::Json))).unwrap();
        assert_eq!(json["home_page_url"], page.as_str());
    }
}

#[test]
fn json_feed_meets_the_spec() {
    let site = site(&fixtures("valid"));
    let doc: serde_json::Value =
        serde_json::from_str(&text(&site, "categories/release/feed.json")).unwrap();
    assert_eq!(doc["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(
        doc["feed_url"],
        "https://news.example.test/categories/release/feed.json"
    );
    // A category's feeds stand for the category's page, not the home page.
    assert_eq!(
        doc["home_page_url"],
        "https://news.example.test/categories/release/"
    );
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0]["id"].is_string());
    assert!(items[0]["content_html"].as_str().unwrap().contains("<li>"));
    assert_eq!(items[0]["date_published"], "2026-08-11T00:00:00Z");
    assert_eq!(items[0]["date_modified"], "2026-08-30T05:58:35Z");
}

#[test]
fn hostile_text_gives_well_formed_sanitised_feeds() {
    let site = site(&fixtures("hostile"));
    for format in Format::ALL {
        let body = &site.get(Format::file_name(format)).unwrap().body;
        let feed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(feed.entries.len(), 2);
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && !"\t\n\r".contains(c)),
            "{format:?}: control character"
        );
        if format == Format::Json {
            // JSON Feed's title and summary are plain text; only content_html is HTML.
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            for item in doc["items"].as_array().unwrap() {
                let html = item["content_html"].as_str().unwrap();
                assert!(
                    !html.contains("<script")
                        && !html.contains("javascript:")
                        && !html.contains("onclick"),
                    "{html}"
                );
            }
        } else {
            // In XML every text field is escaped or CDATA-wrapped HTML-escaped text.
            assert!(!text.contains("<script"), "{format:?}");
            assert!(!text.contains("javascript:"), "{format:?}");
            assert!(!text.contains("onclick"), "{format:?}");
        }
        let titles: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.title.clone().unwrap().content)
            .collect();
        assert!(
            titles.contains(&"Tom & Jerry's <b>\"quoted\"</b> ]]> title  with a bell".to_string()),
            "{titles:?}"
        );
        let md = feed
            .entries
            .iter()
            .find(|e| e.title.as_ref().unwrap().content.starts_with("Markdown"))
            .unwrap();
        let html = md.content.as_ref().unwrap().body.clone().unwrap();
        assert!(
            html.contains("https://news.example.test/guides/start?x=1&amp;y=2")
                || html.contains("https://news.example.test/guides/start?x=1&y=2"),
            "{html}"
        );
        assert!(
            html.contains("https://news.example.test/charts/q1.png"),
            "{html}"
        );
        assert!(!html.contains("<iframe"), "{html}");
    }
    let atom = String::from_utf8(site.get("atom.xml").unwrap().body.to_vec()).unwrap();
    assert!(!atom.contains("href=\"/"), "relative link left in {atom}");
}

#[test]
fn rebuilding_unchanged_articles_gives_identical_bytes() {
    let first = builder(meta())
        .build(library(&fixtures("valid")), SystemTime::UNIX_EPOCH)
        .unwrap();
    let second = builder(meta())
        .build(library(&fixtures("valid")), SystemTime::now())
        .unwrap();
    assert_eq!(first.paths(), second.paths());
    for path in first.paths() {
        assert_eq!(
            first.get(path).unwrap().body,
            second.get(path).unwrap().body,
            "{path}"
        );
        assert_eq!(
            first.get(path).unwrap().etag(),
            second.get(path).unwrap().etag(),
            "{path}"
        );
    }
}

#[test]
fn an_export_hands_over_the_bytes_of_a_build() {
    let library = library(&fixtures("valid"));
    let built = builder(meta())
        .build(Arc::clone(&library), SystemTime::UNIX_EPOCH)
        .unwrap();
    let seen = Mutex::new(BTreeMap::new());
    let count = builder(meta())
        .export::<_, TemplateError>(&library, || {
            |path: &str, body: &[u8]| {
                let before = seen.lock().unwrap().insert(path.to_string(), body.to_vec());
                assert!(before.is_none(), "{path} handed over twice");
                Ok(())
            }
        })
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(count, built.len());
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        built.paths()
    );
    for path in built.paths() {
        assert_eq!(seen[path], built.get(path).unwrap().body, "{path}");
    }
}

/// An update keeps every document whose bytes did not change (the same version, with
/// its ETag and Last-Modified) and reports the feeds whose bytes did.
#[test]
fn updates_keep_unchanged_documents_and_name_changed_feeds() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures("valid")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let builder = builder(meta());
    // Rendered after the articles' dates, as the daemon is: a document's date is its
    // newest article's, held back only to the time of rendering.
    let old = builder
        .build(library(dir.path()), SystemTime::now())
        .unwrap();

    // Read again: new articles with the same text render the same bytes.
    let (same, changes) = builder
        .update(&old, library(dir.path()), SystemTime::now())
        .unwrap();
    assert!(changes.rendered > 0);
    assert!(changes.feeds.is_empty(), "{:?}", changes.feeds);
    for path in old.paths() {
        assert!(
            Arc::ptr_eq(old.get(path).unwrap(), same.get(path).unwrap()),
            "{path} was replaced"
        );
    }

    // One title edited: its page and the feeds that list it change, nothing else.
    let file = dir.path().join("seed-layout.txt");
    let text = std::fs::read_to_string(&file).unwrap();
    let title = text.lines().nth(1).unwrap().to_string();
    std::fs::write(&file, text.replacen(&title, "An edited title", 1)).unwrap();
    let edited = library(dir.path());
    let (new, changes) = builder
        .update(&same, Arc::clone(&edited), SystemTime::now())
        .unwrap();
    let slug = &edited
        .articles()
        .iter()
        .find(|a| a.title == "An edited title")
        .unwrap()
        .slug;
    let page = format!("articles/{slug}");
    assert_ne!(new.get(&page).unwrap().body, same.get(&page).unwrap().body);
    assert_ne!(
        new.get(&page).unwrap().etag(),
        same.get(&page).unwrap().etag()
    );
    assert!(
        changes.feeds.contains(&"feed.xml".to_string()),
        "{:?}",
        changes.feeds
    );
    for path in same.paths() {
        let unchanged = same.get(path).unwrap().body == new.get(path).unwrap().body;
        assert_eq!(
            Arc::ptr_eq(same.get(path).unwrap(), new.get(path).unwrap()),
            unchanged,
            "{path}"
        );
        let feed = path.ends_with(".xml") || path.ends_with(".json");
        assert_eq!(
            feed && !unchanged,
            changes.feeds.contains(&path.to_string()),
            "{path}"
        );
    }
}

#[test]
fn ids_do_not_depend_on_the_base_url() {
    let mut moved = meta();
    moved.base_url = url::Url::parse("https://elsewhere.example/news/").unwrap();
    let a = builder(meta())
        .build(library(&fixtures("valid")), SystemTime::UNIX_EPOCH)
        .unwrap();
    let b = builder(moved)
        .build(library(&fixtures("valid")), SystemTime::UNIX_EPOCH)
        .unwrap();
    let ids = |s: &Site| -> Vec<String> {
        feed_rs::parser::parse(&s.get("atom.xml").unwrap().body[..])
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    let feed = feed_rs::parser::parse(&b.get("feed.json").unwrap().body[..]).unwrap();
    assert!(
        feed.entries[0].links[0]
            .href
            .starts_with("https://elsewhere.example/news/articles/")
    );
}

#[test]
fn snapshots_of_the_three_formats() {
    let site = site(&fixtures("valid"));
    insta::assert_snapshot!("site_rss", pretty_xml(&text(&site, "feed.xml")));
    insta::assert_snapshot!("site_atom", pretty_xml(&text(&site, "atom.xml")));
    insta::assert_snapshot!("site_json", text(&site, "feed.json"));
    // An audience's feeds link its page.
    insta::assert_snapshot!(
        "audience_atom",
        pretty_xml(&text(&site, "audiences/security/atom.xml"))
    );
}

/// A store of `n` Markdown articles all published on one day; every third has no
/// "What's actually new", so no summary.
fn same_day_store(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        let new = if i % 3 == 0 {
            String::new()
        } else {
            format!("## What's actually new\n\n- Point {i}.\n\n")
        };
        let body = format!(
            "+++\ntitle = \"Article {i}\"\ndate = 2026-03-04\nsubject = \"S\"\ncategory = \"C\"\n+++\n\
             An <em>intro</em> &amp; a lede for {i}, {}\n\n{new}## Honest take\n\nFine.\n",
            "with many words ".repeat(30)
        );
        std::fs::write(dir.path().join(format!("a{i:02}.md")), body).unwrap();
    }
    dir
}

#[test]
fn every_item_has_a_description_before_its_content() {
    let store = same_day_store(6);
    let site = site(store.path());
    let xml = text(&site, "feed.xml");
    let channel = rss::Channel::read_from(xml.as_bytes()).unwrap();
    assert_eq!(channel.items().len(), 6);
    for item in channel.items() {
        let description = item.description().unwrap_or_else(|| panic!("{xml}"));
        if item.title() == Some("Article 3") {
            // No summary: the start of the text, as plain text, cut at a word.
            assert!(
                // HTML-escaped once, as the summary is.
                description.starts_with("An intro &amp; a lede for 3, with many words"),
                "{description}"
            );
            assert!(description.ends_with("words…"), "{description}");
        } else if item.title() == Some("Article 4") {
            assert_eq!(description, "Point 4.");
        }
    }
    for item in xml.split("<item>").skip(1) {
        let description = item.find("<description>").unwrap();
        let content = item.find("<content:encoded>").unwrap();
        assert!(
            description < content,
            "the validator wants description first: {item}"
        );
    }
    let doc: serde_json::Value = serde_json::from_str(&text(&site, "feed.json")).unwrap();
    for item in doc["items"].as_array().unwrap() {
        assert!(!item["summary"].as_str().unwrap().is_empty(), "{item}");
    }
    let atom = atom_syndication::Feed::read_from(text(&site, "atom.xml").as_bytes()).unwrap();
    assert!(atom.entries().iter().all(|e| e.summary().is_some()));
}

#[test]
fn no_two_atom_entries_share_updated() {
    let store = same_day_store(60);
    let site = site(store.path());
    let atom = atom_syndication::Feed::read_from(text(&site, "atom.xml").as_bytes()).unwrap();
    assert_eq!(atom.entries().len(), 50);
    let mut times: Vec<_> = atom.entries().iter().map(|e| *e.updated()).collect();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), 50, "entries share an updated time");
    // Every entry stays on its day, and the feed's updated is its newest entry's.
    assert!(
        times
            .iter()
            .all(|t| t.date_naive().to_string() == "2026-03-04")
    );
    assert_eq!(atom.updated(), times.last().unwrap());
}

/// The entries of a site's Atom feed and its JSON Feed, by title: (id, Atom
/// `updated`, JSON Feed `id`, `date_modified`).
fn entry_dates(site: &Site) -> BTreeMap<String, (String, String, String, String)> {
    let atom = atom_syndication::Feed::read_from(text(site, "atom.xml").as_bytes()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text(site, "feed.json")).unwrap();
    atom.entries()
        .iter()
        .map(|e| {
            let item = json["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["title"] == e.title().as_str())
                .unwrap();
            (
                e.title().to_string(),
                (
                    e.id().to_string(),
                    e.updated().to_rfc3339(),
                    item["id"].as_str().unwrap().to_string(),
                    item["date_modified"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// An edited article's Atom `updated` and JSON Feed `date_modified` move; its id
/// does not, and no other entry changes. What moves them is the
/// article's content, not the file's time: a copy of the store with other
/// modification times gives the same bytes, as several instances must.
#[test]
fn an_edit_moves_updated_and_keeps_the_id() {
    let store = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures("valid")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, store.path().join(path.file_name().unwrap())).unwrap();
    }
    let before = site(store.path());
    let dates = entry_dates(&before);
    assert!(dates.len() >= 3, "{dates:?}");

    // The same articles, written again a day later: the same bytes.
    let file = store.path().join("bom-and-blank-lines.txt");
    let brief = std::fs::read_to_string(&file).unwrap();
    let later = SystemTime::now() + std::time::Duration::from_secs(86_400);
    std::fs::write(&file, &brief).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let touched = site(store.path());
    for path in ["atom.xml", "feed.json", "feed.xml"] {
        assert_eq!(text(&before, path), text(&touched, path), "{path}");
    }

    // An edit of the text, with no new "Last verified" date.
    let edited_text = brief.replace(
        "The fix ships to every tenant this week.",
        "The fix ships to every tenant this week, and to on-premises installs next month.",
    );
    assert_ne!(edited_text, brief);
    std::fs::write(&file, &edited_text).unwrap();
    let edited = site(store.path());
    let after = entry_dates(&edited);
    assert_eq!(after.len(), dates.len());
    let title = "Quillon fixes a prompt-injection hole in its mail assistant";
    for (name, (id, updated, json_id, modified)) in &dates {
        let (new_id, new_updated, new_json_id, new_modified) = &after[name];
        assert_eq!((id, json_id), (new_id, new_json_id), "{name}: ids stay");
        if name == title {
            assert_ne!(updated, new_updated, "{name}: Atom updated moves");
            assert_ne!(modified, new_modified, "{name}: date_modified moves");
            // Still on the day it was last verified, never before published.
            assert!(new_updated.starts_with("2026-10-02T"), "{new_updated}");
        } else {
            assert_eq!((updated, modified), (new_updated, new_modified), "{name}");
        }
    }
    assert!(dates.contains_key(title), "{dates:?}");
}

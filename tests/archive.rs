//! The public archive of digest editions, over HTTP: a real digest run to named
//! subscribers in two time zones writes one edition; its page, the digest's list of
//! editions (paged), the archive's index and the Atom feed of editions are served
//! with validators, 304s and compression; nothing about the readers appears in any
//! of them; a digest with `archive = false` has none; and the "View in browser" link
//! of a real email leads to its edition's page.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{SECRET, call, current, fixtures, library, meta};
use crier::clock::FixedClock;
use crier::config::Digest;
use crier::digests::Digests;
use crier::http::{AppState, router};
use crier::model::{Edition, EditionArticle};
use crier::site::{Archive, Builder};
use crier::store::Store;
use crier::subscriptions::{Request, Subscriptions};
use crier::templates::Templates;

/// An article whose "Who should care" names no audience of the demo taxonomy.
const UNMATCHED: &str = "Fernhill·2026·11·20·Impact·2 min read
Fernhill paints its delivery vans with a solar coating
honest take
A small saving, and a nice colour.
WHAT'S ACTUALLY NEW
- Every van in the fleet gets the coating by March.
who should care
- Anyone who likes the colour green.
";

fn digest(name: &str, archive: bool) -> Digest {
    Digest {
        name: name.into(),
        // Paris fires at 06:00Z, New York at 12:00Z: both are sent at 13:00Z.
        max_lateness: Duration::hours(24),
        archive,
        ..common::weekly_digest()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    subscriptions: Subscriptions,
    digests: Digests,
    clock: Arc<FixedClock>,
}

/// The valid fixtures and one article that matches no audience, in a new store;
/// `weekly` is archived, `daily` (here also on Mondays) is not.
async fn setup(now: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let articles = dir.path().join("articles");
    std::fs::create_dir(&articles).unwrap();
    for entry in std::fs::read_dir(fixtures("valid")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, articles.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(articles.join("fernhill-vans.txt"), UNMATCHED).unwrap();
    let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
    let now: DateTime<Utc> = now.parse().unwrap();
    let clock = Arc::new(FixedClock::new(now));
    let templates = Arc::new(Templates::embedded());
    let current = current(library(&articles));
    let subscriptions = Subscriptions::new(
        store.clone(),
        crier::tokens::Signer::new(SECRET),
        Arc::clone(&templates),
        clock.clone(),
        current.clone(),
        common::subscription_settings(),
    );
    let digests = Digests::new(
        subscriptions.clone(),
        templates,
        current,
        vec![digest("weekly", true), digest("daily", false)],
        clock.clone(),
        "news@news.example.test".into(),
        None,
    );
    Setup {
        _dir: dir,
        store,
        subscriptions,
        digests,
        clock,
    }
}

async fn add(s: &Setup, email: &str, name: &str, audiences: &[&str], zone: &str, digest: &str) {
    let request = Request {
        email: email.into(),
        name: Some(name.into()),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        frequency: Some(digest.into()),
        timezone: Some(zone.into()),
        ..Request::default()
    };
    s.subscriptions.add(&request, true).await.unwrap();
}

async fn run(s: &Setup, name: &str) -> crier::digests::RunReport {
    let digest = s.digests.digest(name).unwrap().clone();
    s.digests
        .run(&digest, s.clock.now_utc(), |_| {})
        .await
        .unwrap()
}

fn builder() -> Builder {
    Builder::new(meta(), Arc::new(Templates::embedded()))
}

/// The router of the fixture site with `archive` under `/archive/`.
fn serve(archive: Archive) -> axum::Router {
    let (_site_tx, site) = tokio::sync::watch::channel(Arc::new(common::site(&fixtures("valid"))));
    std::mem::forget(_site_tx);
    let (_archive_tx, archive) = tokio::sync::watch::channel(Arc::new(archive));
    std::mem::forget(_archive_tx);
    router(AppState {
        archive: Some(archive),
        site,
        max_age: 60,
        hub: None,
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        people: None,
        ops: None,
        console: None,
        page_styles: Templates::embedded().page_styles().to_vec(),
    })
}

async fn archive_of(store: &Store, digests: &[&str]) -> Archive {
    let editions = store.editions().await.unwrap();
    let digests: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
    builder()
        .archive(
            &digests,
            &editions,
            &Archive::default(),
            common::render_time(),
        )
        .unwrap()
}

async fn get(router: &axum::Router, path: &str) -> (u16, String) {
    let (status, _, body) = call(router, "GET", path, &[], axum::body::Body::empty()).await;
    (status.as_u16(), String::from_utf8(body).unwrap())
}

/// Readers in Paris and New York get the same Monday's weekly digest at 06:00Z and
/// 12:00Z, in two runs: one edition, which both runs wrote to.
async fn two_zones() -> Setup {
    let s = setup("2026-11-23T08:00:00Z").await;
    add(
        &s,
        "paris.reader@example.org",
        "Amélie Quellwood",
        &["security"],
        "Europe/Paris",
        "weekly",
    )
    .await;
    add(
        &s,
        "ny.reader@example.org",
        "Bartholomew Zink",
        &["finance", "developers"],
        "America/New_York",
        "weekly",
    )
    .await;
    add(
        &s,
        "all.reader@example.org",
        "Cosima Everywhere",
        &["everything"],
        "Europe/Paris",
        "weekly",
    )
    .await;
    let first = run(&s, "weekly").await;
    assert_eq!(
        first.queued, 2,
        "Paris only: New York's 07:00 is hours away"
    );
    s.clock.set(s.clock.now_utc() + Duration::hours(5));
    let second = run(&s, "weekly").await;
    assert_eq!(second.queued, 1, "New York now");
    s
}

#[tokio::test]
async fn time_zones_and_runs_of_one_day_make_one_edition() {
    let s = two_zones().await;
    let editions = s.store.editions().await.unwrap();
    assert_eq!(editions.len(), 1, "{editions:#?}");
    let edition = &editions[0];
    assert_eq!(edition.digest, "weekly");
    assert_eq!(edition.date, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert_eq!(
        edition.period_start,
        "2026-11-23T06:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(
        edition.period_end,
        "2026-11-23T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(
        edition.queued_at,
        "2026-11-23T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let audiences: std::collections::BTreeSet<&str> = edition
        .articles
        .iter()
        .map(|a| a.audience.as_str())
        .collect();
    for expected in ["security", "developers", "everything"] {
        assert!(audiences.contains(expected), "{audiences:?}");
    }
    // Running again adds nothing and doubles nothing.
    let again = run(&s, "weekly").await;
    assert_eq!(again.queued, 0);
    assert_eq!(s.store.editions().await.unwrap(), editions);
}

#[tokio::test]
async fn an_edition_page_lists_what_it_carried_and_nothing_personal() {
    let s = two_zones().await;
    let router = serve(archive_of(&s.store, &["weekly"]).await);

    let (status, page) = get(&router, "/archive/weekly/2026-11-23/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Weekly digest</h1>"), "{page}");
    assert!(page.contains("Monday 23 November 2026"), "{page}");
    // Grouped by audience in the taxonomy's order, the unmatched article under More, last.
    let developers = page
        .find("<h2>Software developers</h2>")
        .expect("developers");
    let security = page.find("<h2>Security teams</h2>").expect("security");
    let more = page.find("<h2>More</h2>").expect("More group");
    assert!(developers < security && security < more, "{page}");
    assert_eq!(page.matches("<h2>More</h2>").count(), 1);
    assert!(page.contains("Fernhill paints its delivery vans"), "{page}");
    assert!(
        page.contains("href=\"https://news.example.test/articles/"),
        "{page}"
    );
    assert!(page.contains(
        "<link rel=\"canonical\" href=\"https://news.example.test/archive/weekly/2026-11-23/\">"
    ));
    assert!(
        page.contains("type=\"application/atom+xml\""),
        "the feed is announced"
    );

    // Every archive document, checked against what each reader's messages carry.
    let mut personal: Vec<String> = Vec::new();
    let rows = s
        .store
        .claim_due(s.clock.now_utc(), 300, 100, None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        personal.push(row.recipient.clone());
        let vars: serde_json::Value = serde_json::from_str(&row.vars).unwrap();
        for key in ["unsubscribe_url", "preferences_url"] {
            let url = vars[key].as_str().unwrap();
            let token = url.split("token=").nth(1).expect("a token");
            personal.push(token.to_string());
            personal.push(url.to_string());
        }
    }
    personal.extend(
        [
            "Amélie",
            "Quellwood",
            "Bartholomew",
            "Zink",
            "Cosima",
            "paris.reader",
            "ny.reader",
            "example.org",
        ]
        .map(String::from),
    );
    let archive = archive_of(&s.store, &["weekly"]).await;
    assert!(archive.len() >= 4, "{:?}", archive.paths());
    for path in archive.paths() {
        let body = String::from_utf8(archive.get(path).unwrap().body.to_vec()).unwrap();
        for secret in &personal {
            assert!(!body.contains(secret.as_str()), "{path} shows {secret}");
        }
        assert!(!body.contains("unsubscribe"), "{path} links an unsubscribe");
        assert!(!body.contains("subscribers"), "{path} counts subscribers");
    }
}

#[tokio::test]
async fn the_view_in_browser_link_of_a_real_email_opens_its_edition() {
    let s = two_zones().await;
    let router = serve(archive_of(&s.store, &["weekly"]).await);
    let rows = s
        .store
        .claim_due(s.clock.now_utc(), 300, 100, None)
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for row in rows {
        let content = s.store.content(row.content_id).await.unwrap().unwrap();
        let html_link = content
            .html
            .split("href=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .zip(content.html.split("href=\"").skip(1).map(|rest| {
                let end = rest.find("</a>").unwrap();
                &rest[..end]
            }))
            .find(|(_, inner)| inner.ends_with(">View in browser"))
            .map(|(url, _)| url.to_string())
            .expect("a View in browser link in the HTML part");
        let text_link = content
            .text
            .lines()
            .find_map(|l| l.strip_prefix("View in browser: "))
            .expect("a View in browser link in the text part")
            .to_string();
        assert_eq!(html_link, text_link);
        assert_eq!(
            html_link,
            "https://news.example.test/archive/weekly/2026-11-23/"
        );
        // The same link for every reader: frozen in the shared body, no marker in it.
        assert!(!html_link.contains('?') && !html_link.contains("\u{1}"));
        let path = html_link.strip_prefix("https://news.example.test").unwrap();
        let (status, page) = get(&router, path).await;
        assert_eq!(status, 200, "{page}");
        // The page lists what this email listed.
        let listed: Vec<&str> = content
            .text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("https://news.example.test/articles/"))
            .collect();
        assert!(!listed.is_empty());
        for slug in listed {
            assert!(
                page.contains(&format!("https://news.example.test/articles/{slug}\"")),
                "{slug} is not on {path}"
            );
        }
        // Everything's reader got each article under its first audience, naming the
        // others: so does the page.
        if row.recipient.starts_with("all.") {
            let names: Vec<&str> = content
                .html
                .split("also for ")
                .skip(1)
                .map(|rest| &rest[..rest.find("</p>").unwrap()])
                .collect();
            assert!(!names.is_empty(), "{}", content.html);
            for also in names {
                assert!(
                    page.contains(&format!("also for {also}</div>")),
                    "also for {also} is not on {path}"
                );
            }
        }
        seen.insert(row.recipient);
    }
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn a_digest_that_opts_out_has_no_archive_and_no_link() {
    let s = setup("2026-11-23T08:00:00Z").await;
    add(
        &s,
        "daily.reader@example.org",
        "Dana Daily",
        &["security"],
        "Europe/Paris",
        "daily",
    )
    .await;
    let report = run(&s, "daily").await;
    assert_eq!(report.queued, 1);
    assert!(
        s.store.editions().await.unwrap().is_empty(),
        "nothing written for it"
    );
    let rows = s
        .store
        .claim_due(s.clock.now_utc(), 300, 100, None)
        .await
        .unwrap();
    let content = s.store.content(rows[0].content_id).await.unwrap().unwrap();
    assert!(!content.html.contains("View in browser"));
    assert!(!content.text.contains("View in browser"));
    assert!(!content.html.contains("/archive/"));

    // Editions of a digest that is not archived (any more) are not published either.
    record(&s.store, &edition("daily", 2026, 11, 2, 1)).await;
    let router = serve(archive_of(&s.store, &["weekly"]).await);
    let (status, _) = get(&router, "/archive/daily/").await;
    assert_eq!(status, 404);
    let (status, _) = get(&router, "/archive/daily/2026-11-02/").await;
    assert_eq!(status, 404);
    let (status, index) = get(&router, "/archive/").await;
    assert_eq!(status, 200);
    assert!(
        index.contains("Weekly digest") && !index.contains("Daily digest"),
        "{index}"
    );
}

/// An edition of `digest` on that day with `n` articles for HR teams.
fn edition(digest: &str, y: i32, m: u32, d: u32, n: usize) -> Edition {
    edition_on(digest, NaiveDate::from_ymd_opt(y, m, d).unwrap(), n)
}

fn edition_on(digest: &str, date: NaiveDate, n: usize) -> Edition {
    let at = date.and_hms_opt(7, 0, 0).unwrap().and_utc();
    Edition {
        digest: digest.into(),
        date,
        period_start: at,
        period_end: at,
        queued_at: at,
        articles: (0..n)
            .map(|i| EditionArticle {
                audience: "hr".into(),
                audience_name: "HR teams".into(),
                audience_rank: 2,
                slug: format!("brief-{date}-{i}"),
                title: format!("Brief {i} of {date}"),
                url: format!("https://news.example.test/articles/brief-{date}-{i}"),
                published: date.to_string(),
                summary: None,
                category: "Impact".into(),
                subject: "Subject".into(),
                reading_minutes: 2,
                also: Vec::new(),
            })
            .collect(),
    }
}

/// Records one edition in a queueing transaction of its own, as a digest run does.
async fn record(store: &Store, edition: &Edition) {
    let ids = crier::model::MessageIds::new("news.example.test", common::SECRET);
    let mut queue = store.queue(&ids, Utc::now()).await.unwrap();
    queue.record_edition(edition).await.unwrap();
    queue.commit().await.unwrap();
}

/// 45 weekly editions, written as runs write them.
async fn many_editions() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
    let mut queue = store
        .queue(
            &crier::model::MessageIds::new("news.example.test", common::SECRET),
            Utc::now(),
        )
        .await
        .unwrap();
    let first = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    for week in 0..45 {
        let date = first + Duration::weeks(week);
        queue
            .record_edition(&edition_on("weekly", date, 2))
            .await
            .unwrap();
    }
    queue.commit().await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn the_list_of_editions_is_paged_newest_first() {
    let (_dir, store) = many_editions().await;
    let router = serve(archive_of(&store, &["weekly"]).await);
    let (status, page1) = get(&router, "/archive/weekly/").await;
    assert_eq!(status, 200);
    assert!(page1.contains("Page 1 of 3, 45 editions in all"), "{page1}");
    // The newest (2026-11-09) first, and 20 to a page.
    let first = page1.find("/archive/weekly/2026-11-09/").expect("newest");
    let second = page1.find("/archive/weekly/2026-11-02/").expect("next");
    assert!(first < second);
    assert_eq!(page1.matches("<li>").count(), 20);
    assert!(
        page1.contains("href=\"https://news.example.test/archive/weekly/page/2/\" rel=\"next\"")
    );
    let (status, page3) = get(&router, "/archive/weekly/page/3/").await;
    assert_eq!(status, 200);
    assert_eq!(page3.matches("<li>").count(), 5);
    assert!(
        page3.contains("/archive/weekly/2026-01-05/"),
        "the oldest is last"
    );
    assert!(
        page3.contains("href=\"https://news.example.test/archive/weekly/page/2/\" rel=\"prev\"")
    );
    let (status, _) = get(&router, "/archive/weekly/page/4/").await;
    assert_eq!(status, 404);
    // An edition links its neighbours.
    let (_, middle) = get(&router, "/archive/weekly/2026-06-01/").await;
    assert!(
        middle.contains("/archive/weekly/2026-06-08/\" rel=\"prev\""),
        "{middle}"
    );
    assert!(
        middle.contains("/archive/weekly/2026-05-25/\" rel=\"next\""),
        "{middle}"
    );
    // Without the slash, the one canonical URL.
    let (status, headers, _) = call(
        &router,
        "GET",
        "/archive/weekly",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(status.as_u16(), 308);
    assert_eq!(headers["location"], "/archive/weekly/");
}

#[tokio::test]
async fn the_feed_of_editions_parses_and_is_announced() {
    let (_dir, store) = many_editions().await;
    let router = serve(archive_of(&store, &["weekly"]).await);
    let (status, headers, body) = call(
        &router,
        "GET",
        "/archive/weekly/atom.xml",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(
        headers["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let feed = feed_rs::parser::parse(&body[..]).unwrap();
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(feed.entries.len(), 45, "meta().limit is 50");
    let newest = &feed.entries[0];
    assert_eq!(
        newest.links[0].href,
        "https://news.example.test/archive/weekly/2026-11-09/"
    );
    assert!(
        newest
            .title
            .as_ref()
            .unwrap()
            .content
            .contains("Monday 9 November 2026")
    );
    assert_eq!(
        newest.summary.as_ref().unwrap().content,
        "2 briefs for HR teams"
    );
    let content = newest.content.as_ref().unwrap().body.as_ref().unwrap();
    assert!(content.contains("Brief 0 of 2026-11-09"), "{content}");
    let ids: std::collections::HashSet<_> = feed.entries.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), 45, "every entry has its own id");
    // Autodiscovery on the digest's list and the archive's index.
    for path in ["/archive/weekly/", "/archive/"] {
        let (_, page) = get(&router, path).await;
        assert!(
            page.contains("type=\"application/atom+xml\" title=\"Fixture News · Weekly digest archive\" href=\"https://news.example.test/archive/weekly/atom.xml\""),
            "{path}: {page}"
        );
    }
}

#[tokio::test]
async fn archive_documents_answer_304_and_compress() {
    let (_dir, store) = many_editions().await;
    let router = serve(archive_of(&store, &["weekly"]).await);
    for path in [
        "/archive/",
        "/archive/weekly/",
        "/archive/weekly/2026-03-02/",
        "/archive/weekly/atom.xml",
    ] {
        let (status, headers, body) = call(
            &router,
            "GET",
            path,
            &[("accept-encoding", "gzip")],
            axum::body::Body::empty(),
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{path}");
        assert_eq!(headers["content-encoding"], "gzip", "{path}");
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=60")
        );
        let etag = headers["etag"].to_str().unwrap().to_string();
        assert!(etag.ends_with("-gzip\""), "{etag}");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .unwrap();
        assert!(!plain.is_empty());
        let (status, _, body) = call(
            &router,
            "GET",
            path,
            &[("if-none-match", &etag)],
            axum::body::Body::empty(),
        )
        .await;
        assert_eq!(status.as_u16(), 304, "{path}");
        assert!(body.is_empty());
        if path.ends_with('/') {
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("style-src"), "{path}: {csp}");
        }
    }
}

#[tokio::test]
async fn an_unchanged_archive_keeps_its_versions_and_a_new_edition_is_added() {
    let (_dir, store) = many_editions().await;
    let digests = vec!["weekly".to_string()];
    let first = archive_of(&store, &["weekly"]).await;
    let editions = store.editions().await.unwrap();
    let later = common::render_time() + std::time::Duration::from_secs(3600);
    let same = builder()
        .archive(&digests, &editions, &first, later)
        .unwrap();
    for path in first.paths() {
        assert!(
            Arc::ptr_eq(first.get(path).unwrap(), same.get(path).unwrap()),
            "{path}"
        );
    }
    record(&store, &edition("weekly", 2026, 11, 16, 3)).await;
    let editions = store.editions().await.unwrap();
    let next = builder()
        .archive(&digests, &editions, &same, later)
        .unwrap();
    assert!(next.get("archive/weekly/2026-11-16/").is_some());
    // An old edition far from the new one is the same document still.
    let old = "archive/weekly/2026-03-02/";
    assert!(Arc::ptr_eq(same.get(old).unwrap(), next.get(old).unwrap()));
    assert!(!Arc::ptr_eq(
        same.get("archive/weekly/").unwrap(),
        next.get("archive/weekly/").unwrap()
    ));
    // The newest edition before it now links it.
    let neighbour = "archive/weekly/2026-11-09/";
    let body = String::from_utf8(next.get(neighbour).unwrap().body.to_vec()).unwrap();
    assert!(
        body.contains("/archive/weekly/2026-11-16/\" rel=\"prev\""),
        "{body}"
    );
    // A second run on an old edition's day adds to that page alone.
    record(&store, &edition("weekly", 2026, 3, 2, 3)).await;
    let editions = store.editions().await.unwrap();
    let last = builder()
        .archive(&digests, &editions, &next, later)
        .unwrap();
    let body = String::from_utf8(last.get(old).unwrap().body.to_vec()).unwrap();
    assert!(body.contains("Brief 2 of 2026-03-02"), "{body}");
    let untouched = "archive/weekly/2026-06-01/";
    assert!(Arc::ptr_eq(
        next.get(untouched).unwrap(),
        last.get(untouched).unwrap()
    ));
    // And the whole of it is what drawing it afresh gives.
    let fresh = builder()
        .archive(&digests, &editions, &Archive::default(), later)
        .unwrap();
    assert_eq!(fresh.paths(), last.paths());
    for path in fresh.paths() {
        assert_eq!(
            fresh.get(path).unwrap().body,
            last.get(path).unwrap().body,
            "{path}"
        );
    }
}

//! The reader's site beyond the feeds, over the router: audience and category pages
//! (description, articles newest first in pages, feeds and their discovery, a sign-up
//! box), the links to them from articles and the index, "Get this in your inbox",
//! the HTML 404 page, the sign-up form's ticked audiences, and the canonical URLs of
//! the subscriber pages. And that an export holds the same pages as the site.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, header};
use common::{builder, call, fixtures, library, meta, site};
use crier::feeds::{Format, Scope};
use crier::http::{AppState, router};
use crier::site::Site;
use crier::site::listing::{PER_PAGE, page_path};
use crier::templates::{TemplateError, Templates};

const BASE: &str = "https://news.example.test/";

fn app_for(site: Site) -> axum::Router {
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(site));
    std::mem::forget(tx);
    router(AppState {
        archive: None,
        site: rx,
        max_age: 600,
        hub: None,
        base_url: url::Url::parse(BASE).unwrap(),
        people: None,
        ops: None,
        console: None,
        page_styles: Templates::embedded().page_styles().to_vec(),
    })
}

fn app() -> axum::Router {
    app_for(site(&fixtures("valid")))
}

async fn page(app: &axum::Router, path: &str) -> String {
    let (status, headers, body) = call(app, "GET", path, &[], axum::body::Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    String::from_utf8(body).unwrap()
}

/// The `href`s of the `<a>` elements of `html`, in order.
fn links(html: &str) -> Vec<&str> {
    html.split("<a ")
        .skip(1)
        .filter_map(|a| a.split_once("href=\"").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('"').map(|(href, _)| href))
        .collect()
}

/// A store of `count` briefs for HR teams, a day apart, for paging.
fn hr_store(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..count {
        let day =
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(i as u64);
        let text = format!(
            "Acme · {} · ~2 min read\nBrief number {i:02} for the people team\n\
             What's actually new\n- News.\nWho should care\nHR teams.\n",
            day.format("%Y · %m · %d · Release")
        );
        std::fs::write(dir.path().join(format!("brief-{i:02}.txt")), text).unwrap();
    }
    dir
}

#[tokio::test]
async fn an_audience_page_describes_lists_offers_feeds_and_a_sign_up() {
    let app = app();
    let html = page(&app, "/audiences/security/").await;
    assert!(html.contains("<h1>Security teams</h1>"), "{html}");
    // The description comes from the taxonomy.
    assert!(html.contains("For defenders tracking new attacks, leaks and AI-specific risks."));
    assert!(html.contains(&format!(
        "<link rel=\"canonical\" href=\"{BASE}audiences/security/\">"
    )));
    // Discovery of the audience's own feeds, and links to them.
    let scope = Scope::Audience {
        slug: "security".into(),
    };
    for format in Format::ALL {
        let href = format!("{BASE}{}", scope.path(format));
        assert!(
            html.contains(&format!(
                "<link rel=\"alternate\" type=\"{}\" title=\"Fixture News · Security teams ({})\" href=\"{href}\">",
                format.media_type(),
                format.label()
            )),
            "discovery of {href}"
        );
        assert!(links(&html).contains(&href.as_str()), "a link to {href}");
    }
    // Its articles, newest first: what the library says, in its order.
    let site = site(&fixtures("valid"));
    let expected: Vec<String> = site
        .library()
        .in_audience("security")
        .map(|a| format!("{BASE}articles/{}", a.slug))
        .collect();
    assert_eq!(expected.len(), 2);
    let listed: Vec<&str> = links(&html)
        .into_iter()
        .filter(|h| h.contains("/articles/"))
        .collect();
    assert_eq!(listed, expected);
    // A sign-up box with the audience chosen, posting to the sign-up page.
    let form = &html[html.find("<form").unwrap()..html.find("</form>").unwrap()];
    assert!(
        form.contains(&format!("action=\"{BASE}subscribe\"")),
        "{form}"
    );
    assert!(form.contains("method=\"post\""));
    assert!(form.contains("<input type=\"hidden\" name=\"audiences\" value=\"security\">"));
    assert!(form.contains("<label for=\"subscribe-email\">"));
    assert!(form.contains("id=\"subscribe-email\" name=\"email\" type=\"email\" required"));
    assert!(links(&html).contains(&"https://news.example.test/subscribe?audience&#x3D;security"));

    // `/audiences/security` leads to the page's one URL.
    let (status, headers, _) = call(
        &app,
        "GET",
        "/audiences/security",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers[header::LOCATION], "/audiences/security/");

    // An audience with no articles still has its page, which says so.
    let html = page(&app, "/audiences/students/").await;
    assert!(html.contains("No briefs here yet."), "{html}");
    // An audience that is not in the taxonomy has none.
    let (status, _, _) = call(
        &app,
        "GET",
        "/audiences/nobody/",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_category_page_describes_lists_and_links_the_sign_up_page() {
    let app = app();
    let html = page(&app, "/categories/deep-dive/").await;
    assert!(html.contains("<h1>Deep dive</h1>"), "{html}");
    assert!(
        html.contains("Deep dive briefs from Fixture News: 1 so far."),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Fixture News · Deep dive (Atom)\" href=\"{BASE}categories/deep-dive/atom.xml\">"
    )));
    assert!(
        !html.contains("<form"),
        "a category has no audience to choose"
    );
    assert!(links(&html).contains(&"https://news.example.test/subscribe"));
    let site = site(&fixtures("valid"));
    let category = site.library().category("deep-dive").unwrap();
    let expected: Vec<String> = category
        .articles
        .iter()
        .map(|&i| format!("{BASE}articles/{}", site.library().articles()[i].slug))
        .collect();
    let listed: Vec<&str> = links(&html)
        .into_iter()
        .filter(|h| h.contains("/articles/"))
        .collect();
    assert_eq!(listed, expected);
}

/// Pages as other documents: validators, 304, compression.
#[tokio::test]
async fn the_pages_have_validators_and_compressed_forms() {
    let app = app();
    for path in ["/audiences/hr/", "/categories/release/"] {
        let (status, headers, body) = call(&app, "GET", path, &[], axum::body::Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        let etag = headers[header::ETAG].to_str().unwrap().to_string();
        assert!(etag.starts_with('"'));
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=600");
        let (status, _, empty) = call(
            &app,
            "GET",
            path,
            &[("if-none-match", &etag)],
            axum::body::Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(empty.is_empty());
        let (_, headers, zipped) = call(
            &app,
            "GET",
            path,
            &[("accept-encoding", "gzip")],
            axum::body::Body::empty(),
        )
        .await;
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, body);
    }
}

#[tokio::test]
async fn long_lists_are_paged_newest_first() {
    let count = 2 * PER_PAGE + 5;
    let store = hr_store(count);
    let site = builder(meta())
        .build(library(store.path()), common::render_time())
        .unwrap();
    let scope = Scope::Audience { slug: "hr".into() };
    let app = app_for(site);
    let mut seen = Vec::new();
    for number in 1..=3 {
        let path = format!("/{}", page_path(&scope, number));
        let html = page(&app, &path).await;
        assert!(
            html.contains(&format!("Page {number} of 3, {count} briefs in all")),
            "{path}: {html}"
        );
        assert!(html.contains(&format!(
            "<link rel=\"canonical\" href=\"{BASE}{}\">",
            &path[1..]
        )));
        let hrefs = links(&html);
        let newer = number > 1;
        let older = number < 3;
        assert_eq!(
            hrefs.contains(&format!("{BASE}{}", page_path(&scope, number - 1)).as_str()),
            newer,
            "{path}: link to newer briefs"
        );
        assert_eq!(
            hrefs.contains(&format!("{BASE}{}", page_path(&scope, number + 1)).as_str()),
            older,
            "{path}: link to older briefs"
        );
        let titles: Vec<String> = html
            .split("class=\"title\"")
            .skip(1)
            .map(|rest| {
                let start = rest.find('>').unwrap() + 1;
                rest[start..start + rest[start..].find('<').unwrap()].to_string()
            })
            .collect();
        assert_eq!(
            titles.len(),
            if number < 3 { PER_PAGE } else { 5 },
            "{path}"
        );
        seen.extend(titles);
    }
    let expected: Vec<String> = (0..count)
        .rev()
        .map(|i| format!("Brief number {i:02} for the people team"))
        .collect();
    assert_eq!(seen, expected, "every brief once, newest first");
    assert_eq!(
        page_path(&scope, 2),
        "audiences/hr/page/2/",
        "the second page's path"
    );
    let (status, _, _) = call(
        &app,
        "GET",
        "/audiences/hr/page/4/",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn articles_and_the_index_link_the_audience_and_category_pages() {
    let app = app();
    let html = page(&app, "/articles/seed-layout").await;
    let hrefs = links(&html);
    for slug in ["customer-service", "hr", "operations-leaders"] {
        assert!(
            hrefs.contains(&format!("{BASE}audiences/{slug}/").as_str()),
            "a tag links {slug}: {hrefs:?}"
        );
    }
    assert!(hrefs.contains(&"https://news.example.test/categories/impact/"));
    // "Get this in your inbox": the sign-up page with the article's audiences ticked.
    assert!(html.contains("Get this in your inbox"));
    assert!(
        hrefs.contains(&"https://news.example.test/subscribe?audience&#x3D;customer-service&amp;audience&#x3D;hr&amp;audience&#x3D;operations-leaders"),
        "{hrefs:?}"
    );
    assert!(html.contains("New briefs for Customer service, HR teams and Operations leaders"));

    let index = page(&app, "/").await;
    let hrefs = links(&index);
    assert!(hrefs.contains(&"https://news.example.test/categories/impact/"));
    let site = site(&fixtures("valid"));
    for scope in Scope::all(site.library()) {
        if scope != Scope::Site {
            let href = format!("{BASE}{}", scope.dir());
            assert!(hrefs.contains(&href.as_str()), "the index links {href}");
        }
    }
}

#[tokio::test]
async fn unknown_paths_get_the_sites_404_page_in_a_browser() {
    let app = app();
    let browser = [(
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    )];
    for path in ["/no/such/page", "/articles/nope", "/404.html"] {
        let (status, headers, body) =
            call(&app, "GET", path, &browser, axum::body::Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::VARY], "Accept, Accept-Encoding");
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains("<h1>Page not found</h1>"), "{html}");
        assert!(
            html.contains("<header class=\"site\">"),
            "in the site's layout"
        );
        assert!(
            !html.contains("rel=\"canonical\""),
            "a 404 stands for no URL"
        );
        assert!(links(&html).contains(&"https://news.example.test/audiences/hr/"));
        // The page's style is the one the CSP allows.
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("style-src 'sha256-"), "{policy}");
    }
    // Compressed like the other pages; HEAD has no body.
    let gzip = [browser[0], ("accept-encoding", "gzip")];
    let (status, headers, _) = call(&app, "GET", "/nope", &gzip, axum::body::Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let (status, _, body) = call(&app, "HEAD", "/nope", &browser, axum::body::Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.is_empty());
    // Feed readers and scripts keep the line of text.
    for accept in [None, Some("application/rss+xml, */*;q=0.1"), Some("*/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let (status, response, body) = call(
            &app,
            "GET",
            "/no/such/feed.xml",
            &headers,
            axum::body::Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(response[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(body, b"not found\n", "{accept:?}");
    }
}

#[tokio::test]
async fn the_sign_up_form_ticks_the_audiences_it_is_linked_with() {
    let p = common::people(None, false).await;
    let (status, _, body) = call(
        &p.router,
        "GET",
        "/subscribe?audience=hr&audience=developers&audience=nobody",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).unwrap();
    let checked: Vec<&str> = html
        .split("<input type=\"checkbox\" id=\"aud-")
        .skip(1)
        .filter(|input| input[..input.find('>').unwrap()].contains(" checked"))
        .map(|input| &input[..input.find('"').unwrap()])
        .collect();
    // In the taxonomy's order; an unknown slug ticks nothing.
    assert_eq!(checked, ["hr", "developers"]);
    // Its canonical URL is its own, whatever the query ticks.
    assert!(html.contains("<link rel=\"canonical\" href=\"https://news.example.test/subscribe\">"));
    // Without a query nothing is ticked.
    let (_, _, body) = call(
        &p.router,
        "GET",
        "/subscribe",
        &[],
        axum::body::Body::empty(),
    )
    .await;
    let html = String::from_utf8(body).unwrap();
    let ticked = html
        .split("<input type=\"checkbox\" id=\"aud-")
        .skip(1)
        .filter(|input| input[..input.find('>').unwrap()].contains(" checked"))
        .count();
    assert_eq!(ticked, 0, "no audience is ticked");
}

#[tokio::test]
async fn token_pages_declare_no_canonical_url() {
    let p = common::people(None, false).await;
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/subscribe",
        &[("content-type", "application/x-www-form-urlencoded")],
        "email=ada%40example.org&audiences=hr&frequency=weekly&timezone=UTC",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ada = p
        .store
        .subscriber_by_email("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    let signer = crier::tokens::Signer::new(common::SECRET);
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    let confirm = signer.sign(ada.id, crier::tokens::Purpose::Confirm, later);
    let preferences = signer.sign(ada.id, crier::tokens::Purpose::Preferences, later);
    let unsubscribe = signer.sign(ada.id, crier::tokens::Purpose::Unsubscribe, later);
    for path in [
        format!("/confirm?token={confirm}"),
        format!("/preferences?token={preferences}"),
        format!("/unsubscribe?token={unsubscribe}"),
        "/preferences".to_string(),
        "/confirm?token=1.c.2.forged".to_string(),
    ] {
        let (_, headers, body) =
            call(&p.router, "GET", &path, &[], axum::body::Body::empty()).await;
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains("<h1"), "{path}: a page");
        assert!(!html.contains("rel=\"canonical\""), "{path}: {html}");
    }
}

/// `crier build` writes what the server serves: the export holds every audience and
/// category page, the pages after the first, and `404.html`, with the same bytes.
#[test]
fn an_export_holds_the_new_pages_with_the_sites_bytes() {
    let store = hr_store(PER_PAGE + 1);
    let builder = builder(meta());
    let library = library(store.path());
    let site = builder
        .build(Arc::clone(&library), common::render_time())
        .unwrap();
    let written: Mutex<BTreeMap<String, Vec<u8>>> = Mutex::default();
    let count = builder
        .export::<_, TemplateError>(&library, || {
            |path: &str, body: &[u8]| {
                written
                    .lock()
                    .unwrap()
                    .insert(path.to_string(), body.to_vec());
                Ok(())
            }
        })
        .unwrap();
    let written = written.into_inner().unwrap();
    assert_eq!(count, written.len());
    assert_eq!(
        written.keys().map(String::as_str).collect::<Vec<_>>(),
        site.paths()
    );
    for (path, body) in &written {
        assert_eq!(&site.get(path).unwrap().body[..], &body[..], "{path}");
    }
    for path in [
        "audiences/hr/",
        "audiences/hr/page/2/",
        "audiences/students/",
        "categories/release/",
        "404.html",
    ] {
        assert!(written.contains_key(path), "{path} is written");
    }
}

/// A new library renders again only the pages of the scopes whose articles changed.
#[test]
fn an_update_keeps_the_pages_of_unchanged_scopes() {
    let store = hr_store(3);
    let builder = builder(meta());
    let old = builder
        .build(library(store.path()), common::render_time())
        .unwrap();
    // The same library: nothing is rendered again.
    let (_, changes) = builder
        .update(&old, Arc::clone(old.library()), common::render_time())
        .unwrap();
    assert_eq!(changes.rendered, 0);
    // A brief for developers: their page changes, HR's page is kept as it was.
    std::fs::write(
        store.path().join("dev.txt"),
        "Acme · 2026 · 03 · 01 · Research · ~2 min read\nA brief for developers\n\
         What's actually new\n- News.\nWho should care\nSoftware developers.\n",
    )
    .unwrap();
    let (new, _) = builder
        .update(&old, library(store.path()), common::render_time())
        .unwrap();
    assert!(Arc::ptr_eq(
        old.get("audiences/hr/").unwrap(),
        new.get("audiences/hr/").unwrap()
    ));
    assert_ne!(
        old.get("audiences/developers/").unwrap().body,
        new.get("audiences/developers/").unwrap().body
    );
    assert!(new.get("categories/research/").is_some());
    assert!(old.get("categories/research/").is_none());
}

/// The daemon's site makes article, audience and category pages when asked: the same
/// bytes and validators as a site rendered whole, before and after an update, and
/// only the paths a rendered site has.
#[test]
fn pages_made_on_demand_are_the_rendered_sites_pages() {
    let store = hr_store(PER_PAGE + 3);
    let builder = builder(meta());
    let whole = builder
        .build(library(store.path()), common::render_time())
        .unwrap();
    let lazy = builder
        .build_on_demand(Arc::clone(whole.library()), common::render_time())
        .unwrap();
    assert!(lazy.renders_on_demand() && !whole.renders_on_demand());
    let same = |whole: &Site, lazy: &Site| {
        let mut made = 0;
        for path in whole.paths() {
            let want = whole.get(path).unwrap();
            let got = lazy.find(path).unwrap_or_else(|| panic!("no {path}"));
            assert_eq!(got.body, want.body, "{path}");
            assert_eq!(got.etag(), want.etag(), "{path}");
            assert_eq!(got.last_modified, want.last_modified, "{path}");
            made += usize::from(lazy.get(path).is_none());
        }
        made
    };
    let made = same(&whole, &lazy);
    // Every article page, and every audience and category page (the index is held).
    let pages = whole
        .paths()
        .into_iter()
        .filter(|p| p.starts_with("articles/") || (p.ends_with('/') && !p.is_empty()))
        .count();
    assert_eq!(made, pages);
    assert!(made >= PER_PAGE + 3 + 4, "{made}");
    assert!(lazy.paths().iter().all(|p| !p.starts_with("articles/")));
    // A page asked for again is the one made before.
    assert!(Arc::ptr_eq(
        &lazy.find("audiences/hr/page/2/").unwrap(),
        &lazy.find("audiences/hr/page/2/").unwrap()
    ));
    let article = lazy.find("articles/brief-03").unwrap();
    assert!(Arc::ptr_eq(
        &article,
        &lazy.find("articles/brief-03").unwrap()
    ));
    for missing in [
        "articles/nope",
        "audiences/hr/page/1/",
        "audiences/hr/page/3/",
        "audiences/hr/page/02/",
        "audiences/hr/page/2",
        "audiences/hr",
        "audiences/nobody/",
        "categories/nope/",
        "categories/release/page/0/",
    ] {
        assert!(lazy.find(missing).is_none(), "{missing}");
    }

    // An edit: the updated site's pages are the new ones, unchanged ones are kept.
    std::fs::write(
        store.path().join("brief-05.txt"),
        "Acme · 2026 · 01 · 06 · Release · ~2 min read\nAn edited title\n\
         What's actually new\n- News.\nWho should care\nHR teams.\n",
    )
    .unwrap();
    let new_library = library(store.path());
    let (whole, _) = builder
        .update(&whole, Arc::clone(&new_library), common::render_time())
        .unwrap();
    let (lazy, changes) = builder
        .update(&lazy, new_library, common::render_time())
        .unwrap();
    assert!(lazy.renders_on_demand());
    assert!(changes.rendered > 0);
    same(&whole, &lazy);
    assert!(
        String::from_utf8_lossy(&lazy.find("articles/brief-05").unwrap().body)
            .contains("An edited title")
    );
}

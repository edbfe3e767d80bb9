//! HTTP behaviour of feeds and pages, through real requests to the axum router:
//! media types, validators, 304s, HEAD, compression, caching headers, errors.

mod common;

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use common::{fixtures, site};
use crier::http::{AppState, router};
use crier::templates::Templates;
use tower::ServiceExt;

fn app(hub: Option<&str>) -> axum::Router {
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(site(&fixtures("valid"))));
    // Keep the sender alive for the router's lifetime.
    std::mem::forget(_tx);
    router(AppState {
        archive: None,
        site: rx,
        max_age: 600,
        hub: hub.map(str::to_string),
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        people: None,
        ops: None,
        console: None,
        page_styles: Templates::embedded().page_styles().to_vec(),
    })
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (Response<Body>, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (Response::from_parts(parts, Body::empty()), bytes)
}

fn h(r: &Response<Body>, name: header::HeaderName) -> &str {
    r.headers().get(&name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn media_types_and_validators() {
    let app = app(None);
    for (path, media) in [
        ("/feed.xml", "application/rss+xml; charset=utf-8"),
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        (
            "/audiences/hr/feed.xml",
            "application/rss+xml; charset=utf-8",
        ),
        (
            "/categories/deep-dive/atom.xml",
            "application/atom+xml; charset=utf-8",
        ),
        ("/", "text/html; charset=utf-8"),
        ("/articles/seed-layout", "text/html; charset=utf-8"),
    ] {
        let (r, body) = send(&app, "GET", path, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(h(&r, header::CONTENT_TYPE), media, "{path}");
        assert!(h(&r, header::ETAG).starts_with('"'), "{path}: strong ETag");
        assert!(
            httpdate::parse_http_date(h(&r, header::LAST_MODIFIED)).is_ok(),
            "{path}"
        );
        assert_eq!(h(&r, header::CACHE_CONTROL), "public, max-age=600");
        assert_eq!(h(&r, header::VARY), "Accept-Encoding");
        assert_eq!(h(&r, header::CONTENT_LENGTH), body.len().to_string());
        assert!(!body.is_empty());
    }
    // An audience with no articles answers with an empty feed, not an error.
    let (r, body) = send(&app, "GET", "/audiences/students/feed.json", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["items"], serde_json::json!([]));
}

#[tokio::test]
async fn conditional_get() {
    let app = app(None);
    let (first, body) = send(&app, "GET", "/feed.xml", &[]).await;
    let etag = h(&first, header::ETAG).to_string();
    let modified = h(&first, header::LAST_MODIFIED).to_string();
    assert!(!body.is_empty());

    let (r, body) = send(&app, "GET", "/feed.xml", &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(h(&r, header::ETAG), etag);
    assert_eq!(h(&r, header::CACHE_CONTROL), "public, max-age=600");

    let (r, _) = send(
        &app,
        "GET",
        "/feed.xml",
        &[("if-none-match", &format!("\"nope\", W/{etag}"))],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_MODIFIED,
        "weak comparison in a list"
    );
    let (r, _) = send(&app, "GET", "/feed.xml", &[("if-none-match", "*")]).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let (r, body) = send(
        &app,
        "GET",
        "/feed.xml",
        &[("if-modified-since", &modified)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (r, _) = send(
        &app,
        "GET",
        "/feed.xml",
        &[("if-modified-since", "Thu, 01 Jan 1970 00:00:01 GMT")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // If-None-Match wins over If-Modified-Since, both ways.
    let (r, _) = send(
        &app,
        "GET",
        "/feed.xml",
        &[
            ("if-none-match", "\"other\""),
            ("if-modified-since", &modified),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (r, _) = send(
        &app,
        "GET",
        "/feed.xml",
        &[
            ("if-none-match", &etag),
            ("if-modified-since", "Thu, 01 Jan 1970 00:00:01 GMT"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn head_and_compression() {
    let app = app(None);
    let (plain, plain_body) = send(&app, "GET", "/atom.xml", &[]).await;

    let (r, body) = send(&app, "HEAD", "/atom.xml", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(h(&r, header::CONTENT_LENGTH), plain_body.len().to_string());
    assert_eq!(h(&r, header::ETAG), h(&plain, header::ETAG));

    let (r, body) = send(&app, "GET", "/atom.xml", &[("accept-encoding", "gzip")]).await;
    assert_eq!(h(&r, header::CONTENT_ENCODING), "gzip");
    assert_ne!(
        h(&r, header::ETAG),
        h(&plain, header::ETAG),
        "each encoding has its own strong ETag"
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain_body);
    assert!(body.len() < plain_body.len() / 2);
    // The gzip ETag validates too.
    let (r, _) = send(
        &app,
        "GET",
        "/atom.xml",
        &[
            ("accept-encoding", "gzip"),
            ("if-none-match", h(&r, header::ETAG)),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let (r, body) = send(&app, "GET", "/atom.xml", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(h(&r, header::CONTENT_ENCODING), "br");
    let mut unbrotli = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut unbrotli).unwrap();
    assert_eq!(unbrotli, plain_body);
}

#[tokio::test]
async fn errors_redirects_and_methods() {
    let app = app(None);
    let (r, body) = send(&app, "GET", "/no/such/feed.xml", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body, b"not found\n");
    let (r, _) = send(&app, "GET", "/audiences/nobody/feed.xml", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (r, _) = send(&app, "GET", "/articles/seed-layout/", &[]).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(h(&r, header::LOCATION), "/articles/seed-layout");
    let (r, _) = send(&app, "POST", "/feed.xml", &[]).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h(&r, header::ALLOW), "GET, HEAD");
}

#[tokio::test]
async fn index_lists_every_feed_with_autodiscovery() {
    let app = app(None);
    let (_, body) = send(&app, "GET", "/", &[]).await;
    let html = String::from_utf8(body).unwrap();
    for (kind, href) in [
        ("application/rss+xml", "https://news.example.test/feed.xml"),
        ("application/atom+xml", "https://news.example.test/atom.xml"),
        (
            "application/feed+json",
            "https://news.example.test/feed.json",
        ),
    ] {
        assert!(
            html.contains(&format!("<link rel=\"alternate\" type=\"{kind}\""))
                && html.contains(href),
            "autodiscovery for {kind}"
        );
    }
    let site = site(&fixtures("valid"));
    for scope in crier::feeds::Scope::all(site.library()) {
        for format in crier::feeds::Format::ALL {
            let url = format!("https://news.example.test/{}", scope.path(format));
            assert!(html.contains(&url), "index lacks {url}");
        }
    }
    assert!(html.contains("href=\"https://news.example.test/articles/seed-layout\""));

    let (_, body) = send(&app, "GET", "/articles/hostile-text", &[]).await;
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains("<h1>Acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
}

#[tokio::test]
async fn websub_hub_is_advertised() {
    let app = app(Some("https://hub.example.test/"));
    let (r, _) = send(&app, "GET", "/audiences/hr/feed.xml", &[]).await;
    assert_eq!(
        h(&r, header::LINK),
        "<https://hub.example.test/>; rel=\"hub\", <https://news.example.test/audiences/hr/feed.xml>; rel=\"self\""
    );
}

/// The text of the first `<style>` block of a page, and its CSP source.
fn style_source(html: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let start = html.find("<style>").expect("a style block") + "<style>".len();
    let end = start + html[start..].find("</style>").unwrap();
    let digest = sha2::Sha256::digest(&html[start..end]);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Over a real socket: every HTML page (site pages, subscriber pages, their error
/// pages) sends a Content-Security-Policy that allows no script and exactly the
/// page's own style block, forbids framing, and says `nosniff`; pages with a token in
/// their URL also send `Referrer-Policy: no-referrer`; feeds and JSON say `nosniff`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_send_browser_defences() {
    let p = common::people(None, false).await;
    let base = common::listen(p.router.clone()).await;
    let http = common::client();
    let form = "email=ada%40example.org&audiences=hr&frequency=weekly&timezone=UTC";
    let signed_up = http
        .post(format!("{base}subscribe"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 200);
    p.worker.drain().await;
    let mail = common::outbox_messages(&p.outbox).pop().unwrap();
    let text = mail_parser::MessageParser::default()
        .parse(&mail)
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    let at = text.find("/confirm?token=").unwrap();
    let token: String = text[at + "/confirm?token=".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let id: i64 = token.split('.').next().unwrap().parse().unwrap();
    let signer = crier::tokens::Signer::new(common::SECRET);
    let later = chrono::Utc::now() + chrono::Duration::days(30);
    let preferences = signer.sign(id, crier::tokens::Purpose::Preferences, later);
    let unsubscribe = signer.sign(id, crier::tokens::Purpose::Unsubscribe, later);

    let with_token = [
        format!("confirm?token={token}"),
        format!("preferences?token={preferences}"),
        format!("unsubscribe?token={unsubscribe}"),
        "preferences?token=1.p.2.forged".to_string(),
        "confirm".to_string(),
    ];
    let pages = [
        "",
        "articles/seed-layout",
        "audiences/hr/",
        "categories/release/",
        "subscribe",
    ];
    for path in with_token.iter().map(String::as_str).chain(pages) {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        let headers = r.headers().clone();
        let html = r.text().await.unwrap();
        let header = |name: &str| {
            headers
                .get(name)
                .map_or("", |v| v.to_str().unwrap())
                .to_string()
        };
        assert!(header("content-type").starts_with("text/html"), "{path}");
        let policy = header("content-security-policy");
        let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
        for wanted in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(directives.contains(&wanted), "{path}: {policy}");
        }
        assert_eq!(
            directives.iter().find(|d| d.starts_with("style-src")),
            Some(&format!("style-src {}", style_source(&html)).as_str()),
            "{path}: the page's own style, by hash: {policy}"
        );
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        if path == "subscribe" {
            // The sign-up form's one script (the browser's time zone) is a file from
            // crier itself: allowed by origin, and no inline script.
            let scripts: Vec<&&str> = directives
                .iter()
                .filter(|d| d.starts_with("script-src"))
                .collect();
            assert_eq!(scripts.len(), 1, "{policy}");
            assert!(scripts[0].starts_with("script-src 'self'"), "{policy}");
            assert!(
                !scripts[0].contains("'sha256-") && !scripts[0].contains('*'),
                "{policy}"
            );
            assert_eq!(html.matches("<script").count(), 1, "{html}");
            assert!(html.contains("<script src=\"https://news.example.test/subscribe/timezone.js\" defer></script>"), "{html}");
        } else {
            assert!(!policy.contains("script-src"), "{path}: {policy}");
            assert!(!html.contains("<script"), "{path}");
        }
        assert!(!html.contains(" style="), "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        if path.contains("token") || path == "confirm" || path == "subscribe" {
            assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        }
    }

    for path in [
        "feed.xml".to_string(),
        "feed.json".to_string(),
        format!("preferences/data?token={preferences}"),
        "missing".to_string(),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path}"
        );
        if path.contains("token") {
            assert_eq!(r.headers()["referrer-policy"], "no-referrer", "{path}");
        }
    }
}

/// Over a real socket: `POST /confirm` takes the token from the form's body (the
/// button on the GET page) or from the query string (a mail client that POSTs the
/// mailed link); a GET of the link still confirms nothing; a forged token, or two
/// different tokens in one request, is refused in words and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_takes_the_token_from_the_query_or_the_form() {
    let p = common::people(None, false).await;
    let base = common::listen(p.router.clone()).await;
    let http = common::client();
    let emails = ["ada@example.org", "grace@example.org", "lin@example.org"];
    for email in emails {
        let signed_up = http
            .post(format!("{base}subscribe"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email={}&audiences=hr&frequency=weekly&timezone=UTC",
                email.replace('@', "%40")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_up.status(), 200);
    }
    p.worker.drain().await;
    let mut tokens = std::collections::HashMap::new();
    for mail in common::outbox_messages(&p.outbox) {
        let parsed = mail_parser::MessageParser::default().parse(&mail).unwrap();
        let to = parsed.to().unwrap().first().unwrap().address().unwrap();
        let text = parsed.body_text(0).unwrap().into_owned();
        let at = text.find("/confirm?token=").unwrap() + "/confirm?token=".len();
        let token: String = text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        tokens.insert(to.to_string(), token);
    }
    let status = |email: &'static str| {
        let store = p.store.clone();
        async move {
            store
                .subscriber_by_email(email)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    use crier::model::Status;
    let ada = &tokens["ada@example.org"];
    let grace = &tokens["grace@example.org"];
    let lin = &tokens["lin@example.org"];

    // A GET shows the button and confirms nothing.
    let shown = http
        .get(format!("{base}confirm?token={ada}"))
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 200);
    assert!(shown.text().await.unwrap().contains("Yes, subscribe me"));
    assert_eq!(status("ada@example.org").await, Status::Pending);

    // The token in the query string, nothing in the body.
    let confirmed = http
        .post(format!("{base}confirm?token={ada}"))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("You are subscribed")
    );
    assert_eq!(status("ada@example.org").await, Status::Active);

    // The token in the form's body, as the button sends it.
    let confirmed = http
        .post(format!("{base}confirm"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={grace}"))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("You are subscribed")
    );
    assert_eq!(status("grace@example.org").await, Status::Active);

    // A forged token for lin's id, in the query: refused, lin stays pending.
    let id = lin.split('.').next().unwrap();
    let forged = format!("{id}.c.4102444800.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for request in [
        http.post(format!("{base}confirm?token={forged}")),
        http.post(format!("{base}confirm"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={forged}")),
    ] {
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("This link is not valid"),
        );
        assert_eq!(status("lin@example.org").await, Status::Pending);
    }
    // Lin's own token in the query and another in the body: which one was meant is
    // unclear, so neither is used.
    let mixed = http
        .post(format!("{base}confirm?token={lin}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ada}"))
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), 400);
    assert!(mixed.text().await.unwrap().contains("two different links"));
    assert_eq!(status("lin@example.org").await, Status::Pending);
    // No token anywhere.
    let bare = http.post(format!("{base}confirm")).send().await.unwrap();
    assert_eq!(bare.status(), 400);
    assert_eq!(status("lin@example.org").await, Status::Pending);
}

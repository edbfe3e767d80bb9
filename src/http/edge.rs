//! What every response shares at crier's public edge: the access log's span, which
//! names a request by its route and never by its query string, and the headers that
//! tell browsers what a page may do. Handlers set none of these themselves.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

/// The access log's span for a request: the method, and the route it matched
/// (`/api/subscribers/{email}`) or, for feeds and pages, the path. The query string
/// is left out, because it carries link tokens and search terms; that one was there
/// is all the log keeps.
pub(super) fn access_span(request: &Request) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %logged_uri(request),
        version = ?request.version(),
    )
}

fn logged_uri(request: &Request) -> String {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path(), MatchedPath::as_str);
    match request.uri().query() {
        Some(_) => format!("{path}?…"),
        None => path.to_string(),
    }
}

/// Header values worked out once, when the router is built.
pub(super) struct EdgeHeaders {
    /// The Content-Security-Policy of every HTML page.
    policy: HeaderValue,
    /// The same, plus scripts from crier itself, for the sign-up form (its time
    /// zone script).
    with_own_scripts: HeaderValue,
}

impl EdgeHeaders {
    /// `styles` are the `sha256-…` sources of the pages' `<style>` blocks; `origin` is
    /// the public site's (`https://news.example.org`), where the pages' forms post.
    pub(super) fn new(styles: &[String], origin: &str) -> EdgeHeaders {
        let policy = content_security_policy(styles, origin);
        let with_own_scripts = format!("{policy}; script-src 'self' {origin}");
        // Sources are quoted base64 and an ASCII origin; the fallback only drops
        // the styles and forms if a template ever made that untrue.
        let header = |policy: String| {
            HeaderValue::try_from(policy).unwrap_or_else(|_| {
                HeaderValue::from_static(
                    "default-src 'none'; img-src 'self' https: data:; base-uri 'none'; \
                     form-action 'self'; frame-ancestors 'none'",
                )
            })
        };
        EdgeHeaders {
            policy: header(policy),
            with_own_scripts: header(with_own_scripts),
        }
    }
}

/// No scripts at all (crier's pages work without them), styles only as the templates
/// have them (by hash), images from the site or anywhere an article points over
/// https, forms only to crier itself, and no framing, against clickjacking of the
/// one-click buttons. The site's public origin is named beside `'self'` for when the
/// pages are reached under another name (a proxy, a test) than `site.base_url`'s.
fn content_security_policy(styles: &[String], origin: &str) -> String {
    let style = if styles.is_empty() {
        "'none'".to_string()
    } else {
        styles
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "default-src 'none'; style-src {style}; img-src 'self' {origin} https: data:; \
         base-uri 'none'; form-action 'self' {origin}; frame-ancestors 'none'"
    )
}

impl EdgeHeaders {
    /// Every response: `X-Content-Type-Options: nosniff`, so a feed or a JSON answer
    /// is never run as a page. HTML pages also get the Content-Security-Policy and the
    /// older `X-Frame-Options` for browsers that predate `frame-ancestors`. Applied
    /// by a `MapResponseLayer` (no boxed future per request, unlike a `from_fn`
    /// middleware).
    pub(super) fn secure(&self, mut response: Response) -> Response {
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html"));
        let headers = response.headers_mut();
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // A handler that set its own policy (the console's) keeps it.
        if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(header::CONTENT_SECURITY_POLICY, self.policy.clone());
        }
        if html && !headers.contains_key(header::X_FRAME_OPTIONS) {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        response
    }
}

/// The sign-up form loads one script from crier (`/subscribe/timezone.js`): its
/// policy adds `script-src` for crier's own origin, still with no inline script.
/// Every other page keeps `default-src 'none'` for scripts.
pub(super) async fn own_scripts(
    State(edge): State<Arc<EdgeHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        edge.with_own_scripts.clone(),
    );
    response
}

/// The subscriber pages carry a token in their URL (or lead to pages that do): a
/// browser sends no `Referer` from them, so no link or resource on them learns it.
pub(super) async fn no_referrer(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_each_style_and_the_site() {
        let policy = content_security_policy(
            &["sha256-abc=".into(), "sha256-def=".into()],
            "https://news.example.test",
        );
        assert_eq!(
            policy,
            "default-src 'none'; style-src 'sha256-abc=' 'sha256-def='; \
             img-src 'self' https://news.example.test https: data:; base-uri 'none'; \
             form-action 'self' https://news.example.test; frame-ancestors 'none'"
        );
        assert!(content_security_policy(&[], "https://x.test").contains("style-src 'none'"));
    }

    #[test]
    fn the_logged_uri_has_no_query() {
        let request = |uri: &str| {
            Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(
            logged_uri(&request("/confirm?token=1.c.2.secret")),
            "/confirm?…"
        );
        assert_eq!(logged_uri(&request("/feed.xml")), "/feed.xml");
        assert_eq!(logged_uri(&request("/?")), "/?…");
    }
}

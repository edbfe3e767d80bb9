//! What every response shares at crier's public edge: the access log's span, which
//! names a request by its route and never by its query string.

use axum::extract::{MatchedPath, Request};
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

#[cfg(test)]
mod tests {
    use super::*;

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

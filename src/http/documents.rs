//! Feeds and pages: content negotiation on encoding, validators, 304s, HEAD, and
//! the answer to an unknown path (the site's page for it, to a browser).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::site::pages::NOT_FOUND_PATH;
use crate::site::{Kind, Resource, Site};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

pub(super) async fn serve(State(state): State<Arc<Shared>>, request: Request) -> Response {
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "method not allowed\n",
        )
            .into_response();
    }
    let site = Arc::clone(&state.site.borrow());
    let archive = state.archive.as_ref().map(|a| Arc::clone(&a.borrow()));
    let path = uri.path().trim_start_matches('/');
    let path = if path == "index.html" { "" } else { path };
    let get = |path: &str| {
        site.find(path)
            .or_else(|| archive.as_ref().and_then(|a| a.get(path)).cloned())
    };
    // The page for unknown addresses is not a page of its own.
    let found = (path != NOT_FOUND_PATH).then(|| get(path)).flatten();
    let Some(resource) = found else {
        // `/articles/x/` and `/audiences/hr`: send readers to the one canonical URL.
        let other = match path.strip_suffix('/') {
            Some(trimmed) => trimmed.to_string(),
            None => format!("{path}/"),
        };
        if !path.is_empty() && get(&other).is_some() {
            let location = format!("/{other}");
            return (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
        return not_found(&site, method, headers).await;
    };
    let encoding = negotiate(headers.get(header::ACCEPT_ENCODING));
    let values = resource.header_values();
    let modified = !not_modified(headers, &resource);
    let mut out = HeaderMap::with_capacity(8);
    if modified {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(resource.content_type),
        );
    }
    let etag = match encoding {
        Encoding::Identity => &values.etag,
        Encoding::Gzip => &values.etag_gzip,
        Encoding::Brotli => &values.etag_br,
    };
    out.insert(header::ETAG, etag.clone());
    out.insert(header::LAST_MODIFIED, values.last_modified.clone());
    out.insert(header::CACHE_CONTROL, state.cache_control.clone());
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if resource.kind == Kind::Feed
        && let Some(hub) = &state.hub
    {
        let self_url = state
            .base_url
            .join(path)
            .map_or_else(|_| uri.path().to_string(), String::from);
        if let Ok(v) =
            HeaderValue::from_str(&format!("<{hub}>; rel=\"hub\", <{self_url}>; rel=\"self\""))
        {
            out.insert(header::LINK, v);
        }
    }

    if !modified {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.headers_mut() = out;
        return response;
    }
    let body = match encoding {
        Encoding::Identity => resource.body.clone(),
        Encoding::Gzip => resource.gzip_off_loop().await,
        Encoding::Brotli => resource.brotli_off_loop().await,
    };
    match encoding {
        Encoding::Identity => {}
        Encoding::Gzip => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Encoding::Brotli => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        }
    }
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if method == Method::GET {
        Body::from(body)
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.headers_mut() = out;
    response
}

/// 404: the site's page for it to a client that asks for HTML (a browser), a line of
/// text to others (feed readers, scripts), as before there was a page.
async fn not_found(site: &Site, method: &Method, headers: &HeaderMap) -> Response {
    let vary = HeaderValue::from_static("Accept, Accept-Encoding");
    let page = site.not_found().filter(|_| accepts_html(headers));
    let Some(page) = page else {
        return (
            StatusCode::NOT_FOUND,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (header::VARY, vary),
            ],
            "not found\n",
        )
            .into_response();
    };
    let mut out = HeaderMap::with_capacity(4);
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(page.content_type),
    );
    out.insert(header::VARY, vary);
    let body = match negotiate(headers.get(header::ACCEPT_ENCODING)) {
        Encoding::Identity => page.body.clone(),
        Encoding::Gzip => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            page.gzip_off_loop().await
        }
        Encoding::Brotli => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            page.brotli_off_loop().await
        }
    };
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if method == Method::GET {
        Body::from(body)
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::NOT_FOUND;
    *response.headers_mut() = out;
    response
}

/// Whether `Accept` names `text/html` (with a q above 0): browsers do, feed readers
/// and `curl` do not.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut pieces = part.split(';');
            let kind = pieces.next().unwrap_or("").trim();
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            (kind.eq_ignore_ascii_case("text/html")
                || kind.eq_ignore_ascii_case("application/xhtml+xml"))
                && q > 0.0
        })
}

/// RFC 9110 §13.1: `If-None-Match` decides when present; otherwise `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, resource: &Resource) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        return value.split(',').map(str::trim).any(|tag| {
            if tag == "*" {
                return true;
            }
            // Weak comparison; any encoding of this version matches.
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            let Some(opaque) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
                return false;
            };
            let base = opaque
                .strip_suffix("-gzip")
                .or_else(|| opaque.strip_suffix("-br"))
                .unwrap_or(opaque);
            base == resource.etag()
        });
    }
    if let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        return whole_seconds(resource.last_modified) <= since;
    }
    false
}

/// HTTP dates have whole seconds; compare at that precision.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Picks brotli, then gzip, then identity, honouring `q=0` and `*`.
pub(crate) fn negotiate(accept: Option<&HeaderValue>) -> Encoding {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return Encoding::Identity;
    };
    let mut br = None;
    let mut gzip = None;
    let mut star = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let allowed = |q: Option<f32>| q.or(star).is_some_and(|q| q > 0.0);
    if allowed(br) {
        Encoding::Brotli
    } else if allowed(gzip) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(value: &str) -> Encoding {
        negotiate(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn html_is_for_clients_that_ask_for_it() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
            accepts_html(&headers)
        };
        assert!(accepts(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accepts("TEXT/HTML"));
        assert!(!accepts("*/*"));
        assert!(!accepts(
            "application/rss+xml, application/atom+xml;q=0.9, */*;q=0.1"
        ));
        assert!(!accepts("text/html;q=0"));
        assert!(!accepts_html(&HeaderMap::new()));
    }

    #[test]
    fn encoding_negotiation() {
        assert_eq!(negotiate(None), Encoding::Identity);
        assert_eq!(pick("gzip, deflate, br"), Encoding::Brotli);
        assert_eq!(pick("gzip"), Encoding::Gzip);
        assert_eq!(pick("br;q=0, gzip;q=0.5"), Encoding::Gzip);
        assert_eq!(pick("identity"), Encoding::Identity);
        assert_eq!(pick("*"), Encoding::Brotli);
        assert_eq!(pick("*;q=0, gzip"), Encoding::Gzip);
        assert_eq!(pick("GZIP;Q=1"), Encoding::Gzip);
    }
}

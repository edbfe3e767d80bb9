//! Feeds and pages: content negotiation on encoding, validators, 304s, HEAD.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::site::{Kind, Resource};

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
    let path = uri.path().trim_start_matches('/');
    let path = if path == "index.html" { "" } else { path };
    let Some(resource) = site.get(path) else {
        // `/articles/x/` and the like: send readers to the one canonical URL.
        if let Some(trimmed) = path.strip_suffix('/')
            && site.get(trimmed).is_some()
        {
            let location = format!("/{trimmed}");
            return (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response();
    };
    let encoding = negotiate(headers.get(header::ACCEPT_ENCODING));
    let values = resource.header_values();
    let modified = !not_modified(headers, resource);
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

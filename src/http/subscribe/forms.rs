//! Reading what browsers and mail clients send to the subscriber pages: the token
//! in the query, form fields (refused when not UTF-8), the one-click unsubscribe
//! body in either encoding, and the socket peer. Parses only; answers nothing.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, FromRequest, Multipart, Request};
use axum::http::header;
use serde::Deserialize;

#[derive(Deserialize)]
pub(in crate::http) struct TokenQuery {
    pub(super) token: Option<String>,
}

/// The socket peer, when the server recorded it.
pub(super) fn peer(connect: &Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<SocketAddr> {
    connect.as_ref().map(|c| c.0.0)
}

/// Form fields, repeated keys kept (the audience checkboxes); `None` when a name or
/// a value is not UTF-8 once percent-decoded. A lossy decoding would store U+FFFD in
/// place of what was sent (`\u{FFFD}@example.org`), so such a form is refused.
pub(super) fn form_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    let utf8 = body
        .split(|&b| b == b'&')
        .all(|pair| percent_encoding::percent_decode(pair).decode_utf8().is_ok());
    utf8.then(|| url::form_urlencoded::parse(body).into_owned().collect())
}

pub(super) fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

pub(super) fn all(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Whether a body says `List-Unsubscribe=One-Click`, form-encoded or multipart.
pub(super) async fn is_one_click(request: Request) -> bool {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    if is_multipart {
        let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
            return false;
        };
        while let Ok(Some(part)) = multipart.next_field().await {
            if part.name() == Some("List-Unsubscribe") {
                return part.text().await.is_ok_and(|v| v.trim() == "One-Click");
            }
        }
        return false;
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024).await else {
        return false;
    };
    form_fields(&body)
        .unwrap_or_default()
        .iter()
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click")
}

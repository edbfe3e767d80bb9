//! The one script of the subscriber pages: a few lines that select the browser's
//! time zone on the sign-up form (progressive enhancement: without it the site's
//! zone stays selected). Served from crier itself, as a file, so that the page's
//! Content-Security-Policy allows it by origin (`script-src 'self'`) and still no
//! inline script.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The path the sign-up page loads it from.
pub(in crate::http) const PATH: &str = "/subscribe/timezone.js";

const SCRIPT: &str = include_str!("../../../templates/timezone.js");

pub(in crate::http) async fn timezone_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

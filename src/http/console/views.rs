//! How a console page is drawn: each page's template renders its body, which the
//! shared layout wraps with the navigation and the logout form. The templates are
//! built into the binary (the console is not themed by `[site] templates`), and the
//! stylesheet is served from `/admin/console.css` so that the pages need no inline
//! style and their Content-Security-Policy can stay `'self'`.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use handlebars::Handlebars;
use serde::Serialize;

use super::Admin;
use crate::http::Shared;

/// Every console template: (name, source). A page's name starts with its section
/// (`subscribers/detail`), which the navigation marks as current.
const VIEWS: &[(&str, &str)] = &[
    (
        "articles/index",
        include_str!("../../../templates/admin/articles/index.html.hbs"),
    ),
    (
        "audiences/index",
        include_str!("../../../templates/admin/audiences/index.html.hbs"),
    ),
    (
        "dashboard/index",
        include_str!("../../../templates/admin/dashboard/index.html.hbs"),
    ),
    (
        "deliveries/list",
        include_str!("../../../templates/admin/deliveries/list.html.hbs"),
    ),
    (
        "deliveries/suppressions",
        include_str!("../../../templates/admin/deliveries/suppressions.html.hbs"),
    ),
    (
        "import/form",
        include_str!("../../../templates/admin/import/form.html.hbs"),
    ),
    (
        "import/preview",
        include_str!("../../../templates/admin/import/preview.html.hbs"),
    ),
    (
        "import/progress",
        include_str!("../../../templates/admin/import/progress.html.hbs"),
    ),
    (
        "import/result",
        include_str!("../../../templates/admin/import/result.html.hbs"),
    ),
    (
        "layout",
        include_str!("../../../templates/admin/layout.html.hbs"),
    ),
    (
        "login",
        include_str!("../../../templates/admin/login.html.hbs"),
    ),
    (
        "logout",
        include_str!("../../../templates/admin/logout.html.hbs"),
    ),
    (
        "message",
        include_str!("../../../templates/admin/message.html.hbs"),
    ),
    (
        "digests/dry_run",
        include_str!("../../../templates/admin/digests/dry_run.html.hbs"),
    ),
    (
        "digests/list",
        include_str!("../../../templates/admin/digests/list.html.hbs"),
    ),
    (
        "digests/preview",
        include_str!("../../../templates/admin/digests/preview.html.hbs"),
    ),
    (
        "subscribers/bulk",
        include_str!("../../../templates/admin/subscribers/bulk.html.hbs"),
    ),
    (
        "subscribers/detail",
        include_str!("../../../templates/admin/subscribers/detail.html.hbs"),
    ),
    (
        "subscribers/erase",
        include_str!("../../../templates/admin/subscribers/erase.html.hbs"),
    ),
    (
        "subscribers/list",
        include_str!("../../../templates/admin/subscribers/list.html.hbs"),
    ),
];

const STYLESHEET: &str = include_str!("../../../templates/admin/console.css");

/// The console's sections, in the navigation's order: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/admin", "Dashboard"),
    ("/admin/subscribers", "Subscribers"),
    ("/admin/import", "Import"),
    ("/admin/audiences", "Audiences"),
    ("/admin/articles", "Articles"),
    ("/admin/digests", "Digests"),
    ("/admin/deliveries", "Deliveries"),
];

/// The policy of every console page: no script, no inline style, frames only from
/// the console itself (the digest preview), forms only to crier.
pub(crate) const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static REGISTRY: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(false);
    for (name, source) in VIEWS {
        // A console template that does not compile is a bug in crier, caught by the
        // test below; at run time it renders as an error page instead.
        if let Err(e) = registry.register_template_string(name, source) {
            tracing::error!("console template {name} does not compile: {e}");
        }
    }
    registry
});

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Serialize)]
struct AdminView<'a> {
    email: &'a str,
}

#[derive(Serialize)]
struct Layout<'a> {
    title: &'a str,
    site_title: &'a str,
    admin: Option<AdminView<'a>>,
    csrf: &'a str,
    nav: Vec<NavItem>,
    notice: Option<&'a str>,
    /// Seconds after which the browser loads the page again (a running job's page).
    refresh: Option<u32>,
    body: String,
}

/// A whole console page: `view`'s template rendered with `body`, inside the layout.
/// `admin` is `None` only for the login page. The layout's logout form carries the
/// CSRF token; a page with forms of its own passes `admin.csrf()` in `body`.
pub(crate) fn console_page(
    state: &Shared,
    admin: Option<&Admin>,
    view: &str,
    title: &str,
    body: &impl Serialize,
) -> Response {
    console_page_with(state, admin, view, title, None, StatusCode::OK, body)
}

/// [`console_page`] with a status and a notice line above the page ("3 subscribers
/// unsubscribed").
pub(crate) fn console_page_with(
    state: &Shared,
    admin: Option<&Admin>,
    view: &str,
    title: &str,
    notice: Option<&str>,
    status: StatusCode,
    body: &impl Serialize,
) -> Response {
    console_page_refreshing(state, admin, view, title, notice, status, None, body)
}

/// [`console_page_with`] that the browser reloads every `refresh` seconds, without
/// script (`<meta http-equiv="refresh">`): for pages that follow a running job.
#[allow(clippy::too_many_arguments)]
pub(crate) fn console_page_refreshing(
    state: &Shared,
    admin: Option<&Admin>,
    view: &str,
    title: &str,
    notice: Option<&str>,
    status: StatusCode,
    refresh: Option<u32>,
    body: &impl Serialize,
) -> Response {
    let inner = match REGISTRY.render(view, body) {
        Ok(html) => html,
        Err(e) => return broken(view, &e),
    };
    let section = view.split('/').next().unwrap_or(view);
    let nav = NAV
        .iter()
        .map(|&(href, label)| NavItem {
            href,
            label,
            current: href.trim_start_matches("/admin").trim_start_matches('/') == section
                || (href == "/admin" && section == "dashboard"),
        })
        .collect();
    let site_title = state
        .people
        .as_ref()
        .map_or("crier", |p| p.meta.title.as_str());
    let layout = Layout {
        title,
        site_title,
        admin: admin.map(|a| AdminView { email: &a.email }),
        csrf: admin.map_or("", Admin::csrf),
        nav,
        notice,
        refresh,
        body: inner,
    };
    match REGISTRY.render("layout", &layout) {
        Ok(html) => html_response(status, html),
        Err(e) => broken("layout", &e),
    }
}

/// A view's body alone, without the layout: for tests of a page's markup.
#[cfg(test)]
pub(crate) fn render_body(view: &str, body: &impl Serialize) -> String {
    REGISTRY
        .render(view, body)
        .unwrap_or_else(|e| panic!("{view}: {e}"))
}

/// An HTML answer with the console's headers.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    response
}

fn broken(view: &str, e: &handlebars::RenderError) -> Response {
    tracing::error!("console view {view} cannot render: {e}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the console could not draw this page; the log says why",
    )
        .into_response()
}

#[derive(Serialize)]
struct Message<'a> {
    heading: &'a str,
    paragraphs: &'a [&'a str],
    link: Option<Link<'a>>,
}

#[derive(Serialize)]
struct Link<'a> {
    href: &'a str,
    text: &'a str,
}

/// The console's 404: a page, with the way back.
pub(crate) fn not_found(state: &Shared, admin: Option<&Admin>, what: &str) -> Response {
    console_page_with(
        state,
        admin,
        "message",
        "Not found",
        None,
        StatusCode::NOT_FOUND,
        &Message {
            heading: "Not found",
            paragraphs: &[what],
            link: Some(Link {
                href: "/admin",
                text: "Back to the dashboard",
            }),
        },
    )
}

/// The console's 500: the store could not answer. The log keeps the cause; the
/// page says only that it failed.
pub(crate) fn failed(state: &Shared, admin: &Admin, error: &dyn std::fmt::Display) -> Response {
    tracing::error!("console page failed: {error}");
    console_page_with(
        state,
        Some(admin),
        "message",
        "Something went wrong",
        None,
        StatusCode::INTERNAL_SERVER_ERROR,
        &Message {
            heading: "Something went wrong",
            paragraphs: &["The database did not answer; the log says why. Try again in a moment."],
            link: Some(Link {
                href: "/admin",
                text: "Back to the dashboard",
            }),
        },
    )
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/admin/console.css", get(stylesheet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_compiles() {
        let mut registry = Handlebars::new();
        for (name, source) in VIEWS {
            registry
                .register_template_string(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

//! The console's digests pages: every schedule in words with its next firings on a
//! chosen clock, a preview of what one subscriber (or a sample reader) would get now,
//! a test send of it to any address, and a dry run of the whole run. Each is a call
//! to the digests service, the one `crier digest plan|preview|send` uses; this file
//! reads the request and draws the answer.
//!
//! The preview's HTML is served on its own URL and shown in a sandboxed frame: a
//! digest is HTML built from articles, and in its own sandboxed document with a
//! policy that allows no script, it cannot reach the console around it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::views::console_page_with;
use super::{Admin, Console, CsrfForm, console_page, not_found, parts};
use crate::digests::{DryRun, TestError};
use crate::http::Shared;
use crate::model::{NewContent, Subscriber};

/// How many firings the schedule list shows for each digest.
const FIRINGS: usize = 5;
/// How many of the subscribers with nothing new a dry run names.
const NOTHING_NEW_SHOWN: usize = 20;

/// The framed preview's own policy: a sandbox (no script, no same origin, no forms),
/// images from anywhere secure, the digest's inline styles, and framing only by the
/// console.
pub(crate) const PREVIEW_POLICY: &str = "sandbox; default-src 'none'; img-src https: data:; \
     style-src 'unsafe-inline'; frame-ancestors 'self'";

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/digests", get(list))
        .route("/admin/digests/{name}/preview", get(preview))
        .route("/admin/digests/{name}/preview.html", get(framed))
        .route("/admin/digests/{name}/test", post(send_test))
        .route("/admin/digests/{name}/dry-run", post(dry_run))
}

/// The console's 404 for a digest name in the path that is none.
fn no_digest(state: &Shared, admin: &Admin, name: &str) -> Response {
    not_found(
        state,
        Some(admin),
        &format!("There is no digest called “{name}”."),
    )
}

/// A service failure as a page; the log keeps the cause.
fn failed(state: &Shared, admin: &Admin, what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!("console: {what}: {e}");
    console_page_with(
        state,
        Some(admin),
        "message",
        "Something went wrong",
        None,
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({
            "heading": "Something went wrong",
            "paragraphs": [format!("Crier could not {what}: {e}")],
            "link": {"href": "/admin/digests", "text": "Back to the digests"},
        }),
    )
}

// ---- the schedules ----

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    zone: String,
}

#[derive(Serialize)]
struct ZoneOption {
    name: String,
    selected: bool,
}

#[derive(Serialize)]
struct DigestRow {
    name: String,
    line: String,
    words: String,
    either_day: bool,
    subject: Option<String>,
    lookback_days: i64,
    max_articles: usize,
    firings: Vec<String>,
}

#[derive(Serialize)]
struct ListView {
    zone: String,
    zones: Vec<ZoneOption>,
    zone_error: Option<String>,
    digests: Vec<DigestRow>,
    csrf: String,
}

/// Every schedule, in words, with its next firings on the chosen clock.
async fn list(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Query(query): Query<ListQuery>,
) -> Response {
    let console = match parts(&state, &admin) {
        Ok((_, console)) => console,
        Err(r) => return r,
    };
    let service = &console.digests;
    let mut zones = match service.clocks().await {
        Ok(zones) => zones,
        Err(e) => return failed(&state, &admin, "read the subscribers' time zones", &e),
    };
    let default_zone = state.people.as_ref().map_or("UTC", |p| {
        p.subscriptions.settings().default_timezone.as_str()
    });
    let asked = query.zone.trim();
    let (zone, zone_error) = match asked.parse::<chrono_tz::Tz>() {
        Ok(zone) => (zone, None),
        Err(_) => {
            let error = (!asked.is_empty())
                .then(|| format!("“{asked}” is not a time zone crier knows (like Europe/London)"));
            (default_zone.parse().unwrap_or(chrono_tz::UTC), error)
        }
    };
    let zone_name = zone.name().to_string();
    if !zones.contains(&zone_name) {
        // A valid zone no subscriber uses yet still shows as chosen.
        zones.push(zone_name.clone());
        zones.sort();
    }
    let digests = service
        .digests()
        .iter()
        .map(|d| DigestRow {
            name: d.name.clone(),
            line: d.cron.source.clone(),
            words: d.cron.describe(),
            either_day: d.cron.either_day(),
            subject: d.subject.clone(),
            lookback_days: d.lookback.num_days(),
            max_articles: d.max_articles,
            firings: service
                .next_firings(d, &zone, FIRINGS)
                .iter()
                .map(|t| t.format("%a %-d %b %Y, %H:%M %Z").to_string())
                .collect(),
        })
        .collect();
    let view = ListView {
        zones: zones
            .into_iter()
            .map(|name| ZoneOption {
                selected: name == zone_name,
                name,
            })
            .collect(),
        zone: zone_name,
        zone_error: zone_error.clone(),
        digests,
        csrf: admin.csrf().to_string(),
    };
    let status = if zone_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    console_page_with(
        &state,
        Some(&admin),
        "digests/list",
        "Digests",
        None,
        status,
        &view,
    )
}

// ---- preview and test send ----

#[derive(Deserialize, Default)]
struct PreviewQuery {
    #[serde(default)]
    subscriber: String,
}

/// Who a preview is for: a subscriber, or the sample reader when none is named.
enum Reader {
    Subscriber(Subscriber),
    Sample(Subscriber),
}

impl Reader {
    fn subscriber(&self) -> &Subscriber {
        match self {
            Reader::Subscriber(s) | Reader::Sample(s) => s,
        }
    }

    fn describe(&self) -> String {
        match self {
            Reader::Subscriber(s) => s.email.clone(),
            Reader::Sample(_) => "a sample reader (every audience, no digest before)".into(),
        }
    }
}

/// The reader a `subscriber` parameter names for the digest `name`; `Err` is the
/// message when none has it.
async fn reader(
    console: &Console,
    name: &str,
    key: &str,
) -> Result<Result<Reader, String>, Response> {
    let key = key.trim();
    if key.is_empty() {
        let Some(digest) = console.digests.digest(name) else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        return Ok(Ok(Reader::Sample(
            console.digests.sample_subscriber(digest),
        )));
    }
    match console.digests.subscriber(key).await {
        Ok(Some(s)) => Ok(Ok(Reader::Subscriber(s))),
        Ok(None) => Ok(Err(format!("No subscriber has the address or id “{key}”."))),
        Err(e) => {
            tracing::error!("console: cannot look up a subscriber: {e}");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

#[derive(Serialize, Default)]
struct PreviewView {
    digest: String,
    subscriber: String,
    who: String,
    missing: Option<String>,
    nothing_new: bool,
    subject: String,
    text: String,
    frame_src: String,
    to: String,
    to_error: Option<String>,
    csrf: String,
}

/// The preview page: the subject, the HTML in a sandboxed frame, the text beside it,
/// and the test-send form.
async fn preview(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Path(name): Path<String>,
    Query(query): Query<PreviewQuery>,
) -> Response {
    preview_page(&state, &admin, &name, &query.subscriber, "", None, None).await
}

/// Draws the preview page, after a test send too (`notice`, `to_error`).
async fn preview_page(
    state: &Shared,
    admin: &Admin,
    name: &str,
    key: &str,
    to: &str,
    notice: Option<&str>,
    to_error: Option<String>,
) -> Response {
    let console = match parts(state, admin) {
        Ok((_, console)) => console,
        Err(r) => return r,
    };
    let Some(digest) = console.digests.digest(name) else {
        return no_digest(state, admin, name);
    };
    let mut view = PreviewView {
        digest: digest.name.clone(),
        subscriber: key.trim().to_string(),
        to: to.to_string(),
        csrf: admin.csrf().to_string(),
        ..PreviewView::default()
    };
    let mut status = if to_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view.to_error = to_error;
    match reader(console, name, key).await {
        Err(r) => return r,
        Ok(Err(missing)) => {
            view.missing = Some(missing);
            status = StatusCode::NOT_FOUND;
        }
        Ok(Ok(reader)) => {
            view.who = reader.describe();
            match console.digests.preview(digest, reader.subscriber()).await {
                Ok(None) => view.nothing_new = true,
                Ok(Some(content)) => {
                    view.subject = content.subject;
                    view.text = content.text;
                    view.frame_src = format!(
                        "/admin/digests/{}/preview.html?subscriber={}",
                        encode(&digest.name),
                        encode(key.trim())
                    );
                }
                Err(e) => return failed(state, admin, "preview this digest", &e),
            }
        }
    }
    let title = format!("Preview: {}", digest.name);
    console_page_with(
        state,
        Some(admin),
        "digests/preview",
        &title,
        notice,
        status,
        &view,
    )
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The preview's HTML alone, for the sandboxed frame.
async fn framed(
    State(state): State<Arc<Shared>>,
    // Only a signed-in admin sees a preview; the frame needs no more of the session.
    admin: Admin,
    Path(name): Path<String>,
    Query(query): Query<PreviewQuery>,
) -> Response {
    let console = match parts(&state, &admin) {
        Ok((_, console)) => console,
        Err(r) => return r,
    };
    let Some(digest) = console.digests.digest(&name) else {
        return framed_document(
            StatusCode::NOT_FOUND,
            "<p>There is no such digest.</p>".into(),
        );
    };
    let reader = match reader(console, &name, &query.subscriber).await {
        Ok(Ok(reader)) => reader,
        Ok(Err(_)) => {
            return framed_document(StatusCode::NOT_FOUND, "<p>No such subscriber.</p>".into());
        }
        Err(r) => return r,
    };
    match console.digests.preview(digest, reader.subscriber()).await {
        Ok(Some(NewContent { html, .. })) => framed_document(StatusCode::OK, html),
        Ok(None) => framed_document(
            StatusCode::OK,
            "<p>Nothing new: this reader would get no digest now.</p>".into(),
        ),
        Err(e) => {
            tracing::error!("console: cannot preview the {name} digest: {e}");
            framed_document(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<p>The preview could not be rendered; the log says why.</p>".into(),
            )
        }
    }
}

/// A document for the preview frame, under its own sandboxing policy.
pub(crate) fn framed_document(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PREVIEW_POLICY),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    response
}

#[derive(Deserialize)]
struct TestForm {
    #[serde(default)]
    subscriber: String,
    #[serde(default)]
    to: String,
}

/// "Send a test to…": one message of the digest as the chosen reader would get it,
/// queued for the given address.
async fn send_test(
    State(state): State<Arc<Shared>>,
    Path(name): Path<String>,
    CsrfForm(admin, form): CsrfForm<TestForm>,
) -> Response {
    let console = match parts(&state, &admin) {
        Ok((_, console)) => console,
        Err(r) => return r,
    };
    let Some(digest) = console.digests.digest(&name) else {
        return no_digest(&state, &admin, &name);
    };
    let reader = match reader(console, &name, &form.subscriber).await {
        Ok(Ok(reader)) => reader,
        Ok(Err(_)) => {
            return preview_page(
                &state,
                &admin,
                &name,
                &form.subscriber,
                &form.to,
                None,
                None,
            )
            .await;
        }
        Err(r) => return r,
    };
    let who = reader.describe();
    let sent = console
        .digests
        .send_test(digest, reader.subscriber(), &form.to)
        .await;
    let (notice, to_error) = match sent {
        Ok(Some(sent)) => (
            Some(format!(
                "A test of the {} digest, as {who} would get it now, is queued for {}.",
                digest.name, sent.to
            )),
            None,
        ),
        Ok(None) => (
            Some(format!(
                "Nothing new for {who}, so no test was queued: a test sends what this reader would get."
            )),
            None,
        ),
        Err(TestError::Address(e)) => (None, Some(e.to_string())),
        Err(TestError::Run(e)) => return failed(&state, &admin, "queue the test", &e),
    };
    preview_page(
        &state,
        &admin,
        &name,
        &form.subscriber,
        &form.to,
        notice.as_deref(),
        to_error,
    )
    .await
}

// ---- dry run ----

#[derive(Serialize)]
struct DryRunView {
    digest: String,
    at: String,
    run: DryRunFigures,
    unnamed: usize,
}

#[derive(Serialize)]
struct DryRunFigures {
    digests: usize,
    contents: usize,
    nothing_new: usize,
    nothing_new_first: Vec<Named>,
    already_planned: usize,
    unschedulable: usize,
}

/// A subscriber with nothing new, linked to their preview.
#[derive(Serialize)]
struct Named {
    email: String,
    preview: String,
}

impl DryRunFigures {
    fn new(digest: &str, d: DryRun) -> Self {
        DryRunFigures {
            digests: d.digests,
            contents: d.contents,
            nothing_new: d.nothing_new,
            nothing_new_first: d
                .nothing_new_first
                .into_iter()
                .map(|email| Named {
                    preview: format!(
                        "/admin/digests/{}/preview?subscriber={}",
                        encode(digest),
                        encode(&email)
                    ),
                    email,
                })
                .collect(),
            already_planned: d.already_planned,
            unschedulable: d.unschedulable,
        }
    }
}

#[derive(Deserialize)]
struct NoFields {}

/// The whole run planned now and not queued: a POST, since planning notes the
/// articles it sees for the first time, and a large list takes a while.
async fn dry_run(
    State(state): State<Arc<Shared>>,
    Path(name): Path<String>,
    CsrfForm(admin, _): CsrfForm<NoFields>,
) -> Response {
    let console = match parts(&state, &admin) {
        Ok((_, console)) => console,
        Err(r) => return r,
    };
    let Some(digest) = console.digests.digest(&name) else {
        return no_digest(&state, &admin, &name);
    };
    let run = match console.digests.dry_run(digest, NOTHING_NEW_SHOWN).await {
        Ok(run) => run,
        Err(e) => return failed(&state, &admin, "plan this digest", &e),
    };
    let view = DryRunView {
        digest: digest.name.clone(),
        at: run.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        unnamed: run.nothing_new - run.nothing_new_first.len(),
        run: DryRunFigures::new(&digest.name, run),
    };
    console_page(
        &state,
        Some(&admin),
        "digests/dry_run",
        &format!("Dry run: {}", digest.name),
        &view,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framed_preview_is_sandboxed_and_framed_only_by_the_console() {
        let response = framed_document(StatusCode::OK, "<p>hi</p>".into());
        let headers = response.headers();
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("sandbox;"), "{policy}");
        assert!(policy.contains("default-src 'none'"));
        assert!(policy.contains("frame-ancestors 'self'"));
        assert!(!policy.contains("script"), "{policy}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[test]
    fn query_values_are_encoded_for_the_frame_link() {
        assert_eq!(encode("ada+news@example.org"), "ada%2Bnews%40example.org");
        assert_eq!(encode("a b&c"), "a+b%26c");
    }
}

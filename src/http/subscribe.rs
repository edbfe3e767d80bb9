//! The subscriber's pages: sign up, confirm (GET shows a button, only POST acts),
//! one-click unsubscribe (RFC 8058), and the preference page with data export and
//! erasure. All work without JavaScript and answer forged or expired links with an
//! error page that changes nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::limit::client_ip;
use super::{People, Shared};
use crate::model::{Status, Subscriber};
use crate::site::pages::page;
use crate::store::{SignUp, SubscriberChanges};
use crate::subscriptions::{Request as SignUpRequest, SubscriptionError, data_export};
use crate::tokens::{Purpose, TokenError};

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

#[derive(Serialize)]
struct Hidden {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Button {
    action: String,
    hidden: Vec<Hidden>,
    button: &'static str,
}

#[derive(Serialize)]
struct Link {
    href: String,
    text: &'static str,
}

#[derive(Serialize)]
struct Message {
    heading: String,
    paragraphs: Vec<String>,
    form: Option<Button>,
    link: Option<Link>,
}

fn render(
    people: &People,
    status: StatusCode,
    template: &str,
    title: &str,
    body: impl Serialize,
) -> Response {
    let canonical = people.meta.base_url.to_string();
    let data = page(
        &people.meta,
        format!("{title} · {}", people.meta.title),
        canonical,
        body,
    );
    match people.templates.render(template, &data) {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!("{e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

fn message(
    people: &People,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    form: Option<Button>,
    link: Option<Link>,
) -> Response {
    let body = Message {
        heading: heading.to_string(),
        paragraphs,
        form,
        link,
    };
    render(people, status, "page.html", heading, body)
}

/// One answer for every bad link; the log keeps the reason.
fn failure(people: &People, error: SubscriptionError) -> Response {
    match error {
        SubscriptionError::Token(reason) => {
            tracing::info!("refused a link: {reason}");
            let status = match reason {
                TokenError::BadSignature | TokenError::WrongPurpose => StatusCode::FORBIDDEN,
                TokenError::Malformed | TokenError::Expired => StatusCode::BAD_REQUEST,
            };
            let text = if reason == TokenError::Expired {
                "This link has expired. Links in confirmation emails work for a few days; sign up again to get a fresh one."
            } else {
                "This link is not valid. Please use the link from your email as it is."
            };
            message(
                people,
                status,
                "This link does not work",
                vec![text.into()],
                None,
                Some(subscribe_link(people)),
            )
        }
        SubscriptionError::Gone => message(
            people,
            StatusCode::GONE,
            "No subscription here",
            vec!["This subscription no longer exists.".into()],
            None,
            Some(subscribe_link(people)),
        ),
        SubscriptionError::Invalid(problems) => message(
            people,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please check your choices",
            problems,
            None,
            None,
        ),
        other => {
            tracing::error!("{other}");
            message(
                people,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                vec!["Nothing was changed. Please try again in a little while.".into()],
                None,
                None,
            )
        }
    }
}

fn subscribe_link(people: &People) -> Link {
    Link {
        href: people.meta.url("subscribe"),
        text: "Go to the sign-up page",
    }
}

fn missing_token(people: &People) -> Response {
    failure(people, SubscriptionError::Token(TokenError::Malformed))
}

/// The socket peer, when the server recorded it.
fn peer(connect: &Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<SocketAddr> {
    connect.as_ref().map(|c| c.0.0)
}

/// Form fields, repeated keys kept (the audience checkboxes); `None` when a name or
/// a value is not UTF-8 once percent-decoded. A lossy decoding would store U+FFFD in
/// place of what was sent (`\u{FFFD}@example.org`), so such a form is refused.
fn form_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    let utf8 = body
        .split(|&b| b == b'&')
        .all(|pair| percent_encoding::percent_decode(pair).decode_utf8().is_ok());
    utf8.then(|| url::form_urlencoded::parse(body).into_owned().collect())
}

/// A sign-up turned away for now, with `Retry-After` a minute.
fn try_again_later(people: &People, status: StatusCode, why: &str) -> Response {
    let mut response = message(
        people,
        status,
        "Too many sign-ups",
        vec![format!("{why} Please try again in a minute.")],
        None,
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    response
}

/// The answer to a form that is not UTF-8.
fn bad_form(people: &People) -> Response {
    message(
        people,
        StatusCode::BAD_REQUEST,
        "Nothing was changed",
        vec!["The form could not be read: it was not sent as UTF-8 text.".into()],
        None,
        None,
    )
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn all(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

#[derive(Serialize)]
struct Choice {
    slug: String,
    name: String,
    description: Option<String>,
    checked: bool,
}

#[derive(Serialize)]
struct Frequency {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Serialize)]
struct Zone {
    value: &'static str,
    selected: bool,
}

fn choices(
    people: &People,
    chosen: &[String],
    frequency: &str,
    timezone: &str,
) -> (Vec<Choice>, Vec<Frequency>, Vec<Zone>) {
    let taxonomy = people.subscriptions.taxonomy();
    let audiences = taxonomy
        .audiences()
        .iter()
        .map(|a| Choice {
            slug: a.slug.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            checked: chosen.contains(&a.slug),
        })
        .collect();
    let frequencies = people
        .subscriptions
        .settings()
        .frequencies
        .iter()
        .map(|f| {
            let mut label = f.replace('-', " ");
            if let Some(first) = label.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            Frequency {
                value: f.clone(),
                label,
                checked: f == frequency,
            }
        })
        .collect();
    let zones = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| Zone {
            value: tz.name(),
            selected: tz.name() == timezone,
        })
        .collect();
    (audiences, frequencies, zones)
}

#[derive(Serialize)]
struct FormValues {
    email: String,
    name: String,
}

#[derive(Serialize)]
struct SubscribeBody {
    form: FormValues,
    errors: Vec<String>,
    audiences: Vec<Choice>,
    frequencies: Vec<Frequency>,
    timezones: Vec<Zone>,
    consent_version: String,
}

fn subscribe_page(
    people: &People,
    status: StatusCode,
    values: FormValues,
    chosen: &[String],
    frequency: &str,
    timezone: &str,
    errors: Vec<String>,
) -> Response {
    let (audiences, frequencies, timezones) = choices(people, chosen, frequency, timezone);
    let body = SubscribeBody {
        form: values,
        errors,
        audiences,
        frequencies,
        timezones,
        consent_version: people.subscriptions.settings().consent_version.clone(),
    };
    render(people, status, "subscribe.html", "Subscribe", body)
}

pub(super) async fn form(State(state): State<Arc<Shared>>) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let settings = people.subscriptions.settings();
    let values = FormValues {
        email: String::new(),
        name: String::new(),
    };
    subscribe_page(
        people,
        StatusCode::OK,
        values,
        &[],
        &settings.default_frequency,
        &settings.default_timezone,
        Vec::new(),
    )
}

pub(super) async fn submit(
    State(state): State<Arc<Shared>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ip = client_ip(&headers, peer(&connect), &people.trusted_proxies);
    if !people
        .limiter
        .allow(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    {
        return try_again_later(
            people,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ups came from your network in the last minute.",
        );
    }
    let Some(fields) = form_fields(&body) else {
        return bad_form(people);
    };
    let request = SignUpRequest {
        email: field(&fields, "email").unwrap_or_default(),
        name: field(&fields, "name"),
        audiences: all(&fields, "audiences"),
        frequency: field(&fields, "frequency"),
        timezone: field(&fields, "timezone"),
        source: Some(crate::model::Source::Form),
        ip: ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    // Only what the form says decides the answer, never what the database holds:
    // the sign-up is checked here and saved after the answer went out, so a known
    // address and a new one take the same time and get the same page.
    let new = match people.subscriptions.check(&request, Status::Pending) {
        Ok(new) => new,
        Err(SubscriptionError::Invalid(errors)) => {
            let settings = people.subscriptions.settings();
            let values = FormValues {
                email: request.email.clone(),
                name: request.name.clone().unwrap_or_default(),
            };
            return subscribe_page(
                people,
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
                &request.audiences,
                request
                    .frequency
                    .as_deref()
                    .unwrap_or(&settings.default_frequency),
                request
                    .timezone
                    .as_deref()
                    .unwrap_or(&settings.default_timezone),
                errors,
            );
        }
        Err(other) => return failure(people, other),
    };
    let subscriptions = people.subscriptions.clone();
    let saving = people.sign_ups.save(async move {
        match subscriptions.sign_up_checked(&new).await {
            Ok(SignUp::AlreadyActive(_)) => {
                tracing::info!("a sign-up for an address that is already subscribed")
            }
            Ok(_) => {}
            Err(e) => tracing::error!("a sign-up could not be saved: {e}"),
        }
    });
    if saving.is_err() {
        return try_again_later(
            people,
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ups are waiting to be saved.",
        );
    }
    message(
        people,
        StatusCode::OK,
        "Check your inbox",
        vec![
            format!("If {} can receive mail, a confirmation link is on its way.", request.email.trim()),
            "Nothing else arrives until you click it. If you are already subscribed, nothing changes.".into(),
        ],
        None,
        None,
    )
}

pub(super) async fn confirm_page(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = query.token else {
        return missing_token(people);
    };
    // Only the signature and date are checked here: a GET changes nothing.
    if let Err(e) =
        people
            .subscriptions
            .signer()
            .verify(&token, Purpose::Confirm, people.subscriptions.now())
    {
        return failure(people, e.into());
    }
    let form = Button {
        action: people.meta.url("confirm"),
        hidden: vec![Hidden {
            name: "token",
            value: token,
        }],
        button: "Yes, subscribe me",
    };
    message(
        people,
        StatusCode::OK,
        "Confirm your subscription",
        vec!["One more click and your first digest is on its way.".into()],
        Some(form),
        None,
    )
}

pub(super) async fn confirm(
    State(state): State<Arc<Shared>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(fields) = form_fields(&body) else {
        return bad_form(people);
    };
    let Some(token) = field(&fields, "token") else {
        return missing_token(people);
    };
    let ip = client_ip(&headers, peer(&connect), &people.trusted_proxies).map(|ip| ip.to_string());
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match people
        .subscriptions
        .confirm(&token, ip.as_deref(), agent)
        .await
    {
        Ok(subscriber) => {
            let links = people.subscriptions.links(subscriber.id);
            message(
                people,
                StatusCode::OK,
                "You are subscribed",
                vec![format!(
                    "{} will get the {} digest.",
                    subscriber.email, subscriber.frequency
                )],
                None,
                Some(Link {
                    href: links.preferences_url,
                    text: "Change your preferences",
                }),
            )
        }
        Err(e) => failure(people, e),
    }
}

pub(super) async fn unsubscribe_page(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = query.token else {
        return missing_token(people);
    };
    let now = people.subscriptions.now();
    let signer = people.subscriptions.signer();
    if let Err(e) = signer.verify_any(&token, &[Purpose::Unsubscribe, Purpose::Preferences], now) {
        return failure(people, e.into());
    }
    let mut action = people
        .meta
        .base_url
        .join("unsubscribe")
        .unwrap_or_else(|_| people.meta.base_url.clone());
    action.query_pairs_mut().append_pair("token", &token);
    let form = Button {
        action: action.to_string(),
        hidden: vec![Hidden {
            name: "List-Unsubscribe",
            value: "One-Click".into(),
        }],
        button: "Unsubscribe",
    };
    message(
        people,
        StatusCode::OK,
        "Unsubscribe?",
        vec![
            "Press the button and you will get no more digests. You can sign up again at any time."
                .into(),
        ],
        Some(form),
        None,
    )
}

/// Whether a body says `List-Unsubscribe=One-Click`, form-encoded or multipart.
async fn is_one_click(request: Request) -> bool {
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

/// RFC 8058 one-click: a POST with `List-Unsubscribe=One-Click` unsubscribes at once,
/// answers 200 without a redirect, needs no cookie and can be repeated.
pub(super) async fn unsubscribe(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
    request: Request,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = query.token else {
        return missing_token(people);
    };
    if !is_one_click(request).await {
        return message(
            people,
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            vec!["An unsubscribe request must carry List-Unsubscribe=One-Click.".into()],
            None,
            None,
        );
    }
    match people.subscriptions.unsubscribe(&token, "one-click").await {
        Ok(subscriber) => message(
            people,
            StatusCode::OK,
            "You are unsubscribed",
            vec![format!("{} will get no more digests.", subscriber.email)],
            None,
            Some(subscribe_link(people)),
        ),
        Err(e) => failure(people, e),
    }
}

#[derive(Serialize)]
struct PreferencesBody<'a> {
    subscriber: &'a Subscriber,
    token: &'a str,
    saved: bool,
    errors: Vec<String>,
    audiences: Vec<Choice>,
    frequencies: Vec<Frequency>,
    timezones: Vec<Zone>,
}

fn preferences_page(
    people: &People,
    status: StatusCode,
    subscriber: &Subscriber,
    token: &str,
    saved: bool,
    errors: Vec<String>,
) -> Response {
    let (audiences, frequencies, timezones) = choices(
        people,
        &subscriber.audiences,
        &subscriber.frequency,
        &subscriber.timezone,
    );
    let body = PreferencesBody {
        subscriber,
        token,
        saved,
        errors,
        audiences,
        frequencies,
        timezones,
    };
    render(
        people,
        status,
        "preferences.html",
        "Your subscription",
        body,
    )
}

/// The subscriber a preferences link stands for, with the link's token; or the page
/// that says why there is none (no subscriber pages, no token, a bad or old token).
async fn preferences_link(
    state: &Shared,
    token: Option<String>,
) -> Result<(&People, Subscriber, String), Response> {
    let Some(people) = state.people.as_ref() else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let Some(token) = token else {
        return Err(missing_token(people));
    };
    match people
        .subscriptions
        .subscriber_for(&token, Purpose::Preferences)
        .await
    {
        Ok(subscriber) => Ok((people, subscriber, token)),
        Err(e) => Err(failure(people, e)),
    }
}

pub(super) async fn preferences(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    match preferences_link(&state, query.token).await {
        Ok((people, subscriber, token)) => preferences_page(
            people,
            StatusCode::OK,
            &subscriber,
            &token,
            false,
            Vec::new(),
        ),
        Err(response) => response,
    }
}

pub(super) async fn preferences_action(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
    body: Bytes,
) -> Response {
    let (people, subscriber, token) = match preferences_link(&state, query.token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(fields) = form_fields(&body) else {
        return bad_form(people);
    };
    match field(&fields, "action").as_deref() {
        Some("save") => {
            let changes = SubscriberChanges {
                name: Some(field(&fields, "name").filter(|n| !n.trim().is_empty())),
                audiences: Some(all(&fields, "audiences")),
                frequency: field(&fields, "frequency"),
                timezone: field(&fields, "timezone"),
                status: None,
            };
            match people.subscriptions.update(&subscriber, changes).await {
                Ok(updated) => preferences_page(people, StatusCode::OK, &updated, &token, true, Vec::new()),
                Err(SubscriptionError::Invalid(errors)) => {
                    preferences_page(people, StatusCode::UNPROCESSABLE_ENTITY, &subscriber, &token, false, errors)
                }
                Err(e) => failure(people, e),
            }
        }
        Some("unsubscribe") => match people.subscriptions.unsubscribe_subscriber(&subscriber, "preferences").await {
            Ok(after) => message(
                people,
                StatusCode::OK,
                "You are unsubscribed",
                vec![format!("{} will get no more digests.", after.email)],
                None,
                Some(subscribe_link(people)),
            ),
            Err(e) => failure(people, e),
        },
        Some("delete") => match people.subscriptions.erase(&subscriber).await {
            Ok(()) => message(
                people,
                StatusCode::OK,
                "Your data is deleted",
                vec!["We removed your subscription and your details. We keep only a one-way hash of your address so that we never mail it again unless you sign up anew.".into()],
                None,
                None,
            ),
            Err(e) => failure(people, e),
        },
        _ => message(people, StatusCode::BAD_REQUEST, "Nothing was changed", vec!["Unknown action.".into()], None, None),
    }
}

pub(super) async fn data(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    match preferences_link(&state, query.token).await {
        Ok((_, subscriber, _)) => {
            let body = serde_json::to_vec_pretty(&data_export(&subscriber)).unwrap_or_default();
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"crier-my-data.json\"",
                    ),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                body,
            )
                .into_response()
        }
        Err(response) => response,
    }
}

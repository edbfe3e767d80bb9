//! What the subscriber pages show: the view models the page templates fill in, the
//! answer for each kind of refusal, and the sign-up and preference forms with their
//! choices. Renders only; it reads no request and changes nothing.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::http::People;
use crate::model::Subscriber;
use crate::site::pages::page;
use crate::subscriptions::SubscriptionError;
use crate::tokens::TokenError;

#[derive(Serialize)]
pub(super) struct Hidden {
    pub(super) name: &'static str,
    pub(super) value: String,
}

#[derive(Serialize)]
pub(super) struct Button {
    pub(super) action: String,
    pub(super) hidden: Vec<Hidden>,
    pub(super) button: &'static str,
}

#[derive(Serialize)]
pub(super) struct Link {
    pub(super) href: String,
    pub(super) text: &'static str,
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
    // The sign-up page is its own canonical URL (whatever audiences its query ticks);
    // the others answer a form or carry a token, and a token URL must never be one.
    let canonical = match template {
        "subscribe.html" => people.meta.url("subscribe"),
        _ => String::new(),
    };
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

pub(super) fn message(
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
pub(super) fn failure(people: &People, error: SubscriptionError) -> Response {
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

pub(super) fn subscribe_link(people: &People) -> Link {
    Link {
        href: people.meta.url("subscribe"),
        text: "Go to the sign-up page",
    }
}

pub(super) fn missing_token(people: &People) -> Response {
    failure(people, SubscriptionError::Token(TokenError::Malformed))
}

/// A sign-up turned away for now, with `Retry-After` a minute.
pub(super) fn try_again_later(people: &People, status: StatusCode, why: &str) -> Response {
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
pub(super) fn bad_form(people: &People) -> Response {
    message(
        people,
        StatusCode::BAD_REQUEST,
        "Nothing was changed",
        vec!["The form could not be read: it was not sent as UTF-8 text.".into()],
        None,
        None,
    )
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
    let everything = crate::model::EVERYTHING;
    let audiences = taxonomy
        .audiences()
        .iter()
        .map(|a| Choice {
            slug: a.slug.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            checked: chosen.contains(&a.slug),
        })
        // Last: every brief, those that match no audience too.
        .chain(std::iter::once(Choice {
            slug: everything.to_string(),
            name: taxonomy.choice_name(everything),
            description: Some(
                "Every brief, with those written for no audience in particular under \
                 \u{201c}More\u{201d}."
                    .into(),
            ),
            checked: chosen.iter().any(|c| c == everything),
        }))
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
pub(super) struct FormValues {
    pub(super) email: String,
    pub(super) name: String,
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

pub(super) fn subscribe_page(
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

pub(super) fn preferences_page(
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

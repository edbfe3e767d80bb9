//! What the subscriber pages show: the view models the page templates fill in, the
//! answer for each kind of refusal, and the sign-up and preference forms with their
//! choices. Renders only; it reads no request and changes nothing.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::choices::{Choice, Frequency, ZoneGroup, audiences, frequencies, zone_groups};
use crate::http::People;
use crate::model::{Status, Subscriber};
use crate::site::pages::page;
use crate::subscriptions::SubscriptionError;
use crate::tokens::TokenError;

#[derive(Serialize)]
pub(super) struct Hidden {
    pub(super) name: &'static str,
    pub(super) value: String,
}

/// How a button looks: the one thing the page is for, another way, or an action
/// that cannot be undone.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum Style {
    Primary,
    Secondary,
    Danger,
}

#[derive(Serialize)]
pub(super) struct Button {
    pub(super) action: String,
    pub(super) hidden: Vec<Hidden>,
    pub(super) button: &'static str,
    pub(super) style: Style,
    /// A heading above the form, for a page with several.
    pub(super) heading: Option<String>,
    /// A sentence inside the form, above the button.
    pub(super) note: Option<String>,
    /// The label of a checkbox that must be ticked first (`confirm=yes`).
    pub(super) confirm: Option<&'static str>,
}

impl Button {
    pub(super) fn new(action: String, hidden: Vec<Hidden>, button: &'static str) -> Button {
        Button {
            action,
            hidden,
            button,
            style: Style::Primary,
            heading: None,
            note: None,
            confirm: None,
        }
    }
}

#[derive(Serialize)]
pub(super) struct Link {
    pub(super) href: String,
    pub(super) text: String,
}

/// "Email me a link to my preferences": one address field.
#[derive(Serialize)]
pub(super) struct EmailForm {
    pub(super) action: String,
    pub(super) heading: &'static str,
    pub(super) email: String,
    pub(super) note: &'static str,
}

/// A page of a heading, some sentences, forms and links.
#[derive(Serialize, Default)]
pub(super) struct Message {
    pub(super) heading: String,
    pub(super) paragraphs: Vec<String>,
    pub(super) errors: Vec<String>,
    pub(super) forms: Vec<Button>,
    pub(super) email_form: Option<EmailForm>,
    pub(super) links: Vec<Link>,
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

pub(super) fn show(people: &People, status: StatusCode, body: Message) -> Response {
    let heading = body.heading.clone();
    render(people, status, "page.html", &heading, body)
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
        forms: form.into_iter().collect(),
        links: link.into_iter().collect(),
        ..Message::default()
    };
    show(people, status, body)
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
            let mut links = vec![subscribe_link(people)];
            links.push(Link {
                href: people.meta.url("preferences"),
                text: "Get a fresh link to your preferences".into(),
            });
            show(
                people,
                status,
                Message {
                    heading: "This link does not work".into(),
                    paragraphs: vec![text.into()],
                    links,
                    ..Message::default()
                },
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
        text: "Go to the sign-up page".into(),
    }
}

pub(super) fn missing_token(people: &People) -> Response {
    failure(people, SubscriptionError::Token(TokenError::Malformed))
}

/// A form turned away for now, with `Retry-After` a minute and a way back to it.
pub(super) fn try_again_later(
    people: &People,
    status: StatusCode,
    why: &str,
    back: Link,
) -> Response {
    let mut response = show(
        people,
        status,
        Message {
            heading: "Too many requests".into(),
            paragraphs: vec![format!("{why} Please try again in a minute.")],
            links: vec![back],
            ..Message::default()
        },
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

/// "Email me a link to my preferences", pre-filled with `email`.
pub(super) fn link_request_form(people: &People, email: String) -> EmailForm {
    EmailForm {
        action: people.meta.url("preferences"),
        heading: "Email me a link to my preferences",
        email,
        note: "We send a link to your preferences to this address if it is subscribed here.",
    }
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
    zone_groups: Vec<ZoneGroup>,
    /// Whether the browser's own zone may replace the selected one (a fresh form).
    browser_zone: bool,
    consent_version: String,
    privacy_url: Option<String>,
}

pub(super) struct SubscribeForm<'a> {
    pub(super) values: FormValues,
    pub(super) chosen: &'a [String],
    pub(super) frequency: &'a str,
    pub(super) timezone: &'a str,
    /// True for a fresh form: then the browser's zone, when a script finds it,
    /// replaces the site's.
    pub(super) fresh: bool,
    pub(super) errors: Vec<String>,
}

pub(super) fn subscribe_page(people: &People, status: StatusCode, form: SubscribeForm) -> Response {
    let body = SubscribeBody {
        form: form.values,
        errors: form.errors,
        audiences: audiences(people, form.chosen),
        frequencies: frequencies(people, form.frequency),
        zone_groups: zone_groups(form.timezone),
        browser_zone: form.fresh,
        consent_version: people.subscriptions.settings().consent_version.clone(),
        privacy_url: people.pages.privacy_url.clone(),
    };
    render(people, status, "subscribe.html", "Subscribe", body)
}

#[derive(Serialize)]
struct PreferencesBody<'a> {
    subscriber: &'a Subscriber,
    token: &'a str,
    /// What saving did, said for this subscriber's status.
    saved: Option<&'static str>,
    unsubscribed: bool,
    errors: Vec<String>,
    audiences: Vec<Choice>,
    frequencies: Vec<Frequency>,
    zone_groups: Vec<ZoneGroup>,
    privacy_url: Option<String>,
}

/// What "saved" means to someone in this status: only an active subscriber gets a
/// next digest.
fn saved_words(status: Status) -> &'static str {
    match status {
        Status::Active => "Your choices apply from the next digest.",
        Status::Pending => "Your digests start once you confirm from the email we sent you.",
        Status::Unsubscribed | Status::Bounced | Status::Complained => {
            "You are not subscribed, so no digests arrive."
        }
    }
}

pub(super) fn preferences_page(
    people: &People,
    status: StatusCode,
    subscriber: &Subscriber,
    token: &str,
    saved: bool,
    errors: Vec<String>,
) -> Response {
    let body = PreferencesBody {
        subscriber,
        token,
        saved: saved.then(|| saved_words(subscriber.status)),
        unsubscribed: subscriber.status == Status::Unsubscribed,
        errors,
        audiences: audiences(people, &subscriber.audiences),
        frequencies: frequencies(people, &subscriber.frequency),
        zone_groups: zone_groups(&subscriber.timezone),
        privacy_url: people.pages.privacy_url.clone(),
    };
    render(
        people,
        status,
        "preferences.html",
        "Your subscription",
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_subscriber_is_told_of_a_next_digest() {
        for status in Status::ALL {
            let words = saved_words(status);
            assert_eq!(
                words.contains("next digest"),
                status == Status::Active,
                "{status:?}"
            );
        }
    }
}

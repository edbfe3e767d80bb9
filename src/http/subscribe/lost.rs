//! Getting back in without the email: "Email me a link to my preferences". The form
//! is rate-limited per client (with the sign-ups: both make crier mail a typed
//! address), checked from what was typed alone, and the answer goes out before the
//! database is read, so that every address gets the same page in the same time.
//! An old link (genuine, past its date) leads here too, with its address filled in.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::forms::{field, form_fields};
use super::plain::sentence;
use super::unsubscribe::leave_button;
use super::views::{Link, Message, bad_form, link_request_form, show, try_again_later};
use crate::http::limit::client_ip;
use crate::http::{People, Shared};
use crate::model::{Subscriber, normalize_email};
use crate::subscriptions::Problem;

/// The form alone, as `/preferences` without a link shows it.
pub(super) fn link_request_page(
    people: &People,
    status: StatusCode,
    email: String,
    errors: Vec<String>,
) -> Response {
    show(
        people,
        status,
        Message {
            heading: "Your preferences".into(),
            paragraphs: vec![
                "Every email we send has a link to your preferences. Lost it, or is it too old? Type your address and we will email you a fresh one.".into(),
            ],
            errors,
            email_form: Some(link_request_form(people, email)),
            ..Message::default()
        },
    )
}

/// An old preferences or unsubscribe link: leaving still works, and a fresh link is
/// one click away. The address is filled in: the link's signature is genuine, so
/// whoever holds it had the email.
pub(super) fn expired_page(people: &People, subscriber: &Subscriber, token: &str) -> Response {
    let mut leave = leave_button(people, token);
    leave.heading = Some("Leave".into());
    leave.note = Some("Unsubscribing works with this link however old it is.".into());
    show(
        people,
        StatusCode::OK,
        Message {
            heading: "This link has expired".into(),
            paragraphs: vec![
                "Links to your preferences work for a long time, but not for ever. We can email you a fresh one.".into(),
            ],
            email_form: Some(link_request_form(people, subscriber.email.clone())),
            forms: vec![leave],
            ..Message::default()
        },
    )
}

/// POST `/preferences` without a link: mail a fresh link if the address is
/// subscribed. The answer depends only on what was typed.
pub(super) async fn request_link(
    state: &Shared,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let back = Link {
        href: people.meta.url("preferences"),
        text: "Back to the form".into(),
    };
    let ip = client_ip(headers, peer, &people.trusted_proxies);
    if !people
        .limiter
        .allow(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
        .await
    {
        return try_again_later(
            people,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests came from your network in the last minute.",
            back,
        );
    }
    let Some(fields) = form_fields(body) else {
        return bad_form(people);
    };
    let typed = field(&fields, "email").unwrap_or_default();
    let email = match normalize_email(&typed) {
        Ok(email) => email,
        Err(e) => {
            return link_request_page(
                people,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                vec![sentence(&Problem::Address(e))],
            );
        }
    };
    let subscriptions = people.subscriptions.clone();
    let looked_up = email.clone();
    let saving = people.sign_ups.save(async move {
        if let Err(e) = subscriptions.send_preferences_link(&looked_up).await {
            tracing::error!("a preferences link could not be queued: {e}");
        }
    });
    if saving.is_err() {
        return try_again_later(
            people,
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many requests are waiting to be handled.",
            back,
        );
    }
    show(
        people,
        StatusCode::OK,
        Message {
            heading: "Check your inbox".into(),
            paragraphs: vec![
                format!("If {email} is subscribed here, we sent it a link to its preferences."),
                "No email? Check your spam folder. We send at most one link every ten minutes."
                    .into(),
            ],
            links: vec![back],
            ..Message::default()
        },
    )
}

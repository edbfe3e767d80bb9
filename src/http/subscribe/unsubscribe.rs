//! Unsubscribing: the page a link opens (a button, nothing changes yet), with
//! "fewer emails" and "only some audiences" offered below the way out, and the
//! RFC 8058 one-click POST that mail clients send. A link past its date still
//! unsubscribes: mailbox providers expect unsubscribe links to keep working.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::choices::label;
use super::forms::{TokenQuery, is_one_click};
use super::sign_up::lower_first;
use super::views::{
    Button, Hidden, Link, Message, Style, failure, link_request_form, message, missing_token, show,
    subscribe_link,
};
use crate::http::{People, Shared};
use crate::model::Status;
use crate::store::SubscriberChanges;
use crate::subscriptions::OpenedLink;

/// The URL of `path` with `token` in its query.
fn with_token(people: &People, path: &str, token: &str) -> String {
    let mut url = people
        .meta
        .base_url
        .join(path)
        .unwrap_or_else(|_| people.meta.base_url.clone());
    url.query_pairs_mut().append_pair("token", token);
    url.to_string()
}

/// The one-click form: what the leave button posts, for this link's token.
pub(super) fn leave_button(people: &People, token: &str) -> Button {
    Button::new(
        with_token(people, "unsubscribe", token),
        vec![Hidden {
            name: "List-Unsubscribe",
            value: "One-Click".into(),
        }],
        "Unsubscribe",
    )
}

pub(in crate::http) async fn unsubscribe_page(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = query.token else {
        return missing_token(people);
    };
    let link = match people.subscriptions.subscriber_for_leaving(&token).await {
        Ok(link) => link,
        Err(e) => return failure(people, e),
    };
    let subscriber = &link.subscriber;
    if subscriber.status != Status::Active && subscriber.status != Status::Pending {
        let mut page = Message {
            heading: "You are unsubscribed".into(),
            paragraphs: vec![format!("{} gets no digests from us.", subscriber.email)],
            ..Message::default()
        };
        if !link.expired && subscriber.status == Status::Unsubscribed {
            page.links.push(Link {
                href: people.subscriptions.links(subscriber.id).preferences_url,
                text: "Changed your mind? Resubscribe from your preferences".into(),
            });
        }
        return show(people, StatusCode::OK, page);
    }
    let mut page = Message {
        heading: "Unsubscribe?".into(),
        paragraphs: vec![
            "Press the button and you will get no more digests. You can sign up again at any time."
                .into(),
        ],
        forms: vec![leave_button(people, &token)],
        ..Message::default()
    };
    offer_alternatives(people, &link, &token, &mut page);
    show(people, StatusCode::OK, page)
}

/// Below the way out, the ways to stay with less: the least frequent schedule,
/// and the preference page for fewer audiences. An old link offers a fresh one
/// instead, pre-filled: its signature is genuine, so the address is its owner's.
fn offer_alternatives(people: &People, link: &OpenedLink, token: &str, page: &mut Message) {
    let subscriber = &link.subscriber;
    if link.expired {
        page.paragraphs.push(
            "This link is old, but it still lets you leave. To change your choices instead, ask for a fresh link."
                .into(),
        );
        page.email_form = Some(link_request_form(people, subscriber.email.clone()));
        return;
    }
    if let Some(least) = &people.pages.least_frequent
        && *least != subscriber.frequency
    {
        let mut fewer = Button::new(
            with_token(people, "unsubscribe/fewer", token),
            Vec::new(),
            "Send me fewer emails",
        );
        fewer.style = Style::Secondary;
        fewer.heading = Some("Or stay, with less".into());
        let when = people
            .pages
            .when(least)
            .map(|w| format!(", {} on your clock", lower_first(w)))
            .unwrap_or_default();
        fewer.note = Some(format!(
            "Fewer emails: switch to the {} digest{when}.",
            label(least).to_lowercase()
        ));
        page.forms.push(fewer);
    }
    page.links.push(Link {
        href: people.subscriptions.links(subscriber.id).preferences_url,
        text: "Only some audiences? Choose them on your preferences page".into(),
    });
}

/// "Fewer emails": moves the link's subscriber to the least frequent schedule. Not
/// with an old link: only leaving works past a link's date.
pub(in crate::http) async fn fewer(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
    _body: Bytes,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = query.token else {
        return missing_token(people);
    };
    let link = match people.subscriptions.subscriber_for_leaving(&token).await {
        Ok(link) if !link.expired => link,
        Ok(_) => return failure(people, crate::tokens::TokenError::Expired.into()),
        Err(e) => return failure(people, e),
    };
    let Some(least) = people.pages.least_frequent.clone() else {
        return message(
            people,
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            vec!["There is only one schedule.".into()],
            None,
            None,
        );
    };
    let changes = SubscriberChanges {
        frequency: Some(least.clone()),
        ..SubscriberChanges::default()
    };
    match people.subscriptions.update(&link.subscriber, changes).await {
        Ok(updated) => {
            let mut paragraphs = vec![format!(
                "{} will get the {} digest.",
                updated.email,
                label(&least).to_lowercase()
            )];
            if let Some(when) = people.pages.when(&least) {
                paragraphs.push(format!("It is sent {} on your clock.", lower_first(when)));
            }
            show(
                people,
                StatusCode::OK,
                Message {
                    heading: "Fewer emails it is".into(),
                    paragraphs,
                    forms: vec![{
                        let mut leave = leave_button(people, &token);
                        leave.style = Style::Secondary;
                        leave.heading = Some("Still want to leave?".into());
                        leave
                    }],
                    links: vec![Link {
                        href: people.subscriptions.links(updated.id).preferences_url,
                        text: "Change your preferences".into(),
                    }],
                    ..Message::default()
                },
            )
        }
        Err(e) => failure(people, e),
    }
}

/// RFC 8058 one-click: a POST with `List-Unsubscribe=One-Click` unsubscribes at once,
/// answers 200 without a redirect, needs no cookie and can be repeated. An expired
/// but genuine link works too.
pub(in crate::http) async fn unsubscribe(
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
        Ok(subscriber) => unsubscribed_page(people, &subscriber),
        Err(e) => failure(people, e),
    }
}

/// After leaving: who left, and the way back (the preference page, through a fresh
/// link, offers "Resubscribe").
pub(super) fn unsubscribed_page(
    people: &People,
    subscriber: &crate::model::Subscriber,
) -> Response {
    show(
        people,
        StatusCode::OK,
        Message {
            heading: "You are unsubscribed".into(),
            paragraphs: vec![format!("{} will get no more digests.", subscriber.email)],
            links: vec![
                Link {
                    href: people.subscriptions.links(subscriber.id).preferences_url,
                    text: "Made a mistake? Resubscribe from your preferences".into(),
                },
                subscribe_link(people),
            ],
            ..Message::default()
        },
    )
}

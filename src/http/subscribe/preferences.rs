//! The preference page a subscriber reaches from any digest: change audiences,
//! frequency and time zone, unsubscribe, resubscribe (through a new confirmation),
//! erase everything after a second step, or download what is kept. Without a link,
//! or with an old one, it offers to email a fresh link (see [`super::lost`]); an old
//! link still lets its owner leave.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::forms::{TokenQuery, all, field, form_fields, peer};
use super::lost::{expired_page, link_request_page, request_link};
use super::plain::sentences;
use super::unsubscribe::unsubscribed_page;
use super::views::{
    Button, Hidden, Message, Style, bad_form, failure, message, preferences_page, show,
};
use crate::http::limit::client_ip;
use crate::http::{People, Shared};
use crate::model::{Source, Status, Subscriber};
use crate::store::SubscriberChanges;
use crate::subscriptions::{Request as SignUpRequest, SignUp, data_export};
use crate::tokens::TokenError;

/// What a preferences link opens to.
enum Opened<'a> {
    /// A link that works: its subscriber.
    Fresh(&'a People, Subscriber, String),
    /// Genuine but past its date: only leaving, or a fresh link.
    Expired(&'a People, Subscriber, String),
}

/// The subscriber a preferences (or unsubscribe) link stands for; or the page that
/// says why there is none (no subscriber pages, a bad token).
async fn open(state: &Shared, token: String) -> Result<Opened<'_>, Response> {
    let Some(people) = state.people.as_ref() else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    match people.subscriptions.subscriber_for_leaving(&token).await {
        Ok(link) if link.expired => Ok(Opened::Expired(people, link.subscriber, token)),
        Ok(link) if token_is_for_preferences(&token) => {
            Ok(Opened::Fresh(people, link.subscriber, token))
        }
        // An unsubscribe link opens the unsubscribe page, not the preferences.
        Ok(_) => Err(failure(people, TokenError::WrongPurpose.into())),
        Err(e) => Err(failure(people, e)),
    }
}

/// Whether a genuine token was signed for the preferences (`{id}.p.…`).
fn token_is_for_preferences(token: &str) -> bool {
    token.split('.').nth(1) == Some("p")
}

pub(in crate::http) async fn preferences(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(token) = query.token else {
        return match state.people.as_ref() {
            Some(people) => link_request_page(people, StatusCode::OK, String::new(), Vec::new()),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    };
    match open(&state, token).await {
        Ok(Opened::Fresh(people, subscriber, token)) => preferences_page(
            people,
            StatusCode::OK,
            &subscriber,
            &token,
            false,
            Vec::new(),
        ),
        Ok(Opened::Expired(people, subscriber, token)) => expired_page(people, &subscriber, &token),
        Err(response) => response,
    }
}

pub(in crate::http) async fn preferences_action(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = query.token else {
        return request_link(&state, peer(&connect), &headers, &body).await;
    };
    let (people, subscriber, token) = match open(&state, token).await {
        Ok(Opened::Fresh(people, subscriber, token)) => (people, subscriber, token),
        Ok(Opened::Expired(people, subscriber, token)) => {
            // Leaving works with an old link; nothing else does.
            let leaving = form_fields(&body)
                .is_some_and(|fields| field(&fields, "action").as_deref() == Some("unsubscribe"));
            if !leaving {
                return expired_page(people, &subscriber, &token);
            }
            return match people
                .subscriptions
                .unsubscribe_subscriber(&subscriber, "preferences")
                .await
            {
                Ok(after) => unsubscribed_page(people, &after),
                Err(e) => failure(people, e),
            };
        }
        Err(response) => return response,
    };
    let Some(fields) = form_fields(&body) else {
        return bad_form(people);
    };
    let action_url = |path: &str| {
        let mut url = people
            .meta
            .base_url
            .join(path)
            .unwrap_or_else(|_| people.meta.base_url.clone());
        url.query_pairs_mut().append_pair("token", &token);
        url.to_string()
    };
    match field(&fields, "action").as_deref() {
        Some("save") => {
            let request = choices(&subscriber, &fields);
            // Checked here first for the plain-words answer; `update` checks again.
            if let Err(problems) = people.subscriptions.check_each(&request, subscriber.status) {
                return preferences_page(
                    people,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &subscriber,
                    &token,
                    false,
                    sentences(&problems),
                );
            }
            let changes = SubscriberChanges {
                name: Some(request.name),
                audiences: Some(request.audiences),
                frequency: request.frequency,
                timezone: request.timezone,
                status: None,
            };
            match people.subscriptions.update(&subscriber, changes).await {
                Ok(updated) => {
                    preferences_page(people, StatusCode::OK, &updated, &token, true, Vec::new())
                }
                Err(e) => failure(people, e),
            }
        }
        Some("resubscribe") => {
            let mut request = choices(&subscriber, &fields);
            request.source = Some(Source::Form);
            request.ip = client_ip(&headers, peer(&connect), &people.trusted_proxies)
                .map(|ip| ip.to_string());
            request.user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let new = match people.subscriptions.check_each(&request, Status::Pending) {
                Ok(new) => new,
                Err(problems) => {
                    return preferences_page(
                        people,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &subscriber,
                        &token,
                        false,
                        sentences(&problems),
                    );
                }
            };
            // Through double opt-in, as a sign-up: the choices wait until the
            // owner confirms them from the mail.
            match people.subscriptions.sign_up_checked(&new).await {
                Ok(SignUp::AlreadyActive(_)) => message(
                    people,
                    StatusCode::OK,
                    "You are subscribed",
                    vec![format!("{} already gets the digest.", subscriber.email)],
                    None,
                    None,
                ),
                Ok(SignUp::Refused(_)) => failure(people, crate::subscriptions::SubscriptionError::Gone),
                Ok(_) => message(
                    people,
                    StatusCode::OK,
                    "Check your inbox",
                    vec![
                        format!("We sent a confirmation link to {}.", subscriber.email),
                        "Your digests start again once you click it. No email? Check your spam folder; we send at most one link every ten minutes.".into(),
                    ],
                    None,
                    None,
                ),
                Err(e) => failure(people, e),
            }
        }
        Some("unsubscribe") => match people
            .subscriptions
            .unsubscribe_subscriber(&subscriber, "preferences")
            .await
        {
            Ok(after) => unsubscribed_page(people, &after),
            Err(e) => failure(people, e),
        },
        // Erasing cannot be undone: the first press asks again.
        Some("delete") => erase_confirmation(
            people,
            action_url("preferences"),
            Vec::new(),
            StatusCode::OK,
        ),
        Some("erase") if field(&fields, "confirm").as_deref() == Some("yes") => {
            match people.subscriptions.erase(&subscriber).await {
                Ok(()) => message(
                    people,
                    StatusCode::OK,
                    "Your data is deleted",
                    vec!["We removed your subscription and your details. We keep only a one-way hash of your address so that we never mail it again unless you sign up anew.".into()],
                    None,
                    None,
                ),
                Err(e) => failure(people, e),
            }
        }
        Some("erase") => erase_confirmation(
            people,
            action_url("preferences"),
            vec!["Tick the box to confirm that you want everything deleted.".into()],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        _ => message(
            people,
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            vec!["Unknown action.".into()],
            None,
            None,
        ),
    }
}

/// The choices a preferences form sends, over the subscriber's own.
fn choices(subscriber: &Subscriber, fields: &[(String, String)]) -> SignUpRequest {
    SignUpRequest {
        email: subscriber.email.clone(),
        name: field(fields, "name").filter(|n| !n.trim().is_empty()),
        audiences: all(fields, "audiences"),
        frequency: field(fields, "frequency"),
        timezone: field(fields, "timezone"),
        ..SignUpRequest::default()
    }
}

/// The second step of erasing: what goes, a box to tick, and the destructive
/// button; "keep my data" leads back.
fn erase_confirmation(
    people: &People,
    action: String,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let mut erase = Button::new(
        action.clone(),
        vec![Hidden {
            name: "action",
            value: "erase".into(),
        }],
        "Delete my data for good",
    );
    erase.style = Style::Danger;
    erase.confirm = Some(
        "I understand that this deletes my subscription and my details, and cannot be undone.",
    );
    show(
        people,
        status,
        Message {
            heading: "Delete your data?".into(),
            paragraphs: vec![
                "This removes your subscription, your choices and the record of your consent. We keep only a one-way hash of your address, so that we never mail it again unless you sign up anew.".into(),
                "To stop the emails and keep your choices for later, unsubscribe instead.".into(),
            ],
            errors,
            forms: vec![erase],
            links: vec![super::views::Link {
                href: action,
                text: "Keep my data and go back to my preferences".into(),
            }],
            ..Message::default()
        },
    )
}

pub(in crate::http) async fn data(
    State(state): State<Arc<Shared>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let Some(token) = query.token else {
        return match state.people.as_ref() {
            Some(people) => super::views::missing_token(people),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    };
    match open(&state, token).await {
        Ok(Opened::Fresh(_, subscriber, _)) => {
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
        Ok(Opened::Expired(people, subscriber, token)) => expired_page(people, &subscriber, &token),
        Err(response) => response,
    }
}

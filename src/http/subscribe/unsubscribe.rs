//! Unsubscribing: the page a link opens (a button, nothing changes yet) and the
//! RFC 8058 one-click POST that mail clients send.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::forms::{TokenQuery, is_one_click};
use super::views::{Button, Hidden, failure, message, missing_token, subscribe_link};
use crate::http::Shared;
use crate::tokens::Purpose;

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

/// RFC 8058 one-click: a POST with `List-Unsubscribe=One-Click` unsubscribes at once,
/// answers 200 without a redirect, needs no cookie and can be repeated.
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

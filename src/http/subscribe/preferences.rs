//! The preference page a subscriber reaches from any digest: change audiences,
//! frequency and time zone, unsubscribe, erase everything, or download what is kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::forms::{TokenQuery, all, field, form_fields};
use super::views::{bad_form, failure, message, missing_token, preferences_page, subscribe_link};
use crate::http::{People, Shared};
use crate::model::Subscriber;
use crate::store::SubscriberChanges;
use crate::subscriptions::{SubscriptionError, data_export};
use crate::tokens::Purpose;

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

pub(in crate::http) async fn preferences(
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

pub(in crate::http) async fn preferences_action(
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

pub(in crate::http) async fn data(
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

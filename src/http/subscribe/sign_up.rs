//! Signing up: the form, its submission (checked at once, saved after the answer so
//! that a known address and a new one look the same), and the confirmation link,
//! whose GET only shows a button and whose POST confirms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::forms::{TokenQuery, all, field, form_fields, peer};
use super::views::{
    Button, FormValues, Hidden, Link, bad_form, failure, message, missing_token, subscribe_page,
    try_again_later,
};
use crate::http::Shared;
use crate::http::limit::client_ip;
use crate::model::{Source, Status};
use crate::subscriptions::{Request as SignUpRequest, SignUp, SubscriptionError};
use crate::tokens::Purpose;

/// The sign-up form; `?audience=hr&audience=developers` ticks those audiences (the
/// site's audience and article pages link here so).
pub(in crate::http) async fn form(
    State(state): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let settings = people.subscriptions.settings();
    let values = FormValues {
        email: String::new(),
        name: String::new(),
    };
    // Unknown slugs tick nothing: only the taxonomy's audiences are offered.
    let chosen = all(
        &form_fields(query.unwrap_or_default().as_bytes()).unwrap_or_default(),
        "audience",
    );
    subscribe_page(
        people,
        StatusCode::OK,
        values,
        &chosen,
        &settings.default_frequency,
        &settings.default_timezone,
        Vec::new(),
    )
}

pub(in crate::http) async fn submit(
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
        source: Some(Source::Form),
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

pub(in crate::http) async fn confirm_page(
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

pub(in crate::http) async fn confirm(
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

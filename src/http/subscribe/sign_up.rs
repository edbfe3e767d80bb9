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

use super::choices::label;
use super::forms::{TokenQuery, all, field, form_fields, peer};
use super::plain::sentences;
use super::views::{
    Button, FormValues, Hidden, Link, SubscribeForm, bad_form, failure, message, missing_token,
    subscribe_page, try_again_later,
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
    // Unknown slugs tick nothing: only the taxonomy's audiences are offered.
    let chosen = all(
        &form_fields(query.unwrap_or_default().as_bytes()).unwrap_or_default(),
        "audience",
    );
    let form = SubscribeForm {
        values: FormValues {
            email: String::new(),
            name: String::new(),
        },
        chosen: &chosen,
        frequency: &settings.default_frequency,
        timezone: &settings.default_timezone,
        fresh: true,
        errors: Vec::new(),
    };
    subscribe_page(people, StatusCode::OK, form)
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
        .await
    {
        return try_again_later(
            people,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ups came from your network in the last minute.",
            back_to_form(people),
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
    let new = match people.subscriptions.check_each(&request, Status::Pending) {
        Ok(new) => new,
        Err(problems) => {
            let settings = people.subscriptions.settings();
            let form = SubscribeForm {
                values: FormValues {
                    email: request.email.clone(),
                    name: request.name.clone().unwrap_or_default(),
                },
                chosen: &request.audiences,
                frequency: request
                    .frequency
                    .as_deref()
                    .unwrap_or(&settings.default_frequency),
                timezone: request
                    .timezone
                    .as_deref()
                    .unwrap_or(&settings.default_timezone),
                fresh: false,
                errors: sentences(&problems),
            };
            return subscribe_page(people, StatusCode::UNPROCESSABLE_ENTITY, form);
        }
    };
    // The time the link goes out, on the clock the form chose: taken from the
    // request, not from the record, so the answer is the same for every address.
    let sent_at = local_time(people.subscriptions.now(), &new.timezone);
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
            back_to_form(people),
        );
    }
    message(
        people,
        StatusCode::OK,
        "Check your inbox",
        vec![
            format!(
                "If {} is new here or not yet confirmed, we sent it a confirmation link at {sent_at}.",
                request.email.trim()
            ),
            "Nothing else arrives until you click it. If you are already subscribed, nothing changes.".into(),
            "No email? Check your spam folder. We send at most one link every ten minutes, so if you signed up a few minutes ago, use the link from that email.".into(),
        ],
        None,
        Some(back_to_form(people)),
    )
}

/// "10:42 (Europe/London time)": a time of day on the reader's chosen clock.
fn local_time(at: chrono::DateTime<chrono::Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => format!(
            "{} ({} time)",
            at.with_timezone(&tz).format("%H:%M"),
            tz.name()
        ),
        Err(_) => format!("{} (UTC)", at.format("%H:%M")),
    }
}

fn back_to_form(people: &crate::http::People) -> Link {
    Link {
        href: people.meta.url("subscribe"),
        text: "Back to the sign-up form".into(),
    }
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
    // A GET changes nothing: it only reads whose link this is.
    let subscriber = match people
        .subscriptions
        .subscriber_for(&token, Purpose::Confirm)
        .await
    {
        Ok(subscriber) => subscriber,
        Err(e) => return failure(people, e),
    };
    match subscriber.status {
        // Confirmed already (an active record never has a sign-up waiting): no
        // button, and no "one more click".
        Status::Active => subscribed_page(people, &subscriber),
        Status::Bounced | Status::Complained => failure(people, SubscriptionError::Gone),
        Status::Pending | Status::Unsubscribed => {
            let form = Button::new(
                people.meta.url("confirm"),
                vec![Hidden {
                    name: "token",
                    value: token,
                }],
                "Yes, subscribe me",
            );
            message(
                people,
                StatusCode::OK,
                "Confirm your subscription",
                vec!["One more click and your first digest is on its way.".into()],
                Some(form),
                None,
            )
        }
    }
}

/// The page of a confirmed subscriber: what they get and when, and their preferences.
fn subscribed_page(
    people: &crate::http::People,
    subscriber: &crate::model::Subscriber,
) -> Response {
    let links = people.subscriptions.links(subscriber.id);
    let mut paragraphs = vec![format!(
        "{} will get the {} digest.",
        subscriber.email,
        label(&subscriber.frequency).to_lowercase()
    )];
    if let Some(when) = people.pages.when(&subscriber.frequency) {
        paragraphs.push(format!(
            "It is sent {} on your clock ({}).",
            lower_first(when),
            subscriber.timezone
        ));
    }
    message(
        people,
        StatusCode::OK,
        "You are subscribed",
        paragraphs,
        None,
        Some(Link {
            href: links.preferences_url,
            text: "Change your preferences".into(),
        }),
    )
}

pub(super) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Confirms the subscription a token stands for. The token may come in the form's
/// body (the button on the GET page) or in the query string (`POST /confirm?token=…`,
/// as a mail client that POSTs the mailed link sends it): either way it is a POST
/// carrying the signed token, which is the reader's consent. If both carry one, they
/// must be the same token.
pub(in crate::http) async fn confirm(
    State(state): State<Arc<Shared>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(people) = state.people.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(fields) = form_fields(&body) else {
        return bad_form(people);
    };
    let token = match (field(&fields, "token"), query.token) {
        (Some(body), Some(query)) if body != query => {
            return message(
                people,
                StatusCode::BAD_REQUEST,
                "Nothing was changed",
                vec![
                    "The request carried two different links; open the link from your email again."
                        .into(),
                ],
                None,
                None,
            );
        }
        (Some(token), _) | (None, Some(token)) => token,
        (None, None) => return missing_token(people),
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
        Ok(subscriber) => subscribed_page(people, &subscriber),
        Err(e) => failure(people, e),
    }
}

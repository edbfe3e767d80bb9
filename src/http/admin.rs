//! The admin API under `/api/`: JSON, behind a bearer token compared in constant time.
//! Without a configured token the API does not exist (404).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AppState, Shared};
use crate::model::{Source, Status, normalize_email};
use crate::store::{StoreError, SubscriberChanges, SubscriberQuery};
use crate::subscriptions::{Request as SignUpRequest, SubscriptionError};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/subscribers", get(list).post(create))
        .route("/subscribers/import", post(import))
        .route(
            "/subscribers/{email}",
            get(show).patch(update).delete(remove),
        )
        .route("/stats", get(stats))
        .route("/bounces", get(bounces))
        .route("/subscribers/{email}/bounces", get(subscriber_bounces))
}

/// Checks the bearer token before any API handler runs.
pub(super) async fn authorize(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<(), Response> {
    let Some(people) = &state.people else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let Some(expected) = &people.admin_token else {
        return Err((
            StatusCode::NOT_FOUND,
            Json(json!({"error": "the admin API is off: set [admin] token"})),
        )
            .into_response());
    };
    if !bearer_matches(headers, expected) {
        return Err(unauthorized());
    }
    Ok(())
}

/// Whether the request carries `Authorization: Bearer <expected>`. Hashing both first
/// makes the comparison constant-time whatever the lengths.
pub(super) fn bearer_matches(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("");
    let matches: bool = Sha256::digest(given.trim().as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into();
    !given.is_empty() && matches
}

pub(super) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"crier admin\"")],
        Json(json!({"error": "a valid bearer token is required"})),
    )
        .into_response()
}

fn error(status: StatusCode, messages: Vec<String>) -> Response {
    (status, Json(json!({ "errors": messages }))).into_response()
}

fn failure(e: SubscriptionError) -> Response {
    match e {
        SubscriptionError::Invalid(problems) => error(StatusCode::UNPROCESSABLE_ENTITY, problems),
        SubscriptionError::Store(StoreError::Duplicate(email)) => error(
            StatusCode::CONFLICT,
            vec![format!("{email} is already a subscriber")],
        ),
        SubscriptionError::Store(e @ StoreError::PageOutOfRange { .. }) => {
            error(StatusCode::BAD_REQUEST, vec![e.to_string()])
        }
        SubscriptionError::Store(StoreError::NotFound(_)) | SubscriptionError::Gone => {
            error(StatusCode::NOT_FOUND, vec!["no such subscriber".into()])
        }
        other => {
            tracing::error!("admin API: {other}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec!["internal error".into()],
            )
        }
    }
}

macro_rules! authorized {
    ($state:expr, $headers:expr) => {{
        if let Err(response) = authorize(&$state, &$headers).await {
            return response;
        }
        match &$state.people {
            Some(people) => people,
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    }};
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    status: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

async fn list(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let people = authorized!(state, headers);
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match Status::parse(s) {
            Some(status) => Some(status),
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    vec![format!("`{s}` is not a status")],
                );
            }
        },
        None => None,
    };
    let query = SubscriberQuery {
        q: query.q,
        status,
        page: query.page.unwrap_or(1),
        per_page: query.per_page.unwrap_or(50),
        ..SubscriberQuery::default()
    };
    match people.subscriptions.store().subscribers(&query).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => failure(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    email: String,
    name: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    frequency: Option<String>,
    timezone: Option<String>,
    /// Skip double opt-in (the admin vouches for consent).
    #[serde(default)]
    active: bool,
}

async fn create(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let people = authorized!(state, headers);
    let body: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, vec![format!("bad JSON: {e}")]),
    };
    let request = SignUpRequest {
        email: body.email,
        name: body.name,
        audiences: body.audiences,
        frequency: body.frequency,
        timezone: body.timezone,
        source: Some(Source::Api),
        ..SignUpRequest::default()
    };
    match people.subscriptions.add(&request, body.active).await {
        Ok(subscriber) => (StatusCode::CREATED, Json(subscriber)).into_response(),
        Err(e) => failure(e),
    }
}

async fn find(people: &super::People, email: &str) -> Result<crate::model::Subscriber, Response> {
    let email =
        normalize_email(email).map_err(|e| error(StatusCode::NOT_FOUND, vec![e.to_string()]))?;
    match people
        .subscriptions
        .store()
        .subscriber_by_email(&email)
        .await
    {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            vec![format!("no subscriber has the address {email}")],
        )),
        Err(e) => Err(failure(e.into())),
    }
}

async fn show(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Path(email): Path<String>,
) -> Response {
    let people = authorized!(state, headers);
    match find(people, &email).await {
        Ok(subscriber) => Json(subscriber).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default, with = "serde_with_option")]
    name: Option<Option<String>>,
    audiences: Option<Vec<String>>,
    frequency: Option<String>,
    timezone: Option<String>,
    status: Option<String>,
}

/// `"name": null` clears the name; leaving it out keeps it.
mod serde_with_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}

async fn update(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Path(email): Path<String>,
    body: Bytes,
) -> Response {
    let people = authorized!(state, headers);
    let body: PatchBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, vec![format!("bad JSON: {e}")]),
    };
    let subscriber = match find(people, &email).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let status = match body.status.as_deref() {
        Some(s) => match Status::parse(s) {
            Some(status) => Some(status),
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    vec![format!("`{s}` is not a status")],
                );
            }
        },
        None => None,
    };
    let changes = SubscriberChanges {
        name: body.name,
        audiences: body.audiences,
        frequency: body.frequency,
        timezone: body.timezone,
        status,
    };
    match people.subscriptions.update(&subscriber, changes).await {
        Ok(updated) => Json(updated).into_response(),
        Err(e) => failure(e),
    }
}

async fn remove(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Path(email): Path<String>,
) -> Response {
    let people = authorized!(state, headers);
    let subscriber = match find(people, &email).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match people.subscriptions.erase(&subscriber).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    active: bool,
}

async fn import(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Query(query): Query<ImportQuery>,
    body: Bytes,
) -> Response {
    let people = authorized!(state, headers);
    match people
        .subscriptions
        .import_csv(&body[..], query.active, &|_| {})
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(e) => failure(e),
    }
}

async fn stats(State(state): State<Arc<Shared>>, headers: axum::http::HeaderMap) -> Response {
    let people = authorized!(state, headers);
    let store = people.subscriptions.store();
    match (store.stats().await, store.outbox_counts().await) {
        (Ok(stats), Ok(outbox)) => Json(json!({
            "total": stats.total,
            "by_status": stats.by_status,
            "by_audience": stats.by_audience,
            "by_frequency": stats.by_frequency,
            "outbox": outbox,
        }))
        .into_response(),
        (Err(e), _) | (_, Err(e)) => failure(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BounceQuery {
    /// Only events older than this id: the next page.
    before: Option<i64>,
    limit: Option<usize>,
}

/// The largest page of bounce events one request returns.
const BOUNCE_PAGE_MAX: usize = 500;

/// A page of bounce events (one subscriber's, or everyone's) as the query asks.
async fn bounce_page(
    people: &super::People,
    subscriber_id: Option<i64>,
    query: Result<Query<BounceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            vec!["bad query: use before=<id> and limit=<n>".into()],
        );
    };
    let store = people.subscriptions.store();
    let filter = crate::store::BounceFilter {
        subscriber_id,
        outbox_id: None,
        before: query.before,
        limit: query.limit.unwrap_or(100).clamp(1, BOUNCE_PAGE_MAX),
    };
    match (store.bounce_events(&filter).await, store.bounce_totals().await) {
        (Ok(events), Ok(totals)) => Json(json!({
            "totals": totals.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "next_before": (events.len() == filter.limit).then(|| events.last().map(|e| e.id)).flatten(),
            "events": events,
        }))
        .into_response(),
        (Err(e), _) | (_, Err(e)) => failure(e.into()),
    }
}

/// `GET /api/bounces`: the latest bounce events, newest first, with totals per kind.
async fn bounces(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    query: Result<Query<BounceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let people = authorized!(state, headers);
    bounce_page(people, None, query).await
}

/// `GET /api/subscribers/{email}/bounces`: one subscriber's bounce events.
async fn subscriber_bounces(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Path(email): Path<String>,
    query: Result<Query<BounceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let people = authorized!(state, headers);
    match find(people, &email).await {
        Ok(subscriber) => bounce_page(people, Some(subscriber.id), query).await,
        Err(r) => r,
    }
}

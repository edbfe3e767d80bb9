//! The console's deliveries: the outbox page by page (filtered by status or by
//! subscriber address, which both have an index; a digest has none, so each row
//! names its digest but the page does not filter on it), "Retry failed", and the suppression list with its lookup and "lift".
//! The listing is the store's [`Store::deliveries_where`](crate::store::Store::deliveries_where),
//! the one the CLI's `crier deliveries` reads; retrying and lifting are the
//! subscriptions service's, which the CLI calls too.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::views::console_page_with;
use super::{Admin, CsrfForm, parts};
use crate::http::Shared;
use crate::model::{OutboxStatus, normalize_email};
use crate::store::{Delivery, DeliveryFilter, OutboxCounts, Suppression};

/// Rows on one page of the outbox or of the suppression list.
const PAGE: usize = 50;

const STATUSES: [OutboxStatus; 4] = [
    OutboxStatus::Queued,
    OutboxStatus::Sending,
    OutboxStatus::Sent,
    OutboxStatus::Failed,
];

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A store failure, as a page; the log keeps the cause.
fn failed(state: &Shared, admin: &Admin, e: impl std::fmt::Display) -> Response {
    tracing::error!("console deliveries: {e}");
    console_page_with(
        state,
        Some(admin),
        "message",
        "Error",
        None,
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({
            "heading": "The store could not be read",
            "paragraphs": ["The log says why."],
        }),
    )
}

#[derive(Deserialize, Serialize, Default)]
struct ListQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    before: String,
    /// How many "Retry failed" queued again, to say so after its redirect.
    #[serde(default, skip_serializing)]
    retried: Option<u64>,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    selected: bool,
}

#[derive(Serialize)]
struct RowView {
    id: i64,
    status: &'static str,
    kind: String,
    digest: Option<String>,
    recipient: String,
    subject: Option<String>,
    attempts: u32,
    message_id: String,
    created_at: String,
    next_attempt_at: Option<String>,
    sent_at: Option<String>,
    last_error: Option<String>,
    /// What came back for it: a bounce event's kind and source.
    came_back: Option<String>,
}

impl From<Delivery> for RowView {
    fn from(d: Delivery) -> RowView {
        let row = d.row;
        RowView {
            id: row.id,
            status: row.status.as_str(),
            kind: row.kind,
            digest: d.digest,
            recipient: row.recipient,
            subject: d.subject,
            attempts: row.attempts,
            message_id: row.message_id,
            created_at: when(row.created_at),
            next_attempt_at: (row.status == OutboxStatus::Queued)
                .then(|| when(row.next_attempt_at)),
            sent_at: row.sent_at.map(when),
            last_error: row.last_error,
            came_back: None,
        }
    }
}

#[derive(Serialize)]
struct ListView<'a> {
    csrf: &'a str,
    counts: OutboxCounts,
    statuses: Vec<Choice>,
    address: &'a str,
    address_error: Option<String>,
    filtered: bool,
    rows: Vec<RowView>,
    older: Option<String>,
    paged: bool,
}

/// The outbox page as the filter asks. `Err` is a problem with the filter (a bad
/// address), said on the page.
fn filter_of(query_status: &str, address: &str, before: &str) -> Result<DeliveryFilter, String> {
    let status = STATUSES.into_iter().find(|s| s.as_str() == query_status);
    let address = match address.trim() {
        "" => None,
        typed => Some(normalize_email(typed).map_err(|e| e.to_string())?),
    };
    Ok(DeliveryFilter {
        status,
        address,
        before: before.parse().ok(),
        // One more than shown, to know whether an older page exists.
        limit: PAGE + 1,
    })
}

/// `GET /admin/deliveries`.
async fn list(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Query(query): Query<ListQuery>,
) -> Response {
    let subscriptions = match parts(&state, &admin) {
        Ok((people, _)) => &people.subscriptions,
        Err(r) => return r,
    };
    let store = subscriptions.store();
    let (filter, address_error) = match filter_of(&query.status, &query.address, &query.before) {
        Ok(filter) => (Some(filter), None),
        Err(e) => (None, Some(e)),
    };
    let counts = match store.outbox_counts().await {
        Ok(counts) => counts,
        Err(e) => return failed(&state, &admin, e),
    };
    let mut rows = match &filter {
        Some(filter) => match store.deliveries_where(filter).await {
            Ok(rows) => rows,
            Err(e) => return failed(&state, &admin, e),
        },
        None => Vec::new(),
    };
    let ids: Vec<i64> = rows.iter().map(|d| d.row.id).collect();
    let came_back = match store.bounces_of_messages(&ids).await {
        Ok(found) => found,
        Err(e) => return failed(&state, &admin, e),
    };
    let older = if rows.len() > PAGE {
        rows.truncate(PAGE);
        rows.last().map(|last| {
            let next = ListQuery {
                before: last.row.id.to_string(),
                status: query.status.clone(),
                address: query.address.clone(),
                retried: None,
            };
            format!(
                "/admin/deliveries?{}",
                serde_urlencoded::to_string(&next).unwrap_or_default()
            )
        })
    } else {
        None
    };
    let notice = query
        .retried
        .map(|n| format!("{n} failed deliveries queued again."));
    console_page_with(
        &state,
        Some(&admin),
        "deliveries/list",
        "Deliveries",
        notice.as_deref(),
        if address_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &ListView {
            csrf: admin.csrf(),
            counts,
            statuses: STATUSES
                .iter()
                .map(|s| Choice {
                    value: s.as_str().to_string(),
                    selected: s.as_str() == query.status,
                })
                .collect(),
            address: &query.address,
            address_error,
            filtered: !(query.status.is_empty() && query.address.is_empty()),
            rows: rows
                .into_iter()
                .map(|d| {
                    let back = came_back
                        .get(&d.row.id)
                        .map(|(kind, source)| format!("{kind} ({source})"));
                    RowView {
                        came_back: back,
                        ..RowView::from(d)
                    }
                })
                .collect(),
            older,
            paged: !query.before.is_empty(),
        },
    )
}

#[derive(Deserialize)]
struct NoFields {}

/// `POST /admin/deliveries/retry`: every failed delivery queued again.
async fn retry(
    State(state): State<Arc<Shared>>,
    CsrfForm(admin, NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let subscriptions = match parts(&state, &admin) {
        Ok((people, _)) => &people.subscriptions,
        Err(r) => return r,
    };
    match subscriptions.retry_failed_deliveries().await {
        Ok(n) => Redirect::to(&format!("/admin/deliveries?retried={n}")).into_response(),
        Err(e) => failed(&state, &admin, e),
    }
}

#[derive(Deserialize, Default)]
struct SuppressionQuery {
    #[serde(default)]
    address: String,
    #[serde(default)]
    before: String,
    /// Whether the "lift" before the redirect took an entry off.
    #[serde(default)]
    lifted: Option<bool>,
}

#[derive(Serialize)]
struct SuppressionRow {
    email_hash: String,
    reason: String,
    created_at: String,
}

impl From<Suppression> for SuppressionRow {
    fn from(s: Suppression) -> Self {
        SuppressionRow {
            email_hash: s.email_hash,
            reason: s.reason,
            created_at: when(s.created_at),
        }
    }
}

#[derive(Serialize)]
struct Lookup {
    address: String,
    email_hash: String,
    entry: Option<SuppressionRow>,
}

#[derive(Serialize)]
struct SuppressionsView<'a> {
    csrf: &'a str,
    total: u64,
    address: &'a str,
    lookup: Option<Lookup>,
    lookup_error: Option<String>,
    rows: Vec<SuppressionRow>,
    older: Option<String>,
    paged: bool,
}

/// `GET /admin/deliveries/suppressions`.
async fn suppressions(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Query(query): Query<SuppressionQuery>,
) -> Response {
    let subscriptions = match parts(&state, &admin) {
        Ok((people, _)) => &people.subscriptions,
        Err(r) => return r,
    };
    let store = subscriptions.store();
    let (mut lookup, mut lookup_error) = (None, None);
    let address = query.address.trim();
    if !address.is_empty() {
        match subscriptions.suppression_of(address).await {
            Ok((email_hash, entry)) => {
                lookup = Some(Lookup {
                    address: address.to_string(),
                    email_hash,
                    entry: entry.map(SuppressionRow::from),
                })
            }
            Err(crate::subscriptions::SubscriptionError::Invalid(problems)) => {
                lookup_error = Some(problems.join("; "))
            }
            Err(e) => return failed(&state, &admin, e),
        }
    }
    let before = query.before.parse().ok();
    let (total, mut rows) = match (
        store.suppression_count().await,
        store.suppressions(before, PAGE + 1).await,
    ) {
        (Ok(total), Ok(rows)) => (total, rows),
        (Err(e), _) | (_, Err(e)) => return failed(&state, &admin, e),
    };
    let older = if rows.len() > PAGE {
        rows.truncate(PAGE);
        rows.last()
            .map(|last| format!("/admin/deliveries/suppressions?before={}", last.position))
    } else {
        None
    };
    let notice = query.lifted.map(|lifted| {
        if lifted {
            "The suppression was lifted."
        } else {
            "That address was not on the suppression list."
        }
    });
    console_page_with(
        &state,
        Some(&admin),
        "deliveries/suppressions",
        "Suppression list",
        notice,
        if lookup_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &SuppressionsView {
            csrf: admin.csrf(),
            total,
            address,
            lookup,
            lookup_error,
            rows: rows.into_iter().map(SuppressionRow::from).collect(),
            older,
            paged: before.is_some(),
        },
    )
}

#[derive(Deserialize)]
struct LiftForm {
    email_hash: String,
}

/// `POST /admin/deliveries/suppressions/lift`.
async fn lift(
    State(state): State<Arc<Shared>>,
    CsrfForm(admin, form): CsrfForm<LiftForm>,
) -> Response {
    let subscriptions = match parts(&state, &admin) {
        Ok((people, _)) => &people.subscriptions,
        Err(r) => return r,
    };
    match subscriptions.lift_suppression(&form.email_hash).await {
        Ok(lifted) => {
            Redirect::to(&format!("/admin/deliveries/suppressions?lifted={lifted}")).into_response()
        }
        Err(e) => failed(&state, &admin, e),
    }
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/deliveries", get(list))
        .route("/admin/deliveries/retry", post(retry))
        .route("/admin/deliveries/suppressions", get(suppressions))
        .route("/admin/deliveries/suppressions/lift", post(lift))
}

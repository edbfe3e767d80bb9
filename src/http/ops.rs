//! Operations endpoints: `/healthz` (200 when the store, the database and the mail
//! transport are usable, else 503 with the reason; with the outbox's counts and any
//! failing digest runs as detail) and `/metrics` (Prometheus text).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::Counter;
use metrics_exporter_prometheus::PrometheusHandle;

use super::Shared;
use crate::clock::Clock;
use crate::delivery::{Mailer, Worker};
use crate::scheduler::DigestRunner;
use crate::store::Store;

/// What the health check and the metrics look at.
#[derive(Clone)]
pub struct Ops {
    pub store: Store,
    pub store_root: std::path::PathBuf,
    pub mailer: Arc<dyn Mailer>,
    pub metrics: Option<PrometheusHandle>,
    pub worker: Option<Worker>,
    pub runner: Option<DigestRunner>,
    pub clock: Arc<dyn Clock>,
    /// (when, messages sent) at the previous scrape, for the send rate.
    pub last_scrape: Arc<Mutex<Option<(Instant, u64)>>>,
}

pub(super) async fn healthz(State(state): State<Arc<Shared>>) -> Response {
    let Some(ops) = &state.ops else {
        return (StatusCode::OK, "ok\n").into_response();
    };
    let mut problems = serde_json::Map::new();
    let store = match std::fs::read_dir(&ops.store_root) {
        Ok(_) => "ok".to_string(),
        Err(e) => format!(
            "the article store {} cannot be read: {e}",
            ops.store_root.display()
        ),
    };
    let database = match ops.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("the database does not answer: {e}"),
    };
    let mail = match ops.mailer.check().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{} transport: {e}", ops.mailer.name()),
    };
    let mut healthy = true;
    for (name, result) in [("store", store), ("database", database), ("mail", mail)] {
        healthy &= result == "ok";
        problems.insert(name.into(), result.into());
    }
    // Details that do not make the service unhealthy, but that an admin must see:
    // mail that failed for good, messages that could not be built, digest runs that
    // keep failing and are being retried.
    if let Ok(counts) = ops.store.outbox_counts().await {
        let mut deliveries = serde_json::json!({
            "queued": counts.queued,
            "sending": counts.sending,
            "failed": counts.failed,
        });
        if let Some(worker) = &ops.worker {
            deliveries["poisoned_since_start"] = worker.outcome().poisoned.into();
        }
        problems.insert("deliveries".into(), deliveries);
    }
    if let Some(runner) = &ops.runner {
        let failing: serde_json::Map<String, serde_json::Value> = runner
            .failing()
            .into_iter()
            .map(|(digest, attempts, error)| {
                (
                    digest,
                    serde_json::json!({"failed_attempts": attempts, "last_error": error}),
                )
            })
            .collect();
        let scheduler = if failing.is_empty() {
            "ok".into()
        } else {
            serde_json::Value::Object(failing)
        };
        problems.insert("scheduler".into(), scheduler);
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::Value::Object(problems)),
    )
        .into_response()
}

pub(super) async fn metrics(State(state): State<Arc<Shared>>) -> Response {
    let Some(ops) = &state.ops else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(handle) = &ops.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Ok(counts) = ops.store.outbox_counts().await {
        for (name, n) in [
            ("queued", counts.queued),
            ("sending", counts.sending),
            ("sent", counts.sent),
            ("failed", counts.failed),
        ] {
            metrics::gauge!("crier_outbox_messages", "state" => name).set(n as f64);
        }
    }
    if let Some(runner) = &ops.runner {
        for (digest, next) in runner.next_runs(ops.clock.now()).await {
            if let Some(next) = next {
                metrics::gauge!("crier_digest_next_run_timestamp_seconds", "digest" => digest)
                    .set(next.timestamp() as f64);
            }
        }
    }
    if let Some(worker) = &ops.worker {
        let sent = worker.outcome().sent;
        let now = Instant::now();
        let mut last = ops.last_scrape.lock().unwrap_or_else(|e| e.into_inner());
        let rate = match *last {
            Some((then, before)) if now > then => {
                (sent.saturating_sub(before)) as f64 / now.duration_since(then).as_secs_f64()
            }
            _ => 0.0,
        };
        *last = Some((now, sent));
        metrics::gauge!("crier_send_rate_per_second").set(rate);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// `crier_http_requests_total` by route and status. Nearly every request goes to the
/// documents fallback, so its counters for the statuses it sends are looked up in the
/// recorder once and kept; the other routes look theirs up per request.
#[derive(Default)]
pub(super) struct RequestCounts {
    documents: [OnceLock<Counter>; DOCUMENT_STATUSES.len()],
}

/// What the documents fallback answers, with the label each gets.
const DOCUMENT_STATUSES: [(StatusCode, &str); 6] = [
    (StatusCode::OK, "200"),
    (StatusCode::NOT_MODIFIED, "304"),
    (StatusCode::NOT_FOUND, "404"),
    (StatusCode::PERMANENT_REDIRECT, "308"),
    (StatusCode::METHOD_NOT_ALLOWED, "405"),
    (StatusCode::INTERNAL_SERVER_ERROR, "500"),
];

const REQUESTS: &str = "crier_http_requests_total";

impl RequestCounts {
    fn count(&self, route: Option<&MatchedPath>, status: StatusCode) {
        if route.is_none()
            && let Some(i) = DOCUMENT_STATUSES.iter().position(|(s, _)| *s == status)
        {
            self.documents[i]
                .get_or_init(|| {
                    metrics::counter!(REQUESTS, "route" => "documents", "status" => DOCUMENT_STATUSES[i].1)
                })
                .increment(1);
            return;
        }
        let route = route.map_or("documents", MatchedPath::as_str).to_owned();
        metrics::counter!(REQUESTS, "route" => route, "status" => status.as_str().to_owned())
            .increment(1);
    }
}

/// Counts requests by route and status.
pub(super) async fn count_requests(
    State(counts): State<Arc<RequestCounts>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    counts.count(route.as_ref(), response.status());
    response
}

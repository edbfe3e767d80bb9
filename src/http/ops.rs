//! Operations endpoints. `/healthz` is liveness, answered from state: the article
//! store can be read, the database answers, and the delivery worker and the
//! scheduler (which live on the main runtime, so they vouch for it too) still run
//! and make progress; 503 names what does not. Probing it costs no SMTP connection,
//! however often a load balancer asks. `/readyz` adds the mail transport: a probe
//! whose result is kept for [`PROBE_TTL`], with at most one probe under way.
//! Both carry the outbox's counts, poisoned messages and failing digest runs as
//! detail. `/metrics` is Prometheus text.
//!
//! The worker and the scheduler are known only by what they publish in
//! [`crate::health`], and the transport only as a [`Probe`]: this module must not
//! use `delivery` or `scheduler`. It reads the store for the outbox's counts.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::Counter;
use metrics_exporter_prometheus::PrometheusHandle;

use super::Shared;
use crate::alive::Liveness;
use crate::health::{Cluster, DeliveryHealth, Probe, ProbeError, SchedulerHealth, Upcoming};
use crate::store::Store;

/// What the health check and the metrics look at.
#[derive(Clone)]
pub struct Ops {
    pub store: Store,
    pub store_root: std::path::PathBuf,
    /// The mail transport's check, for `/readyz`.
    pub transport: Arc<dyn Probe>,
    pub metrics: Option<PrometheusHandle>,
    /// What the delivery worker publishes; `None` where none runs.
    pub delivery: Option<Arc<DeliveryHealth>>,
    /// What the scheduler publishes; `None` where none runs.
    pub scheduler: Option<Arc<SchedulerHealth>>,
    /// The digests' next firings, for the metrics; `None` where no scheduler runs.
    pub upcoming: Option<Arc<dyn Upcoming>>,
    /// (when, messages sent) at the previous scrape, for the send rate.
    pub last_scrape: Arc<Mutex<Option<(Instant, u64)>>>,
    /// The readiness check's last mail probe, shared by every listener.
    pub mail_probe: Arc<MailProbe>,
    /// The instances sharing the database, as this one's heartbeat loop saw them;
    /// `None` where no loop runs.
    pub cluster: Option<Arc<Cluster>>,
}

/// How long a mail probe's result stands: every `/readyz` within it gets the same
/// answer, so probes cost the relay one connection per this period at most.
pub const PROBE_TTL: Duration = Duration::from_secs(30);

/// A probe that does not finish in this time counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The last mail probe's result, and the guard that lets one probe run at a time.
#[derive(Default)]
pub struct MailProbe {
    last: Mutex<Option<(Instant, Result<(), ProbeError>)>>,
    running: tokio::sync::Mutex<()>,
    probes: std::sync::atomic::AtomicU64,
}

impl MailProbe {
    /// The transport's state, probed at most once per [`PROBE_TTL`]. Callers that
    /// come while a probe runs wait for it and share its result.
    pub async fn check(&self, transport: &dyn Probe) -> Result<(), ProbeError> {
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        let _only_one = self.running.lock().await;
        // The probe this caller waited for may have just answered.
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        self.probes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = match tokio::time::timeout(PROBE_TIMEOUT, transport.check()).await {
            Ok(answer) => answer,
            Err(_) => Err(ProbeError::Silent {
                transport: transport.name(),
                within: PROBE_TIMEOUT,
            }),
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), result.clone()));
        result
    }

    /// Probes run so far.
    pub fn probes(&self) -> u64 {
        self.probes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fresh(&self) -> Option<Result<(), ProbeError>> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((at, result)) if at.elapsed() < PROBE_TTL => Some(result.clone()),
            _ => None,
        }
    }
}

/// Liveness, from state only.
pub(super) async fn healthz(State(state): State<Arc<Shared>>) -> Response {
    let Some(ops) = &state.ops else {
        return (StatusCode::OK, "ok\n").into_response();
    };
    answer(liveness(ops).await)
}

/// Readiness: liveness, and a mail transport that works.
pub(super) async fn readyz(State(state): State<Arc<Shared>>) -> Response {
    let Some(ops) = &state.ops else {
        return (StatusCode::OK, "ok\n").into_response();
    };
    let mut report = liveness(ops).await;
    let mail = ops.mail_probe.check(ops.transport.as_ref()).await;
    report.check("mail", Check::of(mail, |e| e.to_string()));
    answer(report)
}

fn answer(report: Report) -> Response {
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::Value::Object(report.lines)),
    )
        .into_response()
}

/// What one part says in the report: it works, or what is wrong with it.
enum Check {
    Ok,
    Failing(String),
}

impl Check {
    /// `Ok`, or `Failing` with what `problem` makes of the error.
    fn of<E>(result: Result<(), E>, problem: impl FnOnce(E) -> String) -> Check {
        match result {
            Ok(()) => Check::Ok,
            Err(e) => Check::Failing(problem(e)),
        }
    }
}

/// The report as it is built: one line per part, and whether every part checked works.
struct Report {
    healthy: bool,
    lines: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// A part's line: "ok", or what is wrong, which makes the service unhealthy.
    fn check(&mut self, name: &str, check: Check) {
        let value = match check {
            Check::Ok => "ok".to_string(),
            Check::Failing(problem) => {
                self.healthy = false;
                problem
            }
        };
        self.lines.insert(name.to_string(), value.into());
    }
}

/// What a loop's heartbeat says, as a report line; `None` when it never ran here.
fn loop_state(liveness: Liveness, stalled: &str) -> Option<Check> {
    match liveness {
        Liveness::NotStarted => None,
        Liveness::Alive => Some(Check::Ok),
        Liveness::Stopped => Some(Check::Failing("stopped".into())),
        Liveness::Stalled(quiet) => Some(Check::Failing(format!(
            "stalled: {stalled} for {} s",
            quiet.as_secs()
        ))),
    }
}

async fn liveness(ops: &Ops) -> Report {
    let mut report = Report {
        healthy: true,
        lines: serde_json::Map::new(),
    };
    let store = std::fs::read_dir(&ops.store_root).map(drop);
    report.check(
        "store",
        Check::of(store, |e| {
            format!(
                "the article store {} cannot be read: {e}",
                ops.store_root.display()
            )
        }),
    );
    let database = ops.store.ping().await;
    report.check(
        "database",
        Check::of(database, |e| format!("the database does not answer: {e}")),
    );
    if let Some(delivery) = &ops.delivery
        && let Some(state) = loop_state(
            delivery.liveness(),
            "mail is due and no message was finished",
        )
    {
        report.check("worker", state);
    }
    let scheduler = ops
        .scheduler
        .as_ref()
        .and_then(|scheduler| loop_state(scheduler.liveness(), "the schedule loop has not turned"));
    // A scheduler that works shows its failing digests below instead.
    if let Some(failing @ Check::Failing(_)) = scheduler {
        report.check("scheduler", failing);
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
        if let Some(delivery) = &ops.delivery {
            deliveries["poisoned_since_start"] = delivery.poisoned().into();
        }
        report.lines.insert("deliveries".into(), deliveries);
    }
    // Every instance on the database, so that a health check that reached any one
    // of them shows them all (an instance is not unhealthy because another died).
    if let Some(cluster) = &ops.cluster {
        report.lines.insert(
            "instances".into(),
            serde_json::json!({"this": cluster.this(), "live": cluster.live()}),
        );
    }
    if let Some(scheduler) = &ops.scheduler
        && !report.lines.contains_key("scheduler")
    {
        let failing: serde_json::Map<String, serde_json::Value> = scheduler
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
        report.lines.insert("scheduler".into(), scheduler);
    }
    report
}

pub(super) async fn metrics(
    State(state): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = &state.metrics_token
        && !super::admin::bearer_matches(&headers, token)
    {
        return super::admin::unauthorized();
    }
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
    if let Some(upcoming) = &ops.upcoming {
        for (digest, next) in upcoming.upcoming().await {
            if let Some(next) = next {
                metrics::gauge!("crier_digest_next_run_timestamp_seconds", "digest" => digest)
                    .set(next.timestamp() as f64);
            }
        }
    }
    if let Some(delivery) = &ops.delivery {
        let sent = delivery.sent();
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
/// Counts every answer in `crier_http_requests_total`, by route and status. A tower
/// layer with its own future rather than a `from_fn` middleware, which boxed a future
/// and a clone of the inner service for every request (issue #22).
#[derive(Clone)]
pub(super) struct CountRequests(pub Arc<RequestCounts>);

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counts: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub(super) struct Counted<S> {
    inner: S,
    counts: Arc<RequestCounts>,
}

impl<S> tower::Service<Request> for Counted<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        CountedFuture {
            inner: self.inner.call(request),
            counts: Arc::clone(&self.counts),
            route,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Counted`], counted when it is ready.
    pub(super) struct CountedFuture<F> {
        #[pin]
        inner: F,
        counts: Arc<RequestCounts>,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &answer {
            this.counts.count(this.route.as_ref(), response.status());
        }
        Poll::Ready(answer)
    }
}

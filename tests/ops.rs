//! `/healthz` and `/readyz` through the router: liveness answers from state and never
//! touches SMTP; readiness probes SMTP, at most once per 30 s and one probe at a time,
//! and says 503 naming the reason when SMTP is down; a poisoned message and a stalled
//! worker show. (`/metrics` is checked against the real daemon in e2e.rs and edge.rs.)

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{call, fixtures, site, smtp};
use crier::delivery::{SmtpMailer, TransportProbe};
use crier::http::{AppState, Ops, router};

async fn app(smtp_url: &str) -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = crier::store::Store::open(&dir.path().join("crier.db"))
        .await
        .unwrap();
    let router = app_over(smtp_url, &dir, store, None);
    (dir, router)
}

fn app_over(
    smtp_url: &str,
    dir: &tempfile::TempDir,
    store: crier::store::Store,
    worker: Option<crier::delivery::Worker>,
) -> axum::Router {
    let _ = dir;
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(site(&fixtures("valid"))));
    std::mem::forget(tx);
    let state = AppState {
        archive: None,
        site: rx,
        max_age: 60,
        hub: None,
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        people: None,
        ops: Some(Ops {
            store,
            store_root: fixtures("valid"),
            transport: Arc::new(TransportProbe::new(Arc::new(
                SmtpMailer::new(smtp_url, 1).unwrap(),
            ))),
            metrics: Some(
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .build_recorder()
                    .handle(),
            ),
            delivery: worker.map(|worker| worker.health()),
            scheduler: None,
            upcoming: None,
            last_scrape: Arc::default(),
            mail_probe: Arc::default(),
            cluster: None,
        }),
        console: None,
        page_styles: Vec::new(),
    };
    router(state)
}

#[tokio::test]
async fn readyz_reports_smtp_down_and_healthz_does_not_probe_it() {
    let (url, sink) = smtp::start().await;
    let (_dir, up) = app(&url).await;
    let (status, _, body) = call(&up, "GET", "/readyz", &[], "").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for check in ["store", "database", "mail"] {
        assert_eq!(body[check], "ok", "{body}");
    }
    assert_eq!(
        body["deliveries"],
        serde_json::json!({"queued": 0, "sending": 0, "failed": 0})
    );
    let probed = sink.connections();
    assert_eq!(probed, 1);
    // Liveness costs the relay nothing, however often it is asked.
    for _ in 0..20 {
        let (status, _, body) = call(&up, "GET", "/healthz", &[], "").await;
        assert_eq!(status, StatusCode::OK);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(body.get("mail").is_none(), "{body}");
    }
    assert_eq!(sink.connections(), probed);

    // Nothing listens on this port: readiness fails and says why; liveness is fine.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (_dir, down) = app(&format!("smtp://127.0.0.1:{port}")).await;
    let (status, _, body) = call(&down, "GET", "/readyz", &[], "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["database"], "ok");
    assert!(
        body["mail"]
            .as_str()
            .unwrap()
            .starts_with("smtp transport:"),
        "{body}"
    );
    let (status, _, _) = call(&down, "GET", "/healthz", &[], "").await;
    assert_eq!(status, StatusCode::OK);
}

/// Fifty readiness checks at once, then fifty more: one SMTP probe in all, whose
/// result every caller shares for 30 s.
#[tokio::test]
async fn readyz_probes_smtp_once_for_many_callers() {
    // A relay that takes its time, so that the callers pile up behind the probe.
    let (url, sink) = smtp::start_with_delay(std::time::Duration::from_millis(200)).await;
    let (_dir, app) = app(&url).await;
    let calls = (0..50).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { call(&app, "GET", "/readyz", &[], "").await.0 })
    });
    for status in futures_util::future::join_all(calls).await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    for _ in 0..50 {
        assert_eq!(
            call(&app, "GET", "/readyz", &[], "").await.0,
            StatusCode::OK
        );
    }
    assert_eq!(sink.connections(), 1, "the relay saw more than one probe");
}

/// A worker with mail due that finishes nothing for a whole lease is reported
/// stalled, and the service unhealthy; a worker that ended is reported stopped.
#[tokio::test]
async fn healthz_shows_a_stalled_worker_and_a_stopped_one() {
    use crier::delivery::{Worker, WorkerSettings, retry::RetryPolicy};
    let (url, _sink) = smtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = crier::store::Store::open(&dir.path().join("crier.db"))
        .await
        .unwrap();
    let clock = Arc::new(crier::clock::FixedClock::new(chrono::Utc::now()));
    let worker = Worker::new(
        store.clone(),
        Arc::new(common::Stuck),
        Arc::new(common::composer(None)),
        clock.clone(),
        crier::tokens::Signer::new(common::SECRET),
        WorkerSettings {
            concurrency: 1,
            rate_per_second: 0.0,
            policy: RetryPolicy::new(3, 48),
            // The stall limit is one lease.
            lease_secs: 1,
            poll: std::time::Duration::from_millis(20),
            log_addresses: Default::default(),
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(
        worker
            .clone()
            .run(stopped, std::time::Duration::from_millis(100)),
    );
    let app = app_over(&url, &dir, store.clone(), Some(worker));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, _, body) = call(&app, "GET", "/healthz", &[], "").await;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["worker"], "ok", "{body}");

    enqueue_one(&store, "{}").await;
    clock.set(chrono::Utc::now());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.outbox_counts().await.unwrap().sending == 0 {
        assert!(std::time::Instant::now() < deadline, "never claimed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The message is stuck at the mailer; its lease runs out.
    clock.set(clock.now_utc() + chrono::Duration::seconds(2));
    let body = loop {
        let (status, _, body) = call(&app, "GET", "/healthz", &[], "").await;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never stalled: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        body["worker"]
            .as_str()
            .unwrap()
            .starts_with("stalled: mail is due and no message was finished for"),
        "{body}"
    );
    assert_eq!(body["database"], "ok", "{body}");

    stop.send(true).unwrap();
    running.await.unwrap();
    let (status, _, body) = call(&app, "GET", "/healthz", &[], "").await;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["worker"], "stopped", "{body}");
}

/// Queues one message with these recipient values.
async fn enqueue_one(store: &crier::store::Store, vars: &str) {
    use crier::model::{NewContent, NewMessage};
    let now = chrono::Utc::now();
    let ids = store
        .save_contents(
            &[NewContent {
                subject: "S".into(),
                text: "t".into(),
                html: "<p>t</p>".into(),
            }],
            now,
        )
        .await
        .unwrap();
    let message = NewMessage {
        dedup_key: "one".into(),
        kind: "confirmation".into(),
        subscriber_id: None,
        recipient: "ada@example.org".into(),
        content_id: ids[0],
        vars: vars.into(),
        digest: None,
    };
    store
        .enqueue(
            vec![message],
            &crier::model::MessageIds::new("news.example.test", common::SECRET),
            now,
        )
        .await
        .unwrap();
}

/// A message that cannot be built shows in the health check's detail, without making
/// the service unhealthy: one bad message is not a reason to take crier out of a load
/// balancer, but an admin must see it.
#[tokio::test]
async fn healthz_shows_poisoned_messages() {
    use crier::delivery::{FileMailer, Worker, WorkerSettings, retry::RetryPolicy};
    let (url, _sink) = smtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = crier::store::Store::open(&dir.path().join("crier.db"))
        .await
        .unwrap();
    // Recipient values that are not JSON: the message cannot be built.
    enqueue_one(&store, "not json").await;
    let worker = Worker::new(
        store.clone(),
        Arc::new(FileMailer::new(dir.path().join("outbox")).unwrap()),
        Arc::new(common::composer(None)),
        Arc::new(crier::clock::SystemClock),
        crier::tokens::Signer::new(common::SECRET),
        WorkerSettings {
            concurrency: 1,
            rate_per_second: 0.0,
            policy: RetryPolicy::new(3, 48),
            lease_secs: 300,
            poll: std::time::Duration::from_millis(20),
            log_addresses: Default::default(),
        },
    );
    assert_eq!(worker.drain().await.poisoned, 1);
    let app = app_over(&url, &dir, store, Some(worker));
    let (status, _, body) = call(&app, "GET", "/healthz", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["deliveries"],
        serde_json::json!({"queued": 0, "sending": 0, "failed": 1, "poisoned_since_start": 1}),
        "{body}"
    );
}

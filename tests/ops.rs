//! `/healthz` through the router: healthy with a working SMTP server, 503 naming the
//! reason when SMTP is down. (`/metrics` is checked against the real daemon in e2e.rs.)

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{call, fixtures, site, smtp};
use crier::delivery::SmtpMailer;
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
        site: rx,
        max_age: 60,
        hub: None,
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        people: None,
        ops: Some(Ops {
            store,
            store_root: fixtures("valid"),
            mailer: Arc::new(SmtpMailer::new(smtp_url, 1).unwrap()),
            metrics: Some(
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .build_recorder()
                    .handle(),
            ),
            worker,
            runner: None,
            clock: Arc::new(crier::clock::SystemClock),
            last_scrape: Arc::default(),
        }),
        page_styles: Vec::new(),
    };
    router(state)
}

#[tokio::test]
async fn healthz_reports_smtp_down() {
    let (url, _sink) = smtp::start().await;
    let (_dir, up) = app(&url).await;
    let (status, _, body) = call(&up, "GET", "/healthz", &[], "").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for check in ["store", "database", "mail"] {
        assert_eq!(body[check], "ok", "{body}");
    }
    assert_eq!(
        body["deliveries"],
        serde_json::json!({"queued": 0, "sending": 0, "failed": 0})
    );

    // Nothing listens on this port: the check fails and says why.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (_dir, down) = app(&format!("smtp://127.0.0.1:{port}")).await;
    let (status, _, body) = call(&down, "GET", "/healthz", &[], "").await;
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
}

/// A message that cannot be built shows in the health check's detail, without making
/// the service unhealthy: one bad message is not a reason to take crier out of a load
/// balancer, but an admin must see it.
#[tokio::test]
async fn healthz_shows_poisoned_messages() {
    use crier::delivery::{FileMailer, Worker, WorkerSettings, retry::RetryPolicy};
    use crier::store::{NewContent, NewMessage};
    let (url, _sink) = smtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = crier::store::Store::open(&dir.path().join("crier.db"))
        .await
        .unwrap();
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
    // Recipient values that are not JSON: the message cannot be built.
    let message = NewMessage {
        dedup_key: "broken".into(),
        kind: "confirmation".into(),
        subscriber_id: None,
        recipient: "ada@example.org".into(),
        content_id: ids[0],
        vars: "not json".into(),
        digest: None,
    };
    store
        .enqueue(vec![message], "news.example.test", now)
        .await
        .unwrap();
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

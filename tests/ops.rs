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
            worker: None,
            runner: None,
            clock: Arc::new(crier::clock::SystemClock),
            last_scrape: Arc::default(),
        }),
    };
    (dir, router(state))
}

#[tokio::test]
async fn healthz_reports_smtp_down() {
    let (url, _sink) = smtp::start().await;
    let (_dir, up) = app(&url).await;
    let (status, _, body) = call(&up, "GET", "/healthz", &[], "").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"store": "ok", "database": "ok", "mail": "ok"})
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

//! The whole daemon, as an admin runs it: the real binary on a temporary store and
//! database with a real SMTP server. An article added to the folder shows in the
//! feeds; someone subscribes over HTTP and confirms from the email; the schedule
//! fires; the digest reaches the SMTP server; a second daemon on the same database is
//! refused; metrics cover the run; SIGTERM stops it cleanly with nothing left behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_to_feed_to_subscriber_to_digest_and_clean_stop() {
    let (smtp_url, sink) = common::smtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("articles")).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(
        common::fixtures("valid").join("seed-layout.txt"),
        dir.path().join("articles/seed-layout.txt"),
    )
    .unwrap();
    std::fs::copy(
        common::repo().join("subscribers/audiences.toml"),
        dir.path().join("audiences.toml"),
    )
    .unwrap();
    let config = dir.path().join("crier.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\ntitle = \"E2E News\"\nbase_url = \"https://news.example.test/\"\n[store]\npath = \"articles\"\naudiences = \"audiences.toml\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://data/crier.db\"\n[email]\nfrom = \"E2E <news@news.example.test>\"\n\
             [delivery]\nsmtp_url = \"{smtp_url}\"\n[[digest]]\nname = \"often\"\ncron = \"*/2 * * * * *\"\nlookback_days = 30\n"
        ),
    )
    .unwrap();
    let crier = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_crier"));
        c.arg("--config").arg(&config).env("RUST_LOG", "info");
        c
    };
    let mut daemon = crier().arg("serve").stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = daemon.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log_writer = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            log_writer.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the daemon prints its address");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };

    // A new article appears in the feeds.
    let today = chrono::Utc::now().date_naive();
    std::fs::write(
        dir.path().join("articles/fresh.txt"),
        format!(
            "Zenith · {} · Release · ~2 min read\nZenith ships an end-to-end brief\nWhat's actually new\n- It works.\nWho should care\nHR teams.\n",
            today.format("%Y · %m · %d")
        ),
    )
    .unwrap();
    eventually("the article in the HR feed", || async {
        get("audiences/hr/feed.xml")
            .await
            .contains("Zenith ships an end-to-end brief")
    })
    .await;

    // Someone subscribes over HTTP and confirms from the email.
    let response = http
        .post(format!("{base}subscribe"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=reader%40example.org&name=Rita&audiences=hr&frequency=often")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    eventually("the confirmation email", || async {
        !sink.received().is_empty()
    })
    .await;
    let confirmation = MessageParser::default()
        .parse(&sink.received()[0].data)
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    let link = confirmation
        .split_whitespace()
        .find(|w| w.starts_with("https://news.example.test/confirm?token="))
        .unwrap()
        .to_string();
    let token = link.split("token=").nth(1).unwrap();
    let confirmed = http
        .post(format!("{base}confirm"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);

    // The schedule fires and the digest reaches the SMTP server.
    eventually("the digest", || async { sink.received().len() >= 2 }).await;
    let received = sink.received();
    let digest = MessageParser::default().parse(&received[1].data).unwrap();
    assert!(
        digest.subject().unwrap().contains("your often digest"),
        "{:?}",
        digest.subject()
    );
    assert!(
        digest
            .body_text(0)
            .unwrap()
            .contains("Zenith ships an end-to-end brief")
    );
    assert_eq!(sink.received()[1].to, ["reader@example.org"]);

    // A second daemon on the same database is refused.
    let second = crier().arg("serve").output().unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // Metrics cover the run.
    let metrics = get("metrics").await;
    for family in [
        "crier_articles_loaded 2",
        "crier_article_errors 0",
        "crier_feed_builds_total",
        "crier_http_requests_total{route=\"/subscribe\",status=\"200\"}",
        "crier_http_requests_total{route=\"documents\",status=\"200\"}",
        "crier_outbox_messages{state=\"sent\"}",
        "crier_sends_total{result=\"sent\"}",
        "crier_digest_next_run_timestamp_seconds{digest=\"often\"}",
        "crier_send_rate_per_second",
    ] {
        assert!(
            metrics.contains(family),
            "{family} missing from:\n{metrics}"
        );
    }
    let health = get("healthz").await;
    assert!(health.contains("\"worker\":\"ok\""), "{health}");
    assert!(get("readyz").await.contains("\"mail\":\"ok\""));

    // SIGTERM: a clean exit, nothing queued or in flight.
    assert!(
        Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = daemon.wait().unwrap();
    assert!(status.success(), "exit {status:?}\n{}", log.lock().unwrap());
    assert!(log.lock().unwrap().contains("stopped cleanly"));
    let deliveries = crier().arg("deliveries").output().unwrap();
    let text = String::from_utf8_lossy(&deliveries.stdout);
    assert!(text.contains("queued 0, sending 0"), "{text}");
}

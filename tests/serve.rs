//! `crier serve` as a real process: live updates reach HTTP readers quickly, the
//! WebSub hub is told about changed feeds, `crier build` writes the same bytes the
//! server sends, SIGTERM stops it cleanly, and its logs, even at trace level, hold
//! no SMTP password, link token, message body or (when hashed) address.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;

struct Server {
    child: Child,
    base: String,
    /// Everything the server has written to standard error so far.
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start(config: &Path) -> Server {
    start_logging(config, "info")
}

/// Starts `crier serve` with `RUST_LOG` set to `filter`, keeping its log.
fn start_logging(config: &Path, filter: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("RUST_LOG", filter)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            let mut log = kept.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server prints its address");
    Server { child, base, log }
}

impl Server {
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `text`.
    async fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "`{text}` never logged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn brief(title: &str) -> String {
    format!(
        "Acme · 2026 · 11 · 20 · Release · ~2 min read\n{title}\nWhat's actually new\n- News.\nWho should care\nHR teams.\n"
    )
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// A WebSub hub that records what it is told.
async fn hub() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/hub",
            post(
                |State(seen): State<Arc<Mutex<Vec<String>>>>, body: String| async move {
                    seen.lock().unwrap().push(body);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hub", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn setup(hub: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("articles");
    std::fs::create_dir(&store).unwrap();
    for name in ["seed-layout.txt", "toml-front-matter.md"] {
        std::fs::copy(common::fixtures("valid").join(name), store.join(name)).unwrap();
    }
    std::fs::copy(
        common::repo().join("subscribers/audiences.toml"),
        dir.path().join("audiences.toml"),
    )
    .unwrap();
    // The default database's folder: crier does not make it.
    std::fs::create_dir(dir.path().join("subscribers")).unwrap();
    let config = dir.path().join("crier.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nbase_url = \"http://news.example.test/\"\n[store]\npath = \"articles\"\naudiences = \"audiences.toml\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[feeds]\nwebsub_hub = \"{hub}\"\n"
        ),
    )
    .unwrap();
    (dir, config)
}

/// The fixture's config with the database at `url`, written to `name`.
fn config_with_database(config: &Path, name: &str, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let path = config.with_file_name(name);
    std::fs::write(&path, format!("{text}[database]\nurl = \"{url}\"\n")).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn one_daemon_per_database_whichever_path_leads_to_it() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let (dir, config) = setup("http://127.0.0.1:9/hub");
    let root = dir.path();
    std::fs::create_dir(root.join("data")).unwrap();
    symlink(root.join("data"), root.join("linked-data")).unwrap();
    let real = config_with_database(&config, "real.toml", "sqlite://data/crier.db");
    let _first = start(&real);
    // The daemon has made the database and the secret, for its owner only.
    for name in ["crier.db", "crier.db-wal", "crier.secret"] {
        let mode = std::fs::metadata(root.join("data").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    symlink(root.join("data/crier.db"), root.join("alias.db")).unwrap();
    for url in ["sqlite://linked-data/crier.db", "sqlite://alias.db"] {
        let other = config_with_database(&config, "other.toml", url);
        let mut second = Command::new(env!("CARGO_BIN_EXE_crier"))
            .args(["--config", other.to_str().unwrap(), "serve"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A second daemon that starts would run on: give it a while, then stop it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while second.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = second.kill();
                panic!("{url}: a second daemon started on the same database");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let second = second.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("already running"), "{url}: {stderr}");
    }
    // One secret, beside the real file.
    assert!(!root.join("crier.secret").exists());
}

#[test]
fn a_missing_database_folder_is_named_not_made() {
    let (dir, config) = setup("http://127.0.0.1:9/hub");
    let missing = config_with_database(&config, "missing.toml", "sqlite://nowhere/crier.db");
    let out = Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(["--config", missing.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}", dir.path().join("nowhere").display())),
        "{stderr}"
    );
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!dir.path().join("nowhere").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_websub_static_export_and_sigterm() {
    let (hub_url, pings) = hub().await;
    let (dir, config) = setup(&hub_url);
    let server = start(&config);
    let http = client();
    let (status, body) = get(&http, &format!("{}feed.xml", server.base)).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("Brightline"));

    // Each write is visible to the next GETs within half a second (median of three).
    let mut latencies = Vec::new();
    for n in 0..3 {
        let title = format!("Live article number {n}");
        std::fs::write(
            dir.path().join(format!("articles/live-{n}.txt")),
            brief(&title),
        )
        .unwrap();
        let written = Instant::now();
        loop {
            let (_, body) = get(&http, &format!("{}audiences/hr/feed.xml", server.base)).await;
            if String::from_utf8_lossy(&body).contains(&title) {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(10),
                "{title} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(written.elapsed());
    }
    latencies.sort();
    eprintln!("write-to-feed latencies: {latencies:?}");
    assert!(
        latencies[1] <= Duration::from_millis(500),
        "median latency {:?}",
        latencies[1]
    );

    // The hub heard about the changed feeds, after they were served.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = pings.lock().unwrap().clone();
        let wanted = [
            "feed.xml",
            "audiences/hr/atom.xml",
            "categories/release/feed.json",
        ];
        if wanted.iter().all(|path| {
            let url = format!("http://news.example.test/{path}")
                .replace(':', "%3A")
                .replace('/', "%2F");
            seen.iter()
                .any(|body| body == &format!("hub.mode=publish&hub.url={url}"))
        }) {
            // Feeds of untouched scopes were not announced.
            assert!(
                !seen.iter().any(|b| b.contains("categories%2Fimpact")),
                "{seen:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "hub pings missing: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, body) = get(&http, &format!("{}feed.xml", server.base)).await;
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains(&format!("<atom:link href=\"{hub_url}\" rel=\"hub\"/>"))
    );

    // The static export holds the same bytes the server sends, and no temporary files.
    let out = dir.path().join("public");
    let files = common::build_files(&config, &out);
    assert_eq!(
        files.len(),
        (1 + 20 + 2) * 3 + (20 + 2) + 1 + 1 + 5 + 1 + 2 * 2,
        "feeds of 23 scopes, a page for each audience and category, the index, \
         404.html, 5 article pages, and the archive: its index and, for each of the \
         two digests, its (empty) list of editions and their feed"
    );
    for file in &files {
        let rel = file
            .strip_prefix(&out)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(!rel.ends_with(".tmp"), "temporary file left: {rel}");
        // `articles/x/index.html` is served at `/articles/x/`, which redirects to
        // `/articles/x`; `audiences/hr/index.html` at `/audiences/hr/` itself.
        let url_path = rel.strip_suffix("index.html").unwrap_or(&rel);
        // As a browser asks: the page for unknown addresses is HTML only to those.
        let r = http
            .get(format!("{}{url_path}", server.base))
            .header("accept", "text/html,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        let (status, body) = (r.status().as_u16(), r.bytes().await.unwrap().to_vec());
        let expected = if rel == "404.html" { 404 } else { 200 };
        assert_eq!(status, expected, "{url_path}");
        assert_eq!(
            body,
            std::fs::read(file).unwrap(),
            "{rel} differs from GET /{url_path}"
        );
    }
    assert!(out.join("articles/live-0/index.html").is_file());
    assert!(out.join("audiences/students/feed.json").is_file());
    assert!(out.join("audiences/students/index.html").is_file());
    assert!(out.join("404.html").is_file());

    // SIGTERM: a clean exit.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
}

/// Over real sockets, behind a trusted proxy on this machine: the sign-up limit keys
/// on the rightmost hop the proxy appended, not on what the client wrote at the left
/// of `X-Forwarded-For`; a client that is not a trusted proxy is itself the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_limits_trust_only_the_proxys_hop() {
    let (hub_url, _) = hub().await;
    let (dir, config) = setup(&hub_url);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[http]\n",
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\nsubscribe_per_minute = 2\n",
    );
    std::fs::write(&config, text).unwrap();
    let server = start(&config);
    let client = client();
    let sign_up = |n: u32, forwarded: String| {
        let client = client.clone();
        let url = format!("{}subscribe", server.base);
        async move {
            client
                .post(url)
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("email", format!("r{n}@example.org")),
                    ("audiences", "hr".into()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The same client, pretending to be someone new each time.
    for n in 1..=2 {
        assert_eq!(sign_up(n, format!("192.0.2.{n}, 198.51.100.7")).await, 200);
    }
    assert_eq!(sign_up(3, "192.0.2.3, 198.51.100.7".into()).await, 429);
    // Another client behind the same proxy has its own quota.
    assert_eq!(sign_up(4, "203.0.113.5".into()).await, 200);
    drop(server);
    drop(dir);
}

/// The link to `path` in a message's text.
fn link_in(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("http://news.example.test/{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map_or(text.len(), |e| start + e);
    text[start..end].to_string()
}

/// A send over SMTP with AUTH, page requests with tokens in their URLs, an admin
/// search for an address and a bounce, all under `RUST_LOG=trace`: the log keeps the
/// requests, the delivery and the failure, but no password, no token, no line of the
/// message and, with `log_addresses = "hashed"`, no address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_keep_secrets_tokens_bodies_and_addresses_out() {
    use base64::Engine as _;
    const USER: &str = "crier-relay";
    const PASSWORD: &str = "Pa55-word-that-must-stay-secret";
    const SECRET: &str = "a signing secret of at least thirty-two characters";
    const ADMIN: &str = "admin-token-0123456789";
    let (smtp, sink) = common::smtp::start_with_login(USER, PASSWORD).await;
    let (dir, config) = setup("http://127.0.0.1:9/hub");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[security]\nsecret = \"{SECRET}\"\n[admin]\ntoken = \"{ADMIN}\"\n\
         [delivery]\nsmtp_url = \"{}\"\nlog_addresses = \"hashed\"\n",
        smtp.replace("smtp://", &format!("smtp://{USER}:{PASSWORD}@"))
    ));
    std::fs::write(&config, text).unwrap();
    let server = start_logging(&config, "trace");
    let http = client();
    let form = |email: &str| {
        format!(
            "email={}&audiences=hr&frequency=weekly&timezone=UTC",
            email.replace('@', "%40")
        )
    };
    for email in ["reader@example.org", "bounce.reader@example.org"] {
        let r = http
            .post(format!("{}subscribe", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(email))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // The confirmation reaches the server after AUTH; the bounce fails for good.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.received().is_empty() {
        assert!(Instant::now() < deadline, "no message arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.wait_for_log("delivery failed").await;
    let raw = sink.received()[0].data.clone();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body = message.body_text(0).unwrap().into_owned();
    let confirm = link_in(&body, "confirm");
    let confirm_token = confirm.split("token=").nth(1).unwrap().to_string();

    // Pages with the token in their URL, and a form that carries it.
    let local = |url: &str| url.replace("http://news.example.test/", &server.base);
    assert_eq!(get(&http, &local(&confirm)).await.0, 200);
    let page = http
        .post(format!("{}confirm", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={confirm_token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let preferences = link_in(&page.replace("&#x3D;", "="), "preferences");
    let preferences_token = preferences.split("token=").nth(1).unwrap().to_string();
    assert_eq!(get(&http, &local(&preferences)).await.0, 200);
    let forged = get(
        &http,
        &format!("{}preferences?token=1.p.2.forged", server.base),
    )
    .await;
    assert!((400..500).contains(&forged.0), "{}", forged.0);
    let search = http
        .get(format!(
            "{}api/subscribers?q=reader%40example.org",
            server.base
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    let shown = http
        .get(format!(
            "{}api/subscribers/reader%40example.org",
            server.base
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 200);
    server.wait_for_log("/api/subscribers").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log();

    // What nobody should find there.
    let plain = base64::engine::general_purpose::STANDARD;
    let secrets = [
        PASSWORD.to_string(),
        plain.encode(format!("\0{USER}\0{PASSWORD}")),
        plain.encode(PASSWORD),
        confirm_token.clone(),
        confirm_token.rsplit('.').next().unwrap().to_string(),
        preferences_token.rsplit('.').next().unwrap().to_string(),
        "1.p.2.forged".to_string(),
        "To confirm, open this link".to_string(),
        "Someone, hopefully you".to_string(),
        "reader@example.org".to_string(),
        "reader%40example.org".to_string(),
    ];
    let leaks: Vec<String> = secrets
        .iter()
        .filter_map(|secret| {
            let at = log.find(secret.as_str())?;
            let around = log
                .get(at.saturating_sub(200)..(at + 200).min(log.len()))
                .unwrap_or_default();
            Some(format!("`{secret}` in …{around}…"))
        })
        .collect();
    assert!(leaks.is_empty(), "the log leaks:\n{}", leaks.join("\n\n"));

    // What an admin needs is there: requests by path, the send, the failure.
    for wanted in ["/confirm", "/preferences", "/subscribe", "delivery failed"] {
        assert!(log.contains(wanted), "`{wanted}` is not in the log:\n{log}");
    }
    let hash =
        crier::tokens::Signer::new(SECRET.as_bytes()).email_hash("bounce.reader@example.org");
    assert!(
        log.contains(&hash[..16]),
        "the failed address's hash is missing:\n{log}"
    );
    drop(dir);
}

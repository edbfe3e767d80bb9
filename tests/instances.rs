//! Two `crier serve` processes (the real binary, real sockets) on one article store,
//! as two instances behind a load balancer: every feed and page has the same bytes,
//! the same ETag and the same Last-Modified on both, whenever each started, so that
//! a reader's conditional GET works whichever instance it reaches. Each instance
//! names itself in `/healthz`, and its heartbeat row goes when it stops cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server prints its address");
    Server { child, base }
}

/// One article store, and a config per instance, each with its own database (a
/// SQLite file has one daemon; instances that share a database need PostgreSQL).
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("articles");
    std::fs::create_dir(&store).unwrap();
    for entry in std::fs::read_dir(common::fixtures("valid")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt" || e == "md") {
            std::fs::copy(&path, store.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(
        common::repo().join("subscribers/audiences.toml"),
        dir.path().join("audiences.toml"),
    )
    .unwrap();
    let config = |name: &str| {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[site]\nbase_url = \"https://news.example.test/\"\n\
                 [store]\npath = \"articles\"\naudiences = \"audiences.toml\"\n\
                 [http]\nlisten = \"127.0.0.1:0\"\n\
                 [database]\nurl = \"sqlite://{name}/crier.db\"\n"
            ),
        )
        .unwrap();
        path
    };
    let (a, b) = (config("one"), config("two"));
    (dir, a, b)
}

/// Every document `crier build` writes, as the URL path it is served at.
fn every_document(config: &Path, out: &Path) -> Vec<String> {
    let mut paths: Vec<String> = common::build_files(config, out)
        .iter()
        .map(|path| {
            let rel = path.strip_prefix(out).unwrap().to_str().unwrap();
            // `articles/x/index.html` is served at `/articles/x`.
            match rel.strip_suffix("/index.html") {
                Some(page) if page.starts_with("articles/") => page.to_string(),
                _ => rel.strip_suffix("index.html").unwrap_or(rel).to_string(),
            }
        })
        .collect();
    paths.sort();
    paths
}

/// What a reader's cache keys on, and the bytes.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    etag: Option<String>,
    last_modified: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn answer(client: &reqwest::Client, url: &str, encoding: &str) -> Answer {
    let r = client
        .get(url)
        .header("accept-encoding", encoding)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, last_modified, content_type) = (
        header("etag"),
        header("last-modified"),
        header("content-type"),
    );
    Answer {
        status: r.status().as_u16(),
        etag,
        last_modified,
        content_type,
        body: r.bytes().await.unwrap().to_vec(),
    }
}

#[cfg(unix)]
#[tokio::test]
async fn two_instances_serve_the_same_bytes_etags_and_dates() {
    let (dir, one_config, two_config) = setup();
    let paths = every_document(&one_config, &dir.path().join("public"));
    let feeds = paths
        .iter()
        .filter(|p| p.ends_with(".xml") || p.ends_with(".json"))
        .count();
    assert!(feeds >= 60, "{feeds} feeds of {} documents", paths.len());

    let one = start(&one_config);
    // Started more than a second apart: a start time in any header would show.
    std::thread::sleep(Duration::from_millis(1_100));
    let two = start(&two_config);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    for path in &paths {
        for encoding in ["identity", "gzip", "br"] {
            let a = answer(&client, &format!("{}{path}", one.base), encoding).await;
            let b = answer(&client, &format!("{}{path}", two.base), encoding).await;
            // The page for unknown addresses is served as a 404, to anyone asking
            // for an address that is not there.
            if path == "404.html" {
                assert_eq!(a.status, 404);
            } else {
                assert_eq!(a.status, 200, "/{path}");
                assert!(a.etag.is_some() && a.last_modified.is_some(), "/{path}");
            }
            assert_eq!(a, b, "/{path} ({encoding}) differs between the instances");
        }
    }
    // A conditional GET answered by one instance is answered alike by the other.
    let feed = answer(&client, &format!("{}feed.xml", one.base), "identity").await;
    let validators = [
        ("if-none-match", feed.etag.clone().unwrap()),
        ("if-modified-since", feed.last_modified.clone().unwrap()),
    ];
    for (name, value) in validators {
        let r = client
            .get(format!("{}feed.xml", two.base))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 304, "{name}");
    }

    // Each names itself, with its pid, among the live instances of its database.
    for server in [&one, &two] {
        let body = client
            .get(format!("{}healthz", server.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let instances = &health["instances"];
        let live = instances["live"].as_array().unwrap();
        assert_eq!(live.len(), 1, "{health}");
        assert_eq!(live[0]["id"], instances["this"]);
        assert_eq!(live[0]["pid"], server.child.id());
    }

    // The heartbeat row is in the database while the instance runs, and a clean stop
    // (SIGTERM) removes it.
    let database = dir.path().join("one/crier.db");
    let store = crier::store::Store::open(&database).await.unwrap();
    let epoch = chrono::DateTime::UNIX_EPOCH;
    let rows = store.live_instances(epoch).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].pid, i64::from(one.child.id()));
    let mut one = one;
    let terminated = Command::new("kill")
        .args(["-TERM", &one.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = one.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(store.live_instances(epoch).await.unwrap().is_empty());
    store.close().await;
}

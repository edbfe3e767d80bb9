//! The public edge of `crier serve`, as a real process over real sockets: slow and
//! idle clients are timed out and cannot crowd out a normal reader, the connection cap
//! makes room by closing idle connections, a request that stalls gets 408, and
//! SIGTERM with a half-sent request still ends in time with exit 0. `/metrics` and
//! `/api/` need the admin token or move to the admin listener, and the health checks
//! answer without touching SMTP, except readiness.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    child: Child,
    /// `host:port` of the public listener.
    address: String,
    /// `host:port` of the admin listener, when there is one.
    admin: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Sends SIGTERM and waits up to `limit` for the exit status.
    fn terminate(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < limit,
                "crier did not stop within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A store, a taxonomy and a config with `extra` appended; crier started on it.
fn start(extra: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("articles");
    std::fs::create_dir(&store).unwrap();
    // The default database folder: crier does not create a missing one.
    std::fs::create_dir(dir.path().join("subscribers")).unwrap();
    std::fs::copy(
        common::fixtures("valid").join("seed-layout.txt"),
        store.join("seed-layout.txt"),
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
            "[site]\nbase_url = \"http://news.example.test/\"\n\
             [store]\npath = \"articles\"\naudiences = \"audiences.toml\"\n{extra}"
        ),
    )
    .unwrap();
    let server = spawn(&config);
    (dir, server)
}

fn spawn(config: &Path) -> Server {
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
            for (tag, marker) in [
                ("public", "listening on http://"),
                ("admin", "admin on http://"),
            ] {
                if let Some(rest) = line.split(marker).nth(1) {
                    let address = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send((tag, address));
                }
            }
        }
    });
    let mut server = Server {
        child,
        address: String::new(),
        admin: None,
    };
    while server.address.is_empty() {
        let (tag, address) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("crier prints its address");
        match tag {
            "public" => server.address = address,
            _ => server.admin = Some(address),
        }
    }
    // The admin listener is announced first, when there is one.
    server
}

/// One GET on a new connection; the status line and the whole answer.
async fn get(address: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or("").to_string();
    (status, answer)
}

/// Waits until the server closes `stream` (a read gives 0 bytes or an error), up to
/// `limit`; returns how long that took, or `None` if it stayed open.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // An answer (a 408, say) before the close.
            Ok(Ok(_)) => {}
        }
    }
}

/// 200 clients that send nothing or trickle a header a byte at a time do not keep a
/// normal reader from its feed, and each is closed once `header_read_timeout` is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_timed_out_and_do_not_block_readers() {
    let (_dir, server) = start("[http]\nlisten = \"127.0.0.1:0\"\nheader_read_timeout_secs = 1\n");
    let address = server.address.clone();
    let opened = Instant::now();
    let mut slow = Vec::new();
    for i in 0..200 {
        let address = address.clone();
        slow.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&address).await.unwrap();
            let since = Instant::now();
            if i % 2 == 0 {
                // Slowloris: a request line and headers, one byte every 100 ms, never done.
                let (mut read, mut write) = stream.into_split();
                let trickle = tokio::spawn(async move {
                    for byte in b"GET /feed.xml HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle() {
                        if write.write_all(&[*byte]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                let mut buf = [0u8; 1024];
                let closed = loop {
                    match tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf)).await {
                        Err(_) => break None,
                        Ok(Ok(0)) | Ok(Err(_)) => break Some(since.elapsed()),
                        Ok(Ok(_)) => {}
                    }
                };
                trickle.abort();
                closed
            } else {
                // Connects and says nothing.
                closed_within(&mut stream, Duration::from_secs(10)).await
            }
        }));
    }
    // While they hang on, a reader gets the feed, promptly, again and again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let asked = Instant::now();
        let (status, body) = get(&address, "/feed.xml").await;
        let took = asked.elapsed();
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        assert!(body.contains("<rss"), "{body}");
        assert!(took < Duration::from_secs(1), "the feed took {took:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, task) in slow.into_iter().enumerate() {
        let closed = task.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("slow connection {i} was never closed"));
        // The timeout is 1 s; the margin is for a busy two-core machine.
        assert!(
            closed < Duration::from_millis(2500),
            "slow connection {i} closed after {closed:?}"
        );
    }
    eprintln!(
        "200 slow connections all closed within {:?}",
        opened.elapsed()
    );
}

/// Past `max_connections`, idle keep-alive connections give up their slots at once to
/// a new client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_closes_idle_connections_to_make_room() {
    let (_dir, server) = start(
        "[http]\nlisten = \"127.0.0.1:0\"\nmax_connections = 4\n\
         header_read_timeout_secs = 2\nkeep_alive_timeout_secs = 60\n",
    );
    let address = server.address.clone();

    // Not asserted: that four silent connections keep a fifth client out. Each
    // listening thread takes a slot before it accepts, and the kernel spreads new
    // connections over the threads' sockets, so a thread holding the last slot may
    // take the reader while a silent connection still waits in the other thread's
    // queue. The cap on open connections holds either way; which client gets the
    // last slot does not follow arrival order. (That assertion failed in about one run
    // in four.) Closing idle connections to make room, below, does prove the cap: the
    // keep-alive timeout is 60 s, so nothing else closes them.

    // Four keep-alive connections, each after one answered request: idle, they make
    // room for a new reader at once and are closed.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /feed.json HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // The rest of the answer, if it came in pieces.
        tokio::time::sleep(Duration::from_millis(50)).await;
        idle.push(stream);
    }
    let asked = Instant::now();
    let (status, _) = get(&address, "/feed.xml").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "a reader waited {:?} behind idle connections",
        asked.elapsed()
    );
    let mut closed = 0;
    for stream in &mut idle {
        if closed_within(stream, Duration::from_millis(500))
            .await
            .is_some()
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed to make room");
}

/// A request whose body stalls is answered 408 once `request_timeout` is up, and its
/// connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_gets_408() {
    let (_dir, server) = start("[http]\nlisten = \"127.0.0.1:0\"\nrequest_timeout_secs = 1\n");
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    stream
        .write_all(
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=ada",
        )
        .await
        .unwrap();
    let sent = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Err(_) => panic!("no answer and no close after 10 s"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let took = sent.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "408 after {took:?}"
    );
}

/// SIGTERM while a client has sent half a request: crier stops within its shutdown
/// timeout and exits 0, and a request in progress elsewhere is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_half_sent_request_exits_0_in_time() {
    let (_dir, mut server) = start(
        "[http]\nlisten = \"127.0.0.1:0\"\nheader_read_timeout_secs = 60\nshutdown_timeout_secs = 2\n\
         [delivery]\nshutdown_timeout_secs = 2\n",
    );
    let mut half = TcpStream::connect(&server.address).await.unwrap();
    half.write_all(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A keep-alive connection that had its answer closes at once on SIGTERM.
    let mut idle = TcpStream::connect(&server.address).await.unwrap();
    idle.write_all(b"GET /feed.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, took) = tokio::task::block_in_place(|| server.terminate(Duration::from_secs(15)));
    assert!(status.success(), "exit status {status:?}");
    // 2 s of shutdown timeout, and the margin crier allows itself beyond it.
    assert!(took < Duration::from_secs(7), "stopped after {took:?}");
    assert!(
        closed_within(&mut half, Duration::from_secs(1))
            .await
            .is_some(),
        "the half-sent request's connection is still open"
    );
}

const TOKEN: &str = "an-admin-token-for-tests";

/// Without an admin listener, `/metrics` asks for the admin token; the health checks
/// stay open, and liveness reports the worker and the scheduler alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_token_on_the_public_listener() {
    let (_dir, server) = start(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\ntoken = \"{TOKEN}\"\n"
    ));
    let (status, _) = get(&server.address, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, body) =
        get_with_token(&server.address, "/metrics", "a-wrong-token-of-length").await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized", "{body}");
    let (status, body) = get_with_token(&server.address, "/metrics", TOKEN).await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("crier_articles_loaded"), "{body}");

    let (status, body) = get(&server.address, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let report: serde_json::Value =
        serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    for check in ["store", "database", "worker", "scheduler"] {
        assert_eq!(report[check], "ok", "{report}");
    }
    let (status, body) = get(&server.address, "/readyz").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
}

/// With `[admin] listen`, `/metrics`, `/api/` and the console are served there and not
/// on the public listener; the public listener still serves the site and the health
/// checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_api_move_to_the_admin_listener() {
    let (_dir, server) = start(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\ntoken = \"{TOKEN}\"\nlisten = \"127.0.0.1:0\"\n"
    ));
    let admin = server.admin.clone().expect("an admin listener");
    assert_ne!(admin, server.address);
    for path in ["/metrics", "/api/stats", "/admin/login", "/admin"] {
        let (status, _) = get_with_token(&server.address, path, TOKEN).await;
        assert_eq!(status, "HTTP/1.1 404 Not Found", "public {path}");
    }
    let (status, body) = get(&admin, "/admin/login").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("name=\"password\""), "{body}");
    let (status, _) = get(&server.address, "/feed.xml").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, _) = get(&server.address, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK");

    let (status, body) = get(&admin, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("crier_articles_loaded"), "{body}");
    let (status, _) = get(&admin, "/api/stats").await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, body) = get_with_token(&admin, "/api/stats", TOKEN).await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    // The admin listener serves no site.
    let (status, _) = get(&admin, "/feed.xml").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

/// `/healthz` never opens an SMTP connection; `/readyz` does, and says 503 when the
/// relay is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_without_smtp_and_readyz_probes_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (_dir, server) = start(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[delivery]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\n"
    ));
    let (status, body) = get(&server.address, "/healthz").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let (status, body) = get(&server.address, "/readyz").await;
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    assert!(body.contains("\"mail\":\"smtp transport:"), "{body}");
}

async fn get_with_token(address: &str, path: &str, token: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or("").to_string();
    (status, answer)
}

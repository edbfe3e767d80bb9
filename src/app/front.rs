//! The HTTP front: one listening socket per core, each with `SO_REUSEPORT` and its own
//! single-threaded runtime, the way nginx runs a worker process per core. The kernel
//! spreads new connections over the sockets, and a request is read, answered and
//! written on one thread, with no hand-off between threads. The rest of the daemon
//! (watcher, scheduler, delivery) stays on the main runtime.
//!
//! Only processes of the same user can join a `SO_REUSEPORT` group on Linux.
//!
//! Kept by measurement (issue #16): against one multi-threaded runtime with one
//! listener, same binary, `http_load.sh` interleaved, 304s came at 57,371 and 64,600
//! requests/s here against 44,785 and 46,530 there (1.28× and 1.39×; 0.78× against
//! 0.51× nginx's rate in the same runs), at the same CPU per request (BENCHMARKS.md,
//! "machinery"). A first gzip or brotli would block a thread's loop, so it is made on
//! the blocking pool (`Resource::gzip_off_loop`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{mpsc, watch};

use super::conn::{self, App, Edge, Limits};

/// The serving threads, and where they listen.
pub(super) struct Front {
    pub address: SocketAddr,
    threads: Vec<std::thread::JoinHandle<()>>,
    ended: mpsc::UnboundedReceiver<(usize, std::io::Result<()>)>,
}

fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds `address` (port 0 picks a free one, shared by every thread) `threads` times
/// and serves `app` on each within `limits` until `stop` turns true; then each thread
/// lets requests in progress finish for up to `limits.shutdown` and closes the rest.
pub(super) fn start(
    address: SocketAddr,
    threads: usize,
    app: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Front> {
    // A port that another server holds, even one that shares it the same way, must be
    // refused: a plain bind first says whether it is free (and picks it for port 0).
    let address = std::net::TcpListener::bind(address)
        .and_then(|probe| probe.local_addr())
        .with_context(|| format!("cannot listen on {address}"))?;
    let first = bind(address).with_context(|| format!("cannot listen on {address}"))?;
    let mut listeners = vec![first];
    // Without SO_REUSEPORT a second socket on the port cannot exist: one thread.
    if cfg!(unix) {
        for _ in 1..threads.max(1) {
            listeners.push(bind(address).with_context(|| format!("cannot listen on {address}"))?);
        }
    }
    let edge = Edge::new(limits, listeners.len());
    let (report, ended) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let app = app.clone();
        let edge = Arc::clone(&edge);
        let stop = stop.clone();
        let report = report.clone();
        let handle = std::thread::Builder::new()
            .name(format!("crier-http-{i}"))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = tokio::net::TcpListener::from_std(listener)?;
                            accept(listener, app, edge, i, stop).await;
                            Ok(())
                        })
                    });
                let _ = report.send((i, served));
            })
            .context("cannot start an HTTP thread")?;
        handles.push(handle);
    }
    Ok(Front {
        address,
        threads: handles,
        ended,
    })
}

/// One thread's accept loop: a connection is accepted only once it has a slot, so
/// past `max_connections` new clients wait in the kernel's backlog.
async fn accept(
    listener: tokio::net::TcpListener,
    app: App,
    edge: Arc<Edge>,
    thread: usize,
    mut stop: watch::Receiver<bool>,
) {
    // Every connection holds a receiver; `closed()` resolves when the last one ends.
    let (open, open_rx) = watch::channel(());
    let pressure = edge.pressure(thread);
    loop {
        let slot = tokio::select! {
            slot = edge.slot() => slot,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors or memory: make room, and pause rather
                    // than spin on the error.
                    tracing::error!("cannot accept connections: {e}");
                    edge.make_room();
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        // Every answer is one write; Nagle would hold a large body's last, short
        // segment until the client acknowledged the ones before it (nginx sets
        // `tcp_nodelay` on keep-alive connections too).
        let _ = stream.set_nodelay(true);
        let connection = conn::serve(
            stream,
            peer,
            app.clone(),
            edge.limits,
            Arc::clone(&pressure),
            stop.clone(),
        );
        let open = open_rx.clone();
        tokio::spawn(async move {
            connection.await;
            drop((slot, open));
        });
    }
    // Refuse new connections from now on; those open finish their request in progress.
    drop(listener);
    drop(open_rx);
    if tokio::time::timeout(edge.limits.shutdown, open.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = open.receiver_count(),
            "closed connections still busy at http.shutdown_timeout_secs"
        );
    }
    // Returning drops this thread's runtime, and with it every connection left.
}

/// Errors of one incoming connection, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

impl Front {
    /// Returns when a serving thread ends on its own (an error), naming it.
    pub(super) async fn failed(&mut self) -> anyhow::Error {
        match self.ended.recv().await {
            Some((i, Err(e))) => anyhow::anyhow!("the HTTP server (thread {i}) failed: {e}"),
            Some((i, Ok(()))) => anyhow::anyhow!("the HTTP server (thread {i}) stopped"),
            None => anyhow::anyhow!("the HTTP server stopped"),
        }
    }

    /// Waits for every thread to finish its requests and end.
    pub(super) async fn join(self) {
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Router {
        Router::new().route("/", axum::routing::get(|| async { "hello" }))
    }

    fn limits() -> Limits {
        Limits {
            header_read: std::time::Duration::from_secs(10),
            keep_alive: std::time::Duration::from_secs(10),
            request: std::time::Duration::from_secs(10),
            max_connections: 100,
            shutdown: std::time::Duration::from_secs(5),
        }
    }

    /// The threads answer on one port, a second server on that port is refused,
    /// and `stop` ends them all.
    #[tokio::test]
    async fn serves_on_one_port_and_refuses_a_taken_one() {
        let (stop, stopped) = watch::channel(false);
        let front = start(
            "127.0.0.1:0".parse().unwrap(),
            2,
            app(),
            limits(),
            stopped.clone(),
        )
        .unwrap();
        assert_eq!(front.threads.len(), 2);
        for _ in 0..8 {
            let mut stream = tokio::net::TcpStream::connect(front.address).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            assert!(
                reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello"),
                "{reply}"
            );
        }
        let taken = start(front.address, 2, app(), limits(), stopped)
            .err()
            .unwrap();
        assert!(
            format!("{taken:#}").contains("cannot listen on"),
            "{taken:#}"
        );
        stop.send(true).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), front.join())
            .await
            .unwrap();
    }
}

//! One HTTP/1 connection at the edge: hyper serves it, and a watchdog polled beside
//! it closes it when the client is too slow. The clocks are Go's `net/http` ones:
//!
//! - **headers**: a new connection must complete its first request's headers within
//!   `header_read_timeout` of being accepted; a later request, within that time of
//!   its first byte. Trickling a header byte by byte buys nothing.
//! - **idle**: between requests, and between two writes of an answer that the client
//!   reads slowly, at most `keep_alive_timeout`.
//! - **request**: from complete headers to the answer, the body's reading included,
//!   at most `request_timeout` (answered 408). Its timer is armed only when the app
//!   does not answer at once: a feed or a page from memory is answered on the first
//!   poll, and a timer armed per request woke the thread's event loop each time
//!   (tokio unparks its driver when a new timer comes before the next planned
//!   wake-up), an `eventfd` write and an extra `epoll_wait` per request (issue #22).
//!
//! Connections are capped by a semaphore shared by all listening threads. When it runs
//! out, idle keep-alive connections are closed to make room, as nginx reuses its
//! idle connections when `worker_connections` run out: waiting clients are worth more
//! than parked ones. hyper's own header timer is off, because it also counts the time
//! a connection sits idle between requests.
//!
//! Must not know about routes: it serves whatever app it is given.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

/// The app as each connection calls it; [`serve`] bounds each request by
/// `Limits::request`.
pub(super) type App = Router;

/// The timeouts of `[http]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header_read: Duration,
    pub keep_alive: Duration,
    pub request: Duration,
    pub max_connections: usize,
    pub shutdown: Duration,
}

impl Limits {
    pub(super) fn of(http: &crate::config::Http) -> Limits {
        Limits {
            header_read: http.header_read_timeout,
            keep_alive: http.keep_alive_timeout,
            request: http.request_timeout,
            max_connections: http.max_connections,
            shutdown: http.shutdown_timeout,
        }
    }
}

/// What the listening threads of one listener share: the connection slots, and one
/// "make room" signal per thread (per thread so that idle connections, which wait on
/// it, do not contend for one lock across cores).
pub(super) struct Edge {
    pub limits: Limits,
    slots: Arc<Semaphore>,
    pressure: Vec<Arc<Notify>>,
}

impl Edge {
    pub(super) fn new(limits: Limits, threads: usize) -> Arc<Edge> {
        Arc::new(Edge {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            pressure: (0..threads.max(1))
                .map(|_| Arc::new(Notify::new()))
                .collect(),
        })
    }

    /// The "make room" signal the connections of thread `thread` listen to.
    pub(super) fn pressure(&self, thread: usize) -> Arc<Notify> {
        Arc::clone(&self.pressure[thread % self.pressure.len()])
    }

    /// A slot for one more connection; when none is free, idle connections are asked
    /// to close first.
    pub(super) async fn slot(&self) -> OwnedSemaphorePermit {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return permit;
        }
        self.make_room();
        // The semaphore is never closed.
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed")
    }

    /// Closes idle keep-alive connections on every thread.
    pub(super) fn make_room(&self) {
        for pressure in &self.pressure {
            pressure.notify_waiters();
        }
    }
}

/// Serves one accepted connection until the client or hyper ends it, the watchdog
/// closes it, or `stop` turns true and its request in progress (if any) is answered.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    app: App,
    limits: Limits,
    pressure: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        io: stream,
        activity: Arc::clone(&activity),
    });
    let request_timeout = limits.request;
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = activity.begin();
            // `timeout` polls the answer first and arms its timer only when that is
            // pending: a request answered at once costs no timer.
            let answer = tokio::time::timeout(request_timeout, app.clone().oneshot(request));
            async move {
                let response = answer.await.unwrap_or_else(|_| {
                    let mut timed_out = axum::response::Response::new(Body::empty());
                    *timed_out.status_mut() = axum::http::StatusCode::REQUEST_TIMEOUT;
                    Ok(timed_out)
                });
                drop(busy);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let watchdog = watchdog(&activity, &limits, &pressure);
    tokio::pin!(watchdog);
    let mut draining = false;
    loop {
        // Biased, and the connection first: the watchdog must look at the connection's
        // phase after the connection's I/O changed it (see `Changed`).
        tokio::select! {
            biased;
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            why = &mut watchdog => {
                tracing::debug!(%peer, "closed the connection: {why}");
                return;
            }
            _ = stop.wait_for(|stopped| *stopped), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Where a connection is, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request's headers, since the connection opened or
    /// since the request's first byte.
    Head(Instant),
    /// A request is being answered: the request timeout bounds it.
    Busy,
    /// Between requests, or writing an answer, since the last write.
    Idle(Instant),
}

/// The connection's phase, kept in atomics by its reads, writes and requests. Only
/// its own task touches them, so they are never contended.
struct Activity {
    opened: Instant,
    requests: AtomicU32,
    /// Milliseconds after `opened` when the pending request's first byte came; NONE
    /// when no request is pending.
    head: AtomicU64,
    /// Milliseconds after `opened` of the last write, or of the last answer.
    wrote: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            requests: AtomicU32::new(0),
            // The first request's clock starts at the accept.
            head: AtomicU64::new(0),
            wrote: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn at(&self, millis: u64) -> Instant {
        self.opened + Duration::from_millis(millis)
    }

    fn phase(&self) -> Phase {
        if self.requests.load(Relaxed) > 0 {
            return Phase::Busy;
        }
        match self.head.load(Relaxed) {
            NONE => Phase::Idle(self.at(self.wrote.load(Relaxed))),
            head => Phase::Head(self.at(head)),
        }
    }

    /// Bytes came in: outside a request they start the next one's header clock.
    fn read(&self) {
        if self.requests.load(Relaxed) == 0 && self.head.load(Relaxed) == NONE {
            self.head.store(self.now(), Relaxed);
        }
    }

    fn wrote(&self) {
        self.wrote.store(self.now(), Relaxed);
    }

    /// A request's headers are complete: it is answered now.
    fn begin(self: &Arc<Self>) -> Busy {
        self.requests.fetch_add(1, Relaxed);
        self.head.store(NONE, Relaxed);
        Busy(Arc::clone(self))
    }
}

/// A request being answered; dropping it (answered, or cut off) starts the idle clock.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.requests.fetch_sub(1, Relaxed);
    }
}

/// When the connection overstays `phase`, and what to say then; `None` while busy.
fn deadline(phase: Phase, limits: &Limits) -> Option<(Instant, &'static str)> {
    match phase {
        Phase::Head(since) => Some((
            since + limits.header_read,
            "the request headers took longer than http.header_read_timeout_secs",
        )),
        Phase::Idle(since) => Some((
            since + limits.keep_alive,
            "idle for longer than http.keep_alive_timeout_secs",
        )),
        Phase::Busy => None,
    }
}

/// Resolves with the reason once the connection has overstayed its current phase,
/// or, idle, when a new connection needs its slot.
async fn watchdog(activity: &Activity, limits: &Limits, pressure: &Notify) -> &'static str {
    // One timer for the connection's life, moved only when a deadline comes nearer
    // (a request's first byte). A deadline that moves away, as the idle one does at
    // every answer, is found when the timer fires early: a keep-alive request costs
    // one timer reset, not a timer per phase.
    let first = deadline(activity.phase(), limits).map_or_else(Instant::now, |(at, _)| at);
    let timer = tokio::time::sleep_until(first.into());
    tokio::pin!(timer);
    loop {
        let phase = activity.phase();
        if let Some((at, _)) = deadline(phase, limits)
            && at < timer.deadline().into_std()
        {
            timer.as_mut().reset(at.into());
        }
        tokio::select! {
            biased;
            () = &mut timer => {
                let next = match deadline(activity.phase(), limits) {
                    Some((at, why)) if Instant::now() >= at => return why,
                    Some((at, _)) => at,
                    // Busy: the request timeout ends it; look again after that.
                    None => Instant::now() + limits.request,
                };
                timer.as_mut().reset(next.into());
            }
            () = pressure.notified(), if matches!(phase, Phase::Idle(_)) => {
                return "idle while http.max_connections were all open";
            }
            () = (Changed { activity, seen: phase }) => {}
        }
    }
}

/// Ready once the connection's phase is no longer `seen`. It registers no waker on
/// purpose: only the connection's own I/O changes the phase, and that I/O wakes the
/// task that polls this right after the connection, so a change is never missed and
/// costs no extra wake-up.
struct Changed<'a> {
    activity: &'a Activity,
    seen: Phase,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.activity.phase() == self.seen {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// The socket, telling `Activity` about the bytes that move.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

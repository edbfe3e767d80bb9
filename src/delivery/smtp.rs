//! SMTP delivery: a small pool of lettre connections over sockets crier opens itself.
//!
//! lettre speaks the protocol: it greets, secures and logs in, formats every command
//! and parses every reply. crier decides how the commands are written:
//! - it owns the sockets, because lettre's own pool opens them without `TCP_NODELAY`,
//!   and the last small write of each message then waits for the server's delayed ACK,
//!   about 40 ms per message;
//! - when the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one
//!   write, and the message, dot-stuffed once in one pass, goes in one write with its
//!   closing dot: two round trips a message instead of four;
//! - the pool skips the NOOP that lettre sends before every reuse, unless a connection
//!   has sat idle for a while;
//! - the pool caps the connections open at once, busy and idle alike, at `concurrency`,
//!   and a health probe never adds one: it borrows an idle connection or a free slot,
//!   and when every connection is sending, the relay is plainly answering.
//!
//! A URL or CA file it cannot use is a [`SmtpSetupError`] at start, never a failed send.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use url::Url;

use super::{FailureKind, Gate, Mailer, Outgoing, SendError, SendFuture};

/// A pooled connection idle longer than this is checked with NOOP before reuse.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);
/// A pooled connection idle longer than this is closed instead of reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// How the connection is secured.
enum Security {
    /// Plain SMTP (`smtp://host`), typically a local relay.
    None,
    /// STARTTLS, required (`smtp://host?tls=required`) or used when offered
    /// (`?tls=opportunistic`).
    StartTls {
        parameters: TlsParameters,
        required: bool,
    },
    /// Implicit TLS (`smtps://host`).
    Implicit(TlsConnector),
}

/// Why an SMTP mailer cannot be set up: its URL, or the CA file beside it, is wrong.
/// Each message names the setting and carries its cause in words (not as a `source`,
/// which `{:#}` would print a second time).
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("bad SMTP URL: {0}")]
    Url(url::ParseError),
    #[error("bad SMTP URL: it names no host")]
    NoHost,
    #[error(
        "bad SMTP URL: unknown scheme `{scheme}` or tls `{tls}` (use smtp://, \
         smtp://…?tls=required, smtp://…?tls=opportunistic or smtps://)"
    )]
    Scheme { scheme: String, tls: String },
    #[error("bad SMTP URL: TLS for {host}: {cause}")]
    TlsParameters {
        host: String,
        cause: lettre::transport::smtp::Error,
    },
    #[error("the SMTP CA file is not PEM: {0}")]
    CaNotPem(rustls::pki_types::pem::Error),
    #[error("the SMTP CA file holds no PEM certificates")]
    CaEmpty,
    #[error("the SMTP CA file has a bad certificate: {0}")]
    CaCertificate(Box<dyn std::error::Error + Send + Sync>),
    #[error("TLS: {0}")]
    Tls(rustls::Error),
}

impl SmtpSetupError {
    /// Whether `[delivery] smtp_ca_file` is at fault rather than `smtp_url`.
    pub fn is_ca_file(&self) -> bool {
        matches!(
            self,
            SmtpSetupError::CaNotPem(_)
                | SmtpSetupError::CaEmpty
                | SmtpSetupError::CaCertificate(_)
        )
    }
}

/// Where and how to connect, parsed from `[delivery] smtp_url`.
struct Endpoint {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

impl Endpoint {
    /// `smtp://[user:password@]host[:port][/hello-name][?tls=required|opportunistic]`
    /// or `smtps://…`. Ports default to 25 (plain), 587 (STARTTLS) and 465 (implicit).
    fn parse(url: &str, ca: Option<&[u8]>) -> Result<Endpoint, SmtpSetupError> {
        let extra_roots = ca.map(extra_roots).transpose()?;
        let parsed = Url::parse(url).map_err(SmtpSetupError::Url)?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(SmtpSetupError::NoHost)?
            .trim_matches(['[', ']'])
            .to_string();
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let starttls = |required| -> Result<Security, SmtpSetupError> {
            let mut builder = TlsParameters::builder(host.clone());
            for root in extra_roots.iter().flatten() {
                builder = builder.add_root_certificate(
                    Certificate::from_der(root.to_vec())
                        .map_err(|e| SmtpSetupError::CaCertificate(Box::new(e)))?,
                );
            }
            let parameters = builder
                .build()
                .map_err(|cause| SmtpSetupError::TlsParameters {
                    host: host.clone(),
                    cause,
                })?;
            Ok(Security::StartTls {
                parameters,
                required,
            })
        };
        let (security, default_port) = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None | Some("none")) => (Security::None, 25),
            ("smtp", Some("required")) => (starttls(true)?, 587),
            ("smtp", Some("opportunistic")) => (starttls(false)?, 587),
            ("smtps", None | Some("implicit")) => (
                Security::Implicit(tls_connector(extra_roots.as_deref())?),
                465,
            ),
            (scheme, tls) => {
                return Err(SmtpSetupError::Scheme {
                    scheme: scheme.to_string(),
                    tls: tls.unwrap_or_default().to_string(),
                });
            }
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!parsed.username().is_empty()).then(|| {
            Credentials::new(
                decode(parsed.username()),
                decode(parsed.password().unwrap_or_default()),
            )
        });
        let name = parsed.path().trim_matches('/');
        let hello = if name.is_empty() {
            ClientId::default()
        } else {
            ClientId::Domain(name.to_string())
        };
        Ok(Endpoint {
            port: parsed.port().unwrap_or(default_port),
            host,
            security,
            credentials,
            hello,
            timeout: Duration::from_secs(30),
        })
    }

    fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Opens, secures and logs in a new connection, within twice the timeout. Nothing
    /// that fails here says anything about a recipient, so every failure is transient.
    async fn connect(&self) -> Result<Conn, SendError> {
        tokio::time::timeout(self.timeout * 2, self.open())
            .await
            .map_err(|_| {
                SendError::transient(format!(
                    "SMTP: {} did not finish the greeting, TLS and login within {} s",
                    self.describe(),
                    (self.timeout * 2).as_secs()
                ))
            })?
    }

    async fn open(&self) -> Result<Conn, SendError> {
        let refused = |e: lettre::transport::smtp::Error| {
            SendError::transient(format!("SMTP: {}: {e}", self.describe()))
        };
        let unreachable = |e: &dyn std::fmt::Display| {
            SendError::transient(format!("SMTP: cannot reach {}: {e}", self.describe()))
        };
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| unreachable(&"no connection within 30 s"))?
        .map_err(|e| unreachable(&e))?;
        tcp.set_nodelay(true).map_err(|e| unreachable(&e))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(connector) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| unreachable(&e))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(&format!("TLS: {e}")))?;
                Box::new(Tls(tls))
            }
            _ => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(refused)?;
        if let Security::StartTls {
            parameters,
            required,
        } = &self.security
            && (*required || conn.can_starttls())
        {
            conn.starttls(parameters.clone(), &self.hello)
                .await
                .map_err(refused)?;
        }
        // lettre keeps only the extensions it uses itself; asking again tells whether
        // the server takes pipelined commands.
        let pipelining = conn
            .command(Ehlo::new(self.hello.clone()))
            .await
            .map_err(refused)?
            .message()
            .any(|line| {
                line.split_whitespace()
                    .next()
                    .is_some_and(|word| word.eq_ignore_ascii_case("PIPELINING"))
            });
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(refused)?;
        }
        Ok(Conn {
            smtp: conn,
            pipelining,
            broken: false,
            slot: None,
        })
    }
}

/// An open connection, and whether its server takes pipelined commands.
struct Conn {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
    /// Left in a state that only closing it ends.
    broken: bool,
    /// Its place under the pool's cap, given back when the connection is dropped.
    slot: Option<OwnedSemaphorePermit>,
}

/// Text that goes to the server as it is: commands lettre formatted, or a message
/// already dot-stuffed.
struct Verbatim<'a>(&'a str);

impl fmt::Display for Verbatim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The message as it goes after DATA (RFC 5321 section 4.5.2): a line that starts with
/// a dot gets a second one, and the line with a single dot ends it.
fn data_block(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + message.len() / 512 + 8);
    if message.starts_with('.') {
        out.push('.');
    }
    // Each "\n." becomes "\n..": the text up to and including the dot is copied,
    // and the next piece starts at that same dot.
    let mut start = 0;
    for at in memchr::memmem::find_iter(message.as_bytes(), b"\n.") {
        out.push_str(&message[start..at + 2]);
        start = at + 1;
    }
    out.push_str(&message[start..]);
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// One mail transaction; the message itself goes once `gate` opens. A message that
/// needs 8BITMIME or SMTPUTF8 goes through lettre's `send`, which negotiates them.
///
/// After a refusal the connection stays usable when the server says so: the refused
/// transaction is reset (RSET) and the connection goes back to the pool, so a list
/// with many bad addresses does not pay a new connection, TLS handshake and login for
/// each of them. After anything else (no reply, a 421, a refused RSET, or a server
/// that took DATA after refusing an earlier command) it is closed, as lettre's own
/// `send` does.
async fn transact(
    conn: &mut Conn,
    envelope: &Envelope,
    raw: &[u8],
    gate: &Gate,
) -> Result<(), lettre::transport::smtp::Error> {
    let plain = std::str::from_utf8(raw)
        .ok()
        .filter(|text| text.is_ascii() && ascii_addresses(envelope));
    let Some(text) = plain else {
        gate.wait().await;
        return conn.smtp.send(envelope, raw).await.map(drop);
    };
    let result = exchange(conn, envelope, text, gate).await;
    if let Err(e) = &result
        && !conn.broken
        && !(refused_politely(e) && conn.smtp.command(Rset).await.is_ok())
    {
        conn.smtp.abort().await;
    }
    result
}

/// Whether a failure was a server's reply that leaves the connection open: a refusal
/// with a code, other than 421 (the server is closing the connection).
fn refused_politely(error: &lettre::transport::smtp::Error) -> bool {
    error.status().is_some_and(|code| code.to_string() != "421")
}

fn ascii_addresses(envelope: &Envelope) -> bool {
    let from = envelope
        .from()
        .is_none_or(|a| AsRef::<str>::as_ref(a).is_ascii());
    from && envelope
        .to()
        .iter()
        .all(|a| AsRef::<str>::as_ref(a).is_ascii())
}

async fn exchange(
    conn: &mut Conn,
    envelope: &Envelope,
    text: &str,
    gate: &Gate,
) -> Result<(), lettre::transport::smtp::Error> {
    let mut commands = vec![Mail::new(envelope.from().cloned(), Vec::new()).to_string()];
    commands.extend(
        envelope
            .to()
            .iter()
            .map(|to| Rcpt::new(to.clone(), Vec::new()).to_string()),
    );
    commands.push(Data.to_string());
    if conn.pipelining {
        // Every command gets its reply, in order; the first refusal is the verdict.
        let mut verdict = conn
            .smtp
            .command(Verbatim(&commands.concat()))
            .await
            .map(drop);
        let mut data_taken = false;
        for _ in 1..commands.len() {
            let reply = conn.smtp.read_response().await.map(drop);
            data_taken = reply.is_ok();
            verdict = verdict.and(reply);
        }
        if verdict.is_err() && data_taken {
            // The server took DATA after refusing an earlier command: whatever went
            // next would be a message, so the connection is dropped without QUIT.
            conn.broken = true;
        }
        verdict?;
    } else {
        for command in &commands {
            conn.smtp.command(Verbatim(command)).await?;
        }
    }
    let block = data_block(text);
    gate.wait().await;
    conn.smtp.command(Verbatim(&block)).await?;
    Ok(())
}

/// The certificates of a PEM file of certificate authorities; at least one.
fn extra_roots(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SmtpSetupError> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(SmtpSetupError::CaNotPem)?;
    if certs.is_empty() {
        return Err(SmtpSetupError::CaEmpty);
    }
    Ok(certs)
}

/// A rustls client that trusts the Web PKI roots and the `extra` ones.
fn tls_connector(
    extra: Option<&[CertificateDer<'static>]>,
) -> Result<TlsConnector, SmtpSetupError> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra.into_iter().flatten() {
        roots
            .add(cert.clone())
            .map_err(|e| SmtpSetupError::CaCertificate(Box::new(e)))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(SmtpSetupError::Tls)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A TLS stream lettre can drive.
#[derive(Debug)]
struct Tls(TlsStream<TcpStream>);

impl tokio::io::AsyncRead for Tls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Tls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Tls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Sorts an SMTP failure: throttling replies slow the sender down, 4xx and network
/// trouble are retried, 5xx are final, except the ones that blame our own login.
pub fn classify(error: &lettre::transport::smtp::Error) -> FailureKind {
    let code = error
        .status()
        .and_then(|c| c.to_string().parse::<u16>().ok());
    match code {
        Some(421 | 450 | 451 | 454) => FailureKind::Throttled,
        Some(400..=499) => FailureKind::Transient,
        Some(530 | 534 | 535 | 538) => FailureKind::Transient,
        Some(500..=599) => FailureKind::Permanent,
        _ if error.is_permanent() => FailureKind::Permanent,
        _ => FailureKind::Transient,
    }
}

fn smtp_error(error: &lettre::transport::smtp::Error) -> SendError {
    SendError {
        kind: classify(error),
        message: format!("SMTP: {error}"),
    }
}

/// Whether the server answers NOOP within a few seconds.
async fn answers_noop(conn: &mut AsyncSmtpConnection) -> bool {
    tokio::time::timeout(Duration::from_secs(5), conn.test_connected())
        .await
        .unwrap_or(false)
}

/// Says QUIT, without waiting long for the answer, and drops the connection.
async fn quit(mut conn: Conn) {
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.smtp.abort()).await;
}

struct Idle {
    conn: Conn,
    since: Instant,
}

pub struct SmtpMailer {
    endpoint: Endpoint,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    /// One permit per connection open, busy or idle.
    slots: Arc<Semaphore>,
}

impl SmtpMailer {
    /// `smtp://host:port` (plain, or STARTTLS with `?tls=required`), `smtps://` for
    /// implicit TLS; credentials as `smtp://user:password@host`. At most `connections`
    /// connections are open at once.
    pub fn new(url: &str, connections: usize) -> Result<SmtpMailer, SmtpSetupError> {
        SmtpMailer::with_ca(url, connections, None)
    }

    /// Like [`SmtpMailer::new`], also trusting the certificate authorities in `ca`
    /// (PEM) for the server's TLS certificate.
    pub fn with_ca(
        url: &str,
        connections: usize,
        ca: Option<&[u8]>,
    ) -> Result<SmtpMailer, SmtpSetupError> {
        Ok(SmtpMailer {
            endpoint: Endpoint::parse(url, ca)?,
            idle: Mutex::new(Vec::new()),
            max_idle: connections.max(1),
            slots: Arc::new(Semaphore::new(connections.max(1))),
        })
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// An idle connection that still works, if the pool has one.
    async fn reuse(&self) -> Option<Conn> {
        while let Some(Idle { mut conn, since }) = self.pop_idle() {
            let idle_for = since.elapsed();
            if idle_for <= MAX_IDLE
                && (idle_for < CHECK_AFTER_IDLE || answers_noop(&mut conn.smtp).await)
            {
                return Some(conn);
            }
            quit(conn).await;
        }
        None
    }

    async fn connect_in(&self, slot: OwnedSemaphorePermit) -> Result<Conn, SendError> {
        let mut conn = self.endpoint.connect().await?;
        conn.slot = Some(slot);
        Ok(conn)
    }

    /// A connection from the pool (`true`), or a new one (`false`).
    async fn checkout(&self) -> Result<(Conn, bool), SendError> {
        loop {
            if let Some(conn) = self.reuse().await {
                return Ok((conn, true));
            }
            if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
                return Ok((self.connect_in(slot).await?, false));
            }
            self.wait_for_room().await;
        }
    }

    /// A new connection, even when an idle one could serve: closing an idle one makes
    /// room under the cap if needed.
    async fn fresh(&self) -> Result<Conn, SendError> {
        loop {
            if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
                return self.connect_in(slot).await;
            }
            match self.pop_idle() {
                Some(Idle { conn, .. }) => quit(conn).await,
                None => self.wait_for_room().await,
            }
        }
    }

    /// Every slot is held by a connection in use, a probe's for a moment (the worker
    /// never runs more senders than slots): wait for one to close, or to come back
    /// idle, which gives back no permit, hence the short look-again.
    async fn wait_for_room(&self) {
        tokio::select! {
            slot = Arc::clone(&self.slots).acquire_owned() => drop(slot),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }

    fn checkin(&self, conn: Conn) {
        if conn.broken || conn.smtp.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// One attempt over one connection, bounded in time so that a server that stops
    /// answering mid-message costs a timeout and a retry, not a stuck worker. A failure
    /// comes with whether the server had closed the connection before any reply.
    async fn attempt(
        &self,
        mut conn: Conn,
        message: &Outgoing,
        gate: &Gate,
    ) -> Result<(), (SendError, bool)> {
        let limit = self.endpoint.timeout + Duration::from_secs(message.raw.len() as u64 / 100_000);
        match tokio::time::timeout(
            limit,
            transact(&mut conn, &message.envelope, &message.raw, gate),
        )
        .await
        {
            Ok(Ok(_)) => {
                self.checkin(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                self.checkin(conn);
                Err((smtp_error(&e), e.status().is_none()))
            }
            Err(_) => Err((
                SendError::transient(format!(
                    "SMTP: {} did not answer within {} s",
                    self.endpoint.describe(),
                    limit.as_secs()
                )),
                false,
            )),
        }
    }
}

impl Mailer for SmtpMailer {
    fn send_after<'a>(&'a self, message: &'a Outgoing, gate: &'a Gate) -> SendFuture<'a> {
        Box::pin(async move {
            let (conn, reused) = self.checkout().await?;
            match self.attempt(conn, message, gate).await {
                Ok(()) => Ok(()),
                // A pooled connection the server has closed fails before any reply;
                // that is no verdict on the message, so it goes once more on a new one.
                Err((e, true)) if reused => {
                    tracing::debug!("a pooled SMTP connection failed ({e}); reconnecting");
                    let conn = self.fresh().await?;
                    self.attempt(conn, message, gate).await.map_err(|(e, _)| e)
                }
                Err((e, _)) => Err(e),
            }
        })
    }

    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            let mut conn = match self.reuse().await {
                Some(conn) => conn,
                None => match Arc::clone(&self.slots).try_acquire_owned() {
                    Ok(slot) => self.connect_in(slot).await?,
                    // Every connection is out sending: the relay answers, and a probe
                    // must not open one more.
                    Err(_) => return Ok(()),
                },
            };
            if answers_noop(&mut conn.smtp).await {
                self.checkin(conn);
                Ok(())
            } else {
                Err(SendError::transient(format!(
                    "the SMTP server {} did not answer NOOP",
                    self.endpoint.describe()
                )))
            }
        })
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Endpoint {
        fn parse_plain(url: &str) -> Result<Endpoint, SmtpSetupError> {
            Endpoint::parse(url, None)
        }
    }

    #[test]
    fn data_blocks_double_leading_dots_and_end_with_one() {
        assert_eq!(data_block("a\r\nb\r\n"), "a\r\nb\r\n.\r\n");
        assert_eq!(data_block("a\r\nb"), "a\r\nb\r\n.\r\n");
        assert_eq!(
            data_block(".top\r\nx.y\r\n.\r\n..two\r\n"),
            "..top\r\nx.y\r\n..\r\n...two\r\n.\r\n"
        );
        assert_eq!(data_block(""), "\r\n.\r\n");
    }

    #[test]
    fn urls_pick_security_port_and_login() {
        let plain = Endpoint::parse_plain("smtp://127.0.0.1:2525").unwrap();
        assert!(matches!(plain.security, Security::None));
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 2525));
        assert!(plain.credentials.is_none());

        let submission =
            Endpoint::parse_plain("smtp://me%40x.org:p%3Ass@mail.example.org?tls=required")
                .unwrap();
        assert!(matches!(
            submission.security,
            Security::StartTls { required: true, .. }
        ));
        assert_eq!(submission.port, 587);
        assert_eq!(
            submission.credentials,
            Some(Credentials::new("me@x.org".into(), "p:ss".into()))
        );

        let implicit = Endpoint::parse_plain("smtps://mail.example.org/crier.example.org").unwrap();
        assert!(matches!(implicit.security, Security::Implicit(_)));
        assert_eq!(implicit.port, 465);
        assert_eq!(implicit.hello, ClientId::Domain("crier.example.org".into()));

        let v6 = Endpoint::parse_plain("smtp://[::1]:25").unwrap();
        assert_eq!(v6.host, "::1");

        for ca in [&b"not a certificate"[..], b""] {
            for url in [
                "smtps://mail.example.org",
                "smtp://mail.example.org?tls=required",
            ] {
                let Err(e) = Endpoint::parse(url, Some(ca)) else {
                    panic!("{url}: a bad CA file was taken");
                };
                assert!(e.is_ca_file(), "{url}: {e}");
            }
        }

        for bad in [
            "http://mail.example.org",
            "smtp://mail?tls=maybe",
            "smtp://",
            "not a url",
        ] {
            let Err(e) = Endpoint::parse(bad, None) else {
                panic!("{bad}: taken");
            };
            assert!(!e.is_ca_file(), "{bad}: {e}");
            assert!(e.to_string().starts_with("bad SMTP URL: "), "{bad}: {e}");
        }
        assert_eq!(
            Endpoint::parse("smtp://mail?tls=maybe", None)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "bad SMTP URL: unknown scheme `smtp` or tls `maybe` (use smtp://, \
                 smtp://…?tls=required, smtp://…?tls=opportunistic or smtps://)"
            )
        );
    }
}

//! A small SMTP server over real TCP for the tests: it speaks enough of RFC 5321
//! (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for lettre, and
//! can refuse recipients on demand: `bounce…@` gets 550, `later…@` 451 for its first
//! two attempts, `slow…@` 421 once (throttling). It can also require AUTH PLAIN, offer
//! STARTTLS or speak TLS from the start (with the test certificate in
//! `tests/fixtures/tls`), hang up after each message, and leave PIPELINING out of its
//! EHLO reply. It counts the connections it accepts, and the transactions whose
//! commands came pipelined (RCPT already waiting when MAIL is read).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    /// Whether the message came over TLS.
    pub tls: bool,
}

/// How the server uses TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Security {
    #[default]
    None,
    /// Offers STARTTLS in its EHLO reply.
    StartTls,
    /// TLS from the first byte (smtps).
    Implicit,
}

#[derive(Clone, Default)]
pub struct Sink {
    pub messages: Arc<Mutex<Vec<Received>>>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    /// How long each message takes to accept.
    delay: std::time::Duration,
    /// The user name and password AUTH PLAIN must give before MAIL, if any.
    login: Option<(String, String)>,
    /// Closes each connection after one message, without waiting for QUIT, as a
    /// server does when an idle connection times out.
    hang_up: bool,
    tls: Security,
    /// Leaves PIPELINING out of the EHLO reply.
    no_pipelining: bool,
    connections: Arc<AtomicUsize>,
    pipelined: Arc<AtomicUsize>,
    resets: Arc<AtomicUsize>,
}

impl Sink {
    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// RSET commands received.
    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }

    /// Transactions whose MAIL came in the same write as the commands after it.
    pub fn pipelined(&self) -> usize {
        self.pipelined.load(Ordering::SeqCst)
    }

    fn reply_to_rcpt(&self, address: &str) -> &'static str {
        let mut attempts = self.attempts.lock().unwrap();
        let n = attempts.entry(address.to_string()).or_insert(0);
        *n += 1;
        if address.starts_with("bounce") {
            "550 5.1.1 no such user\r\n"
        } else if address.starts_with("later") && *n <= 2 {
            "451 4.3.0 try again later\r\n"
        } else if address.starts_with("slow") && *n == 1 {
            "421 4.7.0 slow down\r\n"
        } else {
            "250 2.1.5 ok\r\n"
        }
    }
}

/// Starts the server on a free loopback port; returns `smtp://127.0.0.1:PORT` and the sink.
pub async fn start() -> (String, Sink) {
    serve(Sink::default()).await
}

/// Like [`start`], taking `delay` to accept each message.
pub async fn start_with_delay(delay: std::time::Duration) -> (String, Sink) {
    serve(Sink {
        delay,
        ..Sink::default()
    })
    .await
}

/// Like [`start`], requiring AUTH PLAIN with this user name and password; returns
/// `smtp://127.0.0.1:PORT` without credentials.
pub async fn start_with_login(user: &str, password: &str) -> (String, Sink) {
    serve(Sink {
        login: Some((user.to_string(), password.to_string())),
        ..Sink::default()
    })
    .await
}

/// Like [`start`], without PIPELINING in the EHLO reply.
pub async fn start_without_pipelining() -> (String, Sink) {
    serve(Sink {
        no_pipelining: true,
        ..Sink::default()
    })
    .await
}

/// Like [`start`], closing each connection after one message.
pub async fn start_hanging_up() -> (String, Sink) {
    serve(Sink {
        hang_up: true,
        ..Sink::default()
    })
    .await
}

/// Like [`start_with_login`], with TLS as given; the address is `localhost:PORT`, the
/// name on the test certificate.
pub async fn start_with_tls(tls: Security, user: &str, password: &str) -> (String, Sink) {
    let (url, sink) = serve(Sink {
        tls,
        login: Some((user.to_string(), password.to_string())),
        ..Sink::default()
    })
    .await;
    (url.replace("127.0.0.1", "localhost"), sink)
}

/// The test certificate authority, which signed the server's certificate.
pub fn test_ca() -> Vec<u8> {
    std::fs::read(super::fixtures("tls").join("ca.pem")).unwrap()
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = super::fixtures("tls");
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve(sink: Sink) -> (String, Sink) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let acceptor = (sink.tls != Security::None).then(acceptor);
    let shared = sink.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let sink = shared.clone();
            let acceptor = acceptor.clone();
            sink.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                match (sink.tls, acceptor) {
                    (Security::Implicit, Some(acceptor)) => {
                        if let Ok(tls) = acceptor.accept(socket).await {
                            session(tls, &sink, true).await;
                        }
                    }
                    (_, acceptor) => {
                        let Some(plain) = session(socket, &sink, false).await else {
                            return;
                        };
                        if let Some(Ok(tls)) = match acceptor {
                            Some(acceptor) => Some(acceptor.accept(plain).await),
                            None => None,
                        } {
                            session(tls, &sink, true).await;
                        }
                    }
                }
            });
        }
    });
    (url, sink)
}

/// One SMTP session over `stream`. Returns the stream when the client asked for
/// STARTTLS (and the server offers it), for the caller to wrap in TLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    sink: &Sink,
    tls: bool,
) -> Option<S> {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read);
    if !tls || sink.tls == Security::Implicit {
        write.write_all(b"220 test.local ESMTP\r\n").await.ok()?;
    }
    let mut logged_in = sink.login.is_none();
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let ehlo;
        let reply: &str = if upper.starts_with("EHLO") {
            let mut extensions = vec!["test.local"];
            if sink.tls == Security::StartTls && !tls {
                extensions.push("STARTTLS");
            }
            if sink.login.is_some() {
                extensions.push("AUTH PLAIN");
            }
            if !sink.no_pipelining {
                extensions.push("PIPELINING");
            }
            extensions.push("8BITMIME");
            let last = extensions.len() - 1;
            ehlo = extensions
                .iter()
                .enumerate()
                .map(|(i, e)| format!("250{}{e}\r\n", if i == last { ' ' } else { '-' }))
                .collect::<String>();
            &ehlo
        } else if upper == "STARTTLS" && sink.tls == Security::StartTls && !tls {
            write
                .write_all(b"220 2.0.0 ready to start TLS\r\n")
                .await
                .ok()?;
            return Some(lines.into_inner().unsplit(write));
        } else if upper.starts_with("AUTH PLAIN ") {
            let given = base64::engine::general_purpose::STANDARD
                .decode(line.trim_end()["AUTH PLAIN ".len()..].trim())
                .unwrap_or_default();
            let (user, password) = sink.login.clone().unwrap_or_default();
            if given == format!("\0{user}\0{password}").into_bytes() {
                logged_in = true;
                "235 2.7.0 authenticated\r\n"
            } else {
                "535 5.7.8 bad credentials\r\n"
            }
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 ok\r\n"
        } else if !logged_in && upper.starts_with("MAIL FROM:") {
            "530 5.7.0 authentication required\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            if !lines.buffer().is_empty() {
                sink.pipelined.fetch_add(1, Ordering::SeqCst);
            }
            from = address(&line);
            to.clear();
            "250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address(&line);
            let reply = sink.reply_to_rcpt(&rcpt);
            if reply.starts_with('2') {
                to.push(rcpt);
            }
            if reply.starts_with("421") {
                let _ = write.write_all(reply.as_bytes()).await;
                return None;
            }
            reply
        } else if upper == "DATA" {
            if to.is_empty() {
                "554 5.5.1 no valid recipients\r\n"
            } else {
                write.write_all(b"354 go ahead\r\n").await.ok()?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return None;
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.extend_from_slice(unstuffed.as_bytes());
                }
                tokio::time::sleep(sink.delay).await;
                sink.messages.lock().unwrap().push(Received {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                    tls,
                });
                if sink.hang_up {
                    let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                    return None;
                }
                "250 2.0.0 queued\r\n"
            }
        } else if upper.starts_with("RSET") {
            sink.resets.fetch_add(1, Ordering::SeqCst);
            to.clear();
            "250 ok\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            "502 5.5.2 not implemented\r\n"
        };
        write.write_all(reply.as_bytes()).await.ok()?;
    }
}

fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].trim().to_string()
}

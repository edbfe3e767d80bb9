//! A small SMTP server over real TCP for the tests: it speaks enough of RFC 5321
//! (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for lettre, and
//! can refuse recipients on demand: `bounce…@` gets 550, `later…@` 451 for its first
//! two attempts, `slow…@` 421 once (throttling). It can also require AUTH PLAIN, and
//! counts the connections it accepts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
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
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Sink {
    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
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
    start_with_delay(std::time::Duration::ZERO).await
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

/// Like [`start`], closing each connection after one message.
pub async fn start_hanging_up() -> (String, Sink) {
    serve(Sink {
        hang_up: true,
        ..Sink::default()
    })
    .await
}

async fn serve(sink: Sink) -> (String, Sink) {
    use base64::Engine as _;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let shared = sink.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let sink = shared.clone();
            sink.connections
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut logged_in = sink.login.is_none();
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                let _ = write.write_all(b"220 test.local ESMTP\r\n").await;
                let mut from = String::new();
                let mut to = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.trim_end().to_ascii_uppercase();
                    let reply: &str = if upper.starts_with("EHLO") {
                        if sink.login.is_some() {
                            "250-test.local\r\n250-AUTH PLAIN\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                        } else {
                            "250-test.local\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                        }
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
                    } else if !logged_in && upper.starts_with("MAIL FROM:") {
                        "530 5.7.0 authentication required\r\n"
                    } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                        "250 ok\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
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
                            return;
                        }
                        reply
                    } else if upper == "DATA" {
                        if to.is_empty() {
                            "554 5.5.1 no valid recipients\r\n"
                        } else {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = Vec::new();
                            loop {
                                line.clear();
                                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
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
                            });
                            if sink.hang_up {
                                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                                return;
                            }
                            "250 2.0.0 queued\r\n"
                        }
                    } else if upper.starts_with("RSET") {
                        to.clear();
                        "250 ok\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        "502 5.5.2 not implemented\r\n"
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, sink)
}

fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].trim().to_string()
}

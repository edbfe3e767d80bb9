//! `[bounces] imap_url` against a real IMAP server: `.ci/dovecot.sh` starts Debian's
//! dovecot in a temporary folder and runs these with `--ignored`. Without its
//! `CRIER_TEST_IMAP_*` variables they fail: they never pass by skipping.
//!
//! The test puts bounces into a folder with APPEND, runs the daemon's mailbox loop on
//! a real SQLite store against it, and checks that the subscribers change state and
//! the messages are moved to the processed folder (or deleted with `imap_delete`);
//! over STARTTLS and over implicit TLS; while the loop waits in IDLE; and that an
//! untrusted certificate or a wrong password is an error, not a login.
//!
//! The last tests need no server and run in `cargo test`: a server that will not start
//! TLS never sees a LOGIN, a server that is not there is retried without ending the
//! loop, and a bad CA file is refused at start.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use common::bounced::{Fixture, eventually, fixture};
use crier::intake::imap::{Mailbox, MailboxError};
use crier::model::Status;
use futures_util::TryStreamExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

struct Server {
    host: String,
    /// IMAP, with STARTTLS.
    port: u16,
    /// IMAPS.
    tls_port: u16,
    user: String,
    password: String,
    ca_file: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the dovecot that .ci/dovecot.sh starts \
             (run `bash .ci/dovecot.sh`)"
        )
    })
}

fn server() -> Server {
    Server {
        host: var("CRIER_TEST_IMAP_HOST"),
        port: var("CRIER_TEST_IMAP_PORT").parse().unwrap(),
        tls_port: var("CRIER_TEST_IMAPS_PORT").parse().unwrap(),
        user: var("CRIER_TEST_IMAP_USER"),
        password: var("CRIER_TEST_IMAP_PASSWORD"),
        ca_file: var("CRIER_TEST_IMAP_CA_FILE"),
    }
}

fn encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Server {
    /// The `[bounces]` lines for this server: `imap://` (STARTTLS) or `imaps://`.
    fn settings(&self, implicit_tls: bool, folder: &str, extra: &str) -> String {
        let (scheme, port) = if implicit_tls {
            ("imaps", self.tls_port)
        } else {
            ("imap", self.port)
        };
        format!(
            "imap_url = \"{scheme}://{}:{}@{}:{port}/{}\"\nimap_ca_file = \"{}\"\n\
             imap_poll_seconds = 60\n{extra}",
            encoded(&self.user),
            encoded(&self.password),
            self.host,
            encoded(folder),
            self.ca_file,
        )
    }

    /// The test's own connection, over IMAPS, to put messages in and look.
    async fn open(&self) -> Session<TlsStream<TcpStream>> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(&self.ca_file).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect((self.host.as_str(), self.tls_port))
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(self.host.clone().try_into().unwrap(), tcp)
            .await
            .unwrap();
        let mut client = Client::new(tls);
        client.read_response().await.unwrap().unwrap();
        client
            .login(&self.user, &self.password)
            .await
            .map_err(|(e, _)| e)
            .unwrap()
    }
}

type Imap = Session<TlsStream<TcpStream>>;

/// Makes `folder` if needed and empties it.
async fn empty(session: &mut Imap, folder: &str) {
    let _ = session.create(folder).await;
    if session.select(folder).await.unwrap().exists > 0 {
        session
            .store("1:*", "+FLAGS.SILENT (\\Deleted)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
    }
    session
        .expunge()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
}

/// How many messages `folder` holds, and their subjects; `None` if it does not exist.
async fn contents(session: &mut Imap, folder: &str) -> Option<Vec<String>> {
    let mailbox = session.select(folder).await.ok()?;
    if mailbox.exists == 0 {
        return Some(Vec::new());
    }
    let fetched: Vec<_> = session
        .fetch("1:*", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    Some(
        fetched
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f.header().unwrap_or_default())
                    .trim()
                    .to_string()
            })
            .collect(),
    )
}

async fn append(session: &mut Imap, folder: &str, raw: &[u8]) {
    session.append(folder, None, None, raw).await.unwrap();
}

/// The daemon's mailbox loop for `settings`, running until the returned sender says stop.
fn start(
    f: &Fixture,
    settings: crier::config::Bounces,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let mailbox = Mailbox::new(settings.imap.unwrap(), f.bounces.clone()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    (stop_tx, tokio::spawn(mailbox.run(stop_rx)))
}

async fn stop(stop_tx: tokio::sync::watch::Sender<bool>, task: tokio::task::JoinHandle<()>) {
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the loop stops when the daemon does, even in IDLE")
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the dovecot of .ci/dovecot.sh"]
async fn bounces_in_the_inbox_are_recorded_and_moved_over_starttls_and_idle() {
    let server = server();
    let f = fixture(&server.settings(false, "INBOX", "imap_move_to = \"Processed\"")).await;
    let ada = f.reader("ada@example.org").await;
    let bob = f.reader("bob@example.org").await;
    let carol = f.reader("carol@example.org").await;
    let mut look = server.open().await;
    empty(&mut look, "INBOX").await;
    if contents(&mut look, "Processed").await.is_some() {
        empty(&mut look, "Processed").await;
        look.delete("Processed").await.unwrap();
    }
    append(&mut look, "INBOX", &f.hard_bounce(&ada)).await;
    append(
        &mut look,
        "INBOX",
        b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n",
    )
    .await;

    let (stop_tx, task) = start(&f, f.bounces.settings().clone());
    eventually(20, "the INBOX emptied into Processed", async || {
        contents(&mut look, "INBOX").await == Some(vec![])
            && contents(&mut look, "Processed").await.map(|c| c.len()) == Some(2)
    })
    .await;
    assert_eq!(
        contents(&mut look, "Processed").await.unwrap(),
        [
            "Subject: Undelivered Mail Returned to Sender",
            "Subject: Out of office"
        ],
        "the folder it was missing was made, and both moved there"
    );
    assert_eq!(f.all_sources().await, ["imap", "imap"]);

    // Delivered while the loop waits in IDLE: taken long before the 60 s poll.
    append(&mut look, "INBOX", &f.hard_bounce(&bob)).await;
    eventually(15, "the bounce delivered during IDLE moved", async || {
        contents(&mut look, "INBOX").await == Some(vec![])
            && contents(&mut look, "Processed").await.map(|c| c.len()) == Some(3)
    })
    .await;
    stop(stop_tx, task).await;

    // Moved, not copied: nothing is left flagged \Deleted in the INBOX either.
    assert_eq!(look.select("INBOX").await.unwrap().exists, 0);
    assert_eq!(f.all_sources().await, ["imap", "imap", "imap"]);
    // Attributed by the Return-Path and classified hard (needs bounce::classify).
    assert_eq!(f.event_sources(&ada).await, ["imap"]);
    assert_eq!(f.event_sources(&bob).await, ["imap"]);
    assert_eq!(f.status(&ada).await, Status::Bounced);
    assert_eq!(f.status(&bob).await, Status::Bounced);
    assert_eq!(f.status(&carol).await, Status::Active);
    let _ = look.logout().await;
}

#[tokio::test]
#[ignore = "needs the dovecot of .ci/dovecot.sh"]
async fn with_imap_delete_bounces_are_deleted_over_implicit_tls() {
    let server = server();
    let folder = "Bounces Delete";
    let f = fixture(&server.settings(true, folder, "imap_delete = true")).await;
    let ada = f.reader("ada@example.org").await;
    let mut look = server.open().await;
    empty(&mut look, folder).await;
    append(&mut look, folder, &f.hard_bounce(&ada)).await;
    append(&mut look, folder, &f.hard_bounce(&ada)).await;

    let (stop_tx, task) = start(&f, f.bounces.settings().clone());
    eventually(20, "the folder emptied", async || {
        contents(&mut look, folder).await == Some(vec![])
    })
    .await;
    stop(stop_tx, task).await;
    assert_eq!(f.all_sources().await, ["imap", "imap"]);
    assert_eq!(f.event_sources(&ada).await, ["imap", "imap"]);
    assert_eq!(f.status(&ada).await, Status::Bounced);
    let _ = look.logout().await;
}

#[tokio::test]
#[ignore = "needs the dovecot of .ci/dovecot.sh"]
async fn an_untrusted_certificate_or_a_wrong_password_reads_nothing() {
    let server = server();
    let folder = "Bounces Refused";
    let f = fixture("").await;
    let ada = f.reader("ada@example.org").await;
    let mut look = server.open().await;
    empty(&mut look, folder).await;
    append(&mut look, folder, &f.hard_bounce(&ada)).await;

    // Without imap_ca_file, the test CA is not trusted: over STARTTLS and IMAPS.
    for implicit_tls in [false, true] {
        let toml = server
            .settings(implicit_tls, folder, "")
            .lines()
            .filter(|l| !l.starts_with("imap_ca_file"))
            .collect::<Vec<_>>()
            .join("\n");
        let settings = common::bounced::settings(&toml);
        let mailbox = Mailbox::new(settings.imap.unwrap(), f.bounces.clone()).unwrap();
        let e = mailbox.poll_once().await.unwrap_err();
        assert!(matches!(e, MailboxError::Tls { .. }), "{e}");
    }

    let toml = server
        .settings(false, folder, "")
        .replace(&encoded(&server.password), "not-the-password");
    let settings = common::bounced::settings(&toml);
    let mailbox = Mailbox::new(settings.imap.unwrap(), f.bounces.clone()).unwrap();
    let e = mailbox.poll_once().await.unwrap_err();
    assert!(matches!(e, MailboxError::Login { .. }), "{e}");
    assert!(!e.to_string().contains("not-the-password"), "{e}");

    // The right settings read it: the message was left for them.
    let settings = common::bounced::settings(&server.settings(false, folder, "imap_delete = true"));
    let mailbox = Mailbox::new(settings.imap.unwrap(), f.bounces.clone()).unwrap();
    assert_eq!(contents(&mut look, folder).await.unwrap().len(), 1);
    assert_eq!(mailbox.poll_once().await.unwrap(), 1);
    assert_eq!(contents(&mut look, folder).await, Some(vec![]));
    assert_eq!(f.all_sources().await, ["imap"]);
    let _ = look.logout().await;
}

// What needs no server: these run in `cargo test`.

/// A server that greets, refuses STARTTLS and records every line it is sent.
async fn no_starttls_server() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                write
                    .write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
                    .await
                    .unwrap();
                let mut read = BufReader::new(read).lines();
                while let Ok(Some(line)) = read.next_line().await {
                    seen.lock().unwrap().push(line.clone());
                    let tag = line.split(' ').next().unwrap_or("*").to_string();
                    let answer = format!("{tag} NO not here\r\n");
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, lines)
}

#[tokio::test]
async fn imap_without_starttls_is_refused_before_any_login() {
    let (port, lines) = no_starttls_server().await;
    let f = fixture("").await;
    let settings = common::bounced::settings(&format!(
        "imap_url = \"imap://crier:secret-password@127.0.0.1:{port}/INBOX\""
    ));
    let mailbox = Mailbox::new(settings.imap.unwrap(), f.bounces.clone()).unwrap();
    let e = mailbox.poll_once().await.unwrap_err();
    assert!(matches!(e, MailboxError::NoStartTls { .. }), "{e}");
    assert!(e.to_string().contains("clear text"), "{e}");
    let sent = lines.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].ends_with("STARTTLS"), "{sent:?}");
    assert!(!sent.iter().any(|l| l.contains("secret-password")));
}

#[tokio::test]
async fn a_server_that_is_not_there_is_retried_and_the_loop_stops_on_demand() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let f = fixture("").await;
    let settings = common::bounced::settings(&format!(
        "imap_url = \"imaps://crier:secret@127.0.0.1:{port}/INBOX\""
    ));
    let mailbox = Mailbox::new(settings.imap.clone().unwrap(), f.bounces.clone()).unwrap();
    let e = mailbox.poll_once().await.unwrap_err();
    assert!(matches!(e, MailboxError::Connect { .. }), "{e}");

    let (stop_tx, task) = start(&f, settings);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "an error does not end the loop");
    stop(stop_tx, task).await;
}

#[test]
fn a_bad_imap_ca_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let f = runtime.block_on(fixture(""));
    let settings = common::bounced::settings(&format!(
        "imap_url = \"imaps://crier:secret@127.0.0.1/INBOX\"\nimap_ca_file = \"{}\"",
        ca.display()
    ));
    let Err(e) = Mailbox::new(settings.imap.unwrap(), f.bounces.clone()) else {
        panic!("a CA file with no certificate was accepted")
    };
    assert!(matches!(e, MailboxError::CaFile { .. }), "{e}");
    assert!(e.to_string().contains("ca.pem"), "{e}");
}

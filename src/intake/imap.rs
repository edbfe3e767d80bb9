//! `[bounces] imap_url`: the mailbox returned mail is delivered to, read over IMAP.
//!
//! One connection at a time: TLS first (`imaps://`) or STARTTLS (`imap://`; a server
//! that will not start TLS is refused, crier never logs in in clear text), LOGIN,
//! then rounds: SELECT the folder, and for each message not deleted, fetch it without
//! marking it seen (`UID FETCH … BODY.PEEK[]`), record it through the bounces service
//! and only then move it to `imap_move_to` (`UID MOVE`, or COPY, `\Deleted` and
//! EXPUNGE where the server has no MOVE) or delete it (`imap_delete`). Between rounds
//! it waits in IDLE where the server offers it, for at most `imap_poll_seconds` before
//! issuing it again, else it sleeps that long.
//!
//! On an error the connection is dropped, the error logged (never the password, never
//! a message: a server's answer is cut and parse errors are not quoted) and counted,
//! and crier connects again after a pause that doubles up to five minutes. A message
//! the database could not take stays in the mailbox for the next round.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::Capabilities;
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{
    Backoff, MAX_MESSAGE_BYTES, actions, count_error, count_message, pause_or_stop, stopping,
};
use crate::bounces::{Bounces, Source};
use crate::config;
use crate::store::StoreError;

const SOURCE: &str = "imap";

/// The longest crier waits for a connection, a login or one command's answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

type Stream = TlsStream<TcpStream>;

/// An IMAP mailbox polled for returned mail.
pub struct Mailbox {
    settings: config::Imap,
    bounces: Bounces,
    tls: TlsConnector,
}

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("cannot read the IMAP CA file {path}: {cause}")]
    CaFile { path: String, cause: String },
    #[error("cannot connect to {address}: {cause}")]
    Connect { address: String, cause: String },
    #[error("TLS with {host}: {cause}")]
    Tls { host: String, cause: String },
    #[error(
        "{host} does not start TLS (STARTTLS refused: {answer}); crier does not log in \
         in clear text: use imaps:// or a server that offers STARTTLS"
    )]
    NoStartTls { host: String, answer: String },
    #[error("login as {user} refused: {answer}")]
    Login { user: String, answer: String },
    #[error("{what}: {answer}")]
    Imap { what: String, answer: String },
    #[error("{0}: no answer within {secs}s", secs = COMMAND_TIMEOUT.as_secs())]
    Timeout(String),
    #[error("cannot record a bounce (it stays in the mailbox): {0}")]
    Store(StoreError),
}

/// What the server offers, read after login.
#[derive(Debug, Clone, Copy, Default)]
struct Offers {
    idle: bool,
    moves: bool,
    uidplus: bool,
}

impl Offers {
    fn of(capabilities: &Capabilities) -> Offers {
        Offers {
            idle: capabilities.has_str("IDLE"),
            moves: capabilities.has_str("MOVE"),
            uidplus: capabilities.has_str("UIDPLUS"),
        }
    }
}

/// A logged-in connection.
struct Connection {
    session: Session<Stream>,
    offers: Offers,
    /// The server said, while a round ran, that mail arrived: the next wait must not
    /// be IDLE, which would not say it again.
    arrived: bool,
}

impl Mailbox {
    /// Reads `imap_ca_file`, if any: a bad one stops the daemon at start rather than
    /// failing every round.
    pub fn new(settings: config::Imap, bounces: Bounces) -> Result<Mailbox, MailboxError> {
        let tls = tls_connector(settings.ca_file.as_deref())?;
        Ok(Mailbox {
            settings,
            bounces,
            tls,
        })
    }

    fn host(&self) -> &str {
        self.settings.url.host_str().unwrap_or_default()
    }

    fn address(&self) -> String {
        let port = self
            .settings
            .url
            .port()
            .unwrap_or(match self.settings.url.scheme() {
                "imaps" => 993,
                _ => 143,
            });
        format!("{}:{port}", self.host())
    }

    /// Polls until the daemon stops; never returns early on an error.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            server = %self.address(),
            user = %self.settings.user,
            folder = %self.settings.folder,
            "reading bounces from an IMAP mailbox"
        );
        let mut backoff = Backoff::new();
        loop {
            let result = self.serve(&mut stop, &mut backoff).await;
            metrics::gauge!("crier_bounce_mailbox_connected").set(0.0);
            if let Err(e) = result {
                count_error(SOURCE);
                let pause = backoff.next();
                tracing::error!(
                    server = %self.address(),
                    "bounce mailbox: {e}; connecting again in {}s",
                    pause.as_secs()
                );
                if pause_or_stop(&mut stop, pause).await {
                    return;
                }
            }
            if stopping(&stop) {
                return;
            }
        }
    }

    /// One round on a connection of its own: connects, logs in, takes what is in the
    /// folder and logs out. How many messages it recorded.
    pub async fn poll_once(&self) -> Result<usize, MailboxError> {
        let (_stop_tx, stop) = watch::channel(false);
        let mut conn = self.connect().await?;
        let recorded = self.round(&mut conn, &stop).await?;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.session.logout()).await;
        Ok(recorded)
    }

    /// One connection: rounds and waits until the daemon stops (`Ok`) or an error.
    async fn serve(
        &self,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<(), MailboxError> {
        let mut conn = self.connect().await?;
        metrics::gauge!("crier_bounce_mailbox_connected").set(1.0);
        loop {
            self.round(&mut conn, stop).await?;
            // A round that went through: the server and the database are fine.
            backoff.reset();
            if stopping(stop) {
                break;
            }
            arrived(&mut conn);
            if std::mem::take(&mut conn.arrived) {
                // Delivered after the round's SEARCH, and announced in an answer to
                // one of its commands: look again now.
                continue;
            }
            let wait = Duration::from_secs(self.settings.poll_seconds);
            if conn.offers.idle {
                conn.session = self.idle(conn.session, stop, wait).await?;
            } else if pause_or_stop(stop, wait).await {
                break;
            }
            if stopping(stop) {
                break;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.session.logout()).await;
        Ok(())
    }

    /// Connects, logs in and checks that the folders are there: once per connection.
    async fn connect(&self) -> Result<Connection, MailboxError> {
        let host = self.host().to_string();
        let address = self.address();
        let tcp = within("connecting", TcpStream::connect(&address))
            .await?
            .map_err(|e| MailboxError::Connect {
                address: address.clone(),
                cause: e.to_string(),
            })?;
        let client = if self.settings.url.scheme() == "imaps" {
            let mut client = Client::new(self.tls(&host, tcp).await?);
            greeting(&mut client).await?;
            client
        } else {
            let mut client = Client::new(tcp);
            greeting(&mut client).await?;
            // Whatever the server sent after its answer is dropped with the plain
            // client: nothing sent before TLS is read after it.
            within(
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?
            .map_err(|e| MailboxError::NoStartTls {
                host: host.clone(),
                answer: answer(&e),
            })?;
            Client::new(self.tls(&host, client.into_inner()).await?)
        };
        let mut session = within(
            "logging in",
            client.login(&self.settings.user, &self.settings.password.0),
        )
        .await?
        .map_err(|(e, _)| MailboxError::Login {
            user: self.settings.user.clone(),
            answer: answer(&e),
        })?;
        let offers = Offers::of(&imap(
            within("CAPABILITY", session.capabilities()).await?,
            "CAPABILITY",
        )?);
        if let Some(folder) = &self.settings.move_to {
            ensure_folder(&mut session, folder).await?;
        }
        tracing::debug!(
            idle = offers.idle,
            moves = offers.moves,
            "logged in to the bounce mailbox"
        );
        Ok(Connection {
            session,
            offers,
            arrived: false,
        })
    }

    async fn tls(&self, host: &str, tcp: TcpStream) -> Result<Stream, MailboxError> {
        let tls_error = |cause: String| MailboxError::Tls {
            host: host.to_string(),
            cause,
        };
        let name = ServerName::try_from(host.to_string()).map_err(|e| tls_error(e.to_string()))?;
        within("the TLS handshake", self.tls.connect(name, tcp))
            .await?
            .map_err(|e| tls_error(e.to_string()))
    }

    /// Takes every message in the folder that is not deleted. Stops early, leaving
    /// the rest, when the daemon stops.
    async fn round(
        &self,
        conn: &mut Connection,
        stop: &watch::Receiver<bool>,
    ) -> Result<usize, MailboxError> {
        let folder = &self.settings.folder;
        // What the server announced before this round, the round's SEARCH sees.
        arrived(conn);
        conn.arrived = false;
        imap(
            within("SELECT", conn.session.select(folder)).await?,
            "SELECT",
        )?;
        let mut uids: Vec<u32> = imap(
            within("SEARCH", conn.session.uid_search("NOT DELETED")).await?,
            "SEARCH",
        )?
        .into_iter()
        .collect();
        uids.sort_unstable();
        let mut recorded = 0;
        for uid in uids {
            if stopping(stop) {
                break;
            }
            let Some(raw) = fetch(&mut conn.session, uid).await? else {
                continue;
            };
            let outcomes = self
                .bounces
                .ingest(Source::Imap, &raw)
                .await
                .map_err(MailboxError::Store)?;
            count_message(SOURCE);
            self.dispose(conn, uid).await?;
            arrived(conn);
            recorded += 1;
            tracing::info!(
                uid,
                findings = outcomes.len(),
                actions = %actions(&outcomes),
                "bounce recorded from the mailbox"
            );
        }
        Ok(recorded)
    }

    /// Moves a recorded message to `imap_move_to`, or deletes it.
    async fn dispose(&self, conn: &mut Connection, uid: u32) -> Result<(), MailboxError> {
        let session = &mut conn.session;
        let set = uid.to_string();
        match &self.settings.move_to {
            Some(folder) if conn.offers.moves => {
                imap(within("MOVE", session.uid_mv(&set, folder)).await?, "MOVE")?;
                return Ok(());
            }
            Some(folder) => {
                imap(
                    within("COPY", session.uid_copy(&set, folder)).await?,
                    "COPY",
                )?;
            }
            None => {}
        }
        let flagged = async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        imap(within("STORE", flagged).await?, "STORE")?;
        // UID EXPUNGE removes this message only, not one another client flagged.
        let expunged = async {
            if conn.offers.uidplus {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            } else {
                session.expunge().await?.try_collect::<Vec<_>>().await
            }
        };
        imap(within("EXPUNGE", expunged).await?, "EXPUNGE")?;
        Ok(())
    }

    /// Waits in IDLE until the server says something, `wait` passes or the daemon
    /// stops; gives the session back out of IDLE.
    async fn idle(
        &self,
        session: Session<Stream>,
        stop: &mut watch::Receiver<bool>,
        wait: Duration,
    ) -> Result<Session<Stream>, MailboxError> {
        let mut handle = session.idle();
        imap(within("IDLE", handle.init()).await?, "IDLE")?;
        {
            let (answer, _interrupt) = handle.wait_with_timeout(wait);
            tokio::select! {
                // The server's keep-alives restart the crate's own timeout: this one
                // bounds the whole wait.
                result = tokio::time::timeout(wait, answer) => match result {
                    Ok(Ok(IdleResponse::NewData(_))) => tracing::debug!("the bounce mailbox changed"),
                    Ok(Ok(_)) | Err(_) => {}
                    Ok(Err(e)) => return Err(imap_error("IDLE", &e)),
                },
                () = super::stopped(stop) => {}
            }
        }
        imap(within("DONE", handle.done()).await?, "DONE")
    }
}

/// Reads what the server announced unasked since the last call, noting in
/// `conn.arrived` whether new mail was among it. The crate keeps at most 100 such
/// answers and drops the rest (each moved message adds one), so this runs after
/// every command that may add them.
fn arrived(conn: &mut Connection) {
    use async_imap::types::UnsolicitedResponse;
    while let Ok(response) = conn.session.unsolicited_responses.try_recv() {
        if matches!(
            response,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            conn.arrived = true;
        }
    }
}

/// Reads the server's greeting.
async fn greeting<T>(client: &mut Client<T>) -> Result<(), MailboxError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match within("the greeting", client.read_response()).await? {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(MailboxError::Imap {
            what: "the greeting".into(),
            answer: "the server closed the connection".into(),
        }),
        Err(e) => Err(MailboxError::Imap {
            what: "the greeting".into(),
            answer: e.to_string(),
        }),
    }
}

/// Makes `folder` unless the server lists it already.
async fn ensure_folder(session: &mut Session<Stream>, folder: &str) -> Result<(), MailboxError> {
    let listed = async {
        session
            .list(Some(""), Some(folder))
            .await?
            .try_collect::<Vec<_>>()
            .await
    };
    let names = imap(within("LIST", listed).await?, "LIST")?;
    if names.iter().any(|n| n.name() == folder) {
        return Ok(());
    }
    imap(within("CREATE", session.create(folder)).await?, "CREATE")?;
    tracing::info!(folder, "made the folder processed bounces are moved to");
    Ok(())
}

/// The message with `uid`, at most [`MAX_MESSAGE_BYTES`] of it, without setting
/// `\Seen`; `None` if it went meanwhile.
async fn fetch(session: &mut Session<Stream>, uid: u32) -> Result<Option<Vec<u8>>, MailboxError> {
    let query = format!("(UID BODY.PEEK[]<0.{MAX_MESSAGE_BYTES}>)");
    let fetched = async {
        session
            .uid_fetch(uid.to_string(), &query)
            .await?
            .try_collect::<Vec<_>>()
            .await
    };
    let fetches = imap(within("FETCH", fetched).await?, "FETCH")?;
    Ok(fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .find_map(|f| f.body().map(<[u8]>::to_vec)))
}

/// `step` bounded by [`COMMAND_TIMEOUT`].
async fn within<T>(step: &str, step_future: impl Future<Output = T>) -> Result<T, MailboxError> {
    tokio::time::timeout(COMMAND_TIMEOUT, step_future)
        .await
        .map_err(|_| MailboxError::Timeout(step.to_string()))
}

fn imap<T>(result: async_imap::error::Result<T>, what: &str) -> Result<T, MailboxError> {
    result.map_err(|e| imap_error(what, &e))
}

fn imap_error(what: &str, e: &async_imap::error::Error) -> MailboxError {
    MailboxError::Imap {
        what: what.to_string(),
        answer: answer(e),
    }
}

/// What went wrong, fit for a log: the server's own words cut short, never the
/// bytes of a response crier could not parse (they may be a message's).
fn answer(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    const MAX: usize = 200;
    match e {
        Error::Bad(text) | Error::No(text) => {
            let text: String = text.chars().filter(|c| !c.is_control()).take(MAX).collect();
            format!("the server said: {text}")
        }
        Error::Io(e) => e.to_string(),
        Error::ConnectionLost => "the connection was lost".into(),
        Error::Parse(_) => "an answer crier cannot parse".into(),
        Error::Validate(_) => "a folder name IMAP cannot quote".into(),
        _ => "an IMAP error".into(),
    }
}

/// A rustls client (ring) that trusts the Web PKI roots and, when given, the PEM
/// certificates of `ca_file`.
fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, MailboxError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let bad = |cause: String| MailboxError::CaFile {
            path: path.display().to_string(),
            cause,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificates".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MailboxError::Tls {
        host: String::new(),
        cause: e.to_string(),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_answer_is_cut_and_a_parse_error_is_not_quoted() {
        use async_imap::error::{Error, ParseError};
        let long = format!("[ALERT] {}\r\n", "x".repeat(1000));
        let said = answer(&Error::No(long));
        assert!(said.len() < 240, "{said}");
        assert!(!said.contains('\r'));
        let body = b"Subject: private\r\n\r\nsecret body".to_vec();
        let said = answer(&Error::Parse(ParseError::Invalid(body)));
        assert!(!said.contains("secret"), "{said}");
    }

    #[test]
    fn a_bad_ca_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = tls_connector(Some(&missing)).err().unwrap();
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let e = tls_connector(Some(&empty)).err().unwrap();
        assert!(e.to_string().contains("no PEM certificates"), "{e}");
    }
}

//! The transports: SMTP through lettre's pooled async client, a folder of `.eml`
//! files (the default when no SMTP server is configured), and a sendmail binary.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{
    AsyncFileTransport, AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
};

use super::{FailureKind, Mailer, Outgoing, SendError, SendFuture};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// `smtp://host:port` (plain, or STARTTLS with `?tls=required`), `smtps://` for
    /// implicit TLS; credentials as `smtp://user:password@host`.
    pub fn new(url: &str, connections: usize) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("bad SMTP URL: {e}"))?
            .pool_config(
                PoolConfig::new()
                    .max_size(connections as u32)
                    .idle_timeout(Duration::from_secs(60)),
            )
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(SmtpMailer { transport })
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

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            self.transport
                .send_raw(&message.envelope, &message.raw)
                .await
                .map(|_| ())
                .map_err(|e| SendError {
                    kind: classify(&e),
                    message: format!("SMTP: {e}"),
                })
        })
    }

    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            match self.transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(SendError::transient("the SMTP server did not answer NOOP")),
                Err(e) => Err(SendError::transient(format!("SMTP: {e}"))),
            }
        })
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// Writes each message to `<dir>/<uuid>.eml`.
pub struct FileMailer {
    dir: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Result<FileMailer, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the outbox folder {}: {e}", dir.display()))?;
        Ok(FileMailer {
            transport: AsyncFileTransport::new(&dir),
            dir,
        })
    }
}

impl Mailer for FileMailer {
    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            self.transport
                .send_raw(&message.envelope, &message.raw)
                .await
                .map(|_| ())
                .map_err(|e| {
                    SendError::transient(format!("file outbox {}: {e}", self.dir.display()))
                })
        })
    }

    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            match std::fs::metadata(&self.dir) {
                Ok(meta) if meta.is_dir() && !meta.permissions().readonly() => Ok(()),
                Ok(_) => Err(SendError::transient(format!(
                    "the outbox {} is not a writable folder",
                    self.dir.display()
                ))),
                Err(e) => Err(SendError::transient(format!(
                    "the outbox {}: {e}",
                    self.dir.display()
                ))),
            }
        })
    }

    fn name(&self) -> &'static str {
        "file"
    }
}

/// Pipes each message to a sendmail-compatible binary.
pub struct SendmailMailer {
    command: PathBuf,
    transport: AsyncSendmailTransport<Tokio1Executor>,
}

impl SendmailMailer {
    pub fn new(command: PathBuf) -> SendmailMailer {
        SendmailMailer {
            transport: AsyncSendmailTransport::new_with_command(command.as_os_str()),
            command,
        }
    }
}

impl Mailer for SendmailMailer {
    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            self.transport
                .send_raw(&message.envelope, &message.raw)
                .await
                .map(|_| ())
                .map_err(|e| {
                    SendError::transient(format!("sendmail {}: {e}", self.command.display()))
                })
        })
    }

    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            if self.command.is_file() {
                Ok(())
            } else {
                Err(SendError::transient(format!(
                    "no sendmail at {}",
                    self.command.display()
                )))
            }
        })
    }

    fn name(&self) -> &'static str {
        "sendmail"
    }
}

//! The local transports: a folder of `.eml` files (the default when no SMTP server
//! is configured) and a sendmail binary. SMTP lives in [`super::smtp`].
//! A file outbox whose folder cannot be made fails at start with an
//! [`OutboxFolderError`].

use std::path::PathBuf;

use lettre::{AsyncFileTransport, AsyncSendmailTransport, AsyncTransport, Tokio1Executor};

use super::{Gate, Mailer, Outgoing, SendError, SendFuture};

/// Hands a message to a local lettre transport once `gate` opens; any failure is worth
/// a retry, and its message starts with `what` (named only when there is a failure).
async fn hand_over<T>(
    transport: &T,
    message: &Outgoing,
    gate: &Gate,
    what: impl FnOnce() -> String,
) -> Result<(), SendError>
where
    T: AsyncTransport + Sync,
    T::Error: std::fmt::Display,
{
    gate.wait().await;
    transport
        .send_raw(&message.envelope, &message.raw)
        .await
        .map(|_| ())
        .map_err(|e| SendError::transient(format!("{}: {e}", what())))
}

/// Writes each message to `<dir>/<uuid>.eml`.
pub struct FileMailer {
    dir: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
}

/// The file outbox's folder could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the outbox folder {}: {cause}", dir.display())]
pub struct OutboxFolderError {
    pub dir: PathBuf,
    /// Shown in the message, so not a `source` that `{:#}` would print again.
    pub cause: std::io::Error,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Result<FileMailer, OutboxFolderError> {
        if let Err(cause) = std::fs::create_dir_all(&dir) {
            return Err(OutboxFolderError { dir, cause });
        }
        Ok(FileMailer {
            transport: AsyncFileTransport::new(&dir),
            dir,
        })
    }
}

impl Mailer for FileMailer {
    fn send_after<'a>(&'a self, message: &'a Outgoing, gate: &'a Gate) -> SendFuture<'a> {
        Box::pin(hand_over(&self.transport, message, gate, || {
            format!("file outbox {}", self.dir.display())
        }))
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
    fn send_after<'a>(&'a self, message: &'a Outgoing, gate: &'a Gate) -> SendFuture<'a> {
        Box::pin(hand_over(&self.transport, message, gate, || {
            format!("sendmail {}", self.command.display())
        }))
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

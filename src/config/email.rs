//! `[email]`: who the mail is from and what every message must carry (the postal
//! address, the DKIM selector and key). Only checks that addresses parse; it builds
//! no message.

use std::path::PathBuf;

use lettre::message::Mailbox;
use serde::Deserialize;

use super::{ConfigError, Origin};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The From header, `Name <address>`.
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The sender's postal address, shown in every email (CAN-SPAM).
    pub postal_address: String,
    /// DKIM: the selector published under `<selector>._domainkey.<domain>`.
    pub dkim_selector: Option<String>,
    /// DKIM: a PKCS#1 RSA private key (PEM file).
    pub dkim_key: Option<PathBuf>,
}

impl Email {
    /// The domain of the From address: Message-IDs and List-Ids live under it.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEmail {
    from: String,
    reply_to: Option<String>,
    postal_address: String,
    dkim_selector: Option<String>,
    dkim_key: Option<PathBuf>,
}

impl Default for RawEmail {
    fn default() -> Self {
        RawEmail {
            from: "crier demo <digest@crier.example>".into(),
            reply_to: None,
            postal_address: "crier demo desk, 1 Example Street, Exampleton EX1 2MP, United Kingdom"
                .into(),
            dkim_selector: None,
            dkim_key: None,
        }
    }
}

fn mailbox(origin: &Origin, key: &'static str, value: &str) -> Result<Mailbox, ConfigError> {
    value.trim().parse().map_err(|e| {
        origin.invalid(
            key,
            format!("`{value}` is not an address like `Name <news@example.org>` ({e})"),
        )
    })
}

impl RawEmail {
    pub(super) fn validate(self, origin: &Origin) -> Result<Email, ConfigError> {
        Ok(Email {
            from: mailbox(origin, "email.from", &self.from)?,
            reply_to: self
                .reply_to
                .as_deref()
                .map(|r| mailbox(origin, "email.reply_to", r))
                .transpose()?,
            postal_address: origin.non_empty("email.postal_address", self.postal_address)?,
            dkim_selector: self
                .dkim_selector
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            dkim_key: self.dkim_key.map(|p| origin.resolve(p)),
        })
    }
}

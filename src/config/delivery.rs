//! `[delivery]`: how mail leaves (SMTP URL, sendmail or the file outbox), how fast,
//! how often it is retried and how long it is kept. Checks the URL's shape only; the
//! SMTP client itself belongs to `delivery`, which this module must not use.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Origin};
use crate::model::AddressLog;

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `smtp://`, `smtps://` URL; when unset, mail goes to the file outbox (or sendmail).
    pub smtp_url: Option<String>,
    /// Certificate authorities (PEM) to trust for the SMTP server's certificate, as
    /// well as the public ones: for a relay with a private CA.
    pub smtp_ca_file: Option<PathBuf>,
    /// A sendmail binary to pipe messages to, instead of SMTP.
    pub sendmail: Option<PathBuf>,
    /// The folder the file outbox writes `.eml` files to.
    pub outbox: PathBuf,
    /// Simultaneous SMTP connections.
    pub concurrency: usize,
    /// Messages per second at most; 0 for no limit.
    pub rate_per_second: f64,
    /// Attempts before a message is given up as failed.
    pub max_attempts: u32,
    /// Age after which a message is no longer retried.
    pub max_age_hours: u32,
    /// On SIGTERM, how long sends in flight may take to finish.
    pub shutdown_timeout_secs: u64,
    /// Days a sent or failed message is kept in the outbox; 0 keeps them for ever.
    pub keep_days: u32,
    /// Send every email to this address instead, naming the intended one in a header.
    pub test_recipient: Option<lettre::Address>,
    /// How a failed delivery's log line names its recipient.
    pub log_addresses: AddressLog,
    /// How long a worker's claim on a message lasts: an instance that dies holding
    /// messages holds them this long, then any worker takes them over.
    pub lease_seconds: u32,
}

// `rate_per_second` is checked finite, so the float never holds a NaN.
impl Eq for Delivery {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDelivery {
    smtp_url: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    sendmail: Option<PathBuf>,
    outbox: PathBuf,
    concurrency: usize,
    rate_per_second: f64,
    max_attempts: u32,
    max_age_hours: u32,
    shutdown_timeout_secs: u64,
    keep_days: u32,
    test_recipient: Option<String>,
    log_addresses: AddressLog,
    lease_seconds: u32,
}

impl Default for RawDelivery {
    fn default() -> Self {
        RawDelivery {
            smtp_url: None,
            smtp_ca_file: None,
            sendmail: None,
            outbox: "outbox".into(),
            concurrency: 8,
            rate_per_second: 0.0,
            max_attempts: 8,
            max_age_hours: 48,
            shutdown_timeout_secs: 30,
            keep_days: 90,
            test_recipient: None,
            log_addresses: AddressLog::Plain,
            lease_seconds: 300,
        }
    }
}

impl RawDelivery {
    pub(super) fn validate(self, origin: &Origin) -> Result<Delivery, ConfigError> {
        if self.concurrency == 0 || self.concurrency > 256 {
            return Err(origin.invalid("delivery.concurrency", "must be between 1 and 256"));
        }
        if !(self.rate_per_second >= 0.0 && self.rate_per_second.is_finite()) {
            return Err(origin.invalid("delivery.rate_per_second", "must be 0 (no limit) or more"));
        }
        // A claim must outlast a slow send (the SMTP timeouts are a minute or two).
        if !(10..=86_400).contains(&self.lease_seconds) {
            return Err(origin.invalid("delivery.lease_seconds", "must be between 10 and 86400"));
        }
        if self.max_attempts == 0 {
            return Err(origin.invalid("delivery.max_attempts", "must be at least 1"));
        }
        let smtp_url = self
            .smtp_url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if let Some(url) = &smtp_url {
            let parsed = Url::parse(url)
                .map_err(|e| origin.invalid("delivery.smtp_url", format!("is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                return Err(origin.invalid(
                    "delivery.smtp_url",
                    "must look like smtp://host:port or smtps://host:port",
                ));
            }
        }
        let test_recipient = self
            .test_recipient
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<lettre::Address>().map_err(|e| {
                    origin.invalid(
                        "delivery.test_recipient",
                        format!("`{t}` is not an email address ({e})"),
                    )
                })
            })
            .transpose()?;
        Ok(Delivery {
            smtp_url,
            smtp_ca_file: self.smtp_ca_file.map(|p| origin.resolve(p)),
            sendmail: self.sendmail.map(|p| origin.resolve(p)),
            outbox: origin.resolve(self.outbox),
            concurrency: self.concurrency,
            rate_per_second: self.rate_per_second,
            max_attempts: self.max_attempts,
            max_age_hours: self.max_age_hours,
            shutdown_timeout_secs: self.shutdown_timeout_secs,
            keep_days: self.keep_days,
            test_recipient,
            log_addresses: self.log_addresses,
            lease_seconds: self.lease_seconds,
        })
    }
}

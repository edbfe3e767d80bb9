//! `[bounces]`: where returned mail and complaints come in and what they do. The VERP
//! addresses each message is sent from, the soft-bounce policy, the mailbox (IMAP),
//! the Maildir, and the providers' webhooks (`[bounces.ses]`, `[bounces.postmark]`,
//! `[bounces.sendgrid]`, `[bounces.mailgun]`).

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Origin};

/// A password or key from the config: compared and used, never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounces {
    /// The base of each message's envelope sender: `bounces@news.example.org` sends
    /// from `bounces+{token}@news.example.org`. `None`: the envelope sender is the From
    /// address, as before, and bounces cannot be told apart.
    pub address: Option<Verp>,
    /// The base of the `List-Unsubscribe` mailto address: `unsubscribe+{token}@…`.
    /// Defaults to `unsubscribe@` the bounce address's domain.
    pub unsubscribe: Option<Verp>,
    /// Soft bounces within `soft_window_days` that make a subscriber bounced.
    pub soft_limit: u32,
    pub soft_window_days: u32,
    /// The mailbox polled for bounces.
    pub imap: Option<Imap>,
    /// A Maildir the daemon watches for bounces.
    pub maildir: Option<PathBuf>,
    pub ses: Option<Ses>,
    pub postmark: Option<Postmark>,
    pub sendgrid: Option<Sendgrid>,
    pub mailgun: Option<Mailgun>,
}

/// A VERP base address taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verp {
    pub local: String,
    pub domain: String,
}

impl Verp {
    /// `local+token@domain`.
    pub fn address(&self, token: &str) -> String {
        format!("{}+{token}@{}", self.local, self.domain)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imap {
    /// `imaps://host[:port]` or `imap://host[:port]` (STARTTLS), without credentials.
    pub url: Url,
    pub user: String,
    pub password: Secret,
    /// The folder read: the URL's path, else `INBOX`.
    pub folder: String,
    /// Where processed messages go; `None` deletes them (`imap_delete = true`).
    pub move_to: Option<String>,
    /// Seconds between polls when the server offers no IDLE, and the longest IDLE.
    pub poll_seconds: u64,
    /// Certificate authorities (PEM) to trust as well as the public ones.
    pub ca_file: Option<PathBuf>,
}

/// Amazon SES through SNS: notifications are verified by their SNS signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ses {
    /// Topic ARNs accepted; empty accepts any topic whose signature verifies.
    pub topic_arns: Vec<String>,
    /// Prefixes a `SigningCertURL` (and a `SubscribeURL`) must start with after its
    /// host is checked; the default accepts `https://sns.<region>.amazonaws.com/`.
    pub cert_url_prefixes: Vec<String>,
}

/// Postmark: HTTP basic auth on the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postmark {
    pub user: String,
    pub password: Secret,
}

/// SendGrid's signed event webhook: the verification key (base64 DER, P-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sendgrid {
    pub public_key: Secret,
}

/// Mailgun: the HTTP webhook signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailgun {
    pub signing_key: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBounces {
    address: Option<String>,
    unsubscribe_address: Option<String>,
    soft_limit: u32,
    soft_window_days: u32,
    imap_url: Option<String>,
    imap_move_to: String,
    imap_delete: bool,
    imap_poll_seconds: u64,
    imap_ca_file: Option<PathBuf>,
    maildir: Option<PathBuf>,
    ses: Option<RawSes>,
    postmark: Option<RawPostmark>,
    sendgrid: Option<RawSendgrid>,
    mailgun: Option<RawMailgun>,
}

impl Default for RawBounces {
    fn default() -> Self {
        RawBounces {
            address: None,
            unsubscribe_address: None,
            soft_limit: 3,
            soft_window_days: 30,
            imap_url: None,
            imap_move_to: "Processed".into(),
            imap_delete: false,
            imap_poll_seconds: 60,
            imap_ca_file: None,
            maildir: None,
            ses: None,
            postmark: None,
            sendgrid: None,
            mailgun: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSes {
    #[serde(default)]
    topic_arns: Vec<String>,
    #[serde(default)]
    cert_url_prefixes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostmark {
    user: String,
    password: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSendgrid {
    public_key: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMailgun {
    signing_key: Secret,
}

fn verp(origin: &Origin, key: &'static str, text: &str) -> Result<Verp, ConfigError> {
    let address: lettre::Address = text
        .trim()
        .parse()
        .map_err(|e| origin.invalid(key, format!("`{text}` is not an email address ({e})")))?;
    let local = address.user().to_string();
    if local.contains('+') {
        return Err(origin.invalid(
            key,
            "must have no `+` in its local part: crier adds `+{token}` itself",
        ));
    }
    if !local.is_ascii() || !address.domain().is_ascii() {
        return Err(origin.invalid(
            key,
            "must be ASCII (a bounce address is an envelope sender)",
        ));
    }
    Ok(Verp {
        local,
        domain: address.domain().to_ascii_lowercase(),
    })
}

impl RawBounces {
    pub(super) fn validate(self, origin: &Origin) -> Result<Bounces, ConfigError> {
        let filled = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let address = filled(self.address)
            .map(|a| verp(origin, "bounces.address", &a))
            .transpose()?;
        let unsubscribe = match filled(self.unsubscribe_address) {
            Some(a) => Some(verp(origin, "bounces.unsubscribe_address", &a)?),
            None => address.as_ref().map(|a| Verp {
                local: "unsubscribe".into(),
                domain: a.domain.clone(),
            }),
        };
        if self.soft_limit == 0 {
            return Err(origin.invalid("bounces.soft_limit", "must be at least 1"));
        }
        if self.soft_window_days == 0 {
            return Err(origin.invalid("bounces.soft_window_days", "must be at least 1"));
        }
        let imap = filled(self.imap_url)
            .map(|u| {
                imap(
                    origin,
                    &u,
                    self.imap_move_to,
                    self.imap_delete,
                    self.imap_poll_seconds,
                    self.imap_ca_file,
                )
            })
            .transpose()?;
        let ses = self.ses.map(|s| Ses {
            topic_arns: s.topic_arns,
            cert_url_prefixes: s.cert_url_prefixes,
        });
        Ok(Bounces {
            address,
            unsubscribe,
            soft_limit: self.soft_limit,
            soft_window_days: self.soft_window_days,
            imap,
            maildir: self.maildir.map(|p| origin.resolve(p)),
            ses,
            postmark: self.postmark.map(|p| Postmark {
                user: p.user,
                password: p.password,
            }),
            sendgrid: self.sendgrid.map(|s| Sendgrid {
                public_key: s.public_key,
            }),
            mailgun: self.mailgun.map(|m| Mailgun {
                signing_key: m.signing_key,
            }),
        })
    }
}

fn imap(
    origin: &Origin,
    text: &str,
    move_to: String,
    delete: bool,
    poll_seconds: u64,
    ca_file: Option<PathBuf>,
) -> Result<Imap, ConfigError> {
    const KEY: &str = "bounces.imap_url";
    let mut url =
        Url::parse(text).map_err(|e| origin.invalid(KEY, format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "imap" | "imaps") || url.host_str().is_none() {
        return Err(origin.invalid(
            KEY,
            "must look like imaps://user:password@host/INBOX (or imap:// for STARTTLS)",
        ));
    }
    let user = percent_encoding::percent_decode_str(url.username())
        .decode_utf8_lossy()
        .into_owned();
    let password = url
        .password()
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    if user.is_empty() || password.is_empty() {
        return Err(origin.invalid(KEY, "must name a user and a password"));
    }
    let folder = percent_encoding::percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let folder = if folder.is_empty() {
        "INBOX".to_string()
    } else {
        folder
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_path("");
    if poll_seconds == 0 {
        return Err(origin.invalid("bounces.imap_poll_seconds", "must be at least 1"));
    }
    let move_to = move_to.trim().to_string();
    if !delete && move_to.is_empty() {
        return Err(origin.invalid(
            "bounces.imap_move_to",
            "must name a folder (or set imap_delete = true)",
        ));
    }
    Ok(Imap {
        url,
        user,
        password: Secret(password),
        folder,
        move_to: (!delete).then_some(move_to),
        poll_seconds,
        ca_file: ca_file.map(|p| origin.resolve(p)),
    })
}

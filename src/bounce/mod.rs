//! What a returned message or a mail provider's event says about one delivery: a
//! hard or soft bounce, a complaint, an auto-reply, an unsubscribe request. Pure:
//! bytes or JSON in, [`Finding`]s out. Which subscriber a finding is about, and what
//! happens to them, is decided by the `bounces` service; this module reads no store
//! and knows no config.
//!
//! - [`classify`] reads one raw message (RFC 3464 delivery status notifications,
//!   RFC 5965 feedback reports, the common non-standard bounces, auto-replies and
//!   mailed unsubscribe requests) with `mail-parser`.
//! - [`verp`] finds crier's signed tokens in the addresses a report was sent to.
//! - [`webhook`] checks the mail providers' webhook signatures and reads their events.

mod arf;
mod auto;
mod dsn;
mod fallback;
mod mail;
mod status;
mod text;
pub mod verp;
pub mod webhook;

use serde::Serialize;

/// What a report says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The address does not exist or will never take mail (a 5.x.x permanent failure).
    Hard,
    /// A temporary failure: a full mailbox, a greylisting server, a timeout (4.x.x).
    Soft,
    /// The recipient marked the message as spam (an ARF report, a provider's complaint).
    Complaint,
    /// An out-of-office reply or another automatic answer: no bounce, ignored.
    AutoReply,
    /// A request to unsubscribe, mailed to the `List-Unsubscribe` mailto address.
    Unsubscribe,
    /// A message that none of the rules recognise; recorded, changes nothing.
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::Soft => "soft",
            Kind::Complaint => "complaint",
            Kind::AutoReply => "autoreply",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        [
            Kind::Hard,
            Kind::Soft,
            Kind::Complaint,
            Kind::AutoReply,
            Kind::Unsubscribe,
            Kind::Unknown,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One classification about one recipient of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// The address that failed or complained, as the report names it (a DSN's
    /// `Final-Recipient`, an ARF report's `Original-Rcpt-To`, a provider's field),
    /// lower-cased; `None` when the report names none.
    pub recipient: Option<String>,
    /// The `Message-ID` of the message that bounced, with its angle brackets, when
    /// the report carries it (the returned headers, a provider's field).
    pub message_id: Option<String>,
    /// The enhanced status code (RFC 3463), `5.1.1`, when there is one.
    pub status: Option<String>,
    /// The raw reason in one line: the diagnostic code, the provider's description,
    /// or the subject of a message classified by the fallback. At most
    /// [`REASON_MAX`] characters.
    pub reason: String,
}

/// The longest reason kept, in characters.
pub const REASON_MAX: usize = 500;

/// What one raw message says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Report {
    /// The addresses the report itself was delivered to (`To`, `Delivered-To`,
    /// `X-Original-To`, `Envelope-To`, `X-Envelope-To`), then the `Return-Path` of
    /// the message it returns when it carries one (a feedback loop reports to a
    /// fixed address, but the complained-about message keeps its VERP sender);
    /// lower-cased, each once: where VERP tokens are found.
    pub delivered_to: Vec<String>,
    /// One finding per recipient the report is about; an auto-reply or an
    /// unrecognised message gives one finding with no recipient.
    pub findings: Vec<Finding>,
}

/// The most bytes of a message read: a report's parts come first, and no bounce
/// needs more than its first few megabytes.
pub const MAX_INPUT: usize = 4 * 1024 * 1024;

/// The most findings one report gives.
pub const MAX_FINDINGS: usize = 100;

/// Reads one raw message. Never panics, whatever the bytes.
///
/// In order: an RFC 3464 delivery status notification, an RFC 5965 feedback
/// report, a non-standard bounce, an auto-reply, a mailed unsubscribe request, an
/// automatic message of another kind; else one [`Kind::Unknown`] finding. A DSN
/// carries `Auto-Submitted` too, so reports and bounces are looked for first.
pub fn classify(raw: &[u8]) -> Report {
    let raw = &raw[..raw.len().min(MAX_INPUT)];
    let Some(mail) = mail::read(raw) else {
        return Report {
            delivered_to: Vec::new(),
            findings: vec![Finding {
                kind: Kind::Unknown,
                recipient: None,
                message_id: None,
                status: None,
                reason: "not a mail message: no header found".to_string(),
            }],
        };
    };
    let mut findings = dsn::findings(&mail)
        .or_else(|| arf::findings(&mail))
        .or_else(|| fallback::findings(&mail))
        .or_else(|| auto::auto_reply(&mail).map(|f| vec![f]))
        .or_else(|| auto::unsubscribe(&mail).map(|f| vec![f]))
        .or_else(|| auto::automated(&mail).map(|f| vec![f]))
        .unwrap_or_else(|| {
            vec![auto::finding(
                &mail,
                Kind::Unknown,
                "an unrecognised message",
            )]
        });
    findings.truncate(MAX_FINDINGS);
    for finding in &mut findings {
        if finding.reason.is_empty() {
            finding.reason = format!("{}: no reason given", finding.kind.as_str());
        }
    }
    Report {
        delivered_to: mail.delivered_to,
        findings,
    }
}

/// The first enhanced status code (RFC 3463, `5.1.1`) standing alone in `text`: in
/// a diagnostic, a provider's field or an SMTP server's reply.
pub fn status_code(text: &str) -> Option<String> {
    text::enhanced_status(text).map(|(_, code)| code)
}

/// `text` in one line of at most [`REASON_MAX`] characters.
pub fn one_line(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    match out.char_indices().nth(REASON_MAX) {
        Some((cut, _)) => out[..cut].to_string(),
        None => out,
    }
}

//! Automatic answers and mailed unsubscribe requests: what is left once a message
//! is neither a report nor a bounce.
//!
//! - An auto-reply is known by RFC 3834's `Auto-Submitted: auto-replied`, by
//!   `X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply`, or by a subject
//!   such as "Out of Office" or "Automatic reply:".
//! - An unsubscribe request says "unsubscribe" or "remove" (or a few other words)
//!   in its subject or the first line of its text. It is looked for before the
//!   weaker signs of automation (`Auto-Submitted: auto-generated`,
//!   `X-Auto-Response-Suppress`), which some mail programs put on the
//!   unsubscribe messages they send for their users.

use super::mail::Mail;
use super::text::{has_word, prefix};
use super::{Finding, Kind, one_line};

/// Subjects of automatic replies (lower case), anywhere in the subject.
const SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "automatisch antwoord",
    "autosvar",
    "vacation reply",
    "on vacation",
    "away from the office",
    "away from my desk",
];

/// Subjects that start automatic replies (Lotus Notes, some webmails).
const SUBJECT_PREFIXES: &[&str] = &["auto:", "away:", "ooo:", "ooo "];

/// Words of an unsubscribe request, as whole words.
const UNSUBSCRIBE: &[&str] = &[
    "unsubscribe",
    "unsub",
    "remove",
    "opt-out",
    "opt out",
    "abmelden",
];

/// An auto-reply known by a header that only automatic answers carry, or by its
/// subject.
pub fn auto_reply(mail: &Mail) -> Option<Finding> {
    let submitted = mail
        .header("Auto-Submitted")
        .map(|v| v.trim().to_ascii_lowercase());
    let mut sign = None;
    if submitted
        .as_deref()
        .is_some_and(|v| v.starts_with("auto-replied"))
    {
        sign = Some("Auto-Submitted: auto-replied");
    } else if mail.header("X-Autoreply").is_some() {
        sign = Some("X-Autoreply");
    } else if mail.header("X-Autorespond").is_some() {
        sign = Some("X-Autorespond");
    } else if mail
        .header("Precedence")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("auto_reply"))
    {
        sign = Some("Precedence: auto_reply");
    } else {
        let subject = mail.subject.to_lowercase();
        let subject = subject.trim_start_matches(|c: char| !c.is_alphanumeric());
        if SUBJECTS.iter().any(|s| subject.contains(s))
            || SUBJECT_PREFIXES.iter().any(|p| subject.starts_with(p))
        {
            sign = Some("the subject");
        }
    }
    sign.map(|sign| finding(mail, Kind::AutoReply, sign))
}

/// An automatic message known only by the weaker signs: `Auto-Submitted` with any
/// value but `no`, or `X-Auto-Response-Suppress`.
pub fn automated(mail: &Mail) -> Option<Finding> {
    let submitted = mail
        .header("Auto-Submitted")
        .map(|v| v.trim().to_ascii_lowercase());
    if submitted
        .as_deref()
        .is_some_and(|v| !v.is_empty() && v != "no")
    {
        return Some(finding(mail, Kind::AutoReply, "Auto-Submitted"));
    }
    mail.header("X-Auto-Response-Suppress")
        .map(|_| finding(mail, Kind::AutoReply, "X-Auto-Response-Suppress"))
}

/// A mailed request to unsubscribe.
pub fn unsubscribe(mail: &Mail) -> Option<Finding> {
    let subject = mail.subject.to_lowercase();
    let first_line = prefix(
        mail.text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default(),
        500,
    );
    let asks = |text: &str| UNSUBSCRIBE.iter().any(|w| has_word(text, w));
    if asks(&subject) {
        return Some(finding(mail, Kind::Unsubscribe, "the subject"));
    }
    if asks(&first_line.to_lowercase()) {
        return Some(Finding {
            reason: one_line(first_line),
            ..finding(mail, Kind::Unsubscribe, "the text")
        });
    }
    None
}

/// A finding about no recipient in particular: the reason is the subject, else
/// the sign that gave the message away.
pub fn finding(mail: &Mail, kind: Kind, sign: &str) -> Finding {
    Finding {
        kind,
        recipient: None,
        message_id: mail.in_reply_to.clone(),
        status: None,
        reason: one_line(if mail.subject.trim().is_empty() {
            sign
        } else {
            &mail.subject
        }),
    }
}

//! Bounces that carry no `message/delivery-status` part: Postfix and sendmail
//! without DSN, Exim, qmail, Exchange and Office 365, Gmail, Yahoo, and the
//! like. A message is taken for one when it comes from a mail system
//! (`MAILER-DAEMON`, `postmaster`, "Mail Delivery System"), or its subject or
//! text says so in the words those systems use.
//!
//! The notification is the text before the copy of the returned message. Its
//! addresses, less the report's own, the sender's and the mail systems', are the
//! failed recipients; each one's status is the first code after it, and its
//! reason the paragraph holding that code.

use super::mail::{Mail, Returned, returned_in};
use super::status::{failure_kind, reply_kind};
use super::text::{addresses_in, contains_any, enhanced_status, prefix, reply_code};
use super::{Finding, Kind, one_line};

/// The most recipients taken from one notification.
const MAX_RECIPIENTS: usize = 100;

/// Subjects of non-delivery reports (lower case).
const SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "mail delivery failed",
    "undeliverable",
    "undelivered mail",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "failure notice",
    "returned mail",
    "mail delivery failure",
    "nondeliverable",
    "non-delivery",
    "message not delivered",
    "could not send message",
    "delayed mail",
    "delivery delayed",
    "delivery has been delayed",
    "mail system error",
    "unzustellbar",
    "non remis",
];

/// Sentences of non-delivery reports (lower case).
const PHRASES: &[&str] = &[
    "this is the mail system at host",
    "i'm sorry to have to inform you that your message could not",
    "this message was created automatically by mail delivery software",
    "a message that you sent could not be delivered",
    "this is the qmail-send program",
    "delivery has failed to these recipients or groups",
    "your message couldn't be delivered",
    "your message wasn't delivered",
    "the email account that you tried to reach does not exist",
    "we were unable to deliver your message",
    "the following addresses had permanent fatal errors",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed",
    "could not be delivered to one or more recipients",
    "delivery to the following recipient has been delayed",
    "this is an automatically generated delivery status notification",
    "message could not be delivered",
    "your message could not be delivered",
];

/// Where the notification ends and the copy of the message begins (lower case).
const ORIGINAL: &[&str] = &[
    "this is a copy of the message",
    "below this line is a copy of the message",
    "original message follows",
    "returned message follows",
    "original message headers",
    "-----original message-----",
    "----- original message -----",
    "message text follows",
];

/// Words of a notice that the mail is still being tried.
const DELAYED: &[&str] = &[
    "delayed",
    "delivery delay",
    "will retry",
    "will be retried",
    "still trying",
    "not yet been delivered",
    "warning: could not send",
    "(delay)",
];

/// Words of a notice that the mail arrived.
const SUCCESS: &[&str] = &[
    "(success)",
    "successfully delivered",
    "delivery to the following recipients succeeded",
    "was successfully relayed",
];

/// Local parts and display names of mail systems.
const DAEMONS: &[&str] = &[
    "mailer-daemon",
    "mailerdaemon",
    "mail-daemon",
    "postmaster",
    "mdaemon",
];
const DAEMON_NAMES: &[&str] = &["mail delivery", "mailer-daemon", "postmaster"];

fn is_daemon(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default();
    DAEMONS.contains(&local)
}

/// The findings of a non-standard bounce, or `None` when `mail` does not look
/// like one.
pub fn findings(mail: &Mail) -> Option<Vec<Finding>> {
    let subject = mail.subject.to_ascii_lowercase();
    let text = mail.text.as_str();
    let lower = text.to_ascii_lowercase();
    let from_daemon = mail.from.iter().any(|a| is_daemon(a))
        || contains_any(&mail.from_name.to_ascii_lowercase(), DAEMON_NAMES);
    let said = contains_any(&subject, SUBJECTS) || contains_any(&lower, PHRASES);
    if !from_daemon && !said {
        return None;
    }
    let end = ORIGINAL
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .map_or(text.len(), |at| {
            lower[..at].rfind('\n').map_or(at, |nl| nl + 1)
        });
    let (notice, lower_notice) = (&text[..end], &lower[..end]);
    let returned = mail
        .returned
        .clone()
        .or_else(|| returned_in(text[end..].split_once('\n')?.1.as_bytes()))
        .unwrap_or_default();

    let status = enhanced_status(notice).map(|(_, s)| s);
    let reply = reply_code(notice).map(|(_, c)| c);
    if status.is_none()
        && reply.is_none()
        && contains_any(&subject, SUCCESS)
        && !contains_any(&subject, &["fail", "undeliver"])
    {
        return Some(vec![Finding {
            kind: Kind::Unknown,
            recipient: None,
            message_id: returned.message_id.clone(),
            status: None,
            reason: one_line(&mail.subject),
        }]);
    }
    if !said && status.is_none() && reply.is_none() {
        // A mail system's message with no failure in it: not a bounce.
        return None;
    }
    let delayed = contains_any(&subject, DELAYED) || contains_any(lower_notice, DELAYED);

    let recipients = recipients(mail, notice, &returned);
    let mut findings = Vec::new();
    let positions: Vec<usize> = recipients
        .iter()
        .map(|r| lower_notice.find(r.as_str()).unwrap_or(0))
        .collect();
    for (i, recipient) in recipients.iter().enumerate() {
        let start = positions[i];
        let stop = positions
            .iter()
            .copied()
            .filter(|&p| p > start)
            .min()
            .unwrap_or(notice.len());
        findings.push(finding(
            mail,
            notice,
            start..stop,
            delayed,
            Some(recipient.clone()),
            &returned,
        ));
        if findings.len() == MAX_RECIPIENTS {
            break;
        }
    }
    if findings.is_empty() {
        findings.push(finding(
            mail,
            notice,
            0..notice.len(),
            delayed,
            None,
            &returned,
        ));
    }
    Some(findings)
}

/// The failed recipients a notification names.
fn recipients(mail: &Mail, notice: &str, returned: &Returned) -> Vec<String> {
    let own = |a: &String| {
        is_daemon(a)
            || mail.delivered_to.contains(a)
            || mail.from.contains(a)
            || returned.from.contains(a)
            || returned.return_path.as_ref() == Some(a)
    };
    let named: Vec<String> = addresses_in(notice)
        .into_iter()
        .filter(|a| !own(a))
        .collect();
    if !named.is_empty() {
        return named;
    }
    returned
        .original_recipient
        .clone()
        .or_else(|| (returned.to.len() == 1).then(|| returned.to[0].clone()))
        .into_iter()
        .collect()
}

/// One recipient's finding from its part of the notification.
fn finding(
    mail: &Mail,
    notice: &str,
    range: std::ops::Range<usize>,
    delayed: bool,
    recipient: Option<String>,
    returned: &Returned,
) -> Finding {
    let segment = &notice[range.clone()];
    let enhanced = near(notice, &range, enhanced_status);
    let reply = near(notice, &range, reply_code);
    let code_at = match (&enhanced, &reply) {
        (Some((e, _)), Some((r, _))) => Some(*e.min(r)),
        (Some((e, _)), None) => Some(*e),
        (None, Some((r, _))) => Some(*r),
        (None, None) => None,
    };
    let status = enhanced.map(|(_, s)| s);
    let reason = match code_at {
        Some(p) => paragraph(notice, p),
        None => {
            if segment.trim().is_empty() || recipient.is_none() {
                mail.subject.clone()
            } else {
                paragraph(notice, range.start)
            }
        }
    };
    let words = format!("{} {}", mail.subject, prefix(segment, 8 * 1024));
    let permanent = status.as_deref().is_some_and(|s| s.starts_with('5'))
        || status.is_none() && reply.is_some_and(|(_, c)| c >= 500);
    let kind = if permanent {
        match (&status, reply) {
            (Some(s), _) => failure_kind(Some(s), &words),
            (None, Some((_, c))) => reply_kind(c, &words),
            (None, None) => failure_kind(None, &words),
        }
    } else if delayed || status.is_some() || reply.is_some() {
        Kind::Soft
    } else {
        failure_kind(None, &words)
    };
    Finding {
        kind,
        recipient,
        message_id: returned.message_id.clone(),
        status,
        reason: one_line(if reason.trim().is_empty() {
            &mail.subject
        } else {
            &reason
        }),
    }
}

/// The first code `find` finds in `range` of `notice`, else in all of it, with its
/// offset in `notice`.
fn near<T>(
    notice: &str,
    range: &std::ops::Range<usize>,
    find: impl Fn(&str) -> Option<(usize, T)>,
) -> Option<(usize, T)> {
    find(&notice[range.clone()])
        .map(|(p, v)| (range.start + p, v))
        .or_else(|| find(notice))
}

/// The paragraph (between blank lines) of `text` holding byte `at`.
fn paragraph(text: &str, at: usize) -> String {
    let at = (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let start = text[..at]
        .rfind("\n\n")
        .or_else(|| text[..at].rfind("\n\r\n"))
        .map_or(0, |i| i + 1);
    let stop = text[at..]
        .find("\n\n")
        .or_else(|| text[at..].find("\n\r\n"))
        .map_or(text.len(), |i| at + i);
    prefix(&text[start..stop], 4 * 1024).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_are_cut_at_blank_lines() {
        let t = "one\n\ntwo a\ntwo b\n\nthree";
        assert_eq!(paragraph(t, 6).trim(), "two a\ntwo b");
        assert_eq!(paragraph(t, 0).trim(), "one");
        assert_eq!(paragraph(t, 99).trim(), "three");
        assert_eq!(paragraph("é", 1), "é");
    }

    #[test]
    fn mail_systems_are_known_by_their_local_part() {
        assert!(is_daemon("mailer-daemon@example.com"));
        assert!(is_daemon("postmaster@example.net"));
        assert!(!is_daemon("ann@example.com"));
    }
}

//! RFC 5965 feedback reports (ARF): a mailbox provider's feedback loop telling the
//! sender that a recipient marked a message as spam.
//!
//! - `Feedback-Type: abuse`, `fraud` and `virus` are complaints.
//! - `not-spam` (RFC 6650: the recipient took the message *out* of the spam
//!   folder), `auth-failure` (RFC 6591: a DMARC failure report about our DNS, not
//!   about a subscriber), `other` and a missing type are [`Kind::Unknown`]: recorded,
//!   nobody suppressed. A complaint suppresses an address for good, so only the
//!   types that mean "this recipient objected" count.
//! - The recipient is `Original-Rcpt-To` (one finding per address), else
//!   Outlook.com's `X-HmXmrOriginalRecipient` or the `To` of the returned message.

use super::mail::Mail;
use super::text::{addresses_in, field, groups};
use super::{Finding, Kind, one_line};

/// The findings of a feedback report, or `None` when `mail` has no
/// `message/feedback-report` part.
pub fn findings(mail: &Mail) -> Option<Vec<Finding>> {
    let body = mail.feedback_report.as_deref()?;
    let fields: Vec<(String, String)> = groups(body).into_iter().flatten().collect();
    let feedback_type = field(&fields, "Feedback-Type")
        .map(|t| {
            t.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let kind = match feedback_type.as_str() {
        "abuse" | "fraud" | "virus" => Kind::Complaint,
        _ => Kind::Unknown,
    };
    let mut recipients: Vec<String> = Vec::new();
    for (name, value) in &fields {
        if name.eq_ignore_ascii_case("Original-Rcpt-To") {
            for address in addresses_in(value) {
                if !recipients.contains(&address) {
                    recipients.push(address);
                }
            }
        }
    }
    let returned = mail.returned.as_ref();
    if recipients.is_empty()
        && let Some(r) = returned
    {
        recipients.extend(
            r.original_recipient
                .clone()
                .or_else(|| r.to.first().cloned()),
        );
    }
    let reporter = field(&fields, "User-Agent")
        .or_else(|| field(&fields, "Reporting-MTA"))
        .unwrap_or("an unnamed feedback loop");
    let type_name = if feedback_type.is_empty() {
        "untyped"
    } else {
        feedback_type.as_str()
    };
    let reason = one_line(&format!("{type_name} report from {reporter}"));
    let message_id = returned.and_then(|r| r.message_id.clone());
    let finding = |recipient| Finding {
        kind,
        recipient,
        message_id: message_id.clone(),
        status: None,
        reason: reason.clone(),
    };
    if recipients.is_empty() {
        return Some(vec![finding(None)]);
    }
    Some(recipients.into_iter().map(|r| finding(Some(r))).collect())
}

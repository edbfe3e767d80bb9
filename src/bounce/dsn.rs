//! RFC 3464 delivery status notifications: a `message/delivery-status` part with
//! one group of per-message fields and one group per recipient.
//!
//! - `Action: failed` gives a hard or soft bounce by its `Status` and
//!   `Diagnostic-Code` (see [`super::status`]); `delayed` gives a soft one.
//! - `delivered`, `relayed` and `expanded` give nothing: a report that only says
//!   the mail arrived is no bounce, and gives one [`Kind::Unknown`] finding.
//! - A block without `Action` is read by its status class.

use super::mail::Mail;
use super::status::{describe, failure_kind};
use super::text::{enhanced_status, field, first_address, groups, strip_type};
use super::{Finding, Kind, one_line};

/// The findings of a delivery status notification, or `None` when `mail` holds
/// no `message/delivery-status` part with a per-recipient group.
pub fn findings(mail: &Mail) -> Option<Vec<Finding>> {
    let body = mail.delivery_status.as_deref()?;
    let message_id = mail
        .returned
        .as_ref()
        .and_then(|r| r.message_id.clone())
        .or_else(|| mail.in_reply_to.clone());
    let mut failures = Vec::new();
    let mut success: Option<Finding> = None;
    for group in groups(body) {
        let recipient = field(&group, "Final-Recipient")
            .or_else(|| field(&group, "Original-Recipient"))
            .map(strip_type)
            .and_then(first_address);
        let action = field(&group, "Action")
            .and_then(|a| a.split_whitespace().next())
            .map(str::to_ascii_lowercase);
        let status = field(&group, "Status")
            .and_then(enhanced_status)
            .map(|(_, s)| s);
        if recipient.is_none() && action.is_none() && status.is_none() {
            continue; // the per-message group
        }
        let diagnostic = field(&group, "Diagnostic-Code").map(strip_type);
        let action = action.unwrap_or_else(|| {
            match status.as_deref().and_then(|s| s.chars().next()) {
                Some('5') => "failed",
                Some('4') => "delayed",
                Some('2') => "delivered",
                _ => "unknown",
            }
            .to_string()
        });
        let kind = match action.as_str() {
            "failed" => failure_kind(
                Some(status.as_deref().unwrap_or("5.0.0")),
                diagnostic.unwrap_or(""),
            ),
            "delayed" => Kind::Soft,
            _ => Kind::Unknown,
        };
        let reason = match diagnostic {
            Some(d) => one_line(d),
            None => match status.as_deref().map(describe) {
                Some(words) if words != action => one_line(&format!("{action}: {words}")),
                _ => one_line(&action),
            },
        };
        let finding = Finding {
            kind,
            recipient,
            message_id: message_id.clone(),
            status,
            reason,
        };
        if kind == Kind::Unknown {
            success.get_or_insert(finding);
        } else {
            failures.push(finding);
        }
    }
    if failures.is_empty() {
        return success.map(|s| vec![s]);
    }
    Some(failures)
}

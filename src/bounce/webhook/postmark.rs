//! Postmark's bounce and spam complaint webhooks. Postmark signs nothing; the
//! webhook's URL carries HTTP basic auth credentials (`https://user:password@…`),
//! which are checked in constant time against the configured ones.
//!
//! The body is one record. `RecordType` `Bounce` has a `Type` from Postmark's list of
//! bounce types:
//!
//! - `HardBounce`, `BadEmailAddress` → hard;
//! - `SoftBounce`, `Transient`, `DnsError`, `Blocked` (the receiver refused it for
//!   a reason that may pass) → soft;
//! - `AutoResponder` → auto-reply; `SpamComplaint` → complaint; `Unsubscribe` →
//!   unsubscribe (recorded; the service honours only crier's signed address);
//! - the rest (`ManuallyDeactivated`, `DMARCPolicy`, `SpamNotification`,
//!   `VirusNotification`, `ChallengeVerification`, `AddressChange`, `Unknown`, …)
//!   say nothing certain about the address → unknown, recorded only.
//!
//! `RecordType` `SpamComplaint` → complaint. Other record types (`Delivery`,
//! `Open`, `Click`, `SubscriptionChange`) → nothing.
//!
//! `Email` is the recipient. Postmark's `MessageID` is an id of Postmark's own, not
//! the Message-ID crier wrote, so it is not used: the recipient attributes.

use base64::Engine;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{BadPayload, Refused, finding};
use crate::bounce::{Finding, Kind};

/// Checks an `Authorization` header's value against the configured credentials.
pub fn authorized(header: Option<&str>, user: &str, password: &str) -> Result<(), Refused> {
    let header = header.ok_or(Refused::Missing("the Authorization header"))?;
    let encoded = header
        .trim()
        .strip_prefix("Basic ")
        .or_else(|| header.trim().strip_prefix("basic "))
        .ok_or(Refused::Malformed("the Authorization header"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Refused::Malformed("the Authorization header"))?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(Refused::Malformed("the Authorization header"))?;
    let (given_user, given_password) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both compared, whatever the first says, so the time tells nothing.
    let same = given_user.ct_eq(user.as_bytes()) & given_password.ct_eq(password.as_bytes());
    if bool::from(same) {
        Ok(())
    } else {
        Err(Refused::Credentials)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    record_type: String,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// The findings of an authorised body.
pub fn findings(body: &[u8]) -> Result<Vec<Finding>, BadPayload> {
    let record: Record = serde_json::from_slice(body)?;
    let kind = match record.record_type.as_str() {
        "Bounce" => match record.kind.as_deref().unwrap_or("") {
            "HardBounce" | "BadEmailAddress" => Kind::Hard,
            "SoftBounce" | "Transient" | "DnsError" | "Blocked" => Kind::Soft,
            "AutoResponder" => Kind::AutoReply,
            "SpamComplaint" => Kind::Complaint,
            "Unsubscribe" => Kind::Unsubscribe,
            _ => Kind::Unknown,
        },
        "SpamComplaint" => Kind::Complaint,
        _ => return Ok(Vec::new()),
    };
    let filled = |t: &Option<String>| t.clone().filter(|t| !t.trim().is_empty());
    let reason = filled(&record.details)
        .or_else(|| filled(&record.description))
        .or_else(|| filled(&record.name))
        .unwrap_or_else(|| format!("Postmark {}", record.record_type));
    Ok(vec![finding(
        kind,
        record.email.as_deref(),
        None,
        None,
        &reason,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn only_the_right_credentials_pass() {
        assert_eq!(
            authorized(Some(&basic("hook:s3cret")), "hook", "s3cret"),
            Ok(())
        );
        assert_eq!(
            authorized(Some(&basic("hook:s3cret:x")), "hook", "s3cret:x"),
            Ok(())
        );
        for wrong in ["hook:s3cre", "hook:s3cret ", "hoo:s3cret", ":", "hook:"] {
            assert_eq!(
                authorized(Some(&basic(wrong)), "hook", "s3cret"),
                Err(Refused::Credentials),
                "{wrong}"
            );
        }
        assert_eq!(
            authorized(None, "hook", "s3cret"),
            Err(Refused::Missing("the Authorization header"))
        );
        for bad in ["Bearer abc", "Basic !!!", &format!("Basic {}", "aG9vaw==")] {
            assert!(
                matches!(
                    authorized(Some(bad), "hook", "s3cret"),
                    Err(Refused::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn bounce_types_map_to_kinds() {
        let kind = |t: &str| {
            let body = format!(
                r#"{{"RecordType": "Bounce", "Type": "{t}", "TypeCode": 1, "MessageID": "pm-1",
                     "Email": "Someone@Example.org", "Description": "desc", "Details": ""}}"#
            );
            findings(body.as_bytes()).unwrap()[0].kind
        };
        assert_eq!(kind("HardBounce"), Kind::Hard);
        assert_eq!(kind("BadEmailAddress"), Kind::Hard);
        assert_eq!(kind("SoftBounce"), Kind::Soft);
        assert_eq!(kind("Transient"), Kind::Soft);
        assert_eq!(kind("DnsError"), Kind::Soft);
        assert_eq!(kind("AutoResponder"), Kind::AutoReply);
        assert_eq!(kind("ManuallyDeactivated"), Kind::Unknown);
        assert_eq!(kind("DMARCPolicy"), Kind::Unknown);
    }

    #[test]
    fn a_bounce_names_its_recipient_and_reason() {
        let body = br#"{"RecordType": "Bounce", "MessageStream": "outbound", "ID": 42,
            "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": "Gone@Example.org", "From": "news@news.example.test",
            "BouncedAt": "2026-01-02T03:04:05Z", "Inactive": true}"#;
        let found = findings(body).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].recipient.as_deref(), Some("gone@example.org"));
        assert_eq!(found[0].message_id, None);
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert!(found[0].reason.starts_with("smtp;550 5.1.1"));
    }

    #[test]
    fn complaints_count_and_other_records_do_not() {
        let body = br#"{"RecordType": "SpamComplaint", "Type": "SpamComplaint",
            "Email": "angry@example.org", "Description": "The subscriber explicitly marked this message as spam."}"#;
        let found = findings(body).unwrap();
        assert_eq!(found[0].kind, Kind::Complaint);
        assert_eq!(found[0].recipient.as_deref(), Some("angry@example.org"));
        assert_eq!(
            findings(br#"{"RecordType": "Delivery", "Recipient": "a@example.org"}"#).unwrap(),
            vec![]
        );
        assert!(findings(b"[]").is_err());
        assert!(findings(br#"{"Type": "HardBounce"}"#).is_err());
    }
}

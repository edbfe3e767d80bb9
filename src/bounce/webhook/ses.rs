//! Amazon SES events delivered by SNS over HTTP(S).
//!
//! SNS signs each message it posts: the string to sign is a fixed list of the
//! envelope's fields, each written as its name, a newline, its value and a newline,
//! in the order AWS documents (for a `Notification`: Message, MessageId, Subject if
//! present, Timestamp, TopicArn, Type; for a `SubscriptionConfirmation` or
//! `UnsubscribeConfirmation`: Message, MessageId, SubscribeURL, Timestamp, Token,
//! TopicArn, Type). `SignatureVersion` 1 signs it with SHA1withRSA, 2 with
//! SHA256withRSA, under the key of the X.509 certificate at `SigningCertURL`, which
//! must be an SNS host of AWS (or one of the configured prefixes).
//!
//! The `Message` of a notification is SES's event, in either of SES's two forms:
//! feedback notifications (`notificationType`) and event publishing (`eventType`).
//!
//! - `Bounce`: `Permanent` → hard; `Transient` → soft (SES sends it once it has given
//!   up); `Undetermined` → soft: SES could not tell why, so it counts against the
//!   soft limit rather than ending the subscription at once or being ignored.
//! - `Complaint` → complaint, one per complained recipient.
//! - Everything else (`Delivery`, `Send`, `DeliveryDelay` while SES still retries,
//!   `Reject`, opens and clicks, `AmazonSnsSubscriptionSucceeded`) → no finding.
//!
//! The Message-ID is the one crier wrote, from the original headers SES returns
//! (`mail.headers`, else `mail.commonHeaders.messageId`); SES's own `mail.messageId`
//! is an id of SES's and names nothing of ours.

use base64::Engine;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use url::Url;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::ObjectIdentifier;

use super::{BadPayload, Refused, finding};
use crate::bounce::{Finding, Kind};

/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// An SNS message as posted to an HTTP(S) endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "TopicArn")]
    pub topic_arn: String,
    #[serde(rename = "Subject", default)]
    pub subject: Option<String>,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "SignatureVersion")]
    pub signature_version: String,
    #[serde(rename = "Signature")]
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    #[serde(rename = "Token", default)]
    pub token: Option<String>,
}

/// What an SNS message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl Envelope {
    /// Reads the envelope; anything that is not one cannot be verified.
    pub fn parse(body: &[u8]) -> Result<Envelope, Refused> {
        serde_json::from_slice(body).map_err(|_| Refused::Malformed("the SNS message"))
    }

    pub fn message_type(&self) -> Result<MessageType, Refused> {
        match self.kind.as_str() {
            "Notification" => Ok(MessageType::Notification),
            "SubscriptionConfirmation" => Ok(MessageType::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Ok(MessageType::UnsubscribeConfirmation),
            _ => Err(Refused::Malformed("the SNS message type")),
        }
    }

    /// The string SNS signed, as AWS documents it for the message's type.
    pub fn string_to_sign(&self) -> Result<String, Refused> {
        let mut fields: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.message_type()? {
            MessageType::Notification => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
                fields.push(("Timestamp", &self.timestamp));
            }
            MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation => {
                let url = self
                    .subscribe_url
                    .as_deref()
                    .ok_or(Refused::Missing("SubscribeURL"))?;
                let token = self.token.as_deref().ok_or(Refused::Missing("Token"))?;
                fields.push(("SubscribeURL", url));
                fields.push(("Timestamp", &self.timestamp));
                fields.push(("Token", token));
            }
        }
        fields.push(("TopicArn", &self.topic_arn));
        fields.push(("Type", &self.kind));
        let mut out = String::new();
        for (name, value) in fields {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
        Ok(out)
    }

    /// Checks the signature with the RSA public key (PKCS#1 DER, from
    /// [`rsa_public_key`]) of the certificate at `SigningCertURL`.
    pub fn verify(&self, rsa_public_key: &[u8]) -> Result<(), Refused> {
        let algorithm: &'static dyn VerificationAlgorithm = match self.signature_version.as_str() {
            "1" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(Refused::Malformed("the signature version")),
        };
        let signed = self.string_to_sign()?;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|_| Refused::Malformed("the signature"))?;
        UnparsedPublicKey::new(algorithm, rsa_public_key)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| Refused::Signature)
    }
}

/// Whether `topic` is accepted: any when `topics` is empty.
pub fn topic_allowed(topic: &str, topics: &[String]) -> bool {
    topics.is_empty() || topics.iter().any(|t| t == topic)
}

/// Whether a `SigningCertURL` is one to fetch: with `prefixes` configured, one that
/// starts with one of them; otherwise `https://sns.<region>.amazonaws.com[.cn]/…​.pem`.
pub fn cert_url_allowed(url: &str, prefixes: &[String]) -> bool {
    allowed(url, prefixes, true)
}

/// Whether a `SubscribeURL` is one to visit: the same hosts as
/// [`cert_url_allowed`], any path.
pub fn subscribe_url_allowed(url: &str, prefixes: &[String]) -> bool {
    allowed(url, prefixes, false)
}

fn allowed(url: &str, prefixes: &[String], pem: bool) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    if !prefixes.is_empty() {
        // Matched on the parsed form, so that `..` and escapes cannot walk out of a
        // prefix; a prefix without a path gets `/`, so that a host cannot be extended.
        return prefixes.iter().any(|prefix| {
            let prefix = match prefix.split_once("://") {
                Some((_, rest)) if !rest.contains('/') => format!("{prefix}/"),
                _ => prefix.clone(),
            };
            url.as_str().starts_with(&prefix)
        });
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let region = host
        .strip_prefix("sns.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .unwrap_or("");
    url.scheme() == "https"
        && url.port().is_none()
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && (!pem || url.path().ends_with(".pem"))
}

/// The RSA public key (PKCS#1 `RSAPublicKey`, DER) of a certificate given as PEM
/// (the first certificate of the file) or DER.
pub fn rsa_public_key(certificate: &[u8]) -> Result<Vec<u8>, Refused> {
    let certificate = if certificate.trim_ascii_start().starts_with(b"-----BEGIN") {
        Certificate::load_pem_chain(certificate)
            .ok()
            .and_then(|chain| chain.into_iter().next())
    } else {
        Certificate::from_der(certificate).ok()
    }
    .ok_or(Refused::Certificate)?;
    let spki = certificate.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(Refused::Certificate);
    }
    spki.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or(Refused::Certificate)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    notification_type: Option<String>,
    event_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    #[serde(default)]
    mail: Mail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Mail {
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    common_headers: Option<CommonHeaders>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommonHeaders {
    #[serde(default)]
    message_id: Option<String>,
}

/// The findings of a notification's `Message`: SES's event as JSON.
pub fn findings(message: &str) -> Result<Vec<Finding>, BadPayload> {
    let event: Event = serde_json::from_str(message)
        .map_err(|e| BadPayload(format!("the SNS message is not an SES event: {e}")))?;
    let message_id = event
        .mail
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("message-id"))
        .map(|h| h.value.as_str())
        .or_else(|| {
            event
                .mail
                .common_headers
                .as_ref()
                .and_then(|c| c.message_id.as_deref())
        });
    let kind = event
        .event_type
        .as_deref()
        .or(event.notification_type.as_deref())
        .unwrap_or("");
    match kind {
        "Bounce" => {
            let bounce = event
                .bounce
                .ok_or_else(|| BadPayload("an SES bounce without its `bounce`".into()))?;
            let kind = match bounce.bounce_type.as_str() {
                "Permanent" => Kind::Hard,
                _ => Kind::Soft,
            };
            let what = match &bounce.bounce_sub_type {
                Some(sub) => format!("{} bounce ({sub})", bounce.bounce_type),
                None => format!("{} bounce", bounce.bounce_type),
            };
            Ok(bounce
                .bounced_recipients
                .iter()
                .map(|r| {
                    let reason = r.diagnostic_code.as_deref().unwrap_or(&what);
                    finding(
                        kind,
                        Some(&r.email_address),
                        message_id,
                        r.status.as_deref(),
                        reason,
                    )
                })
                .collect())
        }
        "Complaint" => {
            let complaint = event
                .complaint
                .ok_or_else(|| BadPayload("an SES complaint without its `complaint`".into()))?;
            let reason = match &complaint.complaint_feedback_type {
                Some(feedback) => format!("complaint: {feedback}"),
                None => "complaint".to_string(),
            };
            Ok(complaint
                .complained_recipients
                .iter()
                .map(|r| {
                    finding(
                        Kind::Complaint,
                        Some(&r.email_address),
                        message_id,
                        None,
                        &reason,
                    )
                })
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str) -> Envelope {
        Envelope {
            kind: kind.into(),
            message_id: "m-1".into(),
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:bounces".into(),
            subject: None,
            message: "{}".into(),
            timestamp: "2026-01-02T03:04:05.678Z".into(),
            signature_version: "2".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subscribe_url: Some("https://sns.eu-west-1.amazonaws.com/?Action=x".into()),
            token: Some("tok".into()),
        }
    }

    #[test]
    fn the_string_to_sign_follows_the_documented_order() {
        let mut e = envelope("Notification");
        assert_eq!(
            e.string_to_sign().unwrap(),
            "Message\n{}\nMessageId\nm-1\nTimestamp\n2026-01-02T03:04:05.678Z\n\
             TopicArn\narn:aws:sns:eu-west-1:123456789012:bounces\nType\nNotification\n"
        );
        e.subject = Some("Hi".into());
        assert!(
            e.string_to_sign()
                .unwrap()
                .contains("MessageId\nm-1\nSubject\nHi\nTimestamp")
        );
        let e = envelope("SubscriptionConfirmation");
        assert_eq!(
            e.string_to_sign().unwrap(),
            "Message\n{}\nMessageId\nm-1\n\
             SubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=x\n\
             Timestamp\n2026-01-02T03:04:05.678Z\nToken\ntok\n\
             TopicArn\narn:aws:sns:eu-west-1:123456789012:bounces\n\
             Type\nSubscriptionConfirmation\n"
        );
        let mut e = envelope("UnsubscribeConfirmation");
        e.token = None;
        assert_eq!(e.string_to_sign(), Err(Refused::Missing("Token")));
        assert!(envelope("Other").string_to_sign().is_err());
    }

    #[test]
    fn only_sns_hosts_or_the_configured_prefixes_are_fetched() {
        let none: &[String] = &[];
        let ok = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem";
        assert!(cert_url_allowed(ok, none));
        assert!(cert_url_allowed(
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
            none
        ));
        for bad in [
            "http://sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com/x.txt",
            "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.EU_WEST.amazonaws.com/x.pem",
            "https://user@sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            "not a url",
        ] {
            assert!(!cert_url_allowed(bad, none), "{bad}");
        }
        assert!(subscribe_url_allowed(
            "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
            none
        ));
        assert!(!subscribe_url_allowed(
            "https://evil.example/?Action=ConfirmSubscription",
            none
        ));

        let local = vec!["http://127.0.0.1:8080".to_string()];
        assert!(cert_url_allowed("http://127.0.0.1:8080/cert.pem", &local));
        assert!(!cert_url_allowed("http://127.0.0.1:80800/cert.pem", &local));
        assert!(!cert_url_allowed(
            "http://127.0.0.1:8080.evil.example/c.pem",
            &local
        ));
        assert!(
            !cert_url_allowed(ok, &local),
            "prefixes replace the default"
        );
        let path = vec!["https://certs.example/sns/".to_string()];
        assert!(cert_url_allowed("https://certs.example/sns/a.pem", &path));
        assert!(!cert_url_allowed(
            "https://certs.example/sns/../a.pem",
            &path
        ));
    }

    #[test]
    fn topics_are_checked_when_listed() {
        assert!(topic_allowed("arn:a", &[]));
        assert!(topic_allowed("arn:a", &["arn:b".into(), "arn:a".into()]));
        assert!(!topic_allowed("arn:c", &["arn:a".into()]));
    }

    #[test]
    fn a_bad_certificate_or_signature_is_refused() {
        assert_eq!(
            rsa_public_key(b"not a certificate"),
            Err(Refused::Certificate)
        );
        assert_eq!(
            rsa_public_key(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(Refused::Certificate)
        );
        let mut e = envelope("Notification");
        e.signature = "not base64!".into();
        assert_eq!(e.verify(b"key"), Err(Refused::Malformed("the signature")));
        e.signature_version = "3".into();
        assert_eq!(
            e.verify(b"key"),
            Err(Refused::Malformed("the signature version"))
        );
        e.signature_version = "2".into();
        e.signature = "AAAA".into();
        assert_eq!(e.verify(b"key"), Err(Refused::Signature));
    }

    #[test]
    fn a_permanent_bounce_is_hard_for_each_recipient() {
        let message = r#"{
          "notificationType": "Bounce",
          "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [
              {"emailAddress": "Gone@Example.org", "action": "failed", "status": "5.1.1",
               "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
              {"emailAddress": "other@example.org"}
            ],
            "timestamp": "2026-01-02T03:04:05.000Z", "feedbackId": "f-1"
          },
          "mail": {
            "messageId": "0100018c-ses-own-id",
            "headers": [{"name": "From", "value": "news@news.example.test"},
                        {"name": "Message-ID", "value": "<42.abc@news.example.test>"}],
            "commonHeaders": {"messageId": "<other@news.example.test>"}
          }
        }"#;
        let found = findings(message).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, Kind::Hard);
        assert_eq!(found[0].recipient.as_deref(), Some("gone@example.org"));
        assert_eq!(
            found[0].message_id.as_deref(),
            Some("<42.abc@news.example.test>")
        );
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(found[0].reason, "smtp; 550 5.1.1 user unknown");
        assert_eq!(found[1].reason, "Permanent bounce (General)");
        assert_eq!(found[1].status, None);
    }

    #[test]
    fn event_publishing_transient_and_undetermined_bounces_are_soft() {
        for kind in ["Transient", "Undetermined"] {
            let message = format!(
                r#"{{"eventType": "Bounce",
                    "bounce": {{"bounceType": "{kind}", "bounceSubType": "MailboxFull",
                      "bouncedRecipients": [{{"emailAddress": "full@example.org",
                        "diagnosticCode": "smtp; 452 4.2.2 mailbox full"}}]}},
                    "mail": {{"commonHeaders": {{"messageId": "<7.x@news.example.test>"}}}}}}"#
            );
            let found = findings(&message).unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].kind, Kind::Soft);
            assert_eq!(found[0].status.as_deref(), Some("4.2.2"));
            assert_eq!(
                found[0].message_id.as_deref(),
                Some("<7.x@news.example.test>")
            );
        }
    }

    #[test]
    fn a_complaint_names_each_recipient() {
        let message = r#"{"notificationType": "Complaint",
          "complaint": {"complainedRecipients": [{"emailAddress": "angry@example.org"}],
                        "complaintFeedbackType": "abuse", "timestamp": "2026-01-02T03:04:05Z"},
          "mail": {"headers": [{"name": "message-id", "value": "<9@news.example.test>"}]}}"#;
        let found = findings(message).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::Complaint);
        assert_eq!(found[0].recipient.as_deref(), Some("angry@example.org"));
        assert_eq!(
            found[0].message_id.as_deref(),
            Some("<9@news.example.test>")
        );
        assert_eq!(found[0].reason, "complaint: abuse");
    }

    #[test]
    fn deliveries_and_other_events_give_nothing_and_garbage_is_an_error() {
        for message in [
            r#"{"notificationType": "Delivery", "delivery": {}, "mail": {}}"#,
            r#"{"eventType": "DeliveryDelay", "mail": {}}"#,
            r#"{"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}"#,
        ] {
            assert_eq!(findings(message).unwrap(), vec![], "{message}");
        }
        assert!(findings("hello").is_err());
        assert!(findings(r#"{"notificationType": "Bounce"}"#).is_err());
        assert!(findings(r#"{"notificationType": "Bounce", "bounce": {"x": 1}}"#).is_err());
    }
}

//! SendGrid's signed event webhook.
//!
//! SendGrid signs the timestamp it sends in `X-Twilio-Email-Event-Webhook-Timestamp`
//! followed by the raw body with ECDSA P-256 and SHA-256, and sends the DER signature
//! in base64 in `X-Twilio-Email-Event-Webhook-Signature`. The verification key the
//! account shows is a base64 DER SubjectPublicKeyInfo. A timestamp more than
//! [`REPLAY_WINDOW_SECS`](super::REPLAY_WINDOW_SECS) from now is refused.
//!
//! The body is a JSON array of events. What each becomes:
//!
//! - `bounce` with `type` `bounce` → hard; `blocked` (the receiver refused it for a
//!   reason that may pass: reputation, content) and `expired` (SendGrid gave up
//!   retrying) → soft.
//! - `dropped`: SendGrid did not even try, because of its own suppression lists.
//!   `Bounced Address` and `Invalid` → hard, `Spam Reporting Address` → complaint,
//!   `Unsubscribed Address` → unsubscribe; other reasons (content, quota, a bad
//!   header) say nothing about the subscriber → unknown, recorded only.
//! - `spamreport` → complaint.
//! - `unsubscribe`, `group_unsubscribe` → unsubscribe. The `bounces` service honours
//!   an unsubscribe only through crier's signed address, so these are recorded and
//!   change nothing until it decides otherwise.
//! - `deferred` (SendGrid is still retrying; `blocked`/`expired` follow if it gives
//!   up), `processed`, `delivered`, `open`, `click`, `group_resubscribe` → nothing.
//!
//! `smtp-id` is the message's Message-ID.

use base64::Engine;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use x509_cert::der::Decode;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::{BadPayload, Refused, finding, fresh, text};
use crate::bounce::{Finding, Kind};

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// id-ecPublicKey and prime256v1 (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The P-256 point of the configured verification key (base64 DER
/// SubjectPublicKeyInfo).
pub fn public_key(base64_spki: &str) -> Result<Vec<u8>, Refused> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64_spki.trim())
        .map_err(|_| Refused::Key)?;
    let spki = SubjectPublicKeyInfoRef::from_der(&der).map_err(|_| Refused::Key)?;
    if spki.algorithm.oid != EC_PUBLIC_KEY || spki.algorithm.parameters_oid().ok() != Some(P256) {
        return Err(Refused::Key);
    }
    spki.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or(Refused::Key)
}

/// Checks the signature headers' values against the body, with the key's point
/// from [`public_key`]; `now` in Unix seconds.
pub fn verify(
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    point: &[u8],
    now: i64,
) -> Result<(), Refused> {
    let signature = signature.ok_or(Refused::Missing(SIGNATURE_HEADER))?;
    let timestamp = timestamp.ok_or(Refused::Missing(TIMESTAMP_HEADER))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Refused::Malformed("the signature"))?;
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &signature)
        .map_err(|_| Refused::Signature)?;
    // After the signature, so that a forged timestamp counts as a forgery.
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Refused::Malformed("the timestamp"))?;
    if !fresh(at, now) {
        return Err(Refused::Stale);
    }
    Ok(())
}

/// The findings of a verified body.
pub fn findings(body: &[u8]) -> Result<Vec<Finding>, BadPayload> {
    let events: Vec<serde_json::Value> = serde_json::from_slice(body)?;
    let mut out = Vec::new();
    for event in &events {
        let Some(name) = text(event, &["event"]) else {
            return Err(BadPayload("a SendGrid event without its `event`".into()));
        };
        let reason = text(event, &["reason"]).unwrap_or_default();
        let kind = match &*name {
            "bounce" => match text(event, &["type"]).as_deref() {
                Some("blocked" | "expired") => Kind::Soft,
                _ => Kind::Hard,
            },
            "dropped" => match reason.trim() {
                "Bounced Address" | "Invalid" => Kind::Hard,
                "Spam Reporting Address" => Kind::Complaint,
                "Unsubscribed Address" => Kind::Unsubscribe,
                _ => Kind::Unknown,
            },
            "spamreport" => Kind::Complaint,
            "unsubscribe" | "group_unsubscribe" => Kind::Unsubscribe,
            _ => continue,
        };
        let reason = if reason.trim().is_empty() {
            format!("SendGrid {name}")
        } else {
            reason.into_owned()
        };
        out.push(finding(
            kind,
            text(event, &["email"]).as_deref(),
            text(event, &["smtp-id"]).as_deref(),
            text(event, &["status"]).as_deref(),
            &reason,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    /// The DER SubjectPublicKeyInfo of a P-256 key, before its 65-byte point.
    const P256_SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];

    fn key() -> (EcdsaKeyPair, String) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        (pair, base64::engine::general_purpose::STANDARD.encode(spki))
    }

    fn sign(pair: &EcdsaKeyPair, timestamp: &str, body: &[u8]) -> String {
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let sig = pair.sign(&SystemRandom::new(), &signed).unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }

    #[test]
    fn a_signature_verifies_and_a_change_does_not() {
        let (pair, spki) = key();
        let point = public_key(&spki).unwrap();
        let body = br#"[{"event":"bounce"}]"#;
        let sig = sign(&pair, "1700000000", body);
        let now = 1_700_000_100;
        assert_eq!(
            verify(body, Some(&sig), Some("1700000000"), &point, now),
            Ok(())
        );
        assert_eq!(
            verify(b"[]", Some(&sig), Some("1700000000"), &point, now),
            Err(Refused::Signature)
        );
        assert_eq!(
            verify(body, Some(&sig), Some("1700000001"), &point, now),
            Err(Refused::Signature)
        );
        assert_eq!(
            verify(body, Some(&sig), Some("1700000000"), &point, now + 700),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(body, None, Some("1700000000"), &point, now),
            Err(Refused::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(body, Some(&sig), None, &point, now),
            Err(Refused::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(body, Some("%%%"), Some("1700000000"), &point, now),
            Err(Refused::Malformed("the signature"))
        );
    }

    #[test]
    fn only_a_p256_key_is_a_key() {
        assert_eq!(public_key("not base64!"), Err(Refused::Key));
        assert_eq!(public_key("AAAA"), Err(Refused::Key));
        let (_, spki) = key();
        assert_eq!(public_key(&spki).unwrap().len(), 65);
        // The same point under another curve's OID (prime239v1, as long) is refused.
        let mut der = base64::engine::general_purpose::STANDARD
            .decode(&spki)
            .unwrap();
        assert_eq!(der[22], 0x07);
        der[22] = 0x04;
        let other = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(public_key(&other), Err(Refused::Key));
    }

    #[test]
    fn events_become_findings() {
        let body = br#"[
          {"email":"Gone@example.org","timestamp":1700000000,"smtp-id":"<1.a@news.example.test>",
           "event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 unknown user",
           "sg_event_id":"e1","sg_message_id":"sg1"},
          {"email":"busy@example.org","event":"bounce","type":"blocked","status":"4.7.1",
           "reason":"421 4.7.1 try later","smtp-id":"<2.a@news.example.test>"},
          {"email":"angry@example.org","event":"spamreport","smtp-id":"<3.a@news.example.test>"},
          {"email":"someone@example.org","event":"deferred","reason":"452 mailbox full"},
          {"email":"someone@example.org","event":"delivered"},
          {"email":"old@example.org","event":"dropped","reason":"Bounced Address"},
          {"email":"x@example.org","event":"dropped","reason":"Spam Content"},
          {"email":"leaver@example.org","event":"group_unsubscribe","asm_group_id":1}
        ]"#;
        let found = findings(body).unwrap();
        let kinds: Vec<Kind> = found.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Hard,
                Kind::Soft,
                Kind::Complaint,
                Kind::Hard,
                Kind::Unknown,
                Kind::Unsubscribe
            ]
        );
        assert_eq!(found[0].recipient.as_deref(), Some("gone@example.org"));
        assert_eq!(
            found[0].message_id.as_deref(),
            Some("<1.a@news.example.test>")
        );
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(found[0].reason, "550 5.1.1 unknown user");
        assert_eq!(found[2].reason, "SendGrid spamreport");
        assert_eq!(found[3].reason, "Bounced Address");
    }

    #[test]
    fn a_body_that_is_not_events_is_an_error() {
        assert!(findings(b"{}").is_err());
        assert!(findings(br#"[{"email":"a@b"}]"#).is_err());
        assert_eq!(findings(b"[]").unwrap(), vec![]);
    }
}

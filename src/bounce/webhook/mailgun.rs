//! Mailgun's webhooks (JSON): `{"signature": {"timestamp", "token", "signature"},
//! "event-data": {…}}`. The signature is the hex HMAC-SHA256, under the account's
//! HTTP webhook signing key, of the timestamp followed by the token. A timestamp
//! more than [`REPLAY_WINDOW_SECS`](super::REPLAY_WINDOW_SECS) from now is refused;
//! refusing a token seen before is the caller's part ([`super::Seen`]).
//!
//! What each event becomes:
//!
//! - `failed` with `severity` `permanent` → hard, unless its `reason` says why
//!   Mailgun did not try: `suppress-complaint` → complaint, `suppress-unsubscribe` →
//!   unsubscribe (recorded; the service honours only crier's signed address), and
//!   `old` (retried until it expired) or `espblock` → soft.
//! - `failed` with `severity` `temporary` → nothing: Mailgun retries, and sends a
//!   permanent failure if it gives up, so each attempt is not a soft bounce.
//! - `complained` → complaint; `unsubscribed` → unsubscribe.
//! - Everything else (`accepted`, `delivered`, `opened`, `clicked`, `stored`) →
//!   nothing.
//!
//! The Message-ID is `message.headers.message-id`, which Mailgun gives without its
//! angle brackets.

use ring::hmac;
use subtle::ConstantTimeEq;

use super::{BadPayload, Refused, finding, fresh, text};
use crate::bounce::{Finding, Kind};
use crate::model::hex;

/// A webhook's body, its signature taken out.
#[derive(Debug, Clone)]
pub struct Signed {
    pub timestamp: String,
    pub token: String,
    pub signature: String,
    /// `event-data`, read by [`findings`] once the signature holds.
    pub event: Option<serde_json::Value>,
}

impl Signed {
    /// Reads the body; one without a signature block cannot be verified.
    pub fn parse(body: &[u8]) -> Result<Signed, Refused> {
        let mut value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| Refused::Malformed("the body"))?;
        let field = |name: &'static str| {
            text(&value, &["signature", name])
                .map(|t| t.into_owned())
                .ok_or(Refused::Missing(name))
        };
        let timestamp = field("timestamp")?;
        let token = field("token")?;
        let signature = field("signature")?;
        let event = value.get_mut("event-data").map(serde_json::Value::take);
        Ok(Signed {
            timestamp,
            token,
            signature,
            event,
        })
    }

    /// Checks the HMAC under `key` and the timestamp against `now` (Unix seconds).
    pub fn verify(&self, key: &[u8], now: i64) -> Result<(), Refused> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        let mut signed = hmac::Context::with_key(&key);
        signed.update(self.timestamp.as_bytes());
        signed.update(self.token.as_bytes());
        let expected = hex(signed.sign().as_ref());
        let given = self.signature.trim().to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(Refused::Signature);
        }
        let at: i64 = self
            .timestamp
            .trim()
            .split('.')
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or(Refused::Malformed("the timestamp"))?;
        if !fresh(at, now) {
            return Err(Refused::Stale);
        }
        Ok(())
    }
}

/// The findings of a verified body's `event-data`.
pub fn findings(event: Option<&serde_json::Value>) -> Result<Vec<Finding>, BadPayload> {
    let event = event
        .filter(|e| e.is_object())
        .ok_or_else(|| BadPayload("a Mailgun webhook without its `event-data`".into()))?;
    let name =
        text(event, &["event"]).ok_or_else(|| BadPayload("`event-data` has no `event`".into()))?;
    let why = text(event, &["reason"]).unwrap_or_default();
    let kind = match &*name {
        "failed" => match text(event, &["severity"]).as_deref() {
            Some("temporary") => return Ok(Vec::new()),
            _ => match &*why {
                "suppress-complaint" => Kind::Complaint,
                "suppress-unsubscribe" => Kind::Unsubscribe,
                "old" | "espblock" => Kind::Soft,
                _ => Kind::Hard,
            },
        },
        "complained" => Kind::Complaint,
        "unsubscribed" => Kind::Unsubscribe,
        _ => return Ok(Vec::new()),
    };
    let said = text(event, &["delivery-status", "message"])
        .filter(|m| !m.trim().is_empty())
        .or_else(|| text(event, &["delivery-status", "description"]))
        .filter(|m| !m.trim().is_empty());
    let code = text(event, &["delivery-status", "code"]);
    let reason = match (code, said) {
        (Some(code), Some(said)) => format!("{code} {said}"),
        (None, Some(said)) => said.into_owned(),
        (Some(code), None) => format!("{code} {why}"),
        (None, None) if !why.is_empty() => why.into_owned(),
        (None, None) => format!("Mailgun {name}"),
    };
    Ok(vec![finding(
        kind,
        text(event, &["recipient"]).as_deref(),
        text(event, &["message", "headers", "message-id"]).as_deref(),
        None,
        &reason,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(timestamp: &str, token: &str, key: &[u8], event: &str) -> String {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key),
            format!("{timestamp}{token}").as_bytes(),
        );
        format!(
            r#"{{"signature": {{"timestamp": "{timestamp}", "token": "{token}",
                "signature": "{}"}}, "event-data": {event}}}"#,
            hex(tag.as_ref())
        )
    }

    #[test]
    fn the_hmac_of_timestamp_and_token_verifies() {
        let key = b"key-test-signing";
        let now = 1_700_000_000;
        let signed = Signed::parse(body("1700000000", "tok1", key, "{}").as_bytes()).unwrap();
        assert_eq!(signed.verify(key, now), Ok(()));
        assert_eq!(signed.verify(b"another key", now), Err(Refused::Signature));
        assert_eq!(signed.verify(key, now + 601), Err(Refused::Stale));
        let mut changed = signed.clone();
        changed.token = "tok2".into();
        assert_eq!(changed.verify(key, now), Err(Refused::Signature));
        let mut changed = signed.clone();
        changed.timestamp = "1700000001".into();
        assert_eq!(changed.verify(key, now), Err(Refused::Signature));
        assert!(matches!(
            Signed::parse(br#"{"event-data": {}}"#),
            Err(Refused::Missing("timestamp"))
        ));
        assert!(matches!(Signed::parse(b"nope"), Err(Refused::Malformed(_))));
    }

    #[test]
    fn a_permanent_failure_is_hard_and_names_the_message() {
        let event = serde_json::json!({
            "event": "failed", "severity": "permanent", "reason": "bounce",
            "recipient": "Gone@Example.org",
            "message": {"headers": {"message-id": "20260102.1@news.example.test"}},
            "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist",
                                "description": "", "attempt-no": 1}
        });
        let found = findings(Some(&event)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::Hard);
        assert_eq!(found[0].recipient.as_deref(), Some("gone@example.org"));
        assert_eq!(
            found[0].message_id.as_deref(),
            Some("<20260102.1@news.example.test>")
        );
        assert_eq!(found[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            found[0].reason,
            "550 5.1.1 The email account does not exist"
        );
    }

    #[test]
    fn each_event_gets_its_kind() {
        let kind = |event: serde_json::Value| {
            findings(Some(&event))
                .unwrap()
                .first()
                .map(|f| (f.kind, f.reason.clone()))
        };
        let failed = |severity: &str, reason: &str| {
            serde_json::json!({"event": "failed", "severity": severity, "reason": reason,
                               "recipient": "a@example.org"})
        };
        assert_eq!(kind(failed("temporary", "generic")), None);
        assert_eq!(kind(failed("permanent", "old")).unwrap().0, Kind::Soft);
        assert_eq!(
            kind(failed("permanent", "suppress-complaint")).unwrap(),
            (Kind::Complaint, "suppress-complaint".to_string())
        );
        assert_eq!(
            kind(serde_json::json!({"event": "complained", "recipient": "a@example.org"})),
            Some((Kind::Complaint, "Mailgun complained".to_string()))
        );
        assert_eq!(
            kind(serde_json::json!({"event": "unsubscribed", "recipient": "a@example.org"}))
                .unwrap()
                .0,
            Kind::Unsubscribe
        );
        assert_eq!(kind(serde_json::json!({"event": "delivered"})), None);
        assert!(findings(None).is_err());
        assert!(findings(Some(&serde_json::json!([1]))).is_err());
        assert!(findings(Some(&serde_json::json!({"severity": "permanent"}))).is_err());
    }
}

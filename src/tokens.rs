//! Signed tokens for the links in emails and pages (confirm, unsubscribe,
//! preferences), and the keyed hash that stands for an address on the suppression
//! list. Tokens are HMAC-SHA256 over subscriber, purpose and expiry, checked in
//! constant time. Pure: the caller supplies the time. [`passwords`] holds the admin
//! console's secrets: Argon2id password hashes, session ids and CSRF tokens.

pub mod passwords;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::model::{MessageIds, hex};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm,
    Unsubscribe,
    Preferences,
}

impl Purpose {
    fn code(self) -> char {
        match self {
            Purpose::Confirm => 'c',
            Purpose::Unsubscribe => 'u',
            Purpose::Preferences => 'p',
        }
    }
}

/// What a VERP address stands for: the envelope sender that bounces return to, or
/// the `List-Unsubscribe` mailto address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verp {
    Bounce,
    Unsubscribe,
}

/// Why a token was refused. Pages show one message for all of them; logs keep which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token is for another purpose")]
    WrongPurpose,
    #[error("the token has expired")]
    Expired,
}

/// A number as [`Signer::sign`] writes it: decimal digits, no sign, no leading zero.
/// The signature covers the number, not its text, so `+13` or `013` would verify as
/// `13` does: a second spelling of one token, which is refused.
fn canonical_number(text: &str) -> Result<i64, TokenError> {
    let number: i64 = text.parse().map_err(|_| TokenError::Malformed)?;
    if number.to_string() != text {
        return Err(TokenError::Malformed);
    }
    Ok(number)
}

/// The purpose among `purposes` that a token's text claims, or the first one (which
/// then fails as the wrong purpose, after the signature is checked).
fn claimed_purpose(token: &str, purposes: &[Purpose]) -> Purpose {
    let code = token.split('.').nth(1).unwrap_or("");
    purposes
        .iter()
        .copied()
        .find(|p| code.len() == 1 && code.starts_with(p.code()))
        .or(purposes.first().copied())
        .unwrap_or(Purpose::Confirm)
}

#[derive(Clone)]
pub struct Signer {
    token_key: Vec<u8>,
    hash_key: Vec<u8>,
    message_id_key: Vec<u8>,
    rate_key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { .. }")
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

impl Signer {
    /// Derives separate keys for tokens, address hashes, Message-IDs and rate-limit keys from the one
    /// secret.
    pub fn new(secret: &[u8]) -> Signer {
        let derive = |label: &[u8]| {
            let mut m = mac(secret);
            m.update(label);
            m.finalize().into_bytes().to_vec()
        };
        Signer {
            token_key: derive(b"crier token key v1"),
            hash_key: derive(b"crier address hash v1"),
            message_id_key: derive(b"crier message id v1"),
            rate_key: derive(b"crier rate limit key v1"),
        }
    }

    /// How this deployment names its messages at `domain`: keyed by its secret, so
    /// that two deployments never give two messages one Message-ID.
    pub fn message_ids(&self, domain: &str) -> MessageIds {
        MessageIds::new(domain, &self.message_id_key)
    }

    fn signature(&self, id: i64, purpose: Purpose, expires: i64) -> HmacSha256 {
        let mut m = mac(&self.token_key);
        m.update(format!("v1:{id}:{}:{expires}", purpose.code()).as_bytes());
        m
    }

    /// `{id}.{purpose}.{expiry}.{signature}`: URL-safe, opaque enough, unforgeable.
    pub fn sign(&self, id: i64, purpose: Purpose, expires: DateTime<Utc>) -> String {
        let expires = expires.timestamp();
        let signature = self.signature(id, purpose, expires).finalize().into_bytes();
        format!(
            "{id}.{}.{expires}.{}",
            purpose.code(),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The subscriber id a token stands for, if it is genuine, for this purpose, and
    /// not expired.
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<i64, TokenError> {
        let (id, expired) = self.verify_allowing_expired(token, purpose, now)?;
        if expired {
            return Err(TokenError::Expired);
        }
        Ok(id)
    }

    /// Like [`Signer::verify`], but an expired token that is otherwise genuine gives
    /// its id and `true`. Only for leaving: an unsubscribe link must keep working
    /// however old the email is, and an old link may offer a fresh one. The signature
    /// is checked first, so a forged or tampered token never gets this far.
    pub fn verify_allowing_expired(
        &self,
        token: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<(i64, bool), TokenError> {
        // No trimming, no re-formatting: a token is accepted only as crier wrote it.
        let mut parts = token.split('.');
        let (Some(id), Some(code), Some(expires), Some(signature), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let id = canonical_number(id)?;
        let expires = canonical_number(expires)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let claimed = [Purpose::Confirm, Purpose::Unsubscribe, Purpose::Preferences]
            .into_iter()
            .find(|p| code.len() == 1 && code.starts_with(p.code()))
            .ok_or(TokenError::Malformed)?;
        // Constant-time comparison of the whole MAC.
        self.signature(id, claimed, expires)
            .verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        if claimed != purpose {
            return Err(TokenError::WrongPurpose);
        }
        let expiry = Utc
            .timestamp_opt(expires, 0)
            .single()
            .ok_or(TokenError::Malformed)?;
        Ok((id, now > expiry))
    }

    /// Like [`Signer::verify`], accepting any of several purposes.
    pub fn verify_any(
        &self,
        token: &str,
        purposes: &[Purpose],
        now: DateTime<Utc>,
    ) -> Result<i64, TokenError> {
        self.verify(token, claimed_purpose(token, purposes), now)
    }

    /// [`Signer::verify_allowing_expired`] for any of several purposes.
    pub fn verify_any_allowing_expired(
        &self,
        token: &str,
        purposes: &[Purpose],
        now: DateTime<Utc>,
    ) -> Result<(i64, bool), TokenError> {
        self.verify_allowing_expired(token, claimed_purpose(token, purposes), now)
    }

    /// The token of a VERP address for outbox row `id`: `{id}-{signature}`, the
    /// signature 16 lower-case hex digits (64 bits of HMAC). Lower case because mail
    /// servers may fold the case of what they return; no expiry because bounces come
    /// days later, and the row they name is purged in time anyway.
    pub fn verp(&self, id: i64, which: Verp) -> String {
        format!("{id}-{}", hex(&self.verp_signature(id, which)))
    }

    /// The outbox row a VERP token names, if crier signed it for this use.
    pub fn verify_verp(&self, token: &str, which: Verp) -> Result<i64, TokenError> {
        let (id, signature) = token.split_once('-').ok_or(TokenError::Malformed)?;
        let id = canonical_number(id)?;
        let signature = signature.to_ascii_lowercase();
        if signature.len() != 16 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed);
        }
        let expected = hex(&self.verp_signature(id, which));
        if bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            signature.as_bytes(),
        )) {
            Ok(id)
        } else {
            Err(TokenError::BadSignature)
        }
    }

    fn verp_signature(&self, id: i64, which: Verp) -> [u8; 8] {
        let code = match which {
            Verp::Bounce => 'b',
            Verp::Unsubscribe => 'm',
        };
        let mut m = mac(&self.token_key);
        m.update(format!("verp1:{id}:{code}").as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// A keyed hash of what a rate limit counts by (a client's address, an account),
    /// so that the shared counts in the database never hold an address.
    pub fn rate_key(&self, what: &str) -> String {
        let mut m = mac(&self.rate_key);
        m.update(what.as_bytes());
        hex(&m.finalize().into_bytes())
    }

    /// A keyed hash of a normalised address: the suppression list never holds the
    /// address itself.
    pub fn email_hash(&self, email: &str) -> String {
        let mut m = mac(&self.hash_key);
        m.update(email.as_bytes());
        hex(&m.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn verp_tokens_name_their_row_and_use() {
        let s = signer();
        let token = s.verp(1234, Verp::Bounce);
        assert!(
            token.starts_with("1234-") && token.len() == 5 + 16,
            "{token}"
        );
        assert_eq!(s.verify_verp(&token, Verp::Bounce), Ok(1234));
        assert_eq!(s.verify_verp(&token.to_uppercase(), Verp::Bounce), Ok(1234));
        assert_eq!(
            s.verify_verp(&token, Verp::Unsubscribe),
            Err(TokenError::BadSignature)
        );
        let forged = token.replacen("1234", "1235", 1);
        assert_eq!(
            s.verify_verp(&forged, Verp::Bounce),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify_verp("01234-00", Verp::Bounce),
            Err(TokenError::Malformed)
        );
        assert_eq!(s.verify_verp("x", Verp::Bounce), Err(TokenError::Malformed));
        let other = Signer::new(b"another secret of enough length!");
        assert_eq!(
            other.verify_verp(&token, Verp::Bounce),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tokens_round_trip() {
        let now = Utc::now();
        let token = signer().sign(42, Purpose::Unsubscribe, now + Duration::days(1));
        assert_eq!(signer().verify(&token, Purpose::Unsubscribe, now), Ok(42));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{token}"
        );
    }

    #[test]
    fn forged_tampered_expired_and_misused_tokens_fail() {
        let now = Utc::now();
        let s = signer();
        let token = s.sign(42, Purpose::Unsubscribe, now + Duration::days(1));
        let other_key = Signer::new(b"another secret of thirty-two bytes!!");
        assert_eq!(
            other_key.verify(&token, Purpose::Unsubscribe, now),
            Err(TokenError::BadSignature)
        );
        let tampered = token.replacen("42.", "43.", 1);
        assert_eq!(
            s.verify(&tampered, Purpose::Unsubscribe, now),
            Err(TokenError::BadSignature)
        );
        let later = token.replace(
            &format!(".{}.", (now + Duration::days(1)).timestamp()),
            &format!(".{}.", (now + Duration::days(900)).timestamp()),
        );
        assert_eq!(
            s.verify(&later, Purpose::Unsubscribe, now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify(&token, Purpose::Confirm, now),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            s.verify(&token, Purpose::Unsubscribe, now + Duration::days(2)),
            Err(TokenError::Expired)
        );
        for junk in [
            "",
            "abc",
            "1.u.2",
            "1.u.2.3.4",
            "x.u.1.AAAA",
            "1.z.1.AAAA",
            "1.u.1.!!!",
        ] {
            assert_eq!(
                s.verify(junk, Purpose::Unsubscribe, now),
                Err(TokenError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn an_expired_token_may_still_be_read_for_leaving_but_not_a_forged_one() {
        let now = Utc::now();
        let s = signer();
        let token = s.sign(42, Purpose::Unsubscribe, now - Duration::days(1));
        assert_eq!(
            s.verify(&token, Purpose::Unsubscribe, now),
            Err(TokenError::Expired)
        );
        assert_eq!(
            s.verify_allowing_expired(&token, Purpose::Unsubscribe, now),
            Ok((42, true))
        );
        let fresh = s.sign(42, Purpose::Preferences, now + Duration::days(1));
        assert_eq!(
            s.verify_any_allowing_expired(
                &fresh,
                &[Purpose::Unsubscribe, Purpose::Preferences],
                now
            ),
            Ok((42, false))
        );
        let forged = Signer::new(b"another secret of thirty-two bytes!!").sign(
            42,
            Purpose::Unsubscribe,
            now - Duration::days(1),
        );
        assert_eq!(
            s.verify_allowing_expired(&forged, Purpose::Unsubscribe, now),
            Err(TokenError::BadSignature)
        );
        let confirm = s.sign(42, Purpose::Confirm, now - Duration::days(1));
        assert_eq!(
            s.verify_any_allowing_expired(
                &confirm,
                &[Purpose::Unsubscribe, Purpose::Preferences],
                now
            ),
            Err(TokenError::WrongPurpose)
        );
    }

    #[test]
    fn only_the_spelling_crier_wrote_is_accepted() {
        let now = Utc::now();
        let s = signer();
        let expires = now + Duration::days(1);
        let token = s.sign(13, Purpose::Unsubscribe, expires);
        assert_eq!(s.verify(&token, Purpose::Unsubscribe, now), Ok(13));
        let at = expires.timestamp().to_string();
        for junk in [
            format!("+{token}"),
            format!("0{token}"),
            format!(" {token}"),
            format!("{token}\n"),
            token.replacen(&format!(".{at}."), &format!(".+{at}."), 1),
            token.replacen(&format!(".{at}."), &format!(".0{at}."), 1),
            format!("{token}="),
        ] {
            assert_eq!(
                s.verify(&junk, Purpose::Unsubscribe, now),
                Err(TokenError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn rate_keys_are_keyed_and_not_address_hashes() {
        let key = signer().rate_key("sign-up:192.0.2.1");
        assert_eq!(key, signer().rate_key("sign-up:192.0.2.1"));
        assert_eq!(key.len(), 64);
        assert!(!key.contains("192.0.2.1"));
        assert_ne!(key, signer().email_hash("sign-up:192.0.2.1"));
        assert_ne!(
            key,
            Signer::new(b"another secret of thirty-two bytes!!").rate_key("sign-up:192.0.2.1")
        );
    }

    #[test]
    fn address_hashes_are_keyed_and_stable() {
        let a = signer().email_hash("ada@example.org");
        assert_eq!(a, signer().email_hash("ada@example.org"));
        assert_ne!(
            a,
            Signer::new(b"another secret of thirty-two bytes!!").email_hash("ada@example.org")
        );
        assert_eq!(a.len(), 64);
        assert!(!a.contains("ada"));
    }
}

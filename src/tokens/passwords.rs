//! Admin passwords and console session secrets. Passwords are kept as Argon2id PHC
//! strings (the `argon2` crate's default parameters, which follow OWASP's advice);
//! a session id and a CSRF token are 32 random bytes in base64url, and only a
//! session id's SHA-256 is ever stored. Hashing takes tens of milliseconds: callers
//! on an async runtime run it on a blocking thread.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The shortest password an admin may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password is too short: it needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the system's random source failed: {0}")]
    Random(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Refuses a password no admin should have.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        Err(PasswordError::Empty)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else {
        Ok(())
    }
}

/// The Argon2id PHC string of `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored`. A string that does not parse
/// matches nothing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, made once with the same parameters as real
/// ones: a login for an unknown account is checked against it, so that it takes as
/// long as one for a known account.
pub fn dummy_hash() -> &'static str {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        let mut secret = [0u8; 24];
        // Without randomness the dummy is still a hash of something; it is never
        // meant to match.
        let _ = getrandom::fill(&mut secret);
        hash_password(&URL_SAFE_NO_PAD.encode(secret)).unwrap_or_default()
    });
    &DUMMY
}

/// 32 random bytes in base64url: a session id or a CSRF token.
pub fn random_token() -> Result<String, PasswordError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| PasswordError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a session id: its SHA-256.
pub fn session_hash(session: &str) -> [u8; 32] {
    Sha256::digest(session.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
        assert!(dummy_hash().starts_with("$argon2id$"));
        assert!(!verify_password("", dummy_hash()));
    }

    #[test]
    fn short_and_empty_passwords_are_refused() {
        assert!(matches!(check_password(""), Err(PasswordError::Empty)));
        assert!(matches!(
            check_password("123456789"),
            Err(PasswordError::TooShort)
        ));
        assert!(check_password("1234567890").is_ok());
        // Characters, not bytes.
        assert!(matches!(
            check_password("ééééé"),
            Err(PasswordError::TooShort)
        ));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(session_hash(&a), session_hash(&a));
        assert_ne!(session_hash(&a), session_hash(&b));
    }
}

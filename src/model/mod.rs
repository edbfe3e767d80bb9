//! Plain data shared by every other module: articles, audiences, subscribers (and
//! why an address is refused), what a digest lists, the outbox's rows, how logs name a
//! recipient, the running instances, and the errors attached to store files. No I/O
//! and no dependencies on other crier modules: every other module may use this one.

mod address_log;
mod article;
mod audience;
mod bounce;
mod digest;
mod edition;
mod instance;
mod outbox;
mod subscriber;

pub use address_log::AddressLog;
pub use article::{Article, Block, Format, Section, SectionKind, Unmatched};
pub use audience::Audience;
pub use bounce::{BounceEvent, NewBounceEvent};
pub use digest::{Group, Heading, Listed, PlannedArticle};
pub use edition::{
    ARCHIVE_PATH, EVERYTHING_RANK, Edition, EditionArticle, UNKNOWN_RANK, archive_path,
    edition_path,
};
pub use instance::Instance;
pub use outbox::{
    ComposeError, Content, MessageIds, NewContent, NewMessage, OutboxRow, OutboxStatus,
};
pub use subscriber::{
    AddressError, Consent, NameError, OnConfirm, OnSignUp, Refusal, Source, Status, Subscriber,
    clean_name, forbidden_in_name, normalize_email, sanitize_name,
};

use serde::Serialize;

/// A problem with one file of the article store, in words its writer understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// Path relative to the store root, with `/` separators.
    pub file: String,
    /// 1-based line number, when the problem sits on one line.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Bytes as lowercase hex, two digits each: how crier writes digests, ETags and
/// secrets.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Turns any text into a URL slug: lowercase ASCII letters and digits, with every run
/// of other characters folded into one hyphen ("Deep dive" → `deep-dive`).
pub fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut pending_hyphen = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if pending_hyphen && !slug.is_empty() {
                slug.push('-');
            }
            pending_hyphen = false;
            slug.push(c);
        } else {
            pending_hyphen = true;
        }
    }
    slug
}

/// The reserved audience a subscriber chooses to get every article, those that match
/// no audience included (under a "More" heading). No taxonomy may define it.
pub const EVERYTHING: &str = "everything";

/// The heading of the articles that match none of an Everything subscriber's audiences.
pub const EVERYTHING_MORE: &str = "More";

/// Whether text is already a slug: lowercase letters, digits and single inner hyphens.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::{hex, is_slug, slugify};

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0xab, 0x10, 0xff]), "00ab10ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn slugs_are_checked() {
        assert!(is_slug("a-1"));
        for bad in ["", "A", "-a", "a-", "a--b", "a b", "a_b"] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn slugify_folds_runs_and_trims() {
        assert_eq!(slugify("Deep dive"), "deep-dive");
        assert_eq!(slugify("  R&D -- Pricing!  "), "r-d-pricing");
        assert_eq!(
            slugify("2026-05-14-klarna_Brief"),
            "2026-05-14-klarna-brief"
        );
        assert_eq!(slugify("Café"), "caf");
        assert_eq!(slugify("···"), "");
    }
}

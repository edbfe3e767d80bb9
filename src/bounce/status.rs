//! What a failure means for the address: hard (never mail it again) or soft
//! (counted; the service bounces the subscriber after `soft_limit` of them).
//!
//! The enhanced status code (RFC 3463) decides first, the words of the diagnostic
//! second:
//! - `4.x.x` is soft.
//! - `5.1.x` (bad address, bad domain, moved, null MX), `5.2.1` (mailbox
//!   disabled), `5.4.4` (no route to the domain), `5.7.17` and `5.7.18` (mailbox or
//!   domain has a new owner) are hard.
//! - `5.2.2` (mailbox full), `5.2.3` (message too big), `5.3.4`, `5.4.7` (gave up
//!   after retrying), other `5.4.x` (routing), `5.6.x` (content) and `5.7.x`
//!   (policy: reputation, authentication, spam filters) are soft unless the
//!   diagnostic says the address does not exist. A policy block tells more about
//!   the sender than about the address (Gmail's `5.7.26` DMARC rejection,
//!   Outlook.com's `5.7.515`): suppressing the subscriber for it would punish them
//!   for our mistake, and a block that lasts still reaches the soft limit. Sisimai,
//!   the most complete bounce classifier, counts these as soft bounces as well;
//!   listmonk takes every `5.x.x` as hard.
//! - Any other `5.x.x` (`5.0.0`, `5.5.0`, …) is hard unless the diagnostic says the
//!   mailbox is full or names a policy block.
//! - Without a code, the words decide; a failure they do not explain is soft.
//!
//! A full mailbox is soft whatever the code (many servers answer it with `552` or
//! `5.0.0`).

use super::Kind;
use super::text::contains_any;

/// Words of a diagnostic saying the mailbox is full (lower case).
const MAILBOX_FULL: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "mailbox is over",
    "over quota",
    "overquota",
    "quota exceeded",
    "exceeded storage",
    "exceeded its quota",
    "exceeds quota",
    "insufficient storage",
    "insufficient system storage",
    "storage full",
    "mailbox size limit",
    "out of storage",
    "inbox is full",
];

/// Words saying the address does not exist or will never take mail.
const NO_SUCH_ADDRESS: &[&str] = &[
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "no such user",
    "no such recipient",
    "no such mailbox",
    "no such address",
    "does not exist",
    "doesn't exist",
    "does not have an account",
    "doesn't have a",
    "address not found",
    "address couldn't be found",
    "address could not be found",
    "couldn't be found",
    "recipient not found",
    "recipientnotfound",
    "mailbox not found",
    "mailbox unavailable",
    "invalid recipient",
    "invalid mailbox",
    "invalid address",
    "bad destination mailbox",
    "account disabled",
    "account has been disabled",
    "account is disabled",
    "mailbox disabled",
    "mailbox is disabled",
    "account closed",
    "not a valid mailbox",
    "no mailbox here",
    "unrouteable address",
    "host or domain name not found",
    "domain not found",
    "nxdomain",
    "name or service not known",
];

/// Words saying the receiver refused the sender, not the address.
const POLICY: &[&str] = &[
    "spam",
    "blocked",
    "blacklist",
    "blocklist",
    "denylist",
    "reputation",
    "policy",
    "dmarc",
    "spf",
    "dkim",
    "rate limit",
    "ratelimit",
    "too many",
    "try again later",
    "temporarily",
    "unsolicited",
    "not authorized to send",
];

/// Whether `lower` (a lower-cased diagnostic) says the mailbox is full.
pub fn says_full(lower: &str) -> bool {
    contains_any(lower, MAILBOX_FULL)
}

/// Whether `lower` says the address does not exist.
pub fn says_no_such_address(lower: &str) -> bool {
    contains_any(lower, NO_SUCH_ADDRESS)
}

/// `(class, subject, detail)` of a status like `5.1.10`.
pub fn parts(status: &str) -> Option<(u8, u16, u16)> {
    let mut it = status.trim().splitn(3, '.');
    let class = it.next()?.parse().ok()?;
    let subject = it.next()?.parse().ok()?;
    let detail = it.next()?.parse().ok()?;
    Some((class, subject, detail))
}

/// Hard or soft, for a delivery that failed with `status` (if any) and the
/// diagnostic `text` (if any). See the module's documentation.
pub fn failure_kind(status: Option<&str>, text: &str) -> Kind {
    let lower = text.to_lowercase();
    if says_full(&lower) {
        return Kind::Soft;
    }
    let Some((class, subject, detail)) = status.and_then(parts) else {
        return if says_no_such_address(&lower) {
            Kind::Hard
        } else {
            Kind::Soft
        };
    };
    match (class, subject, detail) {
        (4, _, _) => Kind::Soft,
        (5, 1, _) | (5, 2, 1) | (5, 4, 4) | (5, 7, 17) | (5, 7, 18) => Kind::Hard,
        (5, 2, 2) | (5, 2, 3) | (5, 3, 4) | (5, 4, _) | (5, 6, _) | (5, 7, _) => {
            if says_no_such_address(&lower) {
                Kind::Hard
            } else {
                Kind::Soft
            }
        }
        (5, _, _) => {
            if !says_no_such_address(&lower) && contains_any(&lower, POLICY) {
                Kind::Soft
            } else {
                Kind::Hard
            }
        }
        // A failure reported with a success or unknown class: the words decide.
        _ => {
            if says_no_such_address(&lower) {
                Kind::Hard
            } else {
                Kind::Soft
            }
        }
    }
}

/// Hard or soft for a reply code without an enhanced status (`550`, `452`).
pub fn reply_kind(code: u16, text: &str) -> Kind {
    let class = if code >= 500 { "5.0.0" } else { "4.0.0" };
    failure_kind(Some(class), text)
}

/// A few words for a status, when a report gives no diagnostic of its own.
pub fn describe(status: &str) -> &'static str {
    match parts(status) {
        Some((_, 1, 1)) => "bad destination mailbox address",
        Some((_, 1, 2)) => "bad destination system address",
        Some((_, 1, 3)) => "bad destination mailbox address syntax",
        Some((_, 1, 6)) => "destination mailbox has moved",
        Some((_, 1, 10)) => "recipient address has null MX",
        Some((_, 2, 1)) => "mailbox disabled, not accepting messages",
        Some((_, 2, 2)) => "mailbox full",
        Some((_, 2, 3)) => "message length exceeds administrative limit",
        Some((_, 3, 4)) => "message too big for system",
        Some((_, 4, 1)) => "no answer from host",
        Some((_, 4, 4)) => "unable to route",
        Some((_, 4, 7)) => "delivery time expired",
        Some((_, 7, 1)) => "delivery not authorized, message refused",
        Some((2, _, _)) => "delivered",
        Some((4, _, _)) => "temporary failure",
        Some((5, _, _)) => "permanent failure",
        _ => "delivery failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_decide_first() {
        assert_eq!(failure_kind(Some("4.4.1"), "no answer"), Kind::Soft);
        assert_eq!(failure_kind(Some("4.1.1"), "user unknown"), Kind::Soft);
        assert_eq!(failure_kind(Some("5.1.1"), ""), Kind::Hard);
        assert_eq!(
            failure_kind(Some("5.1.10"), "RecipientNotFound"),
            Kind::Hard
        );
        assert_eq!(failure_kind(Some("5.2.1"), "account disabled"), Kind::Hard);
        assert_eq!(failure_kind(Some("5.4.4"), ""), Kind::Hard);
        assert_eq!(failure_kind(Some("5.7.18"), ""), Kind::Hard);
    }

    #[test]
    fn a_full_mailbox_is_soft_whatever_the_code() {
        assert_eq!(failure_kind(Some("5.2.2"), ""), Kind::Soft);
        assert_eq!(
            failure_kind(Some("5.0.0"), "552 Mailbox is full"),
            Kind::Soft
        );
        assert_eq!(failure_kind(None, "user is over quota"), Kind::Soft);
        assert_eq!(
            reply_kind(552, "Requested mailbox exceeds quota"),
            Kind::Soft
        );
    }

    #[test]
    fn policy_blocks_are_soft_unless_the_address_is_gone() {
        assert_eq!(
            failure_kind(Some("5.7.1"), "rejected by policy"),
            Kind::Soft
        );
        assert_eq!(
            failure_kind(Some("5.7.26"), "unauthenticated email (DMARC)"),
            Kind::Soft
        );
        assert_eq!(failure_kind(Some("5.7.515"), "access denied"), Kind::Soft);
        assert_eq!(
            failure_kind(Some("5.7.1"), "550 5.7.1 unknown user"),
            Kind::Hard
        );
        assert_eq!(failure_kind(Some("5.4.7"), "delivery expired"), Kind::Soft);
        assert_eq!(
            failure_kind(Some("5.4.1"), "Recipient address rejected: user unknown"),
            Kind::Hard
        );
    }

    #[test]
    fn other_permanent_codes_are_hard_unless_the_words_say_policy() {
        assert_eq!(failure_kind(Some("5.0.0"), "undeliverable"), Kind::Hard);
        assert_eq!(
            failure_kind(Some("5.5.0"), "mailbox unavailable"),
            Kind::Hard
        );
        assert_eq!(
            failure_kind(Some("5.0.0"), "message blocked as spam"),
            Kind::Soft
        );
        assert_eq!(
            reply_kind(554, "delivery error: dd This user doesn't have a account"),
            Kind::Hard
        );
        assert_eq!(reply_kind(421, "try again"), Kind::Soft);
    }

    #[test]
    fn without_a_code_the_words_decide() {
        assert_eq!(failure_kind(None, "No such user here"), Kind::Hard);
        assert_eq!(failure_kind(None, "connection timed out"), Kind::Soft);
        assert_eq!(failure_kind(Some("garbage"), "no such user"), Kind::Hard);
        assert_eq!(failure_kind(Some("2.0.0"), "odd"), Kind::Soft);
    }

    #[test]
    fn statuses_split_and_describe() {
        assert_eq!(parts("5.1.10"), Some((5, 1, 10)));
        assert_eq!(parts("5.1"), None);
        assert_eq!(parts("5.x.1"), None);
        assert_eq!(describe("5.2.2"), "mailbox full");
        assert_eq!(describe("4.9.9"), "temporary failure");
        assert_eq!(describe("nonsense"), "delivery failed");
    }
}

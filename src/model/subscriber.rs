use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a subscriber stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Signed up, not yet confirmed: gets the confirmation email only.
    Pending,
    Active,
    Unsubscribed,
    /// A permanent delivery failure.
    Bounced,
    /// Marked a message as spam.
    Complained,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Active,
        Status::Unsubscribed,
        Status::Bounced,
        Status::Complained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Unsubscribed => "unsubscribed",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// What a web sign-up may do to a record in this state. A sign-up proves nothing
    /// about who typed the address, so it never changes the record itself: at most
    /// its choices wait beside it until the owner confirms them by mail.
    pub fn on_sign_up(self) -> OnSignUp {
        match self {
            // Their choices are changed through their own preferences link.
            Status::Active => OnSignUp::Nothing,
            // No mail to an address that bounced for good or called ours spam; an admin
            // can lift this by setting the status to `unsubscribed`.
            Status::Bounced | Status::Complained => OnSignUp::Refuse,
            Status::Pending | Status::Unsubscribed => OnSignUp::HoldUntilConfirmed,
        }
    }
}

/// See [`Status::on_sign_up`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignUp {
    Nothing,
    Refuse,
    HoldUntilConfirmed,
}

impl Status {
    /// What a confirmation link may do to a record in this state; `held` says whether
    /// a sign-up's choices wait beside it.
    pub fn on_confirm(self, held: bool) -> OnConfirm {
        match self {
            Status::Active => OnConfirm::Nothing,
            Status::Pending => OnConfirm::Activate,
            // One who left comes back only through a sign-up they confirm.
            Status::Unsubscribed if held => OnConfirm::Activate,
            Status::Unsubscribed | Status::Bounced | Status::Complained => OnConfirm::Refuse,
        }
    }
}

impl Status {
    /// Whether someone who asks for a link to this record's preferences (typing its
    /// address, as anyone could) gets one by mail. One who left may want back in; an
    /// address that bounced for good or called ours spam gets no mail at all.
    pub fn may_be_sent_a_link(self) -> bool {
        match self {
            Status::Pending | Status::Active | Status::Unsubscribed => true,
            Status::Bounced | Status::Complained => false,
        }
    }
}

/// See [`Status::on_confirm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConfirm {
    /// Already active: the record stays as it is.
    Nothing,
    /// The held choices (if any) move into the record, which becomes active.
    Activate,
    /// The link no longer confirms anything.
    Refuse,
}

/// How consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Form,
    Api,
    Import,
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Form => "form",
            Source::Api => "api",
            Source::Import => "import",
            Source::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        [Source::Form, Source::Api, Source::Import, Source::Cli]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The record that shows a subscriber asked for the mail (GDPR Art. 7(1)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub at: DateTime<Utc>,
    pub source: Source,
    /// For web sign-ups: the client's address and user agent.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The version of the consent text the person saw.
    pub text_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: i64,
    /// Normalised: trimmed and lowercased.
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
    /// Audience slugs of the taxonomy, sorted.
    pub audiences: Vec<String>,
    /// The name of a digest schedule (`daily`, `weekly`).
    pub frequency: String,
    /// An IANA time zone name.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    pub consent: Consent,
}

/// Checks an email address and returns it in the one form crier stores and sends to:
/// the bare addr-spec of RFC 5321, lowercased, with an internationalised domain in its
/// ASCII (punycode) form. Every way in (the forms, the API, the CLI, CSV imports)
/// goes through here, so what is stored can always be put in an envelope.
///
/// Refused, each with an [`AddressError`] that says why: a display name or angle brackets
/// (`Ada <ada@example.org>`), white space or control characters anywhere, a quoted
/// local part (`"john..doe"@…`), dots at either end of the local part or two in a
/// row, a non-ASCII local part (it needs SMTPUTF8, which crier does not speak), a
/// domain literal (`[127.0.0.1]`) or a domain without a dot, and anything past the
/// RFC 5321 lengths (64 octets before the `@`, 254 in all).
pub fn normalize_email(raw: &str) -> Result<String, AddressError> {
    let trimmed = raw.trim();
    let bad = |reason: Refusal| {
        Err(AddressError::Invalid {
            shown: trimmed.chars().map(visible).take(80).collect(),
            reason,
        })
    };
    if trimmed.is_empty() {
        return Err(AddressError::Empty);
    }
    if trimmed.contains(['<', '>']) {
        return bad(Refusal::NameOrBrackets);
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return bad(Refusal::Contains(c));
    }
    let Some((local, domain)) = trimmed.rsplit_once('@') else {
        return bad(Refusal::NoAt);
    };
    if local.is_empty() {
        return bad(Refusal::NothingBeforeAt);
    }
    if local.starts_with('"') {
        return bad(Refusal::Quoted);
    }
    if !local.is_ascii() {
        return bad(Refusal::NonAsciiLocal);
    }
    if let Some(c) = local.chars().find(|&c| !is_atext(c) && c != '.') {
        return bad(Refusal::CharBeforeAt(c));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad(Refusal::Dots);
    }
    if local.len() > 64 {
        return bad(Refusal::LocalTooLong);
    }
    if domain.starts_with('[') {
        return bad(Refusal::IpLiteral);
    }
    let domain = match idna::domain_to_ascii_strict(domain) {
        Ok(ascii) => ascii,
        Err(_) => return bad(Refusal::BadDomain),
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return bad(Refusal::NoDot);
    }
    if labels.iter().any(|l| {
        l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }) || labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad(Refusal::BadDomain);
    }
    let email = format!("{}@{domain}", local.to_ascii_lowercase());
    if email.len() > 254 {
        return Err(AddressError::TooLong);
    }
    Ok(email)
}

/// Why [`normalize_email`] refused an address; the message says so to the person who
/// typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than 254 characters")]
    TooLong,
    /// `shown` is the address as typed, cut to 80 characters, with line breaks and
    /// control characters replaced so that it can be echoed back.
    #[error("`{shown}` is not a valid email address ({reason})")]
    Invalid { shown: String, reason: Refusal },
}

/// What is wrong with an address that is there but not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("write the address alone, without a name or angle brackets")]
    NameOrBrackets,
    #[error("it contains {}", describe(*.0))]
    Contains(char),
    #[error("it has no @")]
    NoAt,
    #[error("nothing comes before the @")]
    NothingBeforeAt,
    #[error("quoted addresses are not accepted")]
    Quoted,
    /// It would need SMTPUTF8, which crier does not speak.
    #[error("crier can only send to addresses whose part before the @ is plain ASCII")]
    NonAsciiLocal,
    #[error("`{0}` cannot stand before the @")]
    CharBeforeAt(char),
    #[error("dots before the @ cannot come first, last or two in a row")]
    Dots,
    #[error("the part before the @ is longer than 64 characters")]
    LocalTooLong,
    #[error("addresses at an IP address are not accepted")]
    IpLiteral,
    #[error("the part after the @ is not a valid domain name")]
    BadDomain,
    #[error("the domain needs a dot")]
    NoDot,
}

/// RFC 5322's `atext`: what a dot-atom may hold besides its dots.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Characters that have no place in a one-line display name: C0 and C1 controls,
/// DEL, and the Unicode line and paragraph separators.
pub fn forbidden_in_name(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Checks a subscriber's name as typed: trimmed, `None` when empty, at most 200
/// characters, and refused when it holds a line break or another control character
/// (it ends up in the `To:` header of every message).
pub fn clean_name(raw: Option<&str>) -> Result<Option<String>, NameError> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if let Some(forbidden) = name.chars().find(|&c| forbidden_in_name(c)) {
        return Err(NameError { forbidden });
    }
    Ok(Some(name.chars().take(200).collect()))
}

/// Why [`clean_name`] refused a name: the first character in it that no name may hold
/// (see [`forbidden_in_name`]). The message names it by its code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the name contains {}; write it on one line, without control characters",
    describe(*.forbidden)
)]
pub struct NameError {
    pub forbidden: char,
}

/// A name made safe whatever it holds: every forbidden character becomes a space,
/// runs of white space fold into one. For names stored before they were checked.
pub fn sanitize_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for word in name
        .split(|c: char| forbidden_in_name(c) || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

/// How a character is named in an error message.
fn describe(c: char) -> String {
    match c {
        '\r' | '\n' | '\u{2028}' | '\u{2029}' => format!("a line break (U+{:04X})", c as u32),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c => format!("white space (U+{:04X})", c as u32),
    }
}

/// A character as it may be echoed back in a message.
fn visible(c: char) -> char {
    if forbidden_in_name(c) { '\u{FFFD}' } else { c }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_records_and_held_sign_ups_confirm() {
        assert_eq!(Status::Pending.on_confirm(false), OnConfirm::Activate);
        assert_eq!(Status::Active.on_confirm(true), OnConfirm::Nothing);
        assert_eq!(Status::Unsubscribed.on_confirm(true), OnConfirm::Activate);
        assert_eq!(Status::Unsubscribed.on_confirm(false), OnConfirm::Refuse);
        for status in [Status::Bounced, Status::Complained] {
            assert_eq!(status.on_confirm(true), OnConfirm::Refuse, "{status:?}");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.ORG ").unwrap(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@localhost",
            "a b@example.org",
            "ada@[127.0.0.1]",
            // A display name, or a header smuggled in through one.
            "Ada <ada@example.org>",
            "x\r\nbcc: a@evil <victim@example.org>",
            "ada\r\n@example.org",
            "ada\0@example.org",
            // What passed before and then failed at send time.
            "\"john..doe\"@example.org",
            "john..doe@example.org",
            ".ada@example.org",
            "ada.@example.org",
            "zoë@example.org",
            "ada@example..org",
            "ada@-example.org",
            "ada@example.123",
            "ada@exa_mple.org",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert!(normalize_email(&long_local).is_err());
        assert!(normalize_email(&format!("{}@example.org", "a".repeat(64))).is_ok());
        let long = format!("a@{}org", format!("{}.", "b".repeat(60)).repeat(5));
        assert!(normalize_email(&long).is_err());
        // RFC 5322 atext other than letters and digits is fine.
        assert_eq!(
            normalize_email("o'Brien+news@Example.org").unwrap(),
            "o'brien+news@example.org"
        );
    }

    #[test]
    fn internationalised_domains_are_stored_as_punycode() {
        assert_eq!(
            normalize_email("ada@Bücher.example").unwrap(),
            "ada@xn--bcher-kva.example"
        );
        assert_eq!(
            normalize_email("ada@xn--bcher-kva.example").unwrap(),
            "ada@xn--bcher-kva.example"
        );
    }

    #[test]
    fn error_messages_say_why_and_never_echo_a_line_break() {
        let e = normalize_email("x\r\nbcc: a@evil.org")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line break (U+000D)"), "{e}");
        assert!(!e.contains('\r') && !e.contains('\n'), "{e:?}");
        let e = normalize_email("zoë@example.org").unwrap_err();
        assert!(
            matches!(
                e,
                AddressError::Invalid {
                    reason: Refusal::NonAsciiLocal,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(e.contains("plain ASCII"), "{e}");
        assert_eq!(
            normalize_email(" ").unwrap_err().to_string(),
            "the email address is empty"
        );
        assert_eq!(
            normalize_email("ada.example.org").unwrap_err().to_string(),
            "`ada.example.org` is not a valid email address (it has no @)"
        );
    }

    #[test]
    fn names_with_control_characters_are_refused_or_cleaned() {
        assert_eq!(
            clean_name(Some("  Ada Lovelace ")).unwrap().as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(clean_name(Some("   ")).unwrap(), None);
        assert_eq!(clean_name(None).unwrap(), None);
        assert_eq!(
            clean_name(Some("Zoë 🦊")).unwrap().as_deref(),
            Some("Zoë 🦊")
        );
        for bad in [
            "Ada\r\nBcc: x@evil.org",
            "Ada\0",
            "A\tB",
            "A\u{7f}",
            "A\u{85}B",
            "A\u{2028}B",
        ] {
            let e = clean_name(Some(bad)).unwrap_err();
            assert!(forbidden_in_name(e.forbidden), "{bad:?}: {e}");
            assert!(e.to_string().contains("U+"), "{bad:?}: {e}");
        }
        assert_eq!(
            clean_name(Some("Ada\r\nBcc: x@evil.org"))
                .unwrap_err()
                .to_string(),
            "the name contains a line break (U+000D); write it on one line, without \
             control characters"
        );
        assert_eq!(
            clean_name(Some(&"x".repeat(500))).unwrap().unwrap().len(),
            200
        );
        assert_eq!(
            sanitize_name("Ada\r\nBcc:\0 x").as_deref(),
            Some("Ada Bcc: x")
        );
        assert_eq!(sanitize_name("\r\n\u{2029}"), None);
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("gone"), None);
    }
}

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

/// Checks and normalises an email address: trimmed, lowercased, and valid per
/// RFC 5322's addr-spec as the `email_address` crate reads it.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("the email address is empty".into());
    }
    if email.len() > 254 {
        return Err("the email address is longer than 254 characters".into());
    }
    let parsed: email_address::EmailAddress = email
        .parse()
        .map_err(|e| format!("`{}` is not a valid email address ({e})", raw.trim()))?;
    let domain = parsed.domain();
    if !domain.contains('.') || domain.starts_with('[') {
        return Err(format!(
            "`{}` is not a valid email address (the domain needs a dot)",
            raw.trim()
        ));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("gone"), None);
    }
}

//! `[subscribers]`: what a new subscriber starts with (time zone, frequency, consent
//! label) and how long a confirmation link works. The frequencies are the names of
//! the validated digests, so this section is checked after them.

use serde::Deserialize;

use super::{ConfigError, Digest, Origin};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribers {
    pub default_timezone: String,
    /// A label for the consent wording on the sign-up form, stored with each consent.
    pub consent_version: String,
    /// The frequencies a subscriber can choose: the names of the digest schedules.
    pub frequencies: Vec<String>,
    pub default_frequency: String,
    /// How long a confirmation link works.
    pub confirm_hours: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSubscribers {
    default_timezone: String,
    consent_version: String,
    default_frequency: Option<String>,
    confirm_hours: u32,
}

impl Default for RawSubscribers {
    fn default() -> Self {
        RawSubscribers {
            default_timezone: "UTC".into(),
            consent_version: "2026-11".into(),
            default_frequency: None,
            confirm_hours: 72,
        }
    }
}

impl RawSubscribers {
    pub(super) fn validate(
        self,
        origin: &Origin,
        digests: &[Digest],
    ) -> Result<Subscribers, ConfigError> {
        if self.default_timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(origin.invalid(
                "subscribers.default_timezone",
                format!(
                    "`{}` is not an IANA time zone like Europe/London",
                    self.default_timezone
                ),
            ));
        }
        let frequencies: Vec<String> = digests.iter().map(|d| d.name.clone()).collect();
        let default_frequency = self.default_frequency.unwrap_or_else(|| {
            frequencies
                .iter()
                .find(|f| *f == "weekly")
                .unwrap_or(&frequencies[0])
                .clone()
        });
        if !frequencies.contains(&default_frequency) {
            return Err(origin.invalid(
                "subscribers.default_frequency",
                format!("`{default_frequency}` is not one of the frequencies"),
            ));
        }
        if self.confirm_hours == 0 {
            return Err(origin.invalid("subscribers.confirm_hours", "must be at least 1"));
        }
        Ok(Subscribers {
            default_timezone: self.default_timezone,
            consent_version: self.consent_version,
            frequencies,
            default_frequency,
            confirm_hours: self.confirm_hours,
        })
    }
}

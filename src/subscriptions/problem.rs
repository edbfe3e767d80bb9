//! What is wrong with a request, one [`Problem`] per field: typed, so that the
//! subscriber pages can say it in plain words, while the API, the CLI and imports
//! show the precise text (`Display`) with the value that was refused.

use crate::model::{AddressError, NameError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error("`{0}` is not an audience")]
    UnknownAudience(String),
    #[error("choose at least one audience")]
    NoAudience,
    #[error("`{given}` is not a frequency (choose {})", .allowed.join(" or "))]
    UnknownFrequency { given: String, allowed: Vec<String> },
    #[error("`{0}` is not a time zone (like Europe/London)")]
    UnknownTimezone(String),
    #[error(transparent)]
    Name(#[from] NameError),
}

/// The texts of several problems, as [`super::SubscriptionError::Invalid`] carries them.
pub(super) fn texts(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

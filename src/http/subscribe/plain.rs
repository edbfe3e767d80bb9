//! What is wrong with a form, in plain words for the person who filled it in. The
//! services' messages name the value and the rule (`` `x@` is not a valid email
//! address (the domain needs a dot) ``), which suits the API and the CLI; a reader
//! gets a sentence that says what to do.

use crate::model::{AddressError, Refusal};
use crate::subscriptions::Problem;

pub(super) fn sentence(problem: &Problem) -> String {
    match problem {
        Problem::Address(AddressError::Empty) => "Please enter your email address.".into(),
        Problem::Address(AddressError::TooLong) => {
            "That email address is too long to be a real one. Please check it.".into()
        }
        Problem::Address(AddressError::Invalid { reason, .. }) => match reason {
            Refusal::NameOrBrackets => {
                "Please enter the address alone, like name@example.org, without a name or angle brackets."
                    .into()
            }
            Refusal::Contains(_) => {
                "That doesn't look like an email address: it has a space or a line break in it."
                    .into()
            }
            Refusal::NonAsciiLocal => {
                "We can only send to addresses whose part before the @ uses the letters a to z, digits and a few symbols."
                    .into()
            }
            Refusal::IpLiteral => {
                "Please use an address at a domain name, not at a numeric address.".into()
            }
            _ => "That doesn't look like an email address. Please check it: it should look like name@example.org."
                .into(),
        },
        Problem::UnknownAudience(_) => {
            "One of the audiences you chose is no longer offered. Please choose again.".into()
        }
        Problem::NoAudience => "Please choose at least one audience.".into(),
        Problem::UnknownFrequency { .. } => {
            "Please choose how often you want to hear from us.".into()
        }
        Problem::UnknownTimezone(_) => "Please choose a time zone from the list.".into(),
        Problem::Name(_) => {
            "Please write your name on one line, without special characters.".into()
        }
    }
}

pub(super) fn sentences(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(sentence).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::normalize_email;

    #[test]
    fn address_errors_read_without_parser_words() {
        for typed in [
            "",
            "ada",
            "ada@@",
            "Ada <ada@example.org>",
            "ada @example.org",
            "ada@localhost",
        ] {
            let error = normalize_email(typed).unwrap_err();
            let said = sentence(&Problem::Address(error));
            assert!(!said.contains('`'), "{typed}: {said}");
            assert!(!said.contains("U+"), "{typed}: {said}");
            assert!(said.ends_with('.'), "{typed}: {said}");
        }
        let error = normalize_email("ada@localhost").unwrap_err();
        assert_eq!(
            sentence(&Problem::Address(error)),
            "That doesn't look like an email address. Please check it: it should look like name@example.org."
        );
    }
}

//! The subscriber's pages: sign up, confirm (GET shows a button, only POST acts),
//! one-click unsubscribe (RFC 8058), and the preference page with data export and
//! erasure. All work without JavaScript and answer forged or expired links with an
//! error page that changes nothing.
//!
//! Each file does one job: [`forms`] reads requests, [`views`] renders pages, and
//! one file per page group holds its handlers, which only call `subscriptions`
//! and pick a view.

mod forms;
mod preferences;
mod sign_up;
mod unsubscribe;
mod views;

pub(super) use preferences::{data, preferences, preferences_action};
pub(super) use sign_up::{confirm, confirm_page, form, submit};
pub(super) use unsubscribe::{unsubscribe, unsubscribe_page};

//! The subscriber's pages: sign up, confirm (GET shows a button, only POST acts),
//! one-click unsubscribe (RFC 8058), and the preference page with data export and
//! erasure. All work without JavaScript and answer forged or expired links with an
//! error page that changes nothing.
//!
//! Each file does one job: [`forms`] reads requests, [`views`] renders pages,
//! [`choices`] lists what the forms offer, [`plain`] says what is wrong in plain
//! words, [`script`] serves the one script (the browser's time zone), and one file
//! per page group holds its handlers ([`lost`]: a fresh link for those without one),
//! which only call `subscriptions` and pick a view.

mod choices;
mod forms;
mod lost;
mod plain;
mod preferences;
mod script;
mod sign_up;
mod unsubscribe;
mod views;

pub use choices::ReaderPages;
pub(super) use preferences::{data, preferences, preferences_action};
pub(super) use script::{PATH as SCRIPT_PATH, timezone_script};
pub(super) use sign_up::{confirm, confirm_page, form, submit};
pub(super) use unsubscribe::{fewer, unsubscribe, unsubscribe_page};

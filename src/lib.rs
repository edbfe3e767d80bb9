//! crier: a newsletter and feed publisher daemon. See README.md for the tour;
//! each module's own docs say what it owns.

pub mod alive;
pub mod app;
pub mod articles;
pub mod audience;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cron;
pub mod delivery;
pub mod digest;
pub mod digests;
pub mod dir;
pub mod email;
pub mod feeds;
pub mod health;
pub mod http;
pub mod model;
pub mod recent;
pub mod scheduler;
pub mod site;
pub mod store;
pub mod subscriptions;
pub mod templates;
pub mod tokens;
pub mod work;

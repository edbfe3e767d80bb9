//! crier: a newsletter and feed publisher daemon. See README.md for the tour;
//! each module's own docs say what it owns.

pub mod app;
pub mod articles;
pub mod audience;
pub mod cli;
pub mod config;
pub mod model;

//! Scheduling: when digests fire (cron schedules on each subscriber's wall clock),
//! and the runner that plans, renders and queues them. The scheduler decides when to
//! look; the planner and the store decide what is due.

pub mod cron;
pub mod runner;

pub use runner::{DigestRunner, RunReport};

//! Scheduling: when digests fire (the `cron` schedules, evaluated on each
//! subscriber's wall clock), and the runner that plans, renders and queues them. The scheduler decides when to
//! look; the planner and the store decide what is due.

pub mod runner;

pub use runner::{DigestRunner, RunReport};

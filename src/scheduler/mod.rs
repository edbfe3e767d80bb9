//! Scheduling: when digests fire (cron schedules on each subscriber's wall clock).
//! The scheduler decides when to look; the planner and the store decide what is due.

pub mod cron;

//! Digests: which subscriber gets which new articles, grouped by audience. Pure: the
//! planner is handed the library, the subscribers, their previous runs and the time,
//! and gives back plans; the digests service (`crate::digests`) renders and queues
//! them. It must not use the store or email: what a plan lists
//! ([`crate::model::Group`]) is a model type, so rendering reads plans without
//! depending on the planner.

mod plan;

pub use plan::{FirstSeen, Plan, PlanInput, Planner, Planning, plan};

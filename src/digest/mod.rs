//! Digests: which subscriber gets which new articles, grouped by audience. Pure: the
//! planner is handed the library, the subscribers, their previous runs and the time,
//! and gives back plans; the digests service (`crate::digests`) renders and queues
//! them.

mod plan;

pub use plan::{Group, Listed, Plan, PlanInput, PlannedArticle, Planning, plan};

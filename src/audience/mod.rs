//! The audience taxonomy (`subscribers/audiences.toml`) and the matcher that
//! derives an article's audiences from its "Who should care" section.

mod matcher;
mod taxonomy;

pub use matcher::{Classification, Matcher};
pub use taxonomy::{Taxonomy, TaxonomyError};

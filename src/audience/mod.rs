//! The audience taxonomy (`subscribers/audiences.toml`) and the matcher that
//! derives an article's audiences from its "Who should care" section, and the
//! phrase that would let a sentence naming none name one.

mod matcher;
mod suggest;
mod taxonomy;

pub use matcher::{Classification, Matcher};
pub use suggest::{Suggester, Suggestion, suggest};
pub use taxonomy::{Taxonomy, TaxonomyError};

//! The article store: parsing files (pure), the immutable library snapshot, loading
//! a store folder and watching it for changes, and the audience report on a snapshot.

pub mod html;
pub mod library;
pub mod load;
pub mod parse;
pub mod report;
pub mod watch;

pub use library::{Category, Library};
pub use load::{ArticleStore, Limits};

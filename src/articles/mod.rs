//! The article store: parsing files (pure), the immutable library snapshot, loading
//! a store folder and watching it for changes.

pub mod html;
pub mod library;
pub mod load;
pub mod parse;
pub mod watch;

pub use library::{Category, Library};
pub use load::{ArticleStore, Limits};

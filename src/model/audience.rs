use serde::Serialize;

/// One audience of the taxonomy in `subscribers/audiences.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audience {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// Phrases that put an article in this audience when its "Who should care"
    /// section mentions them.
    pub phrases: Vec<String>,
}

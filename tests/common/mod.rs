//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crier::articles::{ArticleStore, Library};
use crier::audience::Taxonomy;
use crier::feeds::SiteMeta;
use crier::site::{Builder, Site};
use crier::templates::Templates;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_taxonomy() -> Arc<Taxonomy> {
    Arc::new(Taxonomy::load(&repo().join("subscribers/audiences.toml")).unwrap())
}

pub fn library(dir: &Path) -> Arc<Library> {
    Arc::new(ArticleStore::load(dir, demo_taxonomy()).unwrap().snapshot())
}

pub fn meta() -> SiteMeta {
    SiteMeta {
        title: "Fixture News".into(),
        description: "Briefs for tests.".into(),
        base_url: url::Url::parse("https://news.example.test/").unwrap(),
        author: "Fixture Desk".into(),
        author_email: Some("desk@news.example.test".into()),
        id_authority: "news.example.test".into(),
        id_date: "2026-01-01".into(),
        hub: None,
        limit: 50,
        ttl_minutes: 5,
    }
}

pub fn builder(meta: SiteMeta) -> Builder {
    Builder::new(meta, Arc::new(Templates::embedded()))
}

/// The time the test sites are rendered at: 2026-09-21T01:46:40Z.
pub fn render_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000)
}

pub fn site(dir: &Path) -> Site {
    builder(meta()).build(library(dir), render_time()).unwrap()
}

pub fn fixtures(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

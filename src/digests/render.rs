//! Rendering the distinct bodies of a run: each is handlebars work of a few
//! milliseconds, and a run for a large list has thousands, so they are spread over the
//! machine's cores on plain threads, outside the async runtime.

use std::sync::Arc;

use crate::email::render::{self, DigestParts, EmailContext};
use crate::model::{Group, Heading, NewContent};
use crate::templates::{TemplateError, Templates};

use super::RunError;

/// One distinct digest body: the same groups on the same local date.
#[derive(Clone)]
pub(super) struct Body {
    pub groups: Arc<Vec<Group>>,
    pub local_date: chrono::NaiveDate,
    pub more: usize,
    pub more_in: Arc<Vec<Heading>>,
}

/// What rendering a digest body needs, shared by the rendering threads.
pub(super) struct BodyRenderer {
    pub templates: Arc<Templates>,
    pub ctx: EmailContext,
    pub name: String,
    pub subject: Option<String>,
    pub site_url: String,
    /// Whether the digest's editions are in the public archive: then each email
    /// links to its own.
    pub archive: bool,
}

impl BodyRenderer {
    pub fn render(&self, body: &Body) -> Result<NewContent, TemplateError> {
        let archive_url = self.archive.then(|| {
            format!(
                "{}{}",
                self.site_url,
                crate::model::edition_path(&self.name, body.local_date)
            )
        });
        let parts = DigestParts {
            archive_url: archive_url.as_deref(),
            name: &self.name,
            subject: self.subject.as_deref(),
            local_date: body.local_date,
            groups: &body.groups,
            more: body.more,
            more_in: &body.more_in,
            site_url: &self.site_url,
        };
        render::digest(&self.templates, &self.ctx, &parts)
    }

    /// Renders the bodies in order, split over the machine's cores.
    pub fn render_all(&self, bodies: &[Body]) -> Result<Vec<NewContent>, RunError> {
        let threads = crate::work::cores();
        let per_thread = bodies.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let parts: Vec<_> = bodies
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|body| self.render(body))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(bodies.len());
            for part in parts {
                let rendered = part
                    .join()
                    .map_err(|_| RunError::Render("a rendering thread panicked".into()))??;
                all.extend(rendered);
            }
            Ok(all)
        })
    }
}

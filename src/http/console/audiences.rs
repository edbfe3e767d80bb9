//! The audiences page, `GET /admin/audiences`: the taxonomy with article and active
//! subscriber counts, the "Who should care" sentences that name no audience (each
//! with the phrase that would match it), and the articles no subscriber would get.
//! The report itself is `articles::report`'s, shared with `crier audiences`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::{Admin, Console, console_page, parts};
use crate::articles::report::{AudienceRow, UnmatchedSentence, audience_rows, unreached};
use crate::http::{People, Shared};
use crate::store::StoreError;

/// Sentences and articles listed at most; the page says how many more there are.
const LISTED: usize = 500;

#[derive(Serialize)]
struct Unreached {
    title: String,
    href: String,
    published: String,
    audiences: String,
}

#[derive(Serialize)]
struct AudiencesView<'a> {
    audiences: Vec<AudienceRow<'a>>,
    unmatched: Vec<UnmatchedSentence<'a>>,
    unmatched_total: usize,
    unreached: Vec<Unreached>,
    unreached_total: usize,
}

async fn audiences(State(state): State<Arc<Shared>>, admin: Admin) -> Response {
    let (people, console) = match parts(&state, &admin) {
        Ok(parts) => parts,
        Err(r) => return r,
    };
    match page(&state, &admin, people, console).await {
        Ok(response) => response,
        Err(e) => super::views::failed(&state, &admin, &e),
    }
}

async fn page(
    state: &Shared,
    admin: &Admin,
    people: &People,
    console: &Console,
) -> Result<Response, StoreError> {
    let active = people.subscriptions.store().active_by_audience().await?;
    let library = console.library.borrow().clone();
    let report = console.state.audiences.get(&library);
    let taxonomy = library.taxonomy();
    let sentences = report.unmatched();
    let unmatched_total = sentences.len();
    let sentences: Vec<UnmatchedSentence> = sentences.take(LISTED).collect();
    let missed = unreached(&library, &active);
    let view = AudiencesView {
        audiences: audience_rows(&library, &active),
        unmatched: sentences,
        unmatched_total,
        unreached_total: missed.len(),
        unreached: missed
            .iter()
            .take(LISTED)
            .map(|a| Unreached {
                title: a.title.clone(),
                href: people.meta.url(&crate::site::pages::article_path(a)),
                published: a.published.to_string(),
                audiences: a
                    .audiences
                    .iter()
                    .map(|s| taxonomy.get(s).map_or(s.as_str(), |a| a.name.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
    };
    Ok(console_page(
        state,
        Some(admin),
        "audiences/index",
        "Audiences",
        &view,
    ))
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/admin/audiences", get(audiences))
}

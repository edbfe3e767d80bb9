//! The console's subscribers pages: the list (search, filters, sort, pages), one
//! subscriber's record and the actions on it (`detail`), and the bulk actions on
//! the list's selection (`bulk`). Every change goes through the subscriptions
//! service, as the CLI's and the JSON API's do; the list is the store's one
//! subscriber query, the API's too.

mod bulk;
mod detail;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::views::console_page_with;
use super::{Admin, not_found};
use crate::http::{People, Shared};
use crate::model::{Status, Subscriber};
use crate::store::{SortBy, SubscriberQuery};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/subscribers", get(list))
        .route(
            "/admin/subscribers/bulk",
            get(bulk::confirm).post(bulk::apply),
        )
        .route(
            "/admin/subscribers/{id}",
            get(detail::show).post(detail::edit),
        )
        .route(
            "/admin/subscribers/{id}/unsubscribe",
            post(detail::unsubscribe),
        )
        .route("/admin/subscribers/{id}/confirmation", post(detail::resend))
        .route(
            "/admin/subscribers/{id}/erase",
            get(detail::erase_page).post(detail::erase),
        )
}

/// Rows per page of the list.
const PER_PAGE: u32 = 50;

/// The list's selection as its GET form sends it (and the bulk forms repeat it as
/// hidden fields). Empty fields mean "any"; values that mean nothing are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    page: String,
}

fn given(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

impl Filter {
    fn sort(&self) -> SortBy {
        SortBy::parse(&self.sort).unwrap_or_default()
    }

    /// Ascending when asked; by default A–Z for addresses and statuses, newest first
    /// for creation.
    fn ascending(&self) -> bool {
        match self.order.as_str() {
            "asc" => true,
            "desc" => false,
            _ => self.sort() != SortBy::Created,
        }
    }

    fn page(&self) -> u32 {
        self.page.trim().parse().unwrap_or(1).max(1)
    }

    pub(super) fn query(&self) -> SubscriberQuery {
        SubscriberQuery {
            q: self.q.trim().to_string(),
            status: Status::parse(self.status.trim()),
            audience: given(&self.audience),
            frequency: given(&self.frequency),
            sort: self.sort(),
            ascending: self.ascending(),
            page: self.page(),
            per_page: PER_PAGE,
        }
    }

    /// The selection's fields that are set, without the page: hidden fields of the
    /// bulk forms and the links that keep the selection.
    pub(super) fn fields(&self) -> Vec<Field> {
        [
            ("q", &self.q),
            ("status", &self.status),
            ("audience", &self.audience),
            ("frequency", &self.frequency),
            ("sort", &self.sort),
            ("order", &self.order),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            given(value).map(|value| Field {
                name: name.to_string(),
                value,
            })
        })
        .collect()
    }

    /// `/admin/subscribers?…` with the selection and `extra` pairs.
    pub(super) fn href(&self, extra: &[(&str, String)]) -> String {
        let mut pairs: Vec<(String, String)> = self
            .fields()
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect();
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/admin/subscribers".into()
        } else {
            format!("/admin/subscribers?{query}")
        }
    }

    /// The selection in words, for the confirmation pages.
    pub(super) fn describe(&self, people: &People) -> String {
        let query = self.query();
        let mut parts = Vec::new();
        if let Some(status) = query.status {
            parts.push(format!("status {}", status.as_str()));
        }
        if let Some(audience) = &query.audience {
            parts.push(format!("in {}", audience_name(people, audience)));
        }
        if let Some(frequency) = &query.frequency {
            parts.push(format!("on the {frequency} digest"));
        }
        if !query.q.is_empty() {
            parts.push(format!("matching “{}”", query.q));
        }
        if parts.is_empty() {
            "every subscriber".into()
        } else {
            format!("subscribers {}", parts.join(", "))
        }
    }
}

/// A form field to repeat, hidden.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Field {
    name: String,
    value: String,
}

/// An option of a `<select>` or a checkbox.
#[derive(Serialize)]
pub(super) struct Choice {
    value: String,
    label: String,
    selected: bool,
}

pub(super) fn audience_name(people: &People, slug: &str) -> String {
    people
        .subscriptions
        .taxonomy()
        .get(slug)
        .map_or_else(|| slug.to_string(), |a| a.name.clone())
}

pub(super) fn audience_choices(people: &People, chosen: &[String]) -> Vec<Choice> {
    people
        .subscriptions
        .taxonomy()
        .audiences()
        .iter()
        .map(|a| Choice {
            value: a.slug.clone(),
            label: a.name.clone(),
            selected: chosen.contains(&a.slug),
        })
        .collect()
}

fn choices<'a>(values: impl IntoIterator<Item = &'a str>, chosen: &str) -> Vec<Choice> {
    values
        .into_iter()
        .map(|v| Choice {
            value: v.to_string(),
            label: v.to_string(),
            selected: v == chosen,
        })
        .collect()
}

pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `1234567` as `1,234,567`.
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 subscriber", "2 subscribers".
pub(super) fn subscribers(n: u64) -> String {
    if n == 1 {
        "1 subscriber".into()
    } else {
        format!("{} subscribers", count(n))
    }
}

/// The subscriber pages' part of the state.
pub(super) fn people<'a>(state: &'a Shared, admin: &Admin) -> Result<&'a People, Response> {
    super::parts(state, admin).map(|(people, _)| people)
}

/// A store failure, logged; the page says only that it failed.
pub(super) fn broken(state: &Shared, admin: &Admin, e: impl std::fmt::Display) -> Response {
    tracing::error!("console subscribers: {e}");
    console_page_with(
        state,
        Some(admin),
        "message",
        "Error",
        None,
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({
            "heading": "Something went wrong",
            "paragraphs": ["The database could not answer; the log says why."],
            "link": {"href": "/admin/subscribers", "text": "Back to the subscribers"},
        }),
    )
}

#[derive(Serialize)]
struct Row {
    href: String,
    email: String,
    name: Option<String>,
    status: &'static str,
    audiences: String,
    frequency: String,
    created: String,
}

impl Row {
    fn new(people: &People, s: &Subscriber) -> Row {
        Row {
            href: format!("/admin/subscribers/{}", s.id),
            email: s.email.clone(),
            name: s.name.clone(),
            status: s.status.as_str(),
            audiences: s
                .audiences
                .iter()
                .map(|a| audience_name(people, a))
                .collect::<Vec<_>>()
                .join(", "),
            frequency: s.frequency.clone(),
            created: when(s.created_at),
        }
    }
}

#[derive(Serialize)]
struct ListView {
    csrf: String,
    q: String,
    statuses: Vec<Choice>,
    audiences: Vec<Choice>,
    frequencies: Vec<Choice>,
    sorts: Vec<Choice>,
    orders: Vec<Choice>,
    rows: Vec<Row>,
    total: String,
    summary: String,
    previous: Option<String>,
    next: Option<String>,
    fields: Vec<Field>,
    targets: Vec<Choice>,
}

/// What a `?done=` flag after a redirect says.
fn list_notice(done: &ListDone) -> Option<String> {
    let n = done.n.unwrap_or(0);
    Some(match done.done.as_deref()? {
        "erased" => {
            "The subscriber was erased; only a suppression hash of the address is kept.".into()
        }
        "add_audience" => format!("{} got the audience.", subscribers(n)),
        "remove_audience" => format!("{} left the audience.", subscribers(n)),
        "unsubscribe" => format!("{} unsubscribed.", subscribers(n)),
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
struct ListDone {
    done: Option<String>,
    n: Option<u64>,
}

async fn list(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Query(filter): Query<Filter>,
    Query(done): Query<ListDone>,
) -> Response {
    let people = match people(&state, &admin) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = filter.query();
    let page = match people.subscriptions.store().subscribers(&query).await {
        Ok(page) => page,
        Err(crate::store::StoreError::PageOutOfRange { .. }) => {
            return not_found(
                &state,
                Some(&admin),
                "There is no such page of subscribers.",
            );
        }
        Err(e) => return broken(&state, &admin, e),
    };
    let pages = page.total.div_ceil(u64::from(page.per_page)).max(1);
    let shown_from = u64::from(page.page - 1) * u64::from(page.per_page);
    let summary = if page.subscribers.is_empty() {
        format!(
            "Page {} of {}: no subscribers on this page.",
            page.page,
            count(pages)
        )
    } else {
        format!(
            "{}–{} of {}, page {} of {}.",
            count(shown_from + 1),
            count(shown_from + page.subscribers.len() as u64),
            count(page.total),
            count(u64::from(page.page)),
            count(pages)
        )
    };
    let link = |p: u32| filter.href(&[("page", p.to_string())]);
    let status_values = std::iter::once("").chain(Status::ALL.iter().map(|s| s.as_str()));
    let mut statuses = choices(status_values, query.status.map_or("", Status::as_str));
    statuses[0].label = "Any".into();
    let mut audiences = vec![Choice {
        value: String::new(),
        label: "Any".into(),
        selected: query.audience.is_none(),
    }];
    audiences.extend(audience_choices(people, query.audience.as_slice()));
    let settings = people.subscriptions.settings();
    let frequency_values =
        std::iter::once("").chain(settings.frequencies.iter().map(String::as_str));
    let mut frequencies = choices(frequency_values, query.frequency.as_deref().unwrap_or(""));
    frequencies[0].label = "Any".into();
    let sorts = SortBy::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str().into(),
            label: match s {
                SortBy::Created => "Created",
                SortBy::Email => "Address",
                SortBy::Status => "Status",
            }
            .into(),
            selected: *s == query.sort,
        })
        .collect();
    let orders = vec![
        Choice {
            value: "asc".into(),
            label: "Ascending (oldest, A–Z)".into(),
            selected: query.ascending,
        },
        Choice {
            value: "desc".into(),
            label: "Descending (newest, Z–A)".into(),
            selected: !query.ascending,
        },
    ];
    let view = ListView {
        csrf: admin.csrf().to_string(),
        q: query.q.clone(),
        statuses,
        audiences,
        frequencies,
        sorts,
        orders,
        rows: page
            .subscribers
            .iter()
            .map(|s| Row::new(people, s))
            .collect(),
        total: count(page.total),
        summary,
        previous: (page.page > 1).then(|| link(page.page - 1)),
        next: (u64::from(page.page) < pages).then(|| link(page.page + 1)),
        fields: filter.fields(),
        targets: audience_choices(people, &[]),
    };
    let notice = list_notice(&done);
    console_page_with(
        &state,
        Some(&admin),
        "subscribers/list",
        "Subscribers",
        notice.as_deref(),
        StatusCode::OK,
        &view,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_labels_its_inputs_and_keeps_the_selection_in_the_bulk_form() {
        let filter = Filter {
            q: "ada".into(),
            audience: "hr".into(),
            ..Filter::default()
        };
        let choice = |value: &str, selected| Choice {
            value: value.into(),
            label: value.to_uppercase(),
            selected,
        };
        let view = ListView {
            csrf: "tok".into(),
            q: "ada".into(),
            statuses: vec![choice("", true), choice("active", false)],
            audiences: vec![choice("", false), choice("hr", true)],
            frequencies: vec![choice("", true)],
            sorts: vec![choice("created", true)],
            orders: vec![choice("desc", true)],
            rows: vec![Row {
                href: "/admin/subscribers/7".into(),
                email: "ada@example.org".into(),
                name: Some("<Ada>".into()),
                status: "active",
                audiences: "HR teams".into(),
                frequency: "weekly".into(),
                created: "2026-01-01 00:00 UTC".into(),
            }],
            total: "1".into(),
            summary: "1–1 of 1, page 1 of 1.".into(),
            previous: None,
            next: Some(filter.href(&[("page", "2".into())])),
            fields: filter.fields(),
            targets: vec![choice("hr", false)],
        };
        let html = crate::http::console::views::render_body("subscribers/list", &view);
        for id in [
            "f-q",
            "f-status",
            "f-audience",
            "f-frequency",
            "f-sort",
            "f-order",
            "b-action",
            "b-target",
        ] {
            assert!(
                html.contains(&format!(r#"for="{id}""#)),
                "{id} has no label: {html}"
            );
            assert!(html.contains(&format!(r#"id="{id}""#)), "{id}: {html}");
        }
        assert!(html.contains(r#"<form class="filters" method="get" action="/admin/subscribers""#));
        assert!(
            html.contains(r#"<option value="hr" selected>HR</option>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="/admin/subscribers/7">ada@example.org</a>"#),
            "{html}"
        );
        assert!(html.contains("&lt;Ada&gt;"), "names are escaped: {html}");
        assert!(
            html.contains(
                r#"href="/admin/subscribers?q&#x3D;ada&amp;audience&#x3D;hr&amp;page&#x3D;2""#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"<form method="get" action="/admin/subscribers/bulk">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<input type="hidden" name="audience" value="hr">"#),
            "{html}"
        );
        assert!(!html.contains("style="), "no inline style: {html}");
    }

    #[test]
    fn counts_read_with_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(subscribers(1), "1 subscriber");
        assert_eq!(subscribers(1200), "1,200 subscribers");
    }

    #[test]
    fn a_filter_becomes_the_store_query_and_keeps_itself_in_links() {
        let filter = Filter {
            q: " ada ".into(),
            status: "active".into(),
            audience: "hr".into(),
            frequency: String::new(),
            sort: "email".into(),
            order: String::new(),
            page: "3".into(),
        };
        let query = filter.query();
        assert_eq!(query.q, "ada");
        assert_eq!(query.status, Some(Status::Active));
        assert_eq!(query.audience.as_deref(), Some("hr"));
        assert_eq!(query.frequency, None);
        assert_eq!(query.sort, SortBy::Email);
        assert!(query.ascending, "addresses read A–Z by default");
        assert_eq!(query.page, 3);
        assert_eq!(
            filter.href(&[("page", "4".into())]),
            "/admin/subscribers?q=ada&status=active&audience=hr&sort=email&page=4"
        );
        let junk = Filter {
            status: "nonsense".into(),
            page: "-1".into(),
            sort: "x".into(),
            ..Filter::default()
        };
        let query = junk.query();
        assert_eq!(
            (query.status, query.page, query.sort),
            (None, 1, SortBy::Created)
        );
        assert!(!query.ascending, "newest first by default");
        assert_eq!(Filter::default().href(&[]), "/admin/subscribers");
    }
}

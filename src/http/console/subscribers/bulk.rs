//! Bulk actions on the list's selection: add or remove an audience, unsubscribe,
//! export. The list's bulk form is a GET to a confirmation page that counts whom the
//! action will touch and repeats the selection as hidden fields; its POST runs the
//! action as one call of the subscriptions service (one store transaction), then
//! goes back to the list with the count. Export answers the POST with the CSV.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{Field, Filter, audience_name, broken, people, subscribers};
use crate::http::Shared;
use crate::http::console::views::console_page_with;
use crate::http::console::{Admin, CsrfForm};
use crate::subscriptions::{BulkAction, SubscriptionError};

/// The bulk form: the selection, the action and, for audiences, which one.
#[derive(Deserialize)]
pub(super) struct BulkForm {
    #[serde(flatten)]
    filter: Filter,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
}

/// What the form asks for.
enum Asked {
    Change(BulkAction),
    Export,
}

impl BulkForm {
    fn asked(&self) -> Option<Asked> {
        let target = self.target.trim().to_string();
        Some(match self.action.as_str() {
            "add_audience" if !target.is_empty() => Asked::Change(BulkAction::AddAudience(target)),
            "remove_audience" if !target.is_empty() => {
                Asked::Change(BulkAction::RemoveAudience(target))
            }
            "unsubscribe" => Asked::Change(BulkAction::Unsubscribe),
            "export" => Asked::Export,
            _ => return None,
        })
    }
}

#[derive(Serialize)]
struct ConfirmView {
    csrf: String,
    heading: String,
    explanation: String,
    count: u64,
    button: String,
    danger: bool,
    fields: Vec<Field>,
    action: String,
    target: String,
    back: String,
    errors: Vec<String>,
}

fn refused(state: &Shared, admin: &Admin, form: &BulkForm, problems: Vec<String>) -> Response {
    let view = ConfirmView {
        csrf: admin.csrf().to_string(),
        heading: "This bulk action cannot run".into(),
        explanation: String::new(),
        count: 0,
        button: String::new(),
        danger: false,
        fields: Vec::new(),
        action: String::new(),
        target: String::new(),
        back: form.filter.href(&[]),
        errors: problems,
    };
    console_page_with(
        state,
        Some(admin),
        "subscribers/bulk",
        "Bulk action",
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
        &view,
    )
}

const CHOOSE: &str = "Choose an action, and an audience to add or remove.";

/// The confirmation page: how many the action touches, and the form that runs it.
pub(super) async fn confirm(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Query(form): Query<BulkForm>,
) -> Response {
    let people = match people(&state, &admin) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(asked) = form.asked() else {
        return refused(&state, &admin, &form, vec![CHOOSE.into()]);
    };
    let query = form.filter.query();
    let selection = form.filter.describe(people);
    let counted = match &asked {
        Asked::Change(action) => people.subscriptions.bulk_count(&query, action).await,
        Asked::Export => people.subscriptions.count(&query).await,
    };
    let n = match counted {
        Ok(n) => n,
        Err(SubscriptionError::Invalid(problems)) => {
            return refused(&state, &admin, &form, problems);
        }
        Err(e) => return broken(&state, &admin, e),
    };
    let who = subscribers(n);
    let (heading, explanation, button, danger) = match &asked {
        Asked::Change(BulkAction::AddAudience(a)) => {
            let name = audience_name(people, a);
            (
                format!("Add {name} to {who}?"),
                format!("Of {selection}, {who} do not have {name} yet."),
                format!("Add {name}"),
                false,
            )
        }
        Asked::Change(BulkAction::RemoveAudience(a)) => {
            let name = audience_name(people, a);
            (
                format!("Remove {name} from {who}?"),
                format!(
                    "Of {selection}, {who} have {name} and another audience; \
                     anyone for whom it is the only one keeps it."
                ),
                format!("Remove {name}"),
                false,
            )
        }
        Asked::Change(BulkAction::Unsubscribe) => (
            format!("Unsubscribe {who}?"),
            format!(
                "Of {selection}, {who} are pending or active. They stop getting mail, \
                 their addresses are suppressed, and only a confirmed sign-up brings \
                 one back."
            ),
            format!("Unsubscribe {who}"),
            true,
        ),
        Asked::Export => (
            format!("Export {who}?"),
            format!("A CSV file of {selection}, in the list's order."),
            "Download the CSV".into(),
            false,
        ),
    };
    let view = ConfirmView {
        csrf: admin.csrf().to_string(),
        heading: heading.clone(),
        explanation,
        count: n,
        button,
        danger,
        fields: form.filter.fields(),
        action: form.action.clone(),
        target: form.target.clone(),
        back: form.filter.href(&[]),
        errors: Vec::new(),
    };
    console_page_with(
        &state,
        Some(&admin),
        "subscribers/bulk",
        &heading,
        None,
        StatusCode::OK,
        &view,
    )
}

/// Runs the confirmed action.
pub(super) async fn apply(
    State(state): State<Arc<Shared>>,
    CsrfForm(admin, form): CsrfForm<BulkForm>,
) -> Response {
    let people = match people(&state, &admin) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(asked) = form.asked() else {
        return refused(&state, &admin, &form, vec![CHOOSE.into()]);
    };
    let query = form.filter.query();
    let action = match asked {
        Asked::Export => {
            return match people.subscriptions.export_csv(&query).await {
                Ok(csv) => (
                    [
                        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                        (
                            header::CONTENT_DISPOSITION,
                            "attachment; filename=\"subscribers.csv\"",
                        ),
                    ],
                    csv,
                )
                    .into_response(),
                Err(e) => broken(&state, &admin, e),
            };
        }
        Asked::Change(action) => action,
    };
    match people
        .subscriptions
        .bulk_apply(&query, &action, "admin")
        .await
    {
        Ok(n) => Redirect::to(
            &form
                .filter
                .href(&[("done", form.action.clone()), ("n", n.to_string())]),
        )
        .into_response(),
        Err(SubscriptionError::Invalid(problems)) => refused(&state, &admin, &form, problems),
        Err(e) => broken(&state, &admin, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::console::views::render_body;

    #[test]
    fn the_confirmation_repeats_the_selection_and_counts() {
        let filter = Filter {
            q: "a\"b<".into(),
            status: "active".into(),
            ..Filter::default()
        };
        let view = ConfirmView {
            csrf: "tok".into(),
            heading: "Unsubscribe 12 subscribers?".into(),
            explanation: "Of subscribers status active, 12 are pending or active.".into(),
            count: 12,
            button: "Unsubscribe 12 subscribers".into(),
            danger: true,
            fields: filter.fields(),
            action: "unsubscribe".into(),
            target: String::new(),
            back: filter.href(&[]),
            errors: Vec::new(),
        };
        let html = render_body("subscribers/bulk", &view);
        assert!(
            html.contains(r#"<form method="post" action="/admin/subscribers/bulk">"#),
            "{html}"
        );
        assert!(html.contains(r#"name="csrf" value="tok""#), "{html}");
        assert!(html.contains(r#"name="q" value="a&quot;b&lt;""#), "{html}");
        assert!(html.contains(r#"name="status" value="active""#), "{html}");
        assert!(
            html.contains(r#"name="action" value="unsubscribe""#),
            "{html}"
        );
        assert!(html.contains("Unsubscribe 12 subscribers?"), "{html}");
        assert!(html.contains(r#"class="danger""#), "{html}");
        // Nothing to touch: no button at all.
        let none = ConfirmView { count: 0, ..view };
        let html = render_body("subscribers/bulk", &none);
        assert!(!html.contains("<form"), "{html}");
        assert!(html.contains("Nothing to do"), "{html}");
    }
}

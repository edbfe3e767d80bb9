//! One subscriber: the consent record, the current choices (editable), every message
//! queued for them with its status and Message-ID, their audit trail with bounces
//! and complaints; and the actions on them (edit, unsubscribe, resend the
//! confirmation, erase after a confirmation page), each through the subscriptions
//! service. A change redirects back with a `?done=` flag that the page reads out.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{Choice, audience_choices, audience_name, broken, people, when};
use crate::http::console::views::console_page_with;
use crate::http::console::{Admin, CsrfForm, not_found};
use crate::http::{People, Shared};
use crate::model::{Status, Subscriber};
use crate::store::SubscriberChanges;
use crate::subscriptions::SubscriptionError;

/// Messages and events shown on the page, newest first.
const SHOWN: usize = 200;

/// The subscriber `id` names, or the page that says there is none.
async fn find<'a>(
    state: &'a Shared,
    admin: &Admin,
    id: i64,
) -> Result<(&'a People, Subscriber), Response> {
    let people = people(state, admin)?;
    match people.subscriptions.store().subscriber_by_id(id).await {
        Ok(Some(s)) => Ok((people, s)),
        Ok(None) => Err(not_found(
            state,
            Some(admin),
            "No subscriber has that number; they may have been erased.",
        )),
        Err(e) => Err(broken(state, admin, e)),
    }
}

#[derive(Serialize)]
struct Delivery {
    id: i64,
    /// What came back for it, if anything did: `hard`, `soft`, `complaint` …
    bounce: Option<String>,
    kind: String,
    status: &'static str,
    failed: bool,
    message_id: String,
    attempts: u32,
    created: String,
    sent: Option<String>,
    last_error: Option<String>,
}

#[derive(Serialize)]
struct Event {
    kind: String,
    detail: Option<String>,
    at: String,
    /// A bounce or a complaint, which the page marks.
    trouble: bool,
}

/// A bounce event: what came back, through which door, and what it did.
#[derive(Serialize)]
struct BounceRow {
    at: String,
    kind: String,
    source: String,
    action: String,
    status: Option<String>,
    reason: String,
    message: Option<i64>,
    /// A hard bounce or a complaint, which the page marks.
    trouble: bool,
}

#[derive(Serialize)]
struct DetailView {
    csrf: String,
    id: i64,
    email: String,
    name: Option<String>,
    status: &'static str,
    subscribed: bool,
    pending: bool,
    audiences: String,
    audience_choices: Vec<Choice>,
    frequencies: Vec<Choice>,
    timezone: String,
    created: String,
    confirmed: Option<String>,
    unsubscribed: Option<String>,
    consent_at: String,
    consent_source: &'static str,
    consent_ip: Option<String>,
    consent_user_agent: Option<String>,
    consent_text_version: String,
    deliveries: Vec<Delivery>,
    events: Vec<Event>,
    troubles: usize,
    bounces: Vec<BounceRow>,
    errors: Vec<String>,
}

/// The page for `s`, with `errors` from a refused edit (then `form` keeps what was
/// typed).
async fn page(
    state: &Shared,
    admin: &Admin,
    people: &People,
    s: &Subscriber,
    notice: Option<&str>,
    errors: Vec<String>,
    form: Option<&EditForm>,
) -> Response {
    let store = people.subscriptions.store();
    let filter = crate::store::BounceFilter {
        subscriber_id: Some(s.id),
        limit: SHOWN,
        ..Default::default()
    };
    let (deliveries, events, bounces) = match (
        store.deliveries_to(s.id, SHOWN).await,
        store.subscriber_events(s.id, SHOWN).await,
        store.bounce_events(&filter).await,
    ) {
        (Ok(d), Ok(e), Ok(b)) => (d, e, b),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return broken(state, admin, e),
    };
    // Newest first, so the first event of a message is the latest that came back.
    let mut came_back: std::collections::HashMap<i64, String> = Default::default();
    for b in &bounces {
        if let Some(id) = b.outbox_id {
            came_back.entry(id).or_insert_with(|| b.kind.clone());
        }
    }
    let bounces: Vec<BounceRow> = bounces
        .into_iter()
        .map(|b| BounceRow {
            at: when(b.at),
            trouble: matches!(b.kind.as_str(), "hard" | "complaint"),
            kind: b.kind,
            source: b.source,
            action: b.action,
            status: b.status_code,
            reason: b.reason,
            message: b.outbox_id,
        })
        .collect();
    let events: Vec<Event> = events
        .into_iter()
        .map(|e| Event {
            trouble: matches!(e.kind.as_str(), "bounced" | "complained"),
            kind: e.kind,
            detail: e.detail,
            at: when(e.at),
        })
        .collect();
    let chosen_audiences = form.map_or(&s.audiences, |f| &f.audiences);
    let chosen_frequency = form.map_or(s.frequency.as_str(), |f| f.frequency.as_str());
    let view = DetailView {
        csrf: admin.csrf().to_string(),
        id: s.id,
        email: s.email.clone(),
        name: form.map_or(s.name.clone(), |f| Some(f.name.clone())),
        status: s.status.as_str(),
        subscribed: matches!(s.status, Status::Pending | Status::Active),
        pending: s.status == Status::Pending,
        audiences: s
            .audiences
            .iter()
            .map(|a| audience_name(people, a))
            .collect::<Vec<_>>()
            .join(", "),
        audience_choices: audience_choices(people, chosen_audiences),
        frequencies: people
            .subscriptions
            .settings()
            .frequencies
            .iter()
            .map(|f| Choice {
                value: f.clone(),
                label: f.clone(),
                selected: f == chosen_frequency,
            })
            .collect(),
        timezone: form.map_or(s.timezone.clone(), |f| f.timezone.clone()),
        created: when(s.created_at),
        confirmed: s.confirmed_at.map(when),
        unsubscribed: s.unsubscribed_at.map(when),
        consent_at: when(s.consent.at),
        consent_source: s.consent.source.as_str(),
        consent_ip: s.consent.ip.clone(),
        consent_user_agent: s.consent.user_agent.clone(),
        consent_text_version: s.consent.text_version.clone(),
        deliveries: deliveries
            .into_iter()
            .map(|d| Delivery {
                id: d.id,
                bounce: came_back.get(&d.id).cloned(),
                kind: d.kind,
                status: d.status.as_str(),
                failed: d.status == crate::model::OutboxStatus::Failed,
                message_id: d.message_id,
                attempts: d.attempts,
                created: when(d.created_at),
                sent: d.sent_at.map(when),
                last_error: d.last_error,
            })
            .collect(),
        troubles: events.iter().filter(|e| e.trouble).count(),
        events,
        bounces,
        errors,
    };
    let status = if view.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    console_page_with(
        state,
        Some(admin),
        "subscribers/detail",
        &s.email,
        notice,
        status,
        &view,
    )
}

#[derive(Deserialize, Default)]
pub(super) struct Done {
    done: Option<String>,
}

fn notice(done: &Done) -> Option<&'static str> {
    Some(match done.done.as_deref()? {
        "saved" => "The choices are saved.",
        "unsubscribed" => "Unsubscribed: the address is suppressed and no mail is queued for it.",
        "confirmation" => "A confirmation email is queued.",
        "throttled" => "No email queued: a confirmation went out less than ten minutes ago.",
        "not-pending" => "Only a pending subscriber gets a confirmation email.",
        _ => return None,
    })
}

pub(super) async fn show(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    match find(&state, &admin, id).await {
        Ok((people, s)) => page(&state, &admin, people, &s, notice(&done), Vec::new(), None).await,
        Err(r) => r,
    }
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/admin/subscribers/{id}?done={done}")).into_response()
}

/// The edit form: name, audiences (a checkbox each), frequency, time zone.
pub(super) struct EditForm {
    name: String,
    audiences: Vec<String>,
    frequency: String,
    timezone: String,
}

impl EditForm {
    fn parse(pairs: &[(String, String)]) -> EditForm {
        let one = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        EditForm {
            name: one("name"),
            audiences: pairs
                .iter()
                .filter(|(k, _)| k == "audiences")
                .map(|(_, v)| v.clone())
                .collect(),
            frequency: one("frequency"),
            timezone: one("timezone"),
        }
    }
}

pub(super) async fn edit(
    State(state): State<Arc<Shared>>,
    Path(id): Path<i64>,
    CsrfForm(admin, pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let (people, s) = match find(&state, &admin, id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let form = EditForm::parse(&pairs);
    let changes = SubscriberChanges {
        name: Some(Some(form.name.trim().to_string()).filter(|n| !n.is_empty())),
        audiences: Some(form.audiences.clone()),
        frequency: Some(form.frequency.clone()),
        timezone: Some(form.timezone.clone()),
        status: None,
    };
    match people.subscriptions.update(&s, changes).await {
        Ok(_) => back(id, "saved"),
        Err(SubscriptionError::Invalid(problems)) => {
            page(&state, &admin, people, &s, None, problems, Some(&form)).await
        }
        Err(SubscriptionError::Gone) => not_found(&state, Some(&admin), "That subscriber is gone."),
        Err(e) => broken(&state, &admin, e),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(super) struct Empty {}

pub(super) async fn unsubscribe(
    State(state): State<Arc<Shared>>,
    Path(id): Path<i64>,
    CsrfForm(admin, _): CsrfForm<Empty>,
) -> Response {
    let (people, s) = match find(&state, &admin, id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match people
        .subscriptions
        .unsubscribe_subscriber(&s, "admin")
        .await
    {
        Ok(_) => back(id, "unsubscribed"),
        Err(e) => broken(&state, &admin, e),
    }
}

pub(super) async fn resend(
    State(state): State<Arc<Shared>>,
    Path(id): Path<i64>,
    CsrfForm(admin, _): CsrfForm<Empty>,
) -> Response {
    let (people, s) = match find(&state, &admin, id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if s.status != Status::Pending {
        return back(id, "not-pending");
    }
    match people
        .subscriptions
        .send_confirmations(std::slice::from_ref(&s))
        .await
    {
        Ok(0) => back(id, "throttled"),
        Ok(_) => back(id, "confirmation"),
        Err(e) => broken(&state, &admin, e),
    }
}

#[derive(Serialize)]
struct EraseView {
    csrf: String,
    id: i64,
    email: String,
}

/// "Erase X?": the step before the POST that erases.
pub(super) async fn erase_page(
    State(state): State<Arc<Shared>>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Response {
    let (_, s) = match find(&state, &admin, id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let view = EraseView {
        csrf: admin.csrf().to_string(),
        id,
        email: s.email.clone(),
    };
    console_page_with(
        &state,
        Some(&admin),
        "subscribers/erase",
        &format!("Erase {}?", s.email),
        None,
        StatusCode::OK,
        &view,
    )
}

pub(super) async fn erase(
    State(state): State<Arc<Shared>>,
    Path(id): Path<i64>,
    CsrfForm(admin, _): CsrfForm<Empty>,
) -> Response {
    let (people, s) = match find(&state, &admin, id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match people.subscriptions.erase(&s).await {
        Ok(()) => Redirect::to("/admin/subscribers?done=erased").into_response(),
        Err(e) => broken(&state, &admin, e),
    }
}

//! The console's subscriber list over a real SQLite file: search (full-text and the
//! short-search fallback, `%` and `_` as themselves), each filter, sorting and page
//! edges; the search index kept in step by its triggers; bulk actions that touch
//! exactly the selected rows; and the list's query plan at 100,000 subscribers.
//! `pages` then drives the list, a subscriber's page, its actions and the bulk
//! actions over a real socket as a signed-in admin.

mod common;

use chrono::Utc;
use common::people;
use crier::model::{Consent, Source, Status, Subscriber};
use crier::store::{NewSubscriber, SortBy, StoreError, SubscriberChanges, SubscriberQuery};
use crier::subscriptions::BulkAction;

/// A subscriber row to import: `email`, `name`, audiences, frequency, status.
fn row(
    subscriptions: &crier::subscriptions::Subscriptions,
    email: &str,
    name: Option<&str>,
    audiences: &[&str],
    frequency: &str,
    status: Status,
) -> NewSubscriber {
    NewSubscriber {
        email: email.into(),
        email_hash: subscriptions.signer().email_hash(email),
        name: name.map(str::to_string),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        frequency: frequency.into(),
        timezone: "UTC".into(),
        status,
        consent: Consent {
            at: Utc::now(),
            source: Source::Import,
            ip: None,
            user_agent: None,
            text_version: "test-1".into(),
        },
    }
}

/// Imports rows (pending or active, as imports make them), then gives the others the
/// status asked for through the service, as an admin would.
/// email, name, audiences, frequency, status.
type Row = (
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static str,
    Status,
);

async fn seed(p: &common::People, rows: &[Row]) {
    seed_into(&p.store, &p.subscriptions, rows).await;
}

async fn seed_into(
    store: &crier::store::Store,
    subscriptions: &crier::subscriptions::Subscriptions,
    rows: &[Row],
) {
    for (email, name, audiences, frequency, status) in rows {
        let start = match status {
            Status::Active => Status::Active,
            _ => Status::Pending,
        };
        let new = row(subscriptions, email, *name, audiences, frequency, start);
        store.import_subscribers(&[new], Utc::now()).await.unwrap();
        if !matches!(status, Status::Active | Status::Pending) {
            let s = store.subscriber_by_email(email).await.unwrap().unwrap();
            let changes = SubscriberChanges {
                status: Some(*status),
                ..Default::default()
            };
            subscriptions.update(&s, changes).await.unwrap();
        }
    }
}

const ROWS: &[Row] = &[
    (
        "ada@example.org",
        Some("Ada Lovelace"),
        &["hr", "developers"],
        "weekly",
        Status::Active,
    ),
    (
        "grace@example.org",
        Some("Grace Hopper"),
        &["developers"],
        "daily",
        Status::Active,
    ),
    (
        "a_b@example.net",
        Some("100% sure"),
        &["hr"],
        "weekly",
        Status::Pending,
    ),
    (
        "axb@example.net",
        Some("100x sure"),
        &["it-admins"],
        "daily",
        Status::Unsubscribed,
    ),
    ("zed@example.com", None, &["hr"], "weekly", Status::Bounced),
    (
        "mary@example.com",
        Some("MARY Jackson"),
        &["developers", "it-admins"],
        "weekly",
        Status::Active,
    ),
];

async fn emails(p: &common::People, query: SubscriberQuery) -> Vec<String> {
    let query = SubscriberQuery {
        page: query.page.max(1),
        per_page: if query.per_page == 0 {
            100
        } else {
            query.per_page
        },
        ..query
    };
    let page = p.store.subscribers(&query).await.unwrap();
    page.subscribers.into_iter().map(|s| s.email).collect()
}

fn q(text: &str) -> SubscriberQuery {
    SubscriberQuery {
        q: text.into(),
        sort: SortBy::Email,
        ascending: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn search_finds_parts_of_addresses_and_names_as_typed() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    // Full-text (three characters or more): any part of an address or a name, any case.
    assert_eq!(
        emails(&p, q("example.net")).await,
        ["a_b@example.net", "axb@example.net"]
    );
    assert_eq!(emails(&p, q("LOVE")).await, ["ada@example.org"]);
    assert_eq!(emails(&p, q("jackson")).await, ["mary@example.com"]);
    assert_eq!(emails(&p, q("  hopper ")).await, ["grace@example.org"]);
    // `%` and `_` are themselves, in either path.
    assert_eq!(emails(&p, q("0% s")).await, ["a_b@example.net"]);
    assert_eq!(emails(&p, q("a_b")).await, ["a_b@example.net"]);
    assert_eq!(emails(&p, q("0%")).await, ["a_b@example.net"]);
    assert_eq!(emails(&p, q("_b")).await, ["a_b@example.net"]);
    // Short searches fall back to LIKE and still match names case-insensitively.
    assert_eq!(emails(&p, q("ma")).await, ["mary@example.com"]);
    // A quote cannot break out of the full-text phrase.
    assert!(emails(&p, q("\"ada OR *")).await.is_empty());
    assert!(emails(&p, q("nobody-here")).await.is_empty());
    assert_eq!(emails(&p, q("")).await.len(), ROWS.len());
}

#[tokio::test]
async fn each_filter_narrows_and_they_combine() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    let by =
        |status: Option<Status>, audience: Option<&str>, frequency: Option<&str>| SubscriberQuery {
            status,
            audience: audience.map(str::to_string),
            frequency: frequency.map(str::to_string),
            sort: SortBy::Email,
            ascending: true,
            ..Default::default()
        };
    assert_eq!(
        emails(&p, by(Some(Status::Active), None, None)).await,
        ["ada@example.org", "grace@example.org", "mary@example.com"]
    );
    assert_eq!(
        emails(&p, by(Some(Status::Bounced), None, None)).await,
        ["zed@example.com"]
    );
    assert_eq!(
        emails(&p, by(Some(Status::Unsubscribed), None, None)).await,
        ["axb@example.net"]
    );
    assert_eq!(
        emails(&p, by(None, Some("it-admins"), None)).await,
        ["axb@example.net", "mary@example.com"]
    );
    assert_eq!(
        emails(&p, by(None, None, Some("daily"))).await,
        ["axb@example.net", "grace@example.org"]
    );
    assert_eq!(
        emails(
            &p,
            by(Some(Status::Active), Some("developers"), Some("weekly"))
        )
        .await,
        ["ada@example.org", "mary@example.com"]
    );
    assert!(
        emails(&p, by(None, Some("customer-service"), None))
            .await
            .is_empty()
    );
    // Search and filter together.
    let mut query = by(Some(Status::Active), None, None);
    query.q = "example.org".into();
    assert_eq!(
        emails(&p, query).await,
        ["ada@example.org", "grace@example.org"]
    );
}

#[tokio::test]
async fn sorts_by_email_creation_and_status_both_ways() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    let sorted = |sort, ascending| SubscriberQuery {
        sort,
        ascending,
        ..Default::default()
    };
    let created: Vec<String> = ROWS.iter().map(|r| r.0.to_string()).collect();
    assert_eq!(emails(&p, sorted(SortBy::Created, true)).await, created);
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(
        emails(&p, sorted(SortBy::Created, false)).await,
        newest_first
    );
    // The default is the API's: newest first.
    assert_eq!(emails(&p, SubscriberQuery::default()).await, newest_first);
    let mut by_email = created.clone();
    by_email.sort();
    assert_eq!(emails(&p, sorted(SortBy::Email, true)).await, by_email);
    by_email.reverse();
    assert_eq!(emails(&p, sorted(SortBy::Email, false)).await, by_email);
    let statuses = |page: crier::store::SubscriberPage| -> Vec<&'static str> {
        page.subscribers
            .iter()
            .map(|s: &Subscriber| s.status.as_str())
            .collect()
    };
    let page = p
        .store
        .subscribers(&SubscriberQuery {
            per_page: 10,
            ..sorted(SortBy::Status, true)
        })
        .await
        .unwrap();
    assert_eq!(
        statuses(page),
        [
            "active",
            "active",
            "active",
            "bounced",
            "pending",
            "unsubscribed"
        ]
    );
    let page = p
        .store
        .subscribers(&SubscriberQuery {
            per_page: 10,
            ..sorted(SortBy::Status, false)
        })
        .await
        .unwrap();
    assert_eq!(
        statuses(page),
        [
            "unsubscribed",
            "pending",
            "bounced",
            "active",
            "active",
            "active"
        ]
    );
}

#[tokio::test]
async fn pages_split_the_list_and_their_edges_hold() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    let page = |page, per_page| SubscriberQuery {
        sort: SortBy::Email,
        ascending: true,
        page,
        per_page,
        ..Default::default()
    };
    let mut all: Vec<String> = ROWS.iter().map(|r| r.0.to_string()).collect();
    all.sort();
    assert_eq!(emails(&p, page(1, 4)).await, all[..4]);
    // The last page is the rest.
    assert_eq!(emails(&p, page(2, 4)).await, all[4..]);
    // Past the end: no rows, the total still told.
    let past = p.store.subscribers(&page(3, 4)).await.unwrap();
    assert!(past.subscribers.is_empty());
    assert_eq!(past.total, ROWS.len() as u64);
    // Page 0 is page 1; 0 per page is 1 per page; more than 1,000 is 1,000.
    let first = p.store.subscribers(&page(0, 0)).await.unwrap();
    assert_eq!(
        (first.page, first.per_page, first.subscribers.len()),
        (1, 1, 1)
    );
    assert_eq!(
        p.store.subscribers(&page(1, 5000)).await.unwrap().per_page,
        1000
    );
    // A page whose first row's number overflows is an error, not a wrap-around.
    let err = p
        .store
        .subscribers(&page(u32::MAX, 1000))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PageOutOfRange { .. }), "{err}");
}

#[tokio::test]
async fn the_search_index_follows_sign_ups_edits_and_erasure() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    // A sign-up through the service is found at once.
    let request = crier::subscriptions::Request {
        email: "newcomer@example.org".into(),
        name: Some("Katherine Johnson".into()),
        audiences: vec!["hr".into()],
        ..Default::default()
    };
    p.subscriptions.sign_up(&request).await.unwrap();
    assert_eq!(emails(&p, q("katherine")).await, ["newcomer@example.org"]);
    // A new name replaces the old one in the index.
    let s = p
        .store
        .subscriber_by_email("newcomer@example.org")
        .await
        .unwrap()
        .unwrap();
    let changes = SubscriberChanges {
        name: Some(Some("Dorothy Vaughan".into())),
        ..Default::default()
    };
    p.subscriptions.update(&s, changes).await.unwrap();
    assert!(emails(&p, q("katherine")).await.is_empty());
    assert_eq!(emails(&p, q("vaughan")).await, ["newcomer@example.org"]);
    // An edit that keeps the name keeps it findable.
    let s = p
        .store
        .subscriber_by_email("newcomer@example.org")
        .await
        .unwrap()
        .unwrap();
    let changes = SubscriberChanges {
        frequency: Some("daily".into()),
        ..Default::default()
    };
    p.subscriptions.update(&s, changes).await.unwrap();
    assert_eq!(emails(&p, q("vaughan")).await, ["newcomer@example.org"]);
    // Clearing the name removes it.
    let changes = SubscriberChanges {
        name: Some(None),
        ..Default::default()
    };
    p.subscriptions.update(&s, changes).await.unwrap();
    assert!(emails(&p, q("vaughan")).await.is_empty());
    assert_eq!(emails(&p, q("newcomer")).await, ["newcomer@example.org"]);
    // An import that renames an existing subscriber goes through the same triggers.
    let renamed = row(
        &p.subscriptions,
        "ada@example.org",
        Some("Augusta King"),
        &["hr"],
        "weekly",
        Status::Active,
    );
    p.store
        .import_subscribers(&[renamed], Utc::now())
        .await
        .unwrap();
    assert!(emails(&p, q("lovelace")).await.is_empty());
    assert_eq!(emails(&p, q("augusta")).await, ["ada@example.org"]);
    // Erased: gone from the index too.
    let s = p
        .store
        .subscriber_by_email("newcomer@example.org")
        .await
        .unwrap()
        .unwrap();
    p.subscriptions.erase(&s).await.unwrap();
    assert!(emails(&p, q("newcomer")).await.is_empty());
    assert_eq!(emails(&p, q("example")).await.len(), ROWS.len());
}

fn selection(status: Option<Status>, audience: Option<&str>) -> SubscriberQuery {
    SubscriberQuery {
        status,
        audience: audience.map(str::to_string),
        // Sort and page do not narrow a bulk action.
        page: 2,
        per_page: 1,
        ..Default::default()
    }
}

async fn audiences_of(p: &common::People, email: &str) -> Vec<String> {
    p.store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .audiences
}

#[tokio::test]
async fn adding_and_removing_an_audience_touch_exactly_the_selection() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    let weekly_active = SubscriberQuery {
        frequency: Some("weekly".into()),
        ..selection(Some(Status::Active), None)
    };
    // Active and weekly: ada (hr, developers) and mary (developers, it-admins).
    let add = BulkAction::AddAudience("it-admins".into());
    assert_eq!(
        p.subscriptions
            .bulk_count(&weekly_active, &add)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        p.subscriptions
            .bulk_apply(&weekly_active, &add, "admin")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        audiences_of(&p, "ada@example.org").await,
        ["developers", "hr", "it-admins"]
    );
    assert_eq!(audiences_of(&p, "grace@example.org").await, ["developers"]);
    assert_eq!(audiences_of(&p, "a_b@example.net").await, ["hr"]);
    // Done: nothing left to add.
    assert_eq!(
        p.subscriptions
            .bulk_count(&weekly_active, &add)
            .await
            .unwrap(),
        0
    );
    // An audience that is not in the taxonomy is refused.
    let unknown = BulkAction::AddAudience("astronauts".into());
    assert!(
        p.subscriptions
            .bulk_count(&weekly_active, &unknown)
            .await
            .is_err()
    );

    // Removing `hr` from everyone who has it: zed and a_b have only `hr` and keep it.
    let everyone = selection(None, None);
    let remove = BulkAction::RemoveAudience("hr".into());
    assert_eq!(
        p.subscriptions
            .bulk_count(&everyone, &remove)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        p.subscriptions
            .bulk_apply(&everyone, &remove, "admin")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        audiences_of(&p, "ada@example.org").await,
        ["developers", "it-admins"]
    );
    assert_eq!(audiences_of(&p, "zed@example.com").await, ["hr"]);
    assert_eq!(audiences_of(&p, "a_b@example.net").await, ["hr"]);
    // The change is in the audit trail.
    let ada = p
        .store
        .subscriber_by_email("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    let events = p.store.subscriber_events(ada.id, 10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "update" && e.detail.as_deref() == Some("bulk"))
            .count(),
        2
    );
}

#[tokio::test]
async fn a_bulk_unsubscribe_touches_the_selected_subscribed_ones_only() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    // Everyone with `hr`: ada (active), a_b (pending), zed (bounced).
    let hr = selection(None, Some("hr"));
    let action = BulkAction::Unsubscribe;
    assert_eq!(p.subscriptions.bulk_count(&hr, &action).await.unwrap(), 2);
    assert_eq!(
        p.subscriptions
            .bulk_apply(&hr, &action, "admin")
            .await
            .unwrap(),
        2
    );
    let status = |email: &'static str| {
        let store = p.store.clone();
        async move {
            store
                .subscriber_by_email(email)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status("ada@example.org").await, Status::Unsubscribed);
    assert_eq!(status("a_b@example.net").await, Status::Unsubscribed);
    // A bounce stays a bounce; outside the selection nothing changed.
    assert_eq!(status("zed@example.com").await, Status::Bounced);
    assert_eq!(status("grace@example.org").await, Status::Active);
    assert_eq!(status("mary@example.com").await, Status::Active);
    // As a single unsubscribe does: suppressed, with the time and the event.
    let signer = p.subscriptions.signer();
    assert!(
        p.store
            .is_suppressed(&signer.email_hash("ada@example.org"))
            .await
            .unwrap()
    );
    assert!(
        !p.store
            .is_suppressed(&signer.email_hash("grace@example.org"))
            .await
            .unwrap()
    );
    let ada = p
        .store
        .subscriber_by_email("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(ada.unsubscribed_at.is_some());
    let events = p.store.subscriber_events(ada.id, 10).await.unwrap();
    assert_eq!(events[0].kind, "unsubscribed");
    assert_eq!(events[0].detail.as_deref(), Some("admin"));
    assert_eq!(p.subscriptions.bulk_count(&hr, &action).await.unwrap(), 0);
}

#[tokio::test]
async fn a_bulk_unsubscribe_drops_queued_mail_of_those_it_touches() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    // a_b is pending: a confirmation is queued for them; grace is not selected.
    let a_b = p
        .store
        .subscriber_by_email("a_b@example.net")
        .await
        .unwrap()
        .unwrap();
    p.subscriptions
        .send_confirmations(std::slice::from_ref(&a_b))
        .await
        .unwrap();
    assert_eq!(p.store.deliveries_to(a_b.id, 10).await.unwrap().len(), 1);
    let pending = selection(Some(Status::Pending), None);
    p.subscriptions
        .bulk_apply(&pending, &BulkAction::Unsubscribe, "admin")
        .await
        .unwrap();
    assert!(p.store.deliveries_to(a_b.id, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_export_holds_the_selection() {
    let p = people(None, false).await;
    seed(&p, ROWS).await;
    let query = SubscriberQuery {
        sort: SortBy::Email,
        ascending: true,
        ..selection(None, Some("developers"))
    };
    assert_eq!(p.subscriptions.count(&query).await.unwrap(), 3);
    let csv = String::from_utf8(p.subscriptions.export_csv(&query).await.unwrap()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("email,name,audiences"));
    assert!(lines[1].starts_with("ada@example.org,"));
    assert!(lines[2].starts_with("grace@example.org,"));
    assert!(lines[3].starts_with("mary@example.com,"));
}

/// Not a timing: the plan SQLite picks for the list at 100,000 subscribers reads the
/// selected rows through an index, never the whole table.
#[tokio::test]
async fn the_list_at_100k_subscribers_reads_through_indexes() {
    let p = people(None, false).await;
    let frequencies = ["daily", "weekly"];
    let audiences = ["hr", "developers", "it-admins", "customer-service"];
    let rows: Vec<NewSubscriber> = (0..100_000)
        .map(|i| {
            let email = format!("reader{i}@example{}.org", i % 97);
            let status = if i % 10 == 0 {
                Status::Pending
            } else {
                Status::Active
            };
            row(
                &p.subscriptions,
                &email,
                Some(&format!("Reader {i}")),
                &[audiences[i % 4]],
                frequencies[i % 2],
                status,
            )
        })
        .collect();
    let started = std::time::Instant::now();
    p.store.import_subscribers(&rows, Utc::now()).await.unwrap();
    eprintln!("100,000 subscribers imported in {:?}", started.elapsed());
    let scans = |plan: &[String]| -> Vec<String> {
        plan.iter()
            .filter(|line| *line == "SCAN s" || line.starts_with("SCAN s "))
            .cloned()
            .collect()
    };
    for (what, query) in [
        (
            "status",
            SubscriberQuery {
                status: Some(Status::Pending),
                ..Default::default()
            },
        ),
        (
            "status by email",
            SubscriberQuery {
                status: Some(Status::Pending),
                sort: SortBy::Email,
                ascending: true,
                ..Default::default()
            },
        ),
        (
            "frequency",
            SubscriberQuery {
                frequency: Some("daily".into()),
                ..Default::default()
            },
        ),
        (
            "audience",
            SubscriberQuery {
                audience: Some("hr".into()),
                ..Default::default()
            },
        ),
        (
            "search",
            SubscriberQuery {
                q: "reader4242@".into(),
                ..Default::default()
            },
        ),
    ] {
        let plan = p.store.subscribers_plan(&query).await.unwrap();
        eprintln!("{what}: {plan:#?}");
        // Half the rows are daily: SQLite may then walk the primary key newest first
        // and stop at the 50th match, which reads about 100 rows, or take the
        // frequency index and sort. Which one depends on whether the connection has
        // statistics yet; both are bounded. Every narrower filter must use an index.
        if what != "frequency" {
            assert!(scans(&plan).is_empty(), "{what}: {plan:#?}");
        }
        let started = std::time::Instant::now();
        let page = p
            .store
            .subscribers(&SubscriberQuery {
                per_page: 50,
                ..query
            })
            .await
            .unwrap();
        eprintln!(
            "{what}: {} of {} in {:?}",
            page.subscribers.len(),
            page.total,
            started.elapsed()
        );
        assert!(page.total > 0, "{what}");
    }
}

/// The pages themselves, over a real socket as a signed-in admin: every answer is
/// private (`no-store`, a CSP) and every page's fields are labelled, with no inline
/// style or script.
mod pages {
    use super::*;
    use common::console::{Client, assert_private, signed_in, unescape};
    use crier::subscriptions::Request;
    use reqwest::StatusCode;

    const ALL: [&str; 6] = [
        "ada@example.org",
        "grace@example.org",
        "a_b@example.net",
        "axb@example.net",
        "zed@example.com",
        "mary@example.com",
    ];

    async fn seeded() -> Client {
        let c = signed_in().await;
        seed_into(&c.app.store, &c.app.subscriptions, ROWS).await;
        c
    }

    /// Asserts the list at `path` shows exactly the addresses `want`.
    async fn lists(c: &Client, path: &str, want: &[&str]) {
        let page = c.page(path, StatusCode::OK).await;
        for email in ALL {
            assert_eq!(
                page.contains(&format!(">{email}</a>")),
                want.contains(&email),
                "{path}: {email}:\n{page}"
            );
        }
        assert!(
            page.contains(&format!("of {}, page 1 of 1.", want.len())) || want.is_empty(),
            "{path}: {page}"
        );
    }

    async fn by_email(c: &Client, email: &str) -> Option<Subscriber> {
        c.app.store.subscriber_by_email(email).await.unwrap()
    }

    async fn id_of(c: &Client, email: &str) -> i64 {
        by_email(c, email).await.unwrap().id
    }

    /// The `href` of the link marked `rel`, as a URL.
    fn link(page: &str, rel: &str) -> Option<String> {
        let end = page.find(&format!(r#"" rel="{rel}""#))?;
        let start = page[..end].rfind("href=\"")? + "href=\"".len();
        Some(unescape(&page[start..end]))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_list_searches_filters_and_combines() {
        let c = seeded().await;
        lists(&c, "/admin/subscribers", &ALL).await;
        // Part of an address, part of a name (any case), a short search.
        lists(
            &c,
            "/admin/subscribers?q=example.net",
            &["a_b@example.net", "axb@example.net"],
        )
        .await;
        lists(&c, "/admin/subscribers?q=lovelace", &["ada@example.org"]).await;
        lists(&c, "/admin/subscribers?q=Jacks", &["mary@example.com"]).await;
        lists(&c, "/admin/subscribers?q=a_", &["a_b@example.net"]).await;
        lists(&c, "/admin/subscribers?q=nobody-at-all", &[]).await;
        // Each filter, then together with a search.
        lists(
            &c,
            "/admin/subscribers?status=active",
            &["ada@example.org", "grace@example.org", "mary@example.com"],
        )
        .await;
        lists(
            &c,
            "/admin/subscribers?audience=it-admins",
            &["axb@example.net", "mary@example.com"],
        )
        .await;
        lists(
            &c,
            "/admin/subscribers?frequency=daily",
            &["grace@example.org", "axb@example.net"],
        )
        .await;
        lists(
            &c,
            "/admin/subscribers?status=active&audience=hr&frequency=weekly",
            &["ada@example.org"],
        )
        .await;
        lists(
            &c,
            "/admin/subscribers?q=example.com&audience=hr",
            &["zed@example.com"],
        )
        .await;
        // The form shows what was chosen.
        let page = c
            .page("/admin/subscribers?status=bounced", StatusCode::OK)
            .await;
        assert!(
            page.contains(r#"<option value="bounced" selected>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<input type="hidden" name="status" value="bounced">"#),
            "the bulk form keeps the selection: {page}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pager_links_walk_the_filtered_list() {
        let c = signed_in().await;
        let rows: Vec<NewSubscriber> = (0..120)
            .map(|i| {
                let status = if i % 4 == 0 {
                    Status::Pending
                } else {
                    Status::Active
                };
                row(
                    &c.app.subscriptions,
                    &format!("p{i:03}@example.org"),
                    None,
                    &["hr"],
                    "weekly",
                    status,
                )
            })
            .collect();
        c.app
            .store
            .import_subscribers(&rows, Utc::now())
            .await
            .unwrap();
        // 90 active ones, by address: pages of 50 and 40.
        let first = c
            .page(
                "/admin/subscribers?status=active&sort=email",
                StatusCode::OK,
            )
            .await;
        assert!(first.contains("1–50 of 90, page 1 of 2."), "{first}");
        assert!(first.contains(">p001@example.org</a>"), "{first}");
        assert!(!first.contains(">p000@example.org</a>"), "pending: {first}");
        assert_eq!(link(&first, "prev"), None);
        let next = link(&first, "next").unwrap();
        assert_eq!(
            next, "/admin/subscribers?status=active&sort=email&page=2",
            "the link keeps the selection"
        );
        let second = c.page(&next, StatusCode::OK).await;
        assert!(second.contains("51–90 of 90, page 2 of 2."), "{second}");
        assert!(second.contains(">p119@example.org</a>"), "{second}");
        assert!(!second.contains(">p001@example.org</a>"), "{second}");
        assert_eq!(link(&second, "next"), None);
        assert_eq!(
            link(&second, "prev").unwrap(),
            "/admin/subscribers?status=active&sort=email&page=1"
        );
        // Past the end: an empty page that says so and leads back.
        let beyond = c
            .page(
                "/admin/subscribers?status=active&sort=email&page=3",
                StatusCode::OK,
            )
            .await;
        assert!(
            beyond.contains("Page 3 of 2: no subscribers on this page."),
            "{beyond}"
        );
        assert!(!beyond.contains("@example.org</a>"), "{beyond}");
        assert_eq!(
            link(&beyond, "prev").unwrap(),
            "/admin/subscribers?status=active&sort=email&page=2"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_detail_page_shows_consent_choices_deliveries_and_events() {
        let c = signed_in().await;
        let request = Request {
            email: "lin@example.org".into(),
            name: Some("Lin <Tao>".into()),
            audiences: vec!["hr".into(), "it-admins".into()],
            frequency: Some("daily".into()),
            ..Request::default()
        };
        let lin = c.app.subscriptions.add(&request, false).await.unwrap();
        // Send the queued confirmation, so the page shows a sent message.
        c.app.worker.drain().await;
        let deliveries = c.app.store.deliveries_to(lin.id, 10).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].status, crier::model::OutboxStatus::Sent);
        let message_id = &deliveries[0].message_id;
        assert!(message_id.starts_with('<'), "{message_id}");

        let page = c
            .page(&format!("/admin/subscribers/{}", lin.id), StatusCode::OK)
            .await;
        assert!(page.contains("<h1>lin@example.org</h1>"), "{page}");
        assert!(page.contains("Lin &lt;Tao&gt;"), "escaped: {page}");
        // The consent record.
        assert!(
            page.contains(&format!(
                "<dt>Through</dt><dd>{}</dd>",
                lin.consent.source.as_str()
            )),
            "{page}"
        );
        assert!(page.contains("version test-1"), "{page}");
        // The choices, in the edit form.
        for (slug, checked) in [("hr", true), ("it-admins", true), ("developers", false)] {
            let checkbox = format!(r#"name="audiences" value="{slug}" checked>"#);
            assert_eq!(page.contains(&checkbox), checked, "{slug}: {page}");
        }
        assert!(
            page.contains(r#"<option value="daily" selected>daily</option>"#),
            "{page}"
        );
        // The delivery with its Message-ID, and the events.
        let shown_id = message_id.replace('<', "&lt;").replace('>', "&gt;");
        assert!(page.contains(&shown_id), "{message_id}: {page}");
        assert!(page.contains("<td>confirmation</td>"), "{page}");
        assert!(page.contains("<td>sent</td>"), "{page}");
        let events = c.app.store.subscriber_events(lin.id, 10).await.unwrap();
        assert!(!events.is_empty());
        for event in &events {
            assert!(page.contains(&event.kind), "{}: {page}", event.kind);
        }
        // A pending subscriber can be sent the confirmation again.
        assert!(page.contains("/confirmation\""), "{page}");

        let (status, headers, _) = c.get("/admin/subscribers/999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_private("no such subscriber", &headers);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn editing_the_choices_changes_the_subscriber_and_needs_the_token() {
        let c = seeded().await;
        let id = id_of(&c, "ada@example.org").await;
        let path = format!("/admin/subscribers/{id}");
        let before = by_email(&c, "ada@example.org").await.unwrap();
        let fields = [
            ("name", "Augusta Ada King"),
            ("audiences", "it-admins"),
            ("audiences", "students"),
            ("frequency", "daily"),
            ("timezone", "Europe/London"),
        ];

        let (status, headers, _) = c.post_form_raw(&path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_private("refused edit", &headers);
        assert_eq!(by_email(&c, "ada@example.org").await.unwrap(), before);

        let (status, headers, _) = c.post_form(&path, &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_private("edit", &headers);
        let location = headers["location"].to_str().unwrap();
        assert_eq!(location, format!("{path}?done=saved"));
        let after = by_email(&c, "ada@example.org").await.unwrap();
        assert_eq!(after.name.as_deref(), Some("Augusta Ada King"));
        assert_eq!(after.audiences, ["it-admins", "students"]);
        assert_eq!(after.frequency, "daily");
        assert_eq!(after.timezone, "Europe/London");
        let page = c.page(location, StatusCode::OK).await;
        assert!(page.contains("The choices are saved."), "{page}");

        // A refused edit says why, keeps what was typed and changes nothing.
        let (status, _, page) = c
            .post_form(
                &path,
                &[
                    ("name", "Someone Else"),
                    ("audiences", "hr"),
                    ("frequency", "hourly"),
                    ("timezone", "Mars/Olympus"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        common::console::assert_sane_html("refused edit", &page);
        assert!(page.contains(r#"class="errors" role="alert""#), "{page}");
        assert!(page.contains(r#"value="Mars/Olympus""#), "{page}");
        assert_eq!(by_email(&c, "ada@example.org").await.unwrap(), after);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unsubscribe_resend_and_erase_need_the_token_and_do_their_one_thing() {
        let c = seeded().await;
        let ada = id_of(&c, "ada@example.org").await;
        let pending = id_of(&c, "a_b@example.net").await;

        // Unsubscribe.
        let path = format!("/admin/subscribers/{ada}/unsubscribe");
        let (status, _, _) = c.post_form_raw(&path, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let s = by_email(&c, "ada@example.org").await.unwrap();
        assert_eq!(s.status, Status::Active);
        let (status, headers, _) = c.post_form(&path, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_private("unsubscribe", &headers);
        let location = headers["location"].to_str().unwrap();
        assert_eq!(
            location,
            format!("/admin/subscribers/{ada}?done=unsubscribed")
        );
        let s = by_email(&c, "ada@example.org").await.unwrap();
        assert_eq!(s.status, Status::Unsubscribed);
        let page = c.page(location, StatusCode::OK).await;
        assert!(
            page.contains("Unsubscribed: the address is suppressed"),
            "{page}"
        );
        assert!(!page.contains("/unsubscribe\""), "no second button: {page}");

        // Resend the confirmation to a pending subscriber (imported: none sent yet).
        let path = format!("/admin/subscribers/{pending}/confirmation");
        let (status, _, _) = c.post_form_raw(&path, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            c.app
                .store
                .deliveries_to(pending, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let (status, headers, _) = c.post_form(&path, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            headers["location"],
            format!("/admin/subscribers/{pending}?done=confirmation").as_str()
        );
        let queued = c.app.store.deliveries_to(pending, 10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(
            (queued[0].kind.as_str(), queued[0].recipient.as_str()),
            ("confirmation", "a_b@example.net")
        );
        // At once again: throttled, nothing more queued.
        let (_, headers, _) = c.post_form(&path, &[]).await;
        let location = headers["location"].to_str().unwrap();
        assert!(location.ends_with("?done=throttled"), "{location}");
        assert_eq!(
            c.app.store.deliveries_to(pending, 10).await.unwrap().len(),
            1
        );
        let page = c.page(location, StatusCode::OK).await;
        assert!(page.contains("No email queued"), "{page}");
        // Not pending: nothing queued.
        let (_, headers, _) = c
            .post_form(&format!("/admin/subscribers/{ada}/confirmation"), &[])
            .await;
        assert!(
            headers["location"]
                .to_str()
                .unwrap()
                .ends_with("?done=not-pending")
        );
        assert!(c.app.store.deliveries_to(ada, 10).await.unwrap().is_empty());

        // Erase: a confirmation step first, then the POST.
        let path = format!("/admin/subscribers/{pending}/erase");
        let page = c.page(&path, StatusCode::OK).await;
        assert!(page.contains("<h1>Erase a_b@example.net?</h1>"), "{page}");
        assert!(
            page.contains(&format!(r#"<form method="post" action="{path}">"#)),
            "{page}"
        );
        assert!(
            by_email(&c, "a_b@example.net").await.is_some(),
            "GET erases nothing"
        );
        let (status, _, _) = c.post_form_raw(&path, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(by_email(&c, "a_b@example.net").await.is_some());
        let (status, headers, _) = c.post_form(&path, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers["location"].to_str().unwrap();
        assert_eq!(location, "/admin/subscribers?done=erased");
        assert!(by_email(&c, "a_b@example.net").await.is_none());
        assert!(
            c.app
                .store
                .subscriber_by_id(pending)
                .await
                .unwrap()
                .is_none()
        );
        let page = c.page(location, StatusCode::OK).await;
        assert!(page.contains("The subscriber was erased"), "{page}");
        assert!(!page.contains("a_b@example.net"), "{page}");
        let (status, _, _) = c.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The others are untouched.
        let everyone = SubscriberQuery {
            page: 1,
            per_page: 10,
            ..q("")
        };
        let left = c.app.store.subscribers(&everyone).await.unwrap();
        assert_eq!(left.total, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bulk_action_counts_confirms_and_touches_exactly_that_set() {
        let c = seeded().await;
        let audiences = |email: &'static str| {
            let c = &c;
            async move { by_email(c, email).await.unwrap().audiences }
        };
        let before: Vec<Vec<String>> = {
            let mut all = Vec::new();
            for email in ALL {
                all.push(audiences(email).await);
            }
            all
        };
        // Active subscribers without IT admins: Ada and Grace (Mary has it).
        let page = c
            .page(
                "/admin/subscribers/bulk?status=active&action=add_audience&target=it-admins",
                StatusCode::OK,
            )
            .await;
        assert!(
            page.contains("<h1>Add IT admins to 2 subscribers?</h1>"),
            "{page}"
        );
        assert!(
            page.contains(r#"<input type="hidden" name="status" value="active">"#),
            "{page}"
        );
        assert_eq!(
            before,
            {
                let mut all = Vec::new();
                for email in ALL {
                    all.push(audiences(email).await);
                }
                all
            },
            "the confirmation changes nothing"
        );

        let fields = [
            ("status", "active"),
            ("action", "add_audience"),
            ("target", "it-admins"),
        ];
        let (status, headers, _) = c.post_form_raw("/admin/subscribers/bulk", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_private("refused bulk", &headers);
        let mut now = Vec::new();
        for email in ALL {
            now.push(audiences(email).await);
        }
        assert_eq!(now, before, "refused: nothing changed");

        let (status, headers, _) = c.post_form("/admin/subscribers/bulk", &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers["location"].to_str().unwrap();
        assert_eq!(
            location,
            "/admin/subscribers?status=active&done=add_audience&n=2"
        );
        for (email, was) in ALL.iter().zip(&before) {
            let now = audiences(email).await;
            if matches!(*email, "ada@example.org" | "grace@example.org") {
                let mut want = was.clone();
                want.push("it-admins".into());
                assert_eq!(now, want, "{email}");
            } else {
                assert_eq!(&now, was, "{email} is outside the set");
            }
        }
        let page = c.page(location, StatusCode::OK).await;
        assert!(page.contains("2 subscribers got the audience."), "{page}");
        // The same action again touches nobody, and says so.
        let page = c
            .page(
                "/admin/subscribers/bulk?status=active&action=add_audience&target=it-admins",
                StatusCode::OK,
            )
            .await;
        assert!(page.contains("Nothing to do"), "{page}");
        // A bulk unsubscribe of the HR audience: Ada, the pending one (Zed bounced).
        let page = c
            .page(
                "/admin/subscribers/bulk?audience=hr&action=unsubscribe",
                StatusCode::OK,
            )
            .await;
        assert!(
            page.contains("<h1>Unsubscribe 2 subscribers?</h1>"),
            "{page}"
        );
        let (status, _, _) = c
            .post_form(
                "/admin/subscribers/bulk",
                &[("audience", "hr"), ("action", "unsubscribe")],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        for email in ALL {
            let s = by_email(&c, email).await.unwrap();
            let want = match email {
                "ada@example.org" | "a_b@example.net" | "axb@example.net" => Status::Unsubscribed,
                "zed@example.com" => Status::Bounced,
                _ => Status::Active,
            };
            assert_eq!(s.status, want, "{email}");
        }
        // Removing an audience counts only who has another one: Ada, Mary and now
        // Grace, who got IT admins above.
        let page = c
            .page(
                "/admin/subscribers/bulk?action=remove_audience&target=developers",
                StatusCode::OK,
            )
            .await;
        assert!(
            page.contains("<h1>Remove Software developers from 3 subscribers?</h1>"),
            "{page}"
        );
        // Nothing chosen: refused with a reason.
        let (status, _, page) = c.get("/admin/subscribers/bulk?action=add_audience").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("Choose an action"), "{page}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn export_answers_the_filtered_set_as_csv() {
        let c = seeded().await;
        let page = c
            .page(
                "/admin/subscribers/bulk?audience=hr&action=export",
                StatusCode::OK,
            )
            .await;
        assert!(page.contains("<h1>Export 3 subscribers?</h1>"), "{page}");
        let fields = [("audience", "hr"), ("action", "export")];
        let (status, _, body) = c.post_form_raw("/admin/subscribers/bulk", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!body.contains("@example"), "{body}");
        let (status, headers, csv) = c.post_form("/admin/subscribers/bulk", &fields).await;
        assert_eq!(status, StatusCode::OK);
        assert_private("export", &headers);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{headers:?}"
        );
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment"),
            "{headers:?}"
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let column = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "email")
            .expect("an email column");
        let mut exported: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[column].to_string())
            .collect();
        exported.sort();
        assert_eq!(
            exported,
            ["a_b@example.net", "ada@example.org", "zed@example.com"],
            "{csv}"
        );
    }
}

/// The markup check the page tests lean on catches what it is there to catch.
#[test]
fn the_markup_check_catches_unlabelled_fields_styles_and_scripts() {
    use common::console::assert_sane_html;
    assert_sane_html(
        "fine",
        r#"<label for="a">A</label><input id="a" name="a"><label>B <select name="b"></select></label><input type="hidden" name="csrf" value="x"><input type="submit">"#,
    );
    for bad in [
        r#"<input id="a" name="a">"#,
        r#"<label for="b">B</label><textarea id="a"></textarea>"#,
        r#"<label>A</label><select name="a"></select>"#,
        r#"<p style="color:red">x</p>"#,
        "<script>alert(1)</script>",
    ] {
        let caught = std::panic::catch_unwind(|| assert_sane_html("bad", bad));
        assert!(caught.is_err(), "not caught: {bad}");
    }
}

//! The store's operations, written once and run on each backend: SQLite always, and
//! PostgreSQL when `CRIER_TEST_POSTGRES_URL` names a server (`.ci/postgres.sh`), which
//! compiles the `postgres` tests in (build.rs). Each test gets a store of its own: a
//! file in a temporary folder, or a database made for it on the server and dropped
//! after. The expected values are the same for both backends, so any difference in
//! behaviour between them fails here.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use crier::model::{Consent, NewBounceEvent, NewContent, NewMessage, OutboxStatus, Source, Status};
use crier::store::{
    BounceFilter, BulkChange, DeliveryFilter, NewSubscriber, Registration, SortBy, Store,
    StoreError, SubscriberChanges, SubscriberQuery,
};

#[allow(dead_code)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A store for one test, and what to remove after it.
struct Fresh {
    store: Store,
    _dir: tempfile::TempDir,
    #[allow(dead_code)]
    database: Option<String>,
}

mod common;

#[cfg(crier_postgres)]
use common::backend::{create_database, drop_database, server_url};

/// How the tests' deployment names its messages.
fn ids() -> crier::model::MessageIds {
    crier::model::MessageIds::new("example.org", b"the backends suite's key")
}

async fn fresh(backend: Backend) -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => Fresh {
            store: Store::open(&dir.path().join("crier.db")).await.unwrap(),
            _dir: dir,
            database: None,
        },
        #[cfg(crier_postgres)]
        Backend::Postgres => {
            let (name, url) = create_database().await;
            Fresh {
                store: Store::open_postgres(&url, dir.path()).await.unwrap(),
                _dir: dir,
                database: Some(name),
            }
        }
        #[cfg(not(crier_postgres))]
        Backend::Postgres => unreachable!("compiled without a PostgreSQL server"),
    }
}

impl Fresh {
    async fn finish(self) {
        self.store.close().await;
        #[cfg(crier_postgres)]
        if let Some(name) = &self.database {
            drop_database(name).await;
        }
    }
}

/// Each scenario as a test per backend: `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let fresh = super::fresh(super::Backend::Sqlite).await;
                    super::$name(&fresh.store).await;
                    fresh.finish().await;
                }
            )*
        }
        #[cfg(crier_postgres)]
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let fresh = super::fresh(super::Backend::Postgres).await;
                    super::$name(&fresh.store).await;
                    fresh.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    subscribers_are_created_changed_and_erased,
    sign_ups_and_confirmations_hold_and_apply_choices,
    imports_cross_batches_update_and_skip_suppressed,
    an_import_in_parts_numbers_rows_across_parts_and_keeps_text_exact,
    stats_count_by_status_audience_and_frequency,
    the_outbox_queues_claims_sends_retries_and_prunes,
    deliveries_are_listed_by_status_address_and_page,
    digest_periods_and_first_seen_articles,
    the_sent_journal_is_moved_in_when_opened,
    bounce_events_are_recorded_attributed_and_counted,
    admins_and_their_sessions,
    search_filters_sorts_and_pages,
    bulk_changes_touch_only_what_they_change,
    suppressions_are_listed_found_and_lifted,
    the_dashboard_counts_per_day_and_zone,
    confirmation_mails_are_throttled,
    instances_leases_and_hit_counts_are_agreed,
    editions_are_recorded_merged_and_read_back,
);

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

const T0: i64 = 1_800_000_000;

fn new_subscriber(email: &str, status: Status, audiences: &[&str]) -> NewSubscriber {
    NewSubscriber {
        email: email.to_string(),
        email_hash: format!("hash-{email}"),
        name: Some(format!("Name of {email}")),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        frequency: "weekly".into(),
        timezone: "Europe/Paris".into(),
        status,
        consent: Consent {
            at: at(T0),
            source: Source::Cli,
            ip: Some("192.0.2.1".into()),
            user_agent: None,
            text_version: "v1".into(),
        },
    }
}

async fn add(store: &Store, email: &str, status: Status, audiences: &[&str]) -> i64 {
    store
        .add_subscriber(&new_subscriber(email, status, audiences), at(T0))
        .await
        .unwrap()
        .id
}

async fn content(store: &Store, subject: &str) -> i64 {
    store
        .save_contents(
            &[NewContent {
                subject: subject.into(),
                text: format!("text of {subject}"),
                html: format!("<p>{subject}</p>"),
            }],
            at(T0),
        )
        .await
        .unwrap()[0]
}

fn message(key: &str, subscriber: Option<i64>, content_id: i64) -> NewMessage {
    NewMessage {
        dedup_key: key.to_string(),
        kind: "digest".into(),
        subscriber_id: subscriber,
        recipient: format!("{key}@example.org"),
        content_id,
        vars: "{}".into(),
        digest: None,
    }
}

async fn subscribers_are_created_changed_and_erased(store: &Store) {
    let a = store
        .add_subscriber(
            &new_subscriber("a@example.org", Status::Active, &["hr", "ops"]),
            at(T0),
        )
        .await
        .unwrap();
    assert_eq!(a.audiences, ["hr", "ops"]);
    assert_eq!(a.status, Status::Active);
    assert_eq!(a.confirmed_at, Some(at(T0)));
    assert_eq!(a.consent.ip.as_deref(), Some("192.0.2.1"));
    assert!(matches!(
        store
            .add_subscriber(
                &new_subscriber("a@example.org", Status::Active, &[]),
                at(T0)
            )
            .await,
        Err(StoreError::Duplicate(_))
    ));
    let b = add(store, "b@example.org", Status::Pending, &["hr"]).await;
    assert!(b > a.id, "ids increase");

    let changed = store
        .update_subscriber(
            a.id,
            &SubscriberChanges {
                name: Some(None),
                audiences: Some(vec!["sales".into()]),
                frequency: Some("daily".into()),
                ..SubscriberChanges::default()
            },
            "hash-a@example.org",
            at(T0 + 10),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.name, None);
    assert_eq!(changed.audiences, ["sales"]);
    assert_eq!(changed.frequency, "daily");
    assert_eq!(
        store.subscriber_by_email("a@example.org").await.unwrap(),
        Some(changed.clone())
    );

    // Queued mail goes when they leave; the address is suppressed.
    let c = content(store, "s").await;
    store
        .enqueue([message("k-a", Some(a.id), c)], &ids(), at(T0))
        .await
        .unwrap();
    let left = store
        .unsubscribe_subscriber(a.id, "hash-a@example.org", "link", at(T0 + 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.status, Status::Unsubscribed);
    assert_eq!(left.unsubscribed_at, Some(at(T0 + 20)));
    assert!(store.is_suppressed("hash-a@example.org").await.unwrap());
    assert!(store.deliveries_to(a.id, 10).await.unwrap().is_empty());
    let events = store.subscriber_events(a.id, 10).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["unsubscribed", "update", "signup"]);

    let statuses = store.subscriber_statuses(&[a.id, b, 999]).await.unwrap();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[&b], Status::Pending);

    assert!(
        store
            .erase_subscriber(b, "hash-b@example.org", at(T0 + 30))
            .await
            .unwrap()
    );
    assert!(store.subscriber_by_id(b).await.unwrap().is_none());
    assert_eq!(
        store
            .suppression("hash-b@example.org")
            .await
            .unwrap()
            .unwrap()
            .reason,
        "erased"
    );
    assert!(
        !store
            .erase_subscriber(b, "hash-b@example.org", at(T0 + 30))
            .await
            .unwrap()
    );
    let all = store.all_subscribers().await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(store.active_subscribers("daily").await.unwrap().is_empty());
}

async fn sign_ups_and_confirmations_hold_and_apply_choices(store: &Store) {
    let new = new_subscriber("s@example.org", Status::Pending, &["hr"]);
    let Registration::Created(created) = store.sign_up(&new, at(T0)).await.unwrap() else {
        panic!("a new address is created");
    };
    assert_eq!(created.status, Status::Pending);

    let mut again = new_subscriber("s@example.org", Status::Pending, &["ops", "sales"]);
    again.frequency = "daily".into();
    let Registration::Known(known) = store.sign_up(&again, at(T0 + 5)).await.unwrap() else {
        panic!("a known address is handed back");
    };
    assert_eq!(known.subscriber().id, created.id);
    known.hold().await.unwrap();
    // The record itself is unchanged until the owner confirms.
    let before = store.subscriber_by_id(created.id).await.unwrap().unwrap();
    assert_eq!(before.audiences, ["hr"]);

    let confirmation = store.confirmation(created.id).await.unwrap().unwrap();
    assert!(confirmation.has_held_sign_up());
    let after = confirmation
        .activate("hash-s@example.org", Some("198.51.100.7"), None, at(T0 + 9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, Status::Active);
    assert_eq!(after.audiences, ["ops", "sales"]);
    assert_eq!(after.frequency, "daily");
    assert_eq!(after.confirmed_at, Some(at(T0 + 9)));

    // Nothing held any more; leaving writes nothing.
    let confirmation = store.confirmation(created.id).await.unwrap().unwrap();
    assert!(!confirmation.has_held_sign_up());
    confirmation.leave().await.unwrap();
    assert!(store.confirmation(4242).await.unwrap().is_none());

    // A held sign-up replaces an earlier one.
    for audiences in [&["hr"][..], &["ops"][..]] {
        let new = new_subscriber("s@example.org", Status::Pending, audiences);
        let Registration::Known(known) = store.sign_up(&new, at(T0 + 20)).await.unwrap() else {
            panic!("known");
        };
        known.hold().await.unwrap();
    }
    let after = store
        .confirmation(created.id)
        .await
        .unwrap()
        .unwrap()
        .activate("hash-s@example.org", None, None, at(T0 + 30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.audiences, ["ops"]);
}

/// Adds `email` and unsubscribes it: a suppressed address.
async fn unsubscribed(store: &Store, email: &str) {
    let id = add(store, email, Status::Active, &[]).await;
    store
        .unsubscribe_subscriber(id, &format!("hash-{email}"), "link", at(T0))
        .await
        .unwrap();
}

async fn imports_cross_batches_update_and_skip_suppressed(store: &Store) {
    unsubscribed(store, "gone@example.org").await;
    add(store, "known@example.org", Status::Pending, &["hr"]).await;

    let mut rows: Vec<NewSubscriber> = (0..1_203)
        .map(|i| {
            new_subscriber(
                &format!("n{i:04}@example.org"),
                Status::Active,
                &["hr", "ops"],
            )
        })
        .collect();
    let mut known = new_subscriber("known@example.org", Status::Active, &["sales"]);
    known.name = None;
    known.timezone = "Asia/Tokyo".into();
    rows.push(known);
    rows.push(new_subscriber("gone@example.org", Status::Active, &[]));
    let outcome = store.import_subscribers(&rows, at(T0 + 60)).await.unwrap();
    assert_eq!(outcome.created.len(), 1_203);
    assert_eq!(outcome.updated, 1);
    assert_eq!(outcome.suppressed, [1_204]);
    let ids: Vec<i64> = outcome.created.iter().map(|s| s.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 1_203, "every created row has its own id");

    let known = store
        .subscriber_by_email("known@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        known.status,
        Status::Active,
        "an active row confirms a pending one"
    );
    assert_eq!(
        known.name.as_deref(),
        Some("Name of known@example.org"),
        "no name keeps the name"
    );
    assert_eq!(known.timezone, "Asia/Tokyo");
    assert_eq!(known.audiences, ["sales"]);
    let last = store
        .subscriber_by_email("n1202@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.audiences, ["hr", "ops"]);
    assert_eq!(last.confirmed_at, Some(at(T0 + 60)));

    // Again: every row is an update now.
    let outcome = store
        .import_subscribers(&rows[..1_203], at(T0 + 90))
        .await
        .unwrap();
    assert_eq!((outcome.created.len(), outcome.updated), (0, 1_203));
    assert_eq!(store.all_subscribers().await.unwrap().len(), 1_205);
}

async fn an_import_in_parts_numbers_rows_across_parts_and_keeps_text_exact(store: &Store) {
    unsubscribed(store, "gone@example.org").await;
    add(store, "known@example.org", Status::Active, &["hr"]).await;

    // Text that PostgreSQL's COPY format reads as syntax unless it is escaped.
    let awkward = "Tab\there, back\\slash \\N\nnew line\r";
    let mut first: Vec<NewSubscriber> = (0..3)
        .map(|i| new_subscriber(&format!("p{i}@example.org"), Status::Active, &["hr"]))
        .collect();
    first[1].name = Some(awkward.into());
    let second = vec![
        new_subscriber("gone@example.org", Status::Active, &[]),
        new_subscriber("known@example.org", Status::Active, &["ops", "sales"]),
        // An audience named twice is kept once.
        new_subscriber("p3@example.org", Status::Pending, &["ops", "ops"]),
    ];
    let mut import = store.begin_import(at(T0 + 60)).await.unwrap();
    import.add(&first).await.unwrap();
    import.add(&[]).await.unwrap();
    import.add(&second).await.unwrap();
    let outcome = import.finish().await.unwrap();
    assert_eq!(outcome.suppressed, [3], "counted across parts");
    assert_eq!(outcome.updated, 1);
    let created: Vec<&str> = outcome.created.iter().map(|s| s.email.as_str()).collect();
    assert_eq!(
        created,
        [
            "p0@example.org",
            "p1@example.org",
            "p2@example.org",
            "p3@example.org"
        ],
        "in the rows' order"
    );
    for made in &outcome.created {
        let stored = store
            .subscriber_by_email(&made.email)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.id, made.id, "{}: the id handed back", made.email);
    }
    let p1 = store
        .subscriber_by_email("p1@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p1.name.as_deref(), Some(awkward));
    let p3 = store
        .subscriber_by_email("p3@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p3.status, p3.confirmed_at), (Status::Pending, None));
    assert_eq!(p3.audiences, ["ops"]);
    let known = store
        .subscriber_by_email("known@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known.audiences, ["ops", "sales"]);
    assert!(
        store
            .subscriber_by_email("gone@example.org")
            .await
            .unwrap()
            .is_some_and(|s| s.status != Status::Active),
        "a suppressed address stays out"
    );

    // Dropped before finish: nothing is written.
    let mut dropped = store.begin_import(at(T0 + 90)).await.unwrap();
    dropped
        .add(&[new_subscriber("never@example.org", Status::Active, &[])])
        .await
        .unwrap();
    drop(dropped);
    assert!(
        store
            .subscriber_by_email("never@example.org")
            .await
            .unwrap()
            .is_none()
    );
}

async fn stats_count_by_status_audience_and_frequency(store: &Store) {
    for i in 0..6 {
        add(
            store,
            &format!("a{i}@example.org"),
            Status::Active,
            &["hr", "ops"],
        )
        .await;
    }
    add(store, "p@example.org", Status::Pending, &["hr"]).await;
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.total, 7);
    assert_eq!(stats.by_status["active"], 6);
    assert_eq!(stats.by_status["pending"], 1);
    assert_eq!(stats.by_status["bounced"], 0);
    let expected: BTreeMap<String, u64> = [("hr".to_string(), 6), ("ops".to_string(), 6)].into();
    assert_eq!(stats.by_audience, expected, "the mostly-active plan");
    assert_eq!(stats.by_frequency["weekly"], 6);

    // Mostly not active: the other plan gives the same kind of answer.
    for i in 0..10 {
        add(
            store,
            &format!("q{i}@example.org"),
            Status::Pending,
            &["sales"],
        )
        .await;
    }
    let by_audience = store.active_by_audience().await.unwrap();
    assert_eq!(by_audience, expected, "the join plan");
    assert_eq!(store.active_timezones().await.unwrap(), ["Europe/Paris"]);
    assert_eq!(
        store.subscriber_timezones("weekly").await.unwrap(),
        ["Europe/Paris"]
    );
    assert_eq!(store.active_subscribers("weekly").await.unwrap().len(), 6);
}

async fn the_outbox_queues_claims_sends_retries_and_prunes(store: &Store) {
    let s = add(store, "o@example.org", Status::Active, &[]).await;
    let c1 = content(store, "one").await;
    assert_eq!(
        content(store, "one").await,
        c1,
        "the same body keeps its id"
    );
    let c2 = content(store, "two").await;
    assert_ne!(c1, c2);
    assert_eq!(store.content(c2).await.unwrap().unwrap().subject, "two");

    let messages: Vec<NewMessage> = (0..1_005)
        .map(|i| {
            message(
                &format!("m{i:04}"),
                Some(s),
                if i % 2 == 0 { c1 } else { c2 },
            )
        })
        .collect();
    assert_eq!(
        store
            .enqueue(messages.clone(), &ids(), at(T0))
            .await
            .unwrap(),
        1_005
    );
    assert_eq!(
        store.enqueue(messages, &ids(), at(T0)).await.unwrap(),
        0,
        "queued keys are skipped"
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.sending, counts.sent, counts.failed),
        (1_005, 0, 0, 0)
    );

    let claimed = store.claim_due(at(T0), 60, 10, None).await.unwrap();
    assert_eq!(claimed.len(), 10);
    assert_eq!(claimed[0].dedup_key, "m0000", "oldest first");
    assert!(
        claimed
            .iter()
            .all(|r| r.status == OutboxStatus::Sending && r.attempts == 1)
    );
    assert!(
        claimed[0].message_id.contains("example.org"),
        "{}",
        claimed[0].message_id
    );
    let undelivered = store.undelivered(at(T0)).await.unwrap();
    assert_eq!((undelivered.due, undelivered.claimed), (995, 10));

    let ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    store.release(&ids[5..]).await.unwrap();
    store
        .mark_sent_at(&[(ids[0], at(T0 + 1)), (ids[1], at(T0 + 2))])
        .await
        .unwrap();
    store
        .reschedule(ids[2], at(T0 + 600), "421 try later")
        .await
        .unwrap();
    store.mark_failed(ids[3], "550 no such user").await.unwrap();
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.sending, counts.sent, counts.failed),
        (1_001, 1, 2, 1)
    );
    let row = store.outbox_row(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.sent_at),
        (OutboxStatus::Sent, Some(at(T0 + 1)))
    );
    let released = store.outbox_row(ids[6]).await.unwrap().unwrap();
    assert_eq!(
        (released.status, released.attempts),
        (OutboxStatus::Queued, 0)
    );
    let undelivered = store.undelivered(at(T0)).await.unwrap();
    assert_eq!(undelivered.deferred, 1);
    assert_eq!(undelivered.next_retry, Some(at(T0 + 600)));

    // A lease that ran out is claimed again, and first.
    let again = store.claim_due(at(T0 + 61), 60, 2, None).await.unwrap();
    assert_eq!(again[0].id, ids[4]);
    assert_eq!(again[0].attempts, 2);

    assert_eq!(store.retry_failed(at(T0 + 100)).await.unwrap(), 1);
    assert_eq!(store.outbox_row(ids[3]).await.unwrap().unwrap().attempts, 0);

    let prefix = store.messages_with_key_prefix("m000").await.unwrap();
    assert_eq!(prefix.len(), 10);

    // Pruning: sent rows older than the cut go; bodies no row uses go with them.
    let (messages, bodies) = store.prune(at(T0 + 1)).await.unwrap();
    assert_eq!((messages, bodies), (2, 0));
    assert!(store.outbox_row(ids[0]).await.unwrap().is_none());

    // After a restart of the single SQLite daemon, claims are released; a shared
    // PostgreSQL leaves them to their leases.
    let released = store.release_in_flight(None).await.unwrap();
    assert_eq!(released, if store.is_shared() { 0 } else { 2 });
}

async fn deliveries_are_listed_by_status_address_and_page(store: &Store) {
    let a = add(store, "a@example.org", Status::Active, &[]).await;
    let b = add(store, "b@example.org", Status::Active, &[]).await;
    let c = content(store, "subject line").await;
    let messages: Vec<NewMessage> = (0..6)
        .map(|i| message(&format!("d{i}"), Some(if i < 4 { a } else { b }), c))
        .collect();
    store.enqueue(messages, &ids(), at(T0)).await.unwrap();
    let claimed = store.claim_due(at(T0), 60, 2, None).await.unwrap();
    store.mark_failed(claimed[0].id, "boom").await.unwrap();

    let all = store
        .deliveries_where(&DeliveryFilter {
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<&str> = all.iter().map(|d| d.row.dedup_key.as_str()).collect();
    assert_eq!(keys, ["d5", "d4", "d3", "d2"]);
    assert_eq!(all[0].subject.as_deref(), Some("subject line"));
    let next = store
        .deliveries_where(&DeliveryFilter {
            before: Some(all[3].row.id),
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.len(), 2);
    for (status, n) in [
        (OutboxStatus::Queued, 4),
        (OutboxStatus::Failed, 1),
        (OutboxStatus::Sending, 1),
        (OutboxStatus::Sent, 0),
    ] {
        let listed = store
            .deliveries_where(&DeliveryFilter {
                status: Some(status),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), n, "{status:?}");
    }
    let to_b = store
        .deliveries_where(&DeliveryFilter {
            address: Some("b@example.org".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(to_b.len(), 2);
    assert_eq!(store.deliveries(true, 10).await.unwrap().len(), 1);
    assert_eq!(store.deliveries_to(a, 3).await.unwrap().len(), 3);
}

async fn digest_periods_and_first_seen_articles(store: &Store) {
    let a = add(store, "a@example.org", Status::Active, &[]).await;
    let c = content(store, "digest").await;
    for (key, day) in [("w1", 0), ("w2", 7)] {
        let mut m = message(key, Some(a), c);
        m.digest = Some(("weekly".into(), at(T0 + day * 86_400)));
        store
            .enqueue([m], &ids(), at(T0 + day * 86_400 + 5))
            .await
            .unwrap();
    }
    let periods = store.digest_periods("weekly").await.unwrap();
    assert_eq!(periods[&a], (at(T0 + 7 * 86_400), at(T0 + 7 * 86_400 + 5)));
    assert_eq!(
        store.digest_period("weekly", a).await.unwrap(),
        Some((at(T0 + 7 * 86_400), at(T0 + 7 * 86_400 + 5)))
    );
    assert_eq!(store.digest_period("daily", a).await.unwrap(), None);

    assert_eq!(
        store.record_first_seen(&["x", "y"], at(T0)).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .record_first_seen(&["y", "z"], at(T0 + 9))
            .await
            .unwrap(),
        1
    );
    let seen = store.first_seen().await.unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen["y"], at(T0));
    let after = store.first_seen_after(at(T0)).await.unwrap();
    assert_eq!(after.keys().collect::<Vec<_>>(), ["z"]);
}

async fn the_sent_journal_is_moved_in_when_opened(store: &Store) {
    let c = content(store, "j").await;
    store
        .enqueue(
            [message("j1", None, c), message("j2", None, c)],
            &ids(),
            at(T0),
        )
        .await
        .unwrap();
    let claimed = store.claim_due(at(T0), 60, 10, None).await.unwrap();
    let mut journal = store.sent_journal().await.unwrap();
    journal
        .append(&[(claimed[0].id, at(T0 + 3)), (claimed[1].id, at(T0 + 4))])
        .unwrap();
    drop(journal);
    // The next opening (a restart) records them.
    drop(store.sent_journal().await.unwrap());
    let row = store.outbox_row(claimed[1].id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.sent_at),
        (OutboxStatus::Sent, Some(at(T0 + 4)))
    );
}

async fn bounce_events_are_recorded_attributed_and_counted(store: &Store) {
    let s = add(store, "b@example.org", Status::Active, &[]).await;
    let c = content(store, "b").await;
    store
        .enqueue(
            [
                message("b1", Some(s), c),
                message("b2", Some(s), c),
                message("b3", Some(s), c),
            ],
            &ids(),
            at(T0),
        )
        .await
        .unwrap();
    let rows = store.claim_due(at(T0), 60, 10, None).await.unwrap();
    for (i, row) in rows.iter().enumerate() {
        store
            .mark_sent_at(&[(row.id, at(T0 + 100 * i as i64))])
            .await
            .unwrap();
    }
    let found = store
        .outbox_by_message_id(&format!(
            "<{}>",
            rows[1].message_id.trim_matches(['<', '>'])
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, rows[1].id);
    assert!(
        store
            .outbox_by_message_id("<nothing@x>")
            .await
            .unwrap()
            .is_none()
    );

    let soft = |outbox: i64, sent: i64, now: i64| NewBounceEvent {
        subscriber_id: Some(s),
        outbox_id: Some(outbox),
        email_hash: Some("hash-b".into()),
        kind: "soft".into(),
        source: "dsn".into(),
        status_code: Some("4.2.2".into()),
        reason: "mailbox full".into(),
        action: "counted".into(),
        sent_at: Some(at(sent)),
        at: at(now),
    };
    let first = store
        .record_bounce(&soft(rows[0].id, T0, T0 + 50))
        .await
        .unwrap();
    store
        .record_bounce(&soft(rows[0].id, T0, T0 + 60))
        .await
        .unwrap();
    let third = store
        .record_bounce(&soft(rows[2].id, T0 + 200, T0 + 250))
        .await
        .unwrap();
    assert!(third > first);
    // rows[1], sent between the two and not bounced, starts the count again.
    assert_eq!(
        store
            .soft_bounces(s, at(T0 - 10), at(T0 + 300))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .soft_bounces(s, at(T0 - 10), at(T0 + 150))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .soft_bounces(s, at(T0 - 10), at(T0 + 50))
            .await
            .unwrap(),
        1
    );
    store.set_bounce_action(third, "ended").await.unwrap();

    let events = store
        .bounce_events(&BounceFilter {
            subscriber_id: Some(s),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].id, events[0].action.as_str()), (third, "ended"));
    let of_row = store
        .bounce_events(&BounceFilter {
            outbox_id: Some(rows[0].id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_row.len(), 2);
    let older = store
        .bounce_events(&BounceFilter {
            before: Some(third),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(older.len(), 2);
    let marks = store
        .bounces_of_messages(&[rows[0].id, rows[1].id, rows[2].id])
        .await
        .unwrap();
    assert_eq!(marks.len(), 2);
    assert_eq!(marks[&rows[2].id], ("soft".to_string(), "dsn".to_string()));
    assert_eq!(
        store.bounce_totals().await.unwrap(),
        [("soft".to_string(), 3)]
    );
}

async fn admins_and_their_sessions(store: &Store) {
    let now = at(T0);
    let id = store.add_admin("a@example.org", "$h1", now).await.unwrap();
    assert!(matches!(
        store.add_admin("a@example.org", "$h2", now).await,
        Err(StoreError::AdminExists(_))
    ));
    let b = store.add_admin("b@example.org", "$h3", now).await.unwrap();
    let creds = store
        .admin_credentials("a@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((creds.id, creds.password_hash.as_str()), (id, "$h1"));
    assert!(
        store
            .admin_credentials("c@example.org")
            .await
            .unwrap()
            .is_none()
    );

    store
        .add_admin_session(&[1; 32], id, "t1", now)
        .await
        .unwrap();
    store
        .add_admin_session(&[2; 32], id, "t2", now + Duration::hours(13))
        .await
        .unwrap();
    store
        .add_admin_session(&[3; 32], b, "t3", now)
        .await
        .unwrap();
    store
        .touch_admin_session(&[1; 32], now + Duration::minutes(5))
        .await
        .unwrap();
    let session = store.admin_session(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (
            session.email.as_str(),
            session.csrf.as_str(),
            session.last_seen
        ),
        ("a@example.org", "t1", now + Duration::minutes(5))
    );
    let listed = store.admins().await.unwrap();
    assert_eq!(listed[0].sessions, 2);

    let later = now + Duration::hours(13);
    let pruned = store
        .prune_admin_sessions(later - Duration::minutes(30), later - Duration::hours(12))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    assert!(store.admin_session(&[2; 32]).await.unwrap().is_some());
    store.remove_admin_session(&[2; 32]).await.unwrap();
    assert!(store.admin_session(&[2; 32]).await.unwrap().is_none());

    store
        .add_admin_session(&[4; 32], id, "t4", now)
        .await
        .unwrap();
    store
        .set_admin_password("a@example.org", "$h4", now)
        .await
        .unwrap();
    assert!(store.admin_session(&[4; 32]).await.unwrap().is_none());
    store.remove_admin("b@example.org").await.unwrap();
    assert!(matches!(
        store.remove_admin("b@example.org").await,
        Err(StoreError::AdminNotFound(_))
    ));
    assert_eq!(store.admins().await.unwrap().len(), 1);
}

fn query(q: &str) -> SubscriberQuery {
    SubscriberQuery {
        q: q.into(),
        page: 1,
        per_page: 50,
        ..Default::default()
    }
}

async fn search_filters_sorts_and_pages(store: &Store) {
    let mut zed = new_subscriber("zed@example.org", Status::Active, &["hr"]);
    zed.name = Some("Zoë Ärger".into());
    store.add_subscriber(&zed, at(T0)).await.unwrap();
    add(store, "amy@example.org", Status::Pending, &["ops"]).await;
    let mut percent = new_subscriber("fifty%off@example.org", Status::Active, &["hr", "ops"]);
    percent.frequency = "daily".into();
    store.add_subscriber(&percent, at(T0)).await.unwrap();

    let emails = |page: &crier::store::SubscriberPage| -> Vec<String> {
        page.subscribers.iter().map(|s| s.email.clone()).collect()
    };
    let all = store.subscribers(&query("")).await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(
        emails(&all),
        [
            "fifty%off@example.org",
            "amy@example.org",
            "zed@example.org"
        ]
    );
    // Search by part of an address or a name, whatever its case; `%` is itself.
    assert_eq!(
        emails(&store.subscribers(&query("ZED@")).await.unwrap()),
        ["zed@example.org"]
    );
    assert_eq!(
        emails(&store.subscribers(&query("ärg")).await.unwrap()),
        ["zed@example.org"]
    );
    assert_eq!(
        emails(&store.subscribers(&query("y@")).await.unwrap()),
        ["amy@example.org"]
    );
    assert_eq!(
        emails(&store.subscribers(&query("%")).await.unwrap()),
        ["fifty%off@example.org"]
    );
    assert_eq!(store.subscribers(&query("nobody")).await.unwrap().total, 0);

    let mut q = query("");
    q.status = Some(Status::Active);
    q.audience = Some("ops".into());
    assert_eq!(
        emails(&store.subscribers(&q).await.unwrap()),
        ["fifty%off@example.org"]
    );
    let mut q = query("");
    q.frequency = Some("weekly".into());
    assert_eq!(store.subscribers(&q).await.unwrap().total, 2);

    let mut q = query("");
    q.sort = SortBy::Email;
    q.ascending = true;
    q.per_page = 2;
    q.page = 2;
    let page = store.subscribers(&q).await.unwrap();
    assert_eq!(
        (page.total, emails(&page)),
        (3, vec!["zed@example.org".to_string()])
    );
    let mut q = query("");
    q.sort = SortBy::Status;
    q.ascending = true;
    assert_eq!(
        store.subscribers(&q).await.unwrap().subscribers[0].status,
        Status::Active
    );
    let mut q = query("");
    q.page = u32::MAX;
    q.per_page = 1000;
    assert!(matches!(
        store.subscribers(&q).await,
        Err(StoreError::PageOutOfRange { .. })
    ));
    let mut q = query("example");
    q.sort = SortBy::Email;
    q.ascending = true;
    let every = store.matching_subscribers(&q).await.unwrap();
    assert_eq!(every[0].email, "amy@example.org");
    assert!(!store.subscribers_plan(&query("")).await.unwrap().is_empty());
}

async fn bulk_changes_touch_only_what_they_change(store: &Store) {
    let a = add(store, "a@example.org", Status::Active, &["hr"]).await;
    let b = add(store, "b@example.org", Status::Active, &["hr", "ops"]).await;
    let p = add(store, "p@example.org", Status::Pending, &["ops"]).await;
    let c = content(store, "x").await;
    store
        .enqueue([message("q-b", Some(b), c)], &ids(), at(T0))
        .await
        .unwrap();
    let everyone = query("");
    let hash = |email: &str| format!("hash-{email}");

    let add_ops = BulkChange::AddAudience("ops".into());
    assert_eq!(store.bulk_targets(&everyone, &add_ops).await.unwrap(), 1);
    assert_eq!(
        store
            .apply_bulk(&everyone, &add_ops, &hash, "console", at(T0))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.subscriber_by_id(a).await.unwrap().unwrap().audiences,
        ["hr", "ops"]
    );

    let remove = BulkChange::RemoveAudience {
        audience: "ops".into(),
        keep_one: true,
    };
    assert_eq!(store.bulk_targets(&everyone, &remove).await.unwrap(), 2);
    store
        .apply_bulk(&everyone, &remove, &hash, "console", at(T0))
        .await
        .unwrap();
    assert_eq!(
        store.subscriber_by_id(p).await.unwrap().unwrap().audiences,
        ["ops"]
    );
    assert_eq!(
        store.subscriber_by_id(b).await.unwrap().unwrap().audiences,
        ["hr"]
    );

    let leave = BulkChange::Unsubscribe {
        among: vec![Status::Active],
    };
    assert_eq!(
        store
            .apply_bulk(&everyone, &leave, &hash, "console", at(T0 + 1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.subscriber_by_id(p).await.unwrap().unwrap().status,
        Status::Pending
    );
    assert_eq!(
        store.subscriber_by_id(b).await.unwrap().unwrap().status,
        Status::Unsubscribed
    );
    assert!(store.is_suppressed("hash-a@example.org").await.unwrap());
    assert!(store.deliveries_to(b, 10).await.unwrap().is_empty());
    let nobody = BulkChange::Unsubscribe { among: vec![] };
    assert_eq!(store.bulk_targets(&everyone, &nobody).await.unwrap(), 0);
}

async fn suppressions_are_listed_found_and_lifted(store: &Store) {
    for name in ["a", "b", "c"] {
        let id = add(store, &format!("{name}@example.org"), Status::Active, &[]).await;
        store
            .unsubscribe_subscriber(id, &format!("hash-{name}"), "link", at(T0))
            .await
            .unwrap();
    }
    assert_eq!(store.suppression_count().await.unwrap(), 3);
    let page = store.suppressions(None, 2).await.unwrap();
    let hashes: Vec<&str> = page.iter().map(|s| s.email_hash.as_str()).collect();
    assert_eq!(hashes, ["hash-c", "hash-b"]);
    let rest = store.suppressions(Some(page[1].position), 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].email_hash, "hash-a");
    assert_eq!(
        store.suppression("hash-b").await.unwrap().unwrap().reason,
        "unsubscribed"
    );
    assert!(store.lift_suppression("hash-b", at(T0 + 1)).await.unwrap());
    assert!(!store.lift_suppression("hash-b", at(T0 + 1)).await.unwrap());
    assert!(store.suppression("hash-b").await.unwrap().is_none());
}

async fn the_dashboard_counts_per_day_and_zone(store: &Store) {
    let day = 86_400;
    let start = (T0 / day) * day;
    let a = store
        .add_subscriber(
            &new_subscriber("a@example.org", Status::Active, &[]),
            at(start + 10),
        )
        .await
        .unwrap()
        .id;
    store
        .add_subscriber(
            &new_subscriber("b@example.org", Status::Pending, &[]),
            at(start + day + 10),
        )
        .await
        .unwrap();
    let activity = store.subscriber_activity(at(start)).await.unwrap();
    let counts: Vec<(i64, &str, u64)> = activity
        .iter()
        .map(|d| {
            (
                (d.day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() - start) / day,
                d.kind.as_str(),
                d.count,
            )
        })
        .collect();
    assert_eq!(counts, [(0, "signup", 1), (1, "signup", 1)]);

    let c = content(store, "x").await;
    store
        .enqueue(
            [message("r1", Some(a), c), message("r2", Some(a), c)],
            &ids(),
            at(start + 20),
        )
        .await
        .unwrap();
    let claimed = store.claim_due(at(start + 20), 60, 1, None).await.unwrap();
    store
        .mark_sent_at(&[(claimed[0].id, at(start + 30))])
        .await
        .unwrap();
    let outbox = store.outbox_activity(at(start)).await.unwrap();
    let kinds: Vec<(&str, u64)> = outbox.iter().map(|d| (d.kind.as_str(), d.count)).collect();
    assert_eq!(kinds, [("queued", 1), ("sent", 1)]);

    let (events, rows) = store.report_marks().await.unwrap();
    assert!(events >= 2 && rows >= 2, "{events} {rows}");
    assert_eq!(store.activity_between(0, events).await.unwrap().len(), 2);
    let totals = store.outbox_totals_between(0, rows).await.unwrap();
    assert_eq!((totals[0].kind.as_str(), totals[0].count), ("total", 2));
    assert!(
        store
            .outbox_unsent(at(start))
            .await
            .unwrap()
            .iter()
            .all(|d| d.kind == "queued")
    );
    let zones = store.active_by_zone().await.unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!(
        (zones[0].timezone.as_str(), zones[0].count),
        ("Europe/Paris", 1)
    );
}

async fn confirmation_mails_are_throttled(store: &Store) {
    let a = add(store, "a@example.org", Status::Pending, &[]).await;
    let b = add(store, "b@example.org", Status::Pending, &[]).await;
    let first = store
        .note_confirmation_sent(&[b, a], at(T0), at(T0 - 3_600))
        .await
        .unwrap();
    assert_eq!(first, [b, a]);
    let again = store
        .note_confirmation_sent(&[a, b], at(T0 + 60), at(T0 + 60 - 3_600))
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(store.ping().await.map(|_| 1).unwrap(), 1);
}

/// PostgreSQL alone: migrations under the advisory lock, the shared secret, and
/// several instances opening one database at once.
#[cfg(crier_postgres)]
mod postgres_only {
    use super::*;

    #[tokio::test]
    async fn instances_opening_at_once_migrate_once_and_share_one_secret() {
        let (name, url) = create_database().await;
        let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let opened = futures_util::future::join_all(
            dirs.iter()
                .map(|dir| Store::open_postgres(&url, dir.path())),
        )
        .await;
        let stores: Vec<Store> = opened.into_iter().map(Result::unwrap).collect();
        let secret = stores[0].shared_secret().unwrap().to_string();
        assert_eq!(secret.len(), 64);
        for store in &stores {
            assert_eq!(store.shared_secret(), Some(secret.as_str()));
            assert_eq!(
                store.schema_version().await.unwrap(),
                Store::known_schema_version()
            );
            assert!(store.is_shared());
            assert!(!format!("{store:?}").contains("not-a-secret"));
            assert!(!format!("{store:?}").contains(&secret));
            assert!(!store.describe().contains("not-a-secret"));
        }
        for store in stores {
            store.close().await;
        }
        drop_database(&name).await;
    }

    #[tokio::test]
    async fn a_missing_state_folder_and_a_bad_url_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open_postgres(&server_url(), &dir.path().join("nope"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::MissingFolder(_)), "{err}");
        let err = Store::open_postgres("postgres://u:hunter2@127.0.0.1:notaport/x", dir.path())
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    /// Everything a store holds, read through its API, for comparing two stores.
    async fn everything(store: &Store) -> String {
        let subscribers = store.all_subscribers().await.unwrap();
        let mut out = format!("{subscribers:?}\n");
        for s in &subscribers {
            out += &format!("{:?}\n", store.subscriber_events(s.id, 100).await.unwrap());
            out += &format!("{:?}\n", store.deliveries_to(s.id, 100).await.unwrap());
        }
        out += &format!("{:?}\n", store.suppressions(None, 100).await.unwrap());
        out += &format!(
            "{:?}\n",
            store
                .deliveries_where(&DeliveryFilter {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
        );
        out += &format!(
            "{:?}\n",
            store
                .bounce_events(&BounceFilter {
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
        );
        out += &format!("{:?}\n", store.admins().await.unwrap());
        out += &format!("{:?}\n", store.admin_session(&[7; 32]).await.unwrap());
        let mut seen: Vec<_> = store.first_seen().await.unwrap().into_iter().collect();
        seen.sort();
        out += &format!("{seen:?}\n{:?}\n", store.stats().await.unwrap());
        out
    }

    #[tokio::test]
    async fn migrate_to_copies_everything_with_its_ids_and_refuses_a_full_target() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open(&dir.path().join("crier.db")).await.unwrap();
        // Ids with gaps, so that preserved ids and moved sequences show.
        for i in 0..30 {
            let id = add(
                &sqlite,
                &format!("s{i}@example.org"),
                Status::Active,
                &["hr", "ops"],
            )
            .await;
            if i % 7 == 3 {
                sqlite
                    .erase_subscriber(id, &format!("hash-s{i}"), at(T0 + i))
                    .await
                    .unwrap();
            } else if i % 5 == 1 {
                sqlite
                    .unsubscribe_subscriber(id, &format!("hash-s{i}"), "link", at(T0 + i))
                    .await
                    .unwrap();
            }
        }
        let pending = sqlite
            .add_subscriber(
                &new_subscriber("p@example.org", Status::Pending, &["hr"]),
                at(T0),
            )
            .await
            .unwrap();
        let again = new_subscriber("p@example.org", Status::Pending, &["sales"]);
        let Registration::Known(known) = sqlite.sign_up(&again, at(T0 + 1)).await.unwrap() else {
            panic!("known");
        };
        known.hold().await.unwrap();
        let c = content(&sqlite, "body").await;
        let messages: Vec<NewMessage> = (0..3)
            .map(|i| message(&format!("m{i}"), Some(pending.id), c))
            .collect();
        sqlite.enqueue(messages, &ids(), at(T0)).await.unwrap();
        let claimed = sqlite.claim_due(at(T0), 60, 2, None).await.unwrap();
        sqlite
            .mark_sent_at(&[(claimed[0].id, at(T0 + 5))])
            .await
            .unwrap();
        sqlite
            .record_bounce(&NewBounceEvent {
                subscriber_id: Some(pending.id),
                outbox_id: Some(claimed[0].id),
                email_hash: Some("hash-p".into()),
                kind: "soft".into(),
                source: "dsn".into(),
                status_code: None,
                reason: "full".into(),
                action: "counted".into(),
                sent_at: Some(at(T0 + 5)),
                at: at(T0 + 9),
            })
            .await
            .unwrap();
        let admin = sqlite
            .add_admin("a@example.org", "$argon", at(T0))
            .await
            .unwrap();
        sqlite
            .add_admin_session(&[7; 32], admin, "csrf", at(T0))
            .await
            .unwrap();
        sqlite
            .record_first_seen(&["one", "two"], at(T0))
            .await
            .unwrap();
        let before = everything(&sqlite).await;

        let (name, url) = create_database().await;
        let copied = sqlite
            .copy_to_postgres(&url, Some("s".repeat(64).as_str()))
            .await
            .unwrap();
        assert!(copied.secret);
        let counts: BTreeMap<&str, u64> = copied.tables.iter().copied().collect();
        assert_eq!(counts["subscribers"], 27);
        assert_eq!(counts["outbox"], 3);
        assert_eq!(counts["suppressions"], 10);
        assert_eq!(counts["bounce_events"], 1);
        assert_eq!(counts["admins"], 1);
        assert_eq!(counts["signups"], 1);

        let state = tempfile::tempdir().unwrap();
        let postgres = Store::open_postgres(&url, state.path()).await.unwrap();
        assert_eq!(everything(&postgres).await, before);
        assert_eq!(postgres.shared_secret(), Some("s".repeat(64).as_str()));
        // The sequences moved past the copied ids.
        let newest = postgres.all_subscribers().await.unwrap().last().unwrap().id;
        let next = add(&postgres, "new@example.org", Status::Active, &[]).await;
        assert!(next > newest, "{next} after {newest}");
        let page = postgres.suppressions(None, 1).await.unwrap();
        postgres
            .unsubscribe_subscriber(next, "hash-new", "link", at(T0 + 99))
            .await
            .unwrap();
        let top = postgres.suppressions(None, 1).await.unwrap();
        assert!(top[0].position > page[0].position);
        assert_eq!(top[0].email_hash, "hash-new");
        // The held sign-up came along and still applies.
        let confirmed = postgres
            .confirmation(pending.id)
            .await
            .unwrap()
            .unwrap()
            .activate("hash-p", None, None, at(T0 + 100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(confirmed.audiences, ["sales"]);
        postgres.close().await;

        // A second copy into the same database is refused and changes nothing.
        let err = sqlite.copy_to_postgres(&url, None).await.unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        let postgres = Store::open_postgres(&url, state.path()).await.unwrap();
        assert_eq!(postgres.all_subscribers().await.unwrap().len(), 28);
        postgres.close().await;
        sqlite.close().await;
        drop_database(&name).await;
    }

    /// The command itself: a SQLite database filled through the CLI, copied, and the
    /// counts printed.
    #[tokio::test]
    async fn the_migrate_to_command_copies_and_prints_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("crier.toml"),
            "[database]\nurl = \"sqlite://crier.db\"\n",
        )
        .unwrap();
        let crier = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_crier"))
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
        };
        let sqlite = Store::open(&dir.path().join("crier.db")).await.unwrap();
        for email in ["a@example.org", "b@example.org"] {
            add(&sqlite, email, Status::Active, &["hr"]).await;
        }
        sqlite.close().await;
        let secret = "0123456789abcdef".repeat(4);
        std::fs::write(dir.path().join("crier.secret"), &secret).unwrap();
        let (name, url) = create_database().await;
        let out = crier(&["db", "migrate-to", &url]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.contains("not-a-secret"), "{stdout}");
        let subscribers = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("subscribers "))
            .unwrap_or_default();
        assert!(subscribers.trim_end().ends_with(" 2 rows"), "{stdout}");
        assert!(stdout.contains("matches"), "{stdout}");
        let state = tempfile::tempdir().unwrap();
        let postgres = Store::open_postgres(&url, state.path()).await.unwrap();
        assert_eq!(postgres.shared_secret(), Some(secret.as_str()));
        assert_eq!(postgres.all_subscribers().await.unwrap().len(), 2);
        postgres.close().await;
        let again = crier(&["db", "migrate-to", &url]);
        assert_eq!(again.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
        drop_database(&name).await;
    }

    #[tokio::test]
    async fn concurrent_claims_never_take_one_row_twice() {
        let fresh = fresh(Backend::Postgres).await;
        let store = &fresh.store;
        let c = content(store, "c").await;
        let messages: Vec<NewMessage> = (0..400)
            .map(|i| message(&format!("c{i:03}"), None, c))
            .collect();
        store.enqueue(messages, &ids(), at(T0)).await.unwrap();
        let claims =
            futures_util::future::join_all((0..8).map(|_| store.claim_due(at(T0), 60, 25, None)))
                .await;
        let mut ids: Vec<i64> = claims
            .into_iter()
            .flat_map(|c| c.unwrap().into_iter().map(|r| r.id))
            .collect();
        let claimed = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), claimed, "a row was claimed twice");
        assert_eq!(claimed, 200);
        fresh.finish().await;
    }

    /// An instance name is held by one process at a time, claims carry it, and its
    /// holder gives back only the rows claimed in it.
    #[tokio::test]
    async fn a_named_instance_gives_back_only_its_own_claims() {
        use std::time::Duration as Wait;
        let fresh = fresh(Backend::Postgres).await;
        let store = &fresh.store;
        let c = content(store, "c").await;
        let messages: Vec<NewMessage> =
            (0..6).map(|i| message(&format!("n{i}"), None, c)).collect();
        store.enqueue(messages, &ids(), at(T0)).await.unwrap();
        let a = store.hold_name("web-a", Wait::ZERO).await.unwrap().unwrap();
        let taken = store.hold_name("web-a", Wait::ZERO).await.unwrap_err();
        assert!(
            matches!(&taken, StoreError::NameTaken(n) if n == "web-a"),
            "{taken}"
        );
        let mine = store
            .claim_due(at(T0), 60, 2, Some(a.name()))
            .await
            .unwrap();
        let theirs = store.claim_due(at(T0), 60, 2, Some("web-b")).await.unwrap();
        let nameless = store.claim_due(at(T0), 60, 1, None).await.unwrap();
        assert_eq!((mine.len(), theirs.len(), nameless.len()), (2, 2, 1));

        assert_eq!(store.release_in_flight(Some(&a)).await.unwrap(), 2);
        // Mine are due again at once, beside the row nobody claimed; the others wait
        // for their leases.
        let again = store
            .claim_due(at(T0), 60, 10, Some("web-a"))
            .await
            .unwrap();
        let mut expected: Vec<i64> = mine.iter().map(|r| r.id).collect();
        let all: Vec<i64> = (mine.iter().chain(&theirs).chain(&nameless))
            .map(|r| r.id)
            .collect();
        expected.extend(again.iter().map(|r| r.id).filter(|id| !all.contains(id)));
        expected.sort_unstable();
        assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), expected);
        assert_eq!(again.len(), 3);

        // Once its holder's connection is gone, the name can be taken again.
        drop(a);
        let b = store.hold_name("web-a", Wait::from_secs(10)).await.unwrap();
        assert!(b.is_some());
        fresh.finish().await;
    }

    /// A named worker killed with messages claimed: its successor under the same
    /// name sends them at once, long before their leases run out, while a worker of
    /// another name leaves them alone.
    #[tokio::test]
    async fn a_restarted_named_worker_takes_back_its_claims_at_once() {
        use crier::delivery::{FileMailer, Mailer, Worker, WorkerSettings, retry::RetryPolicy};
        use std::sync::Arc;
        use std::time::Duration as Wait;
        let fresh = fresh(Backend::Postgres).await;
        let store = &fresh.store;
        let out = tempfile::tempdir().unwrap();
        let clock = Arc::new(crier::clock::FixedClock::new(at(T0)));
        let worker = |mailer: Arc<dyn Mailer>| {
            Worker::new(
                store.clone(),
                mailer,
                Arc::new(common::composer(None)),
                clock.clone(),
                crier::tokens::Signer::new(common::SECRET),
                WorkerSettings {
                    concurrency: 2,
                    rate_per_second: 0.0,
                    policy: RetryPolicy::new(3, 48),
                    lease_secs: 3600,
                    poll: Wait::from_millis(20),
                    log_addresses: Default::default(),
                },
            )
        };
        let c = content(store, "c").await;
        let messages: Vec<NewMessage> =
            (0..8).map(|i| message(&format!("w{i}"), None, c)).collect();
        store.enqueue(messages, &ids(), at(T0)).await.unwrap();

        let hold = store.hold_name("w1", Wait::ZERO).await.unwrap().unwrap();
        let stuck = worker(Arc::new(common::Stuck)).with_name(hold);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(stuck.run(stopped, Wait::from_millis(100)));
        let deadline = std::time::Instant::now() + Wait::from_secs(20);
        while store.outbox_counts().await.unwrap().sending < 8 {
            assert!(std::time::Instant::now() < deadline, "never claimed");
            tokio::time::sleep(Wait::from_millis(20)).await;
        }
        // Killed: the task and the name's connection go.
        running.abort();
        let _ = running.await;

        let files = Arc::new(FileMailer::new(out.path().to_path_buf()).unwrap());
        let other = store.hold_name("w2", Wait::ZERO).await.unwrap().unwrap();
        let outcome = worker(files.clone()).with_name(other).drain().await;
        assert_eq!(outcome.sent, 0, "another name's claims were taken early");

        let again = store
            .hold_name("w1", Wait::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        let outcome = worker(files).with_name(again).drain().await;
        assert_eq!(outcome.sent, 8);
        assert_eq!(common::outbox_messages(out.path()).len(), 8);
        assert_eq!(store.outbox_counts().await.unwrap().sending, 0);
        fresh.finish().await;
    }
}

/// What several instances agree on: heartbeats, a lease that one holder gets at a
/// time until it runs out, and a window's count raised by one statement each.
async fn instances_leases_and_hit_counts_are_agreed(store: &Store) {
    use crier::model::Instance;
    let instance = |id: &str, beat: i64| Instance {
        id: id.into(),
        host: "host".into(),
        pid: 7,
        started_at: at(T0),
        beat_at: at(T0 + beat),
    };
    store.beat(&instance("a", 0)).await.unwrap();
    store.beat(&instance("b", 0)).await.unwrap();
    store.beat(&instance("a", 10)).await.unwrap();
    let live = store.live_instances(at(T0 + 5)).await.unwrap();
    assert_eq!(
        live.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(live[0].beat_at, at(T0 + 10));
    store.remove_instance("a").await.unwrap();
    assert!(store.live_instances(at(T0 + 5)).await.unwrap().is_empty());

    assert!(store.try_lease("run", "a", at(T0), 60).await.unwrap());
    assert!(!store.try_lease("run", "b", at(T0 + 30), 60).await.unwrap());
    assert!(
        store.try_lease("run", "a", at(T0 + 30), 60).await.unwrap(),
        "a renewal"
    );
    assert_eq!(
        store
            .lease_holder("run", at(T0 + 60))
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert!(
        store.try_lease("run", "b", at(T0 + 90), 60).await.unwrap(),
        "taken over"
    );
    store.release_lease("run", "a").await.unwrap();
    assert_eq!(
        store
            .lease_holder("run", at(T0 + 91))
            .await
            .unwrap()
            .as_deref(),
        Some("b")
    );
    store.release_lease("run", "b").await.unwrap();
    assert_eq!(store.lease_holder("run", at(T0 + 91)).await.unwrap(), None);

    for expected in 1..=3 {
        assert_eq!(store.hit("k", at(T0)).await.unwrap(), expected);
    }
    assert_eq!(
        store.hit("k", at(T0 + 60)).await.unwrap(),
        1,
        "a new window"
    );
    assert_eq!(store.hit("other", at(T0)).await.unwrap(), 1);
    let pruned = store
        .prune_coordination(at(T0 + 60), at(T0 + 1_000), at(T0 - 1))
        .await
        .unwrap();
    assert_eq!(pruned, 2, "the two counts of the old window");
    assert_eq!(store.hit("k", at(T0 + 60)).await.unwrap(), 2);
}

/// An edition is written in a queueing transaction; a second run on the same day
/// widens its period and adds articles without doubling one, and the version moves.
async fn editions_are_recorded_merged_and_read_back(store: &Store) {
    use crier::model::{Edition, EditionArticle};
    let article = |audience: &str, slug: &str| EditionArticle {
        audience: audience.into(),
        audience_name: audience.to_uppercase(),
        audience_rank: 1,
        slug: slug.into(),
        title: format!("Title {slug}"),
        url: format!("https://example.org/articles/{slug}"),
        published: "2026-11-20".into(),
        summary: Some("A summary.".into()),
        category: "Impact".into(),
        subject: "Subject".into(),
        reading_minutes: 3,
        also: vec!["Developers".into(), "Security".into()],
    };
    let edition = |start: i64, articles: Vec<EditionArticle>| Edition {
        digest: "weekly".into(),
        date: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        period_start: at(T0 + start),
        period_end: at(T0 + start),
        queued_at: at(T0 + start),
        articles,
    };
    assert_eq!(store.editions_version().await.unwrap().count, 0);
    let mut queue = store.queue(&ids(), at(T0)).await.unwrap();
    queue
        .record_edition(&edition(100, vec![article("hr", "a")]))
        .await
        .unwrap();
    queue.commit().await.unwrap();
    let first = store.editions_version().await.unwrap();
    assert_eq!((first.count, first.revisions), (1, 1));

    let mut queue = store.queue(&ids(), at(T0)).await.unwrap();
    queue
        .record_edition(&edition(50, vec![article("hr", "a"), article("ops", "b")]))
        .await
        .unwrap();
    queue.commit().await.unwrap();
    let second = store.editions_version().await.unwrap();
    assert_eq!((second.count, second.revisions), (1, 2));

    let editions = store.editions().await.unwrap();
    assert_eq!(editions.len(), 1);
    let e = &editions[0];
    assert_eq!((e.period_start, e.period_end), (at(T0 + 50), at(T0 + 100)));
    assert_eq!(e.queued_at, at(T0 + 100), "the first queueing time stays");
    let slugs: Vec<_> = e
        .articles
        .iter()
        .map(|a| (a.audience.as_str(), a.slug.as_str()))
        .collect();
    assert_eq!(slugs, [("hr", "a"), ("ops", "b")]);
    assert_eq!(e.articles[0], article("hr", "a"));
}

//! What the console's Digests pages stand on, over a real SQLite file: the dry run's
//! figures for a known list, the preview of one subscriber and of the sample reader,
//! and a test send that queues exactly one outbox row to the given address, reaches
//! the mailer marked as a test, and counts as nobody's digest. The schedule's words
//! are unit-tested beside the describer (`src/cron/describe.rs`) and the framed
//! preview's headers beside its handler (`src/http/console/digests.rs`).

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{SECRET, current, fixtures, library};
use crier::clock::FixedClock;
use crier::config::Digest;
use crier::cron::CronSchedule;
use crier::delivery::{FileMailer, Worker, WorkerSettings, retry::RetryPolicy};
use crier::digests::{Digests, TestError};
use crier::store::Store;
use crier::subscriptions::{Request, Subscriptions};
use crier::templates::Templates;
use mail_parser::MessageParser;

fn monday_eight() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn weekly() -> Digest {
    Digest {
        name: "weekly".into(),
        cron: CronSchedule::parse("0 7 * * 1").unwrap(),
        subject: None,
        lookback: Duration::days(365),
        max_lateness: Duration::hours(6),
        max_articles: 20,
    }
}

struct Setup {
    dir: tempfile::TempDir,
    store: Store,
    subscriptions: Subscriptions,
    digests: Digests,
    clock: Arc<FixedClock>,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
    let clock = Arc::new(FixedClock::new(monday_eight()));
    let templates = Arc::new(Templates::embedded());
    let current = current(library(&fixtures("valid")));
    let subscriptions = Subscriptions::new(
        store.clone(),
        crier::tokens::Signer::new(SECRET),
        Arc::clone(&templates),
        clock.clone(),
        current.clone(),
        common::subscription_settings(),
    );
    let digests = Digests::new(
        subscriptions.clone(),
        templates,
        current,
        vec![weekly()],
        clock.clone(),
        "news@news.example.test".into(),
        None,
    );
    Setup {
        dir,
        store,
        subscriptions,
        digests,
        clock,
    }
}

async fn add(s: &Setup, email: &str, audiences: &[&str]) -> i64 {
    let request = Request {
        email: email.into(),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        frequency: Some("weekly".into()),
        ..Request::default()
    };
    s.subscriptions.add(&request, true).await.unwrap().id
}

/// Four weekly readers: Ada and Bob and Dan get something (Bob and Dan the same
/// body), Cy follows an audience no fixture article reaches.
async fn known_list(s: &Setup) {
    add(s, "ada@example.org", &["security", "hr", "developers"]).await;
    add(s, "bob@example.org", &["security"]).await;
    add(s, "cy@example.org", &["students"]).await;
    add(s, "dan@example.org", &["security"]).await;
}

fn file_worker(s: &Setup) -> (Worker, std::path::PathBuf) {
    let outbox = s.dir.path().join("outbox");
    let worker = Worker::new(
        s.store.clone(),
        Arc::new(FileMailer::new(outbox.clone()).unwrap()),
        Arc::new(common::composer(None)),
        s.clock.clone(),
        crier::tokens::Signer::new(SECRET),
        WorkerSettings {
            concurrency: 2,
            rate_per_second: 0.0,
            policy: RetryPolicy::new(3, 48),
            lease_secs: 300,
            poll: std::time::Duration::from_millis(50),
            log_addresses: Default::default(),
        },
    );
    (worker, outbox)
}

#[tokio::test]
async fn the_dry_run_counts_digests_contents_and_who_gets_nothing() {
    let s = setup().await;
    known_list(&s).await;
    let dry = s.digests.dry_run(&weekly(), 20).await.unwrap();
    assert_eq!(dry.at, monday_eight());
    assert_eq!(dry.digests, 3, "Ada, Bob and Dan");
    assert_eq!(dry.contents, 2, "Bob and Dan share one body");
    assert_eq!(dry.nothing_new, 1);
    assert_eq!(dry.nothing_new_first, ["cy@example.org"]);
    assert_eq!((dry.already_planned, dry.unschedulable), (0, 0));
    // Only the first ones are named.
    let none_named = s.digests.dry_run(&weekly(), 0).await.unwrap();
    assert_eq!(
        (none_named.nothing_new, none_named.nothing_new_first.len()),
        (1, 0)
    );

    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.sending, counts.sent, counts.failed),
        (0, 0, 0, 0),
        "a dry run queues nothing"
    );
    // The real run queues what the dry run counted.
    let planning = s
        .digests
        .plan(
            &weekly(),
            monday_eight(),
            crier::digests::Firing::Manual,
            None,
        )
        .await
        .unwrap();
    let report = s.digests.enqueue(&weekly(), &planning).await.unwrap();
    assert_eq!((report.queued, report.contents), (3, 2));
    let after = s.digests.dry_run(&weekly(), 20).await.unwrap();
    assert_eq!((after.digests, after.already_planned), (0, 3));
}

#[tokio::test]
async fn previews_a_subscriber_by_address_or_id_and_the_sample_reader() {
    let s = setup().await;
    known_list(&s).await;
    let ada = s
        .digests
        .subscriber("ADA@example.org ")
        .await
        .unwrap()
        .unwrap();
    let by_id = s
        .digests
        .subscriber(&ada.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.email, "ada@example.org");
    assert!(
        s.digests
            .subscriber("nobody@example.org")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.digests
            .subscriber("not an address")
            .await
            .unwrap()
            .is_none()
    );

    let preview = s.digests.preview(&weekly(), &ada).await.unwrap().unwrap();
    assert!(
        preview.html.contains("unsubscribe?token="),
        "Ada's own links"
    );
    assert!(!preview.text.contains("[[crier:"), "every marker is filled");
    let cy = s
        .digests
        .subscriber("cy@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.digests.preview(&weekly(), &cy).await.unwrap(),
        None,
        "nothing new for Cy"
    );
    let sample = s.digests.sample_subscriber(&weekly());
    assert_eq!(sample.id, 0);
    let everything = s
        .digests
        .preview(&weekly(), &sample)
        .await
        .unwrap()
        .unwrap();
    assert!(
        everything.text.len() >= preview.text.len(),
        "the sample follows every audience"
    );
}

#[tokio::test]
async fn a_test_send_queues_one_row_to_the_address_and_marks_no_digest() {
    let s = setup().await;
    known_list(&s).await;
    let ada = s
        .digests
        .subscriber("ada@example.org")
        .await
        .unwrap()
        .unwrap();

    let refused = s
        .digests
        .send_test(&weekly(), &ada, "Ada <ada@example.org>")
        .await;
    assert!(matches!(refused, Err(TestError::Address(_))), "{refused:?}");
    let sent = s
        .digests
        .send_test(&weekly(), &ada, " Tester@Example.COM ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.to, "tester@example.com", "normalised as a sign-up is");
    assert!(sent.subject.starts_with("[Test] "), "{}", sent.subject);

    let rows = s.store.deliveries(false, 100).await.unwrap();
    assert_eq!(rows.len(), 1, "exactly one outbox row");
    let row = &rows[0];
    assert_eq!(row.recipient, "tester@example.com");
    assert_eq!(row.kind, "test");
    assert_eq!(row.subscriber_id, None);
    assert!(
        row.dedup_key.starts_with("test:weekly:"),
        "{}",
        row.dedup_key
    );
    assert!(
        s.store.digest_periods("weekly").await.unwrap().is_empty(),
        "no subscriber's digest is marked as planned"
    );
    // Cy has nothing new: nothing to test, nothing queued.
    let cy = s
        .digests
        .subscriber("cy@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.digests
            .send_test(&weekly(), &cy, "tester@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // A second test is a second message, not a duplicate of the first.
    s.digests
        .send_test(
            &weekly(),
            &s.digests.sample_subscriber(&weekly()),
            "tester@example.com",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.store.deliveries(false, 100).await.unwrap().len(), 2);

    // Everyone still gets their real digest.
    let dry = s.digests.dry_run(&weekly(), 20).await.unwrap();
    assert_eq!((dry.digests, dry.already_planned), (3, 0));

    // The worker sends the tests like any message, without a one-click unsubscribe
    // and without a token that would act on Ada's subscription.
    let (worker, outbox) = file_worker(&s);
    let outcome = worker.drain().await;
    assert_eq!((outcome.sent, outcome.failed), (2, 0));
    let messages = common::outbox_messages(&outbox);
    assert_eq!(messages.len(), 2);
    for raw in &messages {
        let message = MessageParser::default().parse(raw).unwrap();
        assert!(message.subject().unwrap().starts_with("[Test] "));
        assert!(message.header_raw("List-Unsubscribe").is_none());
        let text = message.body_text(0).unwrap();
        assert!(!text.contains("token="), "{text}");
        assert!(!text.contains("[[crier:"), "{text}");
    }
}

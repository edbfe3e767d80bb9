//! A message that cannot be built or sent fails alone, for good, with its reason: it
//! never wedges its row in `sending`, never loops, and never holds up the others.
//! Hostile names and addresses are refused where they come in, or end as sent or
//! failed rows, whichever way they arrive.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use common::{SECRET, taxonomy_only};
use crier::clock::FixedClock;
use crier::delivery::{Compose, FileMailer, Outgoing, Worker, WorkerSettings, retry::RetryPolicy};
use crier::model::{ComposeError, Content, NewContent, NewMessage, OutboxRow, OutboxStatus};
use crier::store::Store;
use crier::subscriptions::{Request, SubscriptionError, Subscriptions};
use crier::templates::Templates;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The fixture composer, except that it panics for one recipient, as lettre's header
/// formatting did for a name with a line break.
struct PanicsFor(&'static str, crier::app::OutboxComposer);

impl Compose for PanicsFor {
    fn compose(&self, row: &OutboxRow, content: &Content) -> Result<Outgoing, ComposeError> {
        if row.recipient == self.0 {
            panic!("header formatting failed");
        }
        self.1.compose(row, content)
    }
}

struct Setup {
    dir: tempfile::TempDir,
    store: Store,
    clock: Arc<FixedClock>,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("crier.db")).await.unwrap();
    Setup {
        store,
        clock: Arc::new(FixedClock::new(now())),
        dir,
    }
}

fn worker(s: &Setup, composer: Arc<dyn Compose>, max_attempts: u32) -> Worker {
    Worker::new(
        s.store.clone(),
        Arc::new(FileMailer::new(s.dir.path().join("outbox")).unwrap()),
        composer,
        s.clock.clone(),
        crier::tokens::Signer::new(SECRET),
        WorkerSettings {
            concurrency: 2,
            rate_per_second: 0.0,
            policy: RetryPolicy::new(max_attempts, 48),
            lease_secs: 300,
            poll: StdDuration::from_millis(20),
            log_addresses: Default::default(),
        },
    )
}

/// Queues one confirmation-like message per (recipient, vars).
async fn queue(store: &Store, messages: &[(String, serde_json::Value)]) {
    let ids = store
        .save_contents(
            &[NewContent {
                subject: "Hello".into(),
                text: "{{greeting}}\n".into(),
                html: "<p>{{greeting}}</p>".into(),
            }],
            now(),
        )
        .await
        .unwrap();
    let rows = messages
        .iter()
        .enumerate()
        .map(|(i, (recipient, vars))| NewMessage {
            dedup_key: format!("poison-test:{i}"),
            kind: "confirmation".into(),
            subscriber_id: None,
            recipient: recipient.clone(),
            content_id: ids[0],
            vars: vars.to_string(),
            digest: None,
        })
        .collect::<Vec<_>>();
    store
        .enqueue(
            rows,
            &crier::model::MessageIds::new("news.example.test", common::SECRET),
            now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_message_that_panics_fails_alone_and_never_comes_back() {
    let s = setup().await;
    let messages: Vec<(String, serde_json::Value)> = ["a", "poison", "b", "c"]
        .iter()
        .map(|n| {
            (
                format!("{n}@example.org"),
                serde_json::json!({"greeting": "Hi"}),
            )
        })
        .collect();
    queue(&s.store, &messages).await;
    let composer = Arc::new(PanicsFor("poison@example.org", common::composer(None)));
    let worker = worker(&s, composer, 8);

    let outcome = worker.drain().await;
    assert_eq!(
        (outcome.sent, outcome.failed, outcome.poisoned),
        (3, 1, 1),
        "{outcome:?}"
    );
    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!(
        (counts.sent, counts.failed, counts.sending, counts.queued),
        (3, 1, 0, 0)
    );
    let failed = s.store.deliveries(true, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].recipient, "poison@example.org");
    assert_eq!(failed[0].status, OutboxStatus::Failed);
    let reason = failed[0].last_error.as_deref().unwrap_or_default();
    assert!(
        reason.contains("crashed while sending it") && reason.contains("header formatting failed"),
        "{reason}"
    );

    // Nothing is left to claim, now or after the lease would have run out.
    s.clock.set(now() + chrono::Duration::hours(1));
    assert_eq!(worker.drain().await.sent + worker.drain().await.failed, 0);
    assert_eq!(
        common::outbox_messages(&s.dir.path().join("outbox")).len(),
        3
    );
}

/// Only a crash brings a row back without an outcome. A row that has been claimed
/// `max_attempts` times (the process died each time) is failed, not sent once more.
#[tokio::test]
async fn a_row_that_keeps_crashing_its_sender_stops_at_max_attempts() {
    let s = setup().await;
    let messages = vec![
        (
            "crasher@example.org".to_string(),
            serde_json::json!({"greeting": "Hi"}),
        ),
        (
            "fine@example.org".to_string(),
            serde_json::json!({"greeting": "Hi"}),
        ),
    ];
    queue(&s.store, &messages).await;
    // Three processes claimed the first row and died while sending it.
    let max = 3;
    for _ in 0..max {
        let claimed = s
            .store
            .claim_due(s.clock.now_utc(), 300, 1, None)
            .await
            .unwrap();
        assert_eq!(claimed[0].recipient, "crasher@example.org");
        s.store.release_in_flight(None).await.unwrap();
    }
    let worker = worker(&s, Arc::new(common::composer(None)), max);
    let outcome = worker.drain().await;
    assert_eq!((outcome.sent, outcome.failed, outcome.poisoned), (1, 1, 1));
    let failed = s.store.deliveries(true, 10).await.unwrap();
    assert_eq!(failed[0].recipient, "crasher@example.org");
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("gave up after 3 attempts")),
        "{:?}",
        failed[0].last_error
    );
}

/// A name queued before names were checked (a line break, a NUL) still makes a
/// message with a sound `To:` header.
#[tokio::test]
async fn a_queued_name_with_line_breaks_still_makes_a_sound_header() {
    let s = setup().await;
    let messages = vec![(
        "ada@example.org".to_string(),
        serde_json::json!({"greeting": "Hi", "name": "Ada\r\nBcc: victim@example.org\0"}),
    )];
    queue(&s.store, &messages).await;
    let worker = worker(&s, Arc::new(common::composer(None)), 8);
    assert_eq!(worker.drain().await.sent, 1);
    let raw = common::outbox_messages(&s.dir.path().join("outbox")).remove(0);
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert!(message.header_raw("Bcc").is_none());
    let to = message.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some("Ada Bcc: victim@example.org"));
    assert_eq!(to.address(), Some("ada@example.org"));
}

/// A small deterministic generator of hostile text: line breaks, NULs, C1 controls,
/// separators, quotes, brackets, `@`s, dots, non-ASCII letters and plain letters.
struct Hostile(u64);

impl Hostile {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn text(&mut self, max: usize) -> String {
        const PIECES: &[&str] = &[
            "\r",
            "\n",
            "\r\n",
            "\0",
            "\u{85}",
            "\u{7f}",
            "\u{2028}",
            "\u{2029}",
            "\t",
            " ",
            "\"",
            "<",
            ">",
            "@",
            ".",
            "..",
            ",",
            ";",
            ":",
            "\\",
            "ü",
            "é",
            "ß",
            "字",
            "🦊",
            "a",
            "b",
            "z",
            "0",
            "9",
            "-",
            "+",
            "_",
            "'",
            "=",
            "?",
            "example.org",
            "bcc: ",
            "xn--",
        ];
        let len = (self.next() % max as u64) as usize;
        (0..len)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }

    /// Half plain, so that plenty of sign-ups get through to be sent.
    fn name(&mut self) -> String {
        match self.next() % 2 {
            0 => format!("Reader {}", self.next() % 1000),
            _ => self.text(10),
        }
    }

    fn address(&mut self) -> String {
        match self.next() % 6 {
            0 => self.text(12),
            1 => format!("{}@example.org", self.text(6)),
            2 => format!("reader{}@{}", self.next() % 1000, self.text(8)),
            3 => format!("{}@{}.org", self.text(4), self.text(4)),
            _ => format!("Reader.{}@Example.ORG", self.next() % 100_000),
        }
    }
}

fn subscriptions(s: &Setup) -> Subscriptions {
    Subscriptions::new(
        s.store.clone(),
        crier::tokens::Signer::new(SECRET),
        Arc::new(Templates::embedded()),
        s.clock.clone(),
        taxonomy_only(),
        common::subscription_settings(),
    )
}

/// Arbitrary names and addresses, through sign-up, the CSV import and the delivery
/// of the confirmations they cause: each ends refused with a reason, or as a row that
/// is sent or failed. Nothing panics and nothing stays `sending` or queued.
#[tokio::test]
async fn hostile_names_and_addresses_end_refused_sent_or_failed() {
    let s = setup().await;
    let subscriptions = subscriptions(&s);
    let mut hostile = Hostile(0x5eed_cafe);
    let mut accepted = 0;
    for _ in 0..600 {
        let request = Request {
            email: hostile.address(),
            name: Some(hostile.name()),
            audiences: vec!["hr".into()],
            ..Request::default()
        };
        match subscriptions.sign_up(&request).await {
            Ok(signed_up) => {
                accepted += 1;
                let stored = signed_up.subscriber();
                assert!(
                    stored.email.is_ascii() && !stored.email.contains(['<', '>', ' ', '"']),
                    "{:?}",
                    stored.email
                );
                assert!(
                    stored
                        .name
                        .as_deref()
                        .is_none_or(|n| !n.chars().any(crier::model::forbidden_in_name)),
                    "{:?}",
                    stored.name
                );
            }
            Err(SubscriptionError::Invalid(reasons)) => {
                assert!(!reasons.is_empty() && reasons.iter().all(|r| !r.is_empty()));
            }
            Err(other) => panic!("{request:?}: {other}"),
        }
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["email", "name", "audiences", "frequency", "timezone"])
        .unwrap();
    for _ in 0..400 {
        let (email, name) = (hostile.address(), hostile.name());
        csv.write_record([email.as_str(), name.as_str(), "hr", "weekly", "UTC"])
            .unwrap();
    }
    let csv = csv.into_inner().unwrap();
    let report = subscriptions
        .import_csv(&csv[..], false, &|_| {})
        .await
        .expect("an import of hostile rows runs");
    assert_eq!(
        report.errors.len() as u64 + report.created + report.updated,
        report.rows,
        "every row is imported or refused with its line"
    );
    assert!(
        accepted > 100 && report.created > 50,
        "{accepted} sign-ups, {} imported",
        report.created
    );

    let worker = worker(&s, Arc::new(common::composer(None)), 3);
    worker.drain().await;
    let counts = s.store.outbox_counts().await.unwrap();
    assert!(counts.sent > 0);
    assert_eq!((counts.sending, counts.queued), (0, 0), "{counts:?}");
    // Every message written is one a mail parser reads, with one recipient.
    for raw in common::outbox_messages(&s.dir.path().join("outbox")) {
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(message.to().unwrap().iter().count(), 1);
        assert!(message.header_raw("Bcc").is_none());
    }
}

/// The same hostile text as recipient values of rows already in the outbox (as a
/// database written by an older crier may hold): composing never panics.
#[tokio::test]
async fn hostile_values_in_queued_rows_end_sent_or_failed() {
    let s = setup().await;
    let mut hostile = Hostile(42);
    let messages: Vec<(String, serde_json::Value)> = (0..300)
        .map(|_| {
            (
                hostile.address(),
                serde_json::json!({"greeting": hostile.text(8), "name": hostile.text(10)}),
            )
        })
        .collect();
    queue(&s.store, &messages).await;
    let worker = worker(&s, Arc::new(common::composer(None)), 3);
    let outcome = worker.drain().await;
    assert_eq!(outcome.sent + outcome.failed, 300, "{outcome:?}");
    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!((counts.sending, counts.queued), (0, 0), "{counts:?}");
}

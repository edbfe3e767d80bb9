//! Digests from plan to inbox: the digests service plans and freezes them, the
//! worker sends them over real SMTP (an in-process server on loopback), and the
//! messages are parsed back: list headers, Message-ID, parts, links, size. Failures
//! retry, bounce or slow down as they should.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use common::{SECRET, current, fixtures, library, smtp};
use crier::clock::FixedClock;
use crier::config::Digest;
use crier::delivery::{SmtpMailer, Worker, WorkerSettings, retry::RetryPolicy};
use crier::digests::{Digests, Firing};
use crier::model::{OutboxStatus, Status};
use crier::scheduler::DigestRunner;
use crier::store::Store;
use crier::subscriptions::{Request, Subscriptions};
use crier::templates::Templates;
use mail_parser::{MessageParser, MimeHeaders};

fn monday_eight() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn weekly(lookback_days: i64, max_articles: usize) -> Digest {
    Digest {
        lookback: Duration::days(lookback_days),
        max_articles,
        ..common::weekly_digest()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    subscriptions: Subscriptions,
    digests: Digests,
    runner: DigestRunner,
    worker: Worker,
    sink: smtp::Sink,
    clock: Arc<FixedClock>,
}

/// A delivery worker over SMTP at `url`, five attempts in 48 hours, no rate limit.
fn smtp_worker(
    store: &Store,
    url: &str,
    clock: &Arc<FixedClock>,
    test_recipient: Option<&str>,
    concurrency: usize,
    lease_secs: i64,
    poll_ms: u64,
) -> Worker {
    Worker::new(
        store.clone(),
        Arc::new(SmtpMailer::new(url, concurrency).unwrap()),
        Arc::new(common::composer(test_recipient)),
        clock.clone(),
        crier::tokens::Signer::new(SECRET),
        WorkerSettings {
            concurrency,
            rate_per_second: 0.0,
            policy: RetryPolicy::new(5, 48),
            lease_secs,
            poll: StdDuration::from_millis(poll_ms),
            log_addresses: Default::default(),
        },
    )
}

async fn setup(test_recipient: Option<&str>) -> Setup {
    setup_with(test_recipient, SECRET).await
}

/// [`setup`] as a deployment whose secret is `secret`.
async fn setup_with(test_recipient: Option<&str>, secret: &[u8]) -> Setup {
    setup_in(test_recipient, secret, &fixtures("valid")).await
}

/// [`setup_with`] over the articles in `articles`.
async fn setup_in(
    test_recipient: Option<&str>,
    secret: &[u8],
    articles: &std::path::Path,
) -> Setup {
    let (url, sink) = smtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = common::backend::open_store(dir.path()).await;
    let clock = Arc::new(FixedClock::new(monday_eight()));
    let templates = Arc::new(Templates::embedded());
    let current = current(library(articles));
    let settings = common::subscription_settings();
    let signer = crier::tokens::Signer::new(secret);
    let subscriptions = Subscriptions::new(
        store.clone(),
        signer.clone(),
        Arc::clone(&templates),
        clock.clone(),
        current.clone(),
        settings,
    );
    let digests = Digests::new(
        subscriptions.clone(),
        templates,
        current,
        vec![weekly(365, 20)],
        clock.clone(),
        "news@news.example.test".into(),
        None,
    );
    let runner = DigestRunner::new(
        Arc::new(digests.clone()),
        vec![weekly(365, 20)],
        clock.clone(),
    );
    let worker = smtp_worker(&store, &url, &clock, test_recipient, 4, 300, 50);
    Setup {
        _dir: dir,
        store,
        subscriptions,
        digests,
        runner,
        worker,
        sink,
        clock,
    }
}

async fn add(s: &Setup, email: &str, name: Option<&str>, audiences: &[&str]) -> i64 {
    let request = Request {
        email: email.into(),
        name: name.map(str::to_string),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        frequency: Some("weekly".into()),
        ..Request::default()
    };
    s.subscriptions.add(&request, true).await.unwrap().id
}

fn header<'a>(message: &'a mail_parser::Message<'a>, name: &str) -> String {
    // Unfold: long headers are folded onto continuation lines.
    let raw = message
        .header_raw(name)
        .unwrap_or_else(|| panic!("no {name} header"));
    raw.replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ")
        .trim()
        .to_string()
}

#[tokio::test]
async fn digests_reach_smtp_with_list_headers_once() {
    let s = setup(None).await;
    add(
        &s,
        "ada@example.org",
        Some("Ada"),
        &["security", "hr", "developers"],
    )
    .await;
    add(&s, "bob@example.org", None, &["security"]).await;
    add(&s, "cy@example.org", None, &["students"]).await;
    let digest = weekly(365, 20);

    let report = s
        .digests
        .run(&digest, s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.queued, report.empty),
        (2, 1),
        "one with nothing new gets no email"
    );
    let again = s
        .digests
        .run(&digest, s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        again.queued, 0,
        "planning the same period again changes nothing"
    );

    let outcome = s.worker.drain().await;
    assert_eq!((outcome.sent, outcome.failed), (2, 0));
    let received = s.sink.received();
    assert_eq!(received.len(), 2);
    let ada = received
        .iter()
        .find(|m| m.to == ["ada@example.org"])
        .unwrap();
    assert!(
        ada.data.len() < 102 * 1024,
        "{} bytes: Gmail clips at 102 KB",
        ada.data.len()
    );
    let message = MessageParser::default().parse(&ada.data).unwrap();

    let rows = s
        .store
        .messages_with_key_prefix("digest:weekly:")
        .await
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r.recipient == "ada@example.org")
        .unwrap();
    assert_eq!(
        format!("<{}>", message.message_id().unwrap()),
        row.message_id
    );
    assert!(row.message_id.ends_with("@news.example.test>"));
    assert_eq!(
        message.date().unwrap().to_timestamp(),
        row.created_at.timestamp()
    );
    assert_eq!(
        header(&message, "List-Id"),
        "weekly digest <weekly.news.example.test>"
    );
    let unsubscribe = header(&message, "List-Unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://news.example.test/unsubscribe?token="),
        "{unsubscribe}"
    );
    assert!(
        unsubscribe.contains(", <mailto:news@news.example.test?subject=unsubscribe>"),
        "{unsubscribe}"
    );
    assert_eq!(
        header(&message, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("news@news.example.test")
    );
    assert!(
        message
            .subject()
            .unwrap()
            .starts_with("Fixture News: your weekly digest")
    );

    // multipart/alternative: text first, HTML last, the same content in both.
    let root = message.content_type().unwrap();
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("alternative"))
    );
    let parts: Vec<String> = message.parts[1..]
        .iter()
        .map(|p| {
            p.content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(parts, ["text/plain", "text/html"]);
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    let one_click = unsubscribe
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    for needle in [
        one_click.as_str(),
        "https://news.example.test/preferences?token=",
        "Fixture Desk, 1 Test Lane, Testville",
        "Hello Ada.",
    ] {
        assert!(text.contains(needle), "text lacks {needle}:\n{text}");
        assert!(
            html.contains(&needle.replace('&', "&amp;")),
            "html lacks {needle}"
        );
    }
    // Grouped in taxonomy order (HR teams, Software developers, Security teams), each
    // article once.
    let hr = text.find("== HR teams ==").unwrap();
    let devs = text.find("== Software developers ==").unwrap();
    let security = text.find("== Security teams ==").unwrap();
    assert!(hr < devs && devs < security, "{text}");
    assert_eq!(
        text.matches("Quillon fixes a prompt-injection hole")
            .count(),
        1
    );
    // The one-click link in the header is genuine.
    let token = one_click.split("token=").nth(1).unwrap();
    let left = s.subscriptions.unsubscribe(token, "test").await.unwrap();
    assert_eq!(left.status, Status::Unsubscribed);
}

#[tokio::test]
async fn permanent_failures_bounce_transient_ones_retry_with_the_same_message_id() {
    let s = setup(None).await;
    let bounced = add(&s, "bounce@example.org", None, &["security"]).await;
    add(&s, "later@example.org", None, &["security"]).await;
    add(&s, "slow@example.org", None, &["security"]).await;
    add(&s, "fine@example.org", None, &["security"]).await;
    let report = s
        .digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.queued, 4);

    let first = s.worker.drain().await;
    assert_eq!(
        (first.sent, first.failed, first.retried),
        (1, 1, 2),
        "{first:?}"
    );
    let gone = s.store.subscriber_by_id(bounced).await.unwrap().unwrap();
    assert_eq!(gone.status, Status::Bounced, "a 5xx bounces the subscriber");
    assert!(
        s.store
            .is_suppressed(&s.subscriptions.signer().email_hash("bounce@example.org"))
            .await
            .unwrap()
    );
    let failed = s.store.deliveries(true, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    // The refusal is a bounce event like a returned message's, naming its row.
    let events = s
        .store
        .bounce_events(&crier::store::BounceFilter {
            subscriber_id: Some(bounced),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].kind.as_str(),
            events[0].source.as_str(),
            events[0].action.as_str()
        ),
        ("hard", "smtp", "bounced")
    );
    assert_eq!(events[0].outbox_id, Some(failed[0].id));
    assert!(events[0].reason.contains("550"), "{}", events[0].reason);
    assert!(
        failed[0].last_error.as_deref().unwrap().contains("550"),
        "{:?}",
        failed[0].last_error
    );

    // Nothing is due until the backoff has passed.
    assert_eq!(s.worker.drain().await, Default::default());
    s.clock.set(s.clock.now_utc() + Duration::hours(1));
    let second = s.worker.drain().await;
    assert_eq!(
        (second.sent, second.retried),
        (1, 1),
        "slow is through; later fails once more"
    );
    s.clock.set(s.clock.now_utc() + Duration::hours(2));
    let third = s.worker.drain().await;
    assert_eq!(third.sent, 1);

    let received = s.sink.received();
    let mut recipients: Vec<&str> = received.iter().map(|m| m.to[0].as_str()).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["fine@example.org", "later@example.org", "slow@example.org"],
        "each once"
    );
    let rows = s.store.messages_with_key_prefix("digest:").await.unwrap();
    for m in &received {
        let parsed = MessageParser::default().parse(&m.data).unwrap();
        let row = rows.iter().find(|r| r.recipient == m.to[0]).unwrap();
        assert_eq!(
            format!("<{}>", parsed.message_id().unwrap()),
            row.message_id,
            "retries keep the Message-ID"
        );
    }
    let later = rows
        .iter()
        .find(|r| r.recipient == "later@example.org")
        .unwrap();
    assert_eq!(later.attempts, 3);
}

/// Two deployments (staging and production: two databases, two secrets) queue the
/// same digest for the same subscriber id and period under one dedup key; their
/// Message-IDs differ, and each is the one its message goes out with. Confirmations
/// are keyed the same way.
#[tokio::test]
async fn message_ids_are_keyed_by_each_deployment_s_secret() {
    let staging = setup_with(None, b"staging's secret, thirty-two bytes or more").await;
    let production = setup_with(None, b"production's secret, thirty-two bytes long").await;
    let mut rows = Vec::new();
    for s in [&staging, &production] {
        let id = add(s, "ada@example.org", None, &["security"]).await;
        assert_eq!(id, 1, "the same subscriber id in both databases");
        // An unconfirmed sign-up queues a confirmation mail.
        let request = Request {
            email: "grace@example.org".into(),
            audiences: vec!["security".into()],
            frequency: Some("weekly".into()),
            ..Request::default()
        };
        s.subscriptions.sign_up(&request).await.unwrap();
        let report = s
            .digests
            .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
            .await
            .unwrap();
        assert_eq!(report.queued, 1);
        let digest = s.store.messages_with_key_prefix("digest:").await.unwrap();
        let confirm = s.store.messages_with_key_prefix("confirm:").await.unwrap();
        assert_eq!((digest.len(), confirm.len()), (1, 1));
        rows.push((digest[0].clone(), confirm[0].clone()));

        // What goes out carries the row's Message-ID.
        assert_eq!(s.worker.drain().await.sent, 2);
        for m in s.sink.received() {
            let parsed = MessageParser::default().parse(&m.data).unwrap();
            let row = if m.to[0] == "ada@example.org" {
                &digest[0]
            } else {
                &confirm[0]
            };
            assert_eq!(
                format!("<{}>", parsed.message_id().unwrap()),
                row.message_id
            );
        }
    }
    let [(staged, staged_confirm), (produced, produced_confirm)] = &rows[..] else {
        unreachable!()
    };
    assert_eq!(staged.dedup_key, produced.dedup_key);
    assert_ne!(staged.message_id, produced.message_id);
    assert_eq!(staged_confirm.dedup_key, produced_confirm.dedup_key);
    assert_ne!(staged_confirm.message_id, produced_confirm.message_id);
    for row in [staged, produced, staged_confirm, produced_confirm] {
        assert!(
            row.message_id.ends_with("@news.example.test>"),
            "{}",
            row.message_id
        );
    }
    // A second deployment with production's secret (its replica, restored from a
    // backup) names the same row the same way: the key is the secret, not chance.
    let replica = setup_with(None, b"production's secret, thirty-two bytes long").await;
    add(&replica, "ada@example.org", None, &["security"]).await;
    replica
        .digests
        .run(&weekly(365, 20), replica.clock.now_utc(), |_| {})
        .await
        .unwrap();
    let again = replica
        .store
        .messages_with_key_prefix("digest:")
        .await
        .unwrap();
    assert_eq!(again[0].message_id, produced.message_id);
}

/// The text part of every message as sent, checked as a pager and a reflowing
/// reader would see it: declared `format=flowed; delsp=yes`; no line wider than 78
/// characters (or columns) but for one that holds only a URL; the signature separator `-- ` as a
/// line of its own; and undoing the soft breaks (RFC 3676) gives back each paragraph
/// whole: `wanted` lists lines the reflowed text must hold.
fn check_flowed_text(raw: &[u8], wanted: &[String]) {
    let parsed = MessageParser::default().parse(raw).unwrap();
    let part = parsed.text_part(0).expect("a text part");
    let content_type = part.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("text", Some("plain"))
    );
    assert_eq!(content_type.attribute("format"), Some("flowed"));
    assert_eq!(content_type.attribute("delsp"), Some("yes"));
    assert_eq!(content_type.attribute("charset"), Some("utf-8"));
    let text = std::str::from_utf8(part.contents())
        .unwrap()
        .replace("\r\n", "\n");
    for line in text.lines() {
        let only_a_url = line.trim().starts_with("https://") && !line.trim().contains(' ');
        // Columns, not only characters: a CJK character takes two in a pager.
        let width = textwrap::core::display_width(line);
        assert!(
            (line.chars().count() <= 78 && width <= 78) || only_a_url,
            "{width} columns: {line:?}"
        );
    }
    assert_eq!(
        text.lines().filter(|l| *l == "-- ").count(),
        1,
        "one signature separator, with its space: {text}"
    );
    let reflowed = crier::email::flowed::decode(&text);
    let lines: Vec<&str> = reflowed.lines().collect();
    for line in wanted {
        assert!(
            lines.contains(&line.as_str()),
            "no line {line:?} in\n{reflowed}"
        );
    }
}

/// A brief with the given title and summary, dated `day` November 2026.
fn brief(subject: &str, day: u32, title: &str, summary: &str) -> String {
    format!(
        "{subject} · 2026 · 11 · {day} · Security · ~4 min read\n\n{title}\n\n\
         What's actually new\n\n- {summary}\n\n- Something else changed.\n\nWho should care\n\nSecurity teams.\n"
    )
}

/// Digests (the demo store's, and briefs with long titles, long URLs and text
/// beyond ASCII) and a confirmation (for a reader with a long name) as sent over
/// SMTP: their text parts wrap as flowed text and reflow to the paragraphs.
#[tokio::test]
async fn text_parts_wrap_as_flowed_text_and_reflow_whole() {
    // The demo store, to a reader of everything.
    let demo = setup_in(None, SECRET, &common::repo().join("articles")).await;
    let request = Request {
        email: "all@example.org".into(),
        name: Some("Sam".into()),
        audiences: vec!["everything".into()],
        frequency: Some("weekly".into()),
        ..Request::default()
    };
    demo.subscriptions.add(&request, true).await.unwrap();
    let report = demo
        .digests
        .run(&weekly(5000, 50), demo.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.queued, 1);
    demo.worker.drain().await;
    let demo_library = library(&common::repo().join("articles"));
    let sent = demo.sink.received();
    assert_eq!(sent.len(), 1);
    let mut wanted: Vec<String> = demo_library
        .articles()
        .iter()
        .take(20)
        .map(|a| format!("* {}", a.title))
        .collect();
    wanted.push("-- ".into());
    check_flowed_text(&sent[0].data, &wanted);

    // Generated briefs: long titles, a long URL in a summary, a long file name (so a
    // long article URL), and text beyond ASCII.
    let dir = tempfile::tempdir().unwrap();
    let long_url = format!("https://example.org/{}", "weiß-straße-".repeat(12));
    let briefs = [
        (
            "quillon-fixes-a-very-long-named-brief-about-prompt-injection-in-mail-assistants-and-what-it-means-for-the-rest-of-us.txt",
            brief(
                "Quillon",
                20,
                &"Quillon fixes a prompt-injection hole in its mail assistant, and the fix reaches every tenant this week ".repeat(2),
                &format!("The report, at {long_url} with its appendix, explains how a crafted message made the assistant forward summaries."),
            ),
        ),
        (
            "zürich.txt",
            brief(
                "Zürich Bank",
                19,
                "Zürich Bank’s naïve café chatbot leaked “internal” notes — 東京の配送センターでも同じ問題が起きました、と報告書は述べています",
                &"Ünïcödé prose that goes on for a while, with accents and dashes — and quotes “like these” — ".repeat(3),
            ),
        ),
    ];
    for (name, text) in &briefs {
        std::fs::write(dir.path().join(name), text.trim_end().as_bytes()).unwrap();
    }
    let s = setup_in(None, SECRET, dir.path()).await;
    let long_name = format!(
        "Ada {} Lovelace",
        "Augusta Byron King ".repeat(8).trim_end()
    );
    let request = Request {
        email: "ada@example.org".into(),
        name: Some(long_name.clone()),
        audiences: vec!["security".into()],
        frequency: Some("weekly".into()),
        ..Request::default()
    };
    s.subscriptions.add(&request, true).await.unwrap();
    let request = Request {
        email: "grace@example.org".into(),
        ..request
    };
    s.subscriptions.sign_up(&request).await.unwrap();
    let report = s
        .digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.queued, 1);
    s.worker.drain().await;
    let library = library(dir.path());
    assert_eq!(library.len(), 2, "{:?}", library.errors());
    let mut wanted: Vec<String> = library
        .articles()
        .iter()
        .map(|a| format!("* {}", a.title))
        .collect();
    wanted.extend(
        library
            .articles()
            .iter()
            .filter_map(|a| a.summary())
            .map(|summary| format!(" {summary}")),
    );
    wanted.push(format!("Hello {long_name}. 2 new briefs."));
    let sent = s.sink.received();
    assert_eq!(sent.len(), 2);
    for m in &sent {
        if m.to[0] == "ada@example.org" {
            check_flowed_text(&m.data, &wanted);
            // The URL longer than a line stands on a line of its own, whole.
            let parsed = MessageParser::default().parse(&m.data).unwrap();
            let text = parsed.body_text(0).unwrap();
            assert!(text.lines().any(|l| l.trim() == long_url), "{text}");
        } else {
            check_flowed_text(&m.data, &[format!("Hello {long_name},"), "-- ".into()]);
        }
    }
}

#[tokio::test]
async fn test_mode_sends_everything_to_one_address() {
    let s = setup(Some("qa@example.org")).await;
    add(&s, "real@example.org", None, &["security"]).await;
    s.digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    s.worker.drain().await;
    let received = s.sink.received();
    assert_eq!(received[0].to, ["qa@example.org"]);
    let message = MessageParser::default().parse(&received[0].data).unwrap();
    assert_eq!(
        header(&message, "X-Crier-Intended-Recipient"),
        "real@example.org"
    );
}

#[tokio::test]
async fn a_rendered_digest_snapshot() {
    let s = setup(None).await;
    add(
        &s,
        "snap@example.org",
        Some("Sam"),
        &["hr", "security", "customer-service"],
    )
    .await;
    let planning = s
        .digests
        .plan(&weekly(365, 2), s.clock.now_utc(), Firing::Scheduled, None)
        .await
        .unwrap();
    let plan = &planning.plans[0];
    assert_eq!(plan.more, 1, "3 articles fit, 2 shown");
    let ctx = crier::email::render::EmailContext {
        site_title: "Fixture News".into(),
        postal_address: "Fixture Desk, 1 Test Lane, Testville".into(),
        confirm_hours: 72,
    };
    let parts = crier::email::render::DigestParts {
        name: "weekly",
        subject: None,
        local_date: plan.period.date_naive(),
        groups: &plan.groups,
        more: plan.more,
        more_in: &plan.more_in,
        site_url: "https://news.example.test/",
        archive_url: None,
    };
    let content = crier::email::render::digest(&Templates::embedded(), &ctx, &parts).unwrap();
    let vars = serde_json::json!({
        "greeting": "Hello Sam.",
        "unsubscribe_url": "https://news.example.test/unsubscribe?token=T",
        "preferences_url": "https://news.example.test/preferences?token=P",
    });
    let vars = vars.as_object().unwrap();
    insta::assert_snapshot!("digest_subject", content.subject);
    insta::assert_snapshot!(
        "digest_text",
        crier::email::fill(&content.text, vars, false)
    );
    insta::assert_snapshot!("digest_html", crier::email::fill(&content.html, vars, true));
}

/// A message as sent, with what would make a snapshot churn or show a credential
/// put in words: the Date header, the Message-ID (which also names the MIME
/// boundary), and every signed token in a link, even one that quoted-printable has
/// broken over lines. Line ends become `\n`; nothing else changes.
fn redacted_message(raw: &[u8]) -> String {
    let mut text = String::from_utf8(raw.to_vec())
        .expect("crier sends 7-bit messages")
        .replace("\r\n", "\n");
    let value_of = |text: &str, name: &str| -> String {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} header"));
        line.to_string()
    };
    let date = value_of(&text, "Date");
    text = text.replacen(&format!("Date: {date}\n"), "Date: [date]\n", 1);
    let id = value_of(&text, "Message-ID");
    let local = id
        .trim_matches(['<', '>'])
        .split('@')
        .next()
        .unwrap()
        .to_string();
    text = text.replace(&local, "[message-id]");
    redact_tokens(&text)
}

/// Each `<subscriber>.<purpose>.<expiry>.<43 characters of MAC>` token after
/// `token=` (`token=3D` in quoted-printable) replaced by `[token]`, soft line breaks
/// (`=` and a line end) inside it included.
fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("token=") {
        let mut start = at + "token=".len();
        if rest[start..].starts_with("3D") {
            start += 2;
        }
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let token_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        let (mut dots, mut mac, mut end) = (0, 0, 0);
        let bytes = rest.as_bytes();
        while end < bytes.len() && mac < 43 {
            if rest[end..].starts_with("=\n") {
                end += 2;
                continue;
            }
            let c = bytes[end] as char;
            if !token_char(c) {
                break;
            }
            if dots == 3 {
                mac += 1;
            } else if c == '.' {
                dots += 1;
            }
            end += 1;
        }
        if mac == 43 {
            out.push_str("[token]");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The whole MIME text of a digest and of a confirmation, as the SMTP server got
/// them from the real worker: headers, parts, encodings, links.
#[tokio::test]
async fn whole_messages_as_sent() {
    let s = setup(None).await;
    add(
        &s,
        "snap@example.org",
        Some("Sam"),
        &["hr", "security", "customer-service"],
    )
    .await;
    let request = Request {
        email: "noor@example.org".into(),
        name: Some("Noor".into()),
        audiences: vec!["hr".into()],
        frequency: Some("weekly".into()),
        ..Request::default()
    };
    s.subscriptions.sign_up(&request).await.unwrap();
    s.digests
        .run(&weekly(365, 2), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(s.worker.drain().await.sent, 2);
    let received = s.sink.received();
    let to = |address: &str| {
        let message = received.iter().find(|m| m.to == [address]).unwrap();
        redacted_message(&message.data)
    };
    let digest = to("snap@example.org");
    let confirmation = to("noor@example.org");
    for message in [&digest, &confirmation] {
        let redacted =
            message.matches("token=[token]").count() + message.matches("token=3D[token]").count();
        assert_eq!(message.matches("token=").count(), redacted, "{message}");
    }
    insta::assert_snapshot!("digest_message", digest);
    insta::assert_snapshot!("confirmation_message", confirmation);
}

fn outgoing(i: usize) -> crier::delivery::Outgoing {
    let from: lettre::Address = "news@news.example.test".parse().unwrap();
    let to: lettre::Address = format!("reader{i}@example.org").parse().unwrap();
    crier::delivery::Outgoing {
        envelope: lettre::address::Envelope::new(Some(from), vec![to]).unwrap(),
        raw: format!("Subject: {i}\r\n\r\nmessage {i}\r\n").into_bytes(),
    }
}

/// The pool never holds more than `concurrency` connections: a health probe while
/// every connection is sending opens none of its own, and sends that follow a probe
/// reuse its connection.
#[tokio::test]
async fn smtp_probes_stay_within_concurrency() {
    use crier::delivery::Mailer;
    let (url, sink) = smtp::start_with_delay(StdDuration::from_millis(300)).await;
    let mailer = Arc::new(SmtpMailer::new(&url, 1).unwrap());
    let sending = {
        let mailer = Arc::clone(&mailer);
        tokio::spawn(async move { mailer.send(&outgoing(0)).await })
    };
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    for _ in 0..5 {
        mailer.check().await.unwrap();
    }
    sending.await.unwrap().unwrap();
    assert_eq!(sink.connections(), 1, "a probe opened a second connection");
    mailer.check().await.unwrap();
    mailer.send(&outgoing(1)).await.unwrap();
    assert_eq!(sink.connections(), 1);
    assert_eq!(sink.received().len(), 2);
}

/// The SMTP pool logs in with the URL's credentials (percent-decoded), keeps one
/// connection for a run of messages, and names a refused login.
#[tokio::test]
async fn smtp_logs_in_and_reuses_its_connections() {
    use crier::delivery::{FailureKind, Mailer};
    let (url, sink) = smtp::start_with_login("crier", "p:ss word").await;
    let login = url.replacen("smtp://", "smtp://crier:p%3Ass%20word@", 1);
    let mailer = SmtpMailer::new(&login, 2).unwrap();
    mailer.check().await.unwrap();
    for i in 0..10 {
        mailer.send(&outgoing(i)).await.unwrap();
    }
    let received = sink.received();
    assert_eq!(received.len(), 10);
    assert_eq!(received[9].to, ["reader9@example.org"]);
    assert_eq!(
        sink.connections(),
        1,
        "one connection carried every message"
    );

    let wrong = url.replacen("smtp://", "smtp://crier:nope@", 1);
    let err = SmtpMailer::new(&wrong, 1)
        .unwrap()
        .send(&outgoing(10))
        .await
        .unwrap_err();
    assert!(err.message.contains("535"), "{err}");
    assert_eq!(
        err.kind,
        FailureKind::Transient,
        "a refused login is not a bounce"
    );
    let err = SmtpMailer::new(&url, 1)
        .unwrap()
        .send(&outgoing(11))
        .await
        .unwrap_err();
    assert!(err.message.contains("530"), "{err}");
    assert_eq!(sink.received().len(), 10);
}

/// Each refusal is sorted by its reply: a 5xx is final (a bounce), 451 and 421 ask the
/// whole sender to slow down. A refused transaction is reset and its connection kept,
/// except after a 421, when the server closes it and the next message needs a new one.
#[tokio::test]
async fn smtp_replies_sort_into_bounces_and_throttling() {
    use crier::delivery::{FailureKind, Mailer};
    let (url, sink) = smtp::start().await;
    let mailer = SmtpMailer::new(&url, 1).unwrap();
    for (to, kind, code) in [
        ("bounce@example.org", FailureKind::Permanent, "550"),
        ("later@example.org", FailureKind::Throttled, "451"),
        ("slow@example.org", FailureKind::Throttled, "421"),
    ] {
        let mut message = outgoing(0);
        message.envelope = lettre::address::Envelope::new(
            message.envelope.from().cloned(),
            vec![to.parse().unwrap()],
        )
        .unwrap();
        let err = mailer.send(&message).await.unwrap_err();
        assert_eq!(err.kind, kind, "{to}: {err}");
        assert!(err.message.contains(code), "{to}: {err}");
    }
    mailer.send(&outgoing(1)).await.unwrap();
    assert_eq!(sink.received().len(), 1);
    assert_eq!(
        sink.connections(),
        2,
        "one connection until the 421, then another"
    );
    assert_eq!(sink.resets(), 2, "the 550 and the 451 were reset");
}

/// MAIL, RCPT and DATA go in one write when the server offers PIPELINING, one by one
/// when it does not; either way the message arrives whole, its leading dots intact,
/// and a refused recipient is a bounce.
#[tokio::test]
async fn smtp_pipelines_only_when_offered() {
    use crier::delivery::{FailureKind, Mailer};
    let dotted = |i: usize| {
        let mut message = outgoing(i);
        message.raw =
            format!("Subject: {i}\r\n\r\n.one dot\r\n..two\r\n.\r\nend {i}\r\n").into_bytes();
        message
    };
    for (offered, (url, sink)) in [
        (true, smtp::start().await),
        (false, smtp::start_without_pipelining().await),
    ] {
        let mailer = SmtpMailer::new(&url, 1).unwrap();
        for i in 0..3 {
            mailer.send(&dotted(i)).await.unwrap();
        }
        let received = sink.received();
        assert_eq!(received.len(), 3);
        for (i, message) in received.iter().enumerate() {
            assert_eq!(message.data, dotted(i).raw, "offered: {offered}");
            assert_eq!(message.to, [format!("reader{i}@example.org")]);
        }
        assert_eq!(sink.pipelined(), if offered { 3 } else { 0 });
        assert_eq!(sink.connections(), 1);

        let mut refused = outgoing(3);
        refused.envelope = lettre::address::Envelope::new(
            refused.envelope.from().cloned(),
            vec!["bounce@example.org".parse().unwrap()],
        )
        .unwrap();
        let err = mailer.send(&refused).await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Permanent, "{err}");
        assert!(err.message.contains("550"), "{err}");
        mailer.send(&dotted(4)).await.unwrap();
        assert_eq!(sink.received().len(), 4, "offered: {offered}");
    }
}

/// The crash bound rests on this: a transport hands a message over only once the
/// sender's previous one is on record. Over SMTP the envelope goes ahead and the
/// message waits; the file outbox writes nothing until the gate opens.
#[tokio::test]
async fn transports_hold_the_message_until_the_gate_opens() {
    use crier::delivery::{FileMailer, Gate, Mailer};
    let (url, sink) = smtp::start().await;
    let folder = tempfile::tempdir().unwrap();
    let file = FileMailer::new(folder.path().join("outbox")).unwrap();
    let smtp = SmtpMailer::new(&url, 1).unwrap();
    let message = outgoing(1);
    let delivered = || {
        let files = std::fs::read_dir(folder.path().join("outbox"))
            .unwrap()
            .count();
        sink.received().len() + files
    };
    for (before, mailer) in [&smtp as &dyn Mailer, &file].into_iter().enumerate() {
        let (open, gate) = Gate::closed();
        let send = mailer.send_after(&message, &gate);
        tokio::pin!(send);
        let early = tokio::time::timeout(StdDuration::from_millis(300), &mut send).await;
        assert!(
            early.is_err(),
            "{} finished through a closed gate",
            mailer.name()
        );
        assert_eq!(delivered(), before, "{} delivered early", mailer.name());
        open.send(true).unwrap();
        send.await.unwrap();
        assert_eq!(delivered(), before + 1, "{}", mailer.name());
    }
    assert_eq!(
        sink.pipelined(),
        1,
        "the envelope went before the gate opened"
    );
}

/// A pooled connection that the server closed is replaced on the spot: the message
/// goes through a new connection instead of waiting for a retry.
#[tokio::test]
async fn smtp_replaces_connections_the_server_closed() {
    use crier::delivery::Mailer;
    let (url, sink) = smtp::start_hanging_up().await;
    let mailer = SmtpMailer::new(&url, 1).unwrap();
    for i in 0..5 {
        mailer.send(&outgoing(i)).await.unwrap();
    }
    assert_eq!(sink.received().len(), 5);
    assert_eq!(sink.connections(), 5);
}

/// STARTTLS and implicit TLS, each with a login, against a server whose certificate
/// comes from a private CA given as the CA file. Without that CA the certificate is
/// refused and nothing is sent; STARTTLS "when offered" falls back to plain text.
#[tokio::test]
async fn smtp_speaks_starttls_and_implicit_tls() {
    use crier::delivery::Mailer;
    use smtp::Security;
    let ca = smtp::test_ca();
    for (tls, scheme, query) in [
        (Security::StartTls, "smtp", "?tls=required"),
        (Security::Implicit, "smtps", ""),
    ] {
        let (url, sink) = smtp::start_with_tls(tls, "crier", "s3cret").await;
        let address = url.trim_start_matches("smtp://");
        let url = format!("{scheme}://crier:s3cret@{address}{query}");
        let mailer = SmtpMailer::with_ca(&url, 1, Some(&ca)).unwrap();
        mailer.check().await.unwrap();
        mailer.send(&outgoing(1)).await.unwrap();
        let received = sink.received();
        assert_eq!(received.len(), 1, "{url}");
        assert!(received[0].tls, "{url}: the message came in the clear");

        let err = SmtpMailer::new(&url, 1)
            .unwrap()
            .send(&outgoing(2))
            .await
            .unwrap_err();
        assert!(
            err.message.to_lowercase().contains("certificate"),
            "{url}: {err}"
        );
        assert_eq!(sink.received().len(), 1);
    }

    let (url, sink) = smtp::start().await;
    let opportunistic = format!("{url}?tls=opportunistic");
    SmtpMailer::with_ca(&opportunistic, 1, Some(&ca))
        .unwrap()
        .send(&outgoing(3))
        .await
        .unwrap();
    assert!(!sink.received()[0].tls);
}

/// A run is one transaction: when queueing fails part-way, neither the bodies it
/// rendered nor any of its messages stay behind, and the next run queues them all.
#[tokio::test]
async fn a_failed_run_leaves_neither_bodies_nor_messages() {
    let s = setup(None).await;
    add(&s, "ada@example.org", Some("Ada"), &["security", "hr"]).await;
    add(&s, "bob@example.org", None, &["security"]).await;
    add(&s, "dee@example.org", None, &["hr", "developers"]).await;
    let digest = weekly(365, 20);

    // A second connection adds a trigger that refuses Bob's message, which is queued
    // after the bodies are saved.
    let db = s._dir.path().join("crier.db");
    let url = format!("sqlite://{}", db.display());
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_bob BEFORE INSERT ON outbox WHEN NEW.recipient = 'bob@example.org' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&raw)
    .await
    .unwrap();
    let count = |table: &'static str| {
        let raw = raw.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table}"
            )))
            .fetch_one(&raw)
            .await
            .unwrap()
        }
    };

    let failed = s.digests.run(&digest, s.clock.now_utc(), |_| {}).await;
    assert!(
        failed
            .as_ref()
            .is_err_and(|e| e.to_string().contains("refused by the test")),
        "{failed:?}"
    );
    assert_eq!(count("contents").await, 0, "no body was kept");
    assert_eq!(count("outbox").await, 0, "no message was kept");

    sqlx::query("DROP TRIGGER refuse_bob")
        .execute(&raw)
        .await
        .unwrap();
    let report = s
        .digests
        .run(&digest, s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.queued, 3);
    assert_eq!(count("outbox").await, 3);
    assert_eq!(count("contents").await, report.contents as i64);
    raw.close().await;
}

/// The daemon's loop moves a digest's mark on only once its run succeeded: while the
/// database refuses the run (here a trigger, as a locked or full disk would), it is
/// tried again with a growing pause, and once it can be queued it goes out once.
#[tokio::test]
async fn a_run_the_database_refuses_is_tried_again_and_queued_once() {
    let s = setup(None).await;
    add(&s, "ada@example.org", Some("Ada"), &["security"]).await;
    add(&s, "bob@example.org", None, &["hr"]).await;
    let db = s._dir.path().join("crier.db");
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_all BEFORE INSERT ON outbox \
         BEGIN SELECT RAISE(ABORT, 'the disk is full (the test says)'); END",
    )
    .execute(&raw)
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loop_task = tokio::spawn(s.runner.clone().run(stopped, StdDuration::from_millis(20)));
    let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
    let failing = loop {
        let failing = s.runner.failing();
        if failing
            .first()
            .is_some_and(|(_, attempts, _)| *attempts >= 3)
        {
            break failing;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retries: {failing:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    };
    assert_eq!(failing[0].0, "weekly");
    assert!(failing[0].2.contains("the disk is full"), "{failing:?}");
    let queued = || async { s.store.outbox_counts().await.unwrap().queued };
    assert_eq!(queued().await, 0);

    sqlx::query("DROP TRIGGER refuse_all")
        .execute(&raw)
        .await
        .unwrap();
    while queued().await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the digest never went out"
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    // Further ticks queue nothing more, and the failure is cleared.
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(queued().await, 2);
    assert!(s.runner.failing().is_empty());
    stop.send(true).unwrap();
    loop_task.await.unwrap();
    raw.close().await;
}

/// Old sent and failed messages go, and the bodies nobody uses any more, but never a
/// queued message nor a subscriber's latest digest (the planner's memory).
#[tokio::test]
async fn old_messages_and_unused_bodies_are_pruned() {
    use crier::model::{NewContent, NewMessage};
    let s = setup(None).await;
    let store = &s.store;
    let day = |n: i64| monday_eight() - Duration::days(n);
    let body = |text: &str| NewContent {
        subject: "S".into(),
        text: text.into(),
        html: format!("<p>{text}</p>"),
    };
    let ids = store
        .save_contents(
            &[body("old"), body("new"), body("confirm"), body("queued")],
            day(200),
        )
        .await
        .unwrap();
    let message =
        |key: &str, content: i64, subscriber: i64, period: Option<DateTime<Utc>>| NewMessage {
            dedup_key: key.into(),
            kind: if period.is_some() {
                "digest"
            } else {
                "confirmation"
            }
            .into(),
            subscriber_id: Some(subscriber),
            recipient: format!("s{subscriber}@example.org"),
            content_id: content,
            vars: "{}".into(),
            digest: period.map(|p| ("weekly".to_string(), p)),
        };
    // 200 days ago: digests for subscribers 1 and 2, a confirmation for 3; all sent.
    let old = vec![
        message("d1-old", ids[0], 1, Some(day(200))),
        message("d2-old", ids[0], 2, Some(day(200))),
        message("c3", ids[2], 3, None),
    ];
    store
        .enqueue(
            old,
            &crier::model::MessageIds::new("news.example.test", common::SECRET),
            day(200),
        )
        .await
        .unwrap();
    // A week ago: subscriber 1's next digest, sent.
    let new = vec![message("d1-new", ids[1], 1, Some(day(7)))];
    store
        .enqueue(
            new,
            &crier::model::MessageIds::new("news.example.test", common::SECRET),
            day(7),
        )
        .await
        .unwrap();
    let claimed: Vec<(i64, DateTime<Utc>)> = store
        .claim_due(monday_eight(), 300, 100, None)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.id, monday_eight()))
        .collect();
    assert_eq!(claimed.len(), 4);
    store.mark_sent_at(&claimed).await.unwrap();
    // And an old message still queued (its time has not come).
    let waiting = vec![message("c4", ids[3], 4, None)];
    store
        .enqueue(
            waiting,
            &crier::model::MessageIds::new("news.example.test", common::SECRET),
            day(200),
        )
        .await
        .unwrap();

    let (messages, bodies) = store.prune(day(90)).await.unwrap();
    assert_eq!(
        (messages, bodies),
        (2, 1),
        "d1-old and c3 go, then the confirmation body"
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.queued), (2, 1));
    let periods = store.digest_periods("weekly").await.unwrap();
    assert_eq!(periods[&1].0, day(7));
    assert_eq!(periods[&2].0, day(200), "subscriber 2's only digest stays");
    assert!(store.content(ids[2]).await.unwrap().is_none());
    for kept in [ids[0], ids[1], ids[3]] {
        assert!(store.content(kept).await.unwrap().is_some());
    }
    assert_eq!(
        store.prune(day(90)).await.unwrap(),
        (0, 0),
        "nothing more to do"
    );
}

/// A send that takes longer than its lease (a slow server, a long throttling pause)
/// comes back from the next claim; it must not go out a second time.
#[tokio::test]
async fn a_send_that_outlives_its_lease_goes_once() {
    let s = setup(None).await;
    add(&s, "bob@example.org", None, &["security"]).await;
    let report = s
        .digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.queued, 1);
    let (url, sink) = smtp::start_with_delay(StdDuration::from_millis(800)).await;
    let worker = smtp_worker(&s.store, &url, &s.clock, None, 2, 60, 20);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped, StdDuration::from_secs(5)));
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    // The message is at the server; its lease runs out meanwhile.
    s.clock.set(s.clock.now_utc() + Duration::seconds(120));
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(sink.received().len(), 1, "sent exactly once");
    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.sending, counts.queued), (1, 0, 0));
}

/// A worker killed after sending leaves its last records in the sent journal
/// (`crier.db.sent`) only. The next start moves them into the outbox before it queues
/// the rows that were in flight again, so only the message that was not sent goes;
/// a line the crash cut short counts for nothing.
#[tokio::test]
async fn a_restart_records_what_the_journal_holds_before_sending_again() {
    let s = setup(None).await;
    for who in ["ann", "ben", "cat"] {
        add(&s, &format!("{who}@example.org"), None, &["security"]).await;
    }
    let report = s
        .digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.queued, 3);
    // What a killed worker leaves: three rows claimed, two of them sent and in the
    // journal, and the third one's record cut short.
    let claimed = s
        .store
        .claim_due(s.clock.now_utc(), 300, 10, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let sent_at = monday_eight() - Duration::minutes(5);
    let journal = s.store.path().with_file_name("crier.db.sent");
    std::fs::write(
        &journal,
        format!(
            "{} {secs}\n{} {secs}\n{} 17",
            claimed[0].id,
            claimed[1].id,
            claimed[2].id,
            secs = sent_at.timestamp()
        ),
    )
    .unwrap();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(s.worker.clone().run(stopped, StdDuration::from_secs(5)));
    for _ in 0..100 {
        if s.store.outbox_counts().await.unwrap().sent == 3 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();

    let received = s.sink.received();
    assert_eq!(received.len(), 1, "only the unrecorded message goes again");
    assert_eq!(received[0].to, [claimed[2].recipient.clone()]);
    let rows = s.store.messages_with_key_prefix("digest:").await.unwrap();
    for row in &rows {
        assert_eq!(row.status, OutboxStatus::Sent, "{}", row.recipient);
        if row.id != claimed[2].id {
            assert_eq!(row.sent_at, Some(sent_at), "the journal's time is kept");
        }
    }
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len(),
        0,
        "everything in the journal is in the database, so it is empty"
    );
}

/// A journal that cannot be opened (here a folder stands in its place) does not stop
/// delivery: each send is then recorded in the database directly.
#[tokio::test]
async fn without_a_journal_sends_are_recorded_in_the_database() {
    let s = setup(None).await;
    add(&s, "ann@example.org", None, &["security"]).await;
    add(&s, "ben@example.org", None, &["hr"]).await;
    std::fs::create_dir(s.store.path().with_file_name("crier.db.sent")).unwrap();
    s.digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    let outcome = s.worker.drain().await;
    assert_eq!((outcome.sent, outcome.failed), (2, 0));
    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.sending, counts.queued), (2, 0, 0));
    assert_eq!(s.sink.received().len(), 2);
}

/// While the database refuses to mark a row sent, the journal keeps its record. A
/// claim that finds the row again (its lease ran out meanwhile) does not send it a
/// second time, and the next start, with the database back, records it.
#[tokio::test]
async fn a_send_the_database_cannot_record_yet_goes_once() {
    let s = setup(None).await;
    add(&s, "ann@example.org", None, &["security"]).await;
    s.digests
        .run(&weekly(365, 20), s.clock.now_utc(), |_| {})
        .await
        .unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.store.path().display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON outbox WHEN NEW.status = 'sent' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&raw)
    .await
    .unwrap();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(s.worker.clone().run(stopped, StdDuration::from_secs(5)));
    for _ in 0..100 {
        if !s.sink.received().is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    // The 300 s lease runs out while the record cannot reach the table; the worker
    // polls every 50 ms and claims the row again.
    s.clock.set(s.clock.now_utc() + Duration::seconds(400));
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(s.sink.received().len(), 1, "sent once");
    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.sending), (0, 1));
    let journal = s.store.path().with_file_name("crier.db.sent");
    assert!(
        !std::fs::read_to_string(&journal).unwrap().is_empty(),
        "the record stays in the journal"
    );

    sqlx::query("DROP TRIGGER refuse_sent")
        .execute(&raw)
        .await
        .unwrap();
    assert_eq!(s.worker.drain().await, Default::default());
    let counts = s.store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.sending), (1, 0));
    assert_eq!(s.sink.received().len(), 1);
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
}

//! What the console's Digests pages stand on, over a real SQLite file: the dry run's
//! figures for a known list, the preview of one subscriber and of the sample reader,
//! and a test send that queues exactly one outbox row to the given address, reaches
//! the mailer marked as a test, and counts as nobody's digest. The schedule's words
//! are unit-tested beside the describer (`src/cron/describe.rs`) and the framed
//! preview's headers beside its handler (`src/http/console/digests.rs`); `pages`
//! then drives the pages over a real socket as a signed-in admin.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{SECRET, current, fixtures, library};
use crier::clock::FixedClock;
use crier::config::Digest;
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
    common::weekly_digest()
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

/// A preview reads only its subscriber's previous digest and the articles first seen
/// since: what it plans for each of them is what the whole run plans for them, with
/// a previous digest or none, with new articles since it or none, for an address
/// that was never sent one and for the sample reader.
#[tokio::test]
async fn one_subscriber_is_planned_as_the_whole_run_plans_them() {
    use crier::articles::Library;
    use crier::digests::Firing;

    let s = setup().await;
    let all = library(&fixtures("valid"));
    // The first week's library has every other article; the rest come later.
    let first: Vec<_> = all.articles().iter().step_by(2).cloned().collect();
    let (libraries, current) = tokio::sync::watch::channel(Arc::new(Library::new(
        first,
        Vec::new(),
        all.taxonomy_arc(),
    )));
    let digests = Digests::new(
        s.subscriptions.clone(),
        Arc::new(Templates::embedded()),
        current,
        vec![weekly()],
        s.clock.clone(),
        "news@news.example.test".into(),
        None,
    );
    known_list(&s).await;
    let planning = digests
        .plan(&weekly(), monday_eight(), Firing::Manual, None)
        .await
        .unwrap();
    assert!(!planning.plans.is_empty());
    digests.enqueue(&weekly(), &planning).await.unwrap();
    add(&s, "eve@example.org", &["security", "students"]).await;

    let next_week = monday_eight() + Duration::days(7);
    s.clock.set(next_week);
    libraries.send(all).unwrap();
    let mut readers = Vec::new();
    for email in [
        "ada@example.org",
        "bob@example.org",
        "cy@example.org",
        "dan@example.org",
        "eve@example.org",
    ] {
        readers.push(digests.subscriber(email).await.unwrap().unwrap());
    }
    // Each alone first, so that planning one records the new library's articles too.
    let mut alone = Vec::new();
    for reader in &readers {
        alone.push(
            digests
                .plan(&weekly(), next_week, Firing::Manual, Some(reader))
                .await
                .unwrap(),
        );
    }
    let whole = digests
        .plan(&weekly(), next_week, Firing::Manual, None)
        .await
        .unwrap();
    for (reader, alone) in readers.iter().zip(&alone) {
        let theirs: Vec<_> = whole
            .plans
            .iter()
            .filter(|p| p.subscriber_id == reader.id)
            .cloned()
            .collect();
        assert_eq!(alone.plans, theirs, "{}", reader.email);
        assert_eq!(
            alone.empty,
            whole
                .empty
                .iter()
                .copied()
                .filter(|&id| id == reader.id)
                .collect::<Vec<_>>(),
            "{}",
            reader.email
        );
    }
    let had_one = |email: &str| {
        let at = readers.iter().position(|r| r.email == email).unwrap();
        alone[at].plans.first().map(|p| p.articles()).unwrap_or(0)
    };
    assert!(
        had_one("ada@example.org") > 0,
        "new articles since Ada's digest"
    );
    assert!(
        had_one("eve@example.org") > had_one("bob@example.org"),
        "Eve, who never had one, gets the older articles too"
    );

    // The sample reader, who has no row, follows every audience and had no digest.
    let sample = digests.sample_subscriber(&weekly());
    let theirs = digests
        .plan(&weekly(), next_week, Firing::Manual, Some(&sample))
        .await
        .unwrap();
    assert_eq!(theirs.plans.len(), 1);
    assert!(theirs.plans[0].articles() >= had_one("eve@example.org"));
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

/// The pages themselves, over a real socket as a signed-in admin, on the default
/// config's daily and weekly digests.
mod pages {
    use super::*;
    use common::console::{Client, assert_private, assert_sane_html, signed_in, unescape};
    use reqwest::StatusCode;

    /// Text as the console's templates escape it.
    fn escaped(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;")
            .replace('`', "&#x60;")
            .replace('=', "&#x3D;")
    }

    /// A signed-in console on Monday 23 November 2026, 08:00 UTC, with two weekly
    /// readers of every audience and one of an audience nothing in the fixtures
    /// reaches.
    async fn console() -> Client {
        let c = signed_in().await;
        c.app.clock.set(monday_eight());
        let every: Vec<String> = c
            .app
            .subscriptions
            .taxonomy()
            .audiences()
            .iter()
            .map(|a| a.slug.clone())
            .collect();
        for (email, audiences) in [
            ("ada@example.org", every.clone()),
            ("bob@example.org", every),
            ("cy@example.org", vec!["students".to_string()]),
        ] {
            let request = Request {
                email: email.into(),
                audiences,
                frequency: Some("weekly".into()),
                ..Request::default()
            };
            c.app.subscriptions.add(&request, true).await.unwrap();
        }
        c
    }

    async fn outbox_rows(c: &Client) -> Vec<crier::model::OutboxRow> {
        c.app.store.deliveries(false, 100).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_list_says_each_schedule_in_words_with_firings_on_a_chosen_clock() {
        let c = console().await;
        let page = c
            .page("/admin/digests?zone=Asia/Tokyo", StatusCode::OK)
            .await;
        assert!(page.contains("Next firings in Asia/Tokyo"), "{page}");
        assert!(
            page.contains(r#"<option value="Asia/Tokyo" selected>"#),
            "{page}"
        );
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(c.app.digests.digests().len(), 2);
        for digest in c.app.digests.digests() {
            let words = escaped(&digest.cron.describe());
            assert!(page.contains(&words), "{words}: {page}");
            assert!(page.contains(&digest.cron.source), "{page}");
            let firings = c.app.digests.next_firings(digest, &tokyo, 5);
            assert_eq!(firings.len(), 5);
            for t in firings {
                let shown = t.format("%a %-d %b %Y, %H:%M %Z").to_string();
                assert!(shown.ends_with("JST"), "{shown}");
                assert!(
                    page.contains(&format!("<li>{shown}</li>")),
                    "{shown}: {page}"
                );
            }
            assert!(
                page.contains(&format!(r#"href="/admin/digests/{}/preview""#, digest.name)),
                "{page}"
            );
        }
        // Monday 17:00 in Tokyo now: the weekly's next 07:00 there is a week on.
        assert!(
            page.contains("<li>Mon 30 Nov 2026, 07:00 JST</li>"),
            "{page}"
        );

        let (status, headers, page) = c.get("/admin/digests?zone=Mars/Olympus").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_private("unknown zone", &headers);
        assert_sane_html("unknown zone", &page);
        assert!(page.contains("“Mars/Olympus” is not a time zone"), "{page}");
        assert!(page.contains(r#"role="alert""#), "{page}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_preview_frames_the_html_in_a_sandbox_beside_the_text() {
        let c = console().await;
        let weekly = c.app.digests.digest("weekly").unwrap().clone();
        let ada = c
            .app
            .digests
            .subscriber("ada@example.org")
            .await
            .unwrap()
            .unwrap();
        let content = c.app.digests.preview(&weekly, &ada).await.unwrap().unwrap();

        let page = c
            .page(
                "/admin/digests/weekly/preview?subscriber=ada%40example.org",
                StatusCode::OK,
            )
            .await;
        assert!(
            page.contains("What ada@example.org would get now."),
            "{page}"
        );
        assert!(
            page.contains("<iframe class=\"preview\" sandbox src=\""),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "<pre class=\"text\">{}</pre>",
                escaped(&content.text)
            )),
            "the text part: {page}"
        );
        assert!(page.contains(&escaped(&content.subject)), "{page}");

        // The frame's own document, under its sandboxing policy.
        let at = page.find(" sandbox src=\"").unwrap() + " sandbox src=\"".len();
        let src = unescape(&page[at..at + page[at..].find('"').unwrap()]);
        assert_eq!(
            src,
            "/admin/digests/weekly/preview.html?subscriber=ada%40example.org"
        );
        let (status, headers, html) = c.get(&src).await;
        assert_eq!(status, StatusCode::OK);
        assert_private("framed", &headers);
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("sandbox;"), "{policy}");
        assert!(policy.contains("frame-ancestors 'self'"), "{policy}");
        assert!(!policy.contains("script"), "{policy}");
        assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
        assert_eq!(html, content.html);

        // The same reader by id.
        let by_id = c
            .page(
                &format!("/admin/digests/weekly/preview?subscriber={}", ada.id),
                StatusCode::OK,
            )
            .await;
        assert!(
            by_id.contains("What ada@example.org would get now."),
            "{by_id}"
        );
        // The sample reader, someone with nothing new, and nobody.
        let page = c
            .page("/admin/digests/weekly/preview", StatusCode::OK)
            .await;
        assert!(page.contains("a sample reader"), "{page}");
        assert!(page.contains(" sandbox src=\""), "{page}");
        let page = c
            .page(
                "/admin/digests/weekly/preview?subscriber=cy%40example.org",
                StatusCode::OK,
            )
            .await;
        assert!(page.contains("<strong>Nothing new:</strong>"), "{page}");
        assert!(!page.contains("<iframe"), "{page}");
        let (status, headers, page) = c
            .get("/admin/digests/weekly/preview?subscriber=nobody%40example.org")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_private("no such reader", &headers);
        assert_sane_html("no such reader", &page);
        let (status, _, _) = c.get("/admin/digests/hourly/preview").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn send_a_test_queues_exactly_one_row_and_needs_the_token() {
        let c = console().await;
        let before = outbox_rows(&c).await;
        let fields = [
            ("subscriber", "ada@example.org"),
            ("to", "Tester@Example.net"),
        ];

        let (status, headers, _) = c.post_form_raw("/admin/digests/weekly/test", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_private("refused test", &headers);
        assert_eq!(outbox_rows(&c).await, before, "refused: nothing queued");

        let (status, headers, page) = c.post_form("/admin/digests/weekly/test", &fields).await;
        assert_eq!(status, StatusCode::OK);
        assert_private("test", &headers);
        assert_sane_html("test", &page);
        assert!(page.contains("is queued for tester@example.net"), "{page}");
        let after = outbox_rows(&c).await;
        assert_eq!(after.len(), before.len() + 1, "exactly one row");
        let new: Vec<_> = after.iter().filter(|r| !before.contains(r)).collect();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].recipient, "tester@example.net");
        assert_eq!(new[0].kind, "test");
        assert_eq!(new[0].subscriber_id, None);

        // A bad address: said beside the field, nothing queued.
        let (status, _, page) = c
            .post_form(
                "/admin/digests/weekly/test",
                &[("subscriber", "ada@example.org"), ("to", "not an address")],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_sane_html("bad address", &page);
        assert!(page.contains(r#"aria-invalid="true""#), "{page}");
        assert_eq!(outbox_rows(&c).await.len(), after.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_dry_run_shows_the_figures_and_queues_nothing() {
        let c = console().await;
        let (status, headers, _) = c.post_form_raw("/admin/digests/weekly/dry-run", &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_private("refused dry run", &headers);

        let (status, headers, page) = c.post_form("/admin/digests/weekly/dry-run", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_private("dry run", &headers);
        assert_sane_html("dry run", &page);
        let weekly = c.app.digests.digest("weekly").unwrap().clone();
        let dry = c.app.digests.dry_run(&weekly, 20).await.unwrap();
        assert_eq!((dry.digests, dry.contents, dry.nothing_new), (2, 1, 1));
        for (figure, what) in [
            (dry.digests, "digests to send"),
            (dry.contents, "distinct contents"),
            (dry.nothing_new, "subscribers with nothing new"),
            (dry.already_planned, "already sent this period"),
        ] {
            let card = format!(r#"<p class="big">{figure}</p><p>{what}</p>"#);
            assert!(page.contains(&card), "{card}: {page}");
        }
        assert!(
            page.contains(
                r#"<a href="/admin/digests/weekly/preview?subscriber&#x3D;cy%40example.org">cy@example.org</a>"#
            ),
            "{page}"
        );
        assert!(outbox_rows(&c).await.is_empty(), "a dry run queues nothing");
        let (status, _, _) = c.post_form("/admin/digests/hourly/dry-run", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

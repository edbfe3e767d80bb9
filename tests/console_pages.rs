//! The console's read-only pages: the dashboard's queries over a real SQLite file
//! with rows of known days (the 90-day boundary included), the SVG charts as XML,
//! and the dashboard, audiences and articles pages as a signed-in admin sees them.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::console::signed_in;
use common::people;
use crier::articles::Library;
use crier::articles::parse::parse_file;
use crier::audience::Taxonomy;
use crier::http::console::chart::{self, Series};
use crier::model::{FileError, Status};
use crier::store::{DayCount, ZoneCount};
use crier::subscriptions::Request;
use reqwest::StatusCode;

fn request(email: &str, frequency: &str, timezone: &str) -> Request {
    Request {
        email: email.into(),
        audiences: vec!["hr".into()],
        frequency: Some(frequency.into()),
        timezone: Some(timezone.into()),
        ..Request::default()
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn count(day_text: &str, kind: &str, count: u64) -> DayCount {
    DayCount {
        day: day(day_text),
        kind: kind.into(),
        count,
    }
}

/// Checks that `svg` is well-formed XML: every tag closed in order, every entity known.
fn assert_xml(svg: &str) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::GeneralRef(r)) => {
                let name = r.into_inner().into_owned();
                assert!(
                    ["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str())
                        || name.starts_with('#'),
                    "unknown entity &{name}; in {svg}"
                );
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not XML at {}: {e}\n{svg}", reader.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "unclosed tags in {svg}");
}

/// Every `<svg …>…</svg>` of a page.
fn svgs(page: &str) -> Vec<&str> {
    page.match_indices("<svg")
        .map(|(start, _)| {
            let end = page[start..].find("</svg>").unwrap() + start + "</svg>".len();
            &page[start..end]
        })
        .collect()
}

#[tokio::test]
async fn activity_is_counted_per_utc_day_from_the_first_of_90_days() {
    let p = people(None, false).await;
    let now = at("2026-06-15T12:00:00Z");
    // The chart's 90 days are 2026-03-18 to 2026-06-15; they start at midnight.
    let since = at("2026-03-18T00:00:00Z");
    let yesterday = at("2026-06-14T09:00:00Z");

    p.clock.set(since - Duration::seconds(1));
    let old = p
        .subscriptions
        .add(&request("old@example.org", "weekly", "UTC"), false)
        .await
        .unwrap();
    p.clock.set(since);
    let edge = p
        .subscriptions
        .add(&request("edge@example.org", "weekly", "UTC"), false)
        .await
        .unwrap();
    p.clock.set(yesterday);
    let a = p
        .subscriptions
        .add(&request("a@example.org", "weekly", "UTC"), false)
        .await
        .unwrap();
    let u = p
        .subscriptions
        .add(&request("u@example.org", "daily", "Europe/Berlin"), true)
        .await
        .unwrap();
    p.store
        .confirmation(a.id)
        .await
        .unwrap()
        .unwrap()
        .activate("hash-a", None, None, yesterday)
        .await
        .unwrap();
    p.subscriptions
        .unsubscribe_subscriber(&u, "link")
        .await
        .unwrap();
    p.clock.set(now);
    let c = p
        .subscriptions
        .add(&request("c@example.org", "daily", "UTC"), true)
        .await
        .unwrap();
    p.store
        .end_subscription(c.id, "hash-c", Status::Bounced, "smtp", now)
        .await
        .unwrap();

    let activity = p.store.subscriber_activity(since).await.unwrap();
    assert_eq!(
        activity,
        vec![
            count("2026-03-18", "signup", 1),
            count("2026-06-14", "confirm", 1),
            count("2026-06-14", "signup", 2),
            count("2026-06-14", "unsubscribed", 1),
            count("2026-06-15", "bounced", 1),
            count("2026-06-15", "signup", 1),
        ],
        "old@ signed up a second before the first day and is not counted"
    );

    // The outbox: one confirmation mail per pending sign-up (old, edge, a).
    let rows = p.store.deliveries(false, 100).await.unwrap();
    let row = |who: &str| rows.iter().find(|r| r.recipient.contains(who)).unwrap().id;
    assert_eq!(rows.len(), 3, "{rows:?}");
    p.store
        .mark_sent_at(&[(row("edge@"), since + Duration::minutes(1))])
        .await
        .unwrap();
    p.store.mark_sent_at(&[(row("old@"), since)]).await.unwrap();
    p.store
        .mark_failed(row("a@"), "550 no such mailbox")
        .await
        .unwrap();
    let outbox = p.store.outbox_activity(since).await.unwrap();
    assert_eq!(
        outbox,
        vec![
            count("2026-03-18", "sent", 1),
            count("2026-06-14", "failed", 1)
        ],
        "old@'s mail was queued before the first day"
    );
    assert_eq!(
        p.store
            .outbox_activity(since - Duration::seconds(1))
            .await
            .unwrap()[0],
        count("2026-03-17", "sent", 1)
    );

    // Active subscribers per schedule and clock: a (weekly, UTC) only; edge and
    // old are pending, u unsubscribed, c bounced.
    assert_eq!(
        p.store.active_by_zone().await.unwrap(),
        vec![ZoneCount {
            frequency: "weekly".into(),
            timezone: "UTC".into(),
            count: 1
        }]
    );
    let _ = (old, edge);
}

/// `stats()` counts active members per audience as every member less the inactive
/// ones: the figures are those of a join of active subscribers to their audiences,
/// with no row for an audience whose members are all inactive.
#[tokio::test]
async fn stats_count_only_active_members_of_each_audience() {
    let p = people(None, false).await;
    let subscriptions = &p.subscriptions;
    let add = |email: &str, audiences: &[&str], frequency: &str, active: bool| {
        let r = Request {
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            ..request(email, frequency, "UTC")
        };
        async move { subscriptions.add(&r, active).await.unwrap() }
    };
    let empty = p.store.stats().await.unwrap();
    assert_eq!(empty.total, 0);
    assert!(empty.by_audience.is_empty() && empty.by_frequency.is_empty());
    assert_eq!(empty.by_status.values().sum::<u64>(), 0);
    assert_eq!(empty.by_status.len(), Status::ALL.len());

    add("a@example.org", &["hr", "developers"], "weekly", true).await;
    add("b@example.org", &["hr"], "daily", true).await;
    // Pending, the only member of finance: finance has no active member.
    add("c@example.org", &["hr", "finance"], "weekly", false).await;
    let d = add("d@example.org", &["developers", "finance"], "daily", true).await;
    let e = add("e@example.org", &["hr"], "weekly", true).await;
    p.subscriptions
        .unsubscribe_subscriber(&d, "link")
        .await
        .unwrap();
    p.store
        .end_subscription(e.id, "hash-e", Status::Bounced, "smtp", p.clock.now_utc())
        .await
        .unwrap();

    let stats = p.store.stats().await.unwrap();
    assert_eq!(stats.total, 5);
    let by = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        stats.by_status,
        by(&[
            ("active", 2),
            ("bounced", 1),
            ("complained", 0),
            ("pending", 1),
            ("unsubscribed", 1)
        ])
    );
    assert_eq!(stats.by_audience, by(&[("developers", 1), ("hr", 2)]));
    assert_eq!(stats.by_frequency, by(&[("daily", 1), ("weekly", 1)]));

    // The outbox per day: rows not yet sent come from their own indexes, the rest of
    // the day's rows are sent.
    let now = p.clock.now_utc();
    let since = now - Duration::days(1);
    let rows = p.store.deliveries(false, 100).await.unwrap();
    assert!(!rows.is_empty(), "c@ was sent a confirmation link");
    let today = |kind: &str, n: usize| DayCount {
        day: now.date_naive(),
        kind: kind.into(),
        count: n as u64,
    };
    assert_eq!(
        p.store.outbox_activity(since).await.unwrap(),
        [today("queued", rows.len())]
    );
    p.store.mark_sent_at(&[(rows[0].id, now)]).await.unwrap();
    let mut want = vec![today("sent", 1)];
    if rows.len() > 1 {
        want.insert(0, today("queued", rows.len() - 1));
    }
    assert_eq!(p.store.outbox_activity(since).await.unwrap(), want);
}

#[test]
fn charts_are_xml_and_escape_hostile_names() {
    let hostile = r#"<script>alert("x")</script> & 'co' ]]> &amp;"#;
    let bars = chart::bars(hostile, hostile, &[(hostile, 3), ("Plain", 0)]);
    assert_xml(&bars);
    assert!(!bars.contains("<script"), "{bars}");
    assert!(bars.contains("&lt;script&gt;"), "{bars}");
    assert!(bars.contains(r#"role="img""#) && bars.contains("<title>"));
    assert!(
        bars.contains(r#"aria-label="&lt;script&gt;alert(&quot;x&quot;)"#),
        "{bars}"
    );

    let labels: Vec<String> = (0..90).map(|d| format!("<day {d}>")).collect();
    let lines = chart::lines(
        "Per day",
        "90 days",
        &labels,
        &[
            Series {
                name: hostile,
                values: (0..90).collect(),
            },
            Series {
                name: "Quiet",
                values: vec![0; 90],
            },
        ],
    );
    assert_xml(&lines);
    assert_eq!(lines.matches("<polyline").count(), 2);
    assert!(!lines.contains("style="));
    // A point per day: 90 pairs in each line.
    let points = lines
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(points.split(' ').count(), 90);
}

#[tokio::test]
async fn the_dashboard_shows_todays_figures_and_each_digests_reach() {
    let c = signed_in().await;
    let app = &c.app;
    let today = app.clock.now_utc().date_naive();
    for i in 0..3 {
        let email = format!("w{i}@example.org");
        app.subscriptions
            .add(&request(&email, "weekly", "UTC"), true)
            .await
            .unwrap();
    }
    let pending = app
        .subscriptions
        .add(&request("p@example.org", "daily", "UTC"), false)
        .await
        .unwrap();
    app.store
        .mark_failed(
            app.store.deliveries(false, 10).await.unwrap()[0].id,
            "550 <p@example.org> unknown",
        )
        .await
        .unwrap();
    let _ = pending;

    let (status, headers, page) = c.get("/admin").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers["cache-control"], "no-store");
    let charts = svgs(&page);
    assert_eq!(charts.len(), 3, "audiences, activity and outbox");
    for svg in &charts {
        assert_xml(svg);
        assert!(svg.contains(r#"role="img""#) && svg.contains("<title>"));
    }
    assert!(!page.contains("style="), "the CSP blocks style attributes");
    // Today's row: 4 sign-ups, no confirmation (three were added active), and the
    // day's one queued mail, which failed.
    let row = format!(
        r#"<tr><th scope="row">{today}</th><td class="num">4</td><td class="num">0</td><td class="num">0</td><td class="num">0</td></tr>"#
    );
    assert!(page.contains(&row), "{row}\n{page}");
    let row = format!(
        r#"<tr><th scope="row">{today}</th><td class="num">0</td><td class="num">1</td><td class="num">0</td></tr>"#
    );
    assert!(page.contains(&row), "{row}");
    // The weekly digest reaches its three active subscribers, all on UTC; the daily
    // one has none.
    assert!(page.contains(r#"<code>0 7 * * 1</code>"#));
    let weekly = page
        .split(r#">weekly</a></th>"#)
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        weekly.ends_with(r#"<td class="num">3</td><td class="num">3</td>"#),
        "{weekly}"
    );
    let daily = page
        .split(r#">daily</a></th>"#)
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        daily.ends_with(r#"<td class="num">0</td><td class="num">0</td>"#),
        "{daily}"
    );
    // The failed delivery, with its error, escaped.
    assert!(page.contains("550 &lt;p@example.org&gt; unknown"), "{page}");
    // Active subscribers by status.
    assert!(
        page.contains(r#"<span class="big">3</span><br>active"#),
        "{page}"
    );
}

/// The dashboard's row for `day` in the activity table (sign-ups, confirmations,
/// unsubscribes, bounces) and in the outbox table (sent, failed, waiting).
fn rows_of(page: &str, day: NaiveDate) -> Vec<String> {
    page.split("<tr>")
        .filter(|r| r.starts_with(&format!(r#"<th scope="row">{day}</th>"#)))
        .map(|r| {
            r.split(r#"<td class="num">"#)
                .skip(1)
                .map(|c| c.split('<').next().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_days_counted_once_stay_right_as_days_pass_and_rows_change() {
    let c = signed_in().await;
    let app = &c.app;
    let first = app.clock.now_utc().date_naive();
    for i in 0..2 {
        app.subscriptions
            .add(
                &request(&format!("a{i}@example.org"), "weekly", "UTC"),
                false,
            )
            .await
            .unwrap();
    }
    let (_, _, page) = c.get("/admin").await;
    assert_eq!(
        rows_of(&page, first),
        ["2 0 0 0", "0 0 2"],
        "{}",
        &page[page.find("<table").unwrap_or(0)..][..3000]
    );

    // The next day: yesterday is now a past day, counted once; today is live.
    app.advance(chrono::Duration::days(1));
    // A day is past the session's lifetime: sign in again.
    c.login(
        common::console::ADMIN_EMAIL,
        common::console::ADMIN_PASSWORD,
    )
    .await;
    let second = app.clock.now_utc().date_naive();
    app.subscriptions
        .add(&request("b@example.org", "weekly", "UTC"), false)
        .await
        .unwrap();
    let (_, _, page) = c.get("/admin").await;
    assert_eq!(rows_of(&page, first), ["2 0 0 0", "0 0 2"]);
    assert_eq!(rows_of(&page, second), ["1 0 0 0", "0 0 1"]);

    // Yesterday's waiting mail is sent today: its day's split follows at once,
    // since only the totals are kept.
    app.worker.drain().await;
    app.subscriptions
        .add(&request("c@example.org", "weekly", "UTC"), false)
        .await
        .unwrap();
    let (_, _, page) = c.get("/admin").await;
    assert_eq!(rows_of(&page, first), ["2 0 0 0", "2 0 0"]);
    assert_eq!(rows_of(&page, second), ["2 0 0 0", "1 0 1"]);
}

fn article(slug: &str, date: NaiveDate, audiences: &[&str]) -> Arc<crier::model::Article> {
    let text = format!(
        "S · {} · Release · 1 min read\nTitle {slug}\n",
        date.format("%Y · %m · %d")
    );
    let mut a = parse_file(&format!("{slug}.txt"), text.as_bytes()).unwrap();
    a.audiences = audiences.iter().map(|s| s.to_string()).collect();
    Arc::new(a)
}

#[tokio::test]
async fn audiences_escape_names_and_list_what_reaches_nobody() {
    let c = signed_in().await;
    let app = &c.app;
    let taxonomy = Taxonomy::parse(
        r#"
[[audience]]
slug = "hr"
name = "HR teams"
match = ["HR teams"]

[[audience]]
slug = "evil"
name = "<img src=x onerror=alert(1)> & co"
match = ["villains"]
"#,
        "audiences.toml",
    )
    .unwrap();
    let start = day("2026-01-01");
    let articles = vec![
        article("for-hr", start, &["hr"]),
        article("for-evil", start + Duration::days(1), &["evil"]),
        article("for-nobody", start + Duration::days(2), &[]),
    ];
    app.library
        .send(Arc::new(Library::new(
            articles,
            Vec::new(),
            Arc::new(taxonomy),
        )))
        .unwrap();
    app.subscriptions
        .add(&request("h@example.org", "weekly", "UTC"), true)
        .await
        .unwrap();

    let (status, _, page) = c.get("/admin/audiences").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(
        page.contains("&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt; &amp; co"),
        "{page}"
    );
    // hr: one article, one active subscriber; evil: one article, none.
    assert!(page.contains(r#"<th scope="row">HR teams</th><td><code>hr</code></td><td class="num">1</td><td class="num">1</td>"#), "{page}");
    // The articles no subscriber gets: the evil audience's and the one with none.
    let unreached = page
        .split("Articles that reach no subscriber")
        .nth(1)
        .unwrap();
    assert!(unreached.contains("Title for-evil") && unreached.contains("Title for-nobody"));
    assert!(!unreached.contains("Title for-hr"));

    // A new library (the same taxonomy, an article for HR more) is reported as
    // soon as it is there, not the one the page saw first.
    let mut more = vec![article("for-hr-too", start, &["hr"])];
    more.extend(app.library.borrow().articles().iter().cloned());
    let taxonomy = app.library.borrow().taxonomy_arc();
    app.library
        .send(Arc::new(Library::new(more, Vec::new(), taxonomy)))
        .unwrap();
    let (_, _, page) = c.get("/admin/audiences").await;
    assert!(
        page.contains(r#"<td><code>hr</code></td><td class="num">2</td><td class="num">1</td>"#),
        "{page}"
    );

    let (_, _, dashboard) = c.get("/admin").await;
    for svg in svgs(&dashboard) {
        assert_xml(svg);
    }
    assert!(!dashboard.contains("<img src=x"));
}

/// Active subscribers per audience, counted the slow and obvious way.
fn live_by_audience(
    people: &[(Vec<&'static str>, Status)],
) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for (audiences, status) in people {
        if *status == Status::Active {
            for a in audiences {
                *counts.entry(a.to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[tokio::test]
async fn active_by_audience_equals_the_live_count_as_statuses_change() {
    use crier::model::{Consent, Source};
    use crier::store::{NewSubscriber, SubscriberChanges};
    let dir = tempfile::tempdir().unwrap();
    let store = crier::store::Store::open(&dir.path().join("crier.db"))
        .await
        .unwrap();
    let now = Utc::now();
    let names = ["hr", "executives", "researchers", "students"];
    // "students" is only ever chosen by subscribers who are not active.
    let mut people: Vec<(Vec<&'static str>, Status)> = (0..60)
        .map(|i| {
            let status = Status::ALL[i % Status::ALL.len()];
            let mut audiences = vec![names[i % 3], names[(i + 1) % 3]];
            if status != Status::Active {
                audiences.push("students");
            }
            audiences.sort_unstable();
            (audiences, status)
        })
        .collect();
    let rows: Vec<NewSubscriber> = people
        .iter()
        .enumerate()
        .map(|(i, (audiences, status))| NewSubscriber {
            email: format!("s{i}@example.org"),
            email_hash: format!("h{i}"),
            name: None,
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            frequency: "weekly".into(),
            timezone: "UTC".into(),
            status: *status,
            consent: Consent {
                at: now,
                source: Source::Import,
                ip: None,
                user_agent: None,
                text_version: "1".into(),
            },
        })
        .collect();
    store.import_subscribers(&rows, now).await.unwrap();
    // Mostly not active (one in five is), then mostly active, then mostly not again:
    // both ways of counting are taken and each must agree with the live count.
    for (round, status) in [
        (0, None),
        (1, Some(Status::Active)),
        (2, Some(Status::Bounced)),
    ] {
        if let Some(status) = status {
            for i in (0..people.len()).filter(|i| i % 10 < 8) {
                let changes = SubscriberChanges {
                    status: Some(status),
                    ..SubscriberChanges::default()
                };
                let id = store
                    .subscriber_by_email(&format!("s{i}@example.org"))
                    .await
                    .unwrap()
                    .unwrap()
                    .id;
                store
                    .update_subscriber(id, &changes, &format!("h{i}"), now)
                    .await
                    .unwrap()
                    .unwrap();
                people[i].1 = status;
            }
        }
        let want = live_by_audience(&people);
        assert_eq!(
            store.active_by_audience().await.unwrap(),
            want,
            "round {round}"
        );
        assert_eq!(
            store.stats().await.unwrap().by_audience,
            want,
            "round {round}"
        );
        assert_eq!(want.contains_key("students"), round == 1, "round {round}");
    }
}

#[tokio::test]
async fn audiences_list_unmatched_sentences_with_a_phrase() {
    let c = signed_in().await;
    let (status, _, page) = c.get("/admin/audiences").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // From the fixture store: a sentence no audience phrase matches.
    assert!(page.contains("People who just like charts."), "{page}");
    let row = page
        .split("People who just like charts.")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(row.contains("<q>"), "a phrase is suggested: {row}");
}

#[tokio::test]
async fn articles_are_paginated_with_their_feeds_and_errors_first() {
    let c = signed_in().await;
    let app = &c.app;
    let taxonomy = common::demo_taxonomy();
    let start = day("2025-01-01");
    // 120 articles, newest last here; the library orders them newest first. The
    // newest ten are for HR.
    let articles: Vec<_> = (0..120)
        .map(|i| {
            let audiences: &[&str] = if i >= 110 { &["hr"] } else { &[] };
            article(&format!("a{i:03}"), start + Duration::days(i), audiences)
        })
        .collect();
    let errors = vec![FileError {
        file: "broken.txt".into(),
        line: Some(3),
        message: "the date <is> missing".into(),
    }];
    app.library
        .send(Arc::new(Library::new(articles, errors, taxonomy)))
        .unwrap();

    let (status, _, page) = c.get("/admin/articles").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let errors_at = page
        .find("broken.txt:3")
        .expect("the parse error is listed");
    assert!(
        errors_at < page.find("Title a119").unwrap(),
        "errors come first"
    );
    assert!(page.contains("the date &lt;is&gt; missing"));
    assert!(page.contains("Articles 1–50 of 120, page 1 of 3"), "{page}");
    assert_eq!(page.matches(r#"<tr><th scope="row">"#).count(), 50);
    // The newest is in the site's, its category's and HR's feeds.
    let newest = page
        .split("Title a119")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    for feed in [
        "feed.xml",
        "categories/release/feed.xml",
        "audiences/hr/feed.xml",
    ] {
        assert!(
            newest.contains(&format!("https://news.example.test/{feed}")),
            "{feed}: {newest}"
        );
    }
    let older = page
        .split("Title a100")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(!older.contains("audiences/"), "{older}");

    // Page 2 holds ranks 51 to 100: beyond every feed's newest 50.
    let (_, _, page2) = c.get("/admin/articles?page=2").await;
    assert!(page2.contains("Articles 51–100 of 120, page 2 of 3"));
    assert!(!page2.contains("https://news.example.test/feed.xml"));
    assert!(page2.contains("older than every feed"));
    let (_, _, page3) = c.get("/admin/articles?page=3").await;
    assert_eq!(page3.matches(r#"<tr><th scope="row">"#).count(), 20);
    assert!(page3.contains("Title a000"));
    for bad in ["4", "0", "x"] {
        let (status, _, _) = c.get(&format!("/admin/articles?page={bad}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "page={bad}");
    }
}

#[tokio::test]
async fn the_pages_need_a_session() {
    let c = signed_in().await;
    let stranger = c.app.client();
    for path in ["/admin", "/admin/audiences", "/admin/articles"] {
        let (status, headers, _) = stranger.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let location = headers["location"].to_str().unwrap();
        assert!(location.starts_with("/admin/login"), "{path}: {location}");
    }
}

/// The dashboard's queries at 100,000 subscribers and 900,000 outbox rows over 90
/// days: `cargo test --release --test console_pages -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn dashboard_queries_at_scale() {
    use crier::model::{Consent, NewContent, NewMessage, Source};
    use crier::store::NewSubscriber;
    let dir = tempfile::tempdir().unwrap();
    let store = crier::store::Store::open(&dir.path().join("crier.db"))
        .await
        .unwrap();
    let now = Utc::now();
    let zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    let audiences = ["hr", "executives", "researchers", "students"];
    let rows: Vec<NewSubscriber> = (0..100_000)
        .map(|i| NewSubscriber {
            email: format!("s{i}@example.org"),
            email_hash: format!("h{i}"),
            name: None,
            audiences: vec![audiences[i % 4].into(), audiences[(i + 1) % 4].into()],
            frequency: if i % 3 == 0 { "daily" } else { "weekly" }.into(),
            timezone: zones[i % 4].into(),
            status: if i % 10 == 0 {
                Status::Unsubscribed
            } else {
                Status::Active
            },
            consent: Consent {
                at: now,
                source: Source::Import,
                ip: None,
                user_agent: None,
                text_version: "1".into(),
            },
        })
        .collect();
    for chunk in rows.chunks(10_000) {
        store.import_subscribers(chunk, now).await.unwrap();
    }
    for d in 0..90 {
        let day = now - Duration::days(d);
        let content = store
            .save_contents(
                &[NewContent {
                    subject: "s".into(),
                    text: "t".into(),
                    html: "h".into(),
                }],
                day,
            )
            .await
            .unwrap()[0];
        let messages = (0..10_000).map(|i| NewMessage {
            dedup_key: format!("d{d}:{i}"),
            kind: "digest".into(),
            subscriber_id: Some(i as i64 + 1),
            recipient: format!("s{i}@example.org"),
            content_id: content,
            vars: "{}".into(),
            digest: None,
        });
        store
            .enqueue(
                messages,
                &crier::model::MessageIds::new("example.org", common::SECRET),
                day,
            )
            .await
            .unwrap();
    }
    let since = now - Duration::days(90);
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let (a, b, c, d) = tokio::join!(
            store.stats(),
            store.subscriber_activity(since),
            store.outbox_activity(since),
            store.active_by_zone(),
        );
        let (_, _, _, _) = (a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap());
        println!("all four side by side: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        store.stats().await.unwrap();
        println!("stats: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        store.subscriber_activity(since).await.unwrap();
        println!("subscriber_activity: {:?}", t.elapsed());
        let t = std::time::Instant::now();
        store.outbox_activity(since).await.unwrap();
        println!("outbox_activity (900k rows): {:?}", t.elapsed());
        let t = std::time::Instant::now();
        store.active_by_zone().await.unwrap();
        println!("active_by_zone: {:?}", t.elapsed());
    }
}

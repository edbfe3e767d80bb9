//! Several instances on one database: each test opens the same database file
//! through two `Store` handles, which stand in for two instances as far as the SQL
//! can tell (on PostgreSQL the same statements run on one server). A digest run is
//! planned by one of them; the other waits, then finds it done, or takes it over
//! when the planner died.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use common::console::{ADMIN_EMAIL, ADMIN_PASSWORD, App, Options};
use common::{SECRET, current, fixtures, library};
use crier::clock::FixedClock;
use crier::config::Digest;
use crier::digests::{Digests, LEASE_SECS, RunReport, run_key};
use crier::store::Store;
use crier::subscriptions::{Request, Subscriptions};
use crier::templates::Templates;

fn monday_eight() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn weekly() -> Digest {
    common::weekly_digest()
}

/// One instance's digests service over its own handle on the database.
async fn instance(path: &std::path::Path, clock: &Arc<FixedClock>, holder: &str) -> Digests {
    let store = Store::open(path).await.unwrap();
    let templates = Arc::new(Templates::embedded());
    let current = current(library(&fixtures("valid")));
    let subscriptions = Subscriptions::new(
        store,
        crier::tokens::Signer::new(SECRET),
        Arc::clone(&templates),
        clock.clone(),
        current.clone(),
        common::subscription_settings(),
    );
    Digests::new(
        subscriptions,
        templates,
        current,
        vec![weekly()],
        clock.clone(),
        "news@news.example.test".into(),
        None,
    )
    .with_holder(holder)
}

struct Two {
    _dir: tempfile::TempDir,
    store: Store,
    a: Digests,
    b: Digests,
    clock: Arc<FixedClock>,
    subscribers: Vec<i64>,
}

/// Two instances on one database with `n` active weekly subscribers, each with news.
async fn two(n: usize) -> Two {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crier.db");
    let clock = Arc::new(FixedClock::new(monday_eight()));
    let a = instance(&path, &clock, "instance-a").await;
    let b = instance(&path, &clock, "instance-b").await;
    let store = Store::open(&path).await.unwrap();
    let subscriptions = Subscriptions::new(
        store.clone(),
        crier::tokens::Signer::new(SECRET),
        Arc::new(Templates::embedded()),
        clock.clone(),
        current(library(&fixtures("valid"))),
        common::subscription_settings(),
    );
    let mut subscribers = Vec::new();
    for i in 0..n {
        let request = Request {
            email: format!("reader{i}@example.org"),
            audiences: vec!["security".into()],
            frequency: Some("weekly".into()),
            ..Request::default()
        };
        subscribers.push(subscriptions.add(&request, true).await.unwrap().id);
    }
    Two {
        _dir: dir,
        store,
        a,
        b,
        clock,
        subscribers,
    }
}

impl Two {
    /// Every subscriber has exactly one message queued.
    async fn each_queued_once(&self) {
        for id in &self.subscribers {
            let rows = self.store.deliveries_to(*id, 10).await.unwrap();
            assert_eq!(rows.len(), 1, "subscriber {id} has {} messages", rows.len());
        }
        let counts = self.store.outbox_counts().await.unwrap();
        assert_eq!(counts.queued, self.subscribers.len() as u64);
    }
}

/// The runs that planned here, of `reports`.
fn planned_here(reports: &[&RunReport]) -> Vec<RunReport> {
    reports
        .iter()
        .filter(|r| !r.planned_elsewhere)
        .map(|r| **r)
        .collect()
}

#[tokio::test]
async fn two_instances_run_one_digest_run_and_one_of_them_plans_it() {
    let s = two(40).await;
    let now = s.clock.now_utc();
    let digest = weekly();
    let (one, other) = tokio::join!(s.a.run(&digest, now, |_| {}), s.b.run(&digest, now, |_| {}));
    let (one, other) = (one.unwrap(), other.unwrap());
    let planned = planned_here(&[&one, &other]);
    assert_eq!(planned.len(), 1, "planned twice: {one:?} {other:?}");
    assert_eq!(planned[0].planned, 40);
    assert_eq!(planned[0].queued, 40);
    s.each_queued_once().await;

    // A scheduler that comes to the same run later, or an instance that starts
    // later, finds it done; the planner itself may plan again and finds nothing new.
    let (late_a, late_b) = tokio::join!(
        s.a.run(&digest, now + Duration::minutes(3), |_| {}),
        s.b.run(&digest, now + Duration::minutes(3), |_| {})
    );
    let (late_a, late_b) = (late_a.unwrap(), late_b.unwrap());
    for report in planned_here(&[&late_a, &late_b]) {
        assert_eq!(report.queued, 0, "{late_a:?} {late_b:?}");
    }
    assert!(late_a.planned_elsewhere || late_b.planned_elsewhere);
    s.each_queued_once().await;
}

#[tokio::test]
async fn a_planner_that_died_is_taken_over_when_its_lease_runs_out() {
    let s = two(10).await;
    let now = s.clock.now_utc();
    let digest = weekly();
    let zones = s.store.subscriber_timezones("weekly").await.unwrap();
    let key = run_key(&digest, &zones, now);
    // A third instance took the run and died: its lease stands until it runs out.
    assert!(
        s.store
            .try_lease(&key, "dead", now, LEASE_SECS)
            .await
            .unwrap()
    );

    let b = s.b.clone();
    let waiting = tokio::spawn(async move { b.run(&weekly(), now, |_| {}).await });
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "b planned under a live lease");
    assert_eq!(s.store.outbox_counts().await.unwrap().queued, 0);

    s.clock.set(now + Duration::seconds(LEASE_SECS + 1));
    let report = tokio::time::timeout(StdDuration::from_secs(10), waiting)
        .await
        .expect("b did not take the run over")
        .unwrap()
        .unwrap();
    assert!(!report.planned_elsewhere);
    assert_eq!(report.queued, 10);
    s.each_queued_once().await;
    // The run is b's now: the dead holder's lease is gone, and a is told it is done.
    let from_a = s.a.run(&digest, now, |_| {}).await.unwrap();
    assert!(from_a.planned_elsewhere, "{from_a:?}");
}

/// Two apps (routers, services, clocks) on one database, both counting sign-ups and
/// logins in it when `shared`, each in its own memory otherwise.
async fn two_apps(shared: bool) -> (Arc<App>, Arc<App>) {
    let one = App::start(Options {
        shared_limits: shared,
        ..Options::default()
    })
    .await;
    let other = App::start(Options {
        database: Some(one.dir.path().join("crier.db")),
        shared_limits: shared,
        ..Options::default()
    })
    .await;
    // One time for both, so that they count in the same window.
    other.clock.set(one.clock.now_utc());
    (one, other)
}

async fn sign_up(app: &Arc<App>, n: usize) -> reqwest::StatusCode {
    let email = format!("r{n}@example.org");
    app.client()
        .post_form_raw("/subscribe", &[("email", &email), ("audiences", "hr")])
        .await
        .0
}

#[tokio::test]
async fn a_sign_up_limit_reached_through_one_instance_holds_on_the_other() {
    let (one, other) = two_apps(true).await;
    // Five sign-ups a minute from one client, wherever they land.
    for n in 0..3 {
        assert_eq!(sign_up(&one, n).await, reqwest::StatusCode::OK, "{n}");
    }
    for n in 3..5 {
        assert_eq!(sign_up(&other, n).await, reqwest::StatusCode::OK, "{n}");
    }
    assert_eq!(sign_up(&other, 5).await, TOO_MANY);
    assert_eq!(sign_up(&one, 6).await, TOO_MANY);
    // The next minute is a new window.
    one.advance(Duration::seconds(60));
    other.advance(Duration::seconds(60));
    assert_eq!(sign_up(&other, 7).await, reqwest::StatusCode::OK);

    // Counted in memory, each instance would let the client through five times.
    let (one, other) = two_apps(false).await;
    for n in 0..5 {
        assert_eq!(sign_up(&one, n).await, reqwest::StatusCode::OK, "{n}");
    }
    assert_eq!(sign_up(&other, 5).await, reqwest::StatusCode::OK);
}

#[tokio::test]
async fn a_login_limit_reached_through_one_instance_holds_on_the_other() {
    let (one, other) = two_apps(true).await;
    let (c1, c2) = (one.client(), other.client());
    for n in 0..5 {
        let client = if n % 2 == 0 { &c1 } else { &c2 };
        assert_eq!(
            client.login(ADMIN_EMAIL, "guess guess guess").await.0,
            reqwest::StatusCode::UNAUTHORIZED,
            "{n}"
        );
    }
    // The right password no longer helps on either instance.
    assert_eq!(c2.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0, TOO_MANY);
    assert_eq!(c1.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0, TOO_MANY);
    // After the window, a session made on one instance is good on the other: the
    // session and its CSRF token live in the database.
    one.advance(Duration::minutes(15));
    other.advance(Duration::minutes(15));
    assert_eq!(
        c1.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0,
        reqwest::StatusCode::SEE_OTHER
    );
    let cookie = c1.cookie().unwrap();
    let csrf = c1.csrf().unwrap();
    let (status, _, page) = other
        .client()
        .request(
            reqwest::Method::GET,
            "/admin/subscribers",
            &[("cookie", &format!("crier_admin={cookie}"))],
            Vec::new(),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        page.contains(&csrf),
        "the other instance knows the session's token"
    );
}

const TOO_MANY: reqwest::StatusCode = reqwest::StatusCode::TOO_MANY_REQUESTS;

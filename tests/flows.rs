//! The subscriber flows of issue #19 over HTTP, through the router, a real SQLite
//! file and the file outbox: getting back in without the email (a link mailed on
//! request, the same answer for any address), old links that still unsubscribe,
//! the unsubscribe page's gentler ways out, resubscribing through double opt-in,
//! erasing in two steps, the confirm page after confirming, choices in words
//! (frequencies with their times, zones by region, the privacy policy), errors in
//! plain words, and a repeat sign-up's answer.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use chrono::Duration;
use common::{call, outbox_messages, people};
use crier::model::Status;
use crier::tokens::{Purpose, Signer};
use mail_parser::MessageParser;

const FORM: &str = "application/x-www-form-urlencoded";

/// A client address of its own for each request: the rate limit is tested alone.
static CLIENTS: AtomicUsize = AtomicUsize::new(1);

/// One request from a client of its own (the router trusts the local proxy).
async fn send(p: &common::People, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
    let n = CLIENTS.fetch_add(1, Ordering::Relaxed);
    let client = format!("198.51.{}.{}", n / 250, n % 250 + 1);
    let (status, _, page) = call(
        &p.router,
        method,
        uri,
        &[("content-type", FORM), ("x-forwarded-for", &client)],
        body.to_string(),
    )
    .await;
    // Handlebars writes `=` in attributes as `&#x3D;`; links read back as sent.
    (
        status,
        String::from_utf8(page).unwrap().replace("&#x3D;", "="),
    )
}

fn link(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("https://news.example.test/{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map_or(text.len(), |e| start + e);
    text[start..end].replace("&amp;", "&")
}

fn path_of(url: &str) -> String {
    url.trim_start_matches("https://news.example.test")
        .to_string()
}

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_string()
}

/// The text part of the last message delivered.
async fn last_mail(p: &common::People) -> (String, String) {
    p.worker.drain().await;
    let mail = outbox_messages(&p.outbox).pop().expect("a message");
    let message = MessageParser::default().parse(&mail).unwrap();
    let to = message
        .to()
        .unwrap()
        .first()
        .unwrap()
        .address()
        .unwrap()
        .to_string();
    (to, message.body_text(0).unwrap().to_string())
}

/// Signs up (daily, Europe/London), confirms; returns the subscriber id.
async fn subscribed(p: &common::People, email: &str) -> i64 {
    let body = format!(
        "email={email}&audiences=hr&audiences=developers&frequency=daily&timezone=Europe%2FLondon"
    );
    assert_eq!(send(p, "POST", "/subscribe", &body).await.0, StatusCode::OK);
    let (_, text) = last_mail(p).await;
    let confirm = link(&text, "confirm");
    let body = format!("token={}", token_of(&confirm));
    assert_eq!(send(p, "POST", "/confirm", &body).await.0, StatusCode::OK);
    p.store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn status_of(p: &common::People, id: i64) -> Status {
    p.store.subscriber_by_id(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn preferences_without_a_link_mail_one_to_a_known_address_and_answer_alike() {
    let p = people(None, true).await;
    let (status, page) = send(&p, "GET", "/preferences", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Email me a link to my preferences"), "{page}");
    assert!(page.contains("<label for=\"link-email\">"), "{page}");

    let id = subscribed(&p, "ada@example.org").await;
    // Past the ten minutes that follow the confirmation mail.
    p.clock.set(p.subscriptions.now() + Duration::minutes(11));
    let mails = outbox_messages(&p.outbox).len();
    let (known_status, known) = send(&p, "POST", "/preferences", "email=Ada%40Example.org").await;
    let (unknown_status, unknown) =
        send(&p, "POST", "/preferences", "email=nobody%40example.org").await;
    assert_eq!(known_status, StatusCode::OK);
    assert_eq!(unknown_status, StatusCode::OK);
    assert_eq!(
        known.replace("ada@example.org", "X"),
        unknown.replace("nobody@example.org", "X"),
        "the same page for a known and an unknown address"
    );
    let (to, text) = last_mail(&p).await;
    assert_eq!(
        outbox_messages(&p.outbox).len(),
        mails + 1,
        "one mail, to the known address"
    );
    assert_eq!(to, "ada@example.org");
    let fresh = link(&text, "preferences");
    let (status, page) = send(&p, "GET", &path_of(&fresh), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("ada@example.org") && page.contains("Save my choices"),
        "{page}"
    );

    // At most one such mail per address every ten minutes.
    send(&p, "POST", "/preferences", "email=ada%40example.org").await;
    p.worker.drain().await;
    assert_eq!(outbox_messages(&p.outbox).len(), mails + 1);
    p.clock.set(p.subscriptions.now() + Duration::minutes(11));

    // One who left may come back in; an address that complained gets nothing.
    let ada = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    p.subscriptions
        .unsubscribe_subscriber(&ada, "test")
        .await
        .unwrap();
    send(&p, "POST", "/preferences", "email=ada%40example.org").await;
    p.worker.drain().await;
    assert_eq!(
        outbox_messages(&p.outbox).len(),
        mails + 2,
        "an unsubscribed reader"
    );
    let hash = p.subscriptions.signer().email_hash("ada@example.org");
    p.store
        .end_subscription(id, &hash, Status::Complained, "test", p.subscriptions.now())
        .await
        .unwrap();
    p.clock.set(p.subscriptions.now() + Duration::minutes(11));
    let (status, _) = send(&p, "POST", "/preferences", "email=ada%40example.org").await;
    assert_eq!(status, StatusCode::OK);
    p.worker.drain().await;
    assert_eq!(
        outbox_messages(&p.outbox).len(),
        mails + 2,
        "no mail to a complainer"
    );

    // A typo is said in plain words, and nothing is sent.
    let (status, page) = send(&p, "POST", "/preferences", "email=ada%40example").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("That doesn&#x27;t look like an email address"),
        "{page}"
    );
    assert!(
        page.contains("value=\"ada@example\""),
        "kept for correcting"
    );
}

#[tokio::test]
async fn link_requests_are_rate_limited_and_the_limit_page_leads_back() {
    let p = people(None, true).await;
    let client = [("content-type", FORM), ("x-forwarded-for", "203.0.113.77")];
    let mut last = (StatusCode::OK, Vec::new());
    for n in 0..6 {
        let (status, _, page) = call(
            &p.router,
            "POST",
            "/preferences",
            &client,
            format!("email=r{n}%40example.org"),
        )
        .await;
        last = (status, page);
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS);
    let page = String::from_utf8(last.1).unwrap();
    assert!(
        page.contains("href=\"https://news.example.test/preferences\""),
        "{page}"
    );
    // The sign-ups share the client's budget; their limit page leads back to the form.
    let (status, _, page) = call(
        &p.router,
        "POST",
        "/subscribe",
        &client,
        "email=s%40example.org&audiences=hr",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("href=\"https://news.example.test/subscribe\""),
        "{page}"
    );
}

#[tokio::test]
async fn an_expired_link_still_lets_its_owner_leave_and_offers_a_fresh_one() {
    let p = people(None, true).await;
    let id = subscribed(&p, "old@example.org").await;
    let signer = p.subscriptions.signer();
    let then = p.subscriptions.now() - Duration::days(1);
    let unsubscribe = signer.sign(id, Purpose::Unsubscribe, then);
    let preferences = signer.sign(id, Purpose::Preferences, then);

    // The unsubscribe page: leaving first, a fresh link offered, the address filled in.
    let (status, page) = send(&p, "GET", &format!("/unsubscribe?token={unsubscribe}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("name=\"List-Unsubscribe\" value=\"One-Click\""),
        "{page}"
    );
    assert!(page.contains("value=\"old@example.org\""), "{page}");
    assert!(
        page.find("One-Click") < page.find("Email me a link"),
        "leaving comes first"
    );

    // An old preferences link changes nothing but leaving.
    let url = format!("/preferences?token={preferences}");
    let (status, page) = send(&p, "GET", &url, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This link has expired") && page.contains("value=\"old@example.org\""));
    assert!(
        page.contains(&format!("unsubscribe?token={preferences}")),
        "a way out"
    );
    let (_, page) = send(
        &p,
        "POST",
        &url,
        "action=save&audiences=finance&frequency=weekly&timezone=UTC",
    )
    .await;
    assert!(page.contains("This link has expired"));
    let same = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(same.audiences, ["developers", "hr"], "nothing saved");
    let (_, page) = send(
        &p,
        "GET",
        &format!("/preferences/data?token={preferences}"),
        "",
    )
    .await;
    assert!(
        page.contains("This link has expired") && !page.contains("\"consent\""),
        "no data"
    );
    let (status, page) = send(&p, "POST", &url, "action=unsubscribe").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("You are unsubscribed"), "{page}");
    assert_eq!(status_of(&p, id).await, Status::Unsubscribed);

    // The one-click POST works with an old link too, and can be repeated.
    let id = subscribed(&p, "older@example.org").await;
    let old = signer.sign(id, Purpose::Unsubscribe, then);
    let (status, _) = send(
        &p,
        "POST",
        &format!("/unsubscribe?token={old}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_of(&p, id).await, Status::Unsubscribed);

    // A forged old link does nothing and shows no address.
    let id = subscribed(&p, "kept@example.org").await;
    let forged =
        Signer::new(b"someone else's secret, 32 chars long").sign(id, Purpose::Unsubscribe, then);
    for (method, uri, body) in [
        ("GET", format!("/unsubscribe?token={forged}"), ""),
        (
            "POST",
            format!("/unsubscribe?token={forged}"),
            "List-Unsubscribe=One-Click",
        ),
        ("GET", format!("/preferences?token={forged}"), ""),
    ] {
        let (status, page) = send(&p, method, &uri, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert!(!page.contains("kept@example.org"), "{uri}");
    }
    assert_eq!(status_of(&p, id).await, Status::Active);
}

#[tokio::test]
async fn the_unsubscribe_page_offers_fewer_emails_below_the_way_out() {
    let p = people(None, true).await;
    let id = subscribed(&p, "una@example.org").await;
    let url = path_of(&p.subscriptions.links(id).unsubscribe_url);
    let (status, page) = send(&p, "GET", &url, "").await;
    assert_eq!(status, StatusCode::OK);
    let leave = page.find(">Unsubscribe</button>").expect("a leave button");
    let fewer = page
        .find(">Send me fewer emails</button>")
        .expect("fewer emails");
    assert!(leave < fewer, "the way out comes first");
    assert!(
        page.contains("class=\"primary\">Unsubscribe</button>"),
        "and is the primary button"
    );
    assert!(
        page.contains("switch to the weekly digest, at 07:00 on Monday"),
        "{page}"
    );
    assert!(page.contains("Only some audiences?"), "{page}");
    let preferences = link(&page, "preferences");
    assert_eq!(
        send(&p, "GET", &path_of(&preferences), "").await.0,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&p, id).await,
        Status::Active,
        "the page changed nothing"
    );

    let fewer = link(&page, "unsubscribe/fewer");
    let (status, page) = send(&p, "POST", &path_of(&fewer), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("weekly digest"), "{page}");
    let after = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(after.frequency, "weekly");
    assert_eq!(after.status, Status::Active);

    // On the least frequent schedule already, only leaving is offered.
    let (_, page) = send(&p, "GET", &url, "").await;
    assert!(!page.contains("Send me fewer emails"), "{page}");

    // An old link does not change choices.
    let old = p.subscriptions.signer().sign(
        id,
        Purpose::Unsubscribe,
        p.subscriptions.now() - Duration::days(1),
    );
    let (status, _) = send(&p, "POST", &format!("/unsubscribe/fewer?token={old}"), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn after_unsubscribing_the_preferences_offer_resubscribe_through_a_confirmation() {
    let p = people(None, true).await;
    let id = subscribed(&p, "back@example.org").await;
    let url = path_of(&p.subscriptions.links(id).preferences_url);
    let (_, page) = send(&p, "POST", &url, "action=unsubscribe").await;
    assert!(page.contains("You are unsubscribed"), "{page}");
    assert!(page.contains("Resubscribe"), "a way back: {page}");

    let (_, page) = send(&p, "GET", &url, "").await;
    assert!(page.contains(">Resubscribe</button>"), "{page}");
    assert!(!page.contains("Save my choices"), "{page}");
    assert!(page.contains("value=\"resubscribe\""), "{page}");

    // An old form's save never promises a digest to someone who left.
    let (status, page) = send(
        &p,
        "POST",
        &url,
        "action=save&audiences=hr&frequency=daily&timezone=UTC",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Saved.") && !page.contains("next digest"),
        "{page}"
    );
    assert_eq!(status_of(&p, id).await, Status::Unsubscribed);

    p.clock.set(p.subscriptions.now() + Duration::minutes(11));
    let mails = outbox_messages(&p.outbox).len();
    let (status, page) = send(
        &p,
        "POST",
        &url,
        "action=resubscribe&audiences=finance&frequency=weekly&timezone=Asia%2FTokyo",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Check your inbox"), "{page}");
    assert_eq!(
        status_of(&p, id).await,
        Status::Unsubscribed,
        "not until confirmed"
    );
    let (to, text) = last_mail(&p).await;
    assert_eq!(outbox_messages(&p.outbox).len(), mails + 1);
    assert_eq!(to, "back@example.org");
    let confirm = link(&text, "confirm");
    let (status, _) = send(
        &p,
        "POST",
        "/confirm",
        &format!("token={}", token_of(&confirm)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let back = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(back.status, Status::Active);
    assert_eq!(back.audiences, ["finance"]);
    assert_eq!(back.timezone, "Asia/Tokyo");
}

#[tokio::test]
async fn erasing_takes_a_second_step_with_a_destructive_button() {
    let p = people(None, true).await;
    let id = subscribed(&p, "erin@example.org").await;
    let url = path_of(&p.subscriptions.links(id).preferences_url);
    let (_, page) = send(&p, "GET", &url, "").await;
    assert!(page.contains("class=\"danger\">Delete my data"), "{page}");

    let (status, page) = send(&p, "POST", &url, "action=delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Delete your data?"), "{page}");
    assert!(
        page.contains("type=\"checkbox\"") && page.contains("name=\"confirm\""),
        "{page}"
    );
    assert!(
        page.contains("class=\"danger\">Delete my data for good</button>"),
        "{page}"
    );
    assert!(page.contains("value=\"erase\""), "{page}");
    assert!(
        p.store.subscriber_by_id(id).await.unwrap().is_some(),
        "not yet"
    );

    let (status, page) = send(&p, "POST", &url, "action=erase").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the box was not ticked"
    );
    assert!(page.contains("Tick the box"), "{page}");
    assert!(
        p.store.subscriber_by_id(id).await.unwrap().is_some(),
        "still not"
    );

    let (status, page) = send(&p, "POST", &url, "action=erase&confirm=yes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your data is deleted"), "{page}");
    assert!(p.store.subscriber_by_id(id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_used_confirmation_link_no_longer_asks_for_one_more_click() {
    let p = people(None, true).await;
    let body = "email=cid%40example.org&audiences=hr&frequency=weekly&timezone=Europe%2FLondon";
    send(&p, "POST", "/subscribe", body).await;
    let (_, text) = last_mail(&p).await;
    let confirm = path_of(&link(&text, "confirm"));
    let (_, page) = send(&p, "GET", &confirm, "").await;
    assert!(page.contains("One more click"), "before: {page}");
    let (_, page) = send(
        &p,
        "POST",
        "/confirm",
        &format!("token={}", token_of(&confirm)),
    )
    .await;
    assert!(page.contains("You are subscribed"), "{page}");
    assert!(
        page.contains("at 07:00 on Monday on your clock (Europe/London)"),
        "{page}"
    );
    let (status, page) = send(&p, "GET", &confirm, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("One more click"), "after: {page}");
    assert!(!page.contains("Yes, subscribe me"), "no button: {page}");
    assert!(page.contains("You are subscribed"), "{page}");
}

#[tokio::test]
async fn the_choices_say_when_and_group_the_zones() {
    let p = people(None, true).await;
    let (status, page) = send(&p, "GET", "/subscribe", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("At 07:00 on Monday, your time"),
        "weekly: {page}"
    );
    assert!(page.contains("At 07:00 every day, your time"), "daily");
    for group in [
        "Africa",
        "Americas",
        "Asia",
        "Atlantic Ocean",
        "Australia",
        "Europe",
        "Indian Ocean",
        "Pacific Ocean",
    ] {
        assert!(
            page.contains(&format!("<optgroup label=\"{group}\">")),
            "{group}"
        );
    }
    assert!(
        page.contains("<option value=\"UTC\" selected>UTC</option>"),
        "the site's zone without JavaScript"
    );
    assert!(
        page.contains("<option value=\"America/New_York\">New York</option>"),
        "{page}"
    );
    for alias in ["US/Eastern", "EST5EDT", "Etc/GMT+5", "Etc/GMT-14"] {
        assert!(!page.contains(&format!("value=\"{alias}\"")), "{alias}");
    }
    assert!(
        page.contains("data-browser-zone"),
        "a fresh form takes the browser's zone"
    );
    assert!(
        page.contains("<a href=\"https://news.example.test/privacy\">Read our privacy policy</a>"),
        "{page}"
    );

    let (status, headers, script) = call(&p.router, "GET", "/subscribe/timezone.js", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let script = String::from_utf8(script).unwrap();
    assert!(script.contains("resolvedOptions().timeZone") && script.contains("data-browser-zone"));

    // A form sent back with an error keeps the reader's zone: no browser guess.
    let (status, page) = send(
        &p,
        "POST",
        "/subscribe",
        "email=x&audiences=hr&timezone=Asia%2FTokyo",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("<option value=\"Asia/Tokyo\" selected>Tokyo</option>"),
        "{page}"
    );
    assert!(!page.contains("data-browser-zone"), "{page}");

    // A subscriber whose stored zone is an alias keeps it on the preference page.
    let id = subscribed(&p, "zed@example.org").await;
    let zed = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    let changes = crier::store::SubscriberChanges {
        timezone: Some("US/Eastern".into()),
        ..Default::default()
    };
    p.subscriptions.update(&zed, changes).await.unwrap();
    let (_, page) = send(
        &p,
        "GET",
        &path_of(&p.subscriptions.links(id).preferences_url),
        "",
    )
    .await;
    assert!(
        page.contains("<option value=\"US/Eastern\" selected>"),
        "{page}"
    );
    assert!(page.contains("Read our privacy policy"), "{page}");
}

#[tokio::test]
async fn sign_up_errors_are_plain_words() {
    let p = people(None, true).await;
    for (typed, said) in [
        (
            "ada%40example",
            "That doesn&#x27;t look like an email address",
        ),
        ("", "Please enter your email address."),
        (
            "Ada+%3Cada%40example.org%3E",
            "without a name or angle brackets",
        ),
        (
            "ada+lovelace%40example.org",
            "it has a space or a line break in it",
        ),
    ] {
        let (status, page) = send(
            &p,
            "POST",
            "/subscribe",
            &format!("email={typed}&audiences=hr"),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
        assert!(page.contains(said), "{typed}: {page}");
        let errors = &page[page.find("role=\"alert\"").unwrap()..page.find("</ul>").unwrap()];
        assert!(!errors.contains("&#x60;"), "no backticks: {errors}");
    }
    let (_, page) = send(&p, "POST", "/subscribe", "email=ada%40example.org").await;
    assert!(
        page.contains("Please choose at least one audience."),
        "{page}"
    );
}

#[tokio::test]
async fn a_repeat_sign_up_names_the_time_and_reads_alike_for_any_address() {
    let p = people(None, true).await;
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:42:00Z")
        .unwrap()
        .to_utc();
    p.clock.set(at);
    let body = |email: &str| {
        format!("email={email}&audiences=hr&frequency=weekly&timezone=Europe%2FLondon")
    };
    let (_, first) = send(&p, "POST", "/subscribe", &body("rep%40example.org")).await;
    p.worker.drain().await;
    let mails = outbox_messages(&p.outbox).len();
    p.clock.set(at + Duration::minutes(3));
    let (status, again) = send(&p, "POST", "/subscribe", &body("rep%40example.org")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.contains("at 10:42 (Europe/London time)"), "{first}");
    assert!(again.contains("at 10:45 (Europe/London time)"), "{again}");
    assert!(
        again.contains("Check your spam folder") && again.contains("one link every ten minutes"),
        "{again}"
    );
    p.worker.drain().await;
    assert_eq!(
        outbox_messages(&p.outbox).len(),
        mails,
        "no second mail within ten minutes"
    );

    // A new address at the same moment gets the same page.
    let (_, new) = send(&p, "POST", "/subscribe", &body("new%40example.org")).await;
    assert_eq!(
        again.replace("rep@example.org", "X"),
        new.replace("new@example.org", "X")
    );
}

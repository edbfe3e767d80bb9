//! Subscribers end to end through real HTTP requests to the router, a real SQLite
//! file and the file outbox: double opt-in, GETs that change nothing, forged and
//! expired links, RFC 8058 one-click, preferences, export and erasure with the
//! suppression kept, CSV imports with bad rows, racing sign-ups and the admin API.

mod common;

use axum::http::StatusCode;
use chrono::Duration;
use common::{call, outbox_messages, people};
use crier::model::Status;
use crier::tokens::{Purpose, Signer};
use mail_parser::MessageParser;

const FORM: &str = "application/x-www-form-urlencoded";

fn link(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("https://news.example.test/{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map_or(text.len(), |e| start + e);
    text[start..end].to_string()
}

fn path_of(url: &str) -> String {
    url.trim_start_matches("https://news.example.test")
        .to_string()
}

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_string()
}

async fn sign_up(p: &common::People, email: &str) -> StatusCode {
    let body = format!(
        "email={email}&name=Ada&audiences=hr&audiences=developers&frequency=weekly&timezone=Europe%2FLondon"
    );
    call(
        &p.router,
        "POST",
        "/subscribe",
        &[("content-type", FORM), ("user-agent", "test-agent/1")],
        body,
    )
    .await
    .0
}

/// Posts a sign-up form; returns the status and the page.
async fn post_sign_up(p: &common::People, body: &str) -> (StatusCode, String) {
    let (status, _, page) = call(
        &p.router,
        "POST",
        "/subscribe",
        &[("content-type", FORM)],
        body.to_string(),
    )
    .await;
    (status, String::from_utf8(page).unwrap())
}

/// A page with every `HH:MM` time of day blanked out.
fn without_times(page: &str) -> String {
    let bytes = page.as_bytes();
    let mut out = String::with_capacity(page.len());
    let mut i = 0;
    while i < page.len() {
        let time = bytes.len() >= i + 5
            && bytes[i..i + 2].iter().all(u8::is_ascii_digit)
            && bytes[i + 2] == b':'
            && bytes[i + 3..i + 5].iter().all(u8::is_ascii_digit);
        if time {
            out.push_str("HH:MM");
            i += 5;
        } else {
            let c = page[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Signs up, delivers the confirmation and confirms; returns the subscriber id.
async fn subscribed(p: &common::People, email: &str) -> i64 {
    assert_eq!(sign_up(p, email).await, StatusCode::OK);
    p.worker.drain().await;
    let mail = outbox_messages(&p.outbox).pop().unwrap();
    let message = MessageParser::default().parse(&mail).unwrap();
    let confirm = link(&message.body_text(0).unwrap(), "confirm");
    let body = format!("token={}", token_of(&confirm));
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/confirm",
        &[("content-type", FORM)],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    p.store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn double_opt_in_through_the_outbox() {
    let p = people(None, false).await;
    let (status, _, page) = call(&p.router, "GET", "/subscribe", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("name=\"audiences\" value=\"customer-service\""),
        "checkboxes"
    );
    assert!(
        page.contains("For people who run or work in support desks"),
        "descriptions"
    );
    assert!(page.contains("<label for=\"email\">"), "labelled fields");

    assert_eq!(sign_up(&p, "Ada@Example.org").await, StatusCode::OK);
    let pending = p
        .store
        .subscriber_by_email("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.status, Status::Pending);
    assert_eq!(pending.audiences, ["developers", "hr"]);
    assert_eq!(pending.timezone, "Europe/London");
    assert_eq!(pending.consent.user_agent.as_deref(), Some("test-agent/1"));
    assert_eq!(pending.consent.text_version, "test-1");
    assert_eq!(pending.consent.source, crier::model::Source::Form);

    let outcome = p.worker.drain().await;
    assert_eq!(outcome.sent, 1);
    let mails = outbox_messages(&p.outbox);
    assert_eq!(mails.len(), 1);
    let message = MessageParser::default().parse(&mails[0]).unwrap();
    assert_eq!(
        message.subject(),
        Some("Confirm your subscription to Fixture News")
    );
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("ada@example.org")
    );
    assert!(
        message
            .message_id()
            .unwrap()
            .ends_with("@news.example.test")
    );
    assert!(message.date().is_some());
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    assert!(text.contains("Hello Ada,"), "{text}");
    assert!(
        text.contains("for HR teams and Software developers"),
        "{text}"
    );
    let confirm = link(&text, "confirm");
    assert!(
        html.contains(&confirm.replace('&', "&amp;")),
        "same link in both parts"
    );

    // The GET shows a button and changes nothing; only the POST confirms.
    let (status, _, page) = call(&p.router, "GET", &path_of(&confirm), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(page)
            .unwrap()
            .contains(">Yes, subscribe me</button>")
    );
    assert_eq!(
        p.store
            .subscriber_by_email("ada@example.org")
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Pending
    );
    let body = format!("token={}", token_of(&confirm));
    let (status, _, page) = call(
        &p.router,
        "POST",
        "/confirm",
        &[("content-type", FORM)],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&page));
    let active = p
        .store
        .subscriber_by_email("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.status, Status::Active);
    assert!(active.confirmed_at.is_some());

    // Signing up again gives the same answer and sends nothing, changes nothing.
    assert_eq!(sign_up(&p, "ada@example.org").await, StatusCode::OK);
    assert_eq!(p.worker.drain().await.sent, 0);
    assert_eq!(p.store.stats().await.unwrap().total, 1);
}

#[tokio::test]
async fn gets_never_change_anything() {
    let p = people(None, false).await;
    let id = subscribed(&p, "gina@example.org").await;
    let links = p.subscriptions.links(id);
    for url in [&links.unsubscribe_url, &links.preferences_url] {
        let (status, _, _) = call(&p.router, "GET", &path_of(url), &[], "").await;
        assert_eq!(status, StatusCode::OK, "{url}");
    }
    let (status, _, page) = call(&p.router, "GET", &path_of(&links.unsubscribe_url), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(page)
            .unwrap()
            .contains("name=\"List-Unsubscribe\" value=\"One-Click\"")
    );
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Active
    );
}

#[tokio::test]
async fn forged_tampered_and_expired_tokens_change_nothing() {
    let p = people(None, false).await;
    let id = subscribed(&p, "fay@example.org").await;
    let now = p.subscriptions.now();
    let forged = Signer::new(b"someone else's secret, 32 chars long").sign(
        id,
        Purpose::Unsubscribe,
        now + Duration::days(9),
    );
    let genuine = p
        .subscriptions
        .signer()
        .sign(id, Purpose::Unsubscribe, now + Duration::days(9));
    let tampered = genuine.replacen(&format!("{id}."), &format!("{}.", id + 1), 1);
    let wrong_purpose =
        p.subscriptions
            .signer()
            .sign(id, Purpose::Confirm, now + Duration::days(9));
    for (token, want) in [
        (forged.as_str(), StatusCode::FORBIDDEN),
        (tampered.as_str(), StatusCode::FORBIDDEN),
        (wrong_purpose.as_str(), StatusCode::FORBIDDEN),
        ("not-a-token", StatusCode::BAD_REQUEST),
    ] {
        let uri = format!("/unsubscribe?token={token}");
        let (status, _, _) = call(
            &p.router,
            "POST",
            &uri,
            &[("content-type", FORM)],
            "List-Unsubscribe=One-Click",
        )
        .await;
        assert_eq!(status, want, "{token}");
        let (status, _, _) = call(
            &p.router,
            "GET",
            &format!("/preferences?token={token}"),
            &[],
            "",
        )
        .await;
        assert!(status.is_client_error(), "{token}");
    }
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/confirm",
        &[("content-type", FORM)],
        format!("token={forged}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Only leaving works past a link's date (tests/flows.rs): an old confirmation
    // link confirms nothing.
    let expired = p
        .subscriptions
        .signer()
        .sign(id, Purpose::Confirm, now - Duration::minutes(1));
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/confirm",
        &[("content-type", FORM)],
        format!("token={expired}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Active
    );
}

#[tokio::test]
async fn one_click_unsubscribe_is_immediate_idempotent_and_suppresses() {
    let p = people(None, false).await;
    let id = subscribed(&p, "una@example.org").await;
    let url = path_of(&p.subscriptions.links(id).unsubscribe_url);
    for _ in 0..2 {
        let (status, headers, _) = call(
            &p.router,
            "POST",
            &url,
            &[("content-type", FORM)],
            "List-Unsubscribe=One-Click",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("location").is_none(), "no redirect");
        assert!(headers.get("set-cookie").is_none(), "no cookie");
    }
    let after = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(after.status, Status::Unsubscribed);
    assert!(after.unsubscribed_at.is_some());
    assert!(
        p.store
            .is_suppressed(&p.subscriptions.signer().email_hash("una@example.org"))
            .await
            .unwrap()
    );

    // The multipart form of RFC 8058 works too.
    let id = subscribed(&p, "multi@example.org").await;
    let url = path_of(&p.subscriptions.links(id).unsubscribe_url);
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
    let (status, _, _) = call(
        &p.router,
        "POST",
        &url,
        &[("content-type", "multipart/form-data; boundary=XyZ")],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Unsubscribed
    );

    // A POST without the one-click body changes nothing.
    let id = subscribed(&p, "nobody@example.org").await;
    let url = path_of(&p.subscriptions.links(id).unsubscribe_url);
    let (status, _, _) = call(
        &p.router,
        "POST",
        &url,
        &[("content-type", FORM)],
        "something=else",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Active
    );
}

/// Over a real socket: a one-click POST, a preferences page or a confirmation with
/// a token spelt another way (`+13.…`, `013.…`, a padded expiry, a space) is refused
/// and changes nothing; the token as it was sent works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_accepted_only_as_they_were_written() {
    let p = people(None, false).await;
    let id = subscribed(&p, "exact@example.org").await;
    let base = common::listen(p.router.clone()).await;
    let http = common::client();
    let links = p.subscriptions.links(id);
    let token = token_of(&links.unsubscribe_url);
    let expiry = token.split('.').nth(2).unwrap().to_string();
    let respell = |token: &str| {
        [
            format!("%2B{token}"),
            format!("0{token}"),
            format!("%20{token}"),
            token.replacen(&format!(".{expiry}."), &format!(".%2B{expiry}."), 1),
            token.replacen(&format!(".{expiry}."), &format!(".0{expiry}."), 1),
        ]
    };
    for spelt in respell(&token) {
        let r = http
            .post(format!("{base}unsubscribe?token={spelt}"))
            .header("content-type", FORM)
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{spelt}");
        let r = http
            .get(format!("{base}unsubscribe?token={spelt}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{spelt}");
    }
    for spelt in respell(&token_of(&links.preferences_url)) {
        let r = http
            .get(format!("{base}preferences?token={spelt}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{spelt}");
    }
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Active
    );
    let r = http
        .post(format!("{base}unsubscribe?token={token}"))
        .header("content-type", FORM)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Unsubscribed
    );
}

/// Over a real socket: `%` and `_` in an admin search are themselves, not wildcards,
/// and a page whose offset does not fit is a 400, not a crash or a wrapped offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_search_takes_wildcards_literally_and_refuses_absurd_pages() {
    const ADMIN: &str = "admin-token-0123456789";
    let p = people(Some(ADMIN), false).await;
    let base = common::listen(p.router.clone()).await;
    let http = common::client();
    for (email, name) in [
        ("a_b@example.org", "Under Score"),
        ("axb@example.org", "Ex"),
        ("ab@example.org", "Full 100% Ada"),
        ("other@example.org", "Plain"),
    ] {
        let r = http
            .post(format!("{base}api/subscribers"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"email": email, "name": name, "audiences": ["hr"], "active": true})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{email}");
    }
    let search = async |query: &str| -> (u16, serde_json::Value) {
        let r = http
            .get(format!("{base}api/subscribers?{query}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    };
    let emails = |page: &serde_json::Value| -> Vec<String> {
        page["subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["email"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, page) = search("q=a_b").await;
    assert_eq!(status, 200);
    assert_eq!(emails(&page), ["a_b@example.org"]);
    let (_, page) = search("q=%25").await;
    assert_eq!(emails(&page), ["ab@example.org"]);
    let (_, page) = search("q=_").await;
    assert_eq!(emails(&page), ["a_b@example.org"]);
    let (_, page) = search("q=").await;
    assert_eq!(page["total"], 4);

    let (status, page) = search("page=4294967295&per_page=1000").await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page["errors"][0].as_str().unwrap().contains("out of range"),
        "{page}"
    );
    let (status, page) = search("page=4294967&per_page=1000").await;
    assert_eq!(
        (status, emails(&page).len()),
        (200, 0),
        "the last page that fits"
    );
}

/// Over a real socket: a body past the cap is refused before anything reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_capped() {
    const ADMIN: &str = "admin-token-0123456789";
    let p = people(Some(ADMIN), false).await;
    let base = common::listen(p.router.clone()).await;
    let http = common::client();
    let big = format!(
        "email=a%40example.org&name={}",
        "x".repeat((2 << 20) + (64 << 10))
    );
    let r = http
        .post(format!("{base}subscribe"))
        .header("content-type", FORM)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let csv = format!("email,name\n{}", "a@example.org,A\n".repeat(150_000));
    let r = http
        .post(format!("{base}api/subscribers/import"))
        .bearer_auth(ADMIN)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(p.store.all_subscribers().await.unwrap().len(), 0);
}

#[tokio::test]
async fn preferences_change_choices_export_and_erase() {
    let p = people(None, false).await;
    let id = subscribed(&p, "pat@example.org").await;
    let url = path_of(&p.subscriptions.links(id).preferences_url);
    let (status, _, page) = call(&p.router, "GET", &url, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(page).unwrap().contains("pat@example.org"));

    let body = "action=save&name=Pat+Q&audiences=security&audiences=finance&frequency=daily&timezone=Asia%2FTokyo";
    let (status, _, page) = call(&p.router, "POST", &url, &[("content-type", FORM)], body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(page).unwrap().contains("Saved."));
    let changed = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(changed.audiences, ["finance", "security"]);
    assert_eq!(changed.frequency, "daily");
    assert_eq!(changed.timezone, "Asia/Tokyo");
    assert_eq!(changed.name.as_deref(), Some("Pat Q"));

    let bad = "action=save&audiences=astronauts&frequency=hourly&timezone=Mars%2FOlympus";
    let (status, _, page) = call(&p.router, "POST", &url, &[("content-type", FORM)], bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = String::from_utf8(page).unwrap();
    for plain in [
        "One of the audiences you chose is no longer offered.",
        "Please choose how often you want to hear from us.",
        "Please choose a time zone from the list.",
    ] {
        assert!(page.contains(plain), "{plain}: {page}");
    }
    assert!(!page.contains("Mars/Olympus"), "no parser's message");
    assert_eq!(
        p.store
            .subscriber_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .frequency,
        "daily"
    );

    let data_url = url.replace("/preferences?", "/preferences/data?");
    let (status, headers, body) = call(&p.router, "GET", &data_url, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let data: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(data["email"], "pat@example.org");
    assert_eq!(data["consent"]["source"], "form");

    // Erasing takes a second step (tests/flows.rs shows the first).
    let (status, _, _) = call(
        &p.router,
        "POST",
        &url,
        &[("content-type", FORM)],
        "action=erase&confirm=yes",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        p.store
            .subscriber_by_email("pat@example.org")
            .await
            .unwrap()
            .is_none()
    );
    let hash = p.subscriptions.signer().email_hash("pat@example.org");
    assert!(
        p.store.is_suppressed(&hash).await.unwrap(),
        "the suppression outlives the erasure"
    );
    let (status, _, _) = call(&p.router, "GET", &url, &[], "").await;
    assert_eq!(status, StatusCode::GONE);

    // Only a new double opt-in brings the address back.
    let request = crier::subscriptions::Request {
        email: "pat@example.org".into(),
        audiences: vec!["hr".into()],
        ..Default::default()
    };
    assert!(
        p.subscriptions.add(&request, true).await.is_err(),
        "an admin cannot re-add a suppressed address as active"
    );
    let id = subscribed(&p, "pat@example.org").await;
    assert_eq!(
        p.store.subscriber_by_id(id).await.unwrap().unwrap().status,
        Status::Active
    );
    assert!(!p.store.is_suppressed(&hash).await.unwrap());
}

#[tokio::test]
async fn csv_imports_report_bad_rows_by_line() {
    let p = people(None, false).await;
    let csv = "email,name,audiences,frequency,timezone\n\
               good@example.org,Good,hr;developers,weekly,Europe/Paris\n\
               not-an-address,Bad,hr,weekly,UTC\n\
               who@example.org,,astronauts,weekly,UTC\n\
               when@example.org,,hr,hourly,UTC\n\
               where@example.org,,hr,daily,Moon/Base\n\
               GOOD@example.org,Again,hr,weekly,UTC\n\
               \"quoted@example.org\",\"Doe, Jane\",finance,,\n";
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), true, &|_| {})
        .await
        .unwrap();
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7], "{:?}", report.errors);
    assert!(report.errors[0].message.contains("not-an-address"));
    assert!(report.errors[1].message.contains("astronauts"));
    assert!(report.errors[2].message.contains("hourly"));
    assert!(report.errors[3].message.contains("Moon/Base"));
    assert!(report.errors[4].message.contains("line 2"));
    assert_eq!((report.rows, report.created), (7, 2));
    let jane = p
        .store
        .subscriber_by_email("quoted@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jane.name.as_deref(), Some("Doe, Jane"));
    assert_eq!(jane.frequency, "weekly");
    assert_eq!(jane.status, Status::Active);
    assert_eq!(jane.consent.source, crier::model::Source::Import);

    // Without --active, new rows are pending and get a confirmation each.
    let csv = "email,audiences\nlater@example.org,hr\n";
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), false, &|_| {})
        .await
        .unwrap();
    assert_eq!((report.created, report.confirmations), (1, 1));
    assert_eq!(
        p.store
            .subscriber_by_email("later@example.org")
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Pending
    );

    let bad_header = "mail,name\nx@example.org,X\n";
    let err = p
        .subscriptions
        .import_csv(bad_header.as_bytes(), true, &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

/// The subscriber `user{i}@example.org`.
async fn user(p: &common::People, i: usize) -> crier::model::Subscriber {
    p.store
        .subscriber_by_email(&format!("user{i}@example.org"))
        .await
        .unwrap()
        .unwrap()
}

/// More rows than one multi-row statement holds: every row lands with its own
/// audiences, a re-import updates in place, confirms pending rows under `--active`,
/// and a suppressed address stays out.
#[tokio::test]
async fn large_imports_and_reimports_keep_every_row() {
    let p = people(None, false).await;
    const N: usize = 1_203;
    let audiences = ["hr", "developers", "finance"];
    let row = |i: usize, name: &str, frequency: &str| {
        format!(
            "user{i}@example.org,{name}{i},{};{},{frequency},UTC\n",
            audiences[i % 3],
            audiences[(i + 1) % 3]
        )
    };
    let mut csv = String::from("email,name,audiences,frequency,timezone\n");
    for i in 0..N {
        csv.push_str(&row(i, "First", "weekly"));
    }
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), false, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.created, report.updated, report.confirmations),
        (N as u64, 0, N as u64),
        "{:?}",
        report.errors
    );
    assert_eq!(p.store.outbox_counts().await.unwrap().queued, N as u64);
    let stats = p.store.stats().await.unwrap();
    assert_eq!(stats.by_status["pending"], N as u64);
    for i in [0, 499, 500, 501, 1_000, N - 1] {
        let s = user(&p, i).await;
        let mut want = vec![audiences[i % 3], audiences[(i + 1) % 3]];
        want.sort();
        assert_eq!(s.audiences, want, "user{i}");
        assert_eq!(s.name, Some(format!("First{i}")));
    }

    // One of them leaves; the re-import changes the others and keeps that one out.
    let leaver = p
        .store
        .subscriber_by_email("user7@example.org")
        .await
        .unwrap()
        .unwrap();
    p.store
        .unsubscribe_subscriber(
            leaver.id,
            &p.subscriptions.signer().email_hash(&leaver.email),
            "test",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let mut csv = String::from("email,name,audiences,frequency,timezone\n");
    for i in 0..N {
        // Every row now names one audience only; odd rows drop their name.
        let name = if i % 2 == 0 { "Second" } else { "" };
        let line = row(i, name, "daily");
        let line = line.replacen(&format!(";{}", audiences[(i + 1) % 3]), "", 1);
        let line = if name.is_empty() {
            line.replacen(&format!(",{i},"), ",,", 1)
        } else {
            line
        };
        csv.push_str(&line);
    }
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), true, &|_| {})
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (0, N as u64 - 1));
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [9], "user7 is on line 9: {:?}", report.errors);
    let stats = p.store.stats().await.unwrap();
    assert_eq!(stats.by_status["active"], N as u64 - 1);
    assert_eq!(stats.by_status["unsubscribed"], 1);
    assert_eq!(stats.by_frequency["daily"], N as u64 - 1);
    for i in [0, 1, 500, 501, N - 1] {
        let s = user(&p, i).await;
        assert_eq!(s.audiences, [audiences[i % 3]], "user{i}");
        assert_eq!(s.status, Status::Active);
        assert!(s.confirmed_at.is_some());
        let name = if i % 2 == 0 { "Second" } else { "First" };
        assert_eq!(
            s.name,
            Some(format!("{name}{i}")),
            "an empty name keeps the old one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_sign_ups_make_one_subscriber() {
    let p = people(None, false).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let router = p.router.clone();
            tokio::spawn(async move {
                let body = "email=race%40example.org&audiences=hr";
                call(
                    &router,
                    "POST",
                    "/subscribe",
                    &[("content-type", FORM), ("x-forwarded-for", "198.51.100.7")],
                    body,
                )
                .await
                .0
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert!(ok >= 5, "{ok} sign-ups answered OK");
    let page = p
        .store
        .subscribers(&crier::store::SubscriberQuery {
            q: "race@".into(),
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    p.worker.drain().await;
    assert_eq!(
        outbox_messages(&p.outbox).len(),
        1,
        "one confirmation, not one per request"
    );
}

#[tokio::test]
async fn sign_ups_are_rate_limited_per_client() {
    let p = people(None, true).await;
    let mut statuses = Vec::new();
    for n in 0..6 {
        let body = format!("email=r{n}%40example.org&audiences=hr");
        statuses.push(
            call(
                &p.router,
                "POST",
                "/subscribe",
                &[("content-type", FORM), ("x-forwarded-for", "203.0.113.9")],
                body,
            )
            .await
            .0,
        );
    }
    assert_eq!(statuses[..5], [StatusCode::OK; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    let body = "email=other%40example.org&audiences=hr";
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/subscribe",
        &[("content-type", FORM), ("x-forwarded-for", "203.0.113.10")],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "another client is not limited");
}

#[tokio::test]
async fn admin_api_needs_its_token() {
    let token = "admin-token-for-tests-0123";
    let p = people(Some(token), false).await;
    let auth = format!("Bearer {token}");
    let json = ("content-type", "application/json");
    for (method, uri) in [
        ("GET", "/api/subscribers"),
        ("GET", "/api/stats"),
        ("POST", "/api/subscribers"),
        ("DELETE", "/api/subscribers/a@example.org"),
    ] {
        let (status, headers, _) = call(&p.router, method, uri, &[], "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"crier admin\"");
        let (status, _, _) = call(
            &p.router,
            method,
            uri,
            &[("authorization", "Bearer wrong-token-wrong-token")],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }

    let body = r#"{"email":"Api@Example.org","name":"Api","audiences":["hr","security"],"frequency":"daily","timezone":"Asia/Tokyo","active":true}"#;
    let (status, _, created) = call(
        &p.router,
        "POST",
        "/api/subscribers",
        &[("authorization", &auth), json],
        body,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&created)
    );
    let created: serde_json::Value = serde_json::from_slice(&created).unwrap();
    assert_eq!(created["email"], "api@example.org");
    assert_eq!(created["status"], "active");
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/api/subscribers",
        &[("authorization", &auth), json],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, bad) = call(
        &p.router,
        "POST",
        "/api/subscribers",
        &[("authorization", &auth), json],
        r#"{"email":"x","audiences":["nope"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&bad).unwrap()["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (status, _, one) = call(
        &p.router,
        "GET",
        "/api/subscribers/api@example.org",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&one).unwrap()["timezone"],
        "Asia/Tokyo"
    );

    let patch = r#"{"audiences":["finance"],"name":null,"status":"unsubscribed"}"#;
    let (status, _, patched) = call(
        &p.router,
        "PATCH",
        "/api/subscribers/api@example.org",
        &[("authorization", &auth), json],
        patch,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&patched)
    );
    let patched: serde_json::Value = serde_json::from_slice(&patched).unwrap();
    assert_eq!(patched["audiences"], serde_json::json!(["finance"]));
    assert_eq!(patched["name"], serde_json::Value::Null);
    assert_eq!(patched["status"], "unsubscribed");

    let csv =
        "email,name,audiences,frequency,timezone\nb@example.org,B,hr,weekly,UTC\nbroken,,hr,,\n";
    let (status, _, report) = call(
        &p.router,
        "POST",
        "/api/subscribers/import?active=true",
        &[("authorization", &auth), ("content-type", "text/csv")],
        csv,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(report["created"], 1);
    assert_eq!(report["errors"][0]["line"], 3);

    let (status, _, list) = call(
        &p.router,
        "GET",
        "/api/subscribers?q=example&page=1&per_page=1",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["subscribers"].as_array().unwrap().len(), 1);

    let (status, _, stats) = call(
        &p.router,
        "GET",
        "/api/stats",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    assert_eq!(stats["by_status"]["active"], 1);
    assert_eq!(stats["by_status"]["unsubscribed"], 1);
    assert_eq!(stats["by_audience"]["hr"], 1);
    assert_eq!(stats["by_frequency"]["weekly"], 1);

    let (status, _, _) = call(
        &p.router,
        "DELETE",
        "/api/subscribers/b@example.org",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(
        &p.router,
        "GET",
        "/api/subscribers/b@example.org",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Without a configured token the API does not exist.
    let off = people(None, false).await;
    let (status, _, _) = call(
        &off.router,
        "GET",
        "/api/subscribers",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A name with a line break, or an address with a display name or a header smuggled
/// into it, is refused with a reason at every way in: the sign-up form, the
/// preferences form, the admin API and a CSV import (a quoted field). A form that is
/// not UTF-8 is a 400, never an address with U+FFFD in it.
#[tokio::test]
async fn hostile_names_and_addresses_are_refused_at_every_way_in() {
    let token = "admin-token-for-tests-0123";
    // Behind a trusted proxy, each sign-up from a client of its own: the rate limit
    // is not what this test is about.
    let p = people(Some(token), true).await;
    let form = [("content-type", FORM)];
    let clients = std::sync::atomic::AtomicUsize::new(1);
    let post = |body: String| {
        let n = clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let client = format!("192.0.2.{n}");
        let router = p.router.clone();
        async move {
            let headers = [("content-type", FORM), ("x-forwarded-for", client.as_str())];
            call(&router, "POST", "/subscribe", &headers, body).await
        }
    };

    let (status, _, page) = post(
        "email=ada%40example.org&name=Ada%0D%0ABcc%3A+victim%40example.org&audiences=hr".into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        String::from_utf8_lossy(&page).contains("write your name on one line"),
        "{}",
        String::from_utf8_lossy(&page)
    );
    for address in [
        "x%0D%0Abcc%3A+a%40evil+%3Cvictim%40example.org%3E",
        "Ada+%3Cada%40example.org%3E",
        "%22john..doe%22%40example.org",
        "ada%00%40example.org",
    ] {
        let (status, _, _) = post(format!("email={address}&audiences=hr")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{address}");
    }
    let (status, _, _) = post("email=%FF%FE%40example.org&audiences=hr".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        p.store.stats().await.unwrap().total,
        0,
        "nothing was stored"
    );

    // An internationalised domain is kept in its ASCII form.
    assert_eq!(
        post("email=ada%40b%C3%BCcher.example&audiences=hr".into())
            .await
            .0,
        StatusCode::OK
    );
    assert!(
        p.store
            .subscriber_by_email("ada@xn--bcher-kva.example")
            .await
            .unwrap()
            .is_some()
    );

    // The preferences form.
    let id = subscribed(&p, "pat@example.org").await;
    let url = path_of(&p.subscriptions.links(id).preferences_url);
    let body =
        "action=save&name=Pat%0ABcc%3A+x%40evil.org&audiences=hr&frequency=weekly&timezone=UTC";
    let (status, _, _) = call(&p.router, "POST", &url, &form, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = call(&p.router, "POST", &url, &form, "action=save&name=%C3%28").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let pat = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(pat.name.as_deref(), Some("Ada"), "unchanged");

    // The admin API.
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let body = r#"{"email":"api@example.org","name":"Api\r\nBcc: x@evil.org","audiences":["hr"],"active":true}"#;
    let (status, _, answer) = call(&p.router, "POST", "/api/subscribers", &headers, body).await;
    assert!(status.is_client_error(), "{status}");
    assert!(String::from_utf8_lossy(&answer).contains("U+000D"));

    // A CSV import: the row is refused by its line, the others are imported.
    let csv = "email,name,audiences,frequency,timezone\n\
               one@example.org,One,hr,weekly,UTC\n\
               two@example.org,\"Two\nBcc: x@evil.org\",hr,weekly,UTC\n\
               \"Three <three@example.org>\",Three,hr,weekly,UTC\n\
               four@example.org,Four,hr,weekly,UTC\n";
    let report = p
        .subscriptions
        .import_csv(csv.as_bytes(), true, &|_| {})
        .await
        .unwrap();
    assert_eq!(report.created, 2, "{report:?}");
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5], "{report:?}");
    assert!(
        report.errors[0].message.contains("line break (U+000A)"),
        "{report:?}"
    );
    assert!(
        report.errors[1].message.contains("angle brackets"),
        "{report:?}"
    );
}

/// Names stored before they were checked lose their control characters when the
/// database is migrated.
#[tokio::test]
async fn a_migration_cleans_names_stored_with_control_characters() {
    let p = people(None, false).await;
    let id = subscribed(&p, "old@example.org").await;
    let db = p.dir.path().join("crier.db");
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE subscribers SET name = ? WHERE id = ?")
        .bind("Old\r\nBcc: x@evil.org\0!")
        .bind(id)
        .execute(&raw)
        .await
        .unwrap();
    // The database as schema 5 left it.
    sqlx::raw_sql(
        "DROP TABLE admin_sessions; DROP TABLE admins; DROP TABLE signups; \
         PRAGMA user_version = 5",
    )
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;
    let store = crier::store::Store::open(&db).await.unwrap();
    let cleaned = store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(cleaned.name.as_deref(), Some("Old Bcc: x@evil.org !"));
    assert!(store.schema_version().await.unwrap() >= 6);
}

/// A sign-up for an address crier knows never rewrites its record: the new choices
/// wait beside it and apply only when the confirmation is POSTed. Complained and
/// bounced addresses get no mail from a web sign-up, with the same answer on the
/// page, until an admin lifts that by setting the status to `unsubscribed`.
#[tokio::test]
async fn sign_ups_cannot_rewrite_someone_elses_record() {
    use crier::store::SubscriberChanges;
    let p = people(None, false).await;
    let id = subscribed(&p, "kim@example.org").await;
    let kim = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    p.subscriptions
        .unsubscribe_subscriber(&kim, "test")
        .await
        .unwrap();
    let before = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    let mails = outbox_messages(&p.outbox).len();

    // Someone signs the address up again with other choices (later than the ten
    // minutes between two confirmation mails).
    let later = |minutes| {
        p.clock
            .set(p.subscriptions.now() + Duration::minutes(minutes))
    };
    later(11);
    let body = "email=kim%40example.org&name=Mallory&audiences=security&frequency=daily&timezone=Asia%2FTokyo";
    let (status, page) = post_sign_up(&p, body).await;
    assert_eq!(status, StatusCode::OK);
    let answer = page;
    let after = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(after, before, "the record is untouched until confirmed");
    p.worker.drain().await;
    let all = outbox_messages(&p.outbox);
    assert_eq!(all.len(), mails + 1, "a confirmation goes to the owner");
    let message = MessageParser::default().parse(all.last().unwrap()).unwrap();
    let text = message.body_text(0).unwrap().to_string();
    let confirm = link(&text, "confirm");

    // The owner confirms: the choices of that sign-up apply now.
    let (status, _, _) = call(
        &p.router,
        "POST",
        "/confirm",
        &[("content-type", FORM)],
        format!("token={}", token_of(&confirm)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let confirmed = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    assert_eq!(confirmed.status, Status::Active);
    assert_eq!(confirmed.name.as_deref(), Some("Mallory"));
    assert_eq!(confirmed.audiences, ["security"]);
    assert_eq!(confirmed.frequency, "daily");
    assert_eq!(confirmed.timezone, "Asia/Tokyo");

    // A complained address: the same answer, no mail, nothing stored.
    let complainer = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    let hash = p.subscriptions.signer().email_hash(&complainer.email);
    p.store
        .end_subscription(id, &hash, Status::Complained, "test", p.subscriptions.now())
        .await
        .unwrap();
    let before = p.store.subscriber_by_id(id).await.unwrap().unwrap();
    let mails = outbox_messages(&p.outbox).len();
    later(11);
    let (status, page) = post_sign_up(&p, body).await;
    assert_eq!(status, StatusCode::OK);
    // The page names the time of the request (the clock moved on since).
    assert_eq!(
        without_times(&page),
        without_times(&answer),
        "the same page"
    );
    p.worker.drain().await;
    assert_eq!(
        outbox_messages(&p.outbox).len(),
        mails,
        "no mail to a complainer"
    );
    assert_eq!(p.store.subscriber_by_id(id).await.unwrap().unwrap(), before);

    // An admin lifts it; a sign-up then sends a confirmation again.
    later(11);
    p.subscriptions
        .update(
            &before,
            SubscriberChanges {
                status: Some(Status::Unsubscribed),
                ..SubscriberChanges::default()
            },
        )
        .await
        .unwrap();
    let (status, _) = post_sign_up(&p, body).await;
    assert_eq!(status, StatusCode::OK);
    p.worker.drain().await;
    assert_eq!(outbox_messages(&p.outbox).len(), mails + 1);
}

/// The sign-up page answers from the form alone: while another connection holds the
/// database locked, a sign-up is still answered at once (it is saved after the
/// answer), so a known address and a new one cannot be told apart by timing.
#[tokio::test]
async fn sign_ups_are_answered_before_the_database_is_touched() {
    let p = people(None, false).await;
    let db = p.dir.path().join("crier.db");
    let mut locker = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        db.display()
    ))
    .await
    .unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let form = [("content-type", FORM)];
    let started = std::time::Instant::now();
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        call(
            &p.served,
            "POST",
            "/subscribe",
            &form,
            "email=lock%40example.org&audiences=hr",
        ),
    )
    .await
    .expect("answered while the database is locked");
    assert_eq!(answered.0, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    p.sign_ups.settled().await;
    assert!(
        p.store
            .subscriber_by_email("lock@example.org")
            .await
            .unwrap()
            .is_some(),
        "saved once the database was free"
    );
}

/// Everything is offered last among the audiences, a sign-up may choose it, and the
/// confirmation names it.
#[tokio::test]
async fn everything_is_offered_and_chosen_at_sign_up() {
    let p = common::people(None, false).await;
    let (status, _, page) = call(&p.router, "GET", "/subscribe", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    let everything = page
        .find("name=\"audiences\" value=\"everything\"")
        .expect("Everything is a choice");
    assert!(
        page.rfind("name=\"audiences\" value=").unwrap() == everything,
        "and the last one"
    );
    assert!(page.contains("<label for=\"aud-everything\">Everything</label>"));

    let body = "email=all%40example.org&audiences=everything&frequency=weekly&timezone=UTC";
    let (status, _) = post_sign_up(&p, body).await;
    assert_eq!(status, StatusCode::OK);
    let subscriber = p
        .store
        .subscriber_by_email("all@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subscriber.audiences, ["everything"]);
    p.worker.drain().await;
    let mail = outbox_messages(&p.outbox).pop().unwrap();
    let message = MessageParser::default().parse(&mail).unwrap();
    let text = message.body_text(0).unwrap().to_string();
    assert!(text.contains("at this address, for Everything."), "{text}");
}

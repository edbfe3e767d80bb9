//! The console's access over real sockets: login, the session cookie, the login
//! rate limits, session expiry on a moved clock, logout, CSRF and the headers of
//! everything under /admin.

mod common;

use chrono::SubsecRound;
use common::console::{self, ADMIN_EMAIL, ADMIN_PASSWORD, App, Options, Reply};
use crier::tokens::passwords::session_hash;
use reqwest::StatusCode;

const UNKNOWN: &str = "nobody@news.example.test";

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .1
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or_default())
}

fn set_cookie(reply: &Reply) -> &str {
    header(reply, "set-cookie")
}

async fn session_exists(app: &App, cookie: &str) -> bool {
    app.store
        .admin_session(&session_hash(cookie))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn login_sets_a_strict_session_cookie_and_goes_where_it_was_asked() {
    let app = App::start(Options::default()).await;
    let c = app.client();
    let (status, _, page) = c.get("/admin/login").await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        r#"<label for="email">"#,
        r#"id="email" name="email""#,
        r#"<label for="password">"#,
        r#"id="password" name="password" type="password""#,
        r#"action="/admin/login""#,
    ] {
        assert!(page.contains(part), "{part} missing from\n{page}");
    }

    let reply = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(reply.0, StatusCode::SEE_OTHER);
    assert_eq!(header(&reply, "location"), "/admin");
    let cookie = set_cookie(&reply);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Secure"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} missing from {cookie}"
        );
    }
    let value = c.cookie().unwrap();
    assert_eq!(value.len(), 43, "32 bytes in base64url: {value}");
    assert!(session_exists(&app, &value).await, "stored by its hash");
    // Only the hash is stored: the cookie itself is nowhere in the database.
    let db = std::fs::read(app.dir.path().join("crier.db")).unwrap();
    let wal = std::fs::read(app.dir.path().join("crier.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "the raw session id was stored"
        );
    }
    let (status, _, page) = c.get("/admin/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("signed in as {ADMIN_EMAIL}")),
        "{page}"
    );
    assert!(c.csrf().is_some(), "the csrf token is on the page");

    // `next` is followed to a console page only.
    let other = app.client_from("127.0.0.2");
    for (next, to) in [
        ("/admin/subscribers?page=2", "/admin/subscribers?page=2"),
        ("//evil.example/admin", "/admin"),
        ("https://evil.example/", "/admin"),
    ] {
        let reply = other
            .post_form_raw(
                "/admin/login",
                &[
                    ("email", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(reply.0, StatusCode::SEE_OTHER);
        assert_eq!(header(&reply, "location"), to, "next={next}");
    }
    // The address is normalised as subscribers' are.
    let reply = app
        .client_from("127.0.0.3")
        .login("  Admin@NEWS.example.test ", ADMIN_PASSWORD)
        .await;
    assert_eq!(reply.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_cookie_is_not_secure_on_a_plain_http_site() {
    let app = App::start(Options {
        base_url: "http://news.example.test/",
        ..Options::default()
    })
    .await;
    let reply = app.client().login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(reply.0, StatusCode::SEE_OTHER);
    let cookie = set_cookie(&reply);
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
    let app = App::start(Options::default()).await;
    let c = app.client();
    let wrong = c.login(ADMIN_EMAIL, "not the password at all").await;
    let unknown = c.login(UNKNOWN, ADMIN_PASSWORD).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.0, unknown.0);
    assert!(set_cookie(&wrong).is_empty() && set_cookie(&unknown).is_empty());
    assert!(c.cookie().is_none());
    assert!(
        wrong
            .2
            .contains("The email address or the password is not right.")
    );
    // The page echoes the address typed; apart from it, the answers are the same.
    assert_eq!(
        wrong.2.replace(ADMIN_EMAIL, "X"),
        unknown.2.replace(UNKNOWN, "X")
    );
    let sessions: i64 = app.store.admins().await.unwrap()[0].sessions;
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn logins_are_limited_per_account() {
    let app = App::start(Options::default()).await;
    let c = app.client();
    for _ in 0..5 {
        assert_eq!(
            c.login(ADMIN_EMAIL, "guess guess guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // The right password, from this client or another, no longer helps.
    let limited = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(limited.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.2.contains("Too many attempts to log in."),
        "{}",
        limited.2
    );
    assert!(c.cookie().is_none());
    let elsewhere = app.client_from("127.0.0.2");
    assert_eq!(
        elsewhere.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // An unknown account is limited alike, with the same words.
    for _ in 0..5 {
        assert_eq!(
            elsewhere.login(UNKNOWN, "guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let unknown = elsewhere.login(UNKNOWN, "guess").await;
    assert_eq!(unknown.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.2.replace(ADMIN_EMAIL, "X"),
        unknown.2.replace(UNKNOWN, "X")
    );
    // Other accounts from the same client are still answered.
    assert_eq!(
        c.login("someone@news.example.test", "guess").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logins_are_limited_per_client() {
    let app = App::start(Options::default()).await;
    let c = app.client_from("127.0.0.3");
    for n in 0..20 {
        let email = format!("guess{n}@news.example.test");
        assert_eq!(
            c.login(&email, "guess").await.0,
            StatusCode::UNAUTHORIZED,
            "{n}"
        );
    }
    let limited = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(limited.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.2.contains("Too many attempts to log in."));
    assert!(c.cookie().is_none());
    // Another client, and the account itself, are not held back by this one.
    let reply = app
        .client_from("127.0.0.4")
        .login(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(reply.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_ends_when_idle() {
    let c = console::signed_in().await;
    let app = &c.app;
    let cookie = c.cookie().unwrap();
    // Used every 29 minutes, it lives on.
    for _ in 0..3 {
        app.advance(chrono::Duration::minutes(29));
        let (status, _, page) = c.get("/admin/logout").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(ADMIN_EMAIL));
    }
    app.advance(chrono::Duration::minutes(30));
    let (status, headers, _) = c.get("/admin/logout").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        "/admin/login?next=%2Fadmin%2Flogout"
    );
    assert!(!session_exists(app, &cookie).await, "removed on sight");
}

#[tokio::test]
async fn a_session_ends_after_its_lifetime_however_busy() {
    let c = console::signed_in().await;
    let app = &c.app;
    // 11 h 40 min of use every 20 minutes.
    for _ in 0..35 {
        app.advance(chrono::Duration::minutes(20));
        assert_eq!(c.get("/admin/logout").await.0, StatusCode::OK);
    }
    app.advance(chrono::Duration::minutes(20));
    assert_eq!(c.get("/admin/logout").await.0, StatusCode::SEE_OTHER);
    // A POST without a session is refused rather than redirected.
    assert_eq!(
        c.post_form("/admin/logout", &[]).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_a_new_login_gets_a_new_one() {
    let c = console::signed_in().await;
    let old = c.cookie().unwrap();
    let old_csrf = c.csrf().unwrap();

    // Logging in again while signed in rotates the session id.
    let reply = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(reply.0, StatusCode::SEE_OTHER);
    let current = c.cookie().unwrap();
    assert_ne!(current, old);
    assert!(!session_exists(&c.app, &old).await);
    assert_ne!(
        c.csrf().unwrap(),
        old_csrf,
        "each session has its own token"
    );

    let reply = c.post_form("/admin/logout", &[]).await;
    assert_eq!(reply.0, StatusCode::SEE_OTHER);
    assert_eq!(header(&reply, "location"), "/admin/login");
    assert!(
        set_cookie(&reply).contains("Max-Age=0"),
        "{}",
        set_cookie(&reply)
    );
    assert!(c.cookie().is_none(), "the cookie was cleared");
    assert!(!session_exists(&c.app, &current).await);

    // The old cookie is worth nothing now.
    c.set_cookie(Some(current));
    let (status, headers, _) = c.get("/admin/logout").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/admin/login")
    );
    let (_, _, page) = c.get("/admin/login").await;
    assert!(!page.contains("signed in as"));
}

#[tokio::test]
async fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let c = console::signed_in().await;
    let cookie = c.cookie().unwrap();
    let token = c.csrf().unwrap();
    for fields in [vec![], vec![("csrf", "")], vec![("csrf", "not-the-token")]] {
        let (status, _, body) = c.post_form_raw("/admin/logout", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(body.contains("did not come from the console"), "{body}");
        assert!(
            session_exists(&c.app, &cookie).await,
            "{fields:?}: logged out"
        );
    }
    // Another session's token does not do either.
    let other = c.app.client_from("127.0.0.2");
    other.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let other_token = other.csrf().unwrap();
    assert_ne!(other_token, token);
    let (status, _, _) = c
        .post_form_raw("/admin/logout", &[("csrf", &other_token)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(session_exists(&c.app, &cookie).await);
    // Without a session at all.
    let anonymous = c.app.client();
    let (status, _, _) = anonymous
        .post_form_raw("/admin/logout", &[("csrf", &token)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(session_exists(&c.app, &cookie).await);
    // With the token, it works.
    assert_eq!(
        c.post_form("/admin/logout", &[]).await.0,
        StatusCode::SEE_OTHER
    );
    assert!(!session_exists(&c.app, &cookie).await);
}

#[tokio::test]
async fn an_unauthenticated_get_is_sent_to_the_login() {
    let app = App::start(Options::default()).await;
    let c = app.client();
    let (status, headers, _) = c.get("/admin/logout?x=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        "/admin/login?next=%2Fadmin%2Flogout%3Fx%3D1"
    );
    // A forged cookie is no session.
    c.set_cookie(Some("A".repeat(43)));
    assert_eq!(c.get("/admin/logout").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn everything_under_admin_is_private_and_strictly_framed() {
    let c = console::signed_in().await;
    let anonymous = c.app.client();
    let mut replies = vec![
        ("login page", anonymous.get("/admin/login").await),
        ("redirect", anonymous.get("/admin/logout").await),
        (
            "failed login",
            anonymous.login(ADMIN_EMAIL, "wrong wrong wrong").await,
        ),
        (
            "refused post",
            anonymous.post_form_raw("/admin/logout", &[]).await,
        ),
        ("stylesheet", anonymous.get("/admin/console.css").await),
        ("unknown page", anonymous.get("/admin/no/such/page").await),
        ("signed-in page", c.get("/admin/logout").await),
        ("signed-in login page", c.get("/admin/login").await),
    ];
    replies.push(("login", anonymous.login(ADMIN_EMAIL, ADMIN_PASSWORD).await));
    replies.push(("logout", c.post_form("/admin/logout", &[]).await));
    let policy = "default-src 'none'; style-src 'self'";
    for (what, reply) in &replies {
        assert_eq!(header(reply, "cache-control"), "no-store", "{what}");
        assert!(
            header(reply, "content-security-policy").starts_with(policy),
            "{what}"
        );
        assert!(
            header(reply, "content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(header(reply, "referrer-policy"), "no-referrer", "{what}");
    }
    assert_eq!(replies[5].1.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_sessions_last_use_is_written_at_most_once_a_minute() {
    let c = console::signed_in().await;
    let app = &c.app;
    let hash = session_hash(&c.cookie().unwrap());
    let last_seen = || async {
        app.store
            .admin_session(&hash)
            .await
            .unwrap()
            .unwrap()
            .last_seen
    };
    let start = last_seen().await;
    app.advance(chrono::Duration::seconds(59));
    assert_eq!(c.get("/admin/logout").await.0, StatusCode::OK);
    assert_eq!(last_seen().await, start, "not written within the minute");
    app.advance(chrono::Duration::seconds(1));
    assert_eq!(c.get("/admin/logout").await.0, StatusCode::OK);
    assert_eq!(last_seen().await, app.clock.now_utc().trunc_subsecs(0));
}

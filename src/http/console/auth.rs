//! Who may use the console: admin accounts (Argon2id hashes in the database, managed
//! with `crier admins`), the session cookie, login and logout, the login rate limits,
//! and the CSRF check that every state-changing request passes through [`CsrfForm`]
//! (or [`Admin::check_csrf`] for multipart).
//!
//! A session is 32 random bytes in the `crier_admin` cookie; the store keeps only
//! their SHA-256, with the session's own CSRF token and its start and last use, read
//! on the clock of the subscription services so that tests can move time. A session
//! ends when unused for [`SessionSettings::idle`], [`SessionSettings::absolute`]
//! after its login, at logout, and when its admin is removed or given a new password.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::{Extension, Form, Router};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::views::{console_page, console_page_with};
use crate::http::{People, Shared, limit};
use crate::model::normalize_email;
use crate::store::Store;
use crate::tokens::passwords;

/// The session cookie's name.
const COOKIE: &str = "crier_admin";

/// A session's last use is written at most this often.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// How long a console session lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// A session unused this long has ended.
    pub idle: Duration,
    /// A session ends this long after its login, used or not.
    pub absolute: Duration,
    /// Whether the cookie is `Secure` (the site's `base_url` is https).
    pub secure_cookie: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
            secure_cookie: false,
        }
    }
}

impl SessionSettings {
    fn idle(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX)
    }

    fn absolute(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.absolute).unwrap_or(chrono::Duration::MAX)
    }
}

/// Login attempts allowed per account: 5, then one more every 3 minutes (5 per 15
/// minutes).
const ACCOUNT_BURST: u32 = 5;
const ACCOUNT_EVERY: Duration = Duration::from_secs(3 * 60);
/// Login attempts allowed per client: 20, then one more every 45 seconds (20 per 15
/// minutes).
const CLIENT_BURST: u32 = 20;
const CLIENT_EVERY: Duration = Duration::from_secs(45);
/// Keys remembered per table; past this, new keys share one bucket.
const MAX_KEYS: usize = 10_000;

/// Login attempts, per account and per client (an IPv4 address or an IPv6 /64,
/// behind trusted proxies the forwarded client). Every attempt counts, a successful
/// one too: a limited attempt is refused before its password is looked at, so that
/// guessing costs no hashing once the bucket is empty.
///
/// Several instances on one database count in it instead ([`limit::SharedCounts`]):
/// 5 attempts per account and 20 per client in each fixed 15-minute window.
pub(crate) struct LoginLimits {
    shared: Option<limit::SharedCounts>,
    accounts: Buckets<String>,
    clients: Buckets<IpAddr>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            shared: None,
            accounts: Buckets::new(ACCOUNT_BURST, ACCOUNT_EVERY),
            clients: Buckets::new(CLIENT_BURST, CLIENT_EVERY),
        }
    }
}

/// The shared limits' window: the 15 minutes the in-memory limits refill in.
const SHARED_WINDOW: i64 = 15 * 60;

impl LoginLimits {
    /// The limits counted in the database that every instance shares.
    pub(crate) fn shared(counts: limit::SharedCounts) -> LoginLimits {
        LoginLimits {
            shared: Some(counts),
            ..LoginLimits::default()
        }
    }

    /// Counts an attempt at `account` from `client`; false when either has used up
    /// its attempts. A client past its limit does not use up the account's.
    async fn allow(&self, account: &str, client: IpAddr) -> bool {
        let client = limit::client_key(client);
        match &self.shared {
            Some(counts) => {
                counts
                    .allow(
                        "login-client",
                        &client.to_string(),
                        CLIENT_BURST,
                        SHARED_WINDOW,
                    )
                    .await
                    && counts
                        .allow("login-account", account, ACCOUNT_BURST, SHARED_WINDOW)
                        .await
            }
            None => self.clients.allow(client) && self.accounts.allow(account.to_string()),
        }
    }
}

/// governor's keyed buckets, bounded as in [`crate::http::RateLimiter`].
struct Buckets<K: std::hash::Hash + Eq + Clone> {
    keys: DefaultKeyedRateLimiter<K>,
    overflow: DefaultDirectRateLimiter,
}

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    fn new(burst: u32, every: Duration) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(every)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        Buckets {
            keys: governor::RateLimiter::keyed(quota),
            overflow: governor::RateLimiter::direct(quota),
        }
    }

    fn allow(&self, key: K) -> bool {
        if self.keys.len() >= MAX_KEYS {
            self.keys.retain_recent();
            if self.keys.len() >= MAX_KEYS {
                return self.overflow.check().is_ok();
            }
        }
        self.keys.check_key(&key).is_ok()
    }
}

/// A signed-in admin: what a console handler gets once the session checked out.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub id: i64,
    pub email: String,
    /// The session's CSRF token, put in every form the page renders.
    csrf: String,
    /// The SHA-256 of the session cookie, for logout.
    session: [u8; 32],
}

impl Admin {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Refuses (403) a token that is not this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), Response> {
        use subtle::ConstantTimeEq;
        let same: bool = given.as_bytes().ct_eq(self.csrf.as_bytes()).into();
        if same && !given.is_empty() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }
}

pub(crate) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form has expired or did not come from the console: reload the page and try again",
    )
        .into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!("console sessions: {e}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the console cannot reach its database; the log says why",
    )
        .into_response()
}

/// The value of the session cookie, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The console's parts of the state; `None` when no console is served.
pub(super) fn parts(state: &Shared) -> Option<(&super::Console, &People)> {
    state.console.as_ref().zip(state.people.as_ref())
}

/// The admin whose live session the request's cookie names. An expired session is
/// removed on sight; a live one has its last use written, at most once a minute.
async fn signed_in(state: &Shared, headers: &HeaderMap) -> Result<Option<Admin>, Response> {
    let Some((console, people)) = parts(state) else {
        return Ok(None);
    };
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let hash = passwords::session_hash(cookie);
    let store = people.subscriptions.store();
    let now = people.subscriptions.now();
    let Some(session) = store.admin_session(&hash).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let settings = &console.sessions;
    if now - session.last_seen >= settings.idle() || now - session.created_at >= settings.absolute()
    {
        store
            .remove_admin_session(&hash)
            .await
            .map_err(unavailable)?;
        return Ok(None);
    }
    if now - session.last_seen >= TOUCH_EVERY {
        store
            .touch_admin_session(&hash, now)
            .await
            .map_err(unavailable)?;
    }
    Ok(Some(Admin {
        id: session.admin_id,
        email: session.email,
        csrf: session.csrf,
        session: hash,
    }))
}

impl FromRequestParts<Arc<Shared>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Shared>) -> Result<Admin, Response> {
        // Looked up once per request, however many extractors ask.
        if let Some(admin) = parts.extensions.get::<Admin>() {
            return Ok(admin.clone());
        }
        match signed_in(state, &parts.headers).await? {
            Some(admin) => {
                parts.extensions.insert(admin.clone());
                Ok(admin)
            }
            None if parts.method == Method::GET || parts.method == Method::HEAD => {
                let here = parts.uri.path_and_query().map_or("/admin", |p| p.as_str());
                let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
                Err(Redirect::to(&format!("/admin/login?next={next}")).into_response())
            }
            None => Err(forbidden()),
        }
    }
}

/// A urlencoded form from a signed-in admin whose `csrf` field matches the session.
/// Every console POST but the multipart import takes its body through this.
pub(crate) struct CsrfForm<T>(pub Admin, pub T);

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<Arc<Shared>> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<Shared>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|_| forbidden())?;
        admin.check_csrf(&field.csrf)?;
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("the form is not valid: {e}"),
            )
                .into_response()
        })?;
        Ok(CsrfForm(admin, form))
    }
}

/// Where a login goes next: `next` when it is a console page on this site, else
/// the dashboard. Anything else (`//evil.example`, `/admin\..`, another path) could
/// send a freshly signed-in admin somewhere they did not mean to go.
fn next_page(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if (next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?"))
                && !next.starts_with("/admin/login")
                && !next.contains(['\\', '\r', '\n'])
                && !next.chars().any(char::is_control) =>
        {
            next
        }
        _ => "/admin",
    }
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

#[derive(Serialize)]
struct LoginView<'a> {
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// The address of the admin already signed in, who needs no form.
    signed_in: Option<&'a str>,
}

/// The one answer to a wrong address, a wrong password or both.
const FAILED: &str = "The email address or the password is not right.";
/// The one answer to too many attempts, whichever limit was reached.
const LIMITED: &str = "Too many attempts to log in. Wait 15 minutes, then try again.";

fn login_page(
    state: &Shared,
    admin: Option<&Admin>,
    status: StatusCode,
    view: &LoginView<'_>,
) -> Response {
    console_page_with(state, admin, "login", "Log in", None, status, view)
}

async fn login_form(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = next_page(query.next.as_deref());
    let admin = match signed_in(&state, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let view = LoginView {
        next,
        email: "",
        error: None,
        signed_in: admin.as_ref().map(|a| a.email.as_str()),
    };
    login_page(&state, admin.as_ref(), StatusCode::OK, &view)
}

async fn login(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some((console, people)) = parts(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let next = next_page(form.next.as_deref());
    let client = limit::client_ip(&headers, connect.map(|c| c.0.0), &people.trusted_proxies)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // An address that is not one still counts against its own bucket, as typed.
    let account = normalize_email(&form.email)
        .unwrap_or_else(|_| form.email.trim().to_lowercase().chars().take(254).collect());
    let typed = form.email.trim();
    if !console.state.logins.allow(&account, client).await {
        tracing::warn!(client = %client, "console login refused: too many attempts");
        let view = LoginView {
            next,
            email: typed,
            error: Some(LIMITED),
            signed_in: None,
        };
        return login_page(&state, None, StatusCode::TOO_MANY_REQUESTS, &view);
    }
    let store = people.subscriptions.store();
    let account = match store.admin_credentials(&account).await {
        Ok(account) => account,
        Err(e) => return unavailable(e),
    };
    // An unknown account is checked against a dummy hash, so that its answer takes
    // as long as a known one's.
    let hash = account.as_ref().map_or_else(
        || passwords::dummy_hash().to_string(),
        |a| a.password_hash.clone(),
    );
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || passwords::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(account) = account.filter(|_| matches) else {
        tracing::warn!(client = %client, "console login failed");
        let view = LoginView {
            next,
            email: typed,
            error: Some(FAILED),
            signed_in: None,
        };
        return login_page(&state, None, StatusCode::UNAUTHORIZED, &view);
    };
    match start_session(
        store,
        &console.sessions,
        people.subscriptions.now(),
        &headers,
        account.id,
    )
    .await
    {
        Ok(cookie) => {
            tracing::info!(admin = account.id, client = %client, "console login");
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => unavailable(e),
    }
}

/// Starts a session for `admin_id` and gives its `Set-Cookie` value. The session the
/// request came with, if any, ends: a login always gets a new id. Expired sessions
/// of anyone are removed on the way.
async fn start_session(
    store: &Store,
    settings: &SessionSettings,
    now: DateTime<Utc>,
    headers: &HeaderMap,
    admin_id: i64,
) -> Result<HeaderValue, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(old) = session_cookie(headers) {
        store
            .remove_admin_session(&passwords::session_hash(old))
            .await?;
    }
    store
        .prune_admin_sessions(now - settings.idle(), now - settings.absolute())
        .await?;
    let token = passwords::random_token()?;
    let csrf = passwords::random_token()?;
    store
        .add_admin_session(&passwords::session_hash(&token), admin_id, &csrf, now)
        .await?;
    Ok(HeaderValue::try_from(cookie(&token, settings))?)
}

/// The `Set-Cookie` value of a session (an empty `token` clears it).
fn cookie(token: &str, settings: &SessionSettings) -> String {
    let max_age = if token.is_empty() {
        0
    } else {
        settings.absolute.as_secs()
    };
    let secure = if settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={token}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The logout form has nothing but its CSRF token.
#[derive(Deserialize)]
struct Logout {}

async fn logout(
    State(state): State<Arc<Shared>>,
    CsrfForm(admin, Logout {}): CsrfForm<Logout>,
) -> Response {
    let Some((console, people)) = parts(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(e) = people
        .subscriptions
        .store()
        .remove_admin_session(&admin.session)
        .await
    {
        return unavailable(e);
    }
    tracing::info!(admin = admin.id, "console logout");
    let mut response = Redirect::to("/admin/login").into_response();
    if let Ok(value) = HeaderValue::try_from(cookie("", &console.sessions)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Serialize)]
struct LogoutView<'a> {
    email: &'a str,
    csrf: &'a str,
}

/// A page with the logout button alone, for whoever types `/admin/logout`.
async fn logout_page(State(state): State<Arc<Shared>>, admin: Admin) -> Response {
    let view = LogoutView {
        email: &admin.email,
        csrf: admin.csrf(),
    };
    console_page(&state, Some(&admin), "logout", "Log out", &view)
}

/// Any other address under `/admin/`: the console's 404, with its headers, rather
/// than the public site's.
async fn unknown(State(state): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let admin = signed_in(&state, &headers).await.ok().flatten();
    super::not_found(&state, admin.as_ref(), "No console page has this address.")
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", get(logout_page).post(logout))
        .route("/admin/{*rest}", any(unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_places_to_go_next() {
        for good in ["/admin", "/admin/subscribers?page=2", "/admin?x=1"] {
            assert_eq!(next_page(Some(good)), good);
        }
        for bad in [
            "//evil.example/admin",
            "https://evil.example/admin",
            "/administrator",
            "/admin\\@evil.example",
            "/admin/login?next=/admin",
            "/admin/x\r\nSet-Cookie: a=b",
            "/",
            "",
        ] {
            assert_eq!(next_page(Some(bad)), "/admin", "{bad:?}");
        }
        assert_eq!(next_page(None), "/admin");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; crier_admin=tok; b=2".parse().unwrap());
        assert_eq!(session_cookie(&headers), Some("tok"));
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1".parse().unwrap());
        headers.append(header::COOKIE, "crier_admin=second".parse().unwrap());
        assert_eq!(session_cookie(&headers), Some("second"));
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "crier_admin=; x=1".parse().unwrap());
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn cookies_carry_their_attributes() {
        let mut settings = SessionSettings::default();
        assert_eq!(
            cookie("t", &settings),
            "crier_admin=t; Path=/admin; Max-Age=43200; HttpOnly; SameSite=Strict"
        );
        settings.secure_cookie = true;
        assert!(cookie("", &settings).ends_with("Max-Age=0; HttpOnly; SameSite=Strict; Secure"));
    }

    #[tokio::test]
    async fn each_account_and_each_client_has_its_own_attempts() {
        let limits = LoginLimits::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..ACCOUNT_BURST {
            assert!(limits.allow("x@example.org", a).await);
        }
        assert!(!limits.allow("x@example.org", a).await);
        assert!(
            !limits.allow("x@example.org", b).await,
            "the account is limited"
        );
        assert!(limits.allow("y@example.org", a).await);
    }
}

//! Who may use the console: admin accounts (Argon2id hashes in the database), the
//! session cookie, login and logout, and the CSRF check that every state-changing
//! request passes through [`CsrfForm`] (or [`Admin::check_csrf`] for multipart).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::http::Shared;

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

/// Failed logins, per account and per client.
#[derive(Default)]
pub(crate) struct LoginLimits {}

/// A signed-in admin: what a console handler gets once the session checked out.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub id: i64,
    pub email: String,
    /// The session's CSRF token, put in every form the page renders.
    csrf: String,
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

impl FromRequestParts<Arc<Shared>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<Shared>,
    ) -> Result<Admin, Response> {
        // Sessions are not built yet: nobody is signed in.
        Err(
            if parts.method == Method::GET || parts.method == Method::HEAD {
                Redirect::to("/admin/login").into_response()
            } else {
                forbidden()
            },
        )
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

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

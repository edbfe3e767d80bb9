//! The mail providers' webhooks: `POST /webhooks/{ses,postmark,sendgrid,mailgun}`,
//! on the public surface since the providers call them. Each reads the raw body (at
//! most [`MAX_BODY`]), verifies it the way its provider documents
//! ([`crate::bounce::webhook`]), reads its events and hands the findings to the
//! `bounces` service, which attributes and records them.
//!
//! - A webhook whose provider has no `[bounces.<provider>]` section answers 404.
//! - A request that fails verification answers 401 and changes nothing; a verified
//!   body whose events cannot be read answers 400. Both are counted in
//!   `crier_webhook_refused_total{provider, reason}` and logged without the body or
//!   the signature.
//! - A verified request answers 200 with `{"recorded": n, "actions": [...]}`.
//!
//! What is kept in memory, per router: the RSA keys of the SNS certificates fetched
//! (by URL, a few), and the SNS message ids, SendGrid signatures and Mailgun tokens
//! seen lately, so that a replayed request is refused (SNS's own retries of a message
//! already recorded get 200 and change nothing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde_json::json;

use super::{People, Shared};
use crate::bounce::Finding;
use crate::bounce::Report;
use crate::bounce::webhook::{
    BadPayload, REPLAY_WINDOW_SECS, Refused, Seen, mailgun, postmark, sendgrid, ses,
};
use crate::bounces::Source;

/// The largest body read, in bytes; past it the answer is 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// The largest certificate fetched, in bytes.
const MAX_CERTIFICATE: usize = 64 * 1024;

/// Certificates kept: SNS signs with one per region, changed every few years.
const CERTIFICATES_KEPT: usize = 16;

/// Ids remembered for replay checks, per kind.
const SEEN_KEPT: usize = 100_000;

/// How long an SNS message id is remembered: SNS retries a delivery for up to an
/// hour by default, with the same id.
const SNS_SEEN_SECS: i64 = 24 * 60 * 60;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/webhooks/ses", post(ses_hook))
        .route("/webhooks/postmark", post(postmark_hook))
        .route("/webhooks/sendgrid", post(sendgrid_hook))
        .route("/webhooks/mailgun", post(mailgun_hook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(Extension(Arc::new(Hooks::default())))
}

/// What the webhooks remember between requests.
#[derive(Default)]
struct Hooks {
    /// Made at the first SNS request that needs it.
    client: OnceLock<reqwest::Client>,
    /// SigningCertURL → the certificate's RSA public key.
    certificates: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    sns: Mutex<Option<Seen>>,
    sendgrid: Mutex<Option<Seen>>,
    mailgun: Mutex<Option<Seen>>,
}

/// Remembers `id` in `seen` (made on first use); false if it was already there.
fn first_time(seen: &Mutex<Option<Seen>>, window: i64, id: &str, now: i64) -> bool {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.get_or_insert_with(|| Seen::new(SEEN_KEPT, window))
        .first_time(id, now)
}

/// Forgets `id`, so that a retry of a request that failed on our side is taken.
fn forget(seen: &Mutex<Option<Seen>>, id: &str) {
    if let Some(seen) = seen.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        seen.forget(id);
    }
}

/// Why a certificate could not be had.
enum Fetch {
    Refused(Refused),
    /// Could not be fetched: our side or the network, so the provider should retry.
    Failed(String),
}

impl Hooks {
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                // A redirect could leave the hosts that were checked.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("crier/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }

    /// GETs `url`, keeping at most `limit` bytes of a successful answer.
    async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, String> {
        let mut response = self
            .client()
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if out.len() + chunk.len() > limit {
                return Err(format!("answered more than {limit} bytes"));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The RSA key of the certificate at `url`, fetched once.
    async fn certificate(&self, url: &str) -> Result<Arc<Vec<u8>>, Fetch> {
        if let Some(key) = self.certificates().get(url) {
            return Ok(Arc::clone(key));
        }
        let pem = self
            .get(url, MAX_CERTIFICATE)
            .await
            .map_err(Fetch::Failed)?;
        let key = Arc::new(ses::rsa_public_key(&pem).map_err(Fetch::Refused)?);
        let mut certificates = self.certificates();
        if certificates.len() >= CERTIFICATES_KEPT {
            certificates.clear();
        }
        certificates.insert(url.to_string(), Arc::clone(&key));
        Ok(key)
    }

    fn certificates(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<u8>>>> {
        self.certificates.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The answer to a refused request, counted and logged.
fn refuse(provider: &'static str, why: &Refused) -> Response {
    count(provider, why.label());
    // The configuration's fault, not the caller's: the provider should retry once
    // it is fixed.
    let status = if *why == Refused::Key {
        tracing::error!(provider, "webhook refused: {why}");
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        tracing::warn!(provider, reason = why.label(), "webhook refused: {why}");
        StatusCode::UNAUTHORIZED
    };
    let mut response = (status, Json(json!({"error": why.to_string()}))).into_response();
    if provider == "postmark" && status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"crier webhooks\""),
        );
    }
    response
}

fn count(provider: &'static str, reason: &'static str) {
    metrics::counter!("crier_webhook_refused_total", "provider" => provider, "reason" => reason)
        .increment(1);
}

fn bad_payload(provider: &'static str, why: BadPayload) -> Response {
    count(provider, "payload");
    tracing::warn!(provider, "webhook payload refused: {why}");
    (StatusCode::BAD_REQUEST, Json(json!({"error": why.0}))).into_response()
}

fn not_configured(provider: &'static str) -> Response {
    count(provider, "not-configured");
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no [bounces.{provider}] webhook is configured")})),
    )
        .into_response()
}

fn ok(body: serde_json::Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// Records the findings of a verified request.
async fn record(
    people: &People,
    provider: &'static str,
    source: Source,
    findings: Vec<Finding>,
) -> Result<Response, Response> {
    if findings.is_empty() {
        return Ok(ok(json!({"recorded": 0, "actions": []})));
    }
    let report = Report {
        delivered_to: Vec::new(),
        findings,
    };
    match people.bounces.record(source, report).await {
        Ok(outcomes) => {
            tracing::info!(
                provider,
                recorded = outcomes.len(),
                "webhook events recorded"
            );
            let actions: Vec<&str> = outcomes.iter().map(|o| o.action.as_str()).collect();
            Ok(ok(json!({"recorded": outcomes.len(), "actions": actions})))
        }
        Err(e) => {
            tracing::error!(provider, "cannot record webhook events: {e}");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "cannot record the events now; try again"})),
            )
                .into_response())
        }
    }
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn ses_hook(
    State(state): State<Arc<Shared>>,
    Extension(hooks): Extension<Arc<Hooks>>,
    body: Bytes,
) -> Response {
    const P: &str = "ses";
    let Some(people) = state.people.as_ref() else {
        return not_configured(P);
    };
    let Some(config) = people.bounces.settings().ses.as_ref() else {
        return not_configured(P);
    };
    let envelope = match ses::Envelope::parse(&body) {
        Ok(e) => e,
        Err(why) => return refuse(P, &why),
    };
    let kind = match envelope.message_type() {
        Ok(k) => k,
        Err(why) => return refuse(P, &why),
    };
    if !ses::topic_allowed(&envelope.topic_arn, &config.topic_arns) {
        return refuse(P, &Refused::Topic);
    }
    if !ses::cert_url_allowed(&envelope.signing_cert_url, &config.cert_url_prefixes) {
        return refuse(P, &Refused::Url("SigningCertURL"));
    }
    let key = match hooks.certificate(&envelope.signing_cert_url).await {
        Ok(key) => key,
        Err(Fetch::Refused(why)) => return refuse(P, &why),
        Err(Fetch::Failed(e)) => {
            count(P, "certificate-fetch");
            tracing::warn!(
                provider = P,
                "cannot fetch the SNS signing certificate: {e}"
            );
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "cannot fetch the signing certificate; try again"})),
            )
                .into_response();
        }
    };
    if let Err(why) = envelope.verify(&key) {
        return refuse(P, &why);
    }
    let now = people.subscriptions.now().timestamp();
    if !first_time(&hooks.sns, SNS_SEEN_SECS, &envelope.message_id, now) {
        // SNS retrying a message already taken: nothing to do again.
        return ok(json!({"recorded": 0, "actions": [], "duplicate": true}));
    }
    let answer = match kind {
        ses::MessageType::Notification => match ses::findings(&envelope.message) {
            Ok(findings) => record(people, P, Source::Ses, findings).await,
            Err(why) => Ok(bad_payload(P, why)),
        },
        ses::MessageType::SubscriptionConfirmation => confirm(&hooks, config, &envelope).await,
        ses::MessageType::UnsubscribeConfirmation => {
            tracing::info!(topic = %envelope.topic_arn, "SNS says the subscription ended");
            Ok(ok(json!({"recorded": 0, "actions": []})))
        }
    };
    answer.unwrap_or_else(|failed| {
        forget(&hooks.sns, &envelope.message_id);
        failed
    })
}

/// Confirms an SNS subscription by visiting its `SubscribeURL`.
async fn confirm(
    hooks: &Hooks,
    config: &crate::config::Ses,
    envelope: &ses::Envelope,
) -> Result<Response, Response> {
    let url = envelope.subscribe_url.as_deref().unwrap_or_default();
    if !ses::subscribe_url_allowed(url, &config.cert_url_prefixes) {
        return Err(refuse("ses", &Refused::Url("SubscribeURL")));
    }
    match hooks.get(url, MAX_CERTIFICATE).await {
        Ok(_) => {
            tracing::info!(topic = %envelope.topic_arn, "SNS subscription confirmed");
            Ok(ok(json!({"recorded": 0, "actions": [], "confirmed": true})))
        }
        Err(e) => {
            tracing::warn!(topic = %envelope.topic_arn, "cannot confirm the SNS subscription: {e}");
            Err((
                StatusCode::BAD_GATEWAY,
                Json(json!({"error": "cannot confirm the subscription; try again"})),
            )
                .into_response())
        }
    }
}

async fn postmark_hook(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const P: &str = "postmark";
    let Some(people) = state.people.as_ref() else {
        return not_configured(P);
    };
    let Some(config) = people.bounces.settings().postmark.as_ref() else {
        return not_configured(P);
    };
    let authorization = header_value(&headers, header::AUTHORIZATION.as_str());
    if let Err(why) = postmark::authorized(authorization, &config.user, &config.password.0) {
        return refuse(P, &why);
    }
    match postmark::findings(&body) {
        Ok(findings) => record(people, P, Source::Postmark, findings)
            .await
            .unwrap_or_else(|r| r),
        Err(why) => bad_payload(P, why),
    }
}

async fn sendgrid_hook(
    State(state): State<Arc<Shared>>,
    Extension(hooks): Extension<Arc<Hooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const P: &str = "sendgrid";
    let Some(people) = state.people.as_ref() else {
        return not_configured(P);
    };
    let Some(config) = people.bounces.settings().sendgrid.as_ref() else {
        return not_configured(P);
    };
    let point = match sendgrid::public_key(&config.public_key.0) {
        Ok(point) => point,
        Err(why) => return refuse(P, &why),
    };
    let signature = header_value(&headers, sendgrid::SIGNATURE_HEADER);
    let now = people.subscriptions.now().timestamp();
    let verified = sendgrid::verify(
        &body,
        signature,
        header_value(&headers, sendgrid::TIMESTAMP_HEADER),
        &point,
        now,
    );
    if let Err(why) = verified {
        return refuse(P, &why);
    }
    // ECDSA signatures are random: the same one twice is the same request twice.
    let signature = signature.unwrap_or_default().trim();
    if !first_time(&hooks.sendgrid, REPLAY_WINDOW_SECS, signature, now) {
        return refuse(P, &Refused::Replayed);
    }
    let answer = match sendgrid::findings(&body) {
        Ok(findings) => record(people, P, Source::Sendgrid, findings).await,
        Err(why) => Ok(bad_payload(P, why)),
    };
    answer.unwrap_or_else(|failed| {
        forget(&hooks.sendgrid, signature);
        failed
    })
}

async fn mailgun_hook(
    State(state): State<Arc<Shared>>,
    Extension(hooks): Extension<Arc<Hooks>>,
    body: Bytes,
) -> Response {
    const P: &str = "mailgun";
    let Some(people) = state.people.as_ref() else {
        return not_configured(P);
    };
    let Some(config) = people.bounces.settings().mailgun.as_ref() else {
        return not_configured(P);
    };
    let signed = match mailgun::Signed::parse(&body) {
        Ok(signed) => signed,
        Err(why) => return refuse(P, &why),
    };
    let now = people.subscriptions.now().timestamp();
    if let Err(why) = signed.verify(config.signing_key.0.as_bytes(), now) {
        return refuse(P, &why);
    }
    if !first_time(&hooks.mailgun, REPLAY_WINDOW_SECS, &signed.token, now) {
        return refuse(P, &Refused::Replayed);
    }
    let answer = match mailgun::findings(signed.event.as_ref()) {
        Ok(findings) => record(people, P, Source::Mailgun, findings).await,
        Err(why) => Ok(bad_payload(P, why)),
    };
    answer.unwrap_or_else(|failed| {
        forget(&hooks.mailgun, &signed.token);
        failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_id_is_taken_again() {
        let seen = Mutex::new(None);
        assert!(first_time(&seen, 600, "a", 0));
        assert!(!first_time(&seen, 600, "a", 1));
        forget(&seen, "a");
        assert!(first_time(&seen, 600, "a", 2));
    }
}

//! The providers' webhooks over a real socket, with real signatures made here: SNS
//! messages signed with a test RSA key whose certificate a local server hands out
//! (version 2 signed in the test, version 1 from a fixture signed once with openssl),
//! SendGrid's ECDSA P-256 signature, Mailgun's HMAC and Postmark's basic auth. Each
//! valid bounce or complaint ends its subscriber and leaves a bounce event of its
//! source; each tampered, stale, replayed or misdirected request gets 401 and
//! changes nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use chrono::Utc;
use crier::model::{Consent, Source, Status};
use crier::store::{BounceFilter, NewSubscriber};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:crier-bounces";
const MAILGUN_KEY: &str = "key-for-tests-only-0123456789abcdef";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::repo().join("tests/fixtures/webhooks").join(name)).unwrap()
}

/// A local server standing in for SNS: the certificate, and the subscription URL,
/// with how often each was asked for.
struct Sns {
    base: String,
    certificate_hits: Arc<AtomicUsize>,
    confirm_hits: Arc<AtomicUsize>,
}

async fn sns() -> Sns {
    use axum::routing::get;
    let certificate_hits = Arc::new(AtomicUsize::new(0));
    let confirm_hits = Arc::new(AtomicUsize::new(0));
    let (cert, confirm) = (Arc::clone(&certificate_hits), Arc::clone(&confirm_hits));
    let router = axum::Router::new()
        .route(
            "/cert.pem",
            get(move || {
                cert.fetch_add(1, Ordering::SeqCst);
                async { fixture("sns-test-cert.pem") }
            }),
        )
        .route("/not-a-cert.pem", get(|| async { "hello" }))
        .route(
            "/confirm",
            get(move || {
                confirm.fetch_add(1, Ordering::SeqCst);
                async { "<ConfirmSubscriptionResponse/>" }
            }),
        );
    Sns {
        base: common::listen(router).await,
        certificate_hits,
        confirm_hits,
    }
}

/// The test's RSA key, from the PKCS#8 PEM fixture.
fn rsa_key() -> RsaKeyPair {
    let pem = String::from_utf8(fixture("sns-test-key.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&B64.decode(body).unwrap()).unwrap()
}

/// The fields SNS signs, in the order AWS documents, as `name\nvalue\n`.
fn string_to_sign(message: &Value) -> String {
    let names: &[&str] = if message["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut out = String::new();
    for name in names {
        if let Some(value) = message[*name].as_str() {
            out.push_str(&format!("{name}\n{value}\n"));
        }
    }
    out
}

/// Signs an SNS message with SignatureVersion 2 (SHA256withRSA).
fn sign_sns(mut message: Value) -> Value {
    let key = rsa_key();
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        string_to_sign(&message).as_bytes(),
        &mut signature,
    )
    .unwrap();
    message["SignatureVersion"] = json!("2");
    message["Signature"] = json!(B64.encode(signature));
    message
}

fn notification(sns: &Sns, id: &str, ses_event: Value) -> Value {
    sign_sns(json!({
        "Type": "Notification",
        "MessageId": id,
        "TopicArn": TOPIC,
        "Message": ses_event.to_string(),
        "Timestamp": "2026-01-02T03:04:06.000Z",
        "SigningCertURL": format!("{}cert.pem", sns.base),
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }))
}

fn ses_bounce(recipient: &str, message_id: &str) -> Value {
    json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": recipient, "action": "failed",
                "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2026-01-02T03:04:05.000Z", "feedbackId": "fb-1"
        },
        "mail": {"messageId": "ses-own-id", "source": "news@news.example.test",
                 "headers": [{"name": "Message-ID", "value": message_id}]}
    })
}

fn config(sns_base: &str) -> crier::config::Bounces {
    let text = format!(
        r#"
[bounces.ses]
topic_arns = ["{TOPIC}"]
cert_url_prefixes = ["{sns_base}"]

[bounces.postmark]
user = "postmark-hook"
password = "correct horse battery staple"

[bounces.sendgrid]
public_key = "{sendgrid}"

[bounces.mailgun]
signing_key = "{MAILGUN_KEY}"
"#,
        sendgrid = sendgrid_key().1
    );
    crier::config::Config::parse(&text, None).unwrap().bounces
}

/// A P-256 key made once per test binary, with its SPKI in base64 as SendGrid shows it.
fn sendgrid_key() -> &'static (EcdsaKeyPair, String) {
    static KEY: std::sync::OnceLock<(EcdsaKeyPair, String)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // SubjectPublicKeyInfo { id-ecPublicKey, prime256v1 } then the point.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        (pair, B64.encode(spki))
    })
}

struct Hooks {
    people: common::People,
    base: String,
    client: reqwest::Client,
}

async fn start(bounces: crier::config::Bounces) -> Hooks {
    let people = common::people_with(None, false, bounces).await;
    let base = common::listen(people.served.clone()).await;
    Hooks {
        people,
        base,
        client: common::client(),
    }
}

impl Hooks {
    async fn post(
        &self,
        provider: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}webhooks/{provider}", self.base))
            .body(body.into());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn subscriber(&self, email: &str) -> i64 {
        let signer = self.people.subscriptions.signer();
        self.people
            .store
            .add_subscriber(
                &NewSubscriber {
                    email: email.into(),
                    email_hash: signer.email_hash(email),
                    name: None,
                    audiences: vec!["developers".into()],
                    frequency: "weekly".into(),
                    timezone: "UTC".into(),
                    status: Status::Active,
                    consent: Consent {
                        at: Utc::now(),
                        source: Source::Import,
                        ip: None,
                        user_agent: None,
                        text_version: "test-1".into(),
                    },
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .id
    }

    async fn status(&self, id: i64) -> Status {
        let subscriber = self.people.store.subscriber_by_id(id).await.unwrap();
        subscriber.unwrap().status
    }

    /// (kind, source, status code) of the events recorded, newest first.
    async fn events(&self, subscriber: Option<i64>) -> Vec<(String, String, Option<String>)> {
        let filter = BounceFilter {
            subscriber_id: subscriber,
            outbox_id: None,
            before: None,
            limit: 100,
        };
        let events = self.people.store.bounce_events(&filter).await.unwrap();
        events
            .into_iter()
            .map(|e| (e.kind, e.source, e.status_code))
            .collect()
    }

    fn now(&self) -> i64 {
        self.people.subscriptions.now().timestamp()
    }
}

fn event(kind: &str, source: &str, status: Option<&str>) -> (String, String, Option<String>) {
    (kind.into(), source.into(), status.map(str::to_string))
}

#[tokio::test]
async fn ses_notifications_of_both_signature_versions_end_subscriptions() {
    let sns = sns().await;
    let hooks = start(config(&sns.base)).await;
    let gone = hooks.subscriber("gone@example.org").await;
    let angry = hooks.subscriber("angry@example.org").await;
    let v1 = hooks.subscriber("v1-gone@example.org").await;

    let bounce = notification(
        &sns,
        "sns-1",
        ses_bounce("Gone@Example.org", "<1.x@news.example.test>"),
    );
    let (status, body) = hooks.post("ses", &[], bounce.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actions"], json!(["bounced"]));
    assert_eq!(hooks.status(gone).await, Status::Bounced);
    assert_eq!(
        hooks.events(Some(gone)).await,
        [event("hard", "ses", Some("5.1.1"))]
    );

    let complaint = notification(
        &sns,
        "sns-2",
        json!({
            "eventType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": "angry@example.org"}],
                          "complaintFeedbackType": "abuse"},
            "mail": {"commonHeaders": {"messageId": "<2.x@news.example.test>"}}
        }),
    );
    let (status, body) = hooks.post("ses", &[], complaint.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hooks.status(angry).await, Status::Complained);
    assert_eq!(
        hooks.events(Some(angry)).await,
        [event("complaint", "ses", None)]
    );

    // SignatureVersion 1 (SHA1withRSA), signed once with openssl. The certificate's
    // URL is not signed, so the test points it at its own server.
    let mut v1_message: Value =
        serde_json::from_slice(&fixture("sns-v1-notification.json")).unwrap();
    v1_message["SigningCertURL"] = json!(format!("{}cert.pem", sns.base));
    let (status, body) = hooks.post("ses", &[], v1_message.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hooks.status(v1).await, Status::Bounced);
    assert_eq!(
        hooks.events(Some(v1)).await,
        [event("hard", "ses", Some("5.1.1"))]
    );

    // SNS delivering the same message again: taken, nothing recorded twice.
    let (status, body) = hooks.post("ses", &[], bounce.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicate"], json!(true));
    assert_eq!(hooks.events(None).await.len(), 3);

    // A delivery notification says nothing and records nothing.
    let delivery = notification(
        &sns,
        "sns-3",
        json!({"notificationType": "Delivery", "mail": {}, "delivery": {}}),
    );
    let (status, body) = hooks.post("ses", &[], delivery.to_string()).await;
    assert_eq!((status, &body["recorded"]), (200, &json!(0)));
    assert_eq!(hooks.events(None).await.len(), 3);

    // The certificate was fetched once and kept.
    assert_eq!(sns.certificate_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_sns_subscription_is_confirmed_by_visiting_its_url() {
    let sns = sns().await;
    let hooks = start(config(&sns.base)).await;
    let confirmation = |url: String| {
        sign_sns(json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": format!("sub-{url}"),
            "Token": "2336412f37fb687f5d51e6e2425",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
            "SubscribeURL": url,
            "Timestamp": "2026-01-02T03:04:06.000Z",
            "SigningCertURL": format!("{}cert.pem", sns.base),
        }))
    };
    let good = confirmation(format!(
        "{}confirm?Action=ConfirmSubscription&Token=2336412f37fb687f5d51e6e2425",
        sns.base
    ));
    let (status, body) = hooks.post("ses", &[], good.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["confirmed"], json!(true));
    assert_eq!(sns.confirm_hits.load(Ordering::SeqCst), 1);

    // Signed, but pointing outside the configured prefixes: not visited.
    let elsewhere = confirmation("http://192.0.2.1/confirm?Action=ConfirmSubscription".into());
    let (status, _) = hooks.post("ses", &[], elsewhere.to_string()).await;
    assert_eq!(status, 401);
    assert_eq!(sns.confirm_hits.load(Ordering::SeqCst), 1);

    // Its URL changed after signing: refused before anything is visited.
    let mut tampered = good.clone();
    tampered["MessageId"] = json!("sub-other");
    tampered["SubscribeURL"] = json!(format!("{}confirm?Token=forged", sns.base));
    let (status, _) = hooks.post("ses", &[], tampered.to_string()).await;
    assert_eq!(status, 401);
    assert_eq!(sns.confirm_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tampered_misdirected_or_foreign_sns_messages_are_refused() {
    let sns = sns().await;
    let hooks = start(config(&sns.base)).await;
    let gone = hooks.subscriber("gone@example.org").await;
    let good = notification(
        &sns,
        "sns-1",
        ses_bounce("gone@example.org", "<1.x@news.example.test>"),
    );

    let mut tampered = good.clone();
    tampered["Message"] = json!(ses_bounce("gone@example.org", "<other@x>").to_string());
    let mut other_host = good.clone();
    other_host["SigningCertURL"] =
        json!("https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem");
    let mut not_a_cert = good.clone();
    not_a_cert["SigningCertURL"] = json!(format!("{}not-a-cert.pem", sns.base));
    let mut foreign = notification(
        &sns,
        "sns-9",
        ses_bounce("gone@example.org", "<1.x@news.example.test>"),
    );
    foreign["TopicArn"] = json!("arn:aws:sns:eu-west-1:999999999999:someone-else");
    let foreign = sign_sns(foreign);
    let mut unsigned = good.clone();
    unsigned.as_object_mut().unwrap().remove("Signature");
    let mut version_3 = good.clone();
    version_3["SignatureVersion"] = json!("3");

    for (what, body) in [
        ("tampered message", tampered.to_string()),
        ("certificate on another host", other_host.to_string()),
        ("certificate that is not one", not_a_cert.to_string()),
        ("another topic", foreign.to_string()),
        ("unsigned", unsigned.to_string()),
        ("unknown signature version", version_3.to_string()),
        ("not JSON", "Type=Notification".to_string()),
    ] {
        let (status, body) = hooks.post("ses", &[], body).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    assert_eq!(hooks.status(gone).await, Status::Active);
    assert_eq!(hooks.events(None).await, []);

    // The untampered message still goes through after all that.
    let (status, _) = hooks.post("ses", &[], good.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(hooks.status(gone).await, Status::Bounced);

    // A signed message that is not an SES event is a bad request, not a forgery.
    let hello = notification(&sns, "sns-hello", json!("hello"));
    let (status, body) = hooks.post("ses", &[], hello.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not an SES event"));
}

fn sendgrid_headers(body: &[u8], timestamp: i64) -> (String, String) {
    let timestamp = timestamp.to_string();
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let signature = sendgrid_key()
        .0
        .sign(&SystemRandom::new(), &signed)
        .unwrap();
    (B64.encode(signature.as_ref()), timestamp)
}

const SIG: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TS: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

#[tokio::test]
async fn sendgrid_signed_events_are_verified() {
    let hooks = start(config("http://127.0.0.1:9/")).await;
    let gone = hooks.subscriber("gone@example.org").await;
    let angry = hooks.subscriber("angry@example.org").await;
    let body = json!([
        {"email": "gone@example.org", "timestamp": 1767323045, "event": "bounce",
         "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 unknown user",
         "smtp-id": "<1.x@news.example.test>", "sg_event_id": "e1"},
        {"email": "someone@example.org", "event": "delivered", "smtp-id": "<3.x@news.example.test>"},
        {"email": "angry@example.org", "event": "spamreport", "smtp-id": "<2.x@news.example.test>"}
    ])
    .to_string();
    let now = hooks.now();
    let (signature, timestamp) = sendgrid_headers(body.as_bytes(), now);

    let refused = [
        (
            "tampered body",
            body.replace("gone@", "else@"),
            signature.clone(),
            timestamp.clone(),
        ),
        (
            "tampered timestamp",
            body.clone(),
            signature.clone(),
            (now - 1).to_string(),
        ),
        (
            "missing signature",
            body.clone(),
            String::new(),
            timestamp.clone(),
        ),
    ];
    for (what, b, s, t) in refused {
        let mut headers = vec![(TS, t.as_str())];
        if !s.is_empty() {
            headers.push((SIG, s.as_str()));
        }
        let (status, answer) = hooks.post("sendgrid", &headers, b).await;
        assert_eq!(status, 401, "{what}: {answer}");
    }
    let stale_at = now - 11 * 60;
    let (stale_sig, stale_ts) = sendgrid_headers(body.as_bytes(), stale_at);
    let (status, _) = hooks
        .post(
            "sendgrid",
            &[(SIG, &stale_sig), (TS, &stale_ts)],
            body.clone(),
        )
        .await;
    assert_eq!(status, 401, "stale");
    assert_eq!(hooks.events(None).await, []);

    let (status, answer) = hooks
        .post(
            "sendgrid",
            &[(SIG, &signature), (TS, &timestamp)],
            body.clone(),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["actions"], json!(["bounced", "complained"]));
    assert_eq!(hooks.status(gone).await, Status::Bounced);
    assert_eq!(hooks.status(angry).await, Status::Complained);
    assert_eq!(
        hooks.events(Some(gone)).await,
        [event("hard", "sendgrid", Some("5.1.1"))]
    );
    assert_eq!(
        hooks.events(Some(angry)).await,
        [event("complaint", "sendgrid", None)]
    );

    // The same signed request again is a replay.
    let (status, _) = hooks
        .post(
            "sendgrid",
            &[(SIG, &signature), (TS, &timestamp)],
            body.clone(),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(hooks.events(None).await.len(), 2);

    // Signed, but not events.
    let (signature, timestamp) = sendgrid_headers(b"{}", now);
    let (status, _) = hooks
        .post("sendgrid", &[(SIG, &signature), (TS, &timestamp)], "{}")
        .await;
    assert_eq!(status, 400);
}

fn mailgun_body(timestamp: i64, token: &str, event_data: Value) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let signature = crier::model::hex(&mac.finalize().into_bytes());
    json!({
        "signature": {"timestamp": timestamp.to_string(), "token": token, "signature": signature},
        "event-data": event_data,
    })
    .to_string()
}

#[tokio::test]
async fn mailgun_hmac_is_checked_with_its_window_and_tokens() {
    let hooks = start(config("http://127.0.0.1:9/")).await;
    let gone = hooks.subscriber("gone@example.org").await;
    let failed = json!({
        "event": "failed", "severity": "permanent", "reason": "bounce",
        "recipient": "gone@example.org",
        "message": {"headers": {"message-id": "1.x@news.example.test"}},
        "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist"}
    });
    let now = hooks.now();
    let good = mailgun_body(now, "token-1", failed.clone());

    let mut forged: Value = serde_json::from_str(&good).unwrap();
    forged["signature"]["token"] = json!("token-forged");
    let mut shifted: Value = serde_json::from_str(&good).unwrap();
    shifted["signature"]["timestamp"] = json!((now + 1).to_string());
    for (what, body) in [
        ("another token under the signature", forged.to_string()),
        ("another timestamp", shifted.to_string()),
        (
            "stale",
            mailgun_body(now - 11 * 60, "token-2", failed.clone()),
        ),
        ("no signature", json!({"event-data": failed}).to_string()),
    ] {
        let (status, answer) = hooks.post("mailgun", &[], body).await;
        assert_eq!(status, 401, "{what}: {answer}");
    }
    assert_eq!(hooks.events(None).await, []);

    let (status, answer) = hooks.post("mailgun", &[], good.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hooks.status(gone).await, Status::Bounced);
    assert_eq!(
        hooks.events(Some(gone)).await,
        [event("hard", "mailgun", Some("5.1.1"))]
    );

    // The same token again, even with a new event, is a replay.
    let replayed = mailgun_body(
        now,
        "token-1",
        json!({"event": "complained",
        "recipient": "gone@example.org"}),
    );
    let (status, _) = hooks.post("mailgun", &[], replayed).await;
    assert_eq!(status, 401);
    assert_eq!(hooks.events(None).await.len(), 1);

    // Signed, but without its event.
    let (status, _) = hooks
        .post("mailgun", &[], mailgun_body(now, "token-3", json!(null)))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn postmark_needs_its_credentials() {
    let hooks = start(config("http://127.0.0.1:9/")).await;
    let gone = hooks.subscriber("gone@example.org").await;
    let angry = hooks.subscriber("angry@example.org").await;
    let bounce = json!({
        "RecordType": "Bounce", "MessageStream": "outbound", "ID": 42, "Type": "HardBounce",
        "TypeCode": 1, "Name": "Hard bounce", "MessageID": "pm-own-id",
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account does not exist.",
        "Email": "Gone@Example.org", "BouncedAt": "2026-01-02T03:04:05Z"
    })
    .to_string();
    let basic = |credentials: &str| format!("Basic {}", B64.encode(credentials));
    let right = basic("postmark-hook:correct horse battery staple");

    let wrong = basic("postmark-hook:wrong");
    let (status, answer) = hooks
        .post("postmark", &[("Authorization", &wrong)], bounce.clone())
        .await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = hooks.post("postmark", &[], bounce.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(hooks.events(None).await, []);
    assert_eq!(hooks.status(gone).await, Status::Active);

    let (status, answer) = hooks
        .post("postmark", &[("Authorization", &right)], bounce)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(hooks.status(gone).await, Status::Bounced);
    assert_eq!(
        hooks.events(Some(gone)).await,
        [event("hard", "postmark", Some("5.1.1"))]
    );

    let complaint = json!({"RecordType": "SpamComplaint", "Type": "SpamComplaint",
        "Email": "angry@example.org", "Description": "Marked as spam."})
    .to_string();
    let (status, _) = hooks
        .post("postmark", &[("Authorization", &right)], complaint)
        .await;
    assert_eq!(status, 200);
    assert_eq!(hooks.status(angry).await, Status::Complained);
    assert_eq!(
        hooks.events(Some(angry)).await,
        [event("complaint", "postmark", None)]
    );

    let (status, answer) = hooks
        .post("postmark", &[("Authorization", &right)], "{not json")
        .await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn unconfigured_webhooks_are_not_found_and_big_bodies_are_refused() {
    let hooks = start(crier::config::Config::defaults().unwrap().bounces).await;
    for provider in ["ses", "postmark", "sendgrid", "mailgun"] {
        let (status, answer) = hooks.post(provider, &[], "{}").await;
        assert_eq!(status, 404, "{provider}: {answer}");
    }

    let hooks = start(config("http://127.0.0.1:9/")).await;
    let big = vec![b' '; 1024 * 1024 + 1];
    let (status, _) = hooks.post("mailgun", &[], big).await;
    assert_eq!(status, 413);
    // The edge's security headers are on the webhooks' answers too.
    let response = hooks
        .client
        .post(format!("{}webhooks/mailgun", hooks.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
